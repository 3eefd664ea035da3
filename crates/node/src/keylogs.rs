//! The key logs of this node's organisation and of its partners, as plain code with no I/O:
//! which statements a partner's node may hand us (only its own organisation's, from the
//! genesis its configured key signed), and whether a node key still stands (not revoked by
//! its organisation and, once the organisation authorises node keys, within an authorisation
//! to serve partners). The actor keeps one [`KeyLogs`], stores what it admits, disconnects the
//! nodes it says no longer stand and lets them in again when they do (a renewed
//! authorisation).
//!
//! An organisation is found by the key in the trust list: its log starts at the genesis that
//! key signed. Organisations that predate key statements have the implicit genesis
//! ([`KeyStatement::implicit_genesis`]) that every node holding their key writes alike. A
//! partner running a Cairn without key statements sends none; its nodes stand as their
//! certificates say.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cairn_core::OrgPublicKey;
use cairn_core::keylog::{KeyLog, KeyLogError, KeyStatement, OrgId, Purpose, Refusal};
use cairn_core::stix::StixTime;

/// Most statements kept per organisation (as the store keeps).
pub const MAX_PER_ORG: usize = cairn_store::MAX_STATEMENTS_PER_ORG;

/// What one organisation's statements say, as far as they are known.
#[derive(Debug, Clone)]
struct Known {
    org_id: OrgId,
    statements: Vec<KeyStatement>,
    log: Result<KeyLog, KeyLogError>,
}

/// Who issued the certificate a node presented, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certified {
    /// The organisation key that signed it.
    pub issuer: [u8; 32],
    /// When (ms since the Unix epoch).
    pub issued_ms: i64,
}

impl From<&cairn_core::NodeCertificate> for Certified {
    fn from(cert: &cairn_core::NodeCertificate) -> Certified {
        Certified {
            issuer: cert.issuer,
            issued_ms: cert.issued_ms,
        }
    }
}

/// What came of statements a node handed us.
#[derive(Debug, Default)]
pub struct Admitted {
    /// Statements not known before, to store.
    pub new: Vec<KeyStatement>,
    /// Statements refused, each with why.
    pub refused: Vec<String>,
}

/// The key logs of the organisations this node deals with.
#[derive(Debug, Default, Clone)]
pub struct KeyLogs {
    by_key: HashMap<OrgPublicKey, Known>,
}

impl KeyLogs {
    /// The logs of `orgs` (the configured keys of this organisation and its partners) from
    /// the statements kept in the store.
    pub fn new(
        orgs: impl IntoIterator<Item = OrgPublicKey>,
        kept: Vec<(OrgId, Vec<KeyStatement>)>,
    ) -> KeyLogs {
        let mut logs = KeyLogs::default();
        logs.track(orgs, &kept);
        logs
    }

    /// Loads the logs of organisations new to the trust list from the statements kept in the
    /// store; organisations already known keep their logs as they are.
    pub fn track(
        &mut self,
        orgs: impl IntoIterator<Item = OrgPublicKey>,
        kept: &[(OrgId, Vec<KeyStatement>)],
    ) {
        let orgs: Vec<OrgPublicKey> = orgs
            .into_iter()
            .filter(|org| !self.by_key.contains_key(org))
            .collect();
        for (_, statements) in kept {
            for org in &orgs {
                if statements.iter().any(|s| genesis_by(s, org)) {
                    let encoded: Vec<Vec<u8>> =
                        statements.iter().map(|s| s.to_bytes().to_vec()).collect();
                    self.admit(org, &encoded);
                }
            }
        }
    }

    /// Reads statements a node of organisation `org` handed us (encoded) and keeps those about
    /// `org`: a genesis signed by its configured key, and statements naming the organisation
    /// that genesis defines. The log is rebuilt when any is new.
    pub fn admit(&mut self, org: &OrgPublicKey, encoded: &[Vec<u8>]) -> Admitted {
        let mut admitted = Admitted::default();
        let mut read = Vec::new();
        for (index, bytes) in encoded.iter().enumerate() {
            match KeyStatement::verify(bytes) {
                Ok(statement) => read.push(statement),
                Err(e) => admitted.refused.push(format!("key statement {index}: {e}")),
            }
        }
        // The genesis first: it says which organisation the rest must name.
        read.sort_by_key(|s| s.org_id.is_some());
        for statement in read {
            if !self.by_key.contains_key(org) {
                if !genesis_by(&statement, org) {
                    admitted.refused.push(format!(
                        "a key statement before the genesis of organisation {}",
                        org.short()
                    ));
                    continue;
                }
                self.by_key.insert(
                    *org,
                    Known {
                        org_id: statement.organisation(),
                        statements: Vec::new(),
                        log: Err(KeyLogError::NoGenesis),
                    },
                );
            }
            let Some(known) = self.by_key.get_mut(org) else {
                continue;
            };
            if statement.organisation() != known.org_id {
                admitted.refused.push(format!(
                    "a key statement about another organisation ({}) than {}",
                    statement.organisation(),
                    org.short()
                ));
                continue;
            }
            if known.statements.iter().any(|s| s == &statement)
                || admitted.new.iter().any(|s| s == &statement)
            {
                continue;
            }
            if known.statements.len() >= MAX_PER_ORG {
                admitted.refused.push(format!(
                    "organisation {} already has {MAX_PER_ORG} key statements",
                    org.short()
                ));
                continue;
            }
            known.statements.push(statement.clone());
            admitted.new.push(statement);
        }
        if !admitted.new.is_empty()
            && let Some(known) = self.by_key.get_mut(org)
        {
            known.log = KeyLog::build(&known.statements);
        }
        admitted
    }

    /// Admits statements this node's own organisation makes (`org` is its first key), all or
    /// none: any that does not verify, or statements that would leave the organisation's log
    /// undetermined (a key handed over twice, a loop), are refused and nothing changes. A
    /// partner's statements are admitted as they come ([`KeyLogs::admit`]): a fork there is
    /// its organisation's to resolve, and its log refuses its reports until it does.
    pub fn admit_own(&mut self, org: &OrgPublicKey, encoded: &[Vec<u8>]) -> Admitted {
        let mut trial = self.clone();
        let mut admitted = trial.admit(org, encoded);
        if !admitted.refused.is_empty() {
            admitted.new.clear();
            return admitted;
        }
        if let Some(Err(e)) = trial.log(org) {
            return Admitted {
                new: Vec::new(),
                refused: vec![format!(
                    "with these statements, the organisation's key statements would not determine who it is: {e}"
                )],
            };
        }
        *self = trial;
        admitted
    }

    /// Whether the node key `node_key` still acts for `org` at `now_ms`, with the certificate
    /// it presented (`certified`, once known): not revoked; and, once the organisation
    /// authorises node keys, within an authorisation to serve partners; before, with a
    /// certificate issued by the organisation's key of the time (not after that key was
    /// handed over or revoked). With no statements from the organisation, its certificate
    /// alone decides.
    pub fn standing(
        &self,
        org: &OrgPublicKey,
        node_key: &[u8; 32],
        certified: Option<Certified>,
        now_ms: i64,
    ) -> Result<(), String> {
        let Some(known) = self.by_key.get(org) else {
            return match certified {
                Some(c) if c.issuer != *org.as_bytes() => Err(format!(
                    "its certificate is issued by key {}, and no statement of organisation {} makes that key its own",
                    short_key(&c.issuer),
                    org.short()
                )),
                _ => Ok(()),
            };
        };
        let log = known.log.as_ref().map_err(|e| {
            format!("its organisation's key statements do not determine who it is: {e}")
        })?;
        if let Some(from) = log.revoked_from(node_key)
            && from <= now_ms
        {
            return Err(format!(
                "its organisation revoked this node's key from {}",
                StixTime::from_millis(from)
            ));
        }
        // Once the organisation authorises node keys, only those serve partners, and only
        // within their periods. Before, its certificate decides.
        if !log.node_keys().is_empty() {
            return log
                .check(node_key, Purpose::ServePartners, now_ms)
                .map_err(|refusal| unauthorised(&refusal));
        }
        let Some(certified) = certified else {
            return Ok(());
        };
        if !log.org_keys().iter().any(|p| p.key == certified.issuer) {
            return Err(format!(
                "its certificate is issued by key {}, which was never its organisation's",
                short_key(&certified.issuer)
            ));
        }
        let first = certified.issuer == *org.as_bytes();
        match log.check(
            &certified.issuer,
            Purpose::ServePartners,
            certified.issued_ms,
        ) {
            Ok(()) => Ok(()),
            // The first key's certificates may predate an explicit genesis by moments.
            Err(Refusal::NotYetValid(_)) if first => Ok(()),
            Err(Refusal::Revoked(from)) => Err(format!(
                "its certificate was issued at {} by organisation key {}, revoked from {}",
                StixTime::from_millis(certified.issued_ms),
                short_key(&certified.issuer),
                StixTime::from_millis(from)
            )),
            Err(Refusal::Succeeded(at)) => Err(format!(
                "its certificate was issued at {} by organisation key {}, which was handed over to a new key at {}",
                StixTime::from_millis(certified.issued_ms),
                short_key(&certified.issuer),
                StixTime::from_millis(at)
            )),
            Err(refusal) => Err(format!(
                "its certificate was issued by organisation key {} when it could not: {}",
                short_key(&certified.issuer),
                org_key_refused(&refusal)
            )),
        }
    }

    /// The statements of `org` as they are sent: the genesis first, then the rest from the
    /// newest, at most `max`.
    pub fn encoded(&self, org: &OrgPublicKey, max: usize) -> Vec<Vec<u8>> {
        let Some(known) = self.by_key.get(org) else {
            return Vec::new();
        };
        let mut list: Vec<&KeyStatement> = known.statements.iter().collect();
        list.sort_by_key(|s| (s.org_id.is_some(), std::cmp::Reverse(s.issued_ms)));
        list.into_iter()
            .take(max)
            .map(|s| s.to_bytes().to_vec())
            .collect()
    }

    /// The organisation id of `org`, once its genesis is known.
    pub fn org_id(&self, org: &OrgPublicKey) -> Option<OrgId> {
        self.by_key.get(org).map(|k| k.org_id)
    }

    /// The log of `org`, if any statement of it is known.
    pub fn log(&self, org: &OrgPublicKey) -> Option<&Result<KeyLog, KeyLogError>> {
        self.by_key.get(org).map(|k| &k.log)
    }
}

impl cairn_core::Signers for KeyLogs {
    /// A node key may sign an organisation's reports within an authorisation to sign reports,
    /// and before its revocation, in the organisation's log; a later organisation key, while
    /// it is the organisation's and not revoked.
    fn may_sign(
        &self,
        author: &OrgPublicKey,
        signer: &[u8; 32],
        signed_ms: i64,
    ) -> Result<(), String> {
        let log = self.log(author).ok_or_else(|| {
            "this node holds none of its author organisation's key statements".to_string()
        })?;
        let log = log.as_ref().map_err(|e| {
            format!("its author organisation's key statements do not determine who it is: {e}")
        })?;
        let organisation_key = log.org_keys().iter().any(|p| p.key == *signer);
        log.check(signer, Purpose::SignReports, signed_ms)
            .map_err(|refusal| match organisation_key {
                true => org_key_refused(&refusal),
                false => unauthorised(&refusal),
            })
    }

    /// The first key signs until its organisation hands it over or revokes it. A log that
    /// does not determine the organisation (a key used twice) lets no report through.
    fn first_key_may_sign(&self, author: &OrgPublicKey, created_ms: i64) -> Result<(), String> {
        let Some(log) = self.log(author) else {
            return Ok(());
        };
        let log = log.as_ref().map_err(|e| {
            format!("its author organisation's key statements do not determine who it is: {e}")
        })?;
        match log.check(author.as_bytes(), Purpose::SignReports, created_ms) {
            // A report may be dated before the genesis (an import of older intelligence).
            Ok(()) | Err(Refusal::NotYetValid(_)) => Ok(()),
            Err(refusal) => Err(org_key_refused(&refusal)),
        }
    }
}

/// Why an organisation key may not sign at a time, with times as dates.
fn org_key_refused(refusal: &Refusal) -> String {
    let at = |ms: i64| StixTime::from_millis(ms);
    match refusal {
        Refusal::Succeeded(at_ms) => format!(
            "its organisation handed this key over to a new one at {}; reports it signs from then on are refused",
            at(*at_ms)
        ),
        Refusal::Revoked(from) => format!(
            "its organisation revoked this organisation key from {}",
            at(*from)
        ),
        Refusal::NotYetValid(from) => format!(
            "this key became its organisation's key at {}, not before",
            at(*from)
        ),
        other => other.to_string(),
    }
}

/// The key logs, shared between the actor, which changes them, and the threads that verify
/// reports, which read them.
#[derive(Debug, Clone, Default)]
pub struct SharedKeyLogs(Arc<RwLock<KeyLogs>>);

impl SharedKeyLogs {
    /// Shares `logs`.
    pub fn new(logs: KeyLogs) -> SharedKeyLogs {
        SharedKeyLogs(Arc::new(RwLock::new(logs)))
    }

    /// The logs, to read. (A panic while they were changed leaves them as they were left.)
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, KeyLogs> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The logs, to change.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, KeyLogs> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl cairn_core::Signers for SharedKeyLogs {
    fn may_sign(
        &self,
        author: &OrgPublicKey,
        signer: &[u8; 32],
        signed_ms: i64,
    ) -> Result<(), String> {
        self.read().may_sign(author, signer, signed_ms)
    }

    fn first_key_may_sign(&self, author: &OrgPublicKey, created_ms: i64) -> Result<(), String> {
        self.read().first_key_may_sign(author, created_ms)
    }
}

/// Why an organisation that authorises node keys does not let this one serve partners, with
/// times as dates.
fn unauthorised(refusal: &Refusal) -> String {
    let at = |ms: i64| StixTime::from_millis(ms);
    match refusal {
        Refusal::UnknownKey => {
            "its organisation authorises node keys, and this node's key is not one of them".into()
        }
        Refusal::NotYetValid(from) => format!(
            "its organisation authorised this node's key from {}, not before",
            at(*from)
        ),
        Refusal::Expired(end) => format!(
            "its organisation's authorisation of this node's key ended at {}",
            at(*end)
        ),
        Refusal::Revoked(from) => format!(
            "its organisation revoked this node's key from {}",
            at(*from)
        ),
        Refusal::WrongPurpose(purpose) => {
            format!("its organisation did not authorise this node's key to {purpose}")
        }
        Refusal::Succeeded(at_ms) => format!(
            "this node's key was its organisation's key, handed over at {}",
            at(*at_ms)
        ),
    }
}

/// The first 12 hexadecimal digits of a key, as `OrgPublicKey::short` shows keys.
fn short_key(key: &[u8; 32]) -> String {
    hex::encode(&key[..6])
}

fn genesis_by(statement: &KeyStatement, org: &OrgPublicKey) -> bool {
    statement.defines().is_some() && statement.signer == *org.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::OrgKey;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn org(seed: u64) -> OrgKey {
        OrgKey::generate(&mut StdRng::seed_from_u64(seed))
    }

    fn bytes(s: &KeyStatement) -> Vec<u8> {
        s.to_bytes().to_vec()
    }

    #[test]
    fn a_revoked_node_key_no_longer_stands_from_its_revocation_time() {
        let partner = org(1);
        let key = partner.public();
        let genesis = KeyStatement::implicit_genesis(&partner).unwrap();
        let id = genesis.organisation();
        let revocation =
            KeyStatement::revocation(id, &partner, [5; 32], 1_000, "stolen", 900).unwrap();
        let mut logs = KeyLogs::default();
        assert_eq!(
            logs.standing(&key, &[5; 32], None, 2_000),
            Ok(()),
            "no log: stands"
        );
        // Given in any order: the genesis is read first.
        let admitted = logs.admit(&key, &[bytes(&revocation), bytes(&genesis)]);
        assert!(admitted.refused.is_empty(), "{:?}", admitted.refused);
        assert_eq!(admitted.new.len(), 2);
        assert_eq!(logs.org_id(&key), Some(id));
        assert_eq!(logs.standing(&key, &[5; 32], None, 999), Ok(()));
        let refusal = logs.standing(&key, &[5; 32], None, 1_000).unwrap_err();
        assert!(
            refusal.contains("revoked this node's key from 1970-01-01T00:00:01"),
            "{refusal}"
        );
        assert_eq!(
            logs.standing(&key, &[6; 32], None, 5_000),
            Ok(()),
            "other nodes stand"
        );
        // The same statements again are nothing new.
        assert!(
            logs.admit(&key, &[bytes(&genesis), bytes(&revocation)])
                .new
                .is_empty()
        );
    }

    #[test]
    fn once_an_organisation_authorises_node_keys_only_they_serve_and_only_in_their_period() {
        let partner = org(1);
        let key = partner.public();
        let genesis = KeyStatement::implicit_genesis(&partner).unwrap();
        let id = genesis.organisation();
        let serve = [Purpose::ServePartners, Purpose::SignReports];
        let first =
            KeyStatement::authorise_node(id, &partner, [5; 32], "a", &serve, 1_000, 10_000, 900)
                .unwrap();
        let signer_only = KeyStatement::authorise_node(
            id,
            &partner,
            [7; 32],
            "c",
            &[Purpose::SignReports],
            0,
            10_000,
            900,
        )
        .unwrap();
        let mut logs = KeyLogs::default();
        logs.admit(&key, &[bytes(&genesis)]);
        assert_eq!(
            logs.standing(&key, &[6; 32], None, 5_000),
            Ok(()),
            "no authorisations yet: certificates decide"
        );
        let admitted = logs.admit(&key, &[bytes(&first), bytes(&signer_only)]);
        assert!(admitted.refused.is_empty(), "{:?}", admitted.refused);
        assert_eq!(logs.standing(&key, &[5; 32], None, 1_000), Ok(()));
        assert_eq!(logs.standing(&key, &[5; 32], None, 9_999), Ok(()));
        let early = logs.standing(&key, &[5; 32], None, 999).unwrap_err();
        assert!(early.contains("from 1970-01-01T00:00:01"), "{early}");
        let late = logs.standing(&key, &[5; 32], None, 10_000).unwrap_err();
        assert!(late.contains("ended at 1970-01-01T00:00:10"), "{late}");
        let other = logs.standing(&key, &[6; 32], None, 5_000).unwrap_err();
        assert!(other.contains("is not one of them"), "{other}");
        let purpose = logs.standing(&key, &[7; 32], None, 5_000).unwrap_err();
        assert!(purpose.contains("to serve partners"), "{purpose}");
        // A renewal lets the node serve again.
        let renewal =
            KeyStatement::authorise_node(id, &partner, [5; 32], "a", &serve, 9_000, 20_000, 9_000)
                .unwrap();
        logs.admit(&key, &[bytes(&renewal)]);
        assert_eq!(logs.standing(&key, &[5; 32], None, 15_000), Ok(()));
    }

    #[test]
    fn only_the_partners_own_statements_are_kept() {
        let (partner, other) = (org(1), org(2));
        let key = partner.public();
        let genesis = KeyStatement::implicit_genesis(&partner).unwrap();
        let other_genesis = KeyStatement::implicit_genesis(&other).unwrap();
        let other_id = other_genesis.organisation();
        let mut logs = KeyLogs::default();
        // Another organisation's genesis is not the partner's.
        let admitted = logs.admit(&key, &[bytes(&other_genesis)]);
        assert!(admitted.new.is_empty());
        assert_eq!(admitted.refused.len(), 1, "{:?}", admitted.refused);
        // A statement naming another organisation, signed by the partner's key.
        let foreign = KeyStatement::revocation(other_id, &partner, [5; 32], 0, "", 0).unwrap();
        let admitted = logs.admit(&key, &[bytes(&genesis), bytes(&foreign), vec![1, 2, 3]]);
        assert_eq!(admitted.new, vec![genesis.clone()]);
        assert_eq!(admitted.refused.len(), 2, "{:?}", admitted.refused);
        assert!(
            admitted
                .refused
                .iter()
                .any(|r| r.contains("another organisation"))
        );
        assert!(
            admitted
                .refused
                .iter()
                .any(|r| r.contains("key statement 2"))
        );
        assert_eq!(logs.standing(&key, &[5; 32], None, 10), Ok(()));
    }

    #[test]
    fn certificates_of_a_revoked_organisation_key_stand_only_from_before_and_an_undetermined_log_for_none()
     {
        let (partner, recovery) = (org(1), org(3));
        let key = partner.public();
        let genesis =
            KeyStatement::genesis(&partner, "Bank", Some(*recovery.public().as_bytes()), 10)
                .unwrap();
        let id = genesis.organisation();
        let revoked =
            KeyStatement::revocation(id, &recovery, *key.as_bytes(), 500, "leaked", 600).unwrap();
        let mut logs = KeyLogs::default();
        logs.admit(&key, &[bytes(&genesis), bytes(&revoked)]);
        let refusal = logs
            .standing(&key, &[5; 32], certified(&partner, 600), 700)
            .unwrap_err();
        assert!(refusal.contains("revoked from"), "{refusal}");
        assert_eq!(
            logs.standing(&key, &[5; 32], certified(&partner, 400), 700),
            Ok(()),
            "issued before the key may have leaked"
        );

        // Two successors of the same key: the organisation is not determined.
        let (a, b) = (org(4), org(5));
        let mut logs = KeyLogs::default();
        let fork_a = KeyStatement::succession(id, &partner, *key.as_bytes(), &a, 20).unwrap();
        let fork_b = KeyStatement::succession(id, &partner, *key.as_bytes(), &b, 30).unwrap();
        logs.admit(&key, &[bytes(&genesis), bytes(&fork_a), bytes(&fork_b)]);
        let refusal = logs.standing(&key, &[5; 32], None, 700).unwrap_err();
        assert!(refusal.contains("do not determine"), "{refusal}");
    }

    #[test]
    fn statements_are_sent_genesis_first_then_newest_and_kept_logs_load_by_key() {
        let partner = org(1);
        let key = partner.public();
        let genesis = KeyStatement::implicit_genesis(&partner).unwrap();
        let id = genesis.organisation();
        let revocations: Vec<KeyStatement> = (1..=5)
            .map(|i| KeyStatement::revocation(id, &partner, [i as u8; 32], i, "", i).unwrap())
            .collect();
        let mut all = vec![bytes(&genesis)];
        all.extend(revocations.iter().map(bytes));
        let mut logs = KeyLogs::default();
        logs.admit(&key, &all);
        let sent = logs.encoded(&key, 3);
        assert_eq!(
            sent,
            vec![
                bytes(&genesis),
                bytes(&revocations[4]),
                bytes(&revocations[3])
            ]
        );
        let mut kept = vec![genesis.clone()];
        kept.extend(revocations.iter().cloned());
        let loaded = KeyLogs::new([key, org(9).public()], vec![(id, kept)]);
        assert_eq!(loaded.org_id(&key), Some(id));
        assert!(loaded.standing(&key, &[3; 32], None, 10).is_err());
        assert_eq!(loaded.org_id(&org(9).public()), None);
    }

    /// An organisation whose first key (seed 1) handed over to a second (seed 2) at 5,000.
    fn rotated() -> (OrgKey, OrgKey, KeyLogs) {
        let first = org(1);
        let second = org(2);
        let genesis = KeyStatement::implicit_genesis(&first).unwrap();
        let succession = KeyStatement::succession(
            genesis.organisation(),
            &first,
            *first.public().as_bytes(),
            &second,
            5_000,
        )
        .unwrap();
        let mut logs = KeyLogs::default();
        let admitted = logs.admit(&first.public(), &[bytes(&genesis), bytes(&succession)]);
        assert!(admitted.refused.is_empty(), "{:?}", admitted.refused);
        (first, second, logs)
    }

    fn certified(by: &OrgKey, at: i64) -> Option<Certified> {
        Some(Certified {
            issuer: *by.public().as_bytes(),
            issued_ms: at,
        })
    }

    #[test]
    fn after_a_rotation_certificates_of_either_key_stand_for_their_own_period() {
        let (first, second, logs) = rotated();
        let key = first.public();
        let stands = |by: &OrgKey, at: i64| logs.standing(&key, &[5; 32], certified(by, at), 9_000);
        assert_eq!(stands(&first, 1_000), Ok(()), "issued before the hand-over");
        assert_eq!(stands(&second, 6_000), Ok(()), "issued by the new key");
        let late = stands(&first, 5_000).unwrap_err();
        assert!(late.contains("handed over to a new key"), "{late}");
        let early = stands(&second, 4_000).unwrap_err();
        assert!(early.contains("could not"), "{early}");
        let stranger = stands(&org(3), 6_000).unwrap_err();
        assert!(stranger.contains("never its organisation's"), "{stranger}");
        // Without the organisation's statements, only its first key's certificates stand.
        let empty = KeyLogs::default();
        assert_eq!(
            empty.standing(&key, &[5; 32], certified(&first, 1), 9),
            Ok(())
        );
        let unknown = empty
            .standing(&key, &[5; 32], certified(&second, 6_000), 9_000)
            .unwrap_err();
        assert!(unknown.contains("no statement"), "{unknown}");
    }

    #[test]
    fn the_first_key_signs_until_it_is_handed_over_and_its_successor_from_then() {
        use cairn_core::Signers;
        let (first, second, logs) = rotated();
        let key = first.public();
        assert_eq!(logs.first_key_may_sign(&key, 4_999), Ok(()));
        let refused = logs.first_key_may_sign(&key, 5_000).unwrap_err();
        assert!(refused.contains("handed this key over"), "{refused}");
        let second_key = *second.public().as_bytes();
        assert_eq!(logs.may_sign(&key, &second_key, 5_000), Ok(()));
        let before = logs.may_sign(&key, &second_key, 4_999).unwrap_err();
        assert!(before.contains("not before"), "{before}");
        // An organisation whose statements are not known: its first key signs.
        assert_eq!(
            KeyLogs::default().first_key_may_sign(&org(4).public(), 1),
            Ok(())
        );
        // A report dated before an explicit genesis (an import of older intelligence).
        let third = org(5);
        let genesis = KeyStatement::genesis(&third, "ngo", None, 10_000).unwrap();
        let mut logs = KeyLogs::default();
        logs.admit(&third.public(), &[bytes(&genesis)]);
        assert_eq!(logs.first_key_may_sign(&third.public(), 1), Ok(()));
    }

    #[test]
    fn own_statements_that_would_fork_the_organisation_are_refused_whole() {
        let (first, _, mut logs) = rotated();
        let key = first.public();
        let id = logs.org_id(&key).unwrap();
        let before = logs.encoded(&key, 100);
        let fork = KeyStatement::succession(id, &first, *key.as_bytes(), &org(6), 6_000).unwrap();
        let revocation =
            KeyStatement::revocation(id, &first, [9; 32], 1_000, "lost", 1_000).unwrap();
        let admitted = logs.admit_own(&key, &[bytes(&revocation), bytes(&fork)]);
        assert!(admitted.new.is_empty());
        assert!(
            admitted.refused[0].contains("handed over twice"),
            "{:?}",
            admitted.refused
        );
        assert_eq!(logs.encoded(&key, 100), before, "nothing was kept");
        assert!(matches!(logs.log(&key), Some(Ok(_))));
        // Without the fork, the revocation is kept.
        let admitted = logs.admit_own(&key, &[bytes(&revocation)]);
        assert_eq!(admitted.new.len(), 1, "{:?}", admitted.refused);
    }
}
