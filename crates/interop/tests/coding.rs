//! Incidents coded for norms observance travel through STIX 2.1 and back: the export writes
//! Cairn's property extension on the report object, the import reads it into the same
//! principles, norms, sectors, regions, countries, operation, impact and attribution claims;
//! a coding that breaks the vocabularies is left out with a note, and the objects are carried
//! as they were.

use cairn_core::coding::{
    ActorType, AttributionClaim, ClaimantType, GgeNorm, ImpactKind, ImpactLevel, IncidentCoding,
    Operation,
};
use cairn_core::directory::{EntryType, Theme, Topic};
use cairn_core::{OrgKey, ReportDraft, ReportKind, Tlp};
use cairn_interop::import::{ImportOptions, import};
use cairn_interop::stix::{
    ExportContext, INCIDENT_CODING_EXTENSION, bundle, extension_definition, report_objects,
};
use rand::SeedableRng;
use serde_json::Value;

fn coded_incident() -> ReportDraft {
    ReportDraft {
        kind: Some(ReportKind::Incident),
        title: "Wiper at a regional water utility".into(),
        summary: "Control systems wiped; supply kept by manual operation.".into(),
        tlp: Some(Tlp::Green),
        sectors: vec!["water".into(), "utilities".into()],
        regions: vec!["western-africa".into()],
        paris_call_principles: vec![1, 6],
        language: Some("fr".into()),
        coding: Some(IncidentCoding {
            gge_norms: vec![GgeNorm::F, GgeNorm::G],
            countries: vec!["SN".into(), "ML".into()],
            operations: vec![Operation::Destruction],
            impact: Some(ImpactLevel::Significant),
            impact_kinds: vec![ImpactKind::Availability, ImpactKind::PhysicalDamage],
            attributions: vec![AttributionClaim {
                attributed_to: "An unnamed state actor".into(),
                actor_type: Some(ActorType::NationState),
                claimed_by: "The national CERT".into(),
                claimant_type: Some(ClaimantType::Government),
                confidence: 60,
                claimed_on: Some("2026-11-20".into()),
                source: Some("https://cert.example/bulletin/7".into()),
            }],
        }),
        ..ReportDraft::default()
    }
}

fn exported(draft: &ReportDraft, key: &OrgKey) -> (cairn_core::VerifiedReport, Value) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let signed = draft.sign(key, &mut rng).unwrap();
    let context = ExportContext {
        author_name: Some("CERT".into()),
        first: (signed.id(), signed.report().created_ms),
        sighting_of: None,
    };
    let objects = report_objects(&signed, &context);
    (signed, bundle(objects))
}

/// The imported report made from the STIX report object (the author's identity, which the
/// report refers to, is imported beside it).
fn the_report(
    imported: &cairn_interop::import::Imported,
) -> &cairn_interop::import::ImportedReport {
    let made: Vec<_> = imported
        .reports
        .iter()
        .filter(|r| r.sources.iter().any(|s| s.starts_with("report--")))
        .collect();
    assert_eq!(made.len(), 1);
    made[0]
}

/// `stix` with one property of an extension on its report object changed, imported by `by`.
fn imported_with(
    stix: &Value,
    extension: &str,
    property: &str,
    value: &Value,
    by: &OrgKey,
) -> cairn_interop::import::Imported {
    let mut changed = stix.clone();
    for o in changed["objects"].as_array_mut().unwrap() {
        if o["type"] == "report" {
            o["extensions"][extension][property] = value.clone();
        }
    }
    let text = serde_json::to_string(&changed).unwrap();
    import(&text, &by.public(), &ImportOptions::default()).unwrap()
}

#[test]
fn a_coded_incident_goes_to_stix_and_comes_back_the_same() {
    let key = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1));
    let (signed, stix) = exported(&coded_incident(), &key);
    let report = stix["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "report")
        .unwrap();
    let properties = &report["extensions"][INCIDENT_CODING_EXTENSION];
    assert_eq!(properties["extension_type"], "property-extension");
    assert_eq!(properties["gge_norms"], serde_json::json!(["f", "g"]));
    assert_eq!(properties["countries"], serde_json::json!(["SN", "ML"]));
    assert_eq!(properties["attributions"][0]["actor_type"], "nation-state");
    assert_eq!(report["lang"], "fr");

    // Another organisation imports the bundle: the typed view is the author's.
    let other = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(2));
    let text = serde_json::to_string(&stix).unwrap();
    let imported = import(&text, &other.public(), &ImportOptions::default()).unwrap();
    let back = the_report(&imported);
    assert!(back.notes.is_empty(), "{:?}", back.notes);
    let r = signed.report();
    assert_eq!(back.draft.kind, Some(ReportKind::Incident));
    assert_eq!(back.draft.coding.as_ref(), r.coding.as_ref());
    assert_eq!(back.draft.sectors, r.sectors);
    assert_eq!(back.draft.regions, r.regions);
    assert_eq!(back.draft.paris_call_principles, [1, 6]);
    assert_eq!(back.draft.language.as_deref(), Some("fr"));
    let resigned = back.draft.sign_imported(&other, &back.source_id).unwrap();
    assert_eq!(resigned.report().coding, r.coding);

    // Reports of other kinds, and incidents that say nothing of it, carry no extension.
    let mut plain = coded_incident();
    plain.coding = None;
    plain.sectors.clear();
    plain.regions.clear();
    plain.paris_call_principles.clear();
    let (_, stix) = exported(&plain, &key);
    assert!(!stix.to_string().contains(INCIDENT_CODING_EXTENSION));
}

#[test]
fn a_coding_that_breaks_the_vocabularies_is_left_out_with_a_note() {
    let key = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1));
    let other = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(2));
    let (_, stix) = exported(&coded_incident(), &key);
    for (property, value, said) in [
        ("gge_norms", serde_json::json!(["z"]), "not a UN GGE norm"),
        ("countries", serde_json::json!(["Atlantis"]), "countries[0]"),
        (
            "paris_call_principles",
            serde_json::json!([12]),
            "12 is not a Paris Call principle",
        ),
        (
            "attributions",
            serde_json::json!([{"attributed_to": "x"}]),
            "missing field",
        ),
        (
            "extension_type",
            serde_json::json!("toplevel-property-extension"),
            "not property-extension",
        ),
    ] {
        let imported = imported_with(&stix, INCIDENT_CODING_EXTENSION, property, &value, &other);
        let back = the_report(&imported);
        assert_eq!(back.draft.coding, None, "{property}");
        assert!(
            back.notes
                .iter()
                .any(|n| n.contains("incident coding") && n.contains(said)),
            "{property}: {:?}",
            back.notes
        );
        // Still carried as it came, and still signs.
        assert!(
            back.draft
                .stix_objects
                .iter()
                .any(|o| o.contains(INCIDENT_CODING_EXTENSION))
        );
        back.draft.sign_imported(&other, &back.source_id).unwrap();
    }
}

#[test]
fn the_extension_is_defined_as_stix_asks_and_as_the_docs_say() {
    let definition = extension_definition();
    assert_eq!(definition["id"], INCIDENT_CODING_EXTENSION);
    assert_eq!(
        definition["extension_types"],
        serde_json::json!(["property-extension"])
    );
    for required in [
        "created_by_ref",
        "name",
        "schema",
        "version",
        "created",
        "modified",
    ] {
        assert!(definition.get(required).is_some(), "{required}");
    }
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/VOCABULARIES.md"),
    )
    .unwrap();
    assert!(docs.contains(INCIDENT_CODING_EXTENSION));
    let directory = cairn_interop::stix::directory_extension_definition();
    assert!(docs.contains(directory["id"].as_str().unwrap()));
    for required in [
        "created_by_ref",
        "name",
        "schema",
        "version",
        "created",
        "modified",
    ] {
        assert!(directory.get(required).is_some(), "{required}");
    }
    // Every term of every vocabulary is listed in the docs, as `term`.
    let terms: Vec<&str> = GgeNorm::ALL
        .iter()
        .map(|t| t.term())
        .chain(Operation::ALL.iter().map(|t| t.term()))
        .chain(ImpactLevel::ALL.iter().map(|t| t.term()))
        .chain(ImpactKind::ALL.iter().map(|t| t.term()))
        .chain(ActorType::ALL.iter().map(|t| t.term()))
        .chain(ClaimantType::ALL.iter().map(|t| t.term()))
        .chain(EntryType::ALL.iter().map(|t| t.term()))
        .chain(Topic::ALL.iter().map(|t| t.term()))
        .chain(Theme::ALL.iter().map(|t| t.term()))
        .collect();
    for term in terms {
        assert!(
            docs.contains(&format!("`{term}`")),
            "{term} is not in docs/VOCABULARIES.md"
        );
    }
}

/// A directory entry goes to STIX as a report with Cairn's directory-entry extension and comes
/// back as the same entry on another node; a bad entry is left out with a note.
#[test]
fn a_directory_entry_goes_to_stix_and_comes_back_the_same() {
    use cairn_core::directory::DirectoryEntry;
    use cairn_interop::stix::DIRECTORY_ENTRY_EXTENSION;
    let key = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1));
    let draft = ReportDraft {
        kind: Some(ReportKind::DirectoryEntry),
        title: "CSIRT training for Sahel NGOs".into(),
        tlp: Some(Tlp::Clear),
        regions: vec!["western-africa".into()],
        directory_entry: Some(DirectoryEntry {
            entry_type: EntryType::CapacityNeed,
            topics: vec![Topic::IncidentResponse, Topic::Workforce],
            countries: vec!["SN".into()],
            languages: vec!["fr".into()],
            contact: "cert@example.sn".into(),
            url: Some("https://cert.example.sn/needs".into()),
            valid_until: Some(4_102_444_799_999),
        }),
        ..ReportDraft::default()
    };
    let (signed, stix) = exported(&draft, &key);
    let report = stix["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "report")
        .unwrap();
    let properties = &report["extensions"][DIRECTORY_ENTRY_EXTENSION];
    assert_eq!(properties["type"], "capacity-need");
    assert_eq!(properties["valid_until"], "2099-12-31T23:59:59.999Z");
    assert_eq!(
        report["report_types"],
        serde_json::json!(["directory-entry"])
    );

    let other = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(2));
    let text = serde_json::to_string(&stix).unwrap();
    let imported = import(&text, &other.public(), &ImportOptions::default()).unwrap();
    let back = the_report(&imported);
    assert!(back.notes.is_empty(), "{:?}", back.notes);
    assert_eq!(back.draft.kind, Some(ReportKind::DirectoryEntry));
    assert_eq!(
        back.draft.directory_entry.as_ref(),
        signed.report().directory_entry.as_ref()
    );
    assert_eq!(back.draft.regions, ["western-africa"]);
    let resigned = back.draft.sign_imported(&other, &back.source_id).unwrap();
    assert_eq!(
        resigned.report().directory_entry,
        signed.report().directory_entry
    );

    for (property, value, said) in [
        ("topics", serde_json::json!(["cooking"]), "directory topic"),
        ("contact", serde_json::json!(""), "contact"),
        (
            "valid_until",
            serde_json::json!("2001-01-01"),
            "before the entry was written",
        ),
    ] {
        let imported = imported_with(&stix, DIRECTORY_ENTRY_EXTENSION, property, &value, &other);
        let back = the_report(&imported);
        assert_eq!(back.draft.directory_entry, None, "{property}");
        assert!(
            back.notes
                .iter()
                .any(|n| n.contains("directory entry") && n.contains(said)),
            "{property}: {:?}",
            back.notes
        );
        back.draft.sign_imported(&other, &back.source_id).unwrap();
    }
}
