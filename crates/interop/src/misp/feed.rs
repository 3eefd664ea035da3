//! What the node serves as a MISP feed: each event as MISP reads it (`{"Event": …}`), its
//! entry in `manifest.json` and its lines in `hashes.csv`. A carried MISP event is served as
//! its source sent it; a report written in Cairn becomes an event of its own (one attribute per
//! observable, flagged for detection, the hashes of one file in a `file` object, its TLP and
//! tags as tags, its scope as distribution).

use cairn_core::model::SightingKind;
use cairn_core::sighting::Sighting;
use cairn_core::{IndicatorType, OrgPublicKey, ReportId, Scope, Severity, VerifiedReport};
use md5::{Digest, Md5};
use serde_json::{Value, json};

use super::stix::{list, text_of};

/// The MISP event uuid of a Cairn report's version chain (the id of its first version): a
/// SHA-256 of a Cairn name, shaped as a UUIDv4, so every version is the same event.
pub fn event_uuid(first: &ReportId) -> String {
    uuid_of(&format!("report/{first}"))
}

fn uuid_of(name: &str) -> String {
    crate::stix::derived_uuid(&format!("misp/{name}")).to_string()
}

/// The manifest.json entry of an event (the inner event object): what MISP lists before it
/// fetches the event.
pub fn manifest_entry(event: &Value) -> Value {
    let mut entry = serde_json::Map::new();
    for key in [
        "info",
        "date",
        "analysis",
        "threat_level_id",
        "timestamp",
        "published",
    ] {
        if let Some(v) = event.get(key).filter(|v| !v.is_null()) {
            entry.insert(key.into(), v.clone());
        }
    }
    let orgc = &event["Orgc"];
    entry.insert(
        "Orgc".into(),
        json!({"name": orgc["name"], "uuid": orgc["uuid"]}),
    );
    let tags: Vec<Value> = list(event, "Tag")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .map(|name| json!({"name": name, "colour": "#0088cc"}))
        .collect();
    entry.insert("Tag".into(), Value::Array(tags));
    Value::Object(entry)
}

/// The MD5 digests of an event's attribute values, as MISP's hashes.csv lists them (in
/// hexadecimal): each part of an `a|b` value on its own, event and object attributes alike.
pub fn value_hashes(event: &Value) -> Vec<[u8; 16]> {
    let attributes = list(event, "Attribute").iter().chain(
        list(event, "Object")
            .iter()
            .flat_map(|o| list(o, "Attribute").iter()),
    );
    let mut out = Vec::new();
    for a in attributes {
        let Some(value) = text_of(&a["value"]) else {
            continue;
        };
        let composite = a["type"].as_str().is_some_and(|t| t.contains('|'));
        let parts: Vec<&str> = if composite {
            value.split('|').collect()
        } else {
            vec![value.as_str()]
        };
        for part in parts {
            out.push(Md5::digest(part.as_bytes()).into());
        }
    }
    out
}

/// The uuid of MISP's `file` object template (misp-objects, objects/file/definition.json).
const FILE_TEMPLATE_UUID: &str = "688c46fb-5edb-40a3-8273-1af7923e2215";

fn misp_type(kind: IndicatorType) -> (&'static str, &'static str) {
    match kind {
        IndicatorType::Ipv4 | IndicatorType::Ipv6 | IndicatorType::Cidr => {
            ("ip-dst", "Network activity")
        }
        IndicatorType::Domain => ("domain", "Network activity"),
        IndicatorType::Url => ("url", "Network activity"),
        IndicatorType::Email => ("email-src", "Payload delivery"),
        IndicatorType::Md5 => ("md5", "Payload delivery"),
        IndicatorType::Sha1 => ("sha1", "Payload delivery"),
        IndicatorType::Sha256 => ("sha256", "Payload delivery"),
        IndicatorType::Sha512 => ("sha512", "Payload delivery"),
        IndicatorType::Cve => ("vulnerability", "External analysis"),
        IndicatorType::Asn => ("AS", "Network activity"),
    }
}

/// A report written in Cairn as a MISP event (`{"Event": …}`). `first` is the id of its
/// chain's first version (the event's uuid comes from it); `author_name` names the author
/// organisation when the node knows it.
pub fn event_of_report(
    report: &VerifiedReport,
    first: &ReportId,
    author_name: Option<&str>,
) -> Value {
    let r = report.report();
    let seconds = r.created_ms.div_euclid(1000);
    let date = time::OffsetDateTime::from_unix_timestamp(seconds)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_else(|_| "1970-01-01".into());
    let uuid = event_uuid(first);
    let author = report.author().to_string();
    let org_name = author_name
        .map(str::to_string)
        .unwrap_or_else(|| format!("Cairn organisation {}", &author[..author.len().min(16)]));
    let mut tags = vec![json!({"name": format!("tlp:{}", r.tlp.as_str())})];
    tags.extend(r.tags.iter().map(|t| json!({"name": t})));
    let attribute = |n: usize, i: &cairn_core::Indicator| {
        let (kind, category) = misp_type(i.kind);
        let mut a = json!({
            "uuid": uuid_of(&format!("report/{}/indicator/{n}", report.id())),
            "type": kind,
            "category": category,
            "value": i.value,
            "to_ids": true,
            "comment": i.description,
            "timestamp": seconds.to_string(),
            "distribution": "5",
            "disable_correlation": false,
            "deleted": false,
        });
        if i.file != 0 {
            a["object_relation"] = json!(kind);
        }
        a
    };
    let mut attributes: Vec<Value> = Vec::new();
    let mut objects: Vec<Value> = Vec::new();
    for (n, members) in crate::stix::export_units(&r.indicators) {
        match members.as_slice() {
            [one] => attributes.push(attribute(n, one)),
            _ => {
                // The hashes of one file: a MISP file object.
                let of_file: Vec<Value> = r
                    .indicators
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| i.file == members[0].file)
                    .map(|(m, i)| attribute(m, i))
                    .collect();
                objects.push(json!({
                    "uuid": uuid_of(&format!("report/{}/file/{}", report.id(), members[0].file)),
                    "name": "file",
                    "meta-category": "file",
                    "description": "File object describing a file with meta-information",
                    "template_uuid": FILE_TEMPLATE_UUID,
                    "template_version": "24",
                    "timestamp": seconds.to_string(),
                    "distribution": "5",
                    "comment": "",
                    "deleted": false,
                    "Attribute": of_file,
                }));
            }
        }
    }
    let threat_level = match r.severity {
        Some(Severity::Critical | Severity::High) => "1",
        Some(Severity::Medium) => "2",
        Some(Severity::Low | Severity::Info) => "3",
        None => "4",
    };
    let distribution = match r.distribution.scope {
        Scope::Organisation => "0",
        Scope::DirectPeers => "1",
        Scope::Community => "2",
        Scope::Unrestricted => "3",
    };
    json!({"Event": {
        "uuid": uuid,
        "info": r.title,
        "date": date,
        "timestamp": seconds.to_string(),
        "published": true,
        "publish_timestamp": seconds.to_string(),
        "analysis": "2",
        "threat_level_id": threat_level,
        "distribution": distribution,
        "Orgc": {"name": org_name, "uuid": uuid_of(&format!("org/{author}"))},
        "Tag": tags,
        "Attribute": attributes,
        "Object": objects,
        "Galaxy": [],
    }})
}

/// The MISP sighting type of what a Cairn sighting says: `0` seen (and confirmed, for which
/// MISP has no type of its own), `1` false positive, `2` expired.
pub fn misp_sighting_type(kind: SightingKind) -> &'static str {
    match kind {
        SightingKind::Seen | SightingKind::Confirmed => "0",
        SightingKind::FalsePositive => "1",
        SightingKind::Expired => "2",
    }
}

/// The `source` of a MISP sighting given for a Cairn sighting: `cairn:` and the sighting's id,
/// then its source or where it was seen. An import reads such sightings as Cairn's own, not as
/// new ones.
fn misp_source(id: &ReportId, sighting: &Sighting) -> String {
    match sighting.source.as_ref().or(sighting.place.as_ref()) {
        Some(said) => format!("{CAIRN_SOURCE}{id} {said}"),
        None => format!("{CAIRN_SOURCE}{id}"),
    }
}

/// How the `source` of a MISP sighting that Cairn gave starts.
pub const CAIRN_SOURCE: &str = "cairn:";

/// One sighting as the feed gives it: the sighting report's id, its author, what it says and
/// when it was written (ms since the Unix epoch).
pub type FeedSighting<'a> = (ReportId, OrgPublicKey, &'a Sighting, i64);

/// Adds the sightings of an event's report to the event of [`event_of_report`]: each
/// attribute gets a `Sighting` list with one MISP sighting per Cairn sighting that names its
/// value, or names no indicator (a sighting of the whole report); the event's `timestamp`
/// becomes the latest sighting's when that is later, so that MISP fetches the event again.
pub fn add_sightings(event: &mut Value, sightings: &[FeedSighting<'_>]) {
    if sightings.is_empty() {
        return;
    }
    let entry = |attribute: &Value, (id, by, sighting, written_ms): &FeedSighting<'_>| {
        let attribute_uuid = attribute["uuid"].as_str().unwrap_or_default();
        let at_ms = sighting
            .last_seen_ms
            .or(sighting.first_seen_ms)
            .unwrap_or(*written_ms);
        let by = by.to_string();
        json!({
            "uuid": uuid_of(&format!("sighting/{id}/{attribute_uuid}")),
            "attribute_uuid": attribute_uuid,
            "type": misp_sighting_type(sighting.kind),
            "date_sighting": at_ms.div_euclid(1000).to_string(),
            "source": misp_source(id, sighting),
            "Organisation": {
                "name": format!("Cairn organisation {}", &by[..by.len().min(16)]),
                "uuid": uuid_of(&format!("org/{by}")),
            },
        })
    };
    let add_to = |attribute: &mut Value| {
        let value = attribute["value"].as_str().unwrap_or_default().to_string();
        let said: Vec<Value> = sightings
            .iter()
            .filter(|(_, _, s, _)| s.indicator.as_ref().is_none_or(|i| i.value == value))
            .map(|s| entry(attribute, s))
            .collect();
        if !said.is_empty() {
            attribute["Sighting"] = Value::Array(said);
        }
    };
    let inner = &mut event["Event"];
    if let Some(attributes) = inner["Attribute"].as_array_mut() {
        attributes.iter_mut().for_each(add_to);
    }
    if let Some(objects) = inner["Object"].as_array_mut() {
        for object in objects {
            if let Some(attributes) = object["Attribute"].as_array_mut() {
                attributes.iter_mut().for_each(add_to);
            }
        }
    }
    let latest = sightings
        .iter()
        .map(|(_, _, _, written_ms)| written_ms.div_euclid(1000))
        .max();
    let current = text_of(&inner["timestamp"]).and_then(|t| t.parse::<i64>().ok());
    if let (Some(latest), Some(current)) = (latest, current)
        && latest > current
    {
        inner["timestamp"] = json!(latest.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_split_composite_values() {
        let event = json!({"Attribute": [
            {"type": "domain", "value": "circl.lu"},
            {"type": "filename|md5", "value": "a.exe|0123"},
        ], "Object": [{"Attribute": [{"type": "ip-dst", "value": "1.2.3.4"}]}]});
        let hashes = value_hashes(&event);
        assert_eq!(hashes.len(), 4);
        assert_eq!(hashes[0], <[u8; 16]>::from(Md5::digest(b"circl.lu")));
        assert_eq!(hashes[1], <[u8; 16]>::from(Md5::digest(b"a.exe")));
        assert_eq!(hashes[3], <[u8; 16]>::from(Md5::digest(b"1.2.3.4")));
    }

    #[test]
    fn a_manifest_entry_names_the_event() {
        let event = json!({"info": "x", "timestamp": "17", "Orgc": {"name": "CIRCL", "uuid": "u"},
            "Tag": [{"name": "tlp:green"}], "Attribute": []});
        let entry = manifest_entry(&event);
        assert_eq!(entry["info"], "x");
        assert_eq!(entry["timestamp"], "17");
        assert_eq!(entry["Orgc"]["name"], "CIRCL");
        assert_eq!(entry["Tag"][0]["name"], "tlp:green");
    }
}
