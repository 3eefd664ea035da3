//! Cairn's STIX 2.1 property extensions on a `report` object (STIX 2.1 §7.3): an incident's
//! coding for norms observance (the Paris Call principles, UN GGE norms, sectors, regions,
//! countries, operation, impact and attribution claims), and a liaison directory entry.
//! Written by the export and read back by the import; defined by [`extension_definition`] and
//! [`directory_extension_definition`].

use cairn_core::coding::{
    AttributionClaim, GgeNorm, ImpactKind, ImpactLevel, IncidentCoding, Operation,
};
use cairn_core::directory::DirectoryEntry;
use cairn_core::{Report, ReportKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The id of the extension's definition: the key of its properties in `extensions`.
pub const INCIDENT_CODING_EXTENSION: &str =
    "extension-definition--a84edd54-6de1-4cdb-9a79-39e490d4b68e";

/// The extension-definition object (an SMO) that describes the extension.
pub fn extension_definition() -> Value {
    json!({
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": INCIDENT_CODING_EXTENSION,
        "created": "2026-12-03T00:00:00.000Z",
        "modified": "2026-12-03T00:00:00.000Z",
        "created_by_ref": super::export::derived_stix_id("identity", "the Cairn project"),
        "name": "Cairn incident coding for norms observance",
        "description": "What observance of the Paris Call principles and the UN GGE 2015 norms needs to know of an incident: the principles and norms concerned, the sectors, regions and countries affected, the kind of operation, its impact, and attribution claims.",
        "schema": "Properties (each optional): paris_call_principles (integers 1-9); gge_norms (letters a-k, A/70/174 paragraph 13); sectors and regions (lower-case labels); countries (ISO 3166-1 alpha-2, upper case); operations, impact and impact_kinds (terms of the vocabularies in Cairn's docs/VOCABULARIES.md); attributions (objects with attributed_to, claimed_by and confidence 0-100, and optionally actor_type from threat-actor-type-ov, claimant_type, claimed_on as YYYY-MM-DD and source).",
        "version": "1.0.0",
        "extension_types": ["property-extension"]
    })
}

/// The extension's properties, as they appear under its key.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Properties {
    extension_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    paris_call_principles: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    gge_norms: Vec<GgeNorm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    sectors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    regions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    countries: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    operations: Vec<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    impact: Option<ImpactLevel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    impact_kinds: Vec<ImpactKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    attributions: Vec<AttributionClaim>,
}

/// The extension's properties for an incident report, when it says anything the extension
/// carries; `None` for other kinds.
pub fn coding_properties(report: &Report) -> Option<Value> {
    if report.kind != ReportKind::Incident {
        return None;
    }
    let coding = report.coding.clone().unwrap_or_default();
    let properties = Properties {
        extension_type: "property-extension".into(),
        paris_call_principles: report
            .paris_call_principles
            .iter()
            .map(|p| u32::from(*p))
            .collect(),
        gge_norms: coding.gge_norms,
        sectors: report.sectors.clone(),
        regions: report.regions.clone(),
        countries: coding.countries,
        operations: coding.operations,
        impact: coding.impact,
        impact_kinds: coding.impact_kinds,
        attributions: coding.attributions,
    };
    let value = serde_json::to_value(&properties).ok()?;
    // Only the extension type: nothing to say.
    (value.as_object().map_or(0, |o| o.len()) > 1).then_some(value)
}

/// What an incident's extension says, checked as a signed report's fields are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CodedIncident {
    /// Paris Call principles, 1-9.
    pub paris_call_principles: Vec<u32>,
    /// Sector labels.
    pub sectors: Vec<String>,
    /// Region labels.
    pub regions: Vec<String>,
    /// The rest.
    pub coding: IncidentCoding,
}

/// Reads the extension's properties (their JSON text, as the object carries them under
/// [`INCIDENT_CODING_EXTENSION`]), saying what is wrong when they break a rule.
pub fn read_coding(properties: &str) -> Result<CodedIncident, String> {
    let read: Properties = serde_json::from_str(properties).map_err(|e| e.to_string())?;
    if read.extension_type != "property-extension" {
        return Err(format!(
            "extension_type {:?} is not property-extension",
            read.extension_type
        ));
    }
    if let Some(p) = read
        .paris_call_principles
        .iter()
        .find(|p| !(1..=9).contains(*p))
    {
        return Err(format!("{p} is not a Paris Call principle (1-9)"));
    }
    let coding = IncidentCoding {
        gge_norms: read.gge_norms,
        countries: read.countries,
        operations: read.operations,
        impact: read.impact,
        impact_kinds: read.impact_kinds,
        attributions: read.attributions,
    }
    .canonical();
    // The same checks as a signed report's.
    let coding = IncidentCoding::from_proto(&coding.to_proto())
        .map_err(|(field, reason)| format!("{field}: {reason}"))?;
    Ok(CodedIncident {
        paris_call_principles: read.paris_call_principles,
        sectors: read.sectors,
        regions: read.regions,
        coding,
    })
}

/// The id of the directory entry extension's definition.
pub const DIRECTORY_ENTRY_EXTENSION: &str =
    "extension-definition--5d0a3c36-0f5e-4c47-9d58-1c3f6b0e2a71";

/// The extension-definition object of the directory entry extension.
pub fn directory_extension_definition() -> Value {
    json!({
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": DIRECTORY_ENTRY_EXTENSION,
        "created": "2026-12-03T00:00:00.000Z",
        "modified": "2026-12-03T00:00:00.000Z",
        "created_by_ref": super::export::derived_stix_id("identity", "the Cairn project"),
        "name": "Cairn liaison directory entry",
        "description": "An initiative, project, capacity offer, capacity need or donor programme of Cairn's liaison directory; the report's name, description and regions are the entry's.",
        "schema": "Properties: type (initiative, project, capacity-offer, capacity-need or donor-programme); topics (1-32 terms of the topic vocabulary in Cairn's docs/VOCABULARIES.md); countries (ISO 3166-1 alpha-2, upper case) and languages (BCP 47), optional; contact (1-512 characters); url (http or https), optional; valid_until (a timestamp), optional; regions (lower-case labels), optional.",
        "version": "1.0.0",
        "extension_types": ["property-extension"]
    })
}

/// The directory entry extension's properties for a report of kind `directory-entry`.
pub fn directory_properties(report: &Report) -> Option<Value> {
    let entry = report.directory_entry.as_ref()?;
    let mut value = serde_json::to_value(entry).ok()?;
    let map = value.as_object_mut()?;
    map.insert("extension_type".into(), json!("property-extension"));
    if !report.regions.is_empty() {
        map.insert("regions".into(), json!(report.regions));
    }
    Some(value)
}

/// What a directory entry's extension says: the entry and its regions, checked as a signed
/// entry's are (its end of validity after `created_ms`).
pub fn read_directory_entry(
    properties: &str,
    created_ms: i64,
) -> Result<(DirectoryEntry, Vec<String>), String> {
    let mut value: Value = serde_json::from_str(properties).map_err(|e| e.to_string())?;
    let map = value
        .as_object_mut()
        .ok_or("the extension's properties are not a JSON object")?;
    match map.remove("extension_type") {
        Some(Value::String(t)) if t == "property-extension" => {}
        other => {
            return Err(format!(
                "extension_type {} is not property-extension",
                other.unwrap_or(Value::Null)
            ));
        }
    }
    let regions: Vec<String> = match map.remove("regions") {
        None => Vec::new(),
        Some(r) => serde_json::from_value(r).map_err(|e| format!("regions: {e}"))?,
    };
    let entry: DirectoryEntry = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let entry = DirectoryEntry::from_proto(&entry.canonical().to_proto(), created_ms)
        .map_err(|(field, reason)| format!("{field}: {reason}"))?;
    Ok((entry, regions))
}
