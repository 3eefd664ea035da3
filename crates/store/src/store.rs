//! The store itself: opening, ingesting in one transaction per batch, reads and queries.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cairn_core::{OrgPublicKey, ReportId, ReportKind, Tlp, VerifiedReport, VerifyError};
use cairn_proto::v1 as pb;
use prost::Message;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::keys;

/// Store format this build writes and reads.
const STORE_FORMAT: u32 = 1;
/// Longest version chain followed when deciding whether a report was retracted.
const MAX_CHAIN: usize = 256;

/// Settings of the store (the `[store]` table of a node's configuration).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Memory sled may use as page cache, in MiB.
    pub cache_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { cache_mb: 128 }
    }
}

/// Who handed this node a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Published on this node.
    Local,
    /// Imported from a file by an operator.
    Import,
    /// Received from a trusted peer.
    Peer {
        /// The peer's organisation.
        org: OrgPublicKey,
        /// Nodes the report had passed through before this one (0: straight from its author).
        hop: u32,
    },
}

/// A report as this node keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// Arrival sequence number on this node.
    pub seq: u64,
    /// When this node stored it (ms since the Unix epoch).
    pub received_ms: i64,
    /// Who handed it over.
    pub provenance: Provenance,
    /// The report.
    pub report: VerifiedReport,
}

/// What happened to one envelope of an ingest batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Newly stored under this arrival number.
    Stored {
        /// The report id.
        id: ReportId,
        /// Its arrival number.
        seq: u64,
    },
    /// Already stored; nothing changed.
    Duplicate {
        /// The report id.
        id: ReportId,
        /// Its existing arrival number.
        seq: u64,
    },
    /// Not stored: it did not verify.
    Rejected(VerifyError),
    /// Not stored: it verified but conflicts with what is stored.
    Refused {
        /// The report id.
        id: ReportId,
        /// Why.
        reason: String,
    },
}

impl IngestOutcome {
    /// The id of a stored or duplicate report.
    pub fn stored_id(&self) -> Option<ReportId> {
        match self {
            IngestOutcome::Stored { id, .. } | IngestOutcome::Duplicate { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// Where a report stands among its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    /// The latest version, not retracted.
    Current,
    /// A newer version by the same author is stored.
    SupersededBy(ReportId),
    /// The author withdrew it (this version or an earlier one) with this retraction.
    Retracted(ReportId),
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds it.
    #[error("the store at {0} is in use by another Cairn process")]
    Locked(PathBuf),
    /// Written by a newer Cairn.
    #[error(
        "the store at {path} has format {found}, newer than this Cairn understands ({supported}); upgrade Cairn"
    )]
    NewerFormat {
        /// The store.
        path: PathBuf,
        /// Its format.
        found: u32,
        /// This build's format.
        supported: u32,
    },
    /// Anything else sled reports.
    #[error("cannot open the store at {path}: {source}")]
    Storage {
        /// The store.
        path: PathBuf,
        /// What sled said.
        source: sled::Error,
    },
}

/// Why an ingest batch was not written. Nothing of the batch is stored then.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// sled failed to write or flush.
    #[error("storing reports failed: {0}")]
    Storage(#[from] sled::Error),
    /// The store holds a record it cannot read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// sled failed to read.
    #[error("reading the store failed: {0}")]
    Storage(#[from] sled::Error),
    /// A record does not decode.
    #[error("the store holds a damaged record ({0}); restore the data directory from a backup")]
    Corrupt(String),
}

/// Why a report id or id prefix could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Not hexadecimal, or too short.
    #[error("{0:?} is not a report id: give at least 8 of its hexadecimal digits")]
    BadPrefix(String),
    /// No stored report starts so.
    #[error("no report {0} in this node's store")]
    NotFound(String),
    /// Several match.
    #[error("{prefix} matches {count} reports: give more digits")]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// How many matched.
        count: usize,
    },
    /// A read failed.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Filters for [`Store::query`]. Every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportQuery {
    /// Written by this organisation.
    pub author: Option<OrgPublicKey>,
    /// Of this kind.
    pub kind: Option<ReportKind>,
    /// With this TLP label.
    pub tlp: Option<Tlp>,
    /// Carrying this tag.
    pub tag: Option<String>,
    /// Created at or after (ms).
    pub since_ms: Option<i64>,
    /// Created at or before (ms).
    pub until_ms: Option<i64>,
    /// Mentioning an indicator with this value (any type it is valid for).
    pub indicator: Option<String>,
    /// Also list superseded and retracted versions, and retractions themselves.
    pub include_history: bool,
    /// At most this many results (newest first); 0 means 100.
    pub limit: usize,
}

/// A node's durable report store.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    reports: sled::Tree,
    arrivals: sled::Tree,
    index: sled::Tree,
    meta: sled::Tree,
    ingest_lock: Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Store, OpenError> {
        let storage = |source| OpenError::Storage {
            path: path.to_path_buf(),
            source,
        };
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(config.cache_mb.saturating_mul(1 << 20))
            .open()
            .map_err(|source| match &source {
                sled::Error::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    OpenError::Locked(path.to_path_buf())
                }
                sled::Error::Io(e) if e.to_string().contains("lock") => {
                    OpenError::Locked(path.to_path_buf())
                }
                _ => storage(source),
            })?;
        let meta = db.open_tree("meta").map_err(storage)?;
        match meta.get(keys::META_FORMAT).map_err(storage)? {
            Some(v) => {
                let found = v
                    .as_ref()
                    .try_into()
                    .map(u32::from_be_bytes)
                    .unwrap_or(u32::MAX);
                if found > STORE_FORMAT {
                    return Err(OpenError::NewerFormat {
                        path: path.to_path_buf(),
                        found,
                        supported: STORE_FORMAT,
                    });
                }
            }
            None => {
                meta.insert(keys::META_FORMAT, &STORE_FORMAT.to_be_bytes())
                    .map_err(storage)?;
                db.flush().map_err(storage)?;
            }
        }
        Ok(Store {
            path: path.to_path_buf(),
            reports: db.open_tree("reports").map_err(storage)?,
            arrivals: db.open_tree("arrivals").map_err(storage)?,
            index: db.open_tree("index").map_err(storage)?,
            meta,
            db,
            ingest_lock: Mutex::new(()),
        })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Verifies a batch of envelopes (signatures in one batch) and stores the valid ones in
    /// one transaction, flushed to disk before this returns. One outcome per envelope, in order.
    pub fn ingest<B: AsRef<[u8]>>(
        &self,
        envelopes: &[B],
        provenance: Provenance,
    ) -> Result<Vec<IngestOutcome>, IngestError> {
        let verified = cairn_core::verify_batch(envelopes);
        let mut outcomes: Vec<Option<IngestOutcome>> = Vec::with_capacity(verified.len());
        let mut accepted = Vec::with_capacity(verified.len());
        for result in verified {
            match result {
                Ok(report) => {
                    accepted.push(report);
                    outcomes.push(None);
                }
                Err(e) => outcomes.push(Some(IngestOutcome::Rejected(e))),
            }
        }
        let mut written = self.insert(accepted, provenance)?.into_iter();
        Ok(outcomes
            .into_iter()
            .map(|o| {
                o.or_else(|| written.next())
                    .unwrap_or_else(|| unreachable!())
            })
            .collect())
    }

    /// Stores reports that were verified on this node, in one transaction, flushed to disk
    /// before this returns. One outcome per report, in order.
    pub fn insert(
        &self,
        reports: Vec<VerifiedReport>,
        provenance: Provenance,
    ) -> Result<Vec<IngestOutcome>, IngestError> {
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        let _writer = self
            .ingest_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let received_ms = now_ms();
        let provenance_pb = provenance_to_proto(&provenance);
        let result = (&self.reports, &self.arrivals, &self.index, &self.meta).transaction(
            |(reports_tx, arrivals_tx, index_tx, meta_tx)| {
                let mut next_seq = match meta_tx.get(keys::META_NEXT_SEQ)? {
                    Some(v) => decode_u64(&v).ok_or_else(|| {
                        ConflictableTransactionError::Abort(ReadError::Corrupt(
                            "next arrival number".into(),
                        ))
                    })?,
                    None => 1,
                };
                let mut outcomes = Vec::with_capacity(reports.len());
                let mut in_batch: BTreeMap<ReportId, (u64, OrgPublicKey)> = BTreeMap::new();
                for report in &reports {
                    let id = report.id();
                    if let Some((seq, _)) = in_batch.get(&id) {
                        outcomes.push(IngestOutcome::Duplicate { id, seq: *seq });
                        continue;
                    }
                    if let Some(existing) = reports_tx.get(id.as_bytes())? {
                        let seq = decode_record(&existing)
                            .map(|r| r.seq)
                            .map_err(ConflictableTransactionError::Abort)?;
                        outcomes.push(IngestOutcome::Duplicate { id, seq });
                        continue;
                    }
                    let body = report.report();
                    let target = body.supersedes.or(body.retracts);
                    if let Some(target) = target {
                        let target_author = match in_batch.get(&target) {
                            Some((_, author)) => Some(*author),
                            None => match reports_tx.get(target.as_bytes())? {
                                Some(bytes) => Some(
                                    author_of_record(&bytes)
                                        .map_err(ConflictableTransactionError::Abort)?,
                                ),
                                None => None,
                            },
                        };
                        if target_author.is_some_and(|a| a != report.author()) {
                            let what = if body.retracts.is_some() {
                                "retracts"
                            } else {
                                "supersedes"
                            };
                            outcomes.push(IngestOutcome::Refused {
                                id,
                                reason: format!(
                                    "it {what} report {target}, which another organisation wrote"
                                ),
                            });
                            continue;
                        }
                    }
                    let seq = next_seq;
                    next_seq += 1;
                    let record = pb::StoredReport {
                        envelope: report.envelope_bytes().to_vec(),
                        seq,
                        received_ms,
                        provenance: Some(provenance_pb.clone()),
                    };
                    reports_tx.insert(id.as_bytes(), record.encode_to_vec())?;
                    arrivals_tx.insert(&keys::seq_key(seq), id.as_bytes())?;
                    write_index(index_tx, report)?;
                    in_batch.insert(id, (seq, report.author()));
                    outcomes.push(IngestOutcome::Stored { id, seq });
                }
                meta_tx.insert(keys::META_NEXT_SEQ, &next_seq.to_be_bytes())?;
                Ok(outcomes)
            },
        );
        let outcomes = match result {
            Ok(outcomes) => outcomes,
            Err(TransactionError::Abort(e)) => return Err(IngestError::Read(e)),
            Err(TransactionError::Storage(e)) => return Err(IngestError::Storage(e)),
        };
        self.db.flush()?;
        Ok(outcomes)
    }

    /// The report with this id, if stored.
    pub fn get(&self, id: &ReportId) -> Result<Option<StoredReport>, ReadError> {
        match self.reports.get(id.as_bytes())? {
            Some(bytes) => stored_report(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The stored report whose id starts with these hexadecimal digits (at least 8).
    pub fn resolve(&self, prefix: &str) -> Result<ReportId, ResolveError> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.len() < 8 || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ResolveError::BadPrefix(prefix));
        }
        let whole_bytes = hex::decode(&prefix[..prefix.len() / 2 * 2])
            .map_err(|_| ResolveError::BadPrefix(prefix.clone()))?;
        let mut found = Vec::new();
        for item in self.reports.scan_prefix(&whole_bytes).keys() {
            let key = item.map_err(ReadError::from)?;
            if hex::encode(&key).starts_with(&prefix) {
                found.push(key);
                if found.len() > 1 {
                    break;
                }
            }
        }
        match found.as_slice() {
            [one] => ReportId::from_slice(one)
                .ok_or_else(|| ResolveError::Read(ReadError::Corrupt("report key".into()))),
            [] => Err(ResolveError::NotFound(prefix)),
            _ => Err(ResolveError::Ambiguous {
                count: self
                    .reports
                    .scan_prefix(&whole_bytes)
                    .keys()
                    .filter_map(Result::ok)
                    .filter(|k| hex::encode(k).starts_with(&prefix))
                    .count(),
                prefix,
            }),
        }
    }

    /// Up to `limit` reports that arrived after arrival number `cursor`, in arrival order.
    pub fn after(&self, cursor: u64, limit: usize) -> Result<Vec<StoredReport>, ReadError> {
        let start = keys::seq_key(cursor.saturating_add(1));
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.arrivals.range(start..).take(limit) {
            let (_, id) = item?;
            let bytes = self
                .reports
                .get(&id)?
                .ok_or_else(|| ReadError::Corrupt("arrival without its report".into()))?;
            out.push(stored_report(&bytes)?);
        }
        Ok(out)
    }

    /// How many reports are stored.
    pub fn len(&self) -> usize {
        self.reports.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }

    /// The highest arrival number given so far (0 for an empty store).
    pub fn last_seq(&self) -> Result<u64, ReadError> {
        Ok(match self.meta.get(keys::META_NEXT_SEQ)? {
            Some(v) => decode_u64(&v)
                .ok_or_else(|| ReadError::Corrupt("next arrival number".into()))?
                .saturating_sub(1),
            None => 0,
        })
    }

    /// Where a stored report stands among its versions.
    pub fn status(&self, report: &VerifiedReport) -> Result<ReportStatus, ReadError> {
        let author = report.author();
        if let Some(newer) = self.first_edge(keys::SUPERSEDED_BY, &report.id(), &author)? {
            return Ok(ReportStatus::SupersededBy(newer));
        }
        let mut current = report.id();
        let mut supersedes = report.report().supersedes;
        for _ in 0..MAX_CHAIN {
            if let Some(retraction) = self.first_edge(keys::RETRACTED_BY, &current, &author)? {
                return Ok(ReportStatus::Retracted(retraction));
            }
            let Some(previous) = supersedes else { break };
            current = previous;
            supersedes = match self.get(&previous)? {
                Some(stored) if stored.report.author() == author => {
                    stored.report.report().supersedes
                }
                _ => None,
            };
        }
        Ok(ReportStatus::Current)
    }

    /// Every stored version of the report `id` belongs to (earlier and later ones by the same
    /// author), oldest first, and the retractions that name any of them.
    pub fn history(&self, id: &ReportId) -> Result<Vec<StoredReport>, ReadError> {
        let Some(start) = self.get(id)? else {
            return Ok(Vec::new());
        };
        let author = start.report.author();
        let mut root = start.clone();
        for _ in 0..MAX_CHAIN {
            let Some(previous) = root.report.report().supersedes else {
                break;
            };
            match self.get(&previous)? {
                Some(p) if p.report.author() == author => root = p,
                _ => break,
            }
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut queue = vec![root];
        while let Some(next) = queue.pop() {
            if !seen.insert(next.report.id()) || seen.len() > MAX_CHAIN {
                continue;
            }
            for kind in [keys::SUPERSEDED_BY, keys::RETRACTED_BY] {
                for edge in self.edges(kind, &next.report.id(), &author)? {
                    if let Some(found) = self.get(&edge)? {
                        queue.push(found);
                    }
                }
            }
            out.push(next);
        }
        out.sort_by_key(|r| (r.report.report().created_ms, r.seq));
        Ok(out)
    }

    /// Reports matching every filter, newest first. Without `include_history`, only current
    /// versions are listed: superseded versions, retracted reports and retractions are not.
    pub fn query(&self, query: &ReportQuery) -> Result<Vec<StoredReport>, ReadError> {
        let limit = if query.limit == 0 { 100 } else { query.limit };
        let prefixes: Vec<Vec<u8>> = if let Some(value) = &query.indicator {
            cairn_core::indicator::search_forms(value)
                .iter()
                .map(|form| keys::prefix(keys::BY_INDICATOR, form.as_bytes()))
                .collect()
        } else if let Some(tag) = &query.tag {
            vec![keys::prefix(
                keys::BY_TAG,
                cairn_core::report::normalise_label(tag).as_bytes(),
            )]
        } else if let Some(author) = &query.author {
            vec![keys::prefix(keys::BY_AUTHOR, author.as_bytes())]
        } else if let Some(kind) = query.kind {
            vec![keys::prefix(keys::BY_KIND, &[kind.to_proto() as u8])]
        } else if let Some(tlp) = query.tlp {
            vec![keys::prefix(keys::BY_TLP, &[tlp.to_proto() as u8])]
        } else {
            vec![keys::prefix(keys::BY_TIME, &[])]
        };
        let since = keys::time_key(query.since_ms.unwrap_or(i64::MIN));
        let until = keys::time_key(query.until_ms.unwrap_or(i64::MAX));
        let mut found: Vec<StoredReport> = Vec::new();
        let mut seen = HashSet::new();
        for prefix in prefixes {
            let mut start = prefix.clone();
            start.extend_from_slice(&since);
            let mut end = prefix.clone();
            end.extend_from_slice(&until);
            end.extend_from_slice(&[0xff; 33]);
            let mut taken = 0;
            for item in self.index.range(start..end).rev() {
                let (key, _) = item?;
                let id = keys::id_of_entry(&key)
                    .ok_or_else(|| ReadError::Corrupt("index key".into()))?;
                if !seen.insert(id) {
                    continue;
                }
                let Some(stored) = self.get(&id)? else {
                    return Err(ReadError::Corrupt(format!(
                        "index names missing report {id}"
                    )));
                };
                if !self.matches(query, &stored)? {
                    continue;
                }
                found.push(stored);
                taken += 1;
                if taken >= limit {
                    break;
                }
            }
        }
        found.sort_by(|a, b| {
            (b.report.report().created_ms, b.seq).cmp(&(a.report.report().created_ms, a.seq))
        });
        found.truncate(limit);
        Ok(found)
    }

    fn matches(&self, q: &ReportQuery, stored: &StoredReport) -> Result<bool, ReadError> {
        let r = stored.report.report();
        let ok = q.author.is_none_or(|a| a == stored.report.author())
            && q.kind.is_none_or(|k| k == r.kind)
            && q.tlp.is_none_or(|t| t == r.tlp)
            && q.tag
                .as_ref()
                .is_none_or(|t| r.tags.contains(&cairn_core::report::normalise_label(t)))
            && q.indicator.as_ref().is_none_or(|v| {
                let forms = cairn_core::indicator::search_forms(v);
                r.indicators.iter().any(|i| forms.contains(&i.value))
            });
        if !ok {
            return Ok(false);
        }
        if q.include_history {
            return Ok(true);
        }
        if r.kind == ReportKind::Retraction && q.kind != Some(ReportKind::Retraction) {
            return Ok(false);
        }
        Ok(self.status(&stored.report)? == ReportStatus::Current)
    }

    fn edges(
        &self,
        kind: u8,
        from: &ReportId,
        author: &OrgPublicKey,
    ) -> Result<Vec<ReportId>, ReadError> {
        let prefix = keys::edge_prefix(kind, from, author);
        let mut out = Vec::new();
        for item in self.index.scan_prefix(&prefix).keys() {
            let key = item?;
            out.push(
                ReportId::from_slice(&key[prefix.len()..])
                    .ok_or_else(|| ReadError::Corrupt("version edge".into()))?,
            );
        }
        Ok(out)
    }

    fn first_edge(
        &self,
        kind: u8,
        from: &ReportId,
        author: &OrgPublicKey,
    ) -> Result<Option<ReportId>, ReadError> {
        let prefix = keys::edge_prefix(kind, from, author);
        match self.index.scan_prefix(&prefix).keys().next() {
            Some(key) => Ok(Some(
                ReportId::from_slice(&key?[prefix.len()..])
                    .ok_or_else(|| ReadError::Corrupt("version edge".into()))?,
            )),
            None => Ok(None),
        }
    }
}

fn write_index(
    index: &TransactionalTree,
    report: &VerifiedReport,
) -> Result<(), ConflictableTransactionError<ReadError>> {
    let id = report.id();
    let author = report.author();
    let r = report.report();
    let created = r.created_ms;
    let put = |prefix: Vec<u8>| {
        index
            .insert(keys::entry(&prefix, created, &id), &[])
            .map(|_| ())
    };
    put(keys::prefix(keys::BY_TIME, &[]))?;
    put(keys::prefix(keys::BY_AUTHOR, author.as_bytes()))?;
    put(keys::prefix(keys::BY_KIND, &[r.kind.to_proto() as u8]))?;
    put(keys::prefix(keys::BY_TLP, &[r.tlp.to_proto() as u8]))?;
    for tag in &r.tags {
        put(keys::prefix(keys::BY_TAG, tag.as_bytes()))?;
    }
    let mut values: Vec<&str> = r.indicators.iter().map(|i| i.value.as_str()).collect();
    values.sort_unstable();
    values.dedup();
    for value in values {
        put(keys::prefix(keys::BY_INDICATOR, value.as_bytes()))?;
    }
    if let Some(old) = r.supersedes {
        index.insert(keys::edge(keys::SUPERSEDED_BY, &old, &author, &id), &[])?;
    }
    if let Some(target) = r.retracts {
        index.insert(keys::edge(keys::RETRACTED_BY, &target, &author, &id), &[])?;
    }
    Ok(())
}

fn decode_u64(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

fn decode_record(bytes: &[u8]) -> Result<pb::StoredReport, ReadError> {
    pb::StoredReport::decode(bytes).map_err(|e| ReadError::Corrupt(format!("stored report: {e}")))
}

fn author_of_record(bytes: &[u8]) -> Result<OrgPublicKey, ReadError> {
    let record = decode_record(bytes)?;
    let envelope = pb::ReportEnvelope::decode(record.envelope.as_slice())
        .map_err(|e| ReadError::Corrupt(format!("stored envelope: {e}")))?;
    OrgPublicKey::from_bytes(&envelope.author_key)
        .map_err(|e| ReadError::Corrupt(format!("stored author key: {e}")))
}

fn stored_report(bytes: &[u8]) -> Result<StoredReport, ReadError> {
    let record = decode_record(bytes)?;
    let report = VerifiedReport::from_stored(&record.envelope)
        .map_err(|e| ReadError::Corrupt(format!("stored envelope: {e}")))?;
    Ok(StoredReport {
        seq: record.seq,
        received_ms: record.received_ms,
        provenance: provenance_from_proto(record.provenance.as_ref())?,
        report,
    })
}

fn provenance_to_proto(p: &Provenance) -> pb::Provenance {
    match p {
        Provenance::Local => pb::Provenance {
            source: pb::ProvenanceSource::Local as i32,
            ..Default::default()
        },
        Provenance::Import => pb::Provenance {
            source: pb::ProvenanceSource::Import as i32,
            ..Default::default()
        },
        Provenance::Peer { org, hop } => pb::Provenance {
            source: pb::ProvenanceSource::Peer as i32,
            peer_org_key: org.as_bytes().to_vec(),
            hop: *hop,
        },
    }
}

fn provenance_from_proto(p: Option<&pb::Provenance>) -> Result<Provenance, ReadError> {
    let corrupt = || ReadError::Corrupt("provenance".into());
    let p = p.ok_or_else(corrupt)?;
    match pb::ProvenanceSource::try_from(p.source) {
        Ok(pb::ProvenanceSource::Local) => Ok(Provenance::Local),
        Ok(pb::ProvenanceSource::Import) => Ok(Provenance::Import),
        Ok(pb::ProvenanceSource::Peer) => Ok(Provenance::Peer {
            org: OrgPublicKey::from_bytes(&p.peer_org_key).map_err(|_| corrupt())?,
            hop: p.hop,
        }),
        _ => Err(corrupt()),
    }
}
