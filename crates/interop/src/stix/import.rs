//! STIX 2.1 bundles as Cairn report drafts: each `report` object becomes a report with the
//! observables of the indicators and vulnerabilities it refers to. Indicators that no report
//! refers to become one report per TLP marking (vulnerabilities likewise), as a MISP event
//! gathers its attributes; a lone one becomes a report of its own. TLP markings (2.0 and 1.0)
//! are kept. Other objects are listed as skipped, with why.

use std::collections::{HashMap, HashSet};

use cairn_core::{IndicatorType, OrgPublicKey, ReportDraft, ReportKind, Tlp};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::object::{Bundle, StixObject, Texts};
use crate::import::{
    ImportError, Imported, ImportedReport, Observables, Skipped, SourceFormat, apply_tlp,
    fit_description, fit_labels, fit_summary, fit_title,
};

fn malformed(place: impl Into<String>, reason: impl Into<String>) -> ImportError {
    ImportError::Malformed {
        place: place.into(),
        reason: reason.into(),
    }
}

/// The TLP label a marking-definition id stands for (TLP 2.0, or the TLP 1.0 ids built into
/// STIX 2.1).
fn tlp_of_marking_id(id: &str) -> Option<Tlp> {
    for tlp in Tlp::ALL {
        if crate::stix::tlp_marking_id(*tlp) == id {
            return Some(*tlp);
        }
    }
    match id {
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9" => Some(Tlp::Clear),
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da" => Some(Tlp::Green),
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82" => Some(Tlp::Amber),
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed" => Some(Tlp::Red),
        _ => None,
    }
}

/// The TLP label a marking-definition object in the bundle carries, if any.
fn tlp_of_marking_object(object: &StixObject<'_>) -> Option<Tlp> {
    let extensions = StixObject::nested(object.extensions);
    if let Some(label) = extensions[crate::stix::TLP2_EXTENSION]["tlp_2_0"].as_str() {
        return label.parse::<Tlp>().ok();
    }
    if object.definition_type.text() == Some("tlp") {
        let definition = StixObject::nested(object.definition);
        let label = definition["tlp"].as_str()?;
        return if label.eq_ignore_ascii_case("white") {
            Some(Tlp::Clear)
        } else {
            label.parse::<Tlp>().ok()
        };
    }
    None
}

/// The most restrictive TLP label among an object's markings.
fn tlp_of(object: &StixObject<'_>, markings: &HashMap<&str, Tlp>) -> Option<Tlp> {
    object
        .object_marking_refs
        .iter()
        .filter_map(|m| markings.get(m).copied().or_else(|| tlp_of_marking_id(m)))
        .max()
}

/// When the object says it was published, valid from or created, whichever comes first in
/// that order; a timestamp that is not one is named with `place` (called only then).
fn created_of(
    object: &StixObject<'_>,
    place: impl Fn() -> String,
) -> Result<Option<time::OffsetDateTime>, ImportError> {
    for (field, value) in [
        ("published", &object.published),
        ("valid_from", &object.valid_from),
        ("created", &object.created),
    ] {
        if let Some(text) = value.text() {
            let t =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                    malformed(
                        format!("{}.{field}", place()),
                        format!("{text:?} is not a STIX timestamp (2016-05-12T08:17:27.000Z)"),
                    )
                })?;
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// The observables in a STIX pattern that Cairn carries: every `path = 'value'` comparison
/// on a known object path. Other comparisons are left out.
pub fn observables_in_pattern(pattern: &str) -> Vec<(IndicatorType, String)> {
    let mut found = Vec::new();
    let mut rest = pattern;
    while let Some(eq) = rest.find(" = ") {
        let before = &rest[..eq];
        let path_start = before
            .rfind(|c: char| c == '[' || c == '(' || c.is_whitespace())
            .map_or(0, |i| i + 1);
        let path = before[path_start..].trim();
        let after = &rest[eq + 3..];
        let (value, consumed) = if let Some(body) = after.strip_prefix('\'') {
            let mut value = String::new();
            let mut chars = body.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '\'' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            match end {
                Some(end) => (value, 1 + end),
                None => break,
            }
        } else {
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            let n = digits.len();
            (digits, n)
        };
        if let Some(kind) = kind_of_path(path, &value) {
            let value = if kind == IndicatorType::Asn {
                format!("AS{value}")
            } else {
                value
            };
            found.push((kind, value));
        }
        rest = &after[consumed.min(after.len())..];
    }
    found
}

fn kind_of_path(path: &str, value: &str) -> Option<IndicatorType> {
    let path = path.replace(['\'', '"'], "");
    Some(match path.as_str() {
        "ipv4-addr:value" | "ipv6-addr:value" if value.contains('/') => IndicatorType::Cidr,
        "ipv4-addr:value" => IndicatorType::Ipv4,
        "ipv6-addr:value" => IndicatorType::Ipv6,
        "domain-name:value" => IndicatorType::Domain,
        "url:value" => IndicatorType::Url,
        "email-addr:value" | "email-message:from_ref.value" | "email-message:sender_ref.value" => {
            IndicatorType::Email
        }
        "file:hashes.MD5" | "file:hashes.md5" => IndicatorType::Md5,
        "file:hashes.SHA-1" | "file:hashes.SHA1" | "file:hashes.sha1" => IndicatorType::Sha1,
        "file:hashes.SHA-256" | "file:hashes.SHA256" | "file:hashes.sha256" => {
            IndicatorType::Sha256
        }
        "file:hashes.SHA-512" | "file:hashes.SHA512" | "file:hashes.sha512" => {
            IndicatorType::Sha512
        }
        "autonomous-system:number" if !value.is_empty() => IndicatorType::Asn,
        _ => return None,
    })
}

/// CVE names in a vulnerability's external references (or its name).
fn cves_of(object: &StixObject<'_>) -> Vec<String> {
    let references = StixObject::nested(object.external_references);
    let mut out: Vec<String> = references
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["source_name"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("cve"))
        })
        .filter_map(|r| r["external_id"].as_str().map(str::to_string))
        .collect();
    if out.is_empty()
        && let Some(name) = object.name.text()
        && name.to_ascii_uppercase().starts_with("CVE-")
    {
        out.push(name.to_string());
    }
    out
}

/// Adds what an indicator or vulnerability object carries to `into`, each observable with
/// `description`; returns why nothing could be taken from it, if so.
fn add_observables(
    object: &StixObject<'_>,
    description: &str,
    into: &mut Observables,
) -> Result<(), String> {
    let candidates: Vec<(IndicatorType, String)> = match object.kind() {
        "indicator" => {
            let pattern = object.pattern.text().unwrap_or_default();
            if let Some(other) = object.pattern_type.text().filter(|t| *t != "stix") {
                return Err(format!("{other} patterns are not STIX patterns"));
            }
            let found = observables_in_pattern(pattern);
            if found.is_empty() {
                return Err(format!(
                    "its pattern has no observable Cairn carries (IP, domain, URL, email, file hash, AS number): {pattern}"
                ));
            }
            found
        }
        "vulnerability" => {
            let cves = cves_of(object);
            if cves.is_empty() {
                return Err("a vulnerability without a CVE name".into());
            }
            cves.into_iter().map(|c| (IndicatorType::Cve, c)).collect()
        }
        _ => return Err("not an indicator or vulnerability".into()),
    };
    let mut problems = Vec::new();
    let before = into.list.len() + into.merged;
    for (kind, value) in candidates {
        if let Err(e) = into.add(kind, &value, description) {
            problems.push(e);
        }
    }
    if into.list.len() + into.merged == before {
        return Err(problems.join("; "));
    }
    Ok(())
}

fn kind_of_report(object: &StixObject<'_>) -> ReportKind {
    let types: Vec<&str> = object.report_types.iter().collect();
    for (stix, kind) in [
        ("vulnerability", ReportKind::Vulnerability),
        ("threat-actor", ReportKind::ThreatActor),
        ("campaign", ReportKind::Campaign),
        ("intrusion-set", ReportKind::ThreatActor),
    ] {
        if types.contains(&stix) {
            return kind;
        }
    }
    if types == ["indicator"] {
        ReportKind::Indicator
    } else {
        ReportKind::Advisory
    }
}

/// A report draft from a STIX object: its name (or `fallback`), description, confidence, time
/// and TLP marking, its `labels`, and the source id (the first of `sources`) as a tag.
#[allow(clippy::too_many_arguments)]
fn report_from(
    object: &StixObject<'_>,
    sources: Vec<String>,
    kind: ReportKind,
    fallback: &str,
    labels: &Texts<'_>,
    observables: Observables,
    markings: &HashMap<&str, Tlp>,
    us: &OrgPublicKey,
) -> Result<ImportedReport, ImportError> {
    let id = sources.first().cloned().unwrap_or_default();
    let mut notes = Vec::new();
    let mut draft = ReportDraft {
        kind: Some(kind),
        title: fit_title(object.name.text().unwrap_or(fallback), &mut notes),
        summary: fit_summary(object.description.text().unwrap_or_default(), &mut notes),
        confidence: object
            .confidence
            .number()
            .and_then(|c| u8::try_from(c).ok()),
        created: created_of(object, || id.clone())?,
        indicators: observables.list,
        tags: fit_labels(
            std::iter::once(format!("stix:{id}")).chain(labels.iter().map(str::to_string)),
        ),
        ..ReportDraft::default()
    };
    apply_tlp(&mut draft, tlp_of(object, markings), us, &mut notes);
    Ok(ImportedReport {
        source_id: id,
        sources,
        draft,
        notes,
    })
}

/// At most this many observables in one report made from indicators no report refers to.
pub const MAX_GROUPED_OBSERVABLES: usize = 1_000;

/// At most about this many bytes of observables in one such report, well inside the size of
/// a signed report (`cairn_core::limits::MAX_ENVELOPE_BYTES`).
const MAX_GROUPED_BYTES: usize = 256 * 1024;

/// An indicator or vulnerability that no report refers to, with what it carries.
struct Member<'o, 'a> {
    object: &'o StixObject<'a>,
    observables: Observables,
}

/// The indicators (or vulnerabilities) of one TLP marking that no report refers to.
struct Group<'o, 'a> {
    vulnerability: bool,
    tlp: Option<Tlp>,
    members: Vec<Member<'o, 'a>>,
}

impl<'o, 'a> Group<'o, 'a> {
    /// The members in runs that each fit one report, in the bundle's order.
    fn parts(self) -> Vec<Vec<Member<'o, 'a>>> {
        let mut parts: Vec<Vec<Member<'o, 'a>>> = Vec::new();
        let (mut count, mut bytes) = (0, 0);
        for member in self.members {
            let (n, b) = (
                member.observables.list.len(),
                member.observables.encoded_len(),
            );
            match parts.last_mut() {
                Some(part)
                    if count + n <= MAX_GROUPED_OBSERVABLES && bytes + b <= MAX_GROUPED_BYTES =>
                {
                    count += n;
                    bytes += b;
                    part.push(member);
                }
                _ => {
                    (count, bytes) = (n, b);
                    parts.push(vec![member]);
                }
            }
        }
        parts
    }
}

/// What an observable grouped with others says of where it came from: its object's name and
/// description.
fn member_description(object: &StixObject<'_>) -> String {
    let name = object.name.text().unwrap_or_default().trim();
    let description = object.description.text().unwrap_or_default().trim();
    match (name.is_empty(), description.is_empty()) {
        (false, false) => format!("{name}: {description}"),
        (false, true) => name.to_string(),
        _ => description.to_string(),
    }
}

/// The report of a lone indicator or vulnerability, and how many of its observables were
/// folded into others.
fn single_report(
    member: Member<'_, '_>,
    markings: &HashMap<&str, Tlp>,
    us: &OrgPublicKey,
) -> Result<(ImportedReport, usize), ImportError> {
    let object = member.object;
    // Alone, the object's name is the title, and its description the summary and each
    // observable's.
    let mut observables = member.observables;
    let description = fit_description(object.description.text().unwrap_or_default());
    for indicator in &mut observables.list {
        indicator.description = description.to_string();
    }
    let merged = observables.merged;
    let (kind, fallback) = if object.kind() == "vulnerability" {
        (
            ReportKind::Vulnerability,
            format!("Vulnerability {}", cves_of(object).join(", ")),
        )
    } else {
        (
            ReportKind::Indicator,
            format!("Indicator {}", object.pattern.text().unwrap_or(object.id())),
        )
    };
    let report = report_from(
        object,
        vec![object.id().to_string()],
        kind,
        &fallback,
        &object.indicator_types,
        observables,
        markings,
        us,
    )?;
    Ok((report, merged))
}

/// One report for indicators (or vulnerabilities) of one TLP marking that no report refers
/// to, and how many observables were folded into others. Each observable keeps its object's
/// name and description; the summary lists the objects. Everything is derived from the
/// objects, so the same objects always give the same draft.
fn grouped_report(
    members: Vec<Member<'_, '_>>,
    vulnerability: bool,
    tlp: Option<Tlp>,
    us: &OrgPublicKey,
) -> (ImportedReport, usize) {
    use std::fmt::Write;
    let what = if vulnerability {
        "vulnerabilities"
    } else {
        "indicators"
    };
    let count = members.len();
    let mut notes = Vec::new();
    let mut digest = Sha256::new();
    let mut observables = Observables::default();
    let mut labels: Vec<String> = Vec::new();
    let mut summary = format!("{count} STIX {what} that no report refers to, imported together:\n");
    let mut title = format!("{count} {what}");
    let max_title = cairn_core::limits::MAX_TITLE_CHARS;
    let mut named = 0;
    for member in &members {
        let object = member.object;
        let version = object
            .modified
            .text()
            .or(object.created.text())
            .unwrap_or_default();
        digest.update(object.id().as_bytes());
        digest.update([0]);
        digest.update(version.as_bytes());
        digest.update([0]);
        for label in object.indicator_types.iter() {
            if !labels.iter().any(|l| l == label) {
                labels.push(label.to_string());
            }
        }
        let name = object.name.text().unwrap_or_default().trim();
        if name.is_empty() {
            let _ = writeln!(summary, "- {}", object.id());
        } else {
            let _ = writeln!(summary, "- {}: {name}", object.id());
            // The title names the first few, as far as it goes.
            if title.len() <= max_title {
                title.push_str(if named == 0 { ": " } else { ", " });
                title.push_str(name);
                named += 1;
            }
        }
    }
    if title.chars().count() > max_title {
        title = title.chars().take(max_title - 1).chain(['…']).collect();
    }
    let source_id = format!("group-{}", &hex::encode(digest.finalize())[..32]);
    let confidence = members
        .iter()
        .filter_map(|m| m.object.confidence.number())
        .filter_map(|c| u8::try_from(c).ok())
        .min();
    let created = members
        .iter()
        .filter_map(|m| created_of(m.object, String::new).ok().flatten())
        .max();
    let sources = members.iter().map(|m| m.object.id().to_string()).collect();
    for member in members {
        observables.extend(member.observables);
    }
    let merged = observables.merged;
    let mut draft = ReportDraft {
        kind: Some(if vulnerability {
            ReportKind::Vulnerability
        } else {
            ReportKind::Indicator
        }),
        title,
        summary: fit_summary(summary.trim_end(), &mut notes),
        confidence,
        created,
        indicators: observables.list,
        tags: fit_labels(std::iter::once(format!("stix:{source_id}")).chain(labels)),
        ..ReportDraft::default()
    };
    apply_tlp(&mut draft, tlp, us, &mut notes);
    let report = ImportedReport {
        source_id,
        sources,
        draft,
        notes,
    };
    (report, merged)
}

/// The objects of a bundle (or TAXII envelope) in JSON text, read.
fn read_objects(text: &[u8]) -> Result<Vec<StixObject<'_>>, ImportError> {
    let bundle: Bundle<'_> = serde_json::from_slice(text).map_err(|e| {
        if e.is_data() {
            malformed("bundle", format!("not a JSON object: {e}"))
        } else {
            ImportError::NotJson(e.to_string())
        }
    })?;
    let no_list = || malformed("bundle", "it has no \"objects\" list");
    let objects = bundle.objects.ok_or_else(no_list)?;
    if let Ok(read) = serde_json::from_str::<Vec<StixObject<'_>>>(objects.get()) {
        return Ok(read);
    }
    // Say which one is wrong.
    let raw: Vec<&RawValue> = serde_json::from_str(objects.get()).map_err(|_| no_list())?;
    for (i, object) in raw.iter().enumerate() {
        if let Err(e) = serde_json::from_str::<StixObject<'_>>(object.get()) {
            return Err(malformed(
                format!("objects[{i}]"),
                format!("not a STIX object: {e}"),
            ));
        }
    }
    Err(no_list())
}

/// Reads a STIX 2.1 bundle, or a TAXII envelope (only its `objects` matter), from JSON text.
pub fn import_bundle(text: &[u8], us: &OrgPublicKey) -> Result<Imported, ImportError> {
    let objects = read_objects(text)?;
    let mut by_id: HashMap<&str, &StixObject<'_>> = HashMap::with_capacity(objects.len());
    let mut markings: HashMap<&str, Tlp> = HashMap::new();
    for (i, object) in objects.iter().enumerate() {
        let place = || format!("objects[{i}]");
        let id = object
            .id
            .text()
            .ok_or_else(|| malformed(place(), "an object without an \"id\""))?;
        let kind = object
            .kind
            .text()
            .ok_or_else(|| malformed(place(), format!("{id} has no \"type\"")))?;
        if id
            .strip_prefix(kind)
            .and_then(|rest| rest.strip_prefix("--"))
            .is_none()
        {
            return Err(malformed(
                place(),
                format!("its id {id:?} does not start with its type {kind:?}"),
            ));
        }
        if kind != "marking-definition" && kind != "bundle" {
            created_of(object, place)?;
        }
        if kind == "marking-definition"
            && let Some(tlp) = tlp_of_marking_object(object)
        {
            markings.insert(id, tlp);
        }
        by_id.insert(id, object);
    }
    let mut imported = Imported {
        format: SourceFormat::Stix,
        objects: objects.len(),
        reports: Vec::new(),
        merged: 0,
        skipped: Vec::new(),
    };
    let mut used: HashSet<&str> = HashSet::new();
    // Reports first: they claim the indicators they refer to.
    for object in objects.iter().filter(|o| o.kind() == "report") {
        let id = object.id().to_string();
        let mut observables = Observables::default();
        let mut sources = vec![id.clone()];
        for r in object.object_refs.iter() {
            let Some(target) = by_id.get(r) else {
                continue;
            };
            if matches!(target.kind(), "indicator" | "vulnerability") {
                used.insert(target.id());
                let description = target.description.text().unwrap_or_default();
                match add_observables(target, description, &mut observables) {
                    Ok(()) => sources.push(r.to_string()),
                    Err(why) => imported.skipped.push(Skipped {
                        what: r.to_string(),
                        why,
                    }),
                }
            }
        }
        imported.merged += observables.merged;
        imported.reports.push(report_from(
            object,
            sources,
            kind_of_report(object),
            "Untitled STIX report",
            &object.labels,
            observables,
            &markings,
            us,
        )?);
    }
    // Indicators and vulnerabilities no report refers to: grouped by kind and TLP marking.
    let mut groups: Vec<Group<'_, '_>> = Vec::new();
    for object in &objects {
        let id = object.id();
        match object.kind() {
            "report" => {}
            kind @ ("indicator" | "vulnerability") if !used.contains(id) => {
                let mut observables = Observables::default();
                if let Err(why) =
                    add_observables(object, &member_description(object), &mut observables)
                {
                    imported.skipped.push(Skipped {
                        what: id.to_string(),
                        why,
                    });
                    continue;
                }
                let vulnerability = kind == "vulnerability";
                let tlp = tlp_of(object, &markings);
                let member = Member {
                    object,
                    observables,
                };
                match groups
                    .iter_mut()
                    .find(|g| g.vulnerability == vulnerability && g.tlp == tlp)
                {
                    Some(group) => group.members.push(member),
                    None => groups.push(Group {
                        vulnerability,
                        tlp,
                        members: vec![member],
                    }),
                }
            }
            "indicator" | "vulnerability" => {}
            "marking-definition" | "identity" | "relationship" | "extension-definition" => {}
            other => imported.skipped.push(Skipped {
                what: id.to_string(),
                why: format!("{other} objects have no Cairn equivalent yet"),
            }),
        }
    }
    for group in groups {
        let (vulnerability, tlp) = (group.vulnerability, group.tlp);
        for part in group.parts() {
            let (report, merged) = match <[Member<'_, '_>; 1]>::try_from(part) {
                Ok([member]) => single_report(member, &markings, us)?,
                Err(part) => grouped_report(part, vulnerability, tlp, us),
            };
            imported.merged += merged;
            imported.reports.push(report);
        }
    }
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_give_their_observables() {
        let p = "[ipv4-addr:value = '198.51.100.1/32' OR ipv4-addr:value = '203.0.113.33'] OR [file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f'] AND [autonomous-system:number = 64496] AND [url:value = 'http://x.example/a\\'b']";
        let found = observables_in_pattern(p);
        assert_eq!(
            found,
            vec![
                (IndicatorType::Cidr, "198.51.100.1/32".into()),
                (IndicatorType::Ipv4, "203.0.113.33".into()),
                (
                    IndicatorType::Sha256,
                    "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f".into()
                ),
                (IndicatorType::Asn, "AS64496".into()),
                (IndicatorType::Url, "http://x.example/a'b".into()),
            ]
        );
        assert!(observables_in_pattern("[email-message:subject MATCHES '^Invoice']").is_empty());
        assert!(observables_in_pattern("[x509-certificate:serial_number = '1']").is_empty());
    }
}

#[cfg(test)]
mod grouping_tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::Value;
    use serde_json::json;

    const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";

    fn us() -> OrgPublicKey {
        cairn_core::OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(7)).public()
    }

    fn indicator(n: usize, ip: &str, marking: &str) -> Value {
        json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
            "created": "2026-11-01T10:00:00.000Z",
            "modified": format!("2026-11-0{}T10:00:00.000Z", 1 + n % 5),
            "name": format!("C2 {n}"),
            "pattern": format!("[ipv4-addr:value = '{ip}']"),
            "pattern_type": "stix",
            "valid_from": "2026-11-01T10:00:00Z",
            "confidence": 40 + n,
            "indicator_types": ["malicious-activity"],
            "object_marking_refs": [marking]
        })
    }

    fn vulnerability(n: usize, cve: &str) -> Value {
        json!({
            "type": "vulnerability", "spec_version": "2.1",
            "id": format!("vulnerability--00000000-0000-4000-8000-{n:012}"),
            "created": "2026-11-01T10:00:00.000Z",
            "modified": "2026-11-01T10:00:00.000Z",
            "name": cve,
            "object_marking_refs": [GREEN]
        })
    }

    fn bundle(objects: Vec<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({"type": "bundle", "id": "bundle--6c4f0e9c-3c50-4d6a-8b8b-7d9e1b1f2a3c", "objects": objects})).unwrap()
    }

    #[test]
    fn indicators_no_report_refers_to_become_one_report_per_marking_and_kind() {
        let imported = import_bundle(
            &bundle(vec![
                indicator(1, "192.0.2.1", GREEN),
                indicator(2, "192.0.2.2", AMBER),
                vulnerability(3, "CVE-2026-0001"),
                indicator(4, "192.0.2.4", GREEN),
                vulnerability(5, "CVE-2026-0002"),
                indicator(6, "192.0.2.1", GREEN),
            ]),
            &us(),
        )
        .unwrap();
        assert_eq!(imported.reports.len(), 3, "{:?}", imported.reports);
        let green = &imported.reports[0];
        assert_eq!(
            green.sources,
            [
                "indicator--00000000-0000-4000-8000-000000000001",
                "indicator--00000000-0000-4000-8000-000000000004",
                "indicator--00000000-0000-4000-8000-000000000006"
            ]
        );
        assert_eq!(green.draft.tlp, Some(Tlp::Green));
        assert_eq!(green.draft.kind, Some(ReportKind::Indicator));
        assert_eq!(green.draft.title, "3 indicators: C2 1, C2 4, C2 6");
        // 192.0.2.1 twice: folded into one observable, which keeps the first one's name.
        assert_eq!(green.draft.indicators.len(), 2);
        assert_eq!(imported.merged, 1);
        assert_eq!(green.draft.indicators[0].description, "C2 1");
        assert_eq!(
            green.draft.confidence,
            Some(41),
            "the lowest confidence given"
        );
        assert!(
            green
                .draft
                .summary
                .contains("indicator--00000000-0000-4000-8000-000000000004: C2 4"),
            "{}",
            green.draft.summary
        );
        assert!(green.source_id.starts_with("group-"));
        assert_eq!(green.draft.tags[0], format!("stix:{}", green.source_id));
        assert!(green.draft.tags.contains(&"malicious-activity".to_string()));
        // A lone indicator of another marking stays a report of its own, as before.
        let amber = &imported.reports[1];
        assert_eq!(amber.draft.tlp, Some(Tlp::Amber));
        assert_eq!(amber.draft.title, "C2 2");
        assert_eq!(
            amber.source_id,
            "indicator--00000000-0000-4000-8000-000000000002"
        );
        let cves = &imported.reports[2];
        assert_eq!(cves.draft.kind, Some(ReportKind::Vulnerability));
        assert_eq!(cves.draft.indicators.len(), 2);
        assert_eq!(cves.sources.len(), 2);
        // Every grouped draft signs.
        let org = cairn_core::OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(7));
        for report in &imported.reports {
            report.draft.sign_imported(&org, &report.source_id).unwrap();
        }
    }

    #[test]
    fn the_same_objects_give_the_same_group_and_a_new_version_another() {
        let objects = vec![
            indicator(1, "192.0.2.1", GREEN),
            indicator(2, "192.0.2.2", GREEN),
        ];
        let first = import_bundle(&bundle(objects.clone()), &us()).unwrap();
        let again = import_bundle(&bundle(objects.clone()), &us()).unwrap();
        assert_eq!(first.reports[0].source_id, again.reports[0].source_id);
        let org = cairn_core::OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(7));
        let sign = |r: &ImportedReport| r.draft.sign_imported(&org, &r.source_id).unwrap().id();
        assert_eq!(sign(&first.reports[0]), sign(&again.reports[0]));
        let mut newer = objects;
        newer[1]["modified"] = json!("2026-11-09T10:00:00.000Z");
        let newer = import_bundle(&bundle(newer), &us()).unwrap();
        assert_ne!(first.reports[0].source_id, newer.reports[0].source_id);
    }

    #[test]
    fn a_large_bundle_is_split_into_reports_of_at_most_a_thousand_observables() {
        let objects: Vec<Value> = (0..MAX_GROUPED_OBSERVABLES + 1)
            .map(|n| indicator(n, &format!("10.0.{}.{}", n / 256, n % 256), GREEN))
            .collect();
        let imported = import_bundle(&bundle(objects), &us()).unwrap();
        assert_eq!(imported.reports.len(), 2);
        assert_eq!(
            imported.reports[0].draft.indicators.len(),
            MAX_GROUPED_OBSERVABLES
        );
        assert!(
            imported.reports[0].draft.title.chars().count() <= cairn_core::limits::MAX_TITLE_CHARS
        );
        assert_eq!(imported.reports[1].sources.len(), 1);
        assert_eq!(imported.merged, 0);
    }

    #[test]
    fn a_long_description_is_shortened_not_refused() {
        let mut long = indicator(1, "192.0.2.1", GREEN);
        long["description"] = json!("é".repeat(1000));
        let imported =
            import_bundle(&bundle(vec![long, indicator(2, "192.0.2.2", GREEN)]), &us()).unwrap();
        assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
        let description = &imported.reports[0].draft.indicators[0].description;
        assert!(description.starts_with("C2 1: é"));
        assert!(description.len() <= cairn_core::indicator::MAX_DESCRIPTION_LEN);
    }
}
