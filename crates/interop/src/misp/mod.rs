//! MISP event JSON (`{"Event": …}`, `{"response": [...]}` lists, lists of events, bare events)
//! as Cairn reports. Each event is carried twice: exactly as its source sent it (its JSON text,
//! so a MISP peer gets back what it sent) and in its STIX 2.1 form (`stix`), with the typed view
//! taken from the attributes flagged for detection (`to_ids`; the others are context, never
//! indicators). The report's TLP is the strictest `tlp:` tag of the event, its attributes and
//! its objects (the node's default when the event has none), and its scope the narrowest
//! distribution of any of them. An event too large for one report is cut into parts carried by
//! several reports of the same marking. `feed` serves what the node holds as a MISP feed.

pub mod feed;
mod stix;

use std::collections::HashSet;

use cairn_core::misp::MispEventPart;
use cairn_core::model::SightingKind;
use cairn_core::sighting::{SightingRequest, draft_about};
use cairn_core::stix::StixTime;
use cairn_core::{OrgPublicKey, ReportDraft, ReportKind, Scope, Severity, Tlp};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::import::{
    Account, Fate, Held, ImportError, ImportOptions, Imported, ImportedReport, Observables,
    SightedRef, SourceFormat, apply_tlp, fit_labels, fit_summary, fit_title,
};
use stix::{FormObject, Former, flag, list, seconds_of, tagged_tlp, text_of};

/// Whether JSON text is MISP event JSON: `{"Event": …}`, `{"response": [{"Event": …}]}`, a
/// list of those, or a bare event (with `info` and `Attribute`). Read without building a JSON
/// tree.
pub fn looks_like_misp(text: &str) -> bool {
    serde_json::from_str::<&RawValue>(text).is_ok_and(|root| !event_texts(root).is_empty())
}

/// The JSON texts of the events in a MISP document, in order, exactly as written.
fn event_texts(raw: &RawValue) -> Vec<&RawValue> {
    let text = raw.get().trim_start();
    if text.starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(raw.get()).unwrap_or_default();
        return items.into_iter().flat_map(event_texts).collect();
    }
    if !text.starts_with('{') {
        return Vec::new();
    }
    let map: std::collections::BTreeMap<String, &RawValue> =
        serde_json::from_str(raw.get()).unwrap_or_default();
    if let Some(event) = map.get("Event") {
        return vec![*event];
    }
    if let Some(response) = map.get("response") {
        return event_texts(response);
    }
    if map.contains_key("info") && map.contains_key("Attribute") {
        return vec![raw];
    }
    Vec::new()
}

/// The Cairn scope a MISP distribution level allows, with a note when it names something
/// Cairn does not know; `None` for "inherit" and levels that add no limit.
fn scope_of_distribution(level: &str, sharing_group: Option<&str>) -> Option<(Scope, String)> {
    Some(match level {
        "0" => (
            Scope::Organisation,
            "MISP distribution \"your organisation only\": kept inside this organisation".into(),
        ),
        "1" => (
            Scope::DirectPeers,
            "MISP distribution \"this community only\": shared with direct partners only".into(),
        ),
        "2" => (
            Scope::Community,
            "MISP distribution \"connected communities\": relayed within the community".into(),
        ),
        "4" => (
            Scope::DirectPeers,
            format!(
                "MISP distribution to the sharing group {}: shared with direct partners only (address it to a Cairn community to share it further)",
                sharing_group.map_or("of the event".into(), |n| format!("{n:?}"))
            ),
        ),
        _ => return None,
    })
}

/// The narrowest scope the distributions of an event, its attributes and objects allow.
fn narrowest_distribution(event: &Value) -> Option<(Scope, String)> {
    let sharing_group = event["SharingGroup"]["name"].as_str();
    let mut levels: Vec<String> = Vec::new();
    levels.extend(text_of(&event["distribution"]));
    for a in list(event, "Attribute") {
        levels.extend(text_of(&a["distribution"]));
    }
    for o in list(event, "Object") {
        levels.extend(text_of(&o["distribution"]));
        for a in list(o, "Attribute") {
            levels.extend(text_of(&a["distribution"]));
        }
    }
    levels
        .iter()
        .filter_map(|l| scope_of_distribution(l.trim(), sharing_group))
        .min_by_key(|(scope, _)| *scope)
}

/// An event's TLPs: its own (its tag, else `default`), the strictest anywhere in it (event,
/// attributes, objects, their attributes), and whether the event itself is tagged.
fn event_tlp(event: &Value, default: Tlp) -> (Tlp, Tlp, bool) {
    let own = tagged_tlp(event);
    let event_tlp = own.unwrap_or(default);
    let mut tlp = event_tlp;
    for a in list(event, "Attribute") {
        tlp = tlp.max(tagged_tlp(a).unwrap_or(event_tlp));
    }
    for o in list(event, "Object") {
        tlp = tlp.max(tagged_tlp(o).unwrap_or(event_tlp));
        for a in list(o, "Attribute") {
            tlp = tlp.max(tagged_tlp(a).unwrap_or(event_tlp));
        }
    }
    (event_tlp, tlp, own.is_some())
}

/// When the event was last changed (its `timestamp`), else its `publish_timestamp`, else
/// midnight of its `date`, in Unix seconds.
fn version_of(event: &Value) -> Result<i64, String> {
    if let Some(text) = text_of(&event["timestamp"]) {
        return text
            .trim()
            .parse()
            .map_err(|_| format!("timestamp {text:?} is not a Unix time in seconds"));
    }
    if let Some(seconds) = seconds_of(&event["publish_timestamp"]).filter(|s| *s > 0) {
        return Ok(seconds);
    }
    if let Some(date) = event["date"].as_str() {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let day = time::Date::parse(date, &format)
            .map_err(|_| format!("date {date:?} is not a date (2016-08-29)"))?;
        return Ok(day.midnight().assume_utc().unix_timestamp());
    }
    Err("it has no timestamp, publish_timestamp or date: which version it is is unknown".into())
}

/// Reads MISP event JSON into reports that carry each event and its STIX 2.1 form, with an
/// account of every event.
pub fn import_events(
    text: &str,
    us: &OrgPublicKey,
    options: &ImportOptions<'_>,
) -> Result<Imported, ImportError> {
    let root: &RawValue =
        serde_json::from_str(text).map_err(|e| ImportError::NotJson(e.to_string()))?;
    let raws = event_texts(root);
    let mut imported = Imported {
        format: SourceFormat::Misp,
        objects: raws.len(),
        reports: Vec::new(),
        merged: 0,
        skipped: Vec::new(),
        accounts: Vec::new(),
    };
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    for (n, raw) in raws.into_iter().enumerate() {
        let place = format!("Event[{n}]");
        let refuse = |imported: &mut Imported, id: String, version: Option<String>, why: String| {
            imported.accounts.push(Account {
                id,
                version,
                fate: Fate::Refused(why),
            });
        };
        let event: Value = match serde_json::from_str(raw.get()) {
            Ok(event @ Value::Object(_)) => event,
            _ => {
                refuse(
                    &mut imported,
                    place,
                    None,
                    "not a MISP event (a JSON object)".into(),
                );
                continue;
            }
        };
        let Some(uuid) = event["uuid"]
            .as_str()
            .filter(|u| cairn_core::stix::is_uuid(u))
            .map(str::to_ascii_lowercase)
        else {
            refuse(
                &mut imported,
                place,
                None,
                "the event has no uuid: MISP names every event by its uuid".into(),
            );
            continue;
        };
        let seconds = match version_of(&event) {
            Ok(s) => s,
            Err(why) => {
                refuse(&mut imported, uuid, None, why);
                continue;
            }
        };
        let version = StixTime::from_millis(seconds.saturating_mul(1000));
        let version_text = version.to_string();
        if !seen.insert((uuid.clone(), seconds)) {
            imported.accounts.push(Account {
                id: uuid,
                version: Some(version_text),
                fate: Fate::Duplicate("the same version comes earlier in the source".into()),
            });
            continue;
        }
        // Sightings of an event this node holds as a report are sightings of that report; a
        // report written in Cairn is that event itself, which is not imported again.
        if let Some(concerned) = (options.sighted)(&SightedRef::MispEvent(&uuid)) {
            event_sightings(&event, &concerned, &mut imported);
            if concerned.report().misp_event.is_none() {
                imported.accounts.push(Account {
                    id: uuid,
                    version: Some(version_text),
                    fate: Fate::Duplicate(format!(
                        "this node holds the event as the report {}; its sightings were read",
                        concerned.id().short()
                    )),
                });
                continue;
            }
        }
        let head_kind = if flag(&event["published"]) {
            "report"
        } else {
            "grouping"
        };
        let new_version = match (options.held)(&format!("{head_kind}--{uuid}"), Some(version)) {
            Held::ThisVersion => {
                imported.accounts.push(Account {
                    id: uuid,
                    version: Some(version_text),
                    fate: Fate::Duplicate("this node already holds this version".into()),
                });
                continue;
            }
            Held::OtherVersions => true,
            Held::No => false,
        };
        let (event_tlp, tlp, tagged) = event_tlp(&event, options.default_tlp);
        let mut former = Former::new(&event, event_tlp, seconds);
        let form = std::mem::take(&mut former.notes);
        let objects = former.finish(&uuid);
        let first_report = imported.reports.len();
        match event_reports(
            &event,
            raw.get(),
            &uuid,
            seconds,
            (tlp, tagged),
            objects,
            us,
            options.default_tlp,
            form,
        ) {
            Ok(reports) => {
                for r in &reports {
                    imported.merged += r.1;
                }
                imported
                    .reports
                    .extend(reports.into_iter().map(|(report, _)| report));
                imported.accounts.push(Account {
                    id: uuid,
                    version: Some(version_text),
                    fate: Fate::Carried {
                        report: first_report,
                        new_version,
                    },
                });
            }
            Err(why) => refuse(&mut imported, uuid, Some(version_text), why),
        }
    }
    Ok(imported)
}

/// The reports that carry one event: its text (cut into parts when large) and its STIX form,
/// in runs that each fit one report; and how many observables were folded in each.
#[allow(clippy::too_many_arguments)]
fn event_reports(
    event: &Value,
    text: &str,
    uuid: &str,
    seconds: i64,
    (tlp, tagged): (Tlp, bool),
    objects: Vec<FormObject>,
    us: &OrgPublicKey,
    default_tlp: Tlp,
    form_notes: Vec<String>,
) -> Result<Vec<(ImportedReport, usize)>, String> {
    let budget = crate::stix::MAX_CARRIED_BYTES / 2;
    let parts = MispEventPart::cut(uuid, seconds, text, budget);
    if parts.len() > cairn_core::misp::MAX_PARTS as usize {
        return Err(format!(
            "{} bytes: larger than Cairn carries for one event",
            text.len()
        ));
    }
    // The TLP marking-definitions go with every run; the other objects in order.
    let (definitions, rest): (Vec<FormObject>, Vec<FormObject>) = objects
        .into_iter()
        .partition(|o| o.json["type"] == "marking-definition");
    let definitions: Vec<String> = definitions.iter().map(|d| d.json.to_string()).collect();
    let definition_bytes: usize = definitions.iter().map(|d| d.len() + 8).sum();
    let mut runs: Vec<(Vec<String>, Observables)> = Vec::new();
    let mut bytes = 0;
    for object in rest {
        let json = object.json.to_string();
        let size = json.len() + 8 + object.observables.encoded_len();
        if size + definition_bytes > budget {
            return Err(format!(
                "its STIX form holds an object of {} bytes ({}): larger than one report carries",
                json.len(),
                object.id
            ));
        }
        let fits = runs.last().is_some_and(|(run, obs)| {
            bytes + size + definition_bytes <= budget
                && run.len() + definitions.len() + 1 < cairn_core::stix::MAX_OBJECTS
                && obs.list.len() + object.observables.list.len()
                    <= cairn_core::limits::MAX_INDICATORS
        });
        if !fits {
            runs.push((definitions.clone(), Observables::default()));
            bytes = 0;
        }
        bytes += size;
        if let Some((run, obs)) = runs.last_mut() {
            run.push(json);
            obs.extend(object.observables);
        }
    }
    let count = parts.len().max(runs.len()).max(1);
    let mut parts = parts.into_iter();
    let mut runs = runs.into_iter();
    let info = event["info"].as_str().unwrap_or("Untitled MISP event");
    let org = event["Orgc"]["name"].as_str();
    let attributes = list(event, "Attribute").len()
        + list(event, "Object")
            .iter()
            .map(|o| list(o, "Attribute").len())
            .sum::<usize>();
    let severity = match text_of(&event["threat_level_id"]).as_deref() {
        Some("1") => Some(Severity::High),
        Some("2") => Some(Severity::Medium),
        Some("3") => Some(Severity::Low),
        _ => None,
    };
    let created = time::OffsetDateTime::from_unix_timestamp(seconds).ok();
    let mut tags = vec![format!("misp:{uuid}")];
    for name in list(event, "Tag").iter().filter_map(|t| t["name"].as_str()) {
        // Taxonomy and galaxy tags (`misp-galaxy:banker="Gozi"`) travel in the carried
        // event and as STIX labels; plain words are Cairn tags too.
        if !name.contains('=') && !name.contains(':') {
            tags.push(name.to_string());
        }
    }
    let tags = fit_labels(tags);
    let distribution = narrowest_distribution(event);
    let mut out = Vec::with_capacity(count);
    for n in 0..count {
        let mut notes = if n == 0 {
            form_notes.clone()
        } else {
            Vec::new()
        };
        let part = parts.next();
        let (stix_objects, observables) = runs.next().unwrap_or_default();
        let merged = observables.merged;
        let title = if count > 1 {
            format!("{info}, part {} of {count}", n + 1)
        } else {
            info.to_string()
        };
        let summary = format!(
            "MISP event{} with {attributes} attribute(s) and {} object(s). Carries the event as its source sent it{} and {} object(s) of its STIX 2.1 form.",
            org.map(|o| format!(" by {o}")).unwrap_or_default(),
            list(event, "Object").len(),
            match (&part, count) {
                (_, 1) => String::new(),
                (Some(p), _) => format!(" (part {} of {})", p.part + 1, p.parts),
                (None, _) => " (in other parts)".into(),
            },
            stix_objects.len(),
        );
        let mut draft = ReportDraft {
            kind: Some(if observables.list.is_empty() {
                ReportKind::Advisory
            } else {
                ReportKind::Indicator
            }),
            title: fit_title(&title, &mut notes),
            summary: fit_summary(&summary, &mut notes),
            severity,
            created: crate::import::fit_created(created, &mut notes),
            indicators: observables.list,
            tags: tags.clone(),
            stix_objects,
            misp_event: part,
            ..ReportDraft::default()
        };
        apply_tlp(
            &mut draft,
            tagged
                .then_some(tlp)
                .or(Some(tlp).filter(|t| *t != default_tlp)),
            default_tlp,
            us,
            &mut notes,
        );
        if let Some((scope, note)) = &distribution {
            let by_tlp = draft.scope.unwrap_or(tlp.default_scope());
            if *scope < by_tlp {
                draft.scope = Some(*scope);
                notes.push(note.clone());
            }
        }
        let source_id = if count > 1 {
            format!("misp-{uuid}-{seconds}-{n}")
        } else {
            format!("misp-{uuid}-{seconds}")
        };
        out.push((
            ImportedReport {
                source_id,
                sources: vec![uuid.to_string()],
                draft,
                notes,
                carried: None,
            },
            merged,
        ));
    }
    Ok(out)
}

/// The MISP sightings of an event's attributes (type 0 seen, 1 false positive, 2 expired) as
/// Cairn sightings of `concerned`, the report this node holds as that event, each signed by
/// this organisation with the MISP organisation that saw it as its source. One that names an
/// attribute the report does not carry, or says what Cairn does not know, is refused.
fn event_sightings(event: &Value, concerned: &cairn_core::VerifiedReport, imported: &mut Imported) {
    // Each attribute with the TLP its event and object tag it with, if any.
    let event_tag = tagged_tlp(event);
    let mut attributes: Vec<(&Value, Option<Tlp>)> = list(event, "Attribute")
        .iter()
        .map(|a| (a, event_tag))
        .collect();
    for object in list(event, "Object") {
        let object_tag = tagged_tlp(object).max(event_tag);
        attributes.extend(list(object, "Attribute").iter().map(|a| (a, object_tag)));
    }
    let r = concerned.report();
    let now_ms = cairn_core::when::now_ms();
    for (attribute, container_tag) in attributes {
        // A sighting is never marked weaker than the attribute it is of: at least its tags,
        // and the report's (a tag wider than the report's is refused by `draft_about`).
        let marked = tagged_tlp(attribute).max(container_tag);
        let value = attribute["value"].as_str().unwrap_or_default();
        let indicator = r.indicators.iter().find(|i| {
            i.value == value
                || cairn_core::indicator::canonical(i.kind, value).is_ok_and(|c| c == i.value)
        });
        for sighting in list(attribute, "Sighting") {
            let Some(id) = sighting["uuid"]
                .as_str()
                .filter(|u| cairn_core::stix::is_uuid(u))
                .map(str::to_ascii_lowercase)
            else {
                continue;
            };
            if sighting["source"]
                .as_str()
                .is_some_and(|s| s.starts_with(feed::CAIRN_SOURCE))
            {
                // Given by a Cairn feed for a Cairn sighting, which travels as itself.
                continue;
            }
            let seconds = seconds_of(&sighting["date_sighting"]);
            let mut refuse = |why: String| {
                imported.accounts.push(Account {
                    id: id.clone(),
                    version: None,
                    fate: Fate::Refused(why),
                });
            };
            let kind = match text_of(&sighting["type"]).as_deref().unwrap_or("0") {
                "0" => SightingKind::Seen,
                "1" => SightingKind::FalsePositive,
                "2" => SightingKind::Expired,
                other => {
                    refuse(format!(
                        "a MISP sighting of type {other:?}: Cairn reads 0 (sighting), 1 (false positive) and 2 (expiration)"
                    ));
                    continue;
                }
            };
            let Some(indicator) = indicator else {
                refuse(format!(
                    "a sighting of {value:?}, which the report {} held here does not carry",
                    concerned.id().short()
                ));
                continue;
            };
            let at_ms = seconds.map(|s| s.saturating_mul(1000));
            let organisation = sighting["Organisation"]["name"]
                .as_str()
                .or(sighting["source"].as_str().filter(|s| !s.is_empty()));
            let request = SightingRequest {
                indicator: Some(format!("{}:{}", indicator.kind, indicator.value)),
                last_seen: at_ms
                    .filter(|_| kind == SightingKind::Seen)
                    .map(cairn_core::when::rfc3339),
                source: Some(match organisation {
                    Some(name) => format!("MISP sighting by {name}"),
                    None => "MISP sighting".to_string(),
                }),
                tlp: marked,
                ..SightingRequest::of(kind)
            };
            let written_ms = at_ms.map_or(now_ms, |ms| ms.min(now_ms));
            match draft_about(r, concerned.id(), concerned.author(), &request, written_ms) {
                Ok(mut draft) => {
                    // The sighting's own source first (the report's tags follow, as many
                    // as fit): an import finds what it stored before by the first tag.
                    draft.tags.insert(0, format!("misp:{id}"));
                    draft.tags.truncate(cairn_core::limits::MAX_LABELS);
                    imported.accounts.push(Account {
                        id: id.clone(),
                        version: seconds
                            .map(|s| StixTime::from_millis(s.saturating_mul(1000)).to_string()),
                        fate: Fate::Carried {
                            report: imported.reports.len(),
                            new_version: false,
                        },
                    });
                    imported.reports.push(ImportedReport {
                        source_id: id.clone(),
                        sources: vec![id],
                        draft,
                        notes: Vec::new(),
                        carried: None,
                    });
                }
                Err(e) => refuse(format!(
                    "a sighting of the report {} held here, not taken: {e}",
                    concerned.id().short()
                )),
            }
        }
    }
}
