//! Correlation: the current reports whose indicators relate to a value (the same observable, a
//! range or domain it lies in, an observable inside it, another hash of the same file), newest
//! first. Reads the query index's postings of the keys `cairn_core::correlation::lookups`
//! names, and the reports not indexed yet directly; every candidate is checked with
//! `cairn_core::correlation::relation`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

use cairn_core::correlation::{self, Probe, Relation};
use cairn_core::{Indicator, ReportId, ReportKind};

use crate::error::ReadError;
use crate::keys;
use crate::store::{ReportStatus, Store, StoredReport};

/// Reports read for their other hashes of a file, at most, before the hashes are looked up.
const FILE_READS: usize = 200;
/// Other hashes of a file looked up, at most.
const FILE_HASHES: usize = 16;
/// Fewest candidates read together once the first are read.
const MIN_BATCH: usize = 8;
/// Fewest candidates worth reading on two threads.
const PARALLEL_FROM: usize = 6;

/// `examine` applied to each of `seqs`, in order: on two threads when there are enough of
/// them and more than one core, so that a page of related reports takes about half as long.
/// Both threads take the next candidate as they become free, so that the calling thread is
/// not left waiting for a helper that started late or met slower reads.
fn read_together<T: Send>(seqs: &[u64], examine: &(impl Fn(u64) -> T + Sync)) -> Vec<T> {
    // Asked once: the answer reads the process's CPU quota from cgroup files.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if seqs.len() < PARALLEL_FROM || cores < 2 {
        return seqs.iter().map(|seq| examine(*seq)).collect();
    }
    let next = AtomicUsize::new(0);
    let take_turns = || {
        let mut done: Vec<(usize, T)> = Vec::new();
        loop {
            let n = next.fetch_add(1, AtomicOrdering::Relaxed);
            let Some(seq) = seqs.get(n) else {
                return done;
            };
            done.push((n, examine(*seq)));
        }
    };
    let mut all = std::thread::scope(|scope| {
        let helper = scope.spawn(take_turns);
        let mut all = take_turns();
        match helper.join() {
            Ok(rest) => all.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        all
    });
    all.sort_unstable_by_key(|(n, _)| *n);
    all.into_iter().map(|(_, t)| t).collect()
}

/// One indicator of a correlated report and how it relates to the value looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// How it relates.
    pub relation: Relation,
    /// The reading of the value it relates to (a value may stand for several observables).
    pub probe: Indicator,
    /// The report's indicator.
    pub indicator: Indicator,
}

/// A current report that relates to the value looked up.
#[derive(Debug, Clone)]
pub struct Correlated {
    /// The report.
    pub stored: StoredReport,
    /// Each of its indicators that relates, closest relation first.
    pub links: Vec<Link>,
}

/// What [`Store::correlate`] found.
#[derive(Debug, Clone, Default)]
pub struct Correlation {
    /// The reports, newest first.
    pub reports: Vec<Correlated>,
    /// Whether more reports relate than the limit let through.
    pub more: bool,
}

impl Store {
    /// The current reports (not superseded, not retracted, not retractions) with an indicator
    /// that relates to one of `probes` (the readings of one value), newest first, at most
    /// `limit` (0 means 100); `skip` leaves out one report (the one the value comes from).
    /// Another hash of the same file relates when some stored report (any version) names
    /// both as one file's.
    pub fn correlate(
        &self,
        probes: &[Indicator],
        limit: usize,
        skip: Option<&ReportId>,
    ) -> Result<Correlation, ReadError> {
        let limit = if limit == 0 { 100 } else { limit };
        let mut probes: Vec<Indicator> = probes.to_vec();
        let same_file = self.other_hashes_of(&probes)?;
        probes.extend(same_file.iter().cloned());
        let terms = terms_of(&probes);
        let index = self.trees.index.snapshot();
        let indexed = index.indexed_up_to.min(self.indexed_up_to());
        let mut seen: HashSet<ReportId> = skip.into_iter().copied().collect();
        // A report filed under several of the terms (an address and a range holding it) is
        // read once.
        let mut read: HashSet<u64> = HashSet::new();
        let mut found: Vec<Correlated> = Vec::new();
        let looked_up: Vec<Probe> = probes.iter().cloned().map(Probe::new).collect();
        let links =
            |stored: &StoredReport| -> Vec<Link> { links_of(stored, &looked_up, &same_file) };
        // A related, current report at `seq`, or none.
        let examine = |seq: u64| -> Result<Option<Correlated>, ReadError> {
            let stored = self
                .get_seq(seq)?
                .ok_or_else(|| ReadError::Corrupt(format!("index names missing arrival {seq}")))?;
            let links = links(&stored);
            if links.is_empty() || !self.is_current(&stored)? {
                return Ok(None);
            }
            Ok(Some(Correlated { stored, links }))
        };
        let mut postings = index
            .in_order(&terms, i64::MIN, i64::MAX, None, false)
            .map_err(ReadError::Index)?;
        let mut batch: Vec<u64> = Vec::new();
        loop {
            // As many candidates as are still wanted, newest first, read together.
            batch.clear();
            let wanted = (limit + 1).saturating_sub(found.len()).max(MIN_BATCH);
            for posting in postings.by_ref() {
                let (_, seq) = posting.map_err(ReadError::Index)?;
                if seq <= indexed && read.insert(seq) {
                    batch.push(seq);
                    if batch.len() >= wanted {
                        break;
                    }
                }
            }
            if batch.is_empty() {
                break;
            }
            for examined in read_together(&batch, &examine) {
                if let Some(correlated) = examined?
                    && seen.insert(correlated.stored.report.id())
                {
                    found.push(correlated);
                }
            }
            if found.len() > limit {
                break;
            }
        }
        for item in self.records_after(indexed) {
            let (_, bytes) = item?;
            let stored = self.trees.stored_report(&bytes)?;
            if !seen.insert(stored.report.id()) {
                continue;
            }
            let links = links(&stored);
            if !links.is_empty() && self.is_current(&stored)? {
                found.push(Correlated { stored, links });
            }
        }
        found.sort_by(|a, b| {
            (b.stored.report.report().created_ms, b.stored.seq)
                .cmp(&(a.stored.report.report().created_ms, a.stored.seq))
        });
        let more = found.len() > limit;
        found.truncate(limit);
        Ok(Correlation {
            reports: found,
            more,
        })
    }

    /// The other hashes named as the same file's as a hash among `probes`, in any stored
    /// report: read from the reports that name the hash (at most [`FILE_READS`] of them).
    fn other_hashes_of(&self, probes: &[Indicator]) -> Result<Vec<Indicator>, ReadError> {
        let hashes: Vec<&Indicator> = probes
            .iter()
            .filter(|p| correlation::is_hash(p.kind))
            .collect();
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let terms: Vec<u64> = hashes
            .iter()
            .map(|h| keys::term_hash(keys::BY_INDICATOR, h.value.as_bytes()))
            .collect();
        let index = self.trees.index.snapshot();
        let indexed = index.indexed_up_to.min(self.indexed_up_to());
        let mut others: Vec<Indicator> = Vec::new();
        let add = |others: &mut Vec<Indicator>, stored: &StoredReport| {
            let r = stored.report.report();
            for hash in &hashes {
                for other in r.same_file_as(hash) {
                    let known = |i: &Indicator| i.kind == other.kind && i.value == other.value;
                    if !others.iter().any(known) && !probes.iter().any(known) {
                        others.push(Indicator::bare(other));
                    }
                }
            }
        };
        let mut read = 0;
        for posting in index
            .in_order(&terms, i64::MIN, i64::MAX, None, false)
            .map_err(ReadError::Index)?
        {
            let (_, seq) = posting.map_err(ReadError::Index)?;
            if seq > indexed {
                continue;
            }
            if let Some(stored) = self.get_seq(seq)? {
                add(&mut others, &stored);
            }
            read += 1;
            if read >= FILE_READS || others.len() >= FILE_HASHES {
                break;
            }
        }
        for item in self.records_after(indexed) {
            let (_, bytes) = item?;
            add(&mut others, &self.trees.stored_report(&bytes)?);
        }
        others.truncate(FILE_HASHES);
        Ok(others)
    }

    fn is_current(&self, stored: &StoredReport) -> Result<bool, ReadError> {
        Ok(stored.report.report().kind != ReportKind::Retraction
            && self.status(&stored.report)? == ReportStatus::Current)
    }
}

/// The index terms whose postings may hold a report related to one of `probes`.
fn terms_of(probes: &[Indicator]) -> Vec<u64> {
    let mut terms = Vec::new();
    for probe in probes {
        let lookups = correlation::lookups(probe);
        terms.extend(
            lookups
                .values
                .iter()
                .map(|v| keys::term_hash(keys::BY_INDICATOR, v.as_bytes())),
        );
        terms.extend(
            lookups
                .inside
                .iter()
                .map(|k| keys::term_hash(keys::BY_CONTAINED, k.as_bytes())),
        );
        terms.extend(
            lookups
                .covers
                .iter()
                .map(|k| keys::term_hash(keys::BY_COVER, k.as_bytes())),
        );
    }
    terms
}

/// How the indicators of `stored` relate to `probes`, the closest relation first; a probe
/// among `same_file` (another hash of a looked-up file) relates as [`Relation::SameFile`].
fn links_of(stored: &StoredReport, probes: &[Probe], same_file: &[Indicator]) -> Vec<Link> {
    let mut links = Vec::new();
    for indicator in &stored.report.report().indicators {
        let mut best: Option<Link> = None;
        for looked_up in probes {
            let Some(mut relation) = looked_up.relation(indicator) else {
                continue;
            };
            let probe = &looked_up.indicator;
            if same_file.contains(probe) {
                if relation != Relation::Same {
                    continue;
                }
                relation = Relation::SameFile;
            }
            if best.as_ref().is_none_or(|b| relation < b.relation) {
                best = Some(Link {
                    relation,
                    probe: probe.clone(),
                    indicator: indicator.clone(),
                });
            }
        }
        links.extend(best);
    }
    links.sort_by_key(|l| l.relation);
    links
}
