//! Signing and verification properties: round trips, tampering, disclosures and batches.

use cairn_core::{
    DisclosureField, IndicatorType, OrgKey, ReportDraft, ReportKind, Tlp, VerifyError, retract,
    sample, verify, verify_batch,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn org(seed: u64) -> OrgKey {
    OrgKey::generate(&mut StdRng::seed_from_u64(seed))
}

fn signed(seed: u64) -> cairn_core::VerifiedReport {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draft = sample::indicator_report(&mut rng, seed);
    draft.internal_notes = Some("analyst: infra overlaps with last spring's campaign".into());
    draft.evidence = vec!["Received: from mx.bad.example".into()];
    draft
        .sign(&org(1), &mut rng)
        .expect("sample drafts are valid")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn signed_reports_verify_to_the_same_content(seed in any::<u64>(), title in "[A-Za-z0-9 ]{1,100}", tags in proptest::collection::vec("[a-z]{1,12}", 0..8)) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut draft = sample::indicator_report(&mut rng, seed);
        draft.title = format!("T {title}");
        draft.tags = tags.clone();
        let report = draft.sign(&org(seed), &mut rng).unwrap();
        let back = verify(report.envelope_bytes()).unwrap();
        prop_assert_eq!(back.id(), report.id());
        prop_assert_eq!(back.report(), report.report());
        prop_assert_eq!(back.author(), org(seed).public());
        prop_assert_eq!(back.disclosures(), report.disclosures());
        prop_assert_eq!(back.withheld(), 0);
    }

    #[test]
    fn any_flipped_bit_in_the_signed_parts_fails(seed in 0u64..8, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let report = signed(seed);
        let mut bytes = report.envelope_bytes().to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // Every byte of this envelope belongs to the version, body, key, signature or a
        // disclosure. The one flip that can be accepted turns a disclosure's field tag into a
        // field the decoder skips: that withholds the disclosure, as any relay may, and changes
        // nothing signed.
        let accepted = |back: &cairn_core::VerifiedReport| {
            back.id() == report.id() && back.report() == report.report() && back.withheld() > 0
        };
        match verify(&bytes) {
            Err(_) => {}
            Ok(back) => prop_assert!(accepted(&back), "flip of bit {} at byte {} was accepted", bit, i),
        }
        let batch = verify_batch(&[bytes.clone(), report.envelope_bytes().to_vec()]);
        prop_assert!(batch[0].as_ref().map_or(true, accepted));
        prop_assert!(batch[1].is_ok());
    }

    #[test]
    fn withheld_disclosures_still_verify(seed in 0u64..16, mask in 0u8..8) {
        let report = signed(seed);
        let fields: Vec<DisclosureField> = [DisclosureField::Victim, DisclosureField::InternalNotes, DisclosureField::Evidence]
            .into_iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, f)| f).collect();
        let copy = report.withhold(&fields);
        let back = verify(copy.envelope_bytes()).unwrap();
        prop_assert_eq!(back.id(), report.id());
        prop_assert_eq!(back.withheld(), fields.len());
        prop_assert!(back.disclosures().iter().all(|d| !fields.contains(&d.field)));
    }

    #[test]
    fn a_changed_disclosure_fails(seed in 0u64..16, new_value in "[a-z ]{1,40}") {
        let report = signed(seed);
        let mut envelope = <cairn_proto_access::Envelope as prost::Message>::decode(report.envelope_bytes()).unwrap();
        let mut d = <cairn_proto_access::Disclosure as prost::Message>::decode(envelope.disclosures[0].as_slice()).unwrap();
        prop_assume!(d.value != new_value);
        d.value = new_value;
        envelope.disclosures[0] = prost::Message::encode_to_vec(&d);
        let err = verify(&prost::Message::encode_to_vec(&envelope)).unwrap_err();
        prop_assert!(matches!(err, VerifyError::Disclosure { index: 0, .. }), "{}", err);
    }
}

mod cairn_proto_access {
    pub use cairn_proto::v1::{Disclosure, ReportEnvelope as Envelope};
}

#[test]
fn a_preview_is_the_report_signing_makes_and_fails_as_signing_does() {
    for seed in 0..16u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut draft = sample::indicator_report(&mut rng, seed);
        draft.created = Some(time::OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap());
        draft.victim = Some("a town hall".into());
        let preview = draft.preview().expect("a valid draft previews");
        let signed = draft.sign(&org(1), &mut rng).expect("and signs");
        // The same content; only the disclosures' salted digests differ.
        let unsalted = |r: &cairn_core::Report| cairn_core::Report {
            disclosure_digests: vec![[0; 32]; r.disclosure_digests.len()],
            ..r.clone()
        };
        assert_eq!(unsalted(&preview), unsalted(signed.report()));
        assert_eq!(preview.disclosure_digests.len(), 1);
    }
    let mut rng = StdRng::seed_from_u64(99);
    let bad_drafts: Vec<ReportDraft> = vec![
        ReportDraft {
            tlp: None,
            ..sample::indicator_report(&mut rng, 1)
        },
        ReportDraft {
            victim: Some("  ".into()),
            ..sample::indicator_report(&mut rng, 2)
        },
        ReportDraft {
            tlp: Some(Tlp::Amber),
            scope: Some(cairn_core::Scope::Community),
            ..sample::indicator_report(&mut rng, 3)
        },
    ];
    for draft in bad_drafts {
        let previewed = draft.preview().expect_err("refused");
        let signing = draft.sign(&org(1), &mut rng).expect_err("refused");
        assert_eq!(previewed, signing);
    }
}

#[test]
fn a_batch_with_bad_reports_keeps_the_good_ones() {
    let good: Vec<Vec<u8>> = (0..20)
        .map(|s| signed(s).envelope_bytes().to_vec())
        .collect();
    let mut inputs = good.clone();
    let mut forged = good[3].clone();
    let last = forged.len() - 1;
    forged[last - 100] ^= 0x40;
    inputs.insert(5, forged);
    inputs.insert(9, b"not a report".to_vec());
    let results = verify_batch(&inputs);
    assert_eq!(results.len(), 22);
    assert!(results[5].is_err());
    assert!(results[9].is_err());
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 20);
}

#[test]
fn garbage_and_future_versions_get_clear_errors() {
    let err = verify(b"\xff\xff\xff garbage").unwrap_err();
    assert!(err.to_string().contains("not a Cairn report"), "{err}");
    let report = signed(1);
    let mut envelope: cairn_proto::v1::ReportEnvelope =
        prost::Message::decode(report.envelope_bytes()).unwrap();
    envelope.format_version = cairn_proto::FORMAT_VERSION + 1;
    let err = verify(&prost::Message::encode_to_vec(&envelope)).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "format version {} is newer than this node understands",
            cairn_proto::FORMAT_VERSION + 1
        )),
        "{err}"
    );
    let big = vec![0u8; 2 << 20];
    assert!(matches!(verify(&big), Err(VerifyError::TooLarge { .. })));
    let half = &report.envelope_bytes()[..report.envelope_bytes().len() / 2];
    assert!(verify(half).is_err());
}

#[test]
fn unknown_tlp_on_the_wire_is_refused_by_name() {
    let report = signed(2);
    let mut envelope: cairn_proto::v1::ReportEnvelope =
        prost::Message::decode(report.envelope_bytes()).unwrap();
    let mut body: cairn_proto::v1::ReportBody =
        prost::Message::decode(envelope.body.as_slice()).unwrap();
    body.tlp = 9;
    envelope.body = prost::Message::encode_to_vec(&body);
    let err = verify(&prost::Message::encode_to_vec(&envelope)).unwrap_err();
    assert!(err.to_string().contains("tlp: unknown TLP label"), "{err}");
}

#[test]
fn retractions_are_by_the_author_only_and_keep_the_audience() {
    let mut rng = StdRng::seed_from_u64(9);
    let author = org(1);
    let report = signed(3);
    let tombstone = retract(&report, "false positive", &author, &mut rng).unwrap();
    assert_eq!(tombstone.report().kind, ReportKind::Retraction);
    assert_eq!(tombstone.report().retracts, Some(report.id()));
    assert_eq!(tombstone.report().tlp, report.report().tlp);
    assert!(verify(tombstone.envelope_bytes()).is_ok());
    let stranger = org(2);
    assert!(retract(&report, "mine now", &stranger, &mut rng).is_err());
}

#[test]
fn a_report_says_its_language_as_a_bcp_47_tag_or_is_refused() {
    let mut rng = StdRng::seed_from_u64(5);
    for tag in ["fr", "pt-BR", "zh-Hant-TW", "sr-Latn-RS", "en-GB-oxendict"] {
        let mut draft = sample::indicator_report(&mut rng, 5);
        draft.language = Some(tag.into());
        let report = draft.sign(&org(1), &mut rng).expect(tag);
        let again = cairn_core::verify(report.envelope_bytes()).unwrap();
        assert_eq!(again.report().language.as_deref(), Some(tag));
    }
    // Unsaid is none.
    let report = sample::indicator_report(&mut rng, 6)
        .sign(&org(1), &mut rng)
        .unwrap();
    assert_eq!(report.report().language, None);
    for bad in ["french!", "e", "en_GB", "en--GB", "x", &"a".repeat(36)] {
        let mut draft = sample::indicator_report(&mut rng, 7);
        draft.language = Some(bad.to_string());
        let err = draft.sign(&org(1), &mut rng).unwrap_err();
        assert_eq!(err.field, "language", "{bad}: {err}");
    }
    let mut draft = sample::indicator_report(&mut rng, 8);
    draft.language = Some("en_GB".into());
    assert!(
        draft
            .sign(&org(1), &mut rng)
            .unwrap_err()
            .to_string()
            .contains("write it as en, fr or pt-BR")
    );
}

#[test]
fn drafts_report_the_first_bad_field() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut draft = sample::indicator_report(&mut rng, 4);
    draft.indicators[3].kind = IndicatorType::Ipv4;
    draft.indicators[3].value = "not-an-ip".into();
    let err = draft.sign(&org(1), &mut rng).unwrap_err();
    assert_eq!(err.field, "indicators[3].value");
    assert!(err.reason.contains("\"not-an-ip\""));
    let empty = ReportDraft::default();
    assert_eq!(empty.sign(&org(1), &mut rng).unwrap_err().field, "kind");
    let red = ReportDraft {
        kind: Some(ReportKind::Incident),
        title: "x".into(),
        tlp: Some(Tlp::Red),
        ..ReportDraft::default()
    };
    assert_eq!(red.sign(&org(1), &mut rng).unwrap_err().field, "recipients");
}

#[test]
fn sample_reports_have_a_realistic_size() {
    let report = signed(5);
    let size = report.envelope_bytes().len();
    assert!(
        (1000..=2500).contains(&size),
        "sample report is {size} bytes"
    );
    assert_eq!(report.report().indicators.len(), 10);
}

#[test]
fn parallel_batches_give_the_same_answers_in_the_same_order() {
    let mut inputs: Vec<Vec<u8>> = (0..150)
        .map(|s| signed(s).envelope_bytes().to_vec())
        .collect();
    inputs[40][60] ^= 0x10;
    inputs[149] = b"junk".to_vec();
    inputs[100].truncate(50);
    let serial = verify_batch(&inputs);
    for threads in [0, 1, 2, 3, 7] {
        let parallel = cairn_core::verify_batch_parallel(&inputs, threads);
        assert_eq!(parallel.len(), serial.len());
        for (i, (a, b)) in serial.iter().zip(&parallel).enumerate() {
            match (a, b) {
                (Ok(a), Ok(b)) => assert_eq!(a.id(), b.id(), "entry {i}"),
                (Err(a), Err(b)) => assert_eq!(a, b, "entry {i}"),
                _ => panic!("entry {i} differs with {threads} threads"),
            }
        }
    }
    assert_eq!(serial.iter().filter(|r| r.is_err()).count(), 3);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Reports are refused unless their values are canonical, so putting a value in canonical
    /// form must be idempotent, or a report Cairn signs could be refused by another node.
    #[test]
    fn canonical_forms_are_stable(
        host in "[A-Za-z0-9]{1,10}(\\.[A-Za-z0-9-]{1,10}){0,2}\\.[A-Za-z]{2,6}",
        path in "(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,12}){0,3}",
        query in "(\\?[A-Za-z0-9=&%+._-]{0,16})?",
        ip in any::<[u8; 16]>(),
    ) {
        let candidates = [
            (IndicatorType::Url, format!("https://{host}{path}{query}")),
            (IndicatorType::Url, format!("HTTP://{host}:8080{path}")),
            (IndicatorType::Domain, format!("{host}.")),
            (IndicatorType::Email, format!("User.Name@{host}")),
            (IndicatorType::Ipv6, std::net::Ipv6Addr::from(ip).to_string().to_uppercase()),
            (IndicatorType::Cidr, format!("{}/64", std::net::Ipv6Addr::from(u128::from_be_bytes(ip) & !((1u128 << 64) - 1)))),
        ];
        for (kind, value) in candidates {
            if let Ok(once) = cairn_core::indicator::canonical(kind, &value) {
                let twice = cairn_core::indicator::canonical(kind, &once);
                prop_assert_eq!(twice.as_ref(), Ok(&once), "{} {:?}", kind, value);
            }
        }
    }
}

#[test]
fn an_imported_source_object_always_signs_into_the_same_report() {
    let mut rng = StdRng::seed_from_u64(9);
    let org = OrgKey::generate(&mut rng);
    let other_org = OrgKey::generate(&mut rng);
    let mut draft = sample::indicator_report(&mut rng, 1);
    // An imported draft carries its source's time; without one it would be signed "now".
    draft.created = Some(time::macros::datetime!(2026-11-20 10:00 UTC));
    let once = draft.sign_imported(&org, "indicator--1").unwrap();
    let again = draft.sign_imported(&org, "indicator--1").unwrap();
    assert_eq!(once.id(), again.id());
    assert_eq!(once.envelope_bytes(), again.envelope_bytes());
    // Another source object, or another organisation, gives another report.
    assert_ne!(
        draft.sign_imported(&org, "indicator--2").unwrap().id(),
        once.id()
    );
    assert_ne!(
        draft
            .sign_imported(&other_org, "indicator--1")
            .unwrap()
            .id(),
        once.id()
    );
    // Drafts signed the usual way still differ each time.
    assert_ne!(
        draft.sign(&org, &mut rng).unwrap().id(),
        draft.sign(&org, &mut rng).unwrap().id()
    );
}
