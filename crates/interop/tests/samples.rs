//! Imports of the public STIX 2.1 and MISP samples in ../shared/interop: what each becomes,
//! that every draft signs (so passes Cairn's rules), and that malformed input is refused
//! with a message that says what is wrong.

use cairn_core::{IndicatorType, OrgKey, Tlp};
use cairn_interop::import::{Fate, ImportOptions, Imported, SourceFormat, import};
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
    let result = import(&sample(path), &org.public(), &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{path}: {e}"));
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
fn poison_ivy_is_carried_whole_with_its_indicators_typed() {
    let result = imported("stix/poisonivy.json");
    assert_eq!(result.format, SourceFormat::Stix);
    // Every object is carried: nothing is skipped.
    assert_eq!(result.accounts.len(), result.objects);
    assert!(
        result
            .accounts
            .iter()
            .all(|a| matches!(a.fate, Fate::Carried { .. })),
        "{:?}",
        result.accounts
    );
    let report = result
        .reports
        .iter()
        .find(|r| r.draft.title.contains("Poison Ivy"))
        .expect("the report");
    assert!(
        report.draft.indicators.len() >= 20,
        "{}",
        report.draft.indicators.len()
    );
    let carried: usize = result
        .reports
        .iter()
        .map(|r| r.draft.stix_objects.len())
        .sum();
    assert!(carried >= result.objects, "{carried} of {}", result.objects);
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
fn objects_without_observables_cairn_types_are_carried_all_the_same() {
    for path in [
        "stix/malicious-email-indicator-with-attachment.json",
        "stix/sighting-of-an-indicator.json",
    ] {
        let result = imported(path);
        assert!(
            result
                .accounts
                .iter()
                .all(|a| matches!(a.fate, Fate::Carried { .. })),
            "{path}: {:?}",
            result.accounts
        );
    }
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
    let indicator = strict
        .reports
        .iter()
        .find(|r| r.draft.kind == Some(cairn_core::ReportKind::Indicator))
        .expect("the indicator's report");
    assert_eq!(indicator.draft.tlp, Some(Tlp::AmberStrict));
    // The indicator's marking-definition travels with it.
    assert!(
        indicator
            .draft
            .stix_objects
            .iter()
            .any(|o| o.contains("marking-definition--939a9414"))
    );
    // Granular markings count: an indicator with a granular TLP:RED part is TLP:RED.
    let granular = imported("stix/using-granular-markings.json");
    for r in &granular.reports {
        if r.draft
            .stix_objects
            .iter()
            .any(|o| o.contains("\"indicator\""))
        {
            assert_eq!(r.draft.tlp, Some(Tlp::Red));
        }
    }
}

#[test]
fn the_malformed_upstream_sample_names_its_bad_date() {
    // A bundle without "type" reads as a TAXII envelope; the object with a bad date is refused
    // alone, saying why, and the others are carried.
    let result = imported("stix/using-tlp2.0-green.json");
    let refused: Vec<&String> = result
        .accounts
        .iter()
        .filter_map(|a| match &a.fate {
            Fate::Refused(why) => Some(why),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", result.accounts);
    assert!(refused[0].contains("2022-101-27"), "{}", refused[0]);
    assert!(
        refused[0].contains("not a STIX timestamp"),
        "{}",
        refused[0]
    );
    assert!(!result.reports.is_empty());
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
    // What has no Cairn indicator type is carried all the same: in the event as sent and in
    // its STIX form.
    assert!(ransomware.skipped.is_empty());
    assert!(r.draft.misp_event.is_some());
    assert!(
        r.draft
            .stix_objects
            .iter()
            .any(|o| o.contains("x-misp-attribute") && o.contains("regkey|value")),
        "{:?}",
        r.draft.stix_objects
    );
    let small = imported("misp/misp_event.json");
    assert_eq!(small.reports.len(), 1);
    let sightings = imported("misp/sighting_1.json");
    assert!(count(&sightings, IndicatorType::Domain) + count(&sightings, IndicatorType::Url) >= 1);
    let collection = imported("misp/test_events_collection_1.json");
    // AS174 is not flagged for detection: context, carried as an observable, not an indicator.
    assert_eq!(count(&collection, IndicatorType::Asn), 0);
    assert!(collection.reports.iter().any(|r| {
        r.draft
            .stix_objects
            .iter()
            .any(|o| o.contains("\"autonomous-system\"") && o.contains("174"))
    }));
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
    ] {
        let err = import(text, &org.public(), &ImportOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}
