//! The organisation key log: rotation, expiry, revocation, wrong purposes, forged statements,
//! loops and forks in successions, a compromised organisation key replaced through the recovery
//! key; and random organisation histories (with forged and stale statements mixed in) checked
//! against a plain oracle of who may act when.

use std::collections::BTreeSet;

use cairn_core::OrgKey;
use cairn_core::keylog::{
    Claim, KeyLog, KeyLogError, KeyStatement, OrgId, PublicKey, Purpose, Refusal, StatementError,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn key(seed: u64) -> OrgKey {
    OrgKey::generate(&mut StdRng::seed_from_u64(seed))
}

fn public(k: &OrgKey) -> PublicKey {
    *k.public().as_bytes()
}

const BOTH: [Purpose; 2] = [Purpose::SignReports, Purpose::ServePartners];

/// A genesis by `first` at time 0 with `recovery`, and its organisation id.
fn begin(first: &OrgKey, recovery: Option<&OrgKey>) -> (KeyStatement, OrgId) {
    let genesis = KeyStatement::genesis(first, "CERT-Example", recovery.map(public), 0).unwrap();
    let id = genesis.defines().unwrap();
    (genesis, id)
}

#[test]
fn statements_round_trip_and_tampering_is_caught() {
    let (k0, node) = (key(1), key(2));
    let (genesis, id) = begin(&k0, None);
    let grant =
        KeyStatement::authorise_node(id, &k0, public(&node), "n1", &BOTH, 0, 1000, 0).unwrap();
    for s in [&genesis, &grant] {
        assert_eq!(&KeyStatement::verify(s.to_bytes()).unwrap(), s);
    }
    assert_eq!(grant.org_id, Some(id));
    assert!(matches!(grant.claim, Claim::Node { .. }));
    let mut bytes = grant.to_bytes().to_vec();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    assert!(KeyStatement::verify(&bytes).is_err());
    assert!(KeyStatement::verify(b"garbage").is_err());
    // What an operator may get wrong is refused with a reason, not signed.
    let backwards = KeyStatement::authorise_node(id, &k0, public(&node), "n1", &BOTH, 10, 5, 0);
    assert!(
        matches!(backwards, Err(StatementError::Invalid(_))),
        "{backwards:?}"
    );
    let none = KeyStatement::authorise_node(id, &k0, public(&node), "n1", &[], 0, 5, 0);
    assert!(matches!(none, Err(StatementError::Invalid(_))), "{none:?}");
}

#[test]
fn a_node_acts_within_its_period_and_purposes_until_revoked() {
    let (k0, n1, n2) = (key(1), key(2), key(3));
    let (genesis, id) = begin(&k0, None);
    let log = KeyLog::build(&[
        genesis,
        KeyStatement::authorise_node(id, &k0, public(&n1), "n1", &BOTH, 100, 200, 50).unwrap(),
        KeyStatement::authorise_node(
            id,
            &k0,
            public(&n2),
            "n2",
            &[Purpose::ServePartners],
            0,
            1000,
            0,
        )
        .unwrap(),
        KeyStatement::revocation(id, &k0, public(&n2), 500, "stolen", 510).unwrap(),
    ])
    .unwrap();
    assert!(log.left_out().is_empty(), "{:?}", log.left_out());
    let n1 = public(&n1);
    let n2 = public(&n2);
    assert_eq!(
        log.check(&n1, Purpose::SignReports, 99),
        Err(Refusal::NotYetValid(100))
    );
    assert_eq!(log.check(&n1, Purpose::SignReports, 100), Ok(()));
    assert_eq!(
        log.check(&n1, Purpose::SignReports, 200),
        Err(Refusal::Expired(200))
    );
    assert_eq!(log.check(&n2, Purpose::ServePartners, 499), Ok(()));
    assert_eq!(
        log.check(&n2, Purpose::SignReports, 100),
        Err(Refusal::WrongPurpose(Purpose::SignReports))
    );
    assert_eq!(
        log.check(&n2, Purpose::ServePartners, 500),
        Err(Refusal::Revoked(500))
    );
    assert_eq!(
        log.check(&public(&key(9)), Purpose::SignReports, 100),
        Err(Refusal::UnknownKey)
    );
    assert_eq!(log.check(&public(&k0), Purpose::SignReports, 1), Ok(()));
}

#[test]
fn rotation_keeps_the_identity_and_what_the_old_key_signed_before() {
    let (k0, k1, n1, n2) = (key(1), key(2), key(3), key(4));
    let (genesis, id) = begin(&k0, None);
    let log = KeyLog::build(&[
        genesis,
        KeyStatement::authorise_node(id, &k0, public(&n1), "n1", &BOTH, 0, 10_000, 100).unwrap(),
        KeyStatement::succession(id, &k0, public(&k0), &k1, 500).unwrap(),
        // The old key after it handed over: left out.
        KeyStatement::authorise_node(id, &k0, public(&n2), "n2", &BOTH, 0, 10_000, 700).unwrap(),
    ])
    .unwrap();
    assert_eq!(log.org_id(), id);
    assert_eq!(log.org_keys().len(), 2);
    assert_eq!(log.org_key_at(499), Some(public(&k0)));
    assert_eq!(log.org_key_at(500), Some(public(&k1)));
    assert_eq!(
        log.check(&public(&k0), Purpose::SignReports, 600),
        Err(Refusal::Succeeded(500))
    );
    assert_eq!(log.check(&public(&k1), Purpose::SignReports, 600), Ok(()));
    assert_eq!(
        log.check(&public(&n1), Purpose::SignReports, 600),
        Ok(()),
        "authorised before the rotation"
    );
    assert_eq!(
        log.check(&public(&n2), Purpose::SignReports, 800),
        Err(Refusal::UnknownKey)
    );
    assert_eq!(log.left_out().len(), 1);
    assert_eq!(log.left_out()[0].index, 3);
}

#[test]
fn a_succession_needs_the_new_keys_signature() {
    let (k0, k1) = (key(1), key(2));
    let (_, id) = begin(&k0, None);
    let s = KeyStatement::succession(id, &k0, public(&k0), &k1, 5).unwrap();
    let mut outer =
        <cairn_proto::v1::KeyStatement as prost::Message>::decode(s.to_bytes()).unwrap();
    outer.new_key_signature.clear();
    let stripped = prost::Message::encode_to_vec(&outer);
    assert_eq!(
        KeyStatement::verify(&stripped),
        Err(StatementError::NewKeySignature)
    );
}

#[test]
fn successions_may_not_loop_or_fork() {
    let (k0, k1, k2, r) = (key(1), key(2), key(3), key(4));
    let (genesis, id) = begin(&k0, Some(&r));
    let looped = KeyLog::build(&[
        genesis.clone(),
        KeyStatement::succession(id, &k0, public(&k0), &k1, 10).unwrap(),
        KeyStatement::succession(id, &k1, public(&k1), &k0, 20).unwrap(),
    ]);
    assert!(matches!(looped, Err(KeyLogError::Loop(_))), "{looped:?}");
    let forked = KeyLog::build(&[
        genesis.clone(),
        KeyStatement::succession(id, &k0, public(&k0), &k1, 10).unwrap(),
        KeyStatement::succession(id, &k0, public(&k0), &k2, 11).unwrap(),
    ]);
    assert!(matches!(forked, Err(KeyLogError::Fork(_))), "{forked:?}");
    // The recovery key settles a fork: its succession wins, the other is left out.
    let settled = KeyLog::build(&[
        genesis,
        KeyStatement::succession(id, &k0, public(&k0), &k1, 10).unwrap(),
        KeyStatement::succession(id, &r, public(&k0), &k2, 11).unwrap(),
    ])
    .unwrap();
    assert_eq!(settled.org_key_at(100), Some(public(&k2)));
    assert_eq!(settled.left_out().len(), 1);
    assert_eq!(settled.left_out()[0].index, 1);
    assert_eq!(
        KeyLog::build(&[]).unwrap_err(),
        KeyLogError::NoGenesis,
        "no genesis"
    );
}

#[test]
fn a_compromised_organisation_key_is_revoked_and_replaced_through_the_recovery_key() {
    let (k0, k1, r, n_before, n_thief) = (key(1), key(2), key(3), key(4), key(5));
    let (genesis, id) = begin(&k0, Some(&r));
    let log = KeyLog::build(&[
        genesis,
        KeyStatement::authorise_node(id, &k0, public(&n_before), "n", &BOTH, 0, 10_000, 100)
            .unwrap(),
        // The thief, holding k0, authorises a node of its own and tries to hand k0 over.
        KeyStatement::authorise_node(id, &k0, public(&n_thief), "x", &BOTH, 0, 10_000, 350)
            .unwrap(),
        KeyStatement::succession(id, &k0, public(&k0), &key(6), 360).unwrap(),
        // The organisation learns of it: the recovery key revokes k0 from 300 and hands over.
        KeyStatement::revocation(id, &r, public(&k0), 300, "leaked", 400).unwrap(),
        KeyStatement::succession(id, &r, public(&k0), &k1, 400).unwrap(),
    ])
    .unwrap();
    assert_eq!(log.org_key_at(500), Some(public(&k1)));
    assert_eq!(log.org_key_at(350), None, "nobody could sign between");
    assert_eq!(
        log.check(&public(&k0), Purpose::SignReports, 350),
        Err(Refusal::Revoked(300))
    );
    assert_eq!(
        log.check(&public(&n_before), Purpose::SignReports, 500),
        Ok(()),
        "authorised before the compromise"
    );
    assert_eq!(
        log.check(&public(&n_thief), Purpose::SignReports, 500),
        Err(Refusal::UnknownKey)
    );
    let left: BTreeSet<usize> = log.left_out().iter().map(|l| l.index).collect();
    assert_eq!(left, BTreeSet::from([2, 3]), "{:?}", log.left_out());
}

#[test]
fn statements_of_another_organisation_or_forged_ones_change_nothing() {
    let (k0, other, forger, node) = (key(1), key(2), key(3), key(4));
    let (genesis, id) = begin(&k0, None);
    let (_, other_id) = begin(&other, None);
    let log = KeyLog::build(&[
        genesis,
        KeyStatement::authorise_node(other_id, &other, public(&node), "n", &BOTH, 0, 100, 0)
            .unwrap(),
        KeyStatement::authorise_node(id, &forger, public(&node), "n", &BOTH, 0, 100, 0).unwrap(),
        KeyStatement::revocation(id, &forger, public(&k0), 0, "forged", 0).unwrap(),
    ])
    .unwrap();
    assert_eq!(log.left_out().len(), 3, "{:?}", log.left_out());
    assert_eq!(
        log.check(&public(&node), Purpose::SignReports, 10),
        Err(Refusal::UnknownKey)
    );
    assert_eq!(log.check(&public(&k0), Purpose::SignReports, 10), Ok(()));
}

/// One honest node authorisation, as the oracle knows it.
struct Granted {
    node: usize,
    purposes: BTreeSet<Purpose>,
    from: i64,
    until: i64,
}

/// A random organisation history with forged and stale statements mixed in, and the oracle's
/// answers against the log's.
fn history(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let org_keys: Vec<OrgKey> = (0..rng.gen_range(1..5)).map(|_| key(rng.r#gen())).collect();
    let nodes: Vec<OrgKey> = (0..6).map(|_| key(rng.r#gen())).collect();
    let (genesis, id) = begin(&org_keys[0], None);
    // Hand-over times, rising.
    let mut handovers: Vec<i64> = (1..org_keys.len())
        .map(|_| rng.gen_range(1..10_000))
        .collect();
    handovers.sort_unstable();
    handovers.dedup();
    let org_keys = &org_keys[..handovers.len() + 1];
    let current_at = |t: i64| handovers.iter().filter(|h| **h <= t).count();
    let mut statements = vec![genesis];
    for (i, at) in handovers.iter().enumerate() {
        statements.push(
            KeyStatement::succession(
                id,
                &org_keys[i],
                public(&org_keys[i]),
                &org_keys[i + 1],
                *at,
            )
            .unwrap(),
        );
    }
    let mut granted = Vec::new();
    let mut revoked: Vec<Option<i64>> = vec![None; nodes.len()];
    for _ in 0..rng.gen_range(1..12) {
        let node = rng.gen_range(0..nodes.len());
        let issued = rng.gen_range(0..12_000);
        let from = rng.gen_range(0..12_000);
        let until = from + rng.gen_range(1..5_000);
        let purposes: Vec<Purpose> = match rng.gen_range(0..3) {
            0 => vec![Purpose::SignReports],
            1 => vec![Purpose::ServePartners],
            _ => BOTH.to_vec(),
        };
        let signer = &org_keys[current_at(issued)];
        statements.push(
            KeyStatement::authorise_node(
                id,
                signer,
                public(&nodes[node]),
                "n",
                &purposes,
                from,
                until,
                issued,
            )
            .unwrap(),
        );
        granted.push(Granted {
            node,
            purposes: purposes.into_iter().collect(),
            from,
            until,
        });
    }
    for node in 0..nodes.len() {
        if rng.gen_bool(0.3) {
            let issued = rng.gen_range(0..12_000);
            let from = rng.gen_range(0..12_000);
            statements.push(
                KeyStatement::revocation(
                    id,
                    &org_keys[current_at(issued)],
                    public(&nodes[node]),
                    from,
                    "retired",
                    issued,
                )
                .unwrap(),
            );
            revoked[node] = Some(from);
        }
    }
    // Statements that must change nothing: a forger's, and a handed-over key's after the fact.
    let forger = key(rng.r#gen());
    let victim = rng.gen_range(0..nodes.len());
    statements.push(
        KeyStatement::authorise_node(
            id,
            &forger,
            public(&nodes[victim]),
            "x",
            &BOTH,
            0,
            20_000,
            1,
        )
        .unwrap(),
    );
    statements
        .push(KeyStatement::revocation(id, &forger, public(&nodes[victim]), 0, "x", 1).unwrap());
    if let Some(first_handover) = handovers.first() {
        statements.push(
            KeyStatement::authorise_node(
                id,
                &org_keys[0],
                public(&nodes[victim]),
                "stale",
                &BOTH,
                0,
                20_000,
                first_handover + 1,
            )
            .unwrap(),
        );
    }
    // Order does not matter.
    for i in (1..statements.len()).rev() {
        let j = rng.gen_range(0..=i);
        statements.swap(i, j);
    }
    let log = KeyLog::build(&statements).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert_eq!(log.org_keys().len(), org_keys.len(), "seed {seed}");
    for _ in 0..300 {
        let t = rng.gen_range(-100..20_000);
        let purpose = BOTH[rng.gen_range(0..2)];
        // Organisation keys: current between their hand-overs.
        let k = rng.gen_range(0..org_keys.len());
        let start = if k == 0 { 0 } else { handovers[k - 1] };
        let end = handovers.get(k).copied().unwrap_or(i64::MAX);
        assert_eq!(
            log.check(&public(&org_keys[k]), purpose, t).is_ok(),
            start <= t && t < end,
            "seed {seed}: organisation key {k} at {t}"
        );
        // Node keys: an honest authorisation for the purpose covers t, and no revocation.
        let n = rng.gen_range(0..nodes.len());
        let expected = revoked[n].is_none_or(|from| t < from)
            && granted.iter().any(|g| {
                g.node == n && g.from <= t && t < g.until && g.purposes.contains(&purpose)
            });
        let got = log.check(&public(&nodes[n]), purpose, t);
        assert_eq!(
            got.is_ok(),
            expected,
            "seed {seed}: node {n} for {purpose} at {t}: {got:?}"
        );
        if let Some(from) = revoked[n]
            && t >= from
        {
            assert_eq!(got, Err(Refusal::Revoked(from)), "seed {seed}");
        }
    }
}

#[test]
fn random_histories_agree_with_the_oracle() {
    let runs: u64 = std::env::var("CAIRN_KEYLOG_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let first: u64 = rand::thread_rng().r#gen();
    for i in 0..runs {
        history(first.wrapping_add(i));
    }
}
