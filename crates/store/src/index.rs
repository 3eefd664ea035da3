//! The query index: postings written after the durable ingest, by a background thread, from
//! the arrival log, when ingest pauses (or the backlog grows past a bound). Keeping them out of
//! the ingest batch keeps ingest as fast as the signature checks; queries stay exact by also
//! reading the reports not yet indexed.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_core::VerifiedReport;

use crate::error::{IngestError, ReadError};
use crate::keys::{self, BlockPosting};
use crate::store::Trees;

/// Reports indexed per index write.
const INDEX_BATCH: usize = 2048;

enum Signal {
    Work,
    Stop,
}

/// The background indexing thread; stops (after its current batch) when dropped.
pub(crate) struct Indexer {
    signals: Option<mpsc::Sender<Signal>>,
    thread: Option<JoinHandle<()>>,
}

impl Indexer {
    /// No thread.
    pub(crate) fn disabled() -> Indexer {
        Indexer {
            signals: None,
            thread: None,
        }
    }

    /// Starts the thread (when `enabled`) and has it catch up on what is not yet indexed.
    pub(crate) fn start(trees: Trees, enabled: bool) -> Indexer {
        if !enabled {
            return Indexer::disabled();
        }
        let (signals, inbox) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("cairn-indexer".into())
            .spawn(move || run(&trees, &inbox));
        match thread {
            Ok(thread) => {
                let _ = signals.send(Signal::Work);
                Indexer {
                    signals: Some(signals),
                    thread: Some(thread),
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot start the indexing thread; queries will read unindexed reports directly");
                Indexer::disabled()
            }
        }
    }

    /// Whether the thread runs.
    pub(crate) fn is_running(&self) -> bool {
        self.thread.is_some()
    }

    /// Tells the thread there is new work.
    pub(crate) fn wake(&self) {
        if let Some(signals) = &self.signals {
            let _ = signals.send(Signal::Work);
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        if let Some(signals) = self.signals.take() {
            let _ = signals.send(Signal::Stop);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Indexing waits until no ingest has run for this long before writing postings...
const QUIET: Duration = Duration::from_millis(20);
/// ...unless this many reports are waiting: queries read unindexed reports one by one, so the
/// backlog stays bounded even under a long burst.
const MAX_BACKLOG: u64 = 65_536;
/// While a bulk ingest holds indexing back, the backlog may grow this far.
const MAX_HELD_BACKLOG: u64 = 262_144;

fn run(trees: &Trees, inbox: &mpsc::Receiver<Signal>) {
    lower_priority();
    while let Ok(Signal::Work) = inbox.recv() {
        loop {
            match inbox.try_recv() {
                Ok(Signal::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                Ok(Signal::Work) | Err(mpsc::TryRecvError::Empty) => {}
            }
            let backlog = match indexed_up_to(trees) {
                Ok(indexed) => trees
                    .durable_seq
                    .load(std::sync::atomic::Ordering::SeqCst)
                    .saturating_sub(indexed),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the index marker");
                    0
                }
            };
            if backlog == 0 {
                // Caught up: persist the index now rather than at sled's next periodic flush.
                if let Err(e) = trees.index_db.flush() {
                    tracing::warn!(error = %e, "flushing the query index failed");
                }
                break;
            }
            let held = trees.activity.held_for();
            if backlog < MAX_HELD_BACKLOG && !held.is_zero() {
                match inbox.recv_timeout(held) {
                    Ok(Signal::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    Ok(Signal::Work) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                continue;
            }
            let idle = trees.activity.idle_for();
            if backlog < MAX_BACKLOG && idle < QUIET {
                match inbox.recv_timeout(QUIET - idle) {
                    Ok(Signal::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    Ok(Signal::Work) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                continue;
            }
            match index_pending(trees, INDEX_BATCH) {
                Ok(n) => tracing::debug!(reports = n, "indexed"),
                Err(e) => {
                    tracing::error!(error = %e, "indexing failed; retrying in a second");
                    if let Ok(Signal::Stop) = inbox.recv_timeout(Duration::from_secs(1)) {
                        return;
                    }
                }
            }
        }
    }
}

/// Indexing yields the processor to ingest and to sled's I/O threads: on Linux a thread has
/// its own nice value, and this one takes the lowest-but-one priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its integer arguments; `who == 0` names this thread.
        let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
        if result != 0 {
            tracing::debug!("could not lower the indexing thread's priority");
        }
    }
}

/// The highest arrival number whose postings are written.
pub(crate) fn indexed_up_to(trees: &Trees) -> Result<u64, ReadError> {
    match trees.index.get(keys::INDEXED_UP_TO)? {
        Some(v) => keys::decode_seq(&v).ok_or_else(|| ReadError::Corrupt("index marker".into())),
        None => Ok(0),
    }
}

/// Blocks of one tier merged into one block of the next tier once there are this many.
const MERGE_FAN_IN: usize = 4;
/// Postings in a block past which it is sealed (24 bytes each: about 24 KiB).
const SEALED_BLOCK_POSTINGS: usize = 1024;
/// The tier of sealed blocks.
const SEALED_TIER: u8 = u8::MAX;

/// Writes the postings of up to `max` reports past the marker, and the new marker, in one
/// atomic batch. Postings are idempotent, so a batch repeated after a crash changes nothing.
pub(crate) fn index_pending(trees: &Trees, max: usize) -> Result<usize, IngestError> {
    let _writer = trees
        .index_lock
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let from = indexed_up_to(trees)?;
    let mut batch = sled::Batch::default();
    let mut blocks: BTreeMap<u16, Vec<BlockPosting>> = BTreeMap::new();
    let mut last = from;
    let mut count = 0;
    let mut filed = Vec::new();
    let durable = trees.durable_seq.load(std::sync::atomic::Ordering::SeqCst);
    if durable <= from {
        return Ok(0);
    }
    let upper = durable.min(from.saturating_add(max as u64));
    // Reports handed over by ingest, in arrival order; anything else is read back.
    let handed_over: Vec<(u64, VerifiedReport)> = {
        let mut fresh = trees
            .fresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while fresh.front().is_some_and(|(seq, _)| *seq <= from) {
            fresh.pop_front();
        }
        let take = fresh.iter().take_while(|(seq, _)| *seq <= upper).count();
        fresh.drain(..take).collect()
    };
    let mut handed_over = handed_over.into_iter().peekable();
    for seq in from.saturating_add(1)..=upper {
        let report = match handed_over.next_if(|(s, _)| *s == seq) {
            Some((_, report)) => report,
            None => match trees.reports.get(keys::record(seq))? {
                Some(bytes) => trees.stored_report(&bytes)?.report,
                None => break,
            },
        };
        add_postings(&mut batch, &mut blocks, &report, seq);
        batch.insert(keys::id(&report.id()).as_slice(), &seq.to_be_bytes());
        filed.push(report.id());
        last = seq;
        count += 1;
    }
    if count == 0 {
        return Ok(0);
    }
    for (bucket, postings) in blocks {
        add_block(
            trees,
            &mut batch,
            bucket,
            postings,
            last,
            SEALED_BLOCK_POSTINGS,
        )?;
    }
    batch.insert(keys::INDEXED_UP_TO, &last.to_be_bytes());
    trees.index.apply_batch(batch)?;
    // Only now that the index holds them may the ids leave the unindexed map.
    let mut unindexed = trees.unindexed();
    for id in &filed {
        unindexed.remove(id);
    }
    Ok(count)
}

fn add_postings(
    batch: &mut sled::Batch,
    blocks: &mut BTreeMap<u16, Vec<BlockPosting>>,
    report: &VerifiedReport,
    seq: u64,
) {
    let r = report.report();
    let mut put = |prefix: Vec<u8>| batch.insert(keys::posting(&prefix, r.created_ms, seq), &[]);
    put(keys::prefix(keys::BY_AUTHOR, report.author().as_bytes()));
    put(keys::prefix(
        keys::BY_KIND_TLP,
        &[r.kind.to_proto() as u8, r.tlp.to_proto() as u8],
    ));
    for tag in &r.tags {
        put(keys::prefix(keys::BY_TAG, tag.as_bytes()));
    }
    let mut hashes: Vec<u64> = r
        .indicators
        .iter()
        .map(|i| keys::indicator_hash(&i.value))
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    for hash in hashes {
        blocks
            .entry((hash % u64::from(keys::INDICATOR_BUCKETS)) as u16)
            .or_default()
            .push(BlockPosting {
                hash,
                created_ms: r.created_ms,
                seq,
            });
    }
}

/// Files new postings as a tier-0 block of `bucket`; when a tier then holds `MERGE_FAN_IN`
/// blocks, they become one block of the next tier, and so on up. A merged block that would
/// pass `SEALED_BLOCK_POSTINGS` is sealed instead: never merged or read again while indexing
/// (queries still read it), so no posting is rewritten more than a few times.
fn add_block(
    trees: &Trees,
    batch: &mut sled::Batch,
    bucket: u16,
    mut postings: Vec<BlockPosting>,
    last_seq: u64,
    sealed_at: usize,
) -> Result<(), IngestError> {
    for tier in 0..SEALED_TIER {
        let existing: Vec<(sled::IVec, sled::IVec)> = trees
            .index
            .scan_prefix(keys::block_prefix(bucket, Some(tier)))
            .collect::<Result<_, _>>()?;
        if existing.len() + 1 < MERGE_FAN_IN {
            batch.insert(keys::block(bucket, tier, last_seq), encode_block(&postings));
            return Ok(());
        }
        for (key, value) in existing {
            let older = BlockPosting::decode_all(&value)
                .ok_or_else(|| ReadError::Corrupt("indicator block".into()))?;
            postings.extend(older);
            batch.remove(key);
        }
        if postings.len() >= sealed_at {
            break;
        }
    }
    batch.insert(
        keys::block(bucket, SEALED_TIER, last_seq),
        encode_block(&postings),
    );
    Ok(())
}

fn encode_block(postings: &[BlockPosting]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(postings.len() * 24);
    for p in postings {
        p.encode(&mut bytes);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    #[test]
    fn blocks_merge_by_tier_and_seal_without_losing_postings() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_without_indexer(dir.path());
        let trees = &store.trees;
        let mut all = Vec::new();
        for round in 0..40u64 {
            let postings: Vec<BlockPosting> = (0..10)
                .map(|i| BlockPosting {
                    hash: round * 100 + i,
                    created_ms: 1,
                    seq: round * 10 + i + 1,
                })
                .collect();
            all.extend(postings.clone());
            let mut batch = sled::Batch::default();
            add_block(trees, &mut batch, 7, postings, round * 10 + 10, 100).unwrap();
            trees.index.apply_batch(batch).unwrap();
        }
        let mut stored = Vec::new();
        let mut tiers = Vec::new();
        for item in trees.index.scan_prefix(keys::block_prefix(7, None)) {
            let (key, value) = item.unwrap();
            tiers.push(key[3]);
            stored.extend(BlockPosting::decode_all(&value).unwrap());
        }
        stored.sort_by_key(|p| p.seq);
        assert_eq!(stored, all, "postings lost or duplicated");
        assert!(
            tiers.contains(&SEALED_TIER),
            "nothing was sealed: {tiers:?}"
        );
        assert!(tiers.len() < 15, "blocks were not merged: {tiers:?}");
    }
}
