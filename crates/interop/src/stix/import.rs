//! STIX 2.1 as Cairn reports that carry the objects themselves. Every object of a bundle, a
//! TAXII envelope, a bare list or a single object is carried exactly as it was sent (its JSON
//! text, byte for byte) in a report of its own TLP marking: objects without one take the
//! default TLP, a relationship or sighting is at least as strict as the objects it connects,
//! and a report object never pulls the objects it refers to into its own marking. Objects of
//! one marking are split, in the order they came, into reports of bounded size, each object
//! whole; marking-definitions travel with every report whose objects refer to them. Each report
//! gets a typed view derived from what it carries (title, kind, the observables of its
//! indicators and the CVEs of its vulnerabilities), and every source object is accounted for:
//! carried (new, or a new version), a duplicate, or refused with the reason.

use std::collections::{BTreeMap, HashMap, HashSet};

use cairn_core::model::SightingKind;
use cairn_core::sighting::{SightingRequest, draft_about};
use cairn_core::stix::{ObjectHeader, read_header_with};
use cairn_core::{Indicator, IndicatorType, OrgPublicKey, ReportDraft, ReportKind, Tlp};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::object::{Scalar, StixObject};
use crate::import::SightedRef;
use crate::import::{
    Account, Fate, Held, ImportError, ImportOptions, Imported, ImportedReport, Observables,
    SourceFormat, apply_tlp, fit_labels, fit_summary, fit_title,
};

fn malformed(place: impl Into<String>, reason: impl Into<String>) -> ImportError {
    ImportError::Malformed {
        place: place.into(),
        reason: reason.into(),
    }
}

/// At most about this many bytes of carried objects (and the observables derived from them)
/// in one report: a signed report is at most `cairn_core::limits::MAX_ENVELOPE_BYTES`, and its
/// title, summary and tags take the rest.
pub const MAX_CARRIED_BYTES: usize = 960 * 1024;

/// The longest summary of a report that carries objects.
const MAX_CARRIED_SUMMARY: usize = 16 * 1024;

/// A bundle, a TAXII envelope or a single object: what tells them apart.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Shape<'a> {
    #[serde(rename = "type", borrow)]
    kind: Scalar<'a>,
    #[serde(borrow)]
    id: Scalar<'a>,
    #[serde(borrow)]
    spec_version: Scalar<'a>,
    #[serde(borrow)]
    objects: Option<&'a RawValue>,
}

/// A bundle or a TAXII envelope with its list of objects, read in one pass.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Listing<'a> {
    #[serde(rename = "type", borrow)]
    kind: Scalar<'a>,
    #[serde(borrow)]
    spec_version: Scalar<'a>,
    #[serde(borrow)]
    objects: Option<Vec<&'a RawValue>>,
}

/// What kind of STIX text a JSON document is, if it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StixShape {
    /// `{"type": "bundle", "objects": [...]}`.
    Bundle,
    /// A TAXII envelope: `{"objects": [...]}` with no type.
    Envelope,
    /// `[{"type": ..., "id": ...}, ...]`.
    List,
    /// One object: `{"type": ..., "id": "type--..."}`.
    Object,
}

/// Which STIX shape JSON text has; `None` when it is JSON but not STIX; an error when it is not
/// JSON at all.
pub(crate) fn shape_of(text: &[u8]) -> Result<Option<StixShape>, ImportError> {
    let first = text
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied()
        .unwrap_or(b' ');
    if first == b'[' {
        let items: Vec<&RawValue> =
            serde_json::from_slice(text).map_err(|e| ImportError::NotJson(e.to_string()))?;
        let stix = items.first().is_some_and(|item| {
            serde_json::from_str::<Shape<'_>>(item.get()).is_ok_and(|s| {
                s.kind.text().is_some() && s.id.text().is_some_and(|i| i.contains("--"))
            })
        });
        return Ok(stix.then_some(StixShape::List));
    }
    let shape: Shape<'_> = match serde_json::from_slice(text) {
        Ok(shape) => shape,
        Err(e) if e.is_data() => return Ok(None),
        Err(e) => return Err(ImportError::NotJson(e.to_string())),
    };
    Ok(match (shape.kind.text(), shape.id.text()) {
        (Some("bundle"), _) => Some(StixShape::Bundle),
        (Some(kind), Some(id)) if id.starts_with(kind) && id[kind.len()..].starts_with("--") => {
            Some(StixShape::Object)
        }
        (None, _) if shape.objects.is_some() => Some(StixShape::Envelope),
        _ => None,
    })
}

/// The objects of a bundle, envelope, list or single object, as JSON text, and the bundle's
/// `spec_version` when it says one.
fn read_objects(text: &[u8]) -> Result<(Vec<&RawValue>, Option<String>), ImportError> {
    let not_json = |e: serde_json::Error| ImportError::NotJson(e.to_string());
    // A bundle or an envelope, read in one pass: the usual case.
    if let Ok(listing) = serde_json::from_slice::<Listing<'_>>(text)
        && let Some(objects) = listing.objects
        && matches!(listing.kind.text(), None | Some("bundle"))
    {
        return Ok((objects, listing.spec_version.text().map(str::to_string)));
    }
    match shape_of(text)? {
        Some(StixShape::List) => Ok((serde_json::from_slice(text).map_err(not_json)?, None)),
        Some(StixShape::Object) => {
            Ok((vec![serde_json::from_slice(text).map_err(not_json)?], None))
        }
        Some(StixShape::Bundle | StixShape::Envelope) | None => {
            let shape: Shape<'_> = serde_json::from_slice(text).map_err(|e| {
                if e.is_data() {
                    malformed("bundle", format!("not a JSON object: {e}"))
                } else {
                    not_json(e)
                }
            })?;
            let no_list = || malformed("bundle", "it has no \"objects\" list");
            let objects = shape.objects.ok_or_else(no_list)?;
            let list: Vec<&RawValue> =
                serde_json::from_str(objects.get()).map_err(|_| no_list())?;
            Ok((list, shape.spec_version.text().map(str::to_string)))
        }
    }
}

/// A source object read, in source order.
struct Read<'a> {
    account: usize,
    json: &'a str,
    header: ObjectHeader<'a>,
    object: StixObject<'a>,
    /// Whether it is to be carried (not held already).
    carry: bool,
    new_version: bool,
}

/// A source object on its way into a report.
struct Item<'a> {
    json: &'a str,
    header: ObjectHeader<'a>,
    object: StixObject<'a>,
    account: usize,
    carry: bool,
    new_version: bool,
    /// The TLP it travels under.
    tlp: Tlp,
    /// The TLP its own markings give it, if any.
    marked: Option<Tlp>,
    /// What it adds to a report: its JSON and the observables derived from it.
    bytes: usize,
    observables: Observables,
}

/// The id a JSON text that is not a STIX object Cairn can carry says it has, for messages.
fn guess_id(json: &str) -> Option<String> {
    let shape: Shape<'_> = serde_json::from_str(json).ok()?;
    shape.id.text().map(str::to_string)
}

/// Reads STIX 2.1 (a bundle, a TAXII envelope, a bare list of objects or one object) from JSON
/// text into reports that carry the objects, with an account of every object.
pub fn import_bundle(
    text: &[u8],
    us: &OrgPublicKey,
    options: &ImportOptions<'_>,
) -> Result<Imported, ImportError> {
    let (raws, bundle_spec) = read_objects(text)?;
    let mut accounts: Vec<(String, Option<String>, Option<Fate>)> = Vec::with_capacity(raws.len());
    let mut read: Vec<Read<'_>> = Vec::with_capacity(raws.len());
    let mut seen: HashSet<(String, Option<i128>)> = HashSet::with_capacity(raws.len());
    for (i, raw) in raws.iter().enumerate() {
        let json = raw.get();
        let (header, object) = match read_header_with::<StixObject<'_>>(json) {
            Ok(read) => read,
            Err(why) => {
                let id = guess_id(json).unwrap_or_else(|| format!("objects[{i}]"));
                accounts.push((id, None, Some(Fate::Refused(why))));
                continue;
            }
        };
        let version = header.version();
        let account = accounts.len();
        accounts.push((header.id.to_string(), version.map(|v| v.to_string()), None));
        let spec = header
            .spec_version
            .as_deref()
            .or(bundle_spec.as_deref().filter(|_| header.created.is_some()));
        if let Some(spec) = spec.filter(|s| *s != "2.1") {
            accounts[account].2 = Some(Fate::Refused(format!(
                "a STIX {spec} object: Cairn carries STIX 2.1"
            )));
            continue;
        }
        if json.len() + 8 > MAX_CARRIED_BYTES {
            accounts[account].2 = Some(Fate::Refused(format!(
                "{} bytes: larger than one signed report can carry ({MAX_CARRIED_BYTES} bytes)",
                json.len()
            )));
            continue;
        }
        if !seen.insert((header.id.to_string(), version.map(|v| v.nanos()))) {
            accounts[account].2 = Some(Fate::Duplicate(
                "the same version comes earlier in the source".into(),
            ));
            continue;
        }
        let (carry, new_version) = match (options.held)(&header.id, version) {
            Held::ThisVersion => {
                accounts[account].2 = Some(Fate::Duplicate(
                    "this node already holds this version".into(),
                ));
                (false, false)
            }
            Held::OtherVersions => (true, true),
            Held::No => (true, false),
        };
        read.push(Read {
            account,
            json,
            header,
            object,
            carry,
            new_version,
        });
    }
    // Markings: the TLP each marking-definition of the source defines, and each object's.
    let defined: HashMap<String, Tlp> = read
        .iter()
        .filter_map(|r| r.header.defines_tlp.map(|t| (r.header.id.to_string(), t)))
        .collect();
    let definitions: HashSet<String> = read
        .iter()
        .filter(|r| r.header.kind == "marking-definition")
        .map(|r| r.header.id.to_string())
        .collect();
    let lookup = |id: &str| defined.get(id).copied();
    let marked_tlp = |h: &ObjectHeader<'_>| h.tlp(&lookup);
    // Unmarked objects, and those whose markings name a definition neither well known nor in
    // the source (which could be a TLP marking), are at least the default.
    let own_tlp: HashMap<String, Tlp> = read
        .iter()
        .map(|r| {
            let h = &r.header;
            let unknown = h.markings.iter().any(|m| {
                cairn_core::stix::tlp_of_marking_id(m).is_none() && !definitions.contains(&**m)
            });
            let tlp = match marked_tlp(h) {
                Some(t) if unknown => t.max(options.default_tlp),
                Some(t) => t,
                None => options.default_tlp,
            };
            (h.id.to_string(), tlp)
        })
        .collect();
    let referenced: HashSet<String> = read
        .iter()
        .filter(|r| r.carry)
        .flat_map(|r| r.header.markings.iter())
        .filter(|m| definitions.contains(&***m))
        .map(|m| m.to_string())
        .collect();
    // The TLP each object travels under: its own, and for a relationship or sighting at least
    // that of what it connects.
    let travels: Vec<Tlp> = read
        .iter()
        .map(|r| {
            let mut tlp = own_tlp
                .get(&*r.header.id)
                .copied()
                .unwrap_or(options.default_tlp);
            if matches!(&*r.header.kind, "relationship" | "sighting") {
                for id in r.object.connects() {
                    if let Some(other) = own_tlp.get(id) {
                        tlp = tlp.max(*other);
                    }
                }
            }
            tlp
        })
        .collect();
    // Each group is sized once: an item is large, and growing a list of them copies them all.
    let mut counts: BTreeMap<Tlp, usize> = BTreeMap::new();
    for (r, tlp) in read.iter().zip(&travels) {
        if r.carry && !referenced.contains(&*r.header.id) {
            *counts.entry(*tlp).or_default() += 1;
        }
    }
    let mut groups: BTreeMap<Tlp, Vec<Item<'_>>> = counts
        .into_iter()
        .map(|(tlp, count)| (tlp, Vec::with_capacity(count)))
        .collect();
    let mut shared: HashMap<String, Item<'_>> = HashMap::new();
    let mut merged = 0;
    let mut sightings: Vec<(usize, bool, ImportedReport)> = Vec::new();
    for (r, tlp) in read.into_iter().zip(travels) {
        let is_shared = referenced.contains(&*r.header.id);
        if !r.carry && !is_shared {
            continue;
        }
        if r.carry && !r.header.revoked && &*r.header.kind == "sighting" {
            match sighting_of_held(&r, marked_tlp(&r.header), options) {
                Some(Ok(report)) => {
                    sightings.push((r.account, r.new_version, report));
                    continue;
                }
                Some(Err(why)) => {
                    accounts[r.account].2 = Some(Fate::Refused(why));
                    continue;
                }
                None => {}
            }
        }
        let mut observables = Observables::default();
        if r.carry && !r.header.revoked && matches!(&*r.header.kind, "indicator" | "vulnerability")
        {
            // The typed view, which Cairn indexes and correlates; an object that gives no
            // observable Cairn has a type for is carried all the same.
            let _ = add_observables(
                &r.header.kind,
                &r.object,
                &member_description(&r.object),
                &mut observables,
            );
        }
        merged += observables.merged;
        let item = Item {
            bytes: r.json.len() + 8 + observables.encoded_len(),
            marked: marked_tlp(&r.header),
            json: r.json,
            object: r.object,
            account: r.account,
            carry: r.carry,
            new_version: r.new_version,
            tlp,
            observables,
            header: r.header,
        };
        if is_shared {
            shared.insert(item.header.id.to_string(), item);
        } else {
            groups.entry(tlp).or_default().push(item);
        }
    }
    let mut reports = Vec::new();
    /// Splits the items of one TLP into reports, each added to `reports`.
    fn place<'a>(
        mut items: Vec<Item<'a>>,
        shared: &HashMap<String, Item<'a>>,
        tlp: Tlp,
        us: &OrgPublicKey,
        accounts: &mut [(String, Option<String>, Option<Fate>)],
        reports: &mut Vec<ImportedReport>,
    ) {
        let parts = split(&items, shared, tlp);
        let count = parts.len();
        for (n, part) in parts.into_iter().enumerate() {
            let index = reports.len();
            reports.push(chunk_report(
                &mut items[part],
                shared,
                tlp,
                (n + 1, count),
                us,
                accounts,
                index,
            ));
        }
    }
    for (tlp, items) in groups {
        place(items, &shared, tlp, us, &mut accounts, &mut reports);
    }
    // Definitions to carry that went with no report are carried on their own.
    let mut leftovers: BTreeMap<Tlp, Vec<Item<'_>>> = BTreeMap::new();
    let mut left: Vec<Item<'_>> = shared
        .into_values()
        .filter(|item| item.carry && accounts[item.account].2.is_none())
        .collect();
    left.sort_by_key(|item| item.account);
    for item in left {
        leftovers.entry(item.tlp).or_default().push(item);
    }
    for (tlp, items) in leftovers {
        place(items, &HashMap::new(), tlp, us, &mut accounts, &mut reports);
    }
    for (account, new_version, report) in sightings {
        accounts[account].2 = Some(Fate::Carried {
            report: reports.len(),
            new_version,
        });
        reports.push(report);
    }
    let accounts = accounts
        .into_iter()
        .map(|(id, version, fate)| Account {
            id,
            version,
            fate: fate.unwrap_or_else(|| Fate::Refused("placed in no report".into())),
        })
        .collect();
    Ok(Imported {
        format: SourceFormat::Stix,
        objects: raws.len(),
        reports,
        merged,
        skipped: Vec::new(),
        accounts,
    })
}

/// A STIX sighting of a report this node holds, as a Cairn sighting of that report signed by
/// this organisation (`source` naming the STIX sighting unless Cairn exported it), marked like
/// the report unless its own marking is stricter (a wider one is refused, as for any
/// sighting); `None` when what it is a sighting of is not held here, and it is carried as is.
fn sighting_of_held(
    r: &Read<'_>,
    marked: Option<Tlp>,
    options: &ImportOptions<'_>,
) -> Option<Result<ImportedReport, String>> {
    let of = r.object.sighting_of_ref.text()?;
    let id = r.header.id.to_string();
    let said: serde_json::Value = match r.object.x_cairn_sighting {
        None => serde_json::Value::Null,
        Some(raw) => match serde_json::from_str(raw.get()) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                return Some(Err(format!(
                    "{}: not an object",
                    crate::stix::SIGHTING_PROPERTY
                )));
            }
        },
    };
    let from_cairn = said.is_object();
    let named = match said["report"].as_str() {
        None => None,
        Some(text) => match text.parse::<cairn_core::ReportId>() {
            Ok(named) => Some(named),
            Err(e) => {
                return Some(Err(format!(
                    "{}.report: {e}",
                    crate::stix::SIGHTING_PROPERTY
                )));
            }
        },
    };
    let concerned = (options.sighted)(&SightedRef::Stix {
        stix_id: of,
        report: named,
    })?;
    let text = |key: &str| said[key].as_str().map(str::to_string);
    let kind = match said["kind"].as_str() {
        Some(k) => match k.parse::<SightingKind>() {
            Ok(kind) => kind,
            Err(e) => {
                return Some(Err(format!("{}.kind: {e}", crate::stix::SIGHTING_PROPERTY)));
            }
        },
        None if r
            .object
            .x_opencti_negative
            .is_some_and(|v| v.get().trim() == "true") =>
        {
            SightingKind::FalsePositive
        }
        None => SightingKind::Seen,
    };
    let indicator = text("indicator").or_else(|| {
        indicator_exported_as(&concerned, of).map(|i| format!("{}:{}", i.kind, i.value))
    });
    let count = r.object.count.number().map(|n| {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        // A sighting that says it was seen says at least once.
        if kind == SightingKind::Seen {
            n.max(1)
        } else {
            n
        }
    });
    let observed = said["observed"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let description = r.object.description.text().map(str::to_string);
    let request = SightingRequest {
        indicator,
        count,
        first_seen: r.object.first_seen.text().map(str::to_string),
        last_seen: r.object.last_seen.text().map(str::to_string),
        place: text("where"),
        observed,
        source: if from_cairn {
            text("source")
        } else {
            Some(format!("STIX sighting {id}"))
        },
        comment: if from_cairn {
            text("comment")
        } else {
            description
        },
        tlp: marked,
        ..SightingRequest::of(kind)
    };
    // Written when the source says, never later than now (so that the same sighting signs into
    // the same report each time it is imported).
    let now_ms = cairn_core::when::now_ms();
    let written_ms = r
        .header
        .version()
        .and_then(|t| i64::try_from(t.nanos() / 1_000_000).ok())
        .map_or(now_ms, |ms| ms.min(now_ms));
    let drafted = draft_about(
        concerned.report(),
        concerned.id(),
        concerned.author(),
        &request,
        written_ms,
    );
    Some(match drafted {
        Ok(mut draft) => {
            // The sighting's own source first (the report's tags follow, as many as fit): an
            // import finds what it stored before by the first tag.
            draft.tags.insert(0, format!("stix:{id}"));
            draft.tags.truncate(cairn_core::limits::MAX_LABELS);
            Ok(ImportedReport {
                source_id: id.clone(),
                sources: vec![id],
                draft,
                notes: Vec::new(),
                carried: None,
            })
        }
        Err(e) => Err(format!(
            "a sighting of the report {} held here, not taken: {e}",
            concerned.id().short()
        )),
    })
}

/// The indicator of `report` that its STIX export (or the STIX objects it carries) gives the
/// id `stix_id`, if any.
fn indicator_exported_as(report: &cairn_core::VerifiedReport, stix_id: &str) -> Option<Indicator> {
    let r = report.report();
    if crate::stix::carries_objects(report) {
        let object: serde_json::Value = r
            .stix_objects
            .iter()
            .filter_map(|json| serde_json::from_str::<serde_json::Value>(json).ok())
            .find(|o| o["id"] == stix_id && o["type"] == "indicator")?;
        return indicators_in_pattern(object["pattern"].as_str().unwrap_or_default())
            .into_iter()
            .find(|named| {
                r.indicators
                    .iter()
                    .any(|i| i.kind == named.kind && i.value == named.value)
            });
    }
    let version = report.id().to_string();
    crate::stix::export_units(&r.indicators)
        .into_iter()
        .find(|(n, members)| {
            let kind = if crate::stix::file_pattern(members).is_some() {
                "indicator"
            } else {
                "vulnerability"
            };
            super::export::derived_stix_id(kind, &format!("{version}/{n}")) == stix_id
        })
        .map(|(_, members)| members[0].bare())
}

/// The marking-definitions of `shared` that `item` refers to and that may travel under `tlp`.
fn definitions_for<'s, 'i, 'a>(
    item: &'i Item<'a>,
    shared: &'s HashMap<String, Item<'a>>,
    tlp: Tlp,
) -> impl Iterator<Item = (&'s str, &'s Item<'a>)> + use<'s, 'i, 'a> {
    item.header.markings.iter().filter_map(move |m| {
        let (id, definition) = shared.get_key_value(&**m)?;
        definition
            .marked
            .is_none_or(|t| t <= tlp)
            .then_some((id.as_str(), definition))
    })
}

/// Splits objects of one TLP into runs that each fit one report, in their order, counting the
/// marking-definitions each run must carry with it: the range of `items` each run takes.
fn split<'a>(
    items: &[Item<'a>],
    shared: &HashMap<String, Item<'a>>,
    tlp: Tlp,
) -> Vec<std::ops::Range<usize>> {
    let mut parts: Vec<std::ops::Range<usize>> = Vec::new();
    let (mut bytes, mut observables) = (0, 0);
    let mut carried_definitions: HashSet<&str> = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let extra: usize = definitions_for(item, shared, tlp)
            .filter(|(id, _)| !carried_definitions.contains(id))
            .map(|(_, d)| d.bytes)
            .sum();
        let fits = parts.last().is_some_and(|part| {
            bytes + item.bytes + extra <= MAX_CARRIED_BYTES
                && part.len() + carried_definitions.len() + 1 < cairn_core::stix::MAX_OBJECTS
                && observables + item.observables.list.len() <= cairn_core::limits::MAX_INDICATORS
        });
        if !fits {
            parts.push(i..i);
            (bytes, observables) = (0, 0);
            carried_definitions.clear();
        }
        for (id, d) in definitions_for(item, shared, tlp) {
            if carried_definitions.insert(id) {
                bytes += d.bytes;
            }
        }
        bytes += item.bytes;
        observables += item.observables.list.len();
        if let Some(part) = parts.last_mut() {
            part.end = i + 1;
        }
    }
    parts
}

/// Types that say who, how or under which rules rather than what: they do not decide a
/// report's kind.
fn is_context(kind: &str) -> bool {
    matches!(
        kind,
        "marking-definition"
            | "extension-definition"
            | "language-content"
            | "identity"
            | "location"
            | "relationship"
            | "sighting"
            | "note"
            | "opinion"
            | "report"
            | "grouping"
    )
}

/// The report kind of what a part carries: its report object's, else the one kind of thing it
/// holds, else an advisory.
fn kind_of_part(part: &[Item<'_>]) -> ReportKind {
    let reports: Vec<&Item<'_>> = part.iter().filter(|i| i.header.kind == "report").collect();
    if let [one] = reports[..] {
        return kind_of_report(&one.object);
    }
    if part.iter().any(|i| i.header.kind == "incident") {
        return ReportKind::Incident;
    }
    let mut kinds = part
        .iter()
        .map(|i| &*i.header.kind)
        .filter(|k| !is_context(k))
        .map(|k| match k {
            "indicator" => Some(ReportKind::Indicator),
            "vulnerability" => Some(ReportKind::Vulnerability),
            "campaign" => Some(ReportKind::Campaign),
            "intrusion-set" | "threat-actor" => Some(ReportKind::ThreatActor),
            _ => None,
        });
    let Some(first) = kinds.next() else {
        return ReportKind::Advisory;
    };
    match first {
        Some(kind) if kinds.all(|k| k == Some(kind)) => kind,
        _ => ReportKind::Advisory,
    }
}

/// "relationship 700, attack-pattern 250, malware 50": the types a part carries, most first.
fn type_counts(part: &[Item<'_>]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for item in part {
        match counts.iter_mut().find(|(k, _)| *k == &*item.header.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((&item.header.kind, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report that carries one part: the objects (the marking-definitions they refer to
/// first), and the typed view derived from them. Everything is derived from the objects, so
/// the same objects always give the same draft and, signed with `sign_imported`, the same
/// report.
fn chunk_report<'i, 'a>(
    part: &'i mut [Item<'a>],
    shared: &'i HashMap<String, Item<'a>>,
    tlp: Tlp,
    (n, count): (usize, usize),
    us: &OrgPublicKey,
    accounts: &mut [(String, Option<String>, Option<Fate>)],
    index: usize,
) -> ImportedReport {
    let mut notes = Vec::new();
    let mut observables = Observables::default();
    for item in part.iter_mut() {
        observables.extend(std::mem::take(&mut item.observables));
    }
    let part: &'i [Item<'a>] = part;
    let mut objects: Vec<String> = Vec::with_capacity(part.len() + 2);
    let mut sources: Vec<String> = Vec::with_capacity(part.len() + 2);
    let mut digest = Sha256::new();
    let mut read: Vec<&cairn_core::stix::ObjectHeader<'_>> = Vec::with_capacity(part.len() + 2);
    let mut carry = |item: &'i Item<'a>, objects: &mut Vec<String>, sources: &mut Vec<String>| {
        read.push(&item.header);
        objects.push(item.json.to_string());
        sources.push(item.header.id.to_string());
        digest.update(item.header.id.as_bytes());
        digest.update([0]);
        digest.update(
            item.header
                .version()
                .map(|v| v.nanos())
                .unwrap_or(0)
                .to_be_bytes(),
        );
        if item.carry && accounts[item.account].2.is_none() {
            accounts[item.account].2 = Some(Fate::Carried {
                report: index,
                new_version: item.new_version,
            });
        }
    };
    let mut with: HashSet<&str> = HashSet::new();
    for item in part {
        for (id, definition) in definitions_for(item, shared, tlp) {
            if with.insert(id) {
                carry(definition, &mut objects, &mut sources);
            }
        }
    }
    for item in part {
        carry(item, &mut objects, &mut sources);
    }
    let carried = cairn_core::stix::CarriedRead::of_each(read.iter().copied());
    let source_id = format!("stix-{}", &hex::encode(digest.finalize())[..32]);
    // The typed view.
    let headline: Vec<&Item<'_>> = part
        .iter()
        .filter(|i| matches!(&*i.header.kind, "report" | "grouping"))
        .collect();
    let lead = match (&headline[..], part) {
        ([one], _) => Some(*one),
        ([], [one]) => Some(one),
        _ => None,
    };
    let mut title = match lead {
        Some(item) => item
            .object
            .name
            .text()
            .map(str::to_string)
            .unwrap_or_else(|| format!("STIX {}", item.header.id)),
        None => format!("{} STIX objects ({})", part.len(), type_counts(part)),
    };
    if count > 1 {
        title = format!("{title}, part {n} of {count}");
    }
    let mut summary = lead
        .and_then(|item| item.object.description.text())
        .map(|d| format!("{d}\n\n"))
        .unwrap_or_default();
    summary.push_str(&format!(
        "Carries {} STIX 2.1 object(s) exactly as their source sent them: {}.",
        objects.len(),
        type_counts(part)
    ));
    let confidence = match lead {
        Some(item) => item.object.confidence.number(),
        None => part
            .iter()
            .filter_map(|i| i.object.confidence.number())
            .min(),
    }
    .and_then(|c| u8::try_from(c).ok())
    .filter(|c| *c <= 100);
    let created = match lead {
        Some(item) => created_of(item),
        None => None,
    }
    .or_else(|| {
        part.iter()
            .filter_map(|i| i.header.version())
            .max()
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp_nanos(t.nanos()).ok())
    });

    let labels = headline
        .iter()
        .flat_map(|i| i.object.labels.iter().map(str::to_string))
        .collect::<Vec<_>>();
    let mut draft = ReportDraft {
        kind: Some(kind_of_part(part)),
        title: fit_title(&title, &mut notes),
        summary: fit_summary(
            crate::import::cut(&summary, MAX_CARRIED_SUMMARY),
            &mut notes,
        ),
        confidence,
        created: crate::import::fit_created(created, &mut notes),
        indicators: observables.list,
        tags: fit_labels(std::iter::once(format!("stix:{source_id}")).chain(labels)),
        stix_objects: objects,
        ..ReportDraft::default()
    };
    if let Some(lead) = lead {
        read_lead_extras(lead, &mut draft, &mut notes);
    }
    apply_tlp(&mut draft, Some(tlp), tlp, us, &mut notes);
    ImportedReport {
        source_id,
        sources,
        draft,
        notes,
        carried: Some(carried),
    }
}

/// What the lead object says beyond the common properties: its language (`lang`) and Cairn's
/// incident coding extension. What cannot be taken is left out with a note; the objects are
/// carried as they are either way.
fn read_lead_extras(lead: &Item<'_>, draft: &mut ReportDraft, notes: &mut Vec<String>) {
    if let Some(lang) = lead.object.lang.text() {
        match cairn_core::report::validate_language(lang) {
            Ok(language) => draft.language = language,
            Err(e) => notes.push(format!("lang of {} left out: {}", lead.header.id, e.reason)),
        }
    }
    if let Some(properties) = lead
        .header
        .extension(super::coding::DIRECTORY_ENTRY_EXTENSION)
    {
        let created_ms = draft.created.map_or(0, |t| {
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
        });
        match super::coding::read_directory_entry(properties, created_ms) {
            Ok(_) if lead.header.kind != "report" => notes.push(format!(
                "the directory entry of {} left out: Cairn reads entries from reports, not {} objects",
                lead.header.id, lead.header.kind
            )),
            Ok((entry, regions)) => {
                draft.kind = Some(ReportKind::DirectoryEntry);
                draft.regions = fit_labels(regions);
                // An entry has no observables of its own; its objects stay carried.
                draft.indicators.clear();
                draft.directory_entry = Some(entry);
                return;
            }
            Err(e) => notes.push(format!(
                "the directory entry of {} left out: {e}",
                lead.header.id
            )),
        }
    }
    let Some(properties) = lead
        .header
        .extension(super::coding::INCIDENT_CODING_EXTENSION)
    else {
        return;
    };
    match super::coding::read_coding(properties) {
        Ok(coded) if lead.header.kind == "report" => {
            draft.kind = Some(ReportKind::Incident);
            draft.paris_call_principles = coded.paris_call_principles;
            draft.sectors = fit_labels(coded.sectors);
            draft.regions = fit_labels(coded.regions);
            draft.coding = Some(coded.coding).filter(|c| !c.is_empty());
        }
        Ok(_) => notes.push(format!(
            "the incident coding of {} left out: Cairn codes reports, not {} objects",
            lead.header.id, lead.header.kind
        )),
        Err(e) => notes.push(format!(
            "the incident coding of {} left out: {e}",
            lead.header.id
        )),
    }
}

/// When the object says it was published, valid from or created, whichever it gives first in
/// that order; `None` when that one is not a timestamp.
fn created_of(item: &Item<'_>) -> Option<time::OffsetDateTime> {
    let stated = [&item.object.published, &item.object.valid_from]
        .into_iter()
        .find_map(Scalar::text);
    match stated {
        Some(text) => {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
        }
        None => item
            .header
            .created
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp_nanos(t.nanos()).ok()),
    }
}

/// The observables in a STIX pattern that Cairn carries: every `path = 'value'` comparison
/// on a known object path. Other comparisons are left out.
pub fn observables_in_pattern(pattern: &str) -> Vec<(IndicatorType, String)> {
    scan_pattern(pattern)
        .comparisons
        .into_iter()
        .map(|c| (c.kind, c.value))
        .collect()
}

/// The observables of [`observables_in_pattern`] that are valid, as canonical indicators: what a
/// carried indicator object names among a report's indicators.
pub fn indicators_in_pattern(pattern: &str) -> Vec<Indicator> {
    observables_in_pattern(pattern)
        .into_iter()
        .filter_map(|(kind, value)| Indicator::new(kind, &value, "").ok())
        .collect()
}

/// The file hashes a STIX pattern gives as of one file: those compared in one observation
/// expression (`[...]`) joined by AND alone (`[file:hashes.MD5 = '…' AND file:hashes.'SHA-256'
/// = '…']`), which one file object must match together. Hashes joined by OR, or in an
/// observation with parentheses, may be of different files and are not grouped.
pub fn files_in_pattern(pattern: &str) -> Vec<Vec<(IndicatorType, String)>> {
    let scanned = scan_pattern(pattern);
    // Each run (observation, run within it) with its hashes.
    type Run = (usize, usize);
    let mut files: Vec<(Run, Vec<(IndicatorType, String)>)> = Vec::new();
    for c in scanned.comparisons {
        if !cairn_core::correlation::is_hash(c.kind)
            || c.observation == 0
            || scanned.with_parentheses.contains(&c.observation)
        {
            continue;
        }
        let run = (c.observation, c.run);
        match files.iter_mut().find(|(r, _)| *r == run) {
            Some((_, hashes)) => hashes.push((c.kind, c.value)),
            None => files.push((run, vec![(c.kind, c.value)])),
        }
    }
    files
        .into_iter()
        .map(|(_, hashes)| hashes)
        .filter(|hashes| hashes.len() > 1)
        .collect()
}

/// One `path = value` comparison Cairn reads, and where it stands in the pattern.
struct PatternComparison {
    kind: IndicatorType,
    value: String,
    /// Which observation expression (`[...]`) holds it, from 1 (0: outside any).
    observation: usize,
    /// Which run of comparisons joined by AND within it.
    run: usize,
}

/// What [`scan_pattern`] reads of a pattern.
struct ScannedPattern {
    comparisons: Vec<PatternComparison>,
    /// Observation expressions with parentheses inside, whose runs are not simple.
    with_parentheses: std::collections::HashSet<usize>,
}

/// The structure of a pattern's text between comparison values (brackets, parentheses, OR),
/// read outside quoted strings.
#[derive(Default)]
struct PatternPlace {
    observation: usize,
    run: usize,
    in_brackets: bool,
    word: String,
    with_parentheses: std::collections::HashSet<usize>,
}

impl PatternPlace {
    fn read(&mut self, text: &str) {
        let mut quoted = false;
        let mut escaped = false;
        for c in text.chars().chain(std::iter::once(' ')) {
            if quoted {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '\'' => quoted = false,
                    _ => {}
                }
                continue;
            }
            if c.is_ascii_alphabetic() {
                self.word.push(c);
                continue;
            }
            if self.word == "OR" {
                self.run += 1;
            }
            self.word.clear();
            match c {
                '\'' => quoted = true,
                '[' => {
                    self.observation += 1;
                    self.run += 1;
                    self.in_brackets = true;
                }
                ']' => self.in_brackets = false,
                '(' | ')' if self.in_brackets => {
                    self.with_parentheses.insert(self.observation);
                }
                _ => {}
            }
        }
    }
}

fn scan_pattern(pattern: &str) -> ScannedPattern {
    let mut found = Vec::new();
    let mut place = PatternPlace::default();
    let mut rest = pattern;
    while let Some(eq) = rest.find(" = ") {
        let before = &rest[..eq];
        // After the last bracket or space (which may be a multi-byte space such as U+00A0).
        let path_start = before
            .char_indices()
            .rev()
            .find(|(_, c)| *c == '[' || *c == '(' || c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        place.read(&before[..path_start]);
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
            found.push(PatternComparison {
                kind,
                value,
                observation: place.observation,
                run: place.run,
            });
        }
        rest = &after[consumed.min(after.len())..];
    }
    place.read(rest);
    ScannedPattern {
        comparisons: found,
        with_parentheses: place.with_parentheses,
    }
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
    kind: &str,
    object: &StixObject<'_>,
    description: &str,
    into: &mut Observables,
) -> Result<(), String> {
    let candidates: Vec<(IndicatorType, String)> = match kind {
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
    let first_new = into.list.len();
    let mut candidates = candidates;
    if kind == "indicator" {
        let pattern = object.pattern.text().unwrap_or_default();
        for file in files_in_pattern(pattern) {
            candidates.retain(|c| !file.contains(c));
            problems.extend(into.add_file(&file, description));
        }
    }
    for (kind, value) in candidates {
        if let Err(e) = into.add(kind, &value, description) {
            problems.push(e);
        }
    }
    if into.list.len() + into.merged == before {
        return Err(problems.join("; "));
    }
    if kind == "indicator" {
        match validity_of(object) {
            Ok(Some((from, until))) => {
                for added in &mut into.list[first_new..] {
                    added.set_validity_ms(from, until);
                }
            }
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
    }
    Ok(())
}

/// An indicator's `valid_from` and `valid_until` (0 when absent) in ms since the Unix epoch;
/// `None` without a `valid_from`; why they are left out when they are not a window Cairn
/// carries (see [`cairn_core::indicator::check_validity`]).
fn validity_of(object: &StixObject<'_>) -> Result<Option<(i64, i64)>, String> {
    let Some(from_text) = object.valid_from.text() else {
        return Ok(None);
    };
    let ms = |field: &str, text: &str| -> Result<i64, String> {
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("{field} {text:?} left out: not an RFC 3339 time ({e})"))?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| format!("{field} {text:?} left out: out of range"))
    };
    let from = ms("valid_from", from_text)?;
    let until = match object.valid_until.text() {
        Some(text) => ms("valid_until", text)?,
        None => 0,
    };
    cairn_core::indicator::check_validity(from, until, from)
        .map_err(|(field, reason)| format!("validity left out: {field} {reason}"))?;
    Ok(Some((from, until)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_with_multi_byte_spaces_are_read_not_cut_inside_a_character() {
        // Found by the stix-import fuzz target: U+00A0 inside a path before " = ".
        assert!(observables_in_pattern("[ipv4-addr:valu\u{a0}e = '198.51.100.7']").is_empty());
        assert_eq!(
            observables_in_pattern("[\u{a0}ipv4-addr:value = '198.51.100.7']"),
            vec![(IndicatorType::Ipv4, "198.51.100.7".to_string())]
        );
    }

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
