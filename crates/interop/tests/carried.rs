//! STIX objects carried faithfully: every file of the public corpora in ../shared/interop is
//! imported with every object accounted for and carried byte for byte, and, over generated
//! bundles, no object ever travels in a report weaker than its own TLP marking.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cairn_core::stix::{read_header, tlp_marking_id};
use cairn_core::{OrgKey, Tlp, VerifiedReport};
use cairn_interop::import::{Fate, ImportOptions, Imported, import};
use proptest::prelude::*;
use rand::SeedableRng;
use serde_json::{Value, json};

fn org() -> OrgKey {
    OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1))
}

fn corpus_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/interop");
    let mut files = Vec::new();
    let mut folders = vec![root.join("stix"), root.join("real/stix")];
    while let Some(folder) = folders.pop() {
        let entries =
            std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The source's objects as JSON texts, in order.
fn source_objects(text: &str) -> Vec<Value> {
    let value: Value = serde_json::from_str(text).unwrap();
    match value {
        Value::Array(items) => items,
        Value::Object(ref map) if map.contains_key("objects") => {
            value["objects"].as_array().cloned().unwrap_or_default()
        }
        other => vec![other],
    }
}

/// The strictest TLP an object's own markings give it, read independently of Cairn: the
/// well-known ids and the TLP definitions in the same source; unmarked: `default`.
fn oracle_tlp(object: &Value, source: &[Value], default: Tlp) -> Tlp {
    let defined = |id: &str| -> Option<Tlp> {
        let d = source.iter().find(|o| o["id"] == id)?;
        if let Some(label) = d["extensions"][cairn_core::stix::TLP2_EXTENSION]["tlp_2_0"].as_str() {
            return label.parse().ok();
        }
        if d["definition_type"] == "tlp" {
            return d["definition"]["tlp"].as_str()?.parse().ok();
        }
        None
    };
    let mut refs: Vec<&str> = object["object_marking_refs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    refs.extend(
        object["granular_markings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["marking_ref"].as_str()),
    );
    let known = |id: &str| cairn_core::stix::tlp_of_marking_id(id).or_else(|| defined(id));
    match refs.iter().filter_map(|r| known(r)).max() {
        None => default,
        Some(t) => t,
    }
}

/// Checks what an import made of a source: every object accounted for once; every carried
/// object byte for byte in a report at least as strict as its own marking; every draft signs
/// under Cairn's rules.
fn check(name: &str, text: &str, imported: &Imported, default: Tlp) {
    let source = source_objects(text);
    assert_eq!(
        imported.accounts.len(),
        source.len(),
        "{name}: every object accounted for"
    );
    let org = org();
    for report in &imported.reports {
        let signed = report
            .draft
            .sign_imported(&org, &report.source_id)
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", report.source_id));
        // Signed with what the import read of the objects: the same report (the very same
        // bytes when the source dates it), carrying the same object versions.
        let read = report.sign(&org).unwrap();
        if report.draft.created.is_some() {
            assert_eq!(read.envelope_bytes(), signed.envelope_bytes(), "{name}");
        }
        assert_eq!(read.report().tlp, signed.report().tlp, "{name}");
        assert_eq!(
            read.report().stix_objects,
            signed.report().stix_objects,
            "{name}"
        );
        assert_eq!(
            read.object_versions(),
            VerifiedReport::from_stored(signed.envelope_bytes())
                .unwrap()
                .object_versions(),
            "{name}"
        );
        let tlp = signed.report().tlp;
        assert!(cairn_core::limits::MAX_ENVELOPE_BYTES >= signed.envelope_bytes().len());
        for json in &signed.report().stix_objects {
            let carried: Value = serde_json::from_str(json).unwrap();
            let original = source
                .iter()
                .find(|o| o["id"] == carried["id"] && o.get("modified") == carried.get("modified"))
                .unwrap_or_else(|| panic!("{name}: {} is not from the source", carried["id"]));
            assert_eq!(&carried, original, "{name}: carried as sent");
            if carried["type"] != "marking-definition" {
                let own = oracle_tlp(original, &source, default);
                assert!(
                    tlp >= own,
                    "{name}: {} ({own}) travels as {tlp}",
                    carried["id"]
                );
            }
        }
    }
    for account in &imported.accounts {
        if let Fate::Carried { report, .. } = account.fate {
            let carried_in = &imported.reports[report].draft.stix_objects;
            assert!(
                carried_in
                    .iter()
                    .any(|o| read_header(o).is_ok_and(|h| h.id == account.id)),
                "{name}: {} is not in the report it is said to be in",
                account.id
            );
        }
    }
}

#[test]
fn every_corpus_file_is_carried_object_by_object() {
    let files = corpus_files();
    assert!(files.len() >= 30, "{} files", files.len());
    let org = org();
    for path in files {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let imported = import(&text, &org.public(), &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check(&name, &text, &imported, Tlp::Amber);
        for account in &imported.accounts {
            if let Fate::Refused(why) = &account.fate {
                // Only objects that break STIX are refused, each saying why.
                assert!(
                    why.contains("not a STIX timestamp"),
                    "{name}: {} refused: {why}",
                    account.id
                );
            }
        }
    }
}

#[test]
fn the_default_tlp_is_the_nodes_choice() {
    let text = json!({"type": "bundle", "id": "bundle--6c4f0e9c-3c50-4d6a-8b8b-7d9e1b1f2a3c", "objects": [
        {"type": "campaign", "spec_version": "2.1", "id": "campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
         "created": "2016-04-06T20:03:00.000Z", "modified": "2016-04-06T20:03:00.000Z", "name": "Green Group Attacks"}
    ]})
    .to_string();
    let org = org();
    let clear = ImportOptions {
        default_tlp: Tlp::Clear,
        ..ImportOptions::default()
    };
    let imported = import(&text, &org.public(), &clear).unwrap();
    assert_eq!(imported.reports[0].draft.tlp, Some(Tlp::Clear));
    let imported = import(&text, &org.public(), &ImportOptions::default()).unwrap();
    assert_eq!(imported.reports[0].draft.tlp, Some(Tlp::Amber));
}

#[test]
fn a_report_object_never_pulls_stricter_objects_into_its_marking() {
    // The leak this guards against: a TLP:GREEN report referring to TLP:RED and TLP:AMBER
    // indicators made them travel as TLP:GREEN.
    let indicator = |n: u32, tlp: Tlp| {
        json!({"type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-00000000000{n}"),
            "created": "2026-11-01T10:00:00.000Z", "modified": "2026-11-01T10:00:00.000Z",
            "pattern": format!("[ipv4-addr:value = '192.0.2.{n}']"), "pattern_type": "stix",
            "valid_from": "2026-11-01T10:00:00Z", "object_marking_refs": [tlp_marking_id(tlp)]})
    };
    let text = json!({"type": "bundle", "id": "bundle--6c4f0e9c-3c50-4d6a-8b8b-7d9e1b1f2a3c", "objects": [
        indicator(1, Tlp::Red), indicator(2, Tlp::Amber), indicator(3, Tlp::Green),
        {"type": "report", "spec_version": "2.1", "id": "report--00000000-0000-4000-8000-000000000009",
         "created": "2026-11-01T10:00:00.000Z", "modified": "2026-11-01T10:00:00.000Z",
         "name": "Green report", "published": "2026-11-01T10:00:00Z", "report_types": ["threat-report"],
         "object_refs": ["indicator--00000000-0000-4000-8000-000000000001",
                         "indicator--00000000-0000-4000-8000-000000000002",
                         "indicator--00000000-0000-4000-8000-000000000003"],
         "object_marking_refs": [tlp_marking_id(Tlp::Green)]}
    ]})
    .to_string();
    let org = org();
    let imported = import(&text, &org.public(), &ImportOptions::default()).unwrap();
    check("leak", &text, &imported, Tlp::Amber);
    let green = imported
        .reports
        .iter()
        .find(|r| r.draft.tlp == Some(Tlp::Green))
        .unwrap();
    // The report object keeps its references as sent, and only GREEN content travels with it.
    assert!(
        green
            .draft
            .stix_objects
            .iter()
            .any(|o| o.contains("00000000001\""))
    );
    assert_eq!(green.draft.indicators.len(), 1);
    assert_eq!(green.draft.indicators[0].value, "192.0.2.3");
}

/// A marking reference for generated objects: a TLP 2.0 or 1.0 id, a TLP definition carried
/// in the bundle, or a marking that is not TLP.
fn marking_ref() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(Tlp::ALL.to_vec()).prop_map(|t| tlp_marking_id(t).to_string()),
        prop::sample::select(vec![
            "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
            "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
            "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
            CUSTOM_RED,
            STATEMENT,
        ])
        .prop_map(str::to_string),
    ]
}

const CUSTOM_RED: &str = "marking-definition--11111111-2222-4333-8444-555555555555";
const STATEMENT: &str = "marking-definition--22222222-2222-4333-8444-555555555555";

/// One generated object: kind, object markings, granular markings, and for relationships the
/// two objects it connects (indices).
type Generated = (u8, Vec<String>, Vec<String>, (usize, usize));

fn bundle_of(objects: &[Generated]) -> String {
    let mut list = vec![
        json!({"type": "marking-definition", "spec_version": "2.1", "id": CUSTOM_RED,
               "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "definition": {"tlp": "red"}}),
        json!({"type": "marking-definition", "spec_version": "2.1", "id": STATEMENT,
               "created": "2017-01-20T00:00:00.000Z", "definition_type": "statement",
               "definition": {"statement": "Copyright"}}),
    ];
    let id = |k: usize, kind: &str| format!("{kind}--00000000-0000-4000-8000-{k:012}");
    let kind_of = |k: u8| {
        [
            "indicator",
            "malware",
            "identity",
            "relationship",
            "sighting",
            "report",
        ][usize::from(k) % 6]
    };
    for (k, (kind, markings, granular, (a, b))) in objects.iter().enumerate() {
        let kind = kind_of(*kind);
        let mut o = json!({"type": kind, "spec_version": "2.1", "id": id(k, kind),
            "created": "2026-11-01T10:00:00.000Z", "modified": format!("2026-11-01T10:00:00.{:03}Z", k % 1000),
            "name": format!("object {k}")});
        if !markings.is_empty() {
            o["object_marking_refs"] = json!(markings);
        }
        if !granular.is_empty() {
            o["granular_markings"] = json!(
                granular
                    .iter()
                    .map(|m| json!({"marking_ref": m, "selectors": ["name"]}))
                    .collect::<Vec<_>>()
            );
        }
        let target = |n: usize| {
            let n = n % objects.len();
            id(n, kind_of(objects[n].0))
        };
        match kind {
            "indicator" => {
                o["pattern"] = json!(format!("[ipv4-addr:value = '198.51.100.{}']", k % 250));
                o["pattern_type"] = json!("stix");
                o["valid_from"] = json!("2026-11-01T10:00:00Z");
            }
            "relationship" => {
                o["relationship_type"] = json!("related-to");
                o["source_ref"] = json!(target(*a));
                o["target_ref"] = json!(target(*b));
            }
            "sighting" => o["sighting_of_ref"] = json!(target(*a)),
            "report" => {
                o["object_refs"] = json!([target(*a), target(*b)]);
                o["published"] = json!("2026-11-01T10:00:00Z");
            }
            _ => {}
        }
        list.push(o);
    }
    json!({"type": "bundle", "id": "bundle--6c4f0e9c-3c50-4d6a-8b8b-7d9e1b1f2a3c", "objects": list})
        .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// No generated object is ever carried in a report weaker than its own marking, and a
    /// relationship or sighting never travels weaker than what it connects.
    #[test]
    fn no_object_travels_under_a_weaker_marking(
        objects in prop::collection::vec(
            (0u8..6, prop::collection::vec(marking_ref(), 0..3), prop::collection::vec(marking_ref(), 0..2), (0usize..64, 0usize..64)),
            1..40,
        ),
        default in prop::sample::select(Tlp::ALL.to_vec()),
    ) {
        let text = bundle_of(&objects);
        let org = org();
        let options = ImportOptions { default_tlp: default, ..ImportOptions::default() };
        let imported = import(&text, &org.public(), &options).unwrap();
        check("generated", &text, &imported, default);
        let source = source_objects(&text);
        let tlp_of: HashMap<String, Tlp> = source
            .iter()
            .map(|o| (o["id"].as_str().unwrap().to_string(), oracle_tlp(o, &source, default)))
            .collect();
        for report in &imported.reports {
            let tlp = report.draft.tlp.unwrap();
            for json in &report.draft.stix_objects {
                let o: Value = serde_json::from_str(json).unwrap();
                for end in ["source_ref", "target_ref", "sighting_of_ref"] {
                    if let Some(other) = o[end].as_str().and_then(|id| tlp_of.get(id)) {
                        prop_assert!(tlp >= *other, "{} travels as {tlp} but connects {other}", o["id"]);
                    }
                }
            }
        }
    }
}
