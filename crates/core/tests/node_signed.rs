//! Reports signed by a node key for its organisation (envelope format 2): they verify only
//! where the organisation's key statements authorise the node, keep the organisation as their
//! author and id, and every tampering with the signer is refused.

use cairn_core::{
    NodeKey, OrgKey, OrgPublicKey, OrganisationKeysOnly, ReportDraft, ReportSigner, Signers,
    VerifiedReport, VerifyError, sample, verify, verify_batch_with, verify_with,
};
use cairn_proto::v1 as pb;
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Node `node` may sign for `author` until `until_ms`.
struct Authorised {
    author: OrgPublicKey,
    node: [u8; 32],
    until_ms: i64,
}

impl Signers for Authorised {
    fn may_sign(
        &self,
        author: &OrgPublicKey,
        signer: &[u8; 32],
        signed_ms: i64,
    ) -> Result<(), String> {
        if *author != self.author || *signer != self.node {
            return Err("not one of its nodes".into());
        }
        if signed_ms >= self.until_ms {
            return Err("its authorisation ended".into());
        }
        Ok(())
    }

    fn first_key_may_sign(&self, _: &OrgPublicKey, _: i64) -> Result<(), String> {
        Ok(())
    }
}

fn draft(seed: u64) -> ReportDraft {
    sample::indicator_report(&mut StdRng::seed_from_u64(seed), seed)
}

fn keys() -> (OrgKey, NodeKey) {
    let mut rng = StdRng::seed_from_u64(7);
    (OrgKey::generate(&mut rng), NodeKey::generate(&mut rng))
}

fn node_signed(org: &OrgKey, node: &NodeKey, seed: u64) -> VerifiedReport {
    let signer = ReportSigner::Node {
        author: org.public(),
        node,
    };
    draft(seed)
        .sign(signer, &mut StdRng::seed_from_u64(seed))
        .expect("a valid draft")
}

fn envelope(report: &VerifiedReport) -> pb::ReportEnvelope {
    pb::ReportEnvelope::decode(report.envelope_bytes()).unwrap()
}

#[test]
fn a_node_signed_report_verifies_where_its_node_is_authorised_and_keeps_its_author() {
    let (org, node) = keys();
    let report = node_signed(&org, &node, 1);
    let raw = envelope(&report);
    assert_eq!(raw.format_version, cairn_proto::FORMAT_ID_SIGNED);
    assert_eq!(raw.signer_key, node.public_bytes().to_vec());
    assert_eq!(raw.author_key, org.public().as_bytes().to_vec());
    let signers = Authorised {
        author: org.public(),
        node: node.public_bytes(),
        until_ms: i64::MAX,
    };
    let back = verify_with(report.envelope_bytes(), &signers).unwrap();
    assert_eq!(back.author(), org.public());
    assert_eq!(back.id(), report.id());
    // The same content signed by the organisation key has the same author and no signer.
    let by_org = draft(1).sign(&org, &mut StdRng::seed_from_u64(1)).unwrap();
    assert_eq!(
        envelope(&by_org).format_version,
        cairn_proto::FORMAT_ID_SIGNED
    );
    assert!(envelope(&by_org).signer_key.is_empty());
    assert_eq!(envelope(&by_org).signed_ms, 0);
    assert_eq!(by_org.author(), report.author());
    // Signed by the organisation key, a report needs no key statements; by a node key, it does.
    assert!(verify(by_org.envelope_bytes()).is_ok());
    match verify(report.envelope_bytes()) {
        Err(VerifyError::Signer { reason, .. }) => {
            assert!(reason.contains("not known here"), "{reason}")
        }
        other => panic!("verified without key statements: {other:?}"),
    }
    // Read back from a store, a copy with a disclosure withheld, and in a batch.
    assert_eq!(
        VerifiedReport::from_stored(report.envelope_bytes())
            .unwrap()
            .id(),
        report.id()
    );
    let batch = verify_batch_with(
        &[report.envelope_bytes(), by_org.envelope_bytes()],
        &signers,
    );
    assert!(batch.iter().all(Result::is_ok), "{batch:?}");
    let results = verify_batch_with(&[report.envelope_bytes()], &OrganisationKeysOnly);
    assert!(results[0].is_err());
}

#[test]
fn a_node_key_outside_its_authorisation_or_of_another_organisation_is_refused() {
    let (org, node) = keys();
    let report = node_signed(&org, &node, 2);
    let signed_at = report.signed_ms().expect("signed by a node");
    let ended = Authorised {
        author: org.public(),
        node: node.public_bytes(),
        until_ms: signed_at,
    };
    let err = verify_with(report.envelope_bytes(), &ended).unwrap_err();
    assert!(err.to_string().contains("authorisation ended"), "{err}");
    let stranger = NodeKey::generate(&mut StdRng::seed_from_u64(99));
    let other = Authorised {
        author: org.public(),
        node: stranger.public_bytes(),
        until_ms: i64::MAX,
    };
    let err = verify_with(report.envelope_bytes(), &other).unwrap_err();
    assert!(err.to_string().contains("not one of its nodes"), "{err}");
}

#[test]
fn tampering_with_the_signer_or_the_format_is_refused() {
    let (org, node) = keys();
    let report = node_signed(&org, &node, 3);
    let stranger = NodeKey::generate(&mut StdRng::seed_from_u64(98));
    // Another authorised node named as the signer: the signature is not its.
    let both = Authorised {
        author: org.public(),
        node: stranger.public_bytes(),
        until_ms: i64::MAX,
    };
    let mut swapped = envelope(&report);
    swapped.signer_key = stranger.public_bytes().to_vec();
    assert_eq!(
        verify_with(&swapped.encode_to_vec(), &both).unwrap_err(),
        VerifyError::BadSignature
    );
    let allowed = Authorised {
        author: org.public(),
        node: node.public_bytes(),
        until_ms: i64::MAX,
    };
    // Signed at another time than it says (an authorisation that ended, dodged).
    let mut redated = envelope(&report);
    redated.signed_ms -= 86_400_000;
    assert_eq!(
        verify_with(&redated.encode_to_vec(), &allowed).unwrap_err(),
        VerifyError::BadSignature
    );
    // Passed off as signed by the organisation key (no signer), in any format.
    for format in [
        cairn_proto::FORMAT_ORG_SIGNED,
        cairn_proto::FORMAT_ID_SIGNED,
    ] {
        let mut as_org = envelope(&report);
        as_org.format_version = format;
        as_org.signer_key.clear();
        as_org.signed_ms = 0;
        assert_eq!(
            verify_with(&as_org.encode_to_vec(), &allowed).unwrap_err(),
            VerifyError::BadSignature,
            "format {format}"
        );
    }
    // Passed off as a report of format 2, whose signature covers the body instead of the id.
    let mut older = envelope(&report);
    older.format_version = cairn_proto::FORMAT_NODE_SIGNED;
    assert_eq!(
        verify_with(&older.encode_to_vec(), &allowed).unwrap_err(),
        VerifyError::BadSignature
    );
    // Format 1 naming a signer, format 2 with a short or missing signer key.
    let mut named = envelope(&report);
    named.format_version = cairn_proto::FORMAT_ORG_SIGNED;
    named.signer_key.clear();
    assert!(matches!(
        verify_with(&named.encode_to_vec(), &allowed),
        Err(VerifyError::SignerKey(_))
    ));
    for length in [0, 31, 33] {
        let mut short = envelope(&report);
        short.signer_key = vec![1; length];
        let err = verify_with(&short.encode_to_vec(), &allowed).unwrap_err();
        assert!(matches!(err, VerifyError::SignerKey(_)), "{length}: {err}");
    }
    // An organisation-signed report relabelled as signed by a node whose key is the
    // organisation key, in format 2 or 3.
    let by_org = draft(3).sign(&org, &mut StdRng::seed_from_u64(3)).unwrap();
    let org_as_node = Authorised {
        author: org.public(),
        node: *org.public().as_bytes(),
        until_ms: i64::MAX,
    };
    for format in [
        cairn_proto::FORMAT_NODE_SIGNED,
        cairn_proto::FORMAT_ID_SIGNED,
    ] {
        let mut relabelled = envelope(&by_org);
        relabelled.format_version = format;
        relabelled.signer_key = org.public().as_bytes().to_vec();
        assert_eq!(
            verify_with(&relabelled.encode_to_vec(), &org_as_node).unwrap_err(),
            VerifyError::BadSignature,
            "format {format}: the signed messages say which kind of key signed"
        );
    }
}

/// Envelopes of formats 1 and 2, written by Cairn before format 3 (signatures over the id):
/// stores and partners hold many, and they verify as they did.
#[test]
fn reports_signed_in_the_earlier_formats_still_verify() {
    let fixtures = [
        (
            "tests/data/format-1-org-signed.bin",
            cairn_proto::FORMAT_ORG_SIGNED,
            "3bba0a671a843ffa768d95438da2ab18bc4ac7decb4bbf7713d4f8a5fc9c7a2f",
        ),
        (
            "tests/data/format-2-node-signed.bin",
            cairn_proto::FORMAT_NODE_SIGNED,
            "22a9a2c4ebe0bd3d4550f6f84ef82bd515588d8efc012be4031f0fa19f7d1583",
        ),
    ];
    for (path, format, id) in fixtures {
        let bytes = std::fs::read(path).unwrap();
        let raw = pb::ReportEnvelope::decode(bytes.as_slice()).unwrap();
        assert_eq!(raw.format_version, format, "{path}");
        let author = OrgPublicKey::from_bytes(&raw.author_key).unwrap();
        let signers = Authorised {
            author,
            node: raw.signer_key.as_slice().try_into().unwrap_or([0; 32]),
            until_ms: i64::MAX,
        };
        let report = verify_with(&bytes, &signers).unwrap();
        assert_eq!(report.id().to_string(), id, "{path}");
        assert_eq!(report.author(), author);
        // Read back from the store, and in a batch, the same.
        assert_eq!(
            VerifiedReport::from_stored(&bytes).unwrap().id(),
            report.id()
        );
        assert!(verify_batch_with(std::slice::from_ref(&bytes), &signers)[0].is_ok());
        // Changed after signing: a body byte, or relabelled as format 3.
        let mut tampered = raw.clone();
        let last = tampered.body.len() - 1;
        tampered.body[last] ^= 1;
        assert!(
            verify_with(&tampered.encode_to_vec(), &signers).is_err(),
            "{path}"
        );
        let mut relabelled = raw.clone();
        relabelled.format_version = cairn_proto::FORMAT_ID_SIGNED;
        assert_eq!(
            verify_with(&relabelled.encode_to_vec(), &signers).unwrap_err(),
            VerifyError::BadSignature,
            "{path}"
        );
    }
}

#[test]
fn a_node_may_retract_its_organisations_reports_and_another_organisations_node_may_not() {
    let (org, node) = keys();
    let by_org = draft(4).sign(&org, &mut StdRng::seed_from_u64(4)).unwrap();
    let signer = ReportSigner::Node {
        author: org.public(),
        node: &node,
    };
    let tombstone =
        cairn_core::retract(&by_org, "withdrawn", signer, &mut StdRng::seed_from_u64(5)).unwrap();
    assert_eq!(tombstone.author(), org.public());
    assert_eq!(
        envelope(&tombstone).signer_key,
        node.public_bytes().to_vec()
    );
    // Another organisation's node may not.
    let other = OrgKey::generate(&mut StdRng::seed_from_u64(6));
    let foreign = ReportSigner::Node {
        author: other.public(),
        node: &node,
    };
    assert!(cairn_core::retract(&by_org, "x", foreign, &mut StdRng::seed_from_u64(5)).is_err());
}

/// The organisation's statements as far as a rotation goes: its first key until
/// `handed_over_ms`, then `successor`.
struct Rotated {
    first: OrgPublicKey,
    successor: [u8; 32],
    handed_over_ms: i64,
}

impl Signers for Rotated {
    fn may_sign(
        &self,
        author: &OrgPublicKey,
        signer: &[u8; 32],
        signed_ms: i64,
    ) -> Result<(), String> {
        match *author == self.first && *signer == self.successor {
            true if signed_ms >= self.handed_over_ms => Ok(()),
            true => Err("not yet its key".into()),
            false => Err("not one of its keys".into()),
        }
    }

    fn first_key_may_sign(&self, author: &OrgPublicKey, created_ms: i64) -> Result<(), String> {
        match *author == self.first && created_ms >= self.handed_over_ms {
            true => Err("handed over".into()),
            false => Ok(()),
        }
    }
}

#[test]
fn after_a_rotation_the_new_key_signs_as_the_organisation_and_the_first_key_no_more() {
    let (first, _) = keys();
    let successor = OrgKey::generate(&mut StdRng::seed_from_u64(99));
    let signer = ReportSigner::Successor {
        author: first.public(),
        key: &successor,
    };
    let report = draft(5)
        .sign(signer, &mut StdRng::seed_from_u64(5))
        .unwrap();
    let raw = envelope(&report);
    assert_eq!(raw.format_version, cairn_proto::FORMAT_ID_SIGNED);
    assert_eq!(raw.author_key, first.public().as_bytes().to_vec());
    assert_eq!(raw.signer_key, successor.public().as_bytes().to_vec());
    let rotated = Rotated {
        first: first.public(),
        successor: *successor.public().as_bytes(),
        handed_over_ms: 0,
    };
    let back = verify_with(report.envelope_bytes(), &rotated).unwrap();
    assert_eq!(back.author(), first.public());
    assert!(matches!(
        verify_with(report.envelope_bytes(), &OrganisationKeysOnly),
        Err(VerifyError::Signer { .. })
    ));
    // A retraction of a report the first key signed, by the new key, is the organisation's.
    let old = draft(6)
        .sign(&first, &mut StdRng::seed_from_u64(6))
        .unwrap();
    let retraction =
        cairn_core::retract(&old, "withdrawn", signer, &mut StdRng::seed_from_u64(7)).unwrap();
    assert_eq!(
        verify_with(retraction.envelope_bytes(), &rotated)
            .unwrap()
            .author(),
        first.public()
    );
    // The first key's own signature on a report created after the hand-over is refused, and
    // the refusal names the key; before it, it still verifies.
    let rotated = Rotated {
        handed_over_ms: old.report().created_ms,
        ..rotated
    };
    match verify_with(old.envelope_bytes(), &rotated) {
        Err(VerifyError::Signer { key, reason, .. }) => {
            assert_eq!(key, hex::encode(first.public().as_bytes()));
            assert_eq!(reason, "handed over");
        }
        other => panic!("the first key signed after its hand-over: {other:?}"),
    }
    let later = Rotated {
        handed_over_ms: old.report().created_ms + 1,
        ..rotated
    };
    assert!(verify_with(old.envelope_bytes(), &later).is_ok());
}
