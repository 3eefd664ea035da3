//! The query index's writer: postings and ids filed as runs (`runs`) after the durable ingest,
//! by a background thread, from the arrival log, when ingest pauses (or the backlog grows past
//! a bound). Keeping them out of
//! the ingest batch keeps ingest as fast as the signature checks; queries stay exact by also
//! reading the reports not yet indexed.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_core::VerifiedReport;

use crate::error::IngestError;
use crate::keys;
use crate::runs::{IdEntry, Posting};
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
            let backlog = trees
                .durable_seq
                .load(std::sync::atomic::Ordering::SeqCst)
                .saturating_sub(indexed_up_to(trees));
            if backlog == 0 {
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
pub(crate) fn indexed_up_to(trees: &Trees) -> u64 {
    trees.index.snapshot().indexed_up_to
}

/// Writes the postings and ids of up to `max` reports past the marker as one run of the query
/// index, and moves the marker, in one step (the manifest naming the run): a crash before it
/// leaves the index as it was.
pub(crate) fn index_pending(trees: &Trees, max: usize) -> Result<usize, IngestError> {
    let _writer = trees
        .index_lock
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let from = indexed_up_to(trees);
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
    let mut postings = Vec::new();
    let mut ids = Vec::new();
    let mut filed = Vec::new();
    let mut last = from;
    for seq in from.saturating_add(1)..=upper {
        let report = match handed_over.next_if(|(s, _)| *s == seq) {
            Some((_, report)) => report,
            None => match trees.reports.get(keys::record(seq))? {
                Some(bytes) => trees.stored_report(&bytes)?.report,
                None => break,
            },
        };
        add_postings(&mut postings, &report, seq);
        ids.push(IdEntry {
            id: *report.id().as_bytes(),
            seq,
        });
        filed.push(report.id());
        last = seq;
    }
    if ids.is_empty() {
        return Ok(0);
    }
    let count = ids.len();
    trees
        .index
        .add(postings, ids, from + 1, last)
        .map_err(IngestError::Index)?;
    // Only now that the index holds them may the ids leave the unindexed map.
    let mut unindexed = trees.unindexed();
    for id in &filed {
        unindexed.remove(id);
    }
    Ok(count)
}

/// The postings of one report: its author, its kind and TLP label together, each tag, sector,
/// region and Paris Call principle, each distinct indicator value and the ranges and domains
/// it lies inside, and each word of its title and summary.
fn add_postings(postings: &mut Vec<Posting>, report: &VerifiedReport, seq: u64) {
    let r = report.report();
    let mut put = |index: u8, value: &[u8]| {
        postings.push(Posting::new(
            keys::term_hash(index, value),
            r.created_ms,
            seq,
        ));
    };
    put(keys::BY_AUTHOR, report.author().as_bytes());
    put(
        keys::BY_KIND_TLP,
        &[r.kind.to_proto() as u8, r.tlp.to_proto() as u8],
    );
    for tag in &r.tags {
        put(keys::BY_TAG, tag.as_bytes());
    }
    for sector in &r.sectors {
        put(keys::BY_SECTOR, sector.as_bytes());
    }
    for region in &r.regions {
        put(keys::BY_REGION, region.as_bytes());
    }
    for principle in &r.paris_call_principles {
        put(keys::BY_PRINCIPLE, &principle.to_be_bytes());
    }
    // The run drops a repeated posting.
    for indicator in &r.indicators {
        put(keys::BY_INDICATOR, indicator.value.as_bytes());
        for key in cairn_core::search::containment_keys(indicator) {
            put(keys::BY_CONTAINED, key.as_bytes());
        }
        if let Some(key) = cairn_core::correlation::cover_key(indicator) {
            put(keys::BY_COVER, key.as_bytes());
        }
    }
    for word in cairn_core::search::indexed_words(&r.title, &r.summary) {
        put(keys::BY_WORD, word.as_bytes());
    }
}
