//! MISP event JSON as Cairn report drafts: each event becomes a report (its info as title, its
//! attributes, object attributes included, as observables, its `tlp:` tag as TLP label, its
//! other tags as tags, its threat level as severity). Attribute types Cairn has no indicator
//! type for are listed as skipped.

use cairn_core::{IndicatorType, OrgPublicKey, ReportDraft, ReportKind, Scope, Severity, Tlp};
use serde_json::Value;

use crate::import::{
    ImportError, Imported, ImportedReport, Observables, Skipped, SourceFormat, apply_tlp,
    fit_labels, fit_summary, fit_title,
};

/// Whether a JSON value is MISP event JSON: `{"Event": …}`, `{"response": [{"Event": …}]}`, a
/// list of those, or a bare event (with `info` and `Attribute`).
pub fn looks_like_misp(value: &Value) -> bool {
    !events(value).is_empty()
}

fn events(value: &Value) -> Vec<&Value> {
    match value {
        Value::Object(map) if map.contains_key("Event") => vec![&value["Event"]],
        Value::Object(map) if map.contains_key("response") => value["response"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(events)
            .collect(),
        Value::Object(map) if map.contains_key("info") && map.contains_key("Attribute") => {
            vec![value]
        }
        Value::Array(items) => items.iter().flat_map(events).collect(),
        _ => Vec::new(),
    }
}

/// The Cairn indicator type for a MISP attribute type, and which part of a `a|b` value holds
/// the observable.
fn kind_of(misp_type: &str) -> Option<(IndicatorType, usize)> {
    let (first, second) = misp_type.split_once('|').unwrap_or((misp_type, ""));
    let of_part = |t: &str| -> Option<IndicatorType> {
        Some(match t {
            "ip-src" | "ip-dst" | "ip" => IndicatorType::Ipv4,
            "domain" | "hostname" => IndicatorType::Domain,
            "url" | "uri" | "link" => IndicatorType::Url,
            "email" | "email-src" | "email-dst" | "email-reply-to" => IndicatorType::Email,
            "md5" => IndicatorType::Md5,
            "sha1" => IndicatorType::Sha1,
            "sha256" => IndicatorType::Sha256,
            "sha512" => IndicatorType::Sha512,
            "vulnerability" => IndicatorType::Cve,
            "AS" => IndicatorType::Asn,
            _ => return None,
        })
    };
    if second.is_empty() {
        return of_part(first).map(|k| (k, 0));
    }
    // "filename|sha256": the hash; "ip-dst|port", "domain|ip": the first.
    match (of_part(first), of_part(second)) {
        (Some(k), _) => Some((k, 0)),
        (None, Some(k)) => Some((k, 1)),
        _ => None,
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn created_of(event: &Value, place: &str) -> Result<Option<time::OffsetDateTime>, ImportError> {
    if let Some(seconds) = text_of(&event["timestamp"]) {
        let seconds: i64 = seconds.parse().map_err(|_| ImportError::Malformed {
            place: format!("{place}.timestamp"),
            reason: format!("{seconds:?} is not a Unix time in seconds"),
        })?;
        return Ok(time::OffsetDateTime::from_unix_timestamp(seconds).ok());
    }
    if let Some(date) = event["date"].as_str() {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let day = time::Date::parse(date, &format).map_err(|_| ImportError::Malformed {
            place: format!("{place}.date"),
            reason: format!("{date:?} is not a date (2016-08-29)"),
        })?;
        return Ok(Some(day.midnight().assume_utc()));
    }
    Ok(None)
}

/// Reads MISP event JSON: one report per event.
pub fn import_events(
    value: &Value,
    us: &OrgPublicKey,
    default_tlp: Tlp,
) -> Result<Imported, ImportError> {
    let events = events(value);
    let mut imported = Imported {
        format: SourceFormat::Misp,
        objects: events.len(),
        reports: Vec::new(),
        merged: 0,
        skipped: Vec::new(),
        accounts: Vec::new(),
    };
    for (n, event) in events.into_iter().enumerate() {
        let place = format!("Event[{n}]");
        let uuid = event["uuid"].as_str().unwrap_or_default().to_string();
        let mut notes = Vec::new();
        let mut observables = Observables::default();
        let attributes = event["Attribute"].as_array().into_iter().flatten().chain(
            event["Object"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|o| o["Attribute"].as_array().into_iter().flatten()),
        );
        for attribute in attributes {
            let misp_type = attribute["type"].as_str().unwrap_or_default();
            let Some(value) = text_of(&attribute["value"]) else {
                continue;
            };
            let what = format!("{place} attribute {misp_type} {value:?}");
            let Some((kind, part)) = kind_of(misp_type) else {
                imported.skipped.push(Skipped {
                    what,
                    why: format!("MISP type {misp_type:?} has no Cairn indicator type"),
                });
                continue;
            };
            let value = value.split('|').nth(part).unwrap_or(&value).to_string();
            let kind = if kind == IndicatorType::Ipv4 && value.contains(':') {
                IndicatorType::Ipv6
            } else if matches!(kind, IndicatorType::Ipv4 | IndicatorType::Ipv6)
                && value.contains('/')
            {
                IndicatorType::Cidr
            } else {
                kind
            };
            let value =
                if kind == IndicatorType::Asn && !value.to_ascii_uppercase().starts_with("AS") {
                    format!("AS{value}")
                } else {
                    value
                };
            let comment = attribute["comment"].as_str().unwrap_or_default();
            if let Err(why) = observables.add(kind, &value, comment) {
                imported.skipped.push(Skipped { what, why });
            }
        }
        imported.merged += observables.merged;
        let mut tlp = None;
        let mut tags = vec![format!("misp:{uuid}")];
        for tag in event["Tag"].as_array().into_iter().flatten() {
            let Some(name) = tag["name"].as_str() else {
                continue;
            };
            match name.strip_prefix("tlp:") {
                Some(label) => {
                    if let Ok(t) = label.parse::<Tlp>() {
                        tlp = tlp.max(Some(t));
                    }
                }
                // Galaxy and taxonomy tags (`misp-galaxy:banker="Gozi"`) are long; plain
                // words are kept.
                None if !name.contains('=') && !name.contains(':') => tags.push(name.to_string()),
                None => {}
            }
        }
        let severity = match text_of(&event["threat_level_id"]).as_deref() {
            Some("1") => Some(Severity::High),
            Some("2") => Some(Severity::Medium),
            Some("3") => Some(Severity::Low),
            _ => None,
        };
        let info = event["info"].as_str().unwrap_or("Untitled MISP event");
        let mut draft = ReportDraft {
            kind: Some(if observables.list.is_empty() {
                ReportKind::Advisory
            } else {
                ReportKind::Indicator
            }),
            title: fit_title(info, &mut notes),
            summary: fit_summary(
                &event["Orgc"]["name"]
                    .as_str()
                    .map(|org| format!("MISP event by {org}"))
                    .unwrap_or_default(),
                &mut notes,
            ),
            severity,
            created: created_of(event, &place)?,
            indicators: observables.list,
            tags: fit_labels(tags),
            ..ReportDraft::default()
        };
        apply_tlp(&mut draft, tlp, default_tlp, us, &mut notes);
        // MISP distribution 0 is "your organisation only".
        if text_of(&event["distribution"]).as_deref() == Some("0") && draft.tlp != Some(Tlp::Red) {
            draft.scope = Some(Scope::Organisation);
            notes.push(
                "MISP distribution \"your organisation only\": kept inside this organisation"
                    .into(),
            );
        }
        let source_id = if uuid.is_empty() { place } else { uuid };
        imported.reports.push(ImportedReport {
            sources: vec![source_id.clone()],
            source_id,
            draft,
            notes,
        });
    }
    Ok(imported)
}
