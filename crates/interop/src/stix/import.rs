//! STIX 2.1 bundles as Cairn report drafts: each `report` object becomes a report with the
//! observables of the indicators and vulnerabilities it refers to; each indicator or
//! vulnerability no report refers to becomes a report of its own. TLP markings (2.0 and 1.0)
//! are kept. Other objects are listed as skipped, with why.

use std::collections::{BTreeMap, BTreeSet};

use cairn_core::{IndicatorType, OrgPublicKey, ReportDraft, ReportKind, Tlp};
use serde_json::Value;

use crate::import::{
    ImportError, Imported, ImportedReport, Observables, Skipped, SourceFormat, apply_tlp,
    fit_labels, fit_summary, fit_title,
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
fn tlp_of_marking_object(object: &Value) -> Option<Tlp> {
    if let Some(label) = object["extensions"][crate::stix::TLP2_EXTENSION]["tlp_2_0"].as_str() {
        return label.parse::<Tlp>().ok();
    }
    if object["definition_type"] == "tlp" {
        let label = object["definition"]["tlp"].as_str()?;
        return if label.eq_ignore_ascii_case("white") {
            Some(Tlp::Clear)
        } else {
            label.parse::<Tlp>().ok()
        };
    }
    None
}

/// The most restrictive TLP label among an object's markings.
fn tlp_of(object: &Value, markings: &BTreeMap<String, Tlp>) -> Option<Tlp> {
    object["object_marking_refs"]
        .as_array()?
        .iter()
        .filter_map(|m| m.as_str())
        .filter_map(|m| markings.get(m).copied().or_else(|| tlp_of_marking_id(m)))
        .max()
}

fn created_of(object: &Value, place: &str) -> Result<Option<time::OffsetDateTime>, ImportError> {
    for field in ["published", "valid_from", "created"] {
        if let Some(text) = object[field].as_str() {
            let t =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                    malformed(
                        format!("{place}.{field}"),
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
fn cves_of(object: &Value) -> Vec<String> {
    let mut out: Vec<String> = object["external_references"]
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
        && let Some(name) = object["name"].as_str()
        && name.to_ascii_uppercase().starts_with("CVE-")
    {
        out.push(name.to_string());
    }
    out
}

/// Adds what an indicator or vulnerability object carries to `into`; returns why nothing could
/// be taken from it, if so.
fn add_observables(object: &Value, into: &mut Observables) -> Result<(), String> {
    let description = object["description"].as_str().unwrap_or_default();
    let candidates: Vec<(IndicatorType, String)> = match object["type"].as_str() {
        Some("indicator") => {
            let pattern = object["pattern"].as_str().unwrap_or_default();
            if object["pattern_type"].as_str().is_some_and(|t| t != "stix") {
                return Err(format!(
                    "{} patterns are not STIX patterns",
                    object["pattern_type"].as_str().unwrap_or_default()
                ));
            }
            let found = observables_in_pattern(pattern);
            if found.is_empty() {
                return Err(format!(
                    "its pattern has no observable Cairn carries (IP, domain, URL, email, file hash, AS number): {pattern}"
                ));
            }
            found
        }
        Some("vulnerability") => {
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

fn kind_of_report(object: &Value) -> ReportKind {
    let types: Vec<&str> = object["report_types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str())
        .collect();
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
/// and TLP marking, its labels from the `labels_field` list, and the source id as a tag.
#[allow(clippy::too_many_arguments)]
fn report_from(
    object: &Value,
    id: &str,
    kind: ReportKind,
    fallback: &str,
    labels_field: &str,
    observables: Observables,
    markings: &BTreeMap<String, Tlp>,
    us: &OrgPublicKey,
) -> Result<ImportedReport, ImportError> {
    let mut notes = Vec::new();
    let labels = object[labels_field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_string));
    let mut draft = ReportDraft {
        kind: Some(kind),
        title: fit_title(object["name"].as_str().unwrap_or(fallback), &mut notes),
        summary: fit_summary(
            object["description"].as_str().unwrap_or_default(),
            &mut notes,
        ),
        confidence: object["confidence"]
            .as_u64()
            .and_then(|c| u8::try_from(c).ok()),
        created: created_of(object, id)?,
        indicators: observables.list,
        tags: fit_labels(std::iter::once(format!("stix:{id}")).chain(labels)),
        ..ReportDraft::default()
    };
    apply_tlp(&mut draft, tlp_of(object, markings), us, &mut notes);
    Ok(ImportedReport {
        source_id: id.to_string(),
        draft,
        notes,
    })
}

/// Reads a STIX 2.1 bundle.
pub fn import_bundle(bundle: &Value, us: &OrgPublicKey) -> Result<Imported, ImportError> {
    let objects = bundle["objects"]
        .as_array()
        .ok_or_else(|| malformed("bundle", "it has no \"objects\" list"))?;
    let mut by_id: BTreeMap<String, &Value> = BTreeMap::new();
    let mut markings: BTreeMap<String, Tlp> = BTreeMap::new();
    for (i, object) in objects.iter().enumerate() {
        let place = format!("objects[{i}]");
        let id = object["id"]
            .as_str()
            .ok_or_else(|| malformed(&place, "an object without an \"id\""))?;
        let kind = object["type"]
            .as_str()
            .ok_or_else(|| malformed(&place, format!("{id} has no \"type\"")))?;
        if !id.starts_with(&format!("{kind}--")) {
            return Err(malformed(
                &place,
                format!("its id {id:?} does not start with its type {kind:?}"),
            ));
        }
        if kind != "marking-definition" && kind != "bundle" {
            created_of(object, &place)?;
        }
        if kind == "marking-definition"
            && let Some(tlp) = tlp_of_marking_object(object)
        {
            markings.insert(id.to_string(), tlp);
        }
        by_id.insert(id.to_string(), object);
    }
    let mut imported = Imported {
        format: SourceFormat::Stix,
        reports: Vec::new(),
        merged: 0,
        skipped: Vec::new(),
    };
    let mut used: BTreeSet<String> = BTreeSet::new();
    // Reports first: they claim the indicators they refer to.
    for object in objects.iter().filter(|o| o["type"] == "report") {
        let id = object["id"].as_str().unwrap_or_default().to_string();
        let mut observables = Observables::default();
        for r in object["object_refs"].as_array().into_iter().flatten() {
            let Some(r) = r.as_str() else { continue };
            let Some(target) = by_id.get(r) else {
                continue;
            };
            if matches!(target["type"].as_str(), Some("indicator" | "vulnerability")) {
                used.insert(r.to_string());
                if let Err(why) = add_observables(target, &mut observables) {
                    imported.skipped.push(Skipped {
                        what: r.to_string(),
                        why,
                    });
                }
            }
        }
        imported.merged += observables.merged;
        imported.reports.push(report_from(
            object,
            &id,
            kind_of_report(object),
            "Untitled STIX report",
            "labels",
            observables,
            &markings,
            us,
        )?);
    }
    // Indicators and vulnerabilities no report claimed: a report each.
    for object in objects {
        let id = object["id"].as_str().unwrap_or_default().to_string();
        let kind = object["type"].as_str().unwrap_or_default();
        match kind {
            "report" => {}
            "indicator" | "vulnerability" if !used.contains(&id) => {
                let mut observables = Observables::default();
                if let Err(why) = add_observables(object, &mut observables) {
                    imported.skipped.push(Skipped { what: id, why });
                    continue;
                }
                imported.merged += observables.merged;
                let fallback = match kind {
                    "indicator" => {
                        format!("Indicator {}", object["pattern"].as_str().unwrap_or(&id))
                    }
                    _ => format!("Vulnerability {}", cves_of(object).join(", ")),
                };
                let report_kind = if kind == "indicator" {
                    ReportKind::Indicator
                } else {
                    ReportKind::Vulnerability
                };
                imported.reports.push(report_from(
                    object,
                    &id,
                    report_kind,
                    &fallback,
                    "indicator_types",
                    observables,
                    &markings,
                    us,
                )?);
            }
            "indicator" | "vulnerability" => {}
            "marking-definition" | "identity" | "relationship" | "extension-definition" => {}
            other => imported.skipped.push(Skipped {
                what: id,
                why: format!("{other} objects have no Cairn equivalent yet"),
            }),
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
