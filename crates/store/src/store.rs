//! The store itself: opening, durable ingest in one atomic batch, reads by id and by arrival
//! number, versions and retractions.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cairn_core::{OrgPublicKey, ReportId, VerifiedReport, VerifyError};
use cairn_proto::v1 as pb;
use prost::Message;

use crate::envelopes::{EnvelopeFile, EnvelopeFileError, Extent, PendingEnvelopes};
use crate::error::{IngestError, OpenError, ReadError, ResolveError};
use crate::id_filter::IdFilter;
use crate::index::Indexer;
use crate::keys;
use crate::runs::QueryIndex;

/// Store format this build writes and reads: 2 keeps envelopes in the envelope file (format 1
/// kept them inside their records; such records are still read).
const STORE_FORMAT: u32 = 2;
/// Longest version chain followed when deciding whether a report was retracted.
const MAX_CHAIN: usize = 256;

/// Settings of the store (the `[store]` table of a node's configuration).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Memory sled may use as page cache, in MiB.
    pub cache_mb: u64,
    /// Keep the query index up to date on a background thread. When off, the index is brought
    /// up to date only by [`Store::index_pending`]; queries are exact either way.
    pub background_indexing: bool,
    /// Threads that check the signatures of an ingest batch (0: one per core).
    pub verify_threads: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            cache_mb: 256,
            background_indexing: true,
            verify_threads: 0,
        }
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

/// A stored envelope as it is on disk, not decoded (see [`Store::envelopes_after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEnvelope {
    /// Arrival sequence number on this node.
    pub seq: u64,
    /// When this node stored it (ms since the Unix epoch).
    pub received_ms: i64,
    /// Who handed it over.
    pub provenance: Provenance,
    /// The envelope bytes, as verified when stored.
    pub envelope: Vec<u8>,
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

/// The sled trees, shared with the indexing thread.
#[derive(Clone)]
pub(crate) struct Trees {
    pub(crate) db: sled::Db,
    pub(crate) reports: sled::Tree,
    /// The envelopes the records of `reports` point to.
    pub(crate) envelopes: Arc<EnvelopeFile>,
    /// Catch-up cursor per partner node.
    pub(crate) cursors: sled::Tree,
    /// Which organisation was served which report, and when.
    pub(crate) audit: sled::Tree,
    /// How far this node's arrivals were last written into a bundle file, per partner
    /// organisation.
    pub(crate) bundles: sled::Tree,
    /// Organisations' key statements, by organisation id and digest.
    pub(crate) statements: sled::Tree,
    /// The query index: runs of postings and ids in `query-index/`.
    pub(crate) index: Arc<QueryIndex>,
    /// The highest arrival number flushed to disk: the index never runs ahead of it.
    pub(crate) durable_seq: Arc<AtomicU64>,
    /// One writer of postings at a time (the indexing thread or a caller of `index_pending`).
    pub(crate) index_lock: Arc<Mutex<()>>,
    /// Reports stored recently, handed to the indexer so that it need not read and decode
    /// them again (at most `FRESH_MAX`; older ones are read back from `reports`).
    pub(crate) fresh: Arc<Mutex<VecDeque<(u64, VerifiedReport)>>>,
    /// The last reports stored, in arrival order, as [`Store::after`] returns them: readers
    /// that follow the store closely (TAXII's index, a POST that reads back what it just
    /// stored) take them from here instead of decoding them again.
    pub(crate) recent: Arc<Mutex<VecDeque<StoredReport>>>,
    /// When an ingest last started or ended: the indexer waits for ingest to pause.
    pub(crate) activity: Arc<Activity>,
    /// Id → arrival number of the reports past the index marker, whose ids are not yet in the
    /// index's id map. Every stored id is in this map, in the index, or in both.
    pub(crate) unindexed_ids: Arc<Mutex<HashMap<ReportId, u64>>>,
}

impl Trees {
    /// The ids of reports past the index marker.
    pub(crate) fn unindexed(&self) -> std::sync::MutexGuard<'_, HashMap<ReportId, u64>> {
        self.unindexed_ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// When ingest was last busy, for the indexer to stay out of its way.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: std::time::Instant,
    last_ms: AtomicU64,
    running: AtomicU64,
    /// Indexing waits until this time (ms since `epoch`): a bulk ingest is under way.
    hold_until_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            epoch: std::time::Instant::now(),
            last_ms: AtomicU64::new(0),
            running: AtomicU64::new(0),
            hold_until_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Marks an ingest as running until the returned guard is dropped.
    fn busy(&self) -> ActivityGuard<'_> {
        self.running.fetch_add(1, Ordering::SeqCst);
        self.last_ms.store(self.now_ms(), Ordering::SeqCst);
        ActivityGuard(self)
    }

    /// Asks indexing to wait `hold` from now.
    fn hold(&self, hold: std::time::Duration) {
        let until = self.now_ms().saturating_add(hold.as_millis() as u64);
        self.hold_until_ms.fetch_max(until, Ordering::SeqCst);
    }

    /// How much longer indexing is asked to wait.
    pub(crate) fn held_for(&self) -> std::time::Duration {
        let until = self.hold_until_ms.load(Ordering::SeqCst);
        std::time::Duration::from_millis(until.saturating_sub(self.now_ms()))
    }

    /// How long ingest has been idle (zero while one runs).
    pub(crate) fn idle_for(&self) -> std::time::Duration {
        if self.running.load(Ordering::SeqCst) > 0 {
            return std::time::Duration::ZERO;
        }
        let idle = self
            .now_ms()
            .saturating_sub(self.last_ms.load(Ordering::SeqCst));
        std::time::Duration::from_millis(idle)
    }
}

struct ActivityGuard<'a>(&'a Activity);

impl Drop for ActivityGuard<'_> {
    fn drop(&mut self) {
        self.0.last_ms.store(self.0.now_ms(), Ordering::SeqCst);
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Ingests of at least this many reports use (and, once, load) the id filter; smaller ones
/// look every id up, which is cheaper than loading the filter for a one-off command.
const FILTER_MIN_BATCH: usize = 64;

/// Most stored reports kept in memory for the indexer.
pub(crate) const FRESH_MAX: usize = 1024;

/// A stored record rewritten by a later copy of its report.
struct Rewrite {
    seq: u64,
    /// The copy came by a shorter path: its provenance replaces the recorded one.
    closer: bool,
    /// The copy carries disclosures the stored one lacked: it replaces the stored one.
    fuller: Option<VerifiedReport>,
}

/// How many of the last stored reports [`Store::after`] answers from memory.
const RECENT_MAX: usize = 64;

/// A node's durable report store.
pub struct Store {
    path: PathBuf,
    pub(crate) trees: Trees,
    /// Held while writing; guards the id filter too (built on the first large ingest).
    ingest_lock: Mutex<Option<IdFilter>>,
    /// Added to the database's id generator for audit keys: a store copied by `backup` starts
    /// a new generator, which must not hand out the keys of the entries copied.
    pub(crate) audit_id_offset: u64,
    indexer: Indexer,
    verify_threads: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// How long opening waits for a lock that a store just closed may still hold: sled's
/// background threads let go of it shortly after the last handle is dropped.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The arrival number of the last report written to `reports`.
fn last_seq_in(reports: &sled::Tree) -> Result<u64, ReadError> {
    Ok(match reports.get(keys::NEXT_SEQ)? {
        Some(v) => keys::decode_seq(&v)
            .ok_or_else(|| ReadError::Corrupt("next arrival number".into()))?
            .saturating_sub(1),
        None => 0,
    })
}

/// The query index's folder in the store's.
const INDEX_FOLDER: &str = "query-index";

/// Removes the sled query index that stores kept in `index/` before the index moved to run
/// files; the new one is built from the reports.
fn remove_sled_index(path: &Path) {
    let old = path.join("index");
    if old.join("conf").exists() {
        match std::fs::remove_dir_all(&old) {
            Ok(()) => {
                tracing::info!(folder = %old.display(), "removed the query index of an earlier Cairn; it is built again from the reports")
            }
            Err(e) => {
                tracing::warn!(error = %e, folder = %old.display(), "cannot remove the query index of an earlier Cairn; remove it by hand")
            }
        }
    }
}

fn open_db(path: &Path, cache_bytes: u64) -> Result<sled::Db, OpenError> {
    let started = std::time::Instant::now();
    loop {
        let result = sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open();
        match result {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("lock") =>
            {
                if started.elapsed() >= LOCK_WAIT {
                    return Err(OpenError::Locked(path.to_path_buf()));
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(source) => {
                return Err(OpenError::Storage {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Opens (or creates) the store in `path`: the durable reports in `path/reports` and
    /// `path/envelopes`, the query index (derived from them) in `path/query-index`.
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Store, OpenError> {
        let storage = |source| OpenError::Storage {
            path: path.to_path_buf(),
            source,
        };
        let cache_bytes = config.cache_mb.saturating_mul(1 << 20) / 2;
        let db = open_db(&path.join("reports"), cache_bytes)?;
        let meta = db.open_tree("meta").map_err(storage)?;
        let mut found_format = None;
        if let Some(v) = meta.get(keys::META_FORMAT).map_err(storage)? {
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
            found_format = Some(found);
        }
        if found_format != Some(STORE_FORMAT) {
            // New records keep their envelopes in the envelope file, which older builds
            // cannot read: they must refuse the store.
            meta.insert(keys::META_FORMAT, &STORE_FORMAT.to_be_bytes())
                .map_err(storage)?;
            db.flush().map_err(storage)?;
        }
        let reports = db.open_tree("reports").map_err(storage)?;
        let committed_end = match reports.get(keys::ENVELOPE_END).map_err(storage)? {
            Some(v) => keys::decode_seq(&v).ok_or_else(|| OpenError::Corrupt {
                path: path.to_path_buf(),
                what: "envelope file end".into(),
            })?,
            None => 0,
        };
        let envelopes = EnvelopeFile::open(path, committed_end).map_err(|e| match e {
            EnvelopeFileError::Io { path: file, source } => OpenError::Io { path: file, source },
            short @ EnvelopeFileError::Short { .. } => OpenError::Corrupt {
                path: path.to_path_buf(),
                what: short.to_string(),
            },
        })?;
        let read_failed = |e: ReadError| match e {
            ReadError::Storage(source) => storage(source),
            ReadError::Corrupt(what) => OpenError::Corrupt {
                path: path.to_path_buf(),
                what,
            },
            ReadError::Envelope(e) => OpenError::Corrupt {
                path: path.to_path_buf(),
                what: e.to_string(),
            },
            ReadError::Index(e) => OpenError::Corrupt {
                path: path.to_path_buf(),
                what: format!("query index: {e}"),
            },
        };
        let last = last_seq_in(&reports).map_err(read_failed)?;
        let index_dir = path.join(INDEX_FOLDER);
        let index = QueryIndex::open(&index_dir, last).map_err(|source| OpenError::Io {
            path: index_dir.clone(),
            source,
        })?;
        let trees = Trees {
            reports,
            envelopes: Arc::new(envelopes),
            cursors: db.open_tree("cursors").map_err(storage)?,
            audit: db.open_tree("audit").map_err(storage)?,
            bundles: db.open_tree("bundles").map_err(storage)?,
            statements: db.open_tree("statements").map_err(storage)?,
            index: Arc::new(index),
            db,
            index_lock: Arc::new(Mutex::new(())),
            durable_seq: Arc::new(AtomicU64::new(0)),
            fresh: Arc::new(Mutex::new(VecDeque::new())),
            recent: Arc::new(Mutex::new(VecDeque::new())),
            activity: Arc::new(Activity::new()),
            unindexed_ids: Arc::new(Mutex::new(HashMap::new())),
        };
        let store = Store {
            path: path.to_path_buf(),
            indexer: Indexer::disabled(),
            trees,
            ingest_lock: Mutex::new(None),
            audit_id_offset: 0,
            verify_threads: config.verify_threads,
        };
        store.trees.durable_seq.store(last, Ordering::SeqCst);
        remove_sled_index(path);
        let indexed = crate::index::indexed_up_to(&store.trees);
        store.load_unindexed_ids(indexed).map_err(read_failed)?;
        let audit_id_offset = store.audit_id_offset().map_err(read_failed)?;
        Ok(Store {
            audit_id_offset,
            indexer: Indexer::start(store.trees.clone(), config.background_indexing),
            ..store
        })
    }

    /// Bytes the store takes on disk: the reports and the query index.
    pub fn size_on_disk(&self) -> Result<u64, ReadError> {
        Ok(self.trees.db.size_on_disk()?
            + self.trees.index.size_on_disk()
            + self.trees.envelopes.end())
    }

    /// Holds off every writer of reports until the guard is dropped.
    pub(crate) fn write_lock(&self) -> std::sync::MutexGuard<'_, Option<IdFilter>> {
        self.ingest_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How far the id generator must be moved so that it hands out audit keys past those kept.
    fn audit_id_offset(&self) -> Result<u64, ReadError> {
        let last = match self.trees.audit.last()? {
            Some((key, _)) => key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| ReadError::Corrupt("audit key".into()))?,
            None => return Ok(0),
        };
        let next = self.trees.db.generate_id()?;
        Ok(last.saturating_add(1).saturating_sub(next))
    }

    /// A store whose index is written only by `index_pending`, for tests.
    #[cfg(test)]
    pub(crate) fn open_without_indexer(path: &Path) -> Store {
        let config = StoreConfig {
            background_indexing: false,
            ..StoreConfig::default()
        };
        match Store::open(path, &config) {
            Ok(store) => store,
            Err(e) => panic!("cannot open a test store: {e}"),
        }
    }

    /// Asks the background indexer to wait for `hold` (a bulk ingest such as a catch-up is
    /// under way: its reports arrive sooner if indexing runs after it). Queries stay exact;
    /// past a large backlog indexing runs anyway. Repeated calls extend the wait.
    pub fn hold_indexing(&self, hold: std::time::Duration) {
        self.trees.activity.hold(hold);
    }

    /// How long since reports were last written (zero while some are being written): lets
    /// other background work wait for a burst of writes to end.
    pub fn writes_idle_for(&self) -> std::time::Duration {
        self.trees.activity.idle_for()
    }

    /// Whether a background thread keeps the query index up to date.
    pub fn background_indexing(&self) -> bool {
        self.indexer.is_running()
    }

    /// Writes everything still in memory to disk (reports are flushed by ingest already; this
    /// covers the index and bookkeeping), for a clean shutdown.
    pub fn flush(&self) -> Result<(), IngestError> {
        self.trees.db.flush()?;
        Ok(())
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Verifies a batch of envelopes (signatures in batches, on every core unless configured
    /// otherwise) and stores the valid ones in one atomic write, flushed to disk before this
    /// returns. One outcome per envelope, in order.
    pub fn ingest<B: AsRef<[u8]> + Sync>(
        &self,
        envelopes: &[B],
        provenance: Provenance,
    ) -> Result<Vec<IngestOutcome>, IngestError> {
        self.ingest_with(envelopes, provenance, &cairn_core::OrganisationKeysOnly)
    }

    /// [`Store::ingest`] with the key statements `signers` knows: reports signed by node keys
    /// or later organisation keys verify where they let them, and a first key's signature
    /// only until it was handed over or revoked.
    pub fn ingest_with<B: AsRef<[u8]> + Sync>(
        &self,
        envelopes: &[B],
        provenance: Provenance,
        signers: &dyn cairn_core::Signers,
    ) -> Result<Vec<IngestOutcome>, IngestError> {
        let _busy = self.trees.activity.busy();
        let verified =
            cairn_core::verify_batch_parallel_with(envelopes, self.verify_threads, signers);
        let mut rejected: Vec<Option<IngestOutcome>> = Vec::with_capacity(verified.len());
        let mut accepted = Vec::with_capacity(verified.len());
        for result in verified {
            match result {
                Ok(report) => {
                    accepted.push(report);
                    rejected.push(None);
                }
                Err(e) => rejected.push(Some(IngestOutcome::Rejected(e))),
            }
        }
        let mut written = self.insert(accepted, provenance)?.into_iter();
        let mut outcomes = Vec::with_capacity(rejected.len());
        for slot in rejected {
            match slot.or_else(|| written.next()) {
                Some(outcome) => outcomes.push(outcome),
                None => {
                    return Err(IngestError::Read(ReadError::Corrupt(
                        "ingest outcome".into(),
                    )));
                }
            }
        }
        Ok(outcomes)
    }

    /// Stores reports that were verified on this node in one atomic batch, flushed to disk
    /// before this returns. One outcome per report, in order.
    pub fn insert(
        &self,
        reports: Vec<VerifiedReport>,
        provenance: Provenance,
    ) -> Result<Vec<IngestOutcome>, IngestError> {
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        let _busy = self.trees.activity.busy();
        // One writer at a time: what is read below cannot change before the batch is applied.
        let mut writer = self.write_lock();
        if reports.len() >= FILTER_MIN_BATCH {
            self.ensure_id_filter(&mut writer)?;
        }
        let filter = &mut *writer;
        let received_ms = now_ms();
        let provenance_pb = provenance_to_proto(&provenance);
        let first_seq = self.last_seq_written()? + 1;
        let mut next_seq = first_seq;
        let mut batch = sled::Batch::default();
        let mut outcomes = Vec::with_capacity(reports.len());
        let mut in_batch: BTreeMap<ReportId, (u64, OrgPublicKey)> = BTreeMap::new();
        let mut stored = Vec::with_capacity(reports.len());
        let mut rewrites: Vec<Rewrite> = Vec::new();
        let mut pending = self.trees.envelopes.begin();
        // Look the ids up in key order: neighbouring lookups share the tree's upper levels.
        let mut ids: Vec<ReportId> = reports.iter().map(VerifiedReport::id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut known: BTreeMap<ReportId, u64> = BTreeMap::new();
        for id in ids {
            if filter.as_ref().is_some_and(|f| !f.may_contain(&id)) {
                continue;
            }
            if let Some(seq) = self.seq_of(&id)? {
                known.insert(id, seq);
            }
        }
        for report in reports {
            let id = report.id();
            if let Some((seq, _)) = in_batch.get(&id) {
                outcomes.push(IngestOutcome::Duplicate { id, seq: *seq });
                continue;
            }
            if let Some(&seq) = known.get(&id) {
                // Keep the shortest path (a relaying node decides from the smallest hop) and
                // the fullest copy (a copy with disclosures another one lacked).
                if let Some((record, rewrite)) =
                    self.better_record(seq, &provenance_pb, &report, &mut pending)?
                {
                    batch.insert(&keys::record(seq), record);
                    batch.insert(
                        &keys::arrival(seq),
                        arrival_mark_bytes(&report.author(), &provenance),
                    );
                    rewrites.push(rewrite);
                }
                outcomes.push(IngestOutcome::Duplicate { id, seq });
                continue;
            }
            let body = report.report();
            if let Some(target) = body.supersedes.or(body.retracts) {
                let target_author = match in_batch.get(&target) {
                    Some((_, author)) => Some(*author),
                    None => self.get(&target)?.map(|t| t.report.author()),
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
            let extent = pending
                .push(report.envelope_bytes())
                .map_err(IngestError::Envelopes)?;
            let record = pb::StoredReport {
                seq,
                received_ms,
                provenance: Some(provenance_pb.clone()),
                ..record_extent(extent)
            };
            batch.insert(&keys::record(seq), record.encode_to_vec());
            batch.insert(
                &keys::arrival(seq),
                arrival_mark_bytes(&report.author(), &provenance),
            );
            if let Some(old) = body.supersedes {
                batch.insert(
                    keys::edge(keys::SUPERSEDED_BY, &old, &report.author(), &id),
                    &[],
                );
            }
            if let Some(target) = body.retracts {
                batch.insert(
                    keys::edge(keys::RETRACTED_BY, &target, &report.author(), &id),
                    &[],
                );
            }
            if let Some(concerns) = body.concerns {
                batch.insert(
                    keys::edge(keys::SIGHTED_BY, &concerns.report, &report.author(), &id),
                    &[],
                );
            }
            in_batch.insert(id, (seq, report.author()));
            if let Some(filter) = filter.as_mut() {
                filter.insert(&id);
            }
            outcomes.push(IngestOutcome::Stored { id, seq });
            stored.push((seq, report));
        }
        if !pending.is_empty() {
            batch.insert(keys::ENVELOPE_END, &pending.end().to_be_bytes());
        }
        // The envelopes are on disk before any record naming them is.
        let commit = |pending: PendingEnvelopes| {
            self.trees
                .envelopes
                .commit(pending)
                .map_err(IngestError::Envelopes)
        };
        if next_seq == first_seq && !rewrites.is_empty() {
            commit(pending)?;
            self.trees.reports.apply_batch(batch)?;
            self.trees.db.flush()?;
            self.remember(&rewrites, &provenance, received_ms, &[]);
        } else if next_seq > first_seq {
            batch.insert(keys::NEXT_SEQ, &next_seq.to_be_bytes());
            commit(pending)?;
            self.trees.reports.apply_batch(batch)?;
            self.trees.db.flush()?;
            self.remember(&rewrites, &provenance, received_ms, &stored);
            // Findable by id before the index has them, and before the indexer may take them;
            // readable by arrival number by the time anyone finds them by id (the marker moves
            // under the map's lock, so a reader that finds an id here also finds its record).
            {
                let mut unindexed = self.trees.unindexed();
                unindexed.extend(stored.iter().map(|(seq, report)| (report.id(), *seq)));
                self.trees.durable_seq.store(next_seq - 1, Ordering::SeqCst);
            }
            if self.indexer.is_running() {
                let mut fresh = self
                    .trees
                    .fresh
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                fresh.extend(stored);
                let excess = fresh.len().saturating_sub(FRESH_MAX);
                fresh.drain(..excess);
            }
            self.indexer.wake();
        }
        Ok(outcomes)
    }

    /// Keeps the reports just stored in [`Trees::recent`], and the new provenance of those
    /// whose record was rewritten, so that [`Store::after`] answers as the records now read.
    fn remember(
        &self,
        rewritten: &[Rewrite],
        provenance: &Provenance,
        received_ms: i64,
        stored: &[(u64, VerifiedReport)],
    ) {
        let mut recent = self
            .trees
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for entry in recent.iter_mut() {
            for rewrite in rewritten.iter().filter(|r| r.seq == entry.seq) {
                if rewrite.closer {
                    entry.provenance = *provenance;
                }
                if let Some(fuller) = &rewrite.fuller {
                    entry.report = fuller.clone();
                }
            }
        }
        // Only a run of consecutive arrival numbers is kept: `after` relies on it.
        if let Some(&(first, _)) = stored.first()
            && recent.back().is_some_and(|last| last.seq + 1 != first)
        {
            recent.clear();
        }
        recent.extend(stored.iter().map(|(seq, report)| StoredReport {
            seq: *seq,
            received_ms,
            provenance: *provenance,
            report: report.clone(),
        }));
        let excess = recent.len().saturating_sub(RECENT_MAX);
        recent.drain(..excess);
    }

    /// The record at `seq` rewritten for a copy of its report that arrived again, when that
    /// copy came by a shorter path (a peer at a smaller hop than the one recorded) or carries
    /// disclosures the stored copy lacks (every disclosure it had, and more: a relay may have
    /// passed on a copy with some withheld, and the author or a better placed partner the full
    /// one later). The disclosures were checked against the signed digests when the copy was
    /// verified, so the fuller copy is the author's.
    fn better_record(
        &self,
        seq: u64,
        provenance: &pb::Provenance,
        copy: &VerifiedReport,
        pending: &mut PendingEnvelopes,
    ) -> Result<Option<(Vec<u8>, Rewrite)>, IngestError> {
        let may_be_closer = provenance.source == pb::ProvenanceSource::Peer as i32;
        let may_be_fuller = !copy.disclosures().is_empty();
        if !may_be_closer && !may_be_fuller {
            return Ok(None);
        }
        let Some(bytes) = self.trees.reports.get(keys::record(seq))? else {
            return Ok(None);
        };
        let mut record = decode_record(&bytes)?;
        let closer = may_be_closer
            && record.provenance.as_ref().is_some_and(|old| {
                old.source == pb::ProvenanceSource::Peer as i32 && provenance.hop < old.hop
            });
        let fuller = if may_be_fuller {
            let held = VerifiedReport::from_stored_owned(self.trees.envelope(&record)?)
                .map_err(|e| ReadError::Corrupt(format!("stored envelope: {e}")))?;
            (copy.disclosures().len() > held.disclosures().len()
                && held
                    .disclosures()
                    .iter()
                    .all(|d| copy.disclosures().contains(d)))
            .then(|| copy.clone())
        } else {
            None
        };
        if !closer && fuller.is_none() {
            return Ok(None);
        }
        if closer {
            record.provenance = Some(provenance.clone());
        }
        if let Some(fuller) = &fuller {
            let extent = pending
                .push(fuller.envelope_bytes())
                .map_err(IngestError::Envelopes)?;
            record = pb::StoredReport {
                seq: record.seq,
                received_ms: record.received_ms,
                provenance: record.provenance,
                ..record_extent(extent)
            };
        }
        Ok(Some((
            record.encode_to_vec(),
            Rewrite {
                seq,
                closer,
                fuller,
            },
        )))
    }

    /// Loads the id filter (a scan of every stored id) if it is not loaded or has grown past
    /// its size. Done once per process on the first large ingest; [`Store::warm_up`] does it
    /// ahead of time.
    fn ensure_id_filter(&self, filter: &mut Option<IdFilter>) -> Result<(), ReadError> {
        if filter.as_ref().is_some_and(|f| !f.overfull()) {
            return Ok(());
        }
        let mut fresh = IdFilter::with_capacity(self.last_seq()?);
        self.for_each_id(&[], |id| fresh.insert(&id))?;
        *filter = Some(fresh);
        Ok(())
    }

    /// Loads what ingest uses (the id filter) now rather than on the first large ingest: a node
    /// calls it at start-up so that its first burst from a peer is not slower.
    pub fn warm_up(&self) -> Result<(), ReadError> {
        let mut writer = self.write_lock();
        self.ensure_id_filter(&mut writer)
    }

    /// Calls `each` with every stored id starting with `prefix` (an id may come twice).
    fn for_each_id(&self, prefix: &[u8], mut each: impl FnMut(ReportId)) -> Result<(), ReadError> {
        let mut damaged = false;
        self.trees
            .index
            .snapshot()
            .ids_starting(prefix, |entry| match ReportId::from_slice(&entry.id) {
                Some(id) => each(id),
                None => damaged = true,
            })
            .map_err(ReadError::Index)?;
        if damaged {
            return Err(ReadError::Corrupt("report id in the query index".into()));
        }
        for id in self.trees.unindexed().keys() {
            if id.as_bytes().starts_with(prefix) {
                each(*id);
            }
        }
        Ok(())
    }

    fn seq_of(&self, id: &ReportId) -> Result<Option<u64>, ReadError> {
        // The indexer adds an id to the index before removing it from the unindexed map, so
        // looking here first and there second never misses a stored id.
        if let Some(seq) = self.trees.unindexed().get(id) {
            return Ok(Some(*seq));
        }
        self.trees
            .index
            .snapshot()
            .seq_of(id.as_bytes())
            .map_err(ReadError::Index)
    }

    /// Reads the ids of the reports past the index marker (at open).
    fn load_unindexed_ids(&self, indexed: u64) -> Result<(), ReadError> {
        let mut ids = HashMap::new();
        for item in self.records_after(indexed) {
            let (key, bytes) = item?;
            let seq = keys::decode_seq(&key[1..])
                .ok_or_else(|| ReadError::Corrupt("record key".into()))?;
            let mut record = decode_record(&bytes)?;
            let id = cairn_core::id_of_stored(&self.trees.take_envelope(&mut record)?)
                .map_err(|e| ReadError::Corrupt(format!("stored envelope: {e}")))?;
            ids.insert(id, seq);
        }
        *self.trees.unindexed() = ids;
        Ok(())
    }

    /// The report with this id, if stored.
    pub fn get(&self, id: &ReportId) -> Result<Option<StoredReport>, ReadError> {
        match self.seq_of(id)? {
            Some(seq) => self
                .get_seq(seq)?
                .map(Some)
                .ok_or_else(|| ReadError::Corrupt(format!("report {id} has no record"))),
            None => Ok(None),
        }
    }

    /// The envelope of the report with this id, as stored, without decoding it (for deciding
    /// from its marking whether a partner may have it before reading its content).
    pub fn envelope_of(&self, id: &ReportId) -> Result<Option<StoredEnvelope>, ReadError> {
        let Some(seq) = self.seq_of(id)? else {
            return Ok(None);
        };
        let bytes = self
            .trees
            .reports
            .get(keys::record(seq))?
            .ok_or_else(|| ReadError::Corrupt(format!("report {id} has no record")))?;
        self.trees.stored_envelope(&bytes).map(Some)
    }

    /// The arrival marks of up to `limit` reports that arrived after `cursor`, in arrival order:
    /// who wrote each and which partner passed it here. Reports stored before the store kept
    /// marks have none: a caller that finds a number missing reads the report itself.
    pub fn arrival_marks(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<(u64, ArrivalMark)>, ReadError> {
        let durable = self.durable_seq();
        if cursor >= durable {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(limit.min(1024));
        let range = keys::arrival(cursor.saturating_add(1))..=keys::arrival(durable);
        for item in self.trees.reports.range(range).take(limit) {
            let (key, value) = item?;
            let seq = keys::decode_seq(&key[1..])
                .ok_or_else(|| ReadError::Corrupt("arrival mark key".into()))?;
            out.push((seq, decode_arrival_mark(&value)?));
        }
        Ok(out)
    }

    /// The stored envelope that arrived with this number, if any, not decoded.
    pub fn envelope_at(&self, seq: u64) -> Result<Option<StoredEnvelope>, ReadError> {
        self.record_at(seq)?
            .map(|bytes| self.trees.stored_envelope(&bytes))
            .transpose()
    }

    /// The record that arrived with this number, once its ingest has finished.
    fn record_at(&self, seq: u64) -> Result<Option<sled::IVec>, ReadError> {
        if seq > self.durable_seq() {
            return Ok(None);
        }
        Ok(self.trees.reports.get(keys::record(seq))?)
    }

    /// The report that arrived with this number, if any.
    pub fn get_seq(&self, seq: u64) -> Result<Option<StoredReport>, ReadError> {
        self.record_at(seq)?
            .map(|bytes| self.trees.stored_report(&bytes))
            .transpose()
    }

    /// The STIX objects the report that arrived with this number carries (none for a report
    /// written in Cairn), read without decoding the rest of it.
    pub fn stix_objects_at(&self, seq: u64) -> Result<Option<Vec<String>>, ReadError> {
        let Some(bytes) = self.record_at(seq)? else {
            return Ok(None);
        };
        let mut record = decode_record(&bytes)?;
        cairn_core::stored_stix_objects(&self.trees.take_envelope(&mut record)?)
            .map(Some)
            .map_err(|e| ReadError::Corrupt(format!("stored envelope: {e}")))
    }

    /// The stored report whose id starts with these hexadecimal digits (at least 8).
    pub fn resolve(&self, prefix: &str) -> Result<ReportId, ResolveError> {
        let prefix = prefix.trim().to_ascii_lowercase();
        if prefix.len() < 8 || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ResolveError::BadPrefix(prefix));
        }
        let whole_bytes = hex::decode(&prefix[..prefix.len() / 2 * 2])
            .map_err(|_| ResolveError::BadPrefix(prefix.clone()))?;
        let mut found: Vec<ReportId> = Vec::new();
        self.for_each_id(&whole_bytes, |id| {
            if id.to_string().starts_with(&prefix) && !found.contains(&id) {
                found.push(id);
            }
        })
        .map_err(ResolveError::Read)?;
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(ResolveError::NotFound(prefix)),
            _ => Err(ResolveError::Ambiguous {
                count: found.len(),
                prefix,
            }),
        }
    }

    /// Up to `limit` stored envelopes that arrived after arrival number `cursor`, in arrival
    /// order, without decoding the reports (for serving partners).
    pub fn envelopes_after(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<StoredEnvelope>, ReadError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.records_after(cursor).take(limit) {
            let (_, bytes) = item?;
            out.push(self.trees.stored_envelope(&bytes)?);
        }
        Ok(out)
    }

    /// Up to `limit` reports that arrived after arrival number `cursor`, in arrival order.
    pub fn after(&self, cursor: u64, limit: usize) -> Result<Vec<StoredReport>, ReadError> {
        let durable = self.durable_seq();
        {
            let recent = self
                .trees
                .recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if recent.front().is_some_and(|first| first.seq <= cursor + 1) {
                return Ok(recent
                    .iter()
                    .filter(|r| r.seq > cursor && r.seq <= durable)
                    .take(limit)
                    .cloned()
                    .collect());
            }
        }
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.records_after(cursor).take(limit) {
            let (_, bytes) = item?;
            out.push(self.trees.stored_report(&bytes)?);
        }
        Ok(out)
    }

    /// Records that arrived after `cursor`, in arrival order: only those whose ingest has
    /// finished (flushed and findable by id), never one a crash could still take back.
    pub(crate) fn records_after(&self, cursor: u64) -> sled::Iter {
        self.trees
            .reports
            .range(keys::record(cursor.saturating_add(1))..=keys::record(self.durable_seq()))
    }

    /// Adds to `counts` (by UTC day: received from partners, published or imported here) the
    /// reports that arrived after arrival number `after` on `first_day` or later, reading the
    /// small records from the newest back, at most `max_records` of them. Answers the newest
    /// arrival number read (where the next call starts) and whether the walk stopped at
    /// `max_records` before reaching `after` or the first day (older days are then counted in
    /// part).
    pub fn count_arrivals(
        &self,
        after: u64,
        first_day: i64,
        max_records: usize,
        counts: &mut std::collections::BTreeMap<i64, [u64; 2]>,
    ) -> Result<(u64, bool), ReadError> {
        // Records are in arrival order, so in time order but for a clock set back: the walk
        // ends after a run of records older than the first day.
        const OLDER_IN_A_ROW: usize = 1000;
        let newest = self.durable_seq();
        if newest <= after {
            return Ok((newest, false));
        }
        let mut older = 0;
        for (read, item) in self
            .trees
            .reports
            .range(keys::record(after.saturating_add(1))..=keys::record(newest))
            .rev()
            .enumerate()
        {
            if read == max_records {
                return Ok((newest, true));
            }
            let (_, bytes) = item?;
            let record = decode_record(&bytes)?;
            let day = cairn_core::when::utc_day(record.received_ms);
            if day < first_day {
                older += 1;
                if older == OLDER_IN_A_ROW {
                    break;
                }
                continue;
            }
            older = 0;
            let from_partner = matches!(
                provenance_from_proto(record.provenance.as_ref())?,
                Provenance::Peer { .. }
            );
            counts.entry(day).or_default()[usize::from(!from_partner)] += 1;
        }
        Ok((newest, false))
    }

    fn durable_seq(&self) -> u64 {
        self.trees.durable_seq.load(Ordering::SeqCst)
    }

    /// How many reports are stored.
    pub fn len(&self) -> Result<u64, ReadError> {
        self.last_seq()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> Result<bool, ReadError> {
        Ok(self.last_seq()? == 0)
    }

    /// The highest arrival number of a report whose ingest has finished (0 for an empty
    /// store). Reports are never deleted, so this is also how many are stored.
    pub fn last_seq(&self) -> Result<u64, ReadError> {
        Ok(self.durable_seq())
    }

    /// The highest arrival number written (finished or not).
    fn last_seq_written(&self) -> Result<u64, ReadError> {
        last_seq_in(&self.trees.reports)
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

    /// The first report of the version chain `report` belongs to (for a retraction: of the
    /// chain of the report it retracts), and its creation time (ms). The chain is followed back
    /// through stored reports by the same author; it stops at one this node does not hold.
    pub fn first_version(&self, report: &VerifiedReport) -> Result<(ReportId, i64), ReadError> {
        let author = report.author();
        let current = match report.report().retracts {
            Some(target) => match self.get(&target)? {
                Some(t) => t.report,
                None => return Ok((target, report.report().created_ms)),
            },
            None => report.clone(),
        };
        let first = match self.earlier_versions(&current, &author)?.pop() {
            Some(earliest) => earliest.report,
            None => current,
        };
        Ok((first.id(), first.report().created_ms))
    }

    /// The stored earlier versions of `report` by `author`, newest first, followed back
    /// through `supersedes` until one this node does not hold or by another author (at most
    /// `MAX_CHAIN`).
    fn earlier_versions(
        &self,
        report: &VerifiedReport,
        author: &OrgPublicKey,
    ) -> Result<Vec<StoredReport>, ReadError> {
        let mut earlier: Vec<StoredReport> = Vec::new();
        let mut previous = report.report().supersedes;
        for _ in 0..MAX_CHAIN {
            let Some(id) = previous else { break };
            match self.get(&id)? {
                Some(p) if p.report.author() == *author => {
                    previous = p.report.report().supersedes;
                    earlier.push(p);
                }
                _ => break,
            }
        }
        Ok(earlier)
    }

    /// Every stored version of the report `id` belongs to (earlier and later ones by the same
    /// author), oldest first, and the retractions that name any of them.
    pub fn history(&self, id: &ReportId) -> Result<Vec<StoredReport>, ReadError> {
        let Some(start) = self.get(id)? else {
            return Ok(Vec::new());
        };
        let author = start.report.author();
        let root = match self.earlier_versions(&start.report, &author)?.pop() {
            Some(earliest) => earliest,
            None => start,
        };
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

    /// Writes the query postings of up to `max` reports not yet indexed; returns how many.
    /// The background indexer calls this; with background indexing off, call it yourself.
    pub fn index_pending(&self, max: usize) -> Result<usize, IngestError> {
        crate::index::index_pending(&self.trees, max)
    }

    /// The highest arrival number whose query postings are written.
    pub fn indexed_up_to(&self) -> u64 {
        crate::index::indexed_up_to(&self.trees)
    }

    /// The sightings of report `id` this node holds, in arrival order: every version, the
    /// superseded and retracted too (the caller asks [`Store::status`]).
    pub fn sightings_of(&self, id: &ReportId) -> Result<Vec<StoredReport>, ReadError> {
        let mut prefix = Vec::with_capacity(33);
        prefix.push(keys::SIGHTED_BY);
        prefix.extend_from_slice(id.as_bytes());
        let mut found = Vec::new();
        for item in self.trees.reports.scan_prefix(&prefix).keys() {
            let key = item?;
            let sighting = key
                .get(prefix.len() + 32..)
                .and_then(ReportId::from_slice)
                .ok_or_else(|| ReadError::Corrupt("sighting edge".into()))?;
            let stored = self.get(&sighting)?.ok_or_else(|| {
                ReadError::Corrupt(format!("sighting {sighting} has an edge but no record"))
            })?;
            found.push(stored);
        }
        found.sort_by_key(|s| s.seq);
        Ok(found)
    }

    /// The current sightings of report `id` (neither replaced by a newer version nor
    /// retracted), in arrival order.
    pub fn current_sightings_of(&self, id: &ReportId) -> Result<Vec<StoredReport>, ReadError> {
        let mut current = Vec::new();
        for sighting in self.sightings_of(id)? {
            if self.status(&sighting.report)? == ReportStatus::Current {
                current.push(sighting);
            }
        }
        Ok(current)
    }

    /// The standing at `now_ms` of each of `report`'s indicators, in order, scored with its
    /// current sightings ([`cairn_core::score::standing`]) and those of its earlier versions
    /// that name one of its indicators (an indicator kept in a new version keeps what partners
    /// said of it; a sighting of a whole earlier version does not speak for what was added
    /// since).
    pub fn standings(
        &self,
        report: &VerifiedReport,
        scoring: &cairn_core::score::ScoringConfig,
        now_ms: i64,
    ) -> Result<Vec<cairn_core::score::Standing>, ReadError> {
        let r = report.report();
        if r.indicators.is_empty() {
            return Ok(Vec::new());
        }
        let author = report.author();
        let mut sightings = self.current_sightings_of(&report.id())?;
        for earlier in self.earlier_versions(report, &author)? {
            sightings.extend(
                self.current_sightings_of(&earlier.report.id())?
                    .into_iter()
                    .filter(|s| {
                        s.report
                            .report()
                            .sighting
                            .as_ref()
                            .is_some_and(|s| s.indicator.is_some())
                    }),
            );
        }
        let said: Vec<_> = sightings
            .iter()
            .filter_map(|s| {
                let sighting = s.report.report().sighting.as_ref()?;
                Some((s.report.author(), sighting, s.report.report().created_ms))
            })
            .collect();
        Ok(r.indicators
            .iter()
            .map(|indicator| {
                cairn_core::score::standing(
                    scoring,
                    indicator,
                    &author,
                    r.confidence,
                    r.created_ms,
                    said.iter().copied(),
                    now_ms,
                )
            })
            .collect())
    }

    /// The reports an edge of `kind` leads to from `from`, in key order.
    fn edge_targets(
        &self,
        kind: u8,
        from: &ReportId,
        author: &OrgPublicKey,
    ) -> impl Iterator<Item = Result<ReportId, ReadError>> {
        let prefix = keys::edge_prefix(kind, from, author);
        let skip = prefix.len();
        self.trees
            .reports
            .scan_prefix(&prefix)
            .keys()
            .map(move |item| {
                let key = item?;
                key.get(skip..)
                    .and_then(ReportId::from_slice)
                    .ok_or_else(|| ReadError::Corrupt("version edge".into()))
            })
    }

    fn edges(
        &self,
        kind: u8,
        from: &ReportId,
        author: &OrgPublicKey,
    ) -> Result<Vec<ReportId>, ReadError> {
        self.edge_targets(kind, from, author).collect()
    }

    /// The first report an edge of `kind` leads to from `from` (read without the others:
    /// every status asks this twice).
    fn first_edge(
        &self,
        kind: u8,
        from: &ReportId,
        author: &OrgPublicKey,
    ) -> Result<Option<ReportId>, ReadError> {
        self.edge_targets(kind, from, author).next().transpose()
    }
}

fn decode_record(bytes: &[u8]) -> Result<pb::StoredReport, ReadError> {
    pb::StoredReport::decode(bytes).map_err(|e| ReadError::Corrupt(format!("stored report: {e}")))
}

/// Decodes a stored record (a `RECORD` value of the `reports` tree).
/// A stored record as its envelope, not decoded.
/// A record whose envelope is in the envelope file, at `extent`.
fn record_extent(extent: Extent) -> pb::StoredReport {
    pb::StoredReport {
        envelope_offset: extent.offset,
        envelope_len: extent.len,
        envelope_crc32: extent.crc32,
        ..Default::default()
    }
}

impl Trees {
    /// The envelope of a record: read from the envelope file, or taken from the record itself
    /// for records written before the file existed (their `envelope` is not empty; a stored
    /// envelope never is).
    pub(crate) fn envelope(&self, record: &pb::StoredReport) -> Result<Vec<u8>, ReadError> {
        if !record.envelope.is_empty() {
            return Ok(record.envelope.clone());
        }
        self.envelope_in_file(record)
    }

    /// [`Trees::envelope`], taking an inline envelope out of the record rather than copying it.
    fn take_envelope(&self, record: &mut pb::StoredReport) -> Result<Vec<u8>, ReadError> {
        if !record.envelope.is_empty() {
            return Ok(std::mem::take(&mut record.envelope));
        }
        self.envelope_in_file(record)
    }

    fn envelope_in_file(&self, record: &pb::StoredReport) -> Result<Vec<u8>, ReadError> {
        Ok(self.envelopes.read(Extent {
            offset: record.envelope_offset,
            len: record.envelope_len,
            crc32: record.envelope_crc32,
        })?)
    }

    /// Decodes a stored record (a `RECORD` value of the `reports` tree) with its envelope.
    fn stored_envelope(&self, bytes: &[u8]) -> Result<StoredEnvelope, ReadError> {
        let mut record = decode_record(bytes)?;
        let envelope = self.take_envelope(&mut record)?;
        Ok(StoredEnvelope {
            seq: record.seq,
            received_ms: record.received_ms,
            provenance: provenance_from_proto(record.provenance.as_ref())?,
            envelope,
        })
    }

    /// Decodes a stored record and its report.
    pub(crate) fn stored_report(&self, bytes: &[u8]) -> Result<StoredReport, ReadError> {
        let stored = self.stored_envelope(bytes)?;
        let report = VerifiedReport::from_stored_owned(stored.envelope)
            .map_err(|e| ReadError::Corrupt(format!("stored envelope: {e}")))?;
        Ok(StoredReport {
            seq: stored.seq,
            received_ms: stored.received_ms,
            provenance: stored.provenance,
            report,
        })
    }
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

/// Who wrote a stored report and which partner organisation passed it here (none for a report
/// published or imported here): what a pull needs to skip the reports a partner has. The keys
/// are kept as their bytes, compared and never decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrivalMark {
    /// The author organisation's key.
    pub author: [u8; 32],
    /// The key of the partner organisation that passed it, if one did.
    pub giver: Option<[u8; 32]>,
}

impl ArrivalMark {
    /// Whether `org` wrote the report or passed it here.
    pub fn is_from(&self, org: &OrgPublicKey) -> bool {
        self.author == *org.as_bytes() || self.giver.as_ref() == Some(org.as_bytes())
    }
}

fn arrival_mark_bytes(author: &OrgPublicKey, provenance: &Provenance) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(author.as_bytes());
    if let Provenance::Peer { org, .. } = provenance {
        bytes.extend_from_slice(org.as_bytes());
    }
    bytes
}

fn decode_arrival_mark(bytes: &[u8]) -> Result<ArrivalMark, ReadError> {
    let corrupt = || ReadError::Corrupt("arrival mark".into());
    let key = |b: &[u8]| <[u8; 32]>::try_from(b).map_err(|_| corrupt());
    match bytes.len() {
        32 => Ok(ArrivalMark {
            author: key(bytes)?,
            giver: None,
        }),
        64 => Ok(ArrivalMark {
            author: key(&bytes[..32])?,
            giver: Some(key(&bytes[32..])?),
        }),
        _ => Err(corrupt()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::sample;
    use rand::SeedableRng;

    #[test]
    fn records_written_with_their_envelope_inside_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let org = cairn_core::OrgKey::generate(&mut rng);
        let old = sample::indicator_report(&mut rng, 1)
            .sign(&org, &mut rng)
            .unwrap();
        let new = sample::indicator_report(&mut rng, 2)
            .sign(&org, &mut rng)
            .unwrap();
        {
            // A store of format 1: one record holding its envelope.
            let store = Store::open_without_indexer(dir.path());
            let meta = store.trees.db.open_tree("meta").unwrap();
            meta.insert(keys::META_FORMAT, &1u32.to_be_bytes()).unwrap();
            let record = pb::StoredReport {
                envelope: old.envelope_bytes().to_vec(),
                seq: 1,
                received_ms: 5,
                provenance: Some(provenance_to_proto(&Provenance::Import)),
                ..Default::default()
            };
            let mut batch = sled::Batch::default();
            batch.insert(&keys::record(1), record.encode_to_vec());
            batch.insert(
                &keys::arrival(1),
                arrival_mark_bytes(&old.author(), &Provenance::Import),
            );
            batch.insert(keys::NEXT_SEQ, &2u64.to_be_bytes());
            store.trees.reports.apply_batch(batch).unwrap();
            store.trees.db.flush().unwrap();
        }
        let store = Store::open_without_indexer(dir.path());
        let meta = store.trees.db.open_tree("meta").unwrap();
        assert_eq!(
            meta.get(keys::META_FORMAT).unwrap().unwrap().as_ref(),
            STORE_FORMAT.to_be_bytes()
        );
        // Found by id before and after indexing, listed, and beside a new record.
        assert_eq!(
            store
                .get(&old.id())
                .unwrap()
                .unwrap()
                .report
                .envelope_bytes(),
            old.envelope_bytes()
        );
        store.insert(vec![new.clone()], Provenance::Local).unwrap();
        store.index_pending(usize::MAX).unwrap();
        let listed = store.after(0, 10).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].report.envelope_bytes(), old.envelope_bytes());
        assert_eq!(listed[0].provenance, Provenance::Import);
        assert_eq!(listed[1].report.envelope_bytes(), new.envelope_bytes());
        let served = store.envelopes_after(0, 10).unwrap();
        assert_eq!(served[0].envelope, old.envelope_bytes());
        assert_eq!(
            store.envelope_of(&new.id()).unwrap().unwrap().envelope,
            new.envelope_bytes()
        );
        // The old record is still the only copy of its envelope: nothing was moved.
        assert_eq!(
            store.trees.envelopes.end(),
            new.envelope_bytes().len() as u64
        );
    }
}
