//! The node as a MISP feed at `/misp/feed/`: `manifest.json`, `hashes.csv` and one
//! `<uuid>.json` per event, so that a MISP instance adds Cairn as a feed (of format "MISP
//! Feed", with the header `Authorization: Bearer TOKEN`) with no adapter. A carried MISP event
//! is served exactly as its source sent it, once every part of its latest version is held; a
//! report written in Cairn is served as an event of its own (every version of it is the same
//! event; a retraction removes it). Reports that carry only STIX objects are not in the feed.
//!
//! The index keeps, per event, where its current version is and its manifest entry and value
//! hashes; it is brought up to date with the store at each request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_core::misp::MispEventPart;
use cairn_core::{ReportId, ReportKind};
use cairn_interop::misp::feed::{event_of_report, event_uuid, manifest_entry, value_hashes};
use cairn_store::{ReadError, Store};
use serde_json::Value;

use crate::{ApiError, AppState, Role, internal};

/// Where the current version of an event is.
#[derive(Debug, Clone)]
enum Source {
    /// Carried in these reports (arrival numbers, in part order).
    Carried(Vec<u64>),
    /// A report written in Cairn.
    Written(u64),
}

#[derive(Debug, Clone)]
struct FeedEvent {
    timestamp: i64,
    source: Source,
    manifest: Value,
    /// MD5 digests of its attribute values (16 bytes each, written in hexadecimal).
    hashes: Vec<[u8; 16]>,
}

/// The parts of one carried event version seen so far: part number → arrival number.
type Pending = BTreeMap<u32, u64>;

/// The events of the feed.
#[derive(Debug, Default)]
pub(crate) struct FeedIndex {
    cursor: u64,
    events: BTreeMap<String, FeedEvent>,
    /// Parts of carried event versions not yet all held, by uuid, version and digest.
    pending: HashMap<(String, i64, [u8; 32]), Pending>,
    /// The event each report (every version, every part) belongs to, for retractions.
    by_report: HashMap<ReportId, String>,
}

impl FeedIndex {
    /// Reads the reports stored since the last call.
    pub(crate) fn refresh(&mut self, store: &Store) -> Result<(), ReadError> {
        loop {
            let page = store.after(self.cursor, 1024)?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            self.cursor = last.seq;
            for stored in &page {
                let report = stored.report.report();
                if report.kind == ReportKind::Retraction {
                    if let Some(uuid) = report.retracts.and_then(|id| self.by_report.get(&id)) {
                        self.events.remove(uuid);
                    }
                    continue;
                }
                if let Some(sighting) = &report.sighting {
                    // Not an event of its own: a MISP sighting on the event of the report it
                    // concerns, which is given again with a later timestamp.
                    self.refresh_written(store, &sighting.concerns.report)?;
                    continue;
                }
                if let Some(part) = &report.misp_event {
                    self.by_report.insert(stored.report.id(), part.uuid.clone());
                    self.add_part(store, part, stored.seq)?;
                } else if !cairn_interop::stix::carries_objects(&stored.report) {
                    let (first, _) = store.first_version(&stored.report)?;
                    let event = written_event(store, stored, &first)?;
                    let uuid = event_uuid(&first);
                    self.by_report.insert(stored.report.id(), uuid.clone());
                    let inner = &event["Event"];
                    // Which version wins; the manifest says when the event last changed.
                    let timestamp = stored.report.report().created_ms.div_euclid(1000);
                    self.offer(
                        uuid,
                        FeedEvent {
                            timestamp,
                            source: Source::Written(stored.seq),
                            manifest: manifest_entry(inner),
                            hashes: value_hashes(inner),
                        },
                    );
                }
            }
        }
    }

    /// The arrival number of the report that is event `uuid` (its first part, for an event
    /// carried in parts).
    pub(crate) fn report_of(&self, uuid: &str) -> Option<u64> {
        match &self.events.get(uuid)?.source {
            Source::Written(seq) => Some(*seq),
            Source::Carried(seqs) => seqs.first().copied(),
        }
    }

    /// Gives the event of report `id` again, when it is the current version of an event
    /// written in Cairn: its sightings changed.
    fn refresh_written(&mut self, store: &Store, id: &ReportId) -> Result<(), ReadError> {
        let Some(uuid) = self.by_report.get(id) else {
            return Ok(());
        };
        let Some(held) = self.events.get_mut(uuid) else {
            return Ok(());
        };
        let Source::Written(seq) = held.source else {
            return Ok(());
        };
        let Some(stored) = store.get_seq(seq)? else {
            return Ok(());
        };
        if stored.report.id() != *id {
            return Ok(());
        }
        let (first, _) = store.first_version(&stored.report)?;
        let event = written_event(store, &stored, &first)?;
        let inner = &event["Event"];
        held.manifest = manifest_entry(inner);
        held.hashes = value_hashes(inner);
        Ok(())
    }

    /// Keeps `event` unless a later version of it is held.
    fn offer(&mut self, uuid: String, event: FeedEvent) {
        match self.events.get(&uuid) {
            Some(held) if held.timestamp > event.timestamp => {}
            _ => {
                self.events.insert(uuid, event);
            }
        }
    }

    fn add_part(&mut self, store: &Store, part: &MispEventPart, seq: u64) -> Result<(), ReadError> {
        let key = (part.uuid.clone(), part.timestamp, part.digest);
        if self
            .events
            .get(&part.uuid)
            .is_some_and(|held| held.timestamp > part.timestamp)
        {
            return Ok(());
        }
        let pending = self.pending.entry(key.clone()).or_default();
        pending.entry(part.part).or_insert(seq);
        if pending.len() < part.parts as usize {
            return Ok(());
        }
        let Some(pending) = self.pending.remove(&key) else {
            return Ok(());
        };
        let seqs: Vec<u64> = pending.into_values().collect();
        let Some(text) = read_event(store, &seqs)? else {
            return Ok(());
        };
        let Ok(inner) = serde_json::from_str::<Value>(&text) else {
            tracing::warn!("misp feed: carried event {} is not JSON", part.uuid);
            return Ok(());
        };
        self.offer(
            part.uuid.clone(),
            FeedEvent {
                timestamp: part.timestamp,
                source: Source::Carried(seqs),
                manifest: manifest_entry(&inner),
                hashes: value_hashes(&inner),
            },
        );
        Ok(())
    }
}

/// The text of a carried event, joined from the reports that carry its parts; `None` (logged)
/// when they do not join.
fn read_event(store: &Store, seqs: &[u64]) -> Result<Option<String>, ReadError> {
    let mut parts = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let Some(stored) = store.get_seq(*seq)? else {
            return Ok(None);
        };
        if let Some(part) = stored.report.report().misp_event.clone() {
            parts.push(part);
        }
    }
    match MispEventPart::join(&parts) {
        Ok(text) => Ok(Some(text)),
        Err(e) => {
            tracing::warn!("misp feed: {e}");
            Ok(None)
        }
    }
}

/// Brings the index up to date and runs `f` on it, on a blocking thread.
async fn with_index<T: Send + 'static>(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    f: impl FnOnce(&FeedIndex, &Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    state.authorize(headers, Role::Read)?;
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let store = state.node.store();
        let mut index = state.misp_feed.lock().unwrap_or_else(|e| e.into_inner());
        index.refresh(store).map_err(internal)?;
        f(&index, store)
    })
    .await
    .map_err(internal)?
}

fn json_response(body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `GET /misp/feed/manifest.json`: every event, by uuid, with its manifest entry.
pub(crate) async fn manifest(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    with_index(&state, &headers, |index, _| {
        let manifest: serde_json::Map<String, Value> = index
            .events
            .iter()
            .map(|(uuid, e)| (uuid.clone(), e.manifest.clone()))
            .collect();
        Ok(json_response(
            Value::Object(manifest).to_string().into_bytes(),
        ))
    })
    .await
}

/// `GET /misp/feed/hashes.csv`: `md5,event uuid` for every attribute value, as MISP reads it.
pub(crate) async fn hashes(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    with_index(&state, &headers, |index, _| {
        let mut body = String::new();
        for (uuid, e) in &index.events {
            for h in &e.hashes {
                body.push_str(&hex::encode(h));
                body.push(',');
                body.push_str(uuid);
                body.push('\n');
            }
        }
        let mut response = (StatusCode::OK, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        Ok(response)
    })
    .await
}

/// `GET /misp/feed/{uuid}.json`: one event, `{"Event": …}`.
pub(crate) async fn event(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = |what: &str| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} is not an event of this feed (see manifest.json)"),
        )
    };
    let Some(uuid) = file
        .strip_suffix(".json")
        .filter(|u| cairn_core::stix::is_uuid(u))
        .map(str::to_ascii_lowercase)
    else {
        return Err(not_found(&file));
    };
    with_index(&state, &headers, move |index, store| {
        let Some(e) = index.events.get(&uuid) else {
            return Err(not_found(&file));
        };
        match &e.source {
            Source::Carried(seqs) => {
                let text = read_event(store, seqs).map_err(internal)?.ok_or_else(|| {
                    internal(format!("carried MISP event {uuid} no longer joins"))
                })?;
                let mut body = Vec::with_capacity(text.len() + 12);
                body.extend_from_slice(b"{\"Event\":");
                body.extend_from_slice(text.as_bytes());
                body.push(b'}');
                Ok(json_response(body))
            }
            Source::Written(seq) => {
                let stored = store
                    .get_seq(*seq)
                    .map_err(internal)?
                    .ok_or_else(|| not_found(&file))?;
                let (first, _) = store.first_version(&stored.report).map_err(internal)?;
                let event = written_event(store, &stored, &first).map_err(internal)?;
                Ok(json_response(event.to_string().into_bytes()))
            }
        }
    })
    .await
}

/// The event of a report written in Cairn, with the MISP sightings of its current sightings.
fn written_event(
    store: &Store,
    stored: &cairn_store::StoredReport,
    first: &ReportId,
) -> Result<Value, ReadError> {
    let mut event = event_of_report(&stored.report, first, None);
    let sightings = store.current_sightings_of(&stored.report.id())?;
    let said: Vec<cairn_interop::misp::feed::FeedSighting<'_>> = sightings
        .iter()
        .filter_map(|s| {
            let r = s.report.report();
            r.sighting
                .as_ref()
                .map(|sighting| (s.report.id(), s.report.author(), sighting, r.created_ms))
        })
        .collect();
    cairn_interop::misp::feed::add_sightings(&mut event, &said);
    Ok(event)
}
