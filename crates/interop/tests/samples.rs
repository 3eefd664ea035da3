//! Imports of the public STIX 2.1 and MISP samples in ../shared/interop: what each becomes,
//! that every draft signs (so passes Cairn's rules), and that the malformed one is refused
//! with a message that says what is wrong.

use cairn_core::{IndicatorType, OrgKey, Tlp};
use cairn_interop::import::{ImportError, Imported, SourceFormat, import};
use rand::SeedableRng;

fn sample(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/interop")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn org() -> OrgKey {
    OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1))
}

/// Imports a sample and signs every draft.
fn imported(path: &str) -> Imported {
    let org = org();
    let result = import(&sample(path), &org.public()).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for r in &result.reports {
        r.draft
            .sign(&org, &mut rng)
            .unwrap_or_else(|e| panic!("{path}: {}: {e}", r.source_id));
    }
    result
}

fn count(result: &Imported, kind: IndicatorType) -> usize {
    result
        .reports
        .iter()
        .flat_map(|r| &r.draft.indicators)
        .filter(|i| i.kind == kind)
        .count()
}

#[test]
fn poison_ivy_becomes_one_report_with_its_indicators() {
    let result = imported("stix/poisonivy.json");
    assert_eq!(result.format, SourceFormat::Stix);
    let report = result
        .reports
        .iter()
        .find(|r| r.source_id.starts_with("report--"))
        .expect("the report");
    assert!(
        report.draft.title.contains("Poison Ivy"),
        "{}",
        report.draft.title
    );
    assert!(
        report.draft.indicators.len() >= 20,
        "{}",
        report.draft.indicators.len()
    );
    assert!(
        report
            .draft
            .tags
            .iter()
            .any(|t| t.starts_with("stix:report--"))
    );
    // Malware, attack patterns and the like are listed as skipped, with why.
    assert!(
        result
            .skipped
            .iter()
            .any(|s| s.why.contains("no Cairn equivalent"))
    );
}

#[test]
fn ip_and_hash_patterns_become_observables() {
    let result = imported("stix/indicators-for-C2-with-COA.json");
    assert!(count(&result, IndicatorType::Ipv4) + count(&result, IndicatorType::Cidr) >= 1);
    assert!(count(&result, IndicatorType::Sha256) >= 1);
    let url = imported("stix/indicator-for-malicious-url.json");
    assert_eq!(count(&url, IndicatorType::Url), 1);
    let hash = imported("stix/malware-indicator-for-file-hash.json");
    assert!(
        count(&hash, IndicatorType::Sha256) + count(&hash, IndicatorType::Md5) >= 1,
        "{:?}",
        hash.reports
    );
}

#[test]
fn patterns_cairn_cannot_carry_are_skipped_with_the_pattern() {
    let result = imported("stix/malicious-email-indicator-with-attachment.json");
    assert!(
        result
            .skipped
            .iter()
            .any(|s| s.why.contains("no observable Cairn carries")),
        "{:?}",
        result.skipped
    );
    let sighting = imported("stix/sighting-of-an-indicator.json");
    assert!(sighting.skipped.iter().any(|s| s.why.contains("sighting")));
}

#[test]
fn tlp_markings_are_kept() {
    let amber = imported("stix/using-marking-definitions.json");
    assert!(
        amber
            .reports
            .iter()
            .any(|r| r.draft.tlp == Some(Tlp::Amber)),
        "{:?}",
        amber.reports
    );
    let strict = imported("stix/tlp2-all-levels.json");
    assert_eq!(strict.reports.len(), 1);
    assert_eq!(strict.reports[0].draft.tlp, Some(Tlp::AmberStrict));
    let granular = imported("stix/using-granular-markings.json");
    for r in &granular.reports {
        assert!(r.draft.tlp.is_some());
    }
}

#[test]
fn the_malformed_upstream_sample_is_refused_saying_why() {
    let org = org();
    let err = import(&sample("stix/using-tlp2.0-green.json"), &org.public()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ImportError::UnknownFormat(_)), "{text}");
    assert!(text.contains("\"type\": \"bundle\""), "{text}");
    // With its type fixed, the bad date is named.
    let fixed = sample("stix/using-tlp2.0-green.json").replacen('{', "{\"type\": \"bundle\", ", 1);
    let err = import(&fixed, &org.public()).unwrap_err().to_string();
    assert!(err.contains("2022-101-27"), "{err}");
    assert!(err.contains("not a STIX timestamp"), "{err}");
}

#[test]
fn misp_events_become_reports() {
    let ransomware = imported("misp/57c4445b-c548-4654-af0b-4be3950d210f.json");
    assert_eq!(ransomware.format, SourceFormat::Misp);
    assert_eq!(ransomware.reports.len(), 1);
    let r = &ransomware.reports[0];
    assert_eq!(r.draft.tlp, Some(Tlp::Clear), "tlp:white is TLP:CLEAR");
    assert!(count(&ransomware, IndicatorType::Sha256) >= 1);
    assert!(count(&ransomware, IndicatorType::Md5) >= 1);
    assert!(
        ransomware
            .skipped
            .iter()
            .any(|s| s.why.contains("regkey|value")),
        "{:?}",
        ransomware.skipped
    );
    let small = imported("misp/misp_event.json");
    assert_eq!(small.reports.len(), 1);
    let sightings = imported("misp/sighting_1.json");
    assert!(count(&sightings, IndicatorType::Domain) + count(&sightings, IndicatorType::Url) >= 1);
    let collection = imported("misp/test_events_collection_1.json");
    assert!(count(&collection, IndicatorType::Asn) >= 1);
    // A MISP export to STIX 2.1 is a STIX bundle.
    let stix = imported("misp/test_event1_stix21.json");
    assert_eq!(stix.format, SourceFormat::Stix);
    assert!(!stix.reports.is_empty());
}

#[test]
fn garbage_is_refused_saying_what_it_is() {
    let org = org();
    for (text, expected) in [
        ("not json", "not JSON"),
        ("[1, 2]", "a list of 2 items"),
        ("{\"hello\": 1}", "keys hello"),
        ("{\"type\": \"bundle\"}", "no \"objects\" list"),
        (
            "{\"type\": \"bundle\", \"objects\": [{\"type\": \"indicator\", \"id\": \"report--x\"}]}",
            "does not start with its type",
        ),
    ] {
        let err = import(text, &org.public()).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}
