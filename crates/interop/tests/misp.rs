//! MISP events carried faithfully: every MISP file of the public corpora imports with every
//! event carried exactly as sent (its parts join back into the same text) beside a STIX 2.1
//! form that the OASIS validator accepts; detection flags, TLP tags and distributions decide
//! the typed view, the marking and the scope, never more permissively than the event says.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use cairn_core::misp::MispEventPart;
use cairn_core::{IndicatorType, OrgKey, Scope, Tlp};
use cairn_interop::import::{Fate, ImportOptions, Imported, import};
use rand::SeedableRng;
use serde_json::{Value, json};

fn org() -> OrgKey {
    OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1))
}

fn misp_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop");
    let mut files = Vec::new();
    let mut folders = vec![root.join("misp"), root.join("real/misp")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "json")
                && path.file_name().is_some_and(|n| n != "manifest.json")
                && !path.to_string_lossy().contains("stix")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn import_text(text: &str, default_tlp: Tlp) -> Imported {
    let options = ImportOptions {
        default_tlp,
        ..ImportOptions::default()
    };
    import(text, &org().public(), &options).unwrap()
}

/// The events of a MISP document, read independently of Cairn.
fn source_events(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.iter().flat_map(source_events).collect(),
        Value::Object(map) if map.contains_key("Event") => vec![value["Event"].clone()],
        Value::Object(map) if map.contains_key("response") => source_events(&value["response"]),
        Value::Object(_) => vec![value.clone()],
        _ => vec![],
    }
}

/// Every event's carried text, joined from the parts of the reports, by uuid.
fn carried_events(imported: &Imported) -> Vec<(String, Value)> {
    let mut by_uuid: Vec<(String, Vec<MispEventPart>)> = Vec::new();
    for r in &imported.reports {
        if let Some(part) = &r.draft.misp_event {
            match by_uuid.iter_mut().find(|(u, _)| *u == part.uuid) {
                Some((_, parts)) => parts.push(part.clone()),
                None => by_uuid.push((part.uuid.clone(), vec![part.clone()])),
            }
        }
    }
    by_uuid
        .into_iter()
        .map(|(uuid, parts)| {
            let text = MispEventPart::join(&parts).unwrap();
            (uuid, serde_json::from_str(&text).unwrap())
        })
        .collect()
}

/// The OASIS validator's errors (its warnings are SHOULDs that MISP's own converter does not
/// follow either, such as lower-case kill chain phase names).
fn validate_stix(objects: &[Value], name: &str) {
    let Some(validator) = std::env::var_os("CAIRN_STIX_VALIDATOR") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide stix2_validator in CAIRN_STIX_VALIDATOR (.ci/run installs it)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.json"));
    let bundle = json!({"type": "bundle", "id": "bundle--6f8a3c4e-2b1d-4e5f-9a0b-1c2d3e4f5a6b", "objects": objects});
    std::fs::write(&path, bundle.to_string()).unwrap();
    let result = Command::new(validator)
        .args(["--version", "2.1"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{name}: {report}");
    assert!(!report.contains("[X]"), "{name}: {report}");
}

#[test]
fn every_corpus_event_is_carried_as_sent_beside_a_valid_stix_form() {
    let files = misp_files();
    assert!(files.len() >= 14, "{files:?}");
    let key = org();
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let imported = import_text(&text, Tlp::Amber);
        let source: Value = serde_json::from_str(&text).unwrap();
        let events = source_events(&source);
        assert_eq!(imported.accounts.len(), events.len(), "{name}");
        for account in &imported.accounts {
            assert!(
                matches!(account.fate, Fate::Carried { .. }),
                "{name}: {account:?}"
            );
        }
        let carried = carried_events(&imported);
        assert_eq!(carried.len(), events.len(), "{name}");
        for (event, (uuid, back)) in events.iter().zip(&carried) {
            assert_eq!(event["uuid"].as_str().unwrap().to_ascii_lowercase(), *uuid);
            assert_eq!(event, back, "{name}: event {uuid} comes back as sent");
            // Only attributes flagged for detection become indicators.
            let flagged: HashSet<String> = event["Attribute"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(
                    event["Object"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|o| o["Attribute"].as_array().into_iter().flatten()),
                )
                .filter(|a| {
                    a["to_ids"] == true || a["to_ids"] == "1" || a["type"] == "vulnerability"
                })
                .flat_map(|a| {
                    let v = a["value"].as_str().unwrap_or_default().to_ascii_lowercase();
                    v.split('|').map(str::to_string).collect::<Vec<_>>()
                })
                .collect();
            for r in imported.reports.iter().filter(|r| r.sources[0] == *uuid) {
                for i in &r.draft.indicators {
                    let v = i.value.to_ascii_lowercase();
                    let bare = v.trim_start_matches("as").to_string();
                    assert!(
                        flagged.contains(&v)
                            || flagged.contains(&bare)
                            || i.kind == IndicatorType::Asn,
                        "{name}: {v} is not flagged for detection"
                    );
                }
            }
        }
        // Every report signs (the marking rule and the size limit hold) and its STIX form is
        // valid.
        let mut objects: Vec<Value> = Vec::new();
        for r in &imported.reports {
            r.draft
                .sign_imported(&key, &r.source_id)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            for o in &r.draft.stix_objects {
                let v: Value = serde_json::from_str(o).unwrap();
                if !objects.iter().any(|x| x["id"] == v["id"]) {
                    objects.push(v);
                }
            }
        }
        assert!(
            objects
                .iter()
                .any(|o| o["type"] == "report" || o["type"] == "grouping")
        );
        validate_stix(&objects, &name);
    }
}

fn attribute(
    uuid: u32,
    kind: &str,
    value: &str,
    to_ids: bool,
    tlp: Option<&str>,
    distribution: &str,
) -> Value {
    let mut a = json!({
        "uuid": format!("00000000-0000-4000-8000-{uuid:012x}"),
        "type": kind,
        "category": "Network activity",
        "value": value,
        "to_ids": to_ids,
        "timestamp": "1700000000",
        "distribution": distribution,
    });
    if let Some(t) = tlp {
        a["Tag"] = json!([{"name": format!("tlp:{t}")}]);
    }
    a
}

fn event(
    tlp: Option<&str>,
    distribution: &str,
    attributes: Vec<Value>,
    objects: Vec<Value>,
) -> Value {
    let mut e = json!({"Event": {
        "uuid": "5f1b0e7c-0b1a-4c2d-9e3f-1a2b3c4d5e6f",
        "info": "Generated event",
        "date": "2023-11-14",
        "timestamp": "1700000000",
        "published": true,
        "distribution": distribution,
        "threat_level_id": "2",
        "Orgc": {"name": "CERT-X", "uuid": "11111111-2222-4333-8444-555555555555"},
        "Attribute": attributes,
        "Object": objects,
        "Tag": [],
    }});
    if let Some(t) = tlp {
        e["Event"]["Tag"] = json!([{"name": format!("tlp:{t}")}, {"name": "ransomware"}]);
    }
    e
}

#[test]
fn detection_flags_decide_indicators_and_context_stays_context() {
    let e = event(
        Some("green"),
        "3",
        vec![
            attribute(1, "domain", "evil.example", true, None, "5"),
            attribute(2, "domain", "benign-cdn.example", false, None, "5"),
            attribute(3, "ip-dst", "198.51.100.7", true, None, "5"),
            attribute(4, "text", "analyst note", false, None, "5"),
        ],
        vec![],
    );
    let imported = import_text(&e.to_string(), Tlp::Amber);
    assert_eq!(imported.reports.len(), 1);
    let r = &imported.reports[0];
    assert_eq!(r.draft.tlp, Some(Tlp::Green));
    let values: Vec<&str> = r
        .draft
        .indicators
        .iter()
        .map(|i| i.value.as_str())
        .collect();
    assert_eq!(values, ["evil.example", "198.51.100.7"]);
    assert!(r.draft.tags.contains(&"ransomware".to_string()));
    let objects: Vec<Value> = r
        .draft
        .stix_objects
        .iter()
        .map(|o| serde_json::from_str(o).unwrap())
        .collect();
    let by_id = |id: &str| objects.iter().find(|o| o["id"] == id).unwrap();
    assert_eq!(
        by_id("indicator--00000000-0000-4000-8000-000000000001")["pattern"],
        "[domain-name:value = 'evil.example']"
    );
    // Context: observed data and its observable, never an indicator.
    let observed = by_id("observed-data--00000000-0000-4000-8000-000000000002");
    assert_eq!(
        observed["object_refs"][0],
        "domain-name--00000000-0000-4000-8000-000000000002"
    );
    assert!(
        !objects
            .iter()
            .any(|o| o["id"] == "indicator--00000000-0000-4000-8000-000000000002")
    );
    assert_eq!(
        by_id("x-misp-attribute--00000000-0000-4000-8000-000000000004")["x_misp_value"],
        "analyst note"
    );
    let head = by_id("report--5f1b0e7c-0b1a-4c2d-9e3f-1a2b3c4d5e6f");
    assert_eq!(head["name"], "Generated event");
    assert_eq!(
        head["object_refs"].as_array().unwrap().len(),
        objects.len() - 3,
        "all but identity, marking and itself"
    );
}

#[test]
fn a_red_attribute_makes_the_whole_event_red_and_org_only_distribution_keeps_it_home() {
    let e = event(
        Some("green"),
        "3",
        vec![
            attribute(1, "domain", "evil.example", true, None, "5"),
            attribute(
                2,
                "domain",
                "victim-internal.example",
                true,
                Some("red"),
                "5",
            ),
        ],
        vec![],
    );
    let imported = import_text(&e.to_string(), Tlp::Amber);
    let r = &imported.reports[0];
    assert_eq!(r.draft.tlp, Some(Tlp::Red));
    assert_eq!(r.draft.scope, Some(Scope::Organisation));
    assert_eq!(r.draft.recipients, vec![org().public()]);
    // The object's own marking is the strictest of its tag and the event's.
    let red: Value = r
        .draft
        .stix_objects
        .iter()
        .map(|o| serde_json::from_str::<Value>(o).unwrap())
        .find(|o| o["id"] == "indicator--00000000-0000-4000-8000-000000000002")
        .unwrap();
    assert_eq!(
        red["object_marking_refs"][0],
        cairn_core::stix::tlp_marking_id(Tlp::Red)
    );

    let e = event(
        Some("clear"),
        "3",
        vec![attribute(1, "domain", "evil.example", true, None, "0")],
        vec![],
    );
    let r = &import_text(&e.to_string(), Tlp::Amber).reports[0];
    assert_eq!(r.draft.tlp, Some(Tlp::Clear));
    assert_eq!(r.draft.scope, Some(Scope::Organisation), "{:?}", r.notes);
    // No tag at all: the node's default.
    let e = event(
        None,
        "3",
        vec![attribute(1, "domain", "evil.example", true, None, "5")],
        vec![],
    );
    let r = &import_text(&e.to_string(), Tlp::AmberStrict).reports[0];
    assert_eq!(r.draft.tlp, Some(Tlp::AmberStrict));
    assert!(
        r.notes.iter().any(|n| n.contains("no TLP marking")),
        "{:?}",
        r.notes
    );
    // A TLP tag Cairn does not know restricts rather than opens.
    let mut e = event(
        Some("green"),
        "3",
        vec![attribute(1, "domain", "evil.example", true, None, "5")],
        vec![],
    );
    e["Event"]["Tag"] = json!([{"name": "tlp:ex:chr"}]);
    assert_eq!(
        import_text(&e.to_string(), Tlp::Amber).reports[0].draft.tlp,
        Some(Tlp::Red)
    );
}

#[test]
fn objects_references_galaxies_and_sightings_have_their_stix_form() {
    let mut file_object = json!({
        "uuid": "00000000-0000-4000-9000-000000000001",
        "name": "file",
        "meta-category": "file",
        "timestamp": "1700000000",
        "Attribute": [
            attribute(10, "filename", "dropper.exe", false, None, "5"),
            attribute(11, "sha256", "5f2b8d1c9a3e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8", true, None, "5"),
        ],
        "ObjectReference": [{
            "uuid": "00000000-0000-4000-a000-000000000001",
            "referenced_uuid": "00000000-0000-4000-8000-000000000001",
            "relationship_type": "communicates-with",
        }],
    });
    file_object["Attribute"][1]["Galaxy"] = json!([{
        "uuid": "c4e851fa-775f-11e7-8163-b774922098cd",
        "name": "Attack Pattern",
        "type": "mitre-attack-pattern",
        "GalaxyCluster": [{"uuid": "dcaa092b-7de9-4a21-977f-7fcb77e89c48", "value": "Access Token Manipulation - T1134", "meta": {"external_id": ["T1134"]}}],
    }]);
    let mut domain = attribute(1, "domain", "evil.example", true, None, "5");
    domain["Sighting"] = json!([
        {"uuid": "00000000-0000-4000-b000-000000000001", "attribute_uuid": "00000000-0000-4000-8000-000000000001", "type": "0", "date_sighting": "1700000100", "Organisation": {"name": "CERT-Y", "uuid": "22222222-2222-4333-8444-555555555555"}},
        {"uuid": "00000000-0000-4000-b000-000000000002", "attribute_uuid": "00000000-0000-4000-8000-000000000001", "type": "1", "date_sighting": "1700000200", "Organisation": {"name": "CERT-Z"}},
    ]);
    let e = event(Some("green"), "3", vec![domain], vec![file_object]);
    let imported = import_text(&e.to_string(), Tlp::Amber);
    let r = &imported.reports[0];
    let objects: Vec<Value> = r
        .draft
        .stix_objects
        .iter()
        .map(|o| serde_json::from_str(o).unwrap())
        .collect();
    let by_id = |id: &str| {
        objects
            .iter()
            .find(|o| o["id"] == id)
            .unwrap_or_else(|| panic!("{id} in {objects:#?}"))
    };
    let file = by_id("indicator--00000000-0000-4000-9000-000000000001");
    assert_eq!(
        file["pattern"],
        "[file:name = 'dropper.exe' AND file:hashes.'SHA-256' = '5f2b8d1c9a3e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8']"
    );
    let reference = by_id("relationship--00000000-0000-4000-a000-000000000001");
    assert_eq!(reference["source_ref"], file["id"]);
    assert_eq!(
        reference["target_ref"],
        "indicator--00000000-0000-4000-8000-000000000001"
    );
    assert_eq!(reference["relationship_type"], "communicates-with");
    let pattern = by_id("attack-pattern--dcaa092b-7de9-4a21-977f-7fcb77e89c48");
    assert_eq!(pattern["external_references"][0]["external_id"], "T1134");
    assert!(objects.iter().any(|o| o["type"] == "relationship"
        && o["source_ref"] == file["id"]
        && o["target_ref"] == pattern["id"]
        && o["relationship_type"] == "indicates"));
    let sighting = by_id("sighting--00000000-0000-4000-b000-000000000001");
    assert_eq!(
        sighting["sighting_of_ref"],
        "indicator--00000000-0000-4000-8000-000000000001"
    );
    assert_eq!(
        sighting["where_sighted_refs"][0],
        "identity--22222222-2222-4333-8444-555555555555"
    );
    let opinion = by_id("opinion--00000000-0000-4000-b000-000000000002");
    assert_eq!(opinion["opinion"], "strongly-disagree");
    // The typed view: the hash flagged for detection, not the file name.
    let values: Vec<&str> = r
        .draft
        .indicators
        .iter()
        .map(|i| i.value.as_str())
        .collect();
    assert!(values.contains(&"5f2b8d1c9a3e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"));
    assert!(!values.contains(&"dropper.exe"));
    validate_stix(&objects, "objects-references-galaxies-sightings");
}

#[test]
fn a_large_event_is_cut_into_parts_that_join_back_and_each_report_signs() {
    let attributes: Vec<Value> = (0..12_000u32)
        .map(|n| {
            attribute(
                n,
                "ip-dst",
                &format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255),
                n % 3 != 0,
                None,
                "5",
            )
        })
        .collect();
    let e = event(Some("amber"), "1", attributes, vec![]);
    let text = e.to_string();
    assert!(text.len() > 1024 * 1024, "{}", text.len());
    let imported = import_text(&text, Tlp::Amber);
    assert!(
        imported.reports.len() > 3,
        "{} {:?}",
        imported.reports.len(),
        imported.accounts
    );
    assert_eq!(imported.accounts.len(), 1);
    let key = org();
    let mut ids = HashSet::new();
    for r in &imported.reports {
        assert_eq!(r.draft.tlp, Some(Tlp::Amber));
        assert_eq!(
            r.draft.scope.unwrap_or(Scope::DirectPeers),
            Scope::DirectPeers
        );
        let signed = r.draft.sign_imported(&key, &r.source_id).unwrap();
        assert!(ids.insert(signed.id()), "every part is a report of its own");
        for o in &r.draft.stix_objects {
            assert!(cairn_core::stix::read_header(o).is_ok());
        }
    }
    let carried = carried_events(&imported);
    assert_eq!(carried.len(), 1);
    assert_eq!(carried[0].1, e["Event"]);
    let indicators: usize = imported
        .reports
        .iter()
        .map(|r| r.draft.indicators.len())
        .sum();
    assert_eq!(
        indicators, 8_000,
        "the attributes flagged for detection, once each"
    );
}

#[test]
fn events_without_uuid_or_version_are_refused_saying_why_and_the_others_import() {
    let good = event(
        Some("green"),
        "3",
        vec![attribute(1, "domain", "evil.example", true, None, "5")],
        vec![],
    );
    let mut no_uuid = good.clone();
    no_uuid["Event"]["uuid"] = json!("not-a-uuid");
    let mut no_time = good.clone();
    no_time["Event"]["uuid"] = json!("6f1b0e7c-0b1a-4c2d-9e3f-1a2b3c4d5e6f");
    for key in ["timestamp", "date", "publish_timestamp"] {
        no_time["Event"].as_object_mut().unwrap().remove(key);
    }
    let list = json!({"response": [no_uuid, good, no_time, good]});
    let imported = import_text(&list.to_string(), Tlp::Amber);
    let fates: Vec<&Fate> = imported.accounts.iter().map(|a| &a.fate).collect();
    assert!(
        matches!(fates[0], Fate::Refused(why) if why.contains("uuid")),
        "{fates:?}"
    );
    assert!(matches!(fates[1], Fate::Carried { .. }));
    assert!(
        matches!(fates[2], Fate::Refused(why) if why.contains("timestamp")),
        "{fates:?}"
    );
    assert!(matches!(fates[3], Fate::Duplicate(_)));
    assert_eq!(imported.reports.len(), 1);
}

mod markings {
    use super::*;
    use proptest::prelude::*;

    const LABELS: [&str; 7] = [
        "clear",
        "white",
        "green",
        "amber",
        "amber+strict",
        "red",
        "ex:chr",
    ];

    fn strictness(label: &str) -> Tlp {
        match label {
            "clear" | "white" => Tlp::Clear,
            "green" => Tlp::Green,
            "amber" => Tlp::Amber,
            "amber+strict" => Tlp::AmberStrict,
            _ => Tlp::Red,
        }
    }

    fn widest(level: &str) -> Option<Scope> {
        match level {
            "0" => Some(Scope::Organisation),
            "1" | "4" => Some(Scope::DirectPeers),
            "2" => Some(Scope::Community),
            _ => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// No generated event travels in a report weaker than any TLP tag inside it or wider
        /// than any distribution inside it, and no STIX object is marked weaker than its own
        /// tags and the event's.
        #[test]
        fn no_event_travels_weaker_than_its_tags(
            event_tlp in proptest::option::of(0usize..7),
            event_dist in 0usize..6,
            default in 1usize..6,
            attrs in proptest::collection::vec((proptest::option::of(0usize..7), 0usize..6, any::<bool>()), 1..12),
        ) {
            let defaults = [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::AmberStrict, Tlp::Red];
            let default = defaults[default - 1];
            let levels = ["0", "1", "2", "3", "4", "5"];
            let attributes: Vec<Value> = attrs.iter().enumerate().map(|(n, (tlp, dist, ids))| {
                attribute(n as u32, "domain", &format!("d{n}.example"), *ids, tlp.map(|t| LABELS[t]), levels[*dist])
            }).collect();
            let e = event(event_tlp.map(|t| LABELS[t]), levels[event_dist.min(4)], attributes, vec![]);
            let imported = import_text(&e.to_string(), default);
            let event_own = event_tlp.map(|t| strictness(LABELS[t])).unwrap_or(default);
            let mut expected = event_own;
            let mut narrowest = widest(levels[event_dist.min(4)]);
            for (tlp, dist, _) in &attrs {
                expected = expected.max(tlp.map(|t| strictness(LABELS[t])).unwrap_or(event_own));
                if let Some(s) = widest(levels[*dist]) {
                    narrowest = Some(narrowest.map_or(s, |n| n.min(s)));
                }
            }
            for r in &imported.reports {
                let tlp = r.draft.tlp.unwrap();
                prop_assert!(tlp >= expected, "{tlp:?} < {expected:?}");
                let scope = r.draft.scope.unwrap_or(match tlp {
                    Tlp::Clear => Scope::Unrestricted,
                    Tlp::Green => Scope::Community,
                    _ => Scope::DirectPeers,
                });
                if let Some(n) = narrowest {
                    prop_assert!(scope <= n, "{scope:?} wider than {n:?}");
                }
                for o in &r.draft.stix_objects {
                    let v: Value = serde_json::from_str(o).unwrap();
                    if v["type"] == "marking-definition" { continue; }
                    let marked = v["object_marking_refs"][0].as_str().and_then(cairn_core::stix::tlp_of_marking_id);
                    prop_assert!(marked.is_some_and(|m| m >= event_own), "{v}");
                    if let Some(n) = v["id"].as_str().and_then(|id| id.strip_prefix("indicator--00000000-0000-4000-8000-")) {
                        let n = usize::from_str_radix(n, 16).unwrap();
                        if let Some(t) = attrs[n].0 {
                            prop_assert!(marked.unwrap() >= strictness(LABELS[t]));
                        }
                    }
                }
            }
        }
    }
}
