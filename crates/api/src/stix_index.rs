//! The STIX objects of the stored reports, indexed for TAXII: for each object version, which
//! report carries it, its id, type, version, when it was added and the community its report is
//! addressed to. The objects themselves are not kept: a page is encoded (or, for carried
//! objects, copied) from the store when it is served, so memory holds about 100 bytes per
//! object version, whatever the reports contain.
//!
//! Each object version gets its own `date_added`, in microseconds, strictly increasing in the
//! order objects were added (from its report's arrival time, moved on by a microsecond where
//! objects arrived together), so a client paging with `added_after` never misses or repeats
//! one. An object version that several reports carry (two partners, a re-import) is listed
//! once, when first added; an object without a version (an SCO) is listed once, with its
//! `date_added` as version.

use std::collections::HashMap;

use cairn_core::stix::StixTime;
use cairn_interop::import::Held;
use cairn_store::{ReadError, Store, StoredReport};

/// One STIX object version in the collection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    /// Arrival number of the report version that carries it.
    pub seq: u64,
    /// Its place among that report's STIX objects.
    pub slot: u16,
    /// Its STIX type, an index into [`StixIndex::kinds`].
    pub kind: u8,
    /// The community its report is addressed to: 0 for none, else an index into
    /// [`StixIndex::communities`] plus one.
    pub community: u16,
    /// Whether the object has no version of its own (an SCO): it is then listed once.
    pub versionless: bool,
    /// Whether its report carries it as its source sent it (else the report was written in
    /// Cairn and the object is encoded from it).
    pub carried: bool,
    /// The UUID part of its STIX id.
    pub uuid: u128,
    /// Its version (`modified`, else `created`, else when it was added).
    pub version: StixTime,
    /// When it was added to the collection, in microseconds since 1970: unique, and
    /// increasing in the order entries were added.
    pub added_us: i64,
}

/// Which reports a collection holds: all of them, or those addressed to one community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    All,
    Community(String),
}

/// Which versions of each object a request wants.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum VersionWanted {
    All,
    First,
    Last,
    At(StixTime),
}

/// The filters of an objects, manifest, object or versions request.
#[derive(Debug, Clone)]
pub(crate) struct Filters {
    pub limit: usize,
    /// Where to resume: a position this index gave as `next`.
    pub next: usize,
    pub added_after: Option<i64>,
    /// `match[id]`: STIX ids as given.
    pub ids: Option<Vec<String>>,
    pub types: Option<Vec<String>>,
    pub versions: Vec<VersionWanted>,
    pub spec_versions: Option<Vec<String>>,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            limit: 100,
            next: 0,
            added_after: None,
            ids: None,
            types: None,
            versions: vec![VersionWanted::Last],
            spec_versions: None,
        }
    }
}

/// A page of object versions, in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    pub items: Vec<Entry>,
    /// Where the next page starts, when there is one.
    pub next: Option<usize>,
}

/// Every STIX object version of the stored reports, in the order they were added (an object
/// version that several reports carry, such as an identity, counts once, when first added).
#[derive(Debug, Default)]
pub(crate) struct StixIndex {
    /// The store's arrival number read up to.
    cursor: u64,
    /// The last `date_added` given, in microseconds.
    last_added_us: i64,
    entries: Vec<Entry>,
    /// Entry positions per (type, UUID), in the order added.
    by_id: HashMap<(u8, u128), Positions>,
    kinds: Vec<String>,
    communities: Vec<String>,
}

/// The entry positions of one object's versions, in the order added. Almost every object has
/// one version, kept inline: a million objects cost no million allocations.
#[derive(Debug, Clone, Default)]
enum Positions {
    /// None yet.
    #[default]
    None,
    /// One.
    One(u32),
    /// Several.
    Many(Vec<u32>),
}

impl Positions {
    fn as_slice(&self) -> &[u32] {
        match self {
            Positions::None => &[],
            Positions::One(p) => std::slice::from_ref(p),
            Positions::Many(all) => all,
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, u32> {
        self.as_slice().iter()
    }

    fn push(&mut self, position: u32) {
        *self = match std::mem::take(self) {
            Positions::None => Positions::One(position),
            Positions::One(first) => Positions::Many(vec![first, position]),
            Positions::Many(mut all) => {
                all.push(position);
                Positions::Many(all)
            }
        };
    }
}

impl<'a> IntoIterator for &'a Positions {
    type Item = &'a u32;
    type IntoIter = std::slice::Iter<'a, u32>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A STIX id's UUID part as a number; `None` if it is not a UUID.
fn parse_uuid(text: &str) -> Option<u128> {
    // Only the hyphenated form is a STIX id's UUID (the crate also reads braced, URN and
    // simple forms, which have other lengths).
    if text.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(text).ok().map(|u| u.as_u128())
}

/// A STIX id from its type and UUID.
pub(crate) fn stix_id(kind: &str, uuid: u128) -> String {
    format!(
        "{kind}--{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (uuid >> 96) as u32,
        (uuid >> 80) as u16,
        (uuid >> 64) as u16,
        (uuid >> 48) as u16,
        uuid & 0xffff_ffff_ffff
    )
}

/// A timestamp in a request, in microseconds since 1970.
pub(crate) fn parse_time_us(text: &str) -> Option<i64> {
    StixTime::parse(text).map(|t| t.micros())
}

impl StixIndex {
    /// The store's arrival number this index has read up to.
    pub fn read_up_to(&self) -> u64 {
        self.cursor
    }

    /// The STIX type of an entry.
    pub fn kind(&self, entry: &Entry) -> &str {
        self.kinds
            .get(usize::from(entry.kind))
            .map_or("", String::as_str)
    }

    /// The STIX id of an entry.
    pub fn id(&self, entry: &Entry) -> String {
        stix_id(self.kind(entry), entry.uuid)
    }

    /// The latest version of an object the collection holds.
    pub fn version_of(&self, id: &str) -> Option<StixTime> {
        let (kind, uuid) = id.split_once("--")?;
        let kind = u8::try_from(self.kinds.iter().position(|k| k == kind)?).ok()?;
        self.by_id
            .get(&(kind, parse_uuid(uuid)?))?
            .iter()
            .map(|&p| self.entries[p as usize].version)
            .max()
    }

    /// What the collection holds of an object, by id and version (`None` for an object
    /// without one): what an import leaves out or counts as a new version.
    /// The arrival number of the newest report that exports an object with id `id`.
    pub fn newest_report_of(&self, id: &str) -> Option<u64> {
        let (kind, uuid) = id.split_once("--")?;
        let kind = u8::try_from(self.kinds.iter().position(|k| k == kind)?).ok()?;
        let positions = self.by_id.get(&(kind, parse_uuid(uuid)?))?;
        positions
            .iter()
            .map(|&p| self.entries[p as usize].seq)
            .max()
    }

    pub fn held(&self, id: &str, version: Option<StixTime>) -> Held {
        let Some((kind, uuid)) = id.split_once("--") else {
            return Held::No;
        };
        let (Some(kind), Some(uuid)) = (
            self.kinds
                .iter()
                .position(|k| k == kind)
                .and_then(|k| u8::try_from(k).ok()),
            parse_uuid(uuid),
        ) else {
            return Held::No;
        };
        let Some(positions) = self.by_id.get(&(kind, uuid)) else {
            return Held::No;
        };
        let same = positions.iter().any(|&p| {
            let e = &self.entries[p as usize];
            match version {
                None => e.versionless,
                Some(v) => !e.versionless && e.version == v,
            }
        });
        if same {
            Held::ThisVersion
        } else {
            Held::OtherVersions
        }
    }

    fn kind_number(&mut self, kind: &str) -> Option<u8> {
        if let Some(k) = self.kinds.iter().position(|k| k == kind) {
            return u8::try_from(k).ok();
        }
        let k = u8::try_from(self.kinds.len()).ok()?;
        self.kinds.push(kind.to_string());
        Some(k)
    }

    fn community_number(&mut self, community: Option<&str>) -> u16 {
        let Some(name) = community else { return 0 };
        if let Some(c) = self.communities.iter().position(|c| c == name) {
            return u16::try_from(c + 1).unwrap_or(0);
        }
        match u16::try_from(self.communities.len() + 1) {
            Ok(n) => {
                self.communities.push(name.to_string());
                n
            }
            Err(_) => 0,
        }
    }

    /// Adds the objects of the reports stored since the last call, a batch at a time while
    /// `keep_going` says so.
    pub fn refresh(
        &mut self,
        store: &Store,
        keep_going: &dyn Fn() -> bool,
    ) -> Result<(), ReadError> {
        while keep_going() {
            let page = store.after(self.cursor, 1024)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            self.cursor = last.seq;
            for stored in &page {
                let first = if cairn_interop::stix::carries_objects(&stored.report) {
                    (stored.report.id(), stored.report.report().created_ms)
                } else {
                    store.first_version(&stored.report)?
                };
                let context = cairn_interop::stix::ExportContext {
                    author_name: None,
                    first,
                    sighting_of: None,
                };
                let versions = cairn_interop::stix::object_versions(&stored.report, &context);
                self.add(stored, &versions);
            }
        }
        Ok(())
    }

    /// Adds one report's objects.
    fn add(&mut self, stored: &StoredReport, objects: &[cairn_interop::stix::ObjectVersion]) {
        let carried = cairn_interop::stix::carries_objects(&stored.report);
        let community = stored.report.report().distribution.community.clone();
        let community = self.community_number(community.as_deref());
        for (slot, object) in objects.iter().enumerate() {
            let Some(uuid) = object
                .id
                .strip_prefix(object.kind.as_str())
                .and_then(|rest| rest.strip_prefix("--"))
                .and_then(parse_uuid)
            else {
                continue;
            };
            let (Some(kind), Ok(slot), Ok(position)) = (
                self.kind_number(&object.kind),
                u16::try_from(slot),
                u32::try_from(self.entries.len()),
            ) else {
                continue;
            };
            let versions = self.by_id.entry((kind, uuid)).or_default();
            let entries = &self.entries;
            let held = versions.iter().any(|&p| {
                let e = &entries[p as usize];
                match object.version {
                    None => e.versionless,
                    Some(v) => !e.versionless && e.version == v,
                }
            });
            if held {
                continue;
            }
            versions.push(position);
            let added_us = stored
                .received_ms
                .saturating_mul(1000)
                .max(self.last_added_us.saturating_add(1));
            self.last_added_us = added_us;
            self.entries.push(Entry {
                seq: stored.seq,
                slot,
                kind,
                community,
                versionless: object.version.is_none(),
                carried,
                uuid,
                version: object.version.unwrap_or(StixTime::from_micros(added_us)),
                added_us,
            });
        }
    }

    fn in_scope(&self, entry: &Entry, scope: &Scope) -> bool {
        match scope {
            Scope::All => true,
            Scope::Community(name) => {
                entry.community != 0
                    && self.communities.get(usize::from(entry.community) - 1) == Some(name)
            }
        }
    }

    /// Whether an entry is a version the request wants: first, last (within the collection),
    /// a named one, or any.
    fn version_wanted(&self, entry: &Entry, scope: &Scope, wanted: &[VersionWanted]) -> bool {
        let versions = || {
            self.by_id
                .get(&(entry.kind, entry.uuid))
                .into_iter()
                .flatten()
                .map(|&p| &self.entries[p as usize])
                .filter(|e| self.in_scope(e, scope))
                .map(|e| e.version)
        };
        wanted.iter().any(|w| match w {
            VersionWanted::All => true,
            VersionWanted::At(v) => entry.version == *v,
            VersionWanted::Last => versions().all(|v| v <= entry.version),
            VersionWanted::First => versions().all(|v| v >= entry.version),
        })
    }

    /// The object versions a request selects, one page of them.
    pub fn select(&self, scope: &Scope, f: &Filters) -> Selection {
        let types: Option<Vec<u8>> = f.types.as_ref().map(|types| {
            types
                .iter()
                .filter_map(|t| self.kinds.iter().position(|k| k == t))
                .filter_map(|k| u8::try_from(k).ok())
                .collect()
        });
        let spec_ok = f
            .spec_versions
            .as_ref()
            .is_none_or(|wanted| wanted.iter().any(|w| w == "2.1"));
        let matches = |e: &Entry| {
            spec_ok
                && f.added_after.is_none_or(|t| e.added_us > t)
                && types.as_ref().is_none_or(|t| t.contains(&e.kind))
                && self.in_scope(e, scope)
                && self.version_wanted(e, scope, &f.versions)
        };
        // With match[id], only the versions of those ids are candidates.
        let candidates: Box<dyn Iterator<Item = usize>> = match &f.ids {
            Some(ids) => {
                let mut positions: Vec<usize> = ids
                    .iter()
                    .filter_map(|id| {
                        let (kind, uuid) = id.split_once("--")?;
                        let kind = u8::try_from(self.kinds.iter().position(|k| k == kind)?).ok()?;
                        self.by_id.get(&(kind, parse_uuid(uuid)?))
                    })
                    .flatten()
                    .map(|&p| p as usize)
                    .filter(|&p| p >= f.next)
                    .collect();
                positions.sort_unstable();
                positions.dedup();
                Box::new(positions.into_iter())
            }
            None => Box::new(f.next..self.entries.len()),
        };
        let mut selection = Selection::default();
        for position in candidates {
            let entry = &self.entries[position];
            if !matches(entry) {
                continue;
            }
            if selection.items.len() == f.limit {
                selection.next = Some(position);
                break;
            }
            selection.items.push(*entry);
        }
        selection
    }
}

/// Writes the JSON of the selected object versions, as a comma-separated list: carried
/// objects copied as their source sent them, the objects of reports written in Cairn encoded
/// from the stored report. A report's shared objects (identity, marking) are encoded only when
/// one of them is wanted.
/// The carried objects of the last few reports a page was copied from: a client paging with a
/// small `limit` through a report of hundreds of objects reads it once, not once a page.
#[derive(Default)]
pub(crate) struct RecentReports {
    reports: std::collections::VecDeque<(u64, std::sync::Arc<Vec<String>>)>,
}

impl RecentReports {
    /// How many are kept (each at most about 1 MiB).
    const KEEP: usize = 4;

    fn carried(
        &mut self,
        store: &Store,
        seq: u64,
    ) -> Result<std::sync::Arc<Vec<String>>, ReadError> {
        if let Some((_, objects)) = self.reports.iter().find(|(s, _)| *s == seq) {
            return Ok(objects.clone());
        }
        let objects = store
            .stix_objects_at(seq)?
            .ok_or_else(|| ReadError::Corrupt(format!("no report {seq}")))?;
        let objects = std::sync::Arc::new(objects);
        if self.reports.len() == Self::KEEP {
            self.reports.pop_front();
        }
        self.reports.push_back((seq, objects.clone()));
        Ok(objects)
    }
}

pub(crate) fn write_objects(
    store: &Store,
    recent: &std::sync::Mutex<RecentReports>,
    items: &[Entry],
    out: &mut Vec<u8>,
) -> Result<(), ReadError> {
    let mut written = 0;
    let mut rest = items;
    let mut separate = |out: &mut Vec<u8>| {
        if written > 0 {
            out.push(b',');
        }
        written += 1;
    };
    while let Some(first) = rest.first() {
        let run = rest.iter().take_while(|e| e.seq == first.seq).count();
        let (same_report, next) = rest.split_at(run);
        rest = next;
        let changed = |e: &Entry| ReadError::Corrupt(format!("report {} changed", e.seq));
        if first.carried {
            // Copied as stored, without decoding the rest of the report.
            let carried = recent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .carried(store, first.seq)?;
            for entry in same_report {
                let json = carried
                    .get(usize::from(entry.slot))
                    .ok_or_else(|| changed(entry))?;
                separate(out);
                out.extend_from_slice(json.as_bytes());
            }
            continue;
        }
        let stored = store
            .get_seq(first.seq)?
            .ok_or_else(|| ReadError::Corrupt(format!("no report {}", first.seq)))?;
        let shared_count = cairn_interop::stix::shared_count(&stored.report);
        let context = crate::stix_export_context(store, &stored, None)?;
        let shared = if same_report
            .iter()
            .any(|e| usize::from(e.slot) < shared_count)
        {
            cairn_interop::stix::shared_objects(&stored.report, &context)
        } else {
            Vec::new()
        };
        // Only the objects on the page are built: one indicator of a report of many costs one.
        let wanted: std::collections::HashSet<usize> = same_report
            .iter()
            .filter_map(|e| usize::from(e.slot).checked_sub(shared_count))
            .collect();
        let own = cairn_interop::stix::own_objects_wanted(&stored.report, &context, |i| {
            wanted.contains(&i)
        });
        for entry in same_report {
            let slot = usize::from(entry.slot);
            let object = if slot < shared_count {
                shared.get(slot)
            } else {
                own.get(slot - shared_count)
            }
            .ok_or_else(|| changed(entry))?;
            separate(out);
            serde_json::to_writer(&mut *out, object)
                .map_err(|e| ReadError::Corrupt(format!("encoding a STIX object: {e}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_keep_every_version_in_order_one_inline() {
        let mut positions = Positions::default();
        assert!(positions.as_slice().is_empty());
        positions.push(7);
        assert!(matches!(positions, Positions::One(7)));
        for p in [9, 12, 40] {
            positions.push(p);
        }
        assert_eq!(positions.as_slice(), [7, 9, 12, 40]);
        assert_eq!((&positions).into_iter().count(), 4);
    }

    #[test]
    fn stix_ids_round_trip() {
        let id = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
        let uuid = parse_uuid(&id["indicator--".len()..]).unwrap();
        assert_eq!(stix_id("indicator", uuid), id);
        assert_eq!(parse_uuid("8e2e2d2b17d44cbf938f98ee46b3cd3f"), None);
        assert_eq!(parse_uuid("8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3g"), None);
        assert_eq!(parse_uuid("+e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"), None);
    }

    fn entry(
        index: &mut StixIndex,
        kind: &str,
        uuid: u128,
        version_ms: i64,
        community: Option<&str>,
    ) {
        let version = StixTime::from_millis(version_ms);
        let kind = index.kind_number(kind).unwrap();
        let community = index.community_number(community);
        let position = index.entries.len() as u32;
        index.by_id.entry((kind, uuid)).or_default().push(position);
        index.entries.push(Entry {
            seq: u64::from(position) + 1,
            slot: 0,
            kind,
            community,
            versionless: false,
            carried: false,
            uuid,
            version,
            added_us: 1000 + i64::from(position),
        });
    }

    #[test]
    fn pages_resume_where_they_stopped_and_versions_are_chosen() {
        let mut index = StixIndex::default();
        entry(&mut index, "report", 1, 10, Some("finance"));
        entry(&mut index, "indicator", 2, 10, None);
        entry(&mut index, "report", 1, 20, None);
        entry(&mut index, "indicator", 3, 10, Some("finance"));
        entry(&mut index, "report", 1, 15, Some("finance"));

        // Last versions, two at a time.
        let f = Filters {
            limit: 2,
            ..Filters::default()
        };
        let first = index.select(&Scope::All, &f);
        let got: Vec<_> = first
            .items
            .iter()
            .map(|e| (e.uuid, e.version.micros() / 1000))
            .collect();
        assert_eq!(got, vec![(2, 10), (1, 20)]);
        let second = index.select(
            &Scope::All,
            &Filters {
                next: first.next.unwrap(),
                ..f.clone()
            },
        );
        let got: Vec<_> = second
            .items
            .iter()
            .map(|e| (e.uuid, e.version.micros() / 1000))
            .collect();
        assert_eq!(got, vec![(3, 10)]);
        assert_eq!(second.next, None);

        // In the community, the last version of report 1 is the one addressed to it.
        let finance = Scope::Community("finance".into());
        let got: Vec<_> = index
            .select(&finance, &Filters::default())
            .items
            .iter()
            .map(|e| (e.uuid, e.version.micros() / 1000))
            .collect();
        assert_eq!(got, vec![(3, 10), (1, 15)]);

        // All versions of one id; first; a named version; a type; added_after.
        let versions = |f: Filters| -> Vec<i64> {
            index
                .select(&Scope::All, &f)
                .items
                .iter()
                .map(|e| e.version.micros() / 1000)
                .collect()
        };
        let report = stix_id("report", 1);
        let ids = Some(vec![report.clone()]);
        assert_eq!(
            versions(Filters {
                ids: ids.clone(),
                versions: vec![VersionWanted::All],
                ..Filters::default()
            }),
            vec![10, 20, 15]
        );
        assert_eq!(
            versions(Filters {
                ids: ids.clone(),
                versions: vec![
                    VersionWanted::First,
                    VersionWanted::At(StixTime::from_millis(15))
                ],
                ..Filters::default()
            }),
            vec![10, 15]
        );
        assert_eq!(
            versions(Filters {
                types: Some(vec!["indicator".into(), "campaign".into()]),
                ..Filters::default()
            }),
            vec![10, 10]
        );
        assert_eq!(
            index
                .select(
                    &Scope::All,
                    &Filters {
                        added_after: Some(1002),
                        versions: vec![VersionWanted::All],
                        ..Filters::default()
                    }
                )
                .items
                .len(),
            2
        );
        assert!(
            index
                .select(
                    &Scope::All,
                    &Filters {
                        spec_versions: Some(vec!["2.0".into()]),
                        ..Filters::default()
                    }
                )
                .items
                .is_empty()
        );
        assert!(
            index
                .select(
                    &Scope::All,
                    &Filters {
                        ids: Some(vec!["report--not-a-uuid".into(), "campaign--x".into()]),
                        ..Filters::default()
                    }
                )
                .items
                .is_empty()
        );
    }
}
