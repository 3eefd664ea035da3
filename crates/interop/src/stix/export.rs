//! Cairn reports as STIX 2.1 objects, for the tools CERTs and companies already run (OpenCTI,
//! MISP, SIEMs). A report that carries STIX objects (imported from STIX or received from a
//! partner who imported them) exports exactly those objects, as their source sent them, and
//! nothing else. A report written in Cairn becomes a `report` object, one `indicator` per
//! observable (a STIX pattern), a `vulnerability` per CVE, the author's `identity`, and the
//! TLP 2.0 `marking-definition` of its label; nothing is invented between them.
//!
//! Ids are deterministic: a SHA-256 of a Cairn-specific name, shaped as a UUIDv4 (the form STIX
//! asks of domain objects), so the same report always exports to the same objects. A report's
//! STIX id is derived from the first report of its version chain, so a new version is a new
//! STIX version (same id, later `modified`) of the same report, and a retraction exports as that
//! report `revoked`.

use cairn_core::stix::StixTime;
use cairn_core::{Indicator, IndicatorType, OrgPublicKey, ReportId, ReportKind, Tlp};
use serde_json::{Value, json};

/// Separates Cairn's STIX ids from anyone else's.
const NAMESPACE: &str = "cairn/stix/a9e2c1f7-5bc4-483f-a588-d3d875b7236e";

pub use cairn_core::stix::{TLP2_EXTENSION, tlp_marking_id};

/// The TLP 2.0 marking-definition object for a label, as the TLP 2.0 extension defines it.
pub fn tlp_marking(tlp: Tlp) -> Value {
    let (name, value) = match tlp {
        Tlp::Clear => ("TLP:CLEAR", "clear"),
        Tlp::Green => ("TLP:GREEN", "green"),
        Tlp::Amber => ("TLP:AMBER", "amber"),
        Tlp::AmberStrict => ("TLP:AMBER+STRICT", "amber+strict"),
        Tlp::Red => ("TLP:RED", "red"),
    };
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": tlp_marking_id(tlp),
        "created": "2022-10-01T00:00:00.000Z",
        "name": name,
        "extensions": {
            TLP2_EXTENSION: {
                "extension_type": "property-extension",
                "tlp_2_0": value
            }
        }
    })
}

/// A deterministic UUID for a name: a SHA-256 of the Cairn-specific name, shaped as a UUIDv4.
pub(crate) fn derived_uuid(name: &str) -> uuid::Uuid {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{NAMESPACE}/{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A deterministic STIX id for an object its source gave no id of its own.
pub(crate) fn derived_stix_id(kind: &str, name: &str) -> String {
    format!("{kind}--{}", derived_uuid(&format!("{kind}/{name}")))
}

/// The STIX id of an organisation's identity.
pub fn identity_id(org: &OrgPublicKey) -> String {
    derived_stix_id("identity", &org.to_string())
}

/// The STIX id of the report whose version chain starts with `first`.
pub fn report_stix_id(first: &ReportId) -> String {
    derived_stix_id("report", &first.to_string())
}

/// A STIX timestamp (UTC, milliseconds), written as every STIX time is ([`StixTime`]).
pub fn timestamp(ms: i64) -> String {
    StixTime::from_millis(ms).to_string()
}

/// A string literal in a STIX pattern: quotes and backslashes escaped.
pub(crate) fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The STIX pattern that matches an observable; `None` for a CVE, which is a vulnerability,
/// not something to observe.
pub fn pattern(indicator: &Indicator) -> Option<String> {
    comparison(indicator).map(|c| format!("[{c}]"))
}

/// The STIX pattern that matches a file by all its `hashes` at once (one observation
/// expression, its comparisons joined by AND), or one observable.
pub fn file_pattern(hashes: &[&Indicator]) -> Option<String> {
    let comparisons: Option<Vec<String>> = hashes.iter().map(|i| comparison(i)).collect();
    comparisons
        .filter(|c| !c.is_empty())
        .map(|c| format!("[{}]", c.join(" AND ")))
}

/// The comparison expression that matches an observable.
fn comparison(indicator: &Indicator) -> Option<String> {
    let v = &indicator.value;
    Some(match indicator.kind {
        IndicatorType::Ipv4 => format!("ipv4-addr:value = {}", literal(v)),
        IndicatorType::Ipv6 => format!("ipv6-addr:value = {}", literal(v)),
        IndicatorType::Cidr if v.contains(':') => format!("ipv6-addr:value = {}", literal(v)),
        IndicatorType::Cidr => format!("ipv4-addr:value = {}", literal(v)),
        IndicatorType::Domain => format!("domain-name:value = {}", literal(v)),
        IndicatorType::Url => format!("url:value = {}", literal(v)),
        IndicatorType::Email => format!("email-addr:value = {}", literal(v)),
        IndicatorType::Md5 => format!("file:hashes.MD5 = {}", literal(v)),
        IndicatorType::Sha1 => format!("file:hashes.'SHA-1' = {}", literal(v)),
        IndicatorType::Sha256 => format!("file:hashes.'SHA-256' = {}", literal(v)),
        IndicatorType::Sha512 => format!("file:hashes.'SHA-512' = {}", literal(v)),
        IndicatorType::Asn => {
            let number = v.trim_start_matches("AS");
            format!("autonomous-system:number = {number}")
        }
        IndicatorType::Cve => return None,
    })
}

/// A report's indicators as they are exported: each alone, except the hashes of one file,
/// which are one STIX indicator, placed where the first of them is. Each comes with the
/// position of its first indicator, which names its STIX object.
pub fn export_units(indicators: &[Indicator]) -> Vec<(usize, Vec<&Indicator>)> {
    let mut units: Vec<(usize, Vec<&Indicator>)> = Vec::new();
    for (n, indicator) in indicators.iter().enumerate() {
        if indicator.file != 0
            && let Some((_, members)) = units.iter_mut().find(|(_, m)| m[0].file == indicator.file)
        {
            members.push(indicator);
            continue;
        }
        units.push((n, vec![indicator]));
    }
    units
}

/// The name of an exported indicator: `TYPE: VALUE`, or a file's hashes as `file: md5 …,
/// sha256 …`.
fn unit_name(members: &[&Indicator]) -> String {
    match members {
        [one] => format!("{}: {}", one.kind, one.value),
        _ => format!(
            "file: {}",
            members
                .iter()
                .map(|i| format!("{} {}", i.kind, i.value))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn report_types(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::Indicator => "indicator",
        ReportKind::Vulnerability => "vulnerability",
        ReportKind::ThreatActor => "threat-actor",
        ReportKind::Campaign => "campaign",
        ReportKind::Incident | ReportKind::Advisory | ReportKind::Retraction => "threat-report",
        // report-type-ov is open: a value of Cairn's own.
        ReportKind::Observance => "observance-figures",
        ReportKind::DirectoryEntry => "directory-entry",
        ReportKind::Sighting => "sighting",
    }
}

/// What a report is exported with besides its own content.
#[derive(Debug, Clone)]
pub struct ExportContext {
    /// The author organisation's display name, when known.
    pub author_name: Option<String>,
    /// The first report of this report's version chain (itself for a first version), and its
    /// creation time: the STIX report keeps that id and `created`.
    pub first: (ReportId, i64),
    /// For a sighting, the STIX id of what it is a sighting of as this node exports it
    /// ([`sighting_of_ref`]); none: the report it concerns, as if a first version.
    pub sighting_of: Option<String>,
}

/// The STIX objects for one report version, in a deterministic order: the author's identity,
/// the TLP marking-definition, the indicators and vulnerabilities, their relationships, then the
/// report. A retraction yields the retracted report's id, `revoked`, with no content objects;
/// `context.first` must then name the first version of the retracted report.
pub fn report_objects(report: &cairn_core::VerifiedReport, context: &ExportContext) -> Vec<Value> {
    let mut objects = shared_objects(report, context);
    objects.extend(own_objects(report, context));
    objects
}

/// How many of [`report_objects`] come first and are shared with other reports: the author's
/// identity and the TLP marking-definition (none for a report that carries STIX objects; see
/// [`shared_count`]).
pub const SHARED_OBJECTS: usize = 2;

/// Whether a report carries STIX objects, which are then all it exports.
pub fn carries_objects(report: &cairn_core::VerifiedReport) -> bool {
    !report.report().stix_objects.is_empty()
}

/// How many of a report's [`report_objects`] are [`shared_objects`].
pub fn shared_count(report: &cairn_core::VerifiedReport) -> usize {
    if carries_objects(report) {
        0
    } else {
        SHARED_OBJECTS
    }
}

/// The first [`SHARED_OBJECTS`] of [`report_objects`]: the author's identity and the TLP
/// marking-definition, which other reports carry too.
pub fn shared_objects(report: &cairn_core::VerifiedReport, context: &ExportContext) -> Vec<Value> {
    let r = report.report();
    if carries_objects(report) {
        return Vec::new();
    }
    let author = report.author();
    let identity = identity_id(&author);
    vec![
        json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": identity,
            "created": "2020-01-01T00:00:00.000Z",
            "modified": "2020-01-01T00:00:00.000Z",
            "name": context
                .author_name
                .clone()
                .unwrap_or_else(|| format!("Cairn organisation {}", author.short())),
            "identity_class": "organization",
            "external_references": [{
                "source_name": "cairn",
                "external_id": author.to_string(),
                "description": "the organisation's Cairn signing key"
            }]
        }),
        tlp_marking(r.tlp),
    ]
}

/// The rest of [`report_objects`], after the [`SHARED_OBJECTS`]: what belongs to this report
/// version alone.
pub fn own_objects(report: &cairn_core::VerifiedReport, context: &ExportContext) -> Vec<Value> {
    own_objects_wanted(report, context, |_| true)
}

/// [`own_objects`], built only where `wanted(position)` says so: the others are `null` (their
/// ids are still worked out, for the report object's references). Serving one object of a
/// report of many costs one object.
pub fn own_objects_wanted(
    report: &cairn_core::VerifiedReport,
    context: &ExportContext,
    wanted: impl Fn(usize) -> bool,
) -> Vec<Value> {
    let r = report.report();
    if carries_objects(report) {
        // Exactly as the source sent them: each was read as JSON when the report was verified.
        return r
            .stix_objects
            .iter()
            .enumerate()
            .map(|(i, json)| {
                if wanted(i) {
                    serde_json::from_str(json).unwrap_or(Value::Null)
                } else {
                    Value::Null
                }
            })
            .collect();
    }
    let identity = identity_id(&report.author());
    let marking = tlp_marking_id(r.tlp);
    let created = timestamp(context.first.1);
    let modified = timestamp(r.created_ms.max(context.first.1));
    let stix_id = report_stix_id(&context.first.0);
    let mut objects = Vec::new();
    if r.kind == ReportKind::Retraction {
        objects.push(json!({
            "type": "report",
            "spec_version": "2.1",
            "id": stix_id,
            "created": created,
            "modified": modified,
            "created_by_ref": identity,
            "name": "Retracted by its author",
            "description": r.summary,
            "report_types": ["threat-report"],
            "published": modified,
            "object_refs": [identity],
            "revoked": true,
            "object_marking_refs": [marking],
            "external_references": [cairn_reference(&report.id())]
        }));
        return objects;
    }
    if let Some(sighting) = &r.sighting {
        objects.push(if wanted(0) {
            sighting_object(report, sighting, context)
        } else {
            Value::Null
        });
        return objects;
    }
    let version = report.id().to_string();
    let mut refs = Vec::new();
    for (n, members) in export_units(&r.indicators) {
        let name = format!("{version}/{n}");
        let indicator = members[0];
        match file_pattern(&members) {
            Some(_) if !wanted(objects.len()) => {
                refs.push(json!(derived_stix_id("indicator", &name)));
                objects.push(Value::Null);
            }
            None if !wanted(objects.len()) => {
                refs.push(json!(derived_stix_id("vulnerability", &name)));
                objects.push(Value::Null);
            }
            Some(pattern) => {
                let id = derived_stix_id("indicator", &name);
                let mut object = json!({
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": id,
                    "created": timestamp(r.created_ms),
                    "modified": timestamp(r.created_ms),
                    "created_by_ref": identity,
                    "name": unit_name(&members),
                    "pattern": pattern,
                    "pattern_type": "stix",
                    "pattern_version": "2.1",
                    "valid_from": timestamp(valid_from_ms(&members, r.created_ms)),
                    "confidence": r.confidence,
                    "object_marking_refs": [marking]
                });
                if let Some(until) = valid_until_ms(&members) {
                    object["valid_until"] = json!(timestamp(until));
                }
                object["description"] = json!(if indicator.description.is_empty() {
                    format!("From the report \"{}\"", r.title)
                } else {
                    indicator.description.clone()
                });
                refs.push(json!(id));
                objects.push(object);
            }
            None => {
                let id = derived_stix_id("vulnerability", &name);
                let mut object = json!({
                    "type": "vulnerability",
                    "spec_version": "2.1",
                    "id": id,
                    "created": timestamp(r.created_ms),
                    "modified": timestamp(r.created_ms),
                    "created_by_ref": identity,
                    "name": indicator.value,
                    "external_references": [{
                        "source_name": "cve",
                        "external_id": indicator.value
                    }],
                    "object_marking_refs": [marking]
                });
                if !indicator.description.is_empty() {
                    object["description"] = json!(indicator.description);
                }
                refs.push(json!(id));
                objects.push(object);
            }
        }
    }
    if refs.is_empty() {
        // A report must refer to something: its author.
        refs.push(json!(identity));
    }
    if !wanted(objects.len()) {
        objects.push(Value::Null);
        return objects;
    }
    let mut report_object = json!({
        "type": "report",
        "spec_version": "2.1",
        "id": stix_id,
        "created": created,
        "modified": modified,
        "created_by_ref": identity,
        "name": r.title,
        "report_types": [report_types(r.kind)],
        "published": timestamp(r.created_ms),
        "object_refs": refs,
        "confidence": r.confidence,
        "object_marking_refs": [marking],
        "external_references": [cairn_reference(&report.id())]
    });
    if !r.summary.is_empty() {
        report_object["description"] = json!(r.summary);
    }
    if let Some(language) = &r.language {
        // STIX 2.1 §3.1: the language of the object's text properties, RFC 5646.
        report_object["lang"] = json!(language);
    }
    let labels: Vec<&String> = r.tags.iter().chain(&r.sectors).collect();
    if !labels.is_empty() {
        report_object["labels"] = json!(labels);
    }
    if let Some(coding) = super::coding::coding_properties(r) {
        report_object["extensions"] = json!({ super::coding::INCIDENT_CODING_EXTENSION: coding });
    }
    if let Some(entry) = super::coding::directory_properties(r) {
        report_object["extensions"] = json!({ super::coding::DIRECTORY_ENTRY_EXTENSION: entry });
    }
    objects.push(report_object);
    objects
}

/// When the indicator of a unit (one observable, or the hashes of one file) is valid from: the
/// earliest its author said, else the report's creation.
fn valid_from_ms(members: &[&Indicator], created_ms: i64) -> i64 {
    members
        .iter()
        .map(|m| m.valid_from_ms)
        .filter(|ms| *ms != 0)
        .min()
        .unwrap_or(created_ms)
}

/// When the indicator of a unit stops being valid: the latest its author said, or none when
/// any of its members has no end.
fn valid_until_ms(members: &[&Indicator]) -> Option<i64> {
    members
        .iter()
        .map(|m| (m.valid_until_ms != 0).then_some(m.valid_until_ms))
        .collect::<Option<Vec<i64>>>()?
        .into_iter()
        .max()
}

pub use cairn_core::stix::ObjectVersion;

/// The type, id and version of each of [`report_objects`], in the same order.
pub fn object_versions<'r>(
    report: &'r cairn_core::VerifiedReport,
    context: &ExportContext,
) -> std::borrow::Cow<'r, [ObjectVersion]> {
    const IDENTITY_VERSION_MS: i64 = 1_577_836_800_000; // 2020-01-01T00:00:00.000Z
    const MARKING_VERSION_MS: i64 = 1_664_582_400_000; // 2022-10-01T00:00:00.000Z
    let r = report.report();
    if carries_objects(report) {
        return std::borrow::Cow::Borrowed(report.object_versions());
    }
    let object = |kind: &str, id: String, ms: i64| ObjectVersion {
        kind: kind.to_string(),
        id,
        version: Some(StixTime::from_millis(ms)),
    };
    let mut versions = vec![
        object(
            "identity",
            identity_id(&report.author()),
            IDENTITY_VERSION_MS,
        ),
        object(
            "marking-definition",
            tlp_marking_id(r.tlp).to_string(),
            MARKING_VERSION_MS,
        ),
    ];
    let modified = r.created_ms.max(context.first.1);
    if r.sighting.is_some() {
        versions.push(object(
            "sighting",
            sighting_stix_id(&context.first.0),
            modified,
        ));
        return std::borrow::Cow::Owned(versions);
    }
    if r.kind != ReportKind::Retraction {
        let version = report.id().to_string();
        for (n, members) in export_units(&r.indicators) {
            let name = format!("{version}/{n}");
            let kind = match file_pattern(&members) {
                Some(_) => "indicator",
                None => "vulnerability",
            };
            versions.push(object(kind, derived_stix_id(kind, &name), r.created_ms));
        }
    }
    versions.push(object("report", report_stix_id(&context.first.0), modified));
    std::borrow::Cow::Owned(versions)
}

/// The STIX id of a sighting whose first version is `first`: its versions are versions of one
/// STIX sighting.
pub fn sighting_stix_id(first: &ReportId) -> String {
    derived_stix_id("sighting", &first.to_string())
}

/// The custom property of a sighting exported from Cairn: what a Cairn node needs to read it
/// back as a sighting of the same report (its kind, the report and its author, the indicator,
/// where and what was observed, the source).
pub const SIGHTING_PROPERTY: &str = "x_cairn_sighting";

/// The STIX id a sighting of `sighting` is a sighting of, when this node holds the report it
/// concerns as `concerned` (with the first version of that report): the exported indicator
/// (or vulnerability) holding the indicator it names, else the exported report; for a report
/// that carries its source's STIX objects, the carried indicator whose pattern names the
/// indicator, else the carried report object. Not held: the concerned report's STIX id as if a
/// first version.
pub fn sighting_of_ref(
    sighting: &cairn_core::sighting::Sighting,
    concerned: Option<(&cairn_core::VerifiedReport, ReportId)>,
) -> String {
    let Some((held, first)) = concerned else {
        return report_stix_id(&sighting.concerns.report);
    };
    let r = held.report();
    if carries_objects(held) {
        let objects: Vec<Value> = r
            .stix_objects
            .iter()
            .filter_map(|json| serde_json::from_str(json).ok())
            .collect();
        let id_of = |object: &Value| object["id"].as_str().map(str::to_string);
        if let Some(named) = &sighting.indicator {
            let found = objects.iter().find(|o| {
                o["type"] == "indicator"
                    && super::indicators_in_pattern(o["pattern"].as_str().unwrap_or_default())
                        .iter()
                        .any(|i| i.kind == named.kind && i.value == named.value)
            });
            if let Some(id) = found.and_then(id_of) {
                return id;
            }
        }
        let report = objects.iter().find(|o| o["type"] == "report");
        return report
            .or(objects.first())
            .and_then(id_of)
            .unwrap_or_else(|| report_stix_id(&first));
    }
    if let Some(named) = &sighting.indicator {
        let version = held.id().to_string();
        for (n, members) in export_units(&r.indicators) {
            if members
                .iter()
                .any(|m| m.kind == named.kind && m.value == named.value)
            {
                let kind = match file_pattern(&members) {
                    Some(_) => "indicator",
                    None => "vulnerability",
                };
                return derived_stix_id(kind, &format!("{version}/{n}"));
            }
        }
    }
    report_stix_id(&first)
}

/// The STIX `sighting` of a Cairn sighting: the organisation that saw it is both its creator
/// and where it was sighted; a false positive is a negative sighting (`x_opencti_negative`, as
/// OpenCTI reads it); [`SIGHTING_PROPERTY`] keeps the rest.
fn sighting_object(
    report: &cairn_core::VerifiedReport,
    sighting: &cairn_core::sighting::Sighting,
    context: &ExportContext,
) -> Value {
    let r = report.report();
    let identity = identity_id(&report.author());
    let mut description = Vec::new();
    if !r.summary.is_empty() {
        description.push(r.summary.clone());
    }
    if let Some(place) = &sighting.place {
        description.push(format!("Where: {place}"));
    }
    description.extend(sighting.observed.iter().cloned());
    let mut property = json!({
        "kind": sighting.kind.as_str(),
        "report": sighting.concerns.report.to_string(),
        "report_author": sighting.concerns.author.to_string(),
    });
    if let Some(i) = &sighting.indicator {
        property["indicator"] = json!(format!("{}:{}", i.kind, i.value));
    }
    if let Some(place) = &sighting.place {
        property["where"] = json!(place);
    }
    if !sighting.observed.is_empty() {
        property["observed"] = json!(sighting.observed);
    }
    if let Some(source) = &sighting.source {
        property["source"] = json!(source);
    }
    if !r.summary.is_empty() {
        property["comment"] = json!(r.summary);
    }
    let mut object = json!({
        "type": "sighting",
        "spec_version": "2.1",
        "id": sighting_stix_id(&context.first.0),
        "created": timestamp(context.first.1),
        "modified": timestamp(r.created_ms.max(context.first.1)),
        "created_by_ref": identity,
        "sighting_of_ref": context
            .sighting_of
            .clone()
            .unwrap_or_else(|| report_stix_id(&sighting.concerns.report)),
        "where_sighted_refs": [identity],
        "confidence": r.confidence,
        "object_marking_refs": [tlp_marking_id(r.tlp)],
        "external_references": [cairn_reference(&report.id())],
        SIGHTING_PROPERTY: property,
    });
    // STIX 2.1 §5.7: count from 0 to 999,999,999; a Cairn count above is said as the most.
    if sighting.kind == cairn_core::model::SightingKind::Seen || sighting.count > 0 {
        object["count"] = json!(sighting.count.min(999_999_999));
    }
    if let Some(first) = sighting.first_seen_ms {
        object["first_seen"] = json!(timestamp(first));
    }
    if let Some(last) = sighting.last_seen_ms {
        object["last_seen"] = json!(timestamp(last));
    }
    if !description.is_empty() {
        object["description"] = json!(description.join("\n"));
    }
    if sighting.kind == cairn_core::model::SightingKind::FalsePositive {
        object["x_opencti_negative"] = json!(true);
    }
    object
}

fn cairn_reference(id: &ReportId) -> Value {
    json!({
        "source_name": "cairn",
        "external_id": id.to_string(),
        "description": "the Cairn report id (SHA-256 of the signed report)"
    })
}

/// A STIX 2.1 bundle of objects (its id derived from theirs, so the same objects always make
/// the same bundle); objects with the same id and version appear once.
pub fn bundle(objects: Vec<Value>) -> Value {
    let mut seen = std::collections::BTreeSet::new();
    let mut unique = Vec::with_capacity(objects.len());
    for object in objects {
        let key = format!(
            "{}@{}",
            object["id"].as_str().unwrap_or_default(),
            object["modified"]
                .as_str()
                .or(object["created"].as_str())
                .unwrap_or_default()
        );
        if seen.insert(key) {
            unique.push(object);
        }
    }
    let names: Vec<String> = seen.into_iter().collect();
    json!({
        "type": "bundle",
        "id": derived_stix_id("bundle", &names.join(",")),
        "objects": unique
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{IndicatorDraft, OrgKey, sample};
    use rand::SeedableRng;

    fn signed(edit: impl FnOnce(&mut cairn_core::ReportDraft)) -> cairn_core::VerifiedReport {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let org = OrgKey::generate(&mut rng);
        let mut d = sample::indicator_report(&mut rng, 1);
        edit(&mut d);
        d.sign(&org, &mut rng).unwrap()
    }

    fn context(report: &cairn_core::VerifiedReport) -> ExportContext {
        ExportContext {
            author_name: Some("CERT-Example".into()),
            first: (report.id(), report.report().created_ms),
            sighting_of: None,
        }
    }

    #[test]
    fn patterns_for_every_observable_type() {
        let cases = [
            (
                IndicatorType::Ipv4,
                "198.51.100.7",
                "[ipv4-addr:value = '198.51.100.7']",
            ),
            (
                IndicatorType::Ipv6,
                "2001:db8::1",
                "[ipv6-addr:value = '2001:db8::1']",
            ),
            (
                IndicatorType::Cidr,
                "10.0.0.0/8",
                "[ipv4-addr:value = '10.0.0.0/8']",
            ),
            (
                IndicatorType::Cidr,
                "2001:db8::/32",
                "[ipv6-addr:value = '2001:db8::/32']",
            ),
            (
                IndicatorType::Domain,
                "bad.example",
                "[domain-name:value = 'bad.example']",
            ),
            (
                IndicatorType::Url,
                "https://x.example/a'b",
                "[url:value = 'https://x.example/a\\'b']",
            ),
            (
                IndicatorType::Email,
                "a@b.example",
                "[email-addr:value = 'a@b.example']",
            ),
            (
                IndicatorType::Md5,
                "d41d8cd98f00b204e9800998ecf8427e",
                "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            ),
            (
                IndicatorType::Sha1,
                "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
            ),
            (
                IndicatorType::Asn,
                "AS64496",
                "[autonomous-system:number = 64496]",
            ),
        ];
        for (kind, value, expected) in cases {
            let indicator = Indicator {
                kind,
                value: value.into(),
                description: String::new(),
                file: 0,
                valid_from_ms: 0,
                valid_until_ms: 0,
            };
            assert_eq!(pattern(&indicator).as_deref(), Some(expected));
        }
        let cve = Indicator {
            kind: IndicatorType::Cve,
            value: "CVE-2024-3400".into(),
            description: String::new(),
            file: 0,
            valid_from_ms: 0,
            valid_until_ms: 0,
        };
        assert_eq!(pattern(&cve), None);
    }

    #[test]
    fn the_same_report_always_exports_the_same_objects() {
        let report = signed(|_| {});
        let a = report_objects(&report, &context(&report));
        let b = report_objects(&report, &context(&report));
        assert_eq!(a, b);
        assert_eq!(bundle(a.clone()), bundle(b));
        let last = a.last().unwrap();
        assert_eq!(last["type"], "report");
        assert_eq!(last["id"], json!(report_stix_id(&report.id())));
        assert_eq!(
            last["object_marking_refs"],
            json!([tlp_marking_id(report.report().tlp)])
        );
        // Ten observables in the sample, each an indicator the report refers to.
        let indicators = a.iter().filter(|o| o["type"] == "indicator").count();
        assert_eq!(indicators, 10);
        assert_eq!(last["object_refs"].as_array().unwrap().len(), 10);
        assert!(last.get("lang").is_none(), "no language said, none written");
        // A report that says its language gives it to the STIX report (RFC 5646 tag).
        let french = signed(|d| d.language = Some("fr".into()));
        let objects = report_objects(&french, &context(&french));
        assert_eq!(objects.last().unwrap()["lang"], "fr");
    }

    #[test]
    fn a_new_version_is_a_new_stix_version_of_the_same_report() {
        let first = signed(|_| {});
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let org = OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1));
        let mut v2 = cairn_core::ReportDraft::new_version_of(&first);
        v2.title = "Second version".into();
        v2.created = Some(time::OffsetDateTime::now_utc() + time::Duration::minutes(5));
        let second = v2.sign(&org, &mut rng).unwrap();
        let ctx = ExportContext {
            author_name: None,
            first: (first.id(), first.report().created_ms),
            sighting_of: None,
        };
        let a = report_objects(&first, &context(&first));
        let b = report_objects(&second, &ctx);
        let (ra, rb) = (a.last().unwrap(), b.last().unwrap());
        assert_eq!(ra["id"], rb["id"]);
        assert_eq!(ra["created"], rb["created"]);
        assert!(rb["modified"].as_str() > ra["modified"].as_str());
        // A retraction revokes it.
        let tombstone = cairn_core::retract(&second, "false positive", &org, &mut rng).unwrap();
        let c = report_objects(&tombstone, &ctx);
        let rc = c.last().unwrap();
        assert_eq!(rc["id"], ra["id"]);
        assert_eq!(rc["revoked"], json!(true));
    }

    #[test]
    fn object_versions_name_exactly_the_exported_objects() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let org = OrgKey::generate(&mut rng);
        let mut reports = Vec::new();
        for n in 0..20 {
            let mut d = sample::indicator_report(&mut rng, n);
            if n % 3 == 0 {
                d.indicators.push(IndicatorDraft {
                    kind: IndicatorType::Cve,
                    value: format!("CVE-2024-{}", 1000 + n),
                    description: String::new(),
                    file: 0,
                    valid_from: None,
                    valid_until: None,
                });
            }
            if n % 5 == 0 {
                d.indicators.retain(|i| i.kind == IndicatorType::Cve);
            }
            reports.push(d.sign(&org, &mut rng).unwrap());
        }
        let first = reports[0].clone();
        reports.push(cairn_core::retract(&first, "mistake", &org, &mut rng).unwrap());
        for report in &reports {
            let context = ExportContext {
                author_name: None,
                first: (first.id(), first.report().created_ms - 5),
                sighting_of: None,
            };
            let objects = report_objects(report, &context);
            let versions = object_versions(report, &context);
            assert_eq!(objects.len(), versions.len());
            // Built one at a time, each is the same object; the others are left null.
            let own = own_objects(report, &context);
            for k in 0..own.len() {
                let one = own_objects_wanted(report, &context, |i| i == k);
                assert_eq!(one.len(), own.len());
                for (i, object) in one.iter().enumerate() {
                    if i == k || report.report().kind == ReportKind::Retraction {
                        assert_eq!(object, &own[i]);
                    } else {
                        assert!(object.is_null());
                    }
                }
            }
            for (object, version) in objects.iter().zip(versions.iter()) {
                assert_eq!(object["type"], version.kind);
                assert_eq!(object["id"], version.id.as_str());
                let stamp = object["modified"].as_str().or(object["created"].as_str());
                assert_eq!(stamp.and_then(StixTime::parse), version.version);
            }
        }
    }

    #[test]
    fn cves_become_vulnerabilities_with_nothing_invented_between_them() {
        let report = signed(|d| {
            d.indicators.truncate(2);
            d.indicators.push(IndicatorDraft {
                kind: IndicatorType::Cve,
                value: "CVE-2024-3400".into(),
                description: String::new(),
                file: 0,
                valid_from: None,
                valid_until: None,
            });
        });
        let objects = report_objects(&report, &context(&report));
        let count = |t: &str| objects.iter().filter(|o| o["type"] == t).count();
        assert_eq!(count("vulnerability"), 1);
        assert_eq!(count("relationship"), 0);
        assert_eq!(count("indicator"), 2);
        assert_eq!(
            objects.last().unwrap()["object_refs"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
