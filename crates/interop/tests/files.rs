//! The hashes of one file stay together through STIX 2.1 and MISP, both ways: a pattern that
//! joins a file's hashes by AND, or a MISP file object, ties them under one file number; hashes
//! a source gives as alternatives, or that contradict a file already known, stay untied; and a
//! report written in Cairn exports each file as one STIX indicator and one MISP file object,
//! which the import reads back as the same file.

use cairn_core::{IndicatorDraft, IndicatorType, OrgKey, ReportDraft, ReportKind, Tlp};
use cairn_interop::import::{ImportOptions, Imported, import};
use cairn_interop::misp::feed::event_of_report;
use cairn_interop::stix::{ExportContext, bundle, object_versions, report_objects};
use rand::SeedableRng;
use serde_json::{Value, json};

fn org() -> OrgKey {
    OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(3))
}

fn hex(digit: char, len: usize) -> String {
    std::iter::repeat_n(digit, len).collect()
}

fn indicator_object(n: u32, pattern: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012x}"),
        "created": "2026-11-02T10:00:00.000Z",
        "modified": "2026-11-02T10:00:00.000Z",
        "name": format!("indicator {n}"),
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-02T10:00:00Z",
    })
}

/// The imported indicators, as (type, value, file).
fn indicators_of(imported: &Imported) -> Vec<(IndicatorType, String, u32)> {
    imported
        .reports
        .iter()
        .flat_map(|r| &r.draft.indicators)
        .map(|i| (i.kind, i.value.clone(), i.file))
        .collect()
}

fn file_of(found: &[(IndicatorType, String, u32)], value: &str) -> u32 {
    found
        .iter()
        .find(|(_, v, _)| v == value)
        .unwrap_or_else(|| panic!("{value} not imported: {found:?}"))
        .2
}

/// Every imported draft signs: file numbers obey the report rules.
fn signs(imported: &Imported, key: &OrgKey) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for r in &imported.reports {
        r.draft
            .sign(key, &mut rng)
            .expect("an imported draft signs");
    }
}

#[test]
fn stix_patterns_that_join_hashes_by_and_tie_them_as_one_file() {
    let md5 = |d| hex(d, 32);
    let sha1 = |d| hex(d, 40);
    let sha256 = |d| hex(d, 64);
    let patterns = [
        // One file by two hashes.
        format!(
            "[file:hashes.MD5 = '{}' AND file:hashes.'SHA-256' = '{}']",
            md5('a'),
            sha256('b')
        ),
        // Alternatives: either may be a different file.
        format!(
            "[file:hashes.MD5 = '{}' OR file:hashes.'SHA-256' = '{}']",
            md5('c'),
            sha256('d')
        ),
        // Two observations: two objects.
        format!(
            "[file:hashes.MD5 = '{}'] AND [file:hashes.SHA1 = '{}']",
            md5('e'),
            sha1('f')
        ),
        // Two MD5s cannot be one file's.
        format!(
            "[file:hashes.MD5 = '{}' AND file:hashes.MD5 = '{}']",
            md5('1'),
            md5('2')
        ),
        // A name compared beside them, with brackets and OR inside its quoted text.
        format!(
            "[file:name MATCHES '^[a-z] OR [' AND file:hashes.MD5 = '{}' AND file:hashes.'SHA-1' = '{}']",
            md5('3'),
            sha1('4')
        ),
        // Parentheses: not a simple run.
        format!(
            "[file:hashes.MD5 = '{}' AND (file:hashes.SHA1 = '{}' OR file:hashes.SHA256 = '{}')]",
            md5('5'),
            sha1('6'),
            sha256('7')
        ),
        // A third hash of the first file joins it.
        format!(
            "[file:hashes.MD5 = '{}' AND file:hashes.'SHA-1' = '{}']",
            md5('a'),
            sha1('8')
        ),
        // Contradicts the first file (another MD5 beside its SHA-256): untied.
        format!(
            "[file:hashes.MD5 = '{}' AND file:hashes.'SHA-256' = '{}']",
            md5('9'),
            sha256('b')
        ),
        // AND binds tighter than OR: two files.
        format!(
            "[file:hashes.MD5 = '{}' AND file:hashes.'SHA-1' = '{}' OR file:hashes.MD5 = '{}' AND file:hashes.'SHA-512' = '{}']",
            md5('6'),
            sha1('9'),
            md5('7'),
            hex('8', 128)
        ),
    ];
    let objects: Vec<Value> = patterns
        .iter()
        .enumerate()
        .map(|(n, p)| indicator_object(n as u32 + 1, p))
        .collect();
    let text = json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-0000000000ff", "objects": objects}).to_string();
    let key = org();
    let imported = import(&text, &key.public(), &ImportOptions::default()).unwrap();
    signs(&imported, &key);
    let found = indicators_of(&imported);
    let first = file_of(&found, &md5('a'));
    assert_ne!(first, 0);
    assert_eq!(file_of(&found, &sha256('b')), first);
    assert_eq!(file_of(&found, &sha1('8')), first);
    for alone in [
        md5('c'),
        sha256('d'),
        md5('e'),
        sha1('f'),
        md5('1'),
        md5('2'),
        md5('5'),
        sha1('6'),
        sha256('7'),
        md5('9'),
    ] {
        assert_eq!(file_of(&found, &alone), 0, "{alone} tied: {found:?}");
    }
    let named = file_of(&found, &md5('3'));
    assert_ne!(named, 0);
    assert_ne!(named, first);
    assert_eq!(file_of(&found, &sha1('4')), named);
    let left = file_of(&found, &md5('6'));
    let right = file_of(&found, &md5('7'));
    assert!(left != 0 && right != 0 && left != right, "{found:?}");
    assert_eq!(file_of(&found, &sha1('9')), left);
    assert_eq!(file_of(&found, &hex('8', 128)), right);
}

fn report_with_files(key: &OrgKey) -> cairn_core::VerifiedReport {
    let hash = |kind, value: String, file| IndicatorDraft {
        kind,
        value,
        description: String::new(),
        file,
        valid_from: None,
        valid_until: None,
    };
    let draft = ReportDraft {
        kind: Some(ReportKind::Indicator),
        title: "Loader and its dropper".into(),
        tlp: Some(Tlp::Green),
        indicators: vec![
            hash(IndicatorType::Md5, hex('a', 32), 1),
            hash(IndicatorType::Domain, "loader.example".into(), 0),
            hash(IndicatorType::Sha256, hex('b', 64), 1),
            hash(IndicatorType::Sha1, hex('c', 40), 0),
            hash(IndicatorType::Sha256, hex('d', 64), 2),
            hash(IndicatorType::Md5, hex('e', 32), 2),
            hash(IndicatorType::Sha1, hex('f', 40), 1),
        ],
        ..ReportDraft::default()
    };
    draft
        .sign(key, &mut rand::rngs::StdRng::seed_from_u64(4))
        .unwrap()
}

/// `imported` (by `key`) holds the indicators of [`report_with_files`], each file's hashes
/// tied together, and signs.
fn holds_the_files_of_report_with_files(imported: &Imported, key: &OrgKey) {
    signs(imported, key);
    let found = indicators_of(imported);
    assert_eq!(found.len(), 7, "{found:?}");
    let one = file_of(&found, &hex('a', 32));
    let two = file_of(&found, &hex('d', 64));
    assert!(one != 0 && two != 0 && one != two);
    assert_eq!(file_of(&found, &hex('b', 64)), one);
    assert_eq!(file_of(&found, &hex('f', 40)), one);
    assert_eq!(file_of(&found, &hex('e', 32)), two);
    assert_eq!(file_of(&found, &hex('c', 40)), 0);
}

#[test]
fn a_file_goes_to_stix_as_one_indicator_and_comes_back_one_file() {
    let key = org();
    let signed = report_with_files(&key);
    let context = ExportContext {
        author_name: Some("CERT".into()),
        first: (signed.id(), signed.report().created_ms),
        sighting_of: None,
    };
    let objects = report_objects(&signed, &context);
    let versions = object_versions(&signed, &context);
    assert_eq!(
        objects
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        versions.iter().map(|v| v.id.clone()).collect::<Vec<_>>(),
        "the TAXII index's view of the objects is the objects"
    );
    let patterns: Vec<&str> = objects
        .iter()
        .filter(|o| o["type"] == "indicator")
        .map(|o| o["pattern"].as_str().unwrap())
        .collect();
    assert_eq!(
        patterns,
        [
            format!(
                "[file:hashes.MD5 = '{}' AND file:hashes.'SHA-256' = '{}' AND file:hashes.'SHA-1' = '{}']",
                hex('a', 32),
                hex('b', 64),
                hex('f', 40)
            ),
            "[domain-name:value = 'loader.example']".to_string(),
            format!("[file:hashes.'SHA-1' = '{}']", hex('c', 40)),
            format!(
                "[file:hashes.'SHA-256' = '{}' AND file:hashes.MD5 = '{}']",
                hex('d', 64),
                hex('e', 32)
            ),
        ]
    );
    let other = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(5));
    let text = bundle(objects).to_string();
    let imported = import(&text, &other.public(), &ImportOptions::default()).unwrap();
    holds_the_files_of_report_with_files(&imported, &other);
}

fn misp_attribute(n: u32, kind: &str, value: &str, to_ids: bool) -> Value {
    json!({
        "uuid": format!("00000000-0000-4000-8000-{n:012x}"),
        "type": kind,
        "object_relation": kind,
        "category": "Payload delivery",
        "value": value,
        "to_ids": to_ids,
        "timestamp": "1700000000",
    })
}

fn misp_object(n: u32, name: &str, attributes: Vec<Value>) -> Value {
    json!({
        "uuid": format!("10000000-0000-4000-8000-{n:012x}"),
        "name": name,
        "meta-category": "file",
        "template_uuid": "688c46fb-5edb-40a3-8273-1af7923e2215",
        "timestamp": "1700000000",
        "Attribute": attributes,
    })
}

#[test]
fn misp_file_objects_tie_their_hashes_and_the_feed_writes_files_as_file_objects() {
    let event = json!({"Event": {
        "uuid": "5f1b0e7c-0b1a-4c2d-9e3f-1a2b3c4d5e6f",
        "info": "Two droppers",
        "date": "2023-11-14",
        "timestamp": "1700000000",
        "published": true,
        "distribution": "3",
        "threat_level_id": "2",
        "Orgc": {"name": "CERT-X", "uuid": "11111111-2222-4333-8444-555555555555"},
        "Tag": [{"name": "tlp:green"}],
        "Attribute": [misp_attribute(1, "md5", &hex('9', 32), true)],
        "Object": [
            misp_object(2, "file", vec![
                misp_attribute(3, "filename", "dropper.exe", true),
                misp_attribute(4, "md5", &hex('a', 32), true),
                misp_attribute(5, "sha256", &hex('b', 64), true),
                // Not flagged for detection: not an indicator, so not tied.
                misp_attribute(6, "sha1", &hex('c', 40), false),
            ]),
            misp_object(7, "file", vec![
                misp_attribute(8, "sha1", &hex('d', 40), true),
                misp_attribute(9, "sha512", &hex('e', 128), true),
            ]),
            // A PE section's hashes are not a file's.
            misp_object(10, "pe-section", vec![
                misp_attribute(11, "md5", &hex('1', 32), true),
                misp_attribute(12, "sha256", &hex('2', 64), true),
            ]),
        ],
    }});
    let key = org();
    let imported = import(&event.to_string(), &key.public(), &ImportOptions::default()).unwrap();
    signs(&imported, &key);
    let found = indicators_of(&imported);
    let one = file_of(&found, &hex('a', 32));
    let two = file_of(&found, &hex('d', 40));
    assert!(one != 0 && two != 0 && one != two, "{found:?}");
    assert_eq!(file_of(&found, &hex('b', 64)), one);
    assert_eq!(file_of(&found, &hex('e', 128)), two);
    for alone in [hex('9', 32), hex('1', 32), hex('2', 64)] {
        assert_eq!(file_of(&found, &alone), 0, "{found:?}");
    }
    assert!(!found.iter().any(|(_, v, _)| *v == hex('c', 40)));

    // A report written in Cairn: each file is a MISP file object, which imports as the file.
    let signed = report_with_files(&key);
    let event = event_of_report(&signed, &signed.id(), Some("CERT"));
    let objects = event["Event"]["Object"].as_array().unwrap();
    assert_eq!(objects.len(), 2);
    for o in objects {
        assert_eq!(o["name"], "file");
        for a in o["Attribute"].as_array().unwrap() {
            assert_eq!(a["object_relation"], a["type"]);
            assert_eq!(a["to_ids"], true);
        }
    }
    let relations = |o: &Value| -> Vec<String> {
        o["Attribute"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["type"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(relations(&objects[0]), ["md5", "sha256", "sha1"]);
    assert_eq!(relations(&objects[1]), ["sha256", "md5"]);
    let loose: Vec<&str> = event["Event"]["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(loose, ["domain", "sha1"]);
    let other = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(6));
    let imported = import(
        &event.to_string(),
        &other.public(),
        &ImportOptions::default(),
    )
    .unwrap();
    holds_the_files_of_report_with_files(&imported, &other);
}

#[test]
fn validity_windows_go_to_stix_and_come_back() {
    let key = org();
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let day = time::Duration::days(1);
    let created = time::OffsetDateTime::now_utc() - 10 * day;
    let mut windowed = IndicatorDraft::from(
        cairn_core::Indicator::new(IndicatorType::Domain, "loader.example", "").unwrap(),
    );
    windowed.valid_from = Some(created - day);
    windowed.valid_until = Some(created + 30 * day);
    let open = IndicatorDraft::from(
        cairn_core::Indicator::new(IndicatorType::Ipv4, "203.0.113.5", "").unwrap(),
    );
    let signed = ReportDraft {
        kind: Some(ReportKind::Indicator),
        title: "Windows".into(),
        tlp: Some(Tlp::Green),
        created: Some(created),
        indicators: vec![windowed, open],
        ..ReportDraft::default()
    }
    .sign(&key, &mut rng)
    .unwrap();
    let context = ExportContext {
        author_name: None,
        first: (signed.id(), signed.report().created_ms),
        sighting_of: None,
    };
    let objects = report_objects(&signed, &context);
    let stix = |value: &str| {
        objects
            .iter()
            .find(|o| o["type"] == "indicator" && o["pattern"].as_str().unwrap().contains(value))
            .unwrap()
            .clone()
    };
    let ms = cairn_core::when::rfc3339;
    let domain = stix("loader.example");
    let r = signed.report();
    assert_eq!(
        domain["valid_from"],
        cairn_interop::stix::timestamp(r.indicators[0].valid_from_ms)
    );
    assert_eq!(
        domain["valid_until"],
        cairn_interop::stix::timestamp(r.indicators[0].valid_until_ms)
    );
    let address = stix("203.0.113.5");
    assert_eq!(
        address["valid_from"],
        cairn_interop::stix::timestamp(r.created_ms),
        "no window said: valid from the report's creation"
    );
    assert!(address.get("valid_until").is_none(), "{address}");

    // Back in: each indicator keeps its object's window.
    let text = bundle(objects.clone()).to_string();
    let imported = import(&text, &key.public(), &ImportOptions::default()).unwrap();
    let back: Vec<&IndicatorDraft> = imported
        .reports
        .iter()
        .flat_map(|r| &r.draft.indicators)
        .collect();
    let domain_back = back.iter().find(|i| i.value == "loader.example").unwrap();
    assert_eq!(
        domain_back.validity_ms(),
        (
            r.indicators[0].valid_from_ms,
            r.indicators[0].valid_until_ms
        ),
        "{}",
        ms(r.indicators[0].valid_until_ms)
    );
    signs(&imported, &key);

    // A window that ends before it starts is left out; the observable is still taken.
    let mut broken = indicator_object(1, "[ipv4-addr:value = '198.51.100.9']");
    broken["valid_until"] = json!("2026-11-01T00:00:00Z");
    let text = json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000009", "objects": [broken]}).to_string();
    let imported = import(&text, &key.public(), &ImportOptions::default()).unwrap();
    let taken = &imported.reports[0].draft.indicators[0];
    assert_eq!(taken.value, "198.51.100.9");
    assert_eq!(taken.validity_ms(), (0, 0));
}
