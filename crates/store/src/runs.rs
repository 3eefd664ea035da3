//! The query index on disk: immutable runs of sorted postings and ids in files, named by a
//! manifest, merged in tiers by size.
//!
//! A run holds the postings (term hash, created time, arrival number) and the ids (report id,
//! arrival number) of a range of arrivals, each sorted, then a Bloom filter of its terms and
//! ids, then a trailer with the counts and a CRC-32. The process keeps only every `FENCE`-th
//! entry of each section and the filter (10 bits per distinct term) in memory; a lookup skips
//! the runs whose filter says they lack the term, and reads one stretch of each other run's
//! file through the operating system's cache, so the index costs the process little however
//! many reports it covers (the sled index it replaces held its tree nodes in the process's
//! memory).
//!
//! Durability: a run is written to a temporary file, synced and renamed; then the manifest,
//! which names the runs and how far they cover, is replaced the same way. A crash leaves the
//! last manifest and the runs it names; any other file in the folder is left over and removed
//! at open. The index is derived from the reports: a manifest or run that cannot be read is
//! reported and the index is rebuilt from the reports.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::bloom::Bloom;

/// Every `FENCE`-th entry of a run is kept in memory: a lookup reads at most this many.
const FENCE: u64 = 256;
/// Entries read at a time when walking a run.
const CHUNK: u64 = 256;
/// Runs of one tier merged into one once there are this many.
const MERGE_FAN_IN: usize = 4;
/// Entries in a run of tier 0 at most; each tier up holds four times as many.
const TIER_0_ENTRIES: u64 = 4096;
/// The manifest's file name.
const MANIFEST: &str = "MANIFEST";
/// The manifest's first line: an index whose postings differ (written by another version of
/// Cairn) has another, and is rebuilt.
const MANIFEST_HEADER: &str = "cairn query index 5";
/// A run's trailer: magic, version, CRC-32 of the entries and filter, postings, ids, first and
/// last arrival number, keys the filter was sized for, filter bytes.
const TRAILER_LEN: u64 = 8 + 4 + 4 + 8 * 6;
const TRAILER_MAGIC: &[u8; 8] = b"CAIRNRUN";
const RUN_VERSION: u32 = 2;
/// Bits of a run's filter per distinct term or id it holds: about 1% false positives.
const FILTER_BITS_PER_KEY: u64 = 10;

/// One posting: a term (hash of index and value), a report's created time and its arrival
/// number. Postings sort by term, then time, then arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Posting {
    pub(crate) term: u64,
    /// The created time, order-preserving (sign bit flipped).
    time: u64,
    pub(crate) seq: u64,
}

impl Posting {
    pub(crate) fn new(term: u64, created_ms: i64, seq: u64) -> Posting {
        Posting {
            term,
            time: order_preserving(created_ms),
            seq,
        }
    }

    pub(crate) fn created_ms(&self) -> i64 {
        (self.time ^ (1 << 63)) as i64
    }
}

fn order_preserving(ms: i64) -> u64 {
    (ms as u64) ^ (1 << 63)
}

/// A report id and its arrival number. Ids sort by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct IdEntry {
    pub(crate) id: [u8; 32],
    pub(crate) seq: u64,
}

/// A fixed-size entry of a run.
trait Entry: Copy + Ord {
    const LEN: u64;
    fn write(&self, out: &mut Vec<u8>);
    fn read(bytes: &[u8]) -> Self;
}

fn word(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(b)
}

impl Entry for Posting {
    const LEN: u64 = 24;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.term.to_be_bytes());
        out.extend_from_slice(&self.time.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
    }
    fn read(bytes: &[u8]) -> Self {
        Posting {
            term: word(bytes, 0),
            time: word(bytes, 8),
            seq: word(bytes, 16),
        }
    }
}

impl Entry for IdEntry {
    const LEN: u64 = 40;
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&self.seq.to_be_bytes());
    }
    fn read(bytes: &[u8]) -> Self {
        let mut id = [0u8; 32];
        id.copy_from_slice(&bytes[..32]);
        IdEntry {
            id,
            seq: word(bytes, 32),
        }
    }
}

fn damaged(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// One sorted section of a run's file, with its fences.
#[derive(Debug)]
struct Section<E> {
    offset: u64,
    count: u64,
    fences: Vec<E>,
}

impl<E: Entry> Section<E> {
    /// Entries `from..to`.
    fn read(&self, file: &File, from: u64, to: u64) -> io::Result<Vec<E>> {
        let to = to.min(self.count);
        if from >= to {
            return Ok(Vec::new());
        }
        let mut bytes = vec![0u8; ((to - from) * E::LEN) as usize];
        file.read_exact_at(&mut bytes, self.offset + from * E::LEN)?;
        Ok(bytes.chunks_exact(E::LEN as usize).map(E::read).collect())
    }

    /// The entries `lo..hi` between two prefixes (`lo_pred` holds for `..lo`, `hi_pred` for
    /// `..hi`, `lo <= hi`), and, when both ends fall in one fence block, those entries, read
    /// with that block in one read (a term's postings are usually that few).
    fn range(
        &self,
        file: &File,
        lo_pred: impl Fn(&E) -> bool,
        hi_pred: impl Fn(&E) -> bool,
    ) -> io::Result<(u64, u64, Option<Vec<E>>)> {
        let lo_fence = self.fences.partition_point(&lo_pred) as u64;
        let hi_fence = self.fences.partition_point(&hi_pred) as u64;
        if hi_fence == 0 {
            return Ok((0, 0, Some(Vec::new())));
        }
        if lo_fence != hi_fence {
            let lo = self.partition_point(file, &lo_pred)?;
            let hi = self.partition_point(file, &hi_pred)?;
            return Ok((lo, hi, None));
        }
        let from = (hi_fence - 1) * FENCE;
        let mut block = self.read(file, from, from + FENCE)?;
        let lo = block.partition_point(&lo_pred);
        let hi = block.partition_point(&hi_pred).max(lo);
        block.truncate(hi);
        block.drain(..lo);
        Ok((from + lo as u64, from + hi as u64, Some(block)))
    }

    /// The number of leading entries for which `pred` holds (it must hold for a prefix).
    fn partition_point(&self, file: &File, pred: impl Fn(&E) -> bool) -> io::Result<u64> {
        let fence = self.fences.partition_point(&pred) as u64;
        if fence == 0 {
            return Ok(0);
        }
        let from = (fence - 1) * FENCE;
        let block = self.read(file, from, from + FENCE)?;
        Ok(from + block.partition_point(&pred) as u64)
    }
}

/// One run: its file, kept open (a merged-away run stays readable by the snapshots that hold
/// it), and its sections.
#[derive(Debug)]
pub(crate) struct Run {
    generation: u64,
    file: File,
    postings: Section<Posting>,
    ids: Section<IdEntry>,
    first_seq: u64,
    last_seq: u64,
    /// The distinct terms and ids the run holds.
    keys: u64,
    /// Every term and id the run holds (as [`id_key`]).
    filter: Bloom,
}

/// The filter key of a report id: ids are SHA-256 outputs, so their first eight bytes are
/// uniform.
fn id_key(id: &[u8; 32]) -> u64 {
    word(id, 0)
}

impl Run {
    fn entries(&self) -> u64 {
        self.postings.count + self.ids.count
    }

    fn bytes(&self) -> u64 {
        self.postings.count * Posting::LEN
            + self.ids.count * IdEntry::LEN
            + self.filter.len_bytes()
            + TRAILER_LEN
    }

    /// False when the run certainly holds no posting of `term`.
    fn may_hold_term(&self, term: u64) -> bool {
        self.filter.may_contain(term)
    }

    /// False when the run certainly does not hold this report id.
    fn may_hold_id(&self, id: &[u8; 32]) -> bool {
        self.filter.may_contain(id_key(id))
    }

    fn tier(&self) -> u32 {
        (self.entries() / TIER_0_ENTRIES).max(1).ilog(4)
    }

    /// Opens a run and checks it whole (length, order, CRC), keeping its fences.
    fn open(path: &Path, generation: u64) -> io::Result<Run> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len < TRAILER_LEN {
            return Err(damaged(format!("{} is too short", path.display())));
        }
        let mut trailer = [0u8; TRAILER_LEN as usize];
        file.read_exact_at(&mut trailer, len - TRAILER_LEN)?;
        if &trailer[..8] != TRAILER_MAGIC {
            return Err(damaged(format!(
                "{} is not a query index run",
                path.display()
            )));
        }
        let version = u32::from_be_bytes([trailer[8], trailer[9], trailer[10], trailer[11]]);
        if version != RUN_VERSION {
            return Err(damaged(format!(
                "{} has run format {version}, not {RUN_VERSION}",
                path.display()
            )));
        }
        let crc = u32::from_be_bytes([trailer[12], trailer[13], trailer[14], trailer[15]]);
        let postings = word(&trailer, 16);
        let ids = word(&trailer, 24);
        let first_seq = word(&trailer, 32);
        let last_seq = word(&trailer, 40);
        let keys = word(&trailer, 48);
        let filter_len = word(&trailer, 56);
        let expected = postings
            .checked_mul(Posting::LEN)
            .and_then(|p| ids.checked_mul(IdEntry::LEN).and_then(|i| p.checked_add(i)))
            .and_then(|b| b.checked_add(filter_len))
            .and_then(|b| b.checked_add(TRAILER_LEN));
        if expected != Some(len) {
            return Err(damaged(format!(
                "{} holds {len} bytes, not what its trailer counts",
                path.display()
            )));
        }
        // A run holds no more distinct terms and ids than entries (the next merge sizes its
        // filter from this count).
        if postings
            .checked_add(ids)
            .is_none_or(|entries| keys > entries)
        {
            return Err(damaged(format!(
                "{} counts {keys} distinct keys in fewer entries",
                path.display()
            )));
        }
        let mut reader = BufReader::with_capacity(64 << 10, &file);
        let mut hasher = crc32fast::Hasher::new();
        let posting_fences = read_fences::<Posting>(&mut reader, postings, &mut hasher, path)?;
        let id_fences = read_fences::<IdEntry>(&mut reader, ids, &mut hasher, path)?;
        // The length was checked against the file's above.
        let mut filter_bytes = vec![0u8; filter_len as usize];
        reader.read_exact(&mut filter_bytes)?;
        hasher.update(&filter_bytes);
        if hasher.finalize() != crc {
            return Err(damaged(format!(
                "{} does not match its checksum",
                path.display()
            )));
        }
        Ok(Run {
            generation,
            postings: Section {
                offset: 0,
                count: postings,
                fences: posting_fences,
            },
            ids: Section {
                offset: postings * Posting::LEN,
                count: ids,
                fences: id_fences,
            },
            file,
            first_seq,
            last_seq,
            keys,
            filter: Bloom::from_bytes(&filter_bytes).ok_or_else(|| {
                damaged(format!(
                    "{} has a term filter of {filter_len} bytes, not whole blocks",
                    path.display()
                ))
            })?,
        })
    }

    /// A reader of every posting in order.
    fn posting_stream(&self) -> Stream<'_, Posting> {
        Stream::new(&self.file, &self.postings)
    }

    /// A reader of every id in order.
    fn id_stream(&self) -> Stream<'_, IdEntry> {
        Stream::new(&self.file, &self.ids)
    }
}

/// Reads `count` entries in order, checking that they are sorted and feeding the CRC; keeps
/// every `FENCE`-th.
fn read_fences<E: Entry>(
    reader: &mut impl Read,
    count: u64,
    hasher: &mut crc32fast::Hasher,
    path: &Path,
) -> io::Result<Vec<E>> {
    let mut fences = Vec::with_capacity(count.div_ceil(FENCE) as usize);
    let mut bytes = vec![0u8; E::LEN as usize];
    let mut previous: Option<E> = None;
    for n in 0..count {
        reader.read_exact(&mut bytes)?;
        hasher.update(&bytes);
        let entry = E::read(&bytes);
        if previous.is_some_and(|p| p >= entry) {
            return Err(damaged(format!("{} is out of order", path.display())));
        }
        previous = Some(entry);
        if n.is_multiple_of(FENCE) {
            fences.push(entry);
        }
    }
    Ok(fences)
}

/// Reads one section of a run front to back, a chunk at a time.
struct Stream<'a, E> {
    file: &'a File,
    section: &'a Section<E>,
    next: u64,
    chunk: std::vec::IntoIter<E>,
}

impl<'a, E: Entry> Stream<'a, E> {
    fn new(file: &'a File, section: &'a Section<E>) -> Self {
        Stream {
            file,
            section,
            next: 0,
            chunk: Vec::new().into_iter(),
        }
    }

    fn next_entry(&mut self) -> io::Result<Option<E>> {
        if let Some(entry) = self.chunk.next() {
            return Ok(Some(entry));
        }
        if self.next >= self.section.count {
            return Ok(None);
        }
        let to = self.next + CHUNK * 16;
        self.chunk = self.section.read(self.file, self.next, to)?.into_iter();
        self.next = to.min(self.section.count);
        Ok(self.chunk.next())
    }
}

/// Writes a run: postings, then ids, each in order, then the trailer; collects the fences.
struct RunWriter {
    tmp: PathBuf,
    path: PathBuf,
    out: BufWriter<File>,
    hasher: crc32fast::Hasher,
    buf: Vec<u8>,
    postings: Written<Posting>,
    ids: Written<IdEntry>,
    /// The distinct terms and ids written, and the filter that holds them.
    keys: u64,
    filter: Bloom,
}

/// What a run writer has written of one section.
struct Written<E> {
    count: u64,
    fences: Vec<E>,
    last: Option<E>,
}

impl<E: Entry> Written<E> {
    fn new() -> Self {
        Written {
            count: 0,
            fences: Vec::new(),
            last: None,
        }
    }

    /// Takes `entry` as the next one: false for a repeat of the last (dropped), an error when
    /// out of order.
    fn accept(&mut self, entry: E) -> io::Result<bool> {
        match self.last {
            Some(last) if last == entry => return Ok(false),
            Some(last) if last > entry => {
                return Err(io::Error::other("query index entries out of order"));
            }
            _ => {}
        }
        if self.count.is_multiple_of(FENCE) {
            self.fences.push(entry);
        }
        self.count += 1;
        self.last = Some(entry);
        Ok(true)
    }

    fn into_section(self, offset: u64) -> Section<E> {
        Section {
            offset,
            count: self.count,
            fences: self.fences,
        }
    }
}

impl RunWriter {
    /// A writer of run `generation` whose filter is sized for `keys` distinct terms and ids
    /// (more may be written, at a higher false positive rate).
    fn create(dir: &Path, generation: u64, keys: u64) -> io::Result<RunWriter> {
        let tmp = dir.join(format!("run-{generation:016x}.tmp"));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        Ok(RunWriter {
            path: dir.join(run_name(generation)),
            tmp,
            out: BufWriter::with_capacity(64 << 10, file),
            hasher: crc32fast::Hasher::new(),
            buf: Vec::with_capacity(64),
            postings: Written::new(),
            ids: Written::new(),
            keys: 0,
            filter: Bloom::with_capacity(keys, FILTER_BITS_PER_KEY),
        })
    }

    fn put<E: Entry>(&mut self, entry: &E) -> io::Result<()> {
        self.buf.clear();
        entry.write(&mut self.buf);
        self.hasher.update(&self.buf);
        self.out.write_all(&self.buf)
    }

    /// Adds a posting (in order; a repeat of the last one is dropped).
    fn posting(&mut self, p: Posting) -> io::Result<()> {
        if self.ids.count > 0 {
            return Err(io::Error::other("postings must come before ids"));
        }
        let new_term = self.postings.last.is_none_or(|last| last.term != p.term);
        if self.postings.accept(p)? {
            if new_term {
                self.filter.insert(p.term);
                self.keys += 1;
            }
            self.put(&p)?;
        }
        Ok(())
    }

    /// Adds an id (in order; a repeat of the last one is dropped).
    fn id(&mut self, e: IdEntry) -> io::Result<()> {
        if self.ids.accept(e)? {
            self.filter.insert(id_key(&e.id));
            self.keys += 1;
            self.put(&e)?;
        }
        Ok(())
    }

    /// Writes the trailer, syncs, and gives the file its name.
    fn finish(mut self, generation: u64, first_seq: u64, last_seq: u64) -> io::Result<Run> {
        let filter = self.filter.to_bytes();
        self.hasher.update(&filter);
        self.out.write_all(&filter)?;
        let mut trailer = Vec::with_capacity(TRAILER_LEN as usize);
        trailer.extend_from_slice(TRAILER_MAGIC);
        trailer.extend_from_slice(&RUN_VERSION.to_be_bytes());
        trailer.extend_from_slice(&self.hasher.clone().finalize().to_be_bytes());
        for n in [
            self.postings.count,
            self.ids.count,
            first_seq,
            last_seq,
            self.keys,
            filter.len() as u64,
        ] {
            trailer.extend_from_slice(&n.to_be_bytes());
        }
        self.out.write_all(&trailer)?;
        let file = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.path)?;
        Ok(Run {
            generation,
            file: File::open(&self.path)?,
            ids: self.ids.into_section(self.postings.count * Posting::LEN),
            postings: self.postings.into_section(0),
            first_seq,
            last_seq,
            keys: self.keys,
            filter: self.filter,
        })
    }
}

fn run_name(generation: u64) -> String {
    format!("run-{generation:016x}")
}

/// The runs a reader sees: consistent with one another and with `indexed_up_to`.
#[derive(Debug, Default)]
pub(crate) struct RunSet {
    /// Every report up to this arrival number has its postings and id in the runs.
    pub(crate) indexed_up_to: u64,
    next_generation: u64,
    runs: Vec<Arc<Run>>,
}

impl RunSet {
    /// The arrival number of this report id, if a run holds it.
    pub(crate) fn seq_of(&self, id: &[u8; 32]) -> io::Result<Option<u64>> {
        for run in self.runs.iter().rev().filter(|r| r.may_hold_id(id)) {
            let at = run.ids.partition_point(&run.file, |e| e.id < *id)?;
            if let Some(entry) = run.ids.read(&run.file, at, at + 1)?.first()
                && entry.id == *id
            {
                return Ok(Some(entry.seq));
            }
        }
        Ok(None)
    }

    /// Calls `each` with every id held that starts with `prefix`.
    pub(crate) fn ids_starting(
        &self,
        prefix: &[u8],
        mut each: impl FnMut(&IdEntry),
    ) -> io::Result<()> {
        for run in &self.runs {
            let mut at = run
                .ids
                .partition_point(&run.file, |e| e.id.as_slice() < prefix)?;
            'run: while at < run.ids.count {
                let chunk = run.ids.read(&run.file, at, at + CHUNK)?;
                for entry in &chunk {
                    if !entry.id.starts_with(prefix) {
                        break 'run;
                    }
                    each(entry);
                }
                at += chunk.len() as u64;
            }
        }
        Ok(())
    }

    /// How many postings `terms` have together in every run (a term's postings are
    /// contiguous: two searches per run).
    pub(crate) fn count(&self, terms: &[u64]) -> io::Result<u64> {
        let mut total = 0;
        for &term in terms {
            for run in self.runs.iter().filter(|r| r.may_hold_term(term)) {
                let lo = run.postings.partition_point(&run.file, |p| p.term < term)?;
                let hi = run
                    .postings
                    .partition_point(&run.file, |p| p.term <= term)?;
                total += hi - lo;
            }
        }
        Ok(total)
    }

    /// The postings of any of `terms` created in `since..=until` and, with `past`, past that
    /// position (created time, arrival number) in the order asked: newest first, or oldest
    /// first with `oldest_first`, merged across every run.
    pub(crate) fn in_order(
        &self,
        terms: &[u64],
        since_ms: i64,
        until_ms: i64,
        past: Option<(i64, u64)>,
        oldest_first: bool,
    ) -> io::Result<Ordered> {
        let mut cursors = Vec::new();
        let since = order_preserving(since_ms);
        let until = order_preserving(until_ms);
        let past = past.map(|(ms, seq)| (order_preserving(ms), seq));
        let mut terms = terms.to_vec();
        terms.sort_unstable();
        terms.dedup();
        for term in terms {
            for run in self.runs.iter().filter(|r| r.may_hold_term(term)) {
                let key = |p: &Posting| (p.term, p.time, p.seq);
                let (lo, hi, read) = run.postings.range(
                    &run.file,
                    |p| {
                        (p.term, p.time) < (term, since)
                            || (oldest_first && past.is_some_and(|b| key(p) <= (term, b.0, b.1)))
                    },
                    |p| {
                        (p.term, p.time) <= (term, until)
                            && (oldest_first || past.is_none_or(|b| key(p) < (term, b.0, b.1)))
                    },
                )?;
                if lo < hi {
                    // Postings read with their block are handed out from it, with nothing left
                    // to read.
                    let (chunk, lo, hi) = match read {
                        Some(mut chunk) => {
                            if oldest_first {
                                chunk.reverse();
                            }
                            (chunk, hi, hi)
                        }
                        None => (Vec::new(), lo, hi),
                    };
                    cursors.push(Cursor {
                        run: Arc::clone(run),
                        lo,
                        hi,
                        oldest_first,
                        chunk,
                    });
                }
            }
        }
        let mut ordered = Ordered {
            cursors,
            oldest_first,
            heap: BinaryHeap::new(),
        };
        for n in 0..ordered.cursors.len() {
            ordered.refill(n)?;
        }
        Ok(ordered)
    }
}

/// Walks one run's postings for one term, backwards (newest first) or forwards.
struct Cursor {
    run: Arc<Run>,
    /// The postings `lo..hi` are still to be read.
    lo: u64,
    hi: u64,
    oldest_first: bool,
    /// Read and not yet handed out, the next one last.
    chunk: Vec<Posting>,
}

impl Cursor {
    fn next(&mut self) -> io::Result<Option<Posting>> {
        if let Some(p) = self.chunk.pop() {
            return Ok(Some(p));
        }
        if self.hi <= self.lo {
            return Ok(None);
        }
        if self.oldest_first {
            let to = (self.lo + CHUNK).min(self.hi);
            self.chunk = self.run.postings.read(&self.run.file, self.lo, to)?;
            self.chunk.reverse();
            self.lo = to;
        } else {
            let from = self.hi.saturating_sub(CHUNK).max(self.lo);
            self.chunk = self.run.postings.read(&self.run.file, from, self.hi)?;
            self.hi = from;
        }
        Ok(self.chunk.pop())
    }
}

/// Postings in (created time, arrival number) order, newest or oldest first, merged across
/// cursors.
pub(crate) struct Ordered {
    cursors: Vec<Cursor>,
    oldest_first: bool,
    /// The next posting of each cursor, keyed so that the heap's greatest comes next (its
    /// bits flipped when the oldest come first).
    heap: BinaryHeap<(u64, u64, usize)>,
}

impl Ordered {
    fn key(&self, time: u64, seq: u64) -> (u64, u64) {
        if self.oldest_first {
            (!time, !seq)
        } else {
            (time, seq)
        }
    }

    fn refill(&mut self, n: usize) -> io::Result<()> {
        if let Some(p) = self.cursors[n].next()? {
            let (time, seq) = self.key(p.time, p.seq);
            self.heap.push((time, seq, n));
        }
        Ok(())
    }
}

impl Iterator for Ordered {
    /// Created time (ms) and arrival number.
    type Item = io::Result<(i64, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        let (time, seq, n) = self.heap.pop()?;
        // Flipping the bits again gives them back.
        let (time, seq) = self.key(time, seq);
        if let Err(e) = self.refill(n) {
            return Some(Err(e));
        }
        Some(Ok((Posting { term: 0, time, seq }.created_ms(), seq)))
    }
}

/// The query index: its folder and the runs readers see now. One writer at a time (the
/// store's index lock).
#[derive(Debug)]
pub(crate) struct QueryIndex {
    dir: PathBuf,
    current: RwLock<Arc<RunSet>>,
}

impl QueryIndex {
    /// Opens the index in `dir` (creating it). A manifest or run that cannot be read is
    /// reported and the index starts empty, to be rebuilt from the reports; so is an index
    /// that claims reports past `last_seq`, the last one stored.
    pub(crate) fn open(dir: &Path, last_seq: u64) -> io::Result<QueryIndex> {
        fs::create_dir_all(dir)?;
        let set = match read_manifest(dir) {
            Ok(set) if set.indexed_up_to <= last_seq => set,
            Ok(set) => {
                tracing::warn!(
                    indexed = set.indexed_up_to,
                    last = last_seq,
                    "the query index is ahead of the reports; rebuilding it"
                );
                RunSet::default()
            }
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "the query index cannot be read; rebuilding it from the reports");
                RunSet::default()
            }
        };
        let index = QueryIndex {
            dir: dir.to_path_buf(),
            current: RwLock::new(Arc::new(RunSet::default())),
        };
        let set = RunSet {
            next_generation: set.next_generation.max(1),
            ..set
        };
        index.install(set)?;
        Ok(index)
    }

    /// What readers see now.
    pub(crate) fn snapshot(&self) -> Arc<RunSet> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Bytes the runs take on disk.
    pub(crate) fn size_on_disk(&self) -> u64 {
        self.snapshot().runs.iter().map(|r| r.bytes()).sum()
    }

    /// Files the postings and ids of the reports `first_seq..=last_seq` (any order) as a new
    /// run, moves the marker to `last_seq`, then merges runs while a tier is full.
    pub(crate) fn add(
        &self,
        mut postings: Vec<Posting>,
        mut ids: Vec<IdEntry>,
        first_seq: u64,
        last_seq: u64,
    ) -> io::Result<()> {
        postings.sort_unstable();
        ids.sort_unstable();
        let current = self.snapshot();
        let generation = current.next_generation;
        let mut terms = postings.len() as u64;
        for pair in postings.windows(2) {
            terms -= u64::from(pair[0].term == pair[1].term);
        }
        let mut writer = RunWriter::create(&self.dir, generation, terms + ids.len() as u64)?;
        for p in postings {
            writer.posting(p)?;
        }
        for e in ids {
            writer.id(e)?;
        }
        let run = writer.finish(generation, first_seq, last_seq)?;
        let mut runs = current.runs.clone();
        runs.push(Arc::new(run));
        self.install(RunSet {
            indexed_up_to: last_seq,
            next_generation: generation + 1,
            runs,
        })?;
        self.merge_full_tiers()
    }

    /// While some tier holds `MERGE_FAN_IN` runs, merges that tier's runs into one.
    fn merge_full_tiers(&self) -> io::Result<()> {
        loop {
            let current = self.snapshot();
            let mut by_tier: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
            for (n, run) in current.runs.iter().enumerate() {
                by_tier.entry(run.tier()).or_default().push(n);
            }
            let Some(group) = by_tier.into_values().find(|g| g.len() >= MERGE_FAN_IN) else {
                return Ok(());
            };
            let inputs: Vec<&Arc<Run>> = group.iter().map(|&n| &current.runs[n]).collect();
            let generation = current.next_generation;
            let merged = merge(&self.dir, generation, &inputs)?;
            // The merged run takes the place of the first of its inputs: runs stay in the
            // order they were written, newest last.
            let mut runs = Vec::with_capacity(current.runs.len() + 1 - group.len());
            for (n, run) in current.runs.iter().enumerate() {
                if n == group[0] {
                    runs.push(Arc::clone(&merged));
                } else if !group.contains(&n) {
                    runs.push(Arc::clone(run));
                }
            }
            self.install(RunSet {
                indexed_up_to: current.indexed_up_to,
                next_generation: generation + 1,
                runs,
            })?;
        }
    }

    /// Writes the manifest naming `set`, makes `set` what readers see, and removes every
    /// file the manifest does not name.
    fn install(&self, set: RunSet) -> io::Result<()> {
        let mut text = format!(
            "{MANIFEST_HEADER}\nindexed_up_to {}\nnext_generation {}\n",
            set.indexed_up_to, set.next_generation
        );
        for run in &set.runs {
            text.push_str(&format!("run {}\n", run_name(run.generation)));
        }
        let tmp = self.dir.join(format!("{MANIFEST}.tmp"));
        {
            let mut file = File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join(MANIFEST))?;
        File::open(&self.dir)?.sync_all()?;
        let keep: std::collections::HashSet<String> =
            set.runs.iter().map(|r| run_name(r.generation)).collect();
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(set);
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != MANIFEST && !keep.contains(&name) {
                // Readers holding an older snapshot keep their open files.
                if let Err(e) = fs::remove_file(entry.path()) {
                    tracing::warn!(error = %e, file = %entry.path().display(), "cannot remove a query index file no longer used");
                }
            }
        }
        Ok(())
    }
}

/// Reads the manifest and opens the runs it names.
fn read_manifest(dir: &Path) -> io::Result<RunSet> {
    let text = match fs::read_to_string(dir.join(MANIFEST)) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(RunSet::default()),
        Err(e) => return Err(e),
    };
    let mut lines = text.lines();
    match lines.next() {
        Some(MANIFEST_HEADER) => {}
        Some(other) if other.starts_with("cairn query index ") => {
            return Err(damaged(format!(
                "it was written by another version of Cairn ({other:?}, this one writes {MANIFEST_HEADER:?})"
            )));
        }
        _ => return Err(damaged("the manifest does not start with its header")),
    }
    let mut number = |name: &str| -> io::Result<u64> {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|v| v.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| damaged(format!("the manifest has no valid {name} line")))
    };
    let indexed_up_to = number("indexed_up_to")?;
    let next_generation = number("next_generation")?;
    let mut runs = Vec::new();
    for line in lines {
        let generation = line
            .strip_prefix("run run-")
            .and_then(|g| u64::from_str_radix(g, 16).ok())
            .filter(|g| *g < next_generation)
            .ok_or_else(|| damaged(format!("the manifest line {line:?} names no run")))?;
        runs.push(Arc::new(Run::open(
            &dir.join(run_name(generation)),
            generation,
        )?));
    }
    Ok(RunSet {
        indexed_up_to,
        next_generation,
        runs,
    })
}

/// Merges runs into a new one, reading each front to back.
fn merge(dir: &Path, generation: u64, inputs: &[&Arc<Run>]) -> io::Result<Arc<Run>> {
    // The inputs' distinct keys together: at least the merged run's.
    let keys = inputs.iter().map(|r| r.keys).sum();
    let mut writer = RunWriter::create(dir, generation, keys)?;
    merge_section(inputs.iter().map(|r| r.posting_stream()).collect(), |p| {
        writer.posting(p)
    })?;
    merge_section(inputs.iter().map(|r| r.id_stream()).collect(), |e| {
        writer.id(e)
    })?;
    let first_seq = inputs.iter().map(|r| r.first_seq).min().unwrap_or(0);
    let last_seq = inputs.iter().map(|r| r.last_seq).max().unwrap_or(0);
    Ok(Arc::new(writer.finish(generation, first_seq, last_seq)?))
}

/// A k-way merge of sorted streams, smallest first.
fn merge_section<E: Entry>(
    mut streams: Vec<Stream<'_, E>>,
    mut put: impl FnMut(E) -> io::Result<()>,
) -> io::Result<()> {
    struct Head<E>(E, usize);
    impl<E: Ord> PartialEq for Head<E> {
        fn eq(&self, other: &Self) -> bool {
            self.cmp(other) == Ordering::Equal
        }
    }
    impl<E: Ord> Eq for Head<E> {}
    impl<E: Ord> PartialOrd for Head<E> {
        fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
            Some(self.cmp(other))
        }
    }
    impl<E: Ord> Ord for Head<E> {
        // Reversed: the heap hands out the smallest entry.
        fn cmp(&self, other: &Self) -> Ordering {
            (&other.0, other.1).cmp(&(&self.0, self.1))
        }
    }
    let mut heap = BinaryHeap::new();
    for (n, stream) in streams.iter_mut().enumerate() {
        if let Some(e) = stream.next_entry()? {
            heap.push(Head(e, n));
        }
    }
    while let Some(Head(e, n)) = heap.pop() {
        put(e)?;
        if let Some(next) = streams[n].next_entry()? {
            heap.push(Head(next, n));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn posting(term: u64, created_ms: i64, seq: u64) -> Posting {
        Posting::new(term, created_ms, seq)
    }

    /// Every posting of `terms` in the window, newest first, from a plain list.
    fn oracle(
        all: &[Posting],
        terms: &[u64],
        since: i64,
        until: i64,
        past: Option<(i64, u64)>,
        oldest_first: bool,
    ) -> Vec<(i64, u64)> {
        let mut found: Vec<(i64, u64)> = all
            .iter()
            .filter(|p| terms.contains(&p.term))
            .map(|p| (p.created_ms(), p.seq))
            .filter(|&(ms, seq)| {
                ms >= since
                    && ms <= until
                    && past.is_none_or(|b| {
                        if oldest_first {
                            (ms, seq) > b
                        } else {
                            (ms, seq) < b
                        }
                    })
            })
            .collect();
        found.sort_unstable_by(|a, b| if oldest_first { a.cmp(b) } else { b.cmp(a) });
        found
    }

    #[test]
    fn queries_over_merged_runs_match_a_plain_list() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let index = QueryIndex::open(dir.path(), u64::MAX).unwrap();
        let mut all = Vec::new();
        let mut all_ids = Vec::new();
        let mut seq = 0u64;
        for batch in 0..60 {
            // Batches of very different sizes, so that runs land in several tiers.
            let size = if batch % 7 == 0 {
                900
            } else {
                rng.gen_range(1..40)
            };
            let first = seq + 1;
            let mut postings = Vec::new();
            let mut ids = Vec::new();
            for _ in 0..size {
                seq += 1;
                let created = rng.gen_range(-50..50);
                for term in [rng.gen_range(0..5u64), 100 + rng.gen_range(0..300u64)] {
                    postings.push(posting(term, created, seq));
                }
                let mut id = [0u8; 32];
                rng.fill(&mut id);
                ids.push(IdEntry { id, seq });
            }
            all.extend(postings.iter().copied());
            all_ids.extend(ids.iter().copied());
            index.add(postings, ids, first, seq).unwrap();
        }
        let set = index.snapshot();
        assert_eq!(set.indexed_up_to, seq);
        assert!(
            set.runs.len() < 16,
            "runs were not merged: {}",
            set.runs.len()
        );
        for _ in 0..200 {
            let terms: Vec<u64> = (0..rng.gen_range(1..3))
                .map(|_| {
                    if rng.gen_bool(0.5) {
                        rng.gen_range(0..6)
                    } else {
                        100 + rng.gen_range(0..301)
                    }
                })
                .collect();
            let since = rng.gen_range(-60..40);
            let until = rng.gen_range(since..60);
            let past = rng
                .gen_bool(0.5)
                .then(|| (rng.gen_range(-50..50), rng.gen_range(0..seq + 2)));
            let oldest_first = rng.gen_bool(0.5);
            let got: Vec<(i64, u64)> = set
                .in_order(&terms, since, until, past, oldest_first)
                .unwrap()
                .collect::<io::Result<_>>()
                .unwrap();
            assert_eq!(
                got,
                oracle(&all, &terms, since, until, past, oldest_first),
                "oldest first: {oldest_first}"
            );
            let mut distinct = terms.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(
                set.count(&distinct).unwrap(),
                all.iter().filter(|p| distinct.contains(&p.term)).count() as u64
            );
        }
        for entry in all_ids.iter().step_by(17) {
            assert_eq!(set.seq_of(&entry.id).unwrap(), Some(entry.seq));
            let mut found = Vec::new();
            set.ids_starting(&entry.id[..2], |e| found.push(*e))
                .unwrap();
            let expected: Vec<&IdEntry> = all_ids
                .iter()
                .filter(|e| e.id.starts_with(&entry.id[..2]))
                .collect();
            assert_eq!(found.len(), expected.len());
            assert!(found.contains(entry));
        }
        assert_eq!(set.seq_of(&[0xab; 32]).unwrap(), None);

        // Reopened, it reads the same; the files are exactly the runs it names.
        drop(set);
        drop(index);
        let index = QueryIndex::open(dir.path(), u64::MAX).unwrap();
        let set = index.snapshot();
        assert_eq!(set.indexed_up_to, seq);
        let got: Vec<(i64, u64)> = set
            .in_order(&[3], i64::MIN, i64::MAX, None, false)
            .unwrap()
            .collect::<io::Result<_>>()
            .unwrap();
        assert_eq!(got, oracle(&all, &[3], i64::MIN, i64::MAX, None, false));
        let files = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, set.runs.len() + 1);
    }

    #[test]
    fn a_damaged_run_or_manifest_empties_the_index_and_stray_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let index = QueryIndex::open(dir.path(), 100).unwrap();
        index
            .add(
                vec![posting(1, 5, 1), posting(2, 5, 1)],
                vec![IdEntry {
                    id: [1; 32],
                    seq: 1,
                }],
                1,
                1,
            )
            .unwrap();
        drop(index);
        fs::write(dir.path().join("run-00000000000000ff.tmp"), b"left over").unwrap();
        let index = QueryIndex::open(dir.path(), 100).unwrap();
        assert_eq!(index.snapshot().indexed_up_to, 1);
        assert!(!dir.path().join("run-00000000000000ff.tmp").exists());
        drop(index);

        // An index ahead of the reports starts again.
        let index = QueryIndex::open(dir.path(), 0).unwrap();
        assert_eq!(index.snapshot().indexed_up_to, 0);
        drop(index);

        // One flipped byte in a run's postings, or in its term filter (just before the
        // trailer), and a trailer that counts more distinct keys than the run has entries (the
        // CRC does not cover the trailer; the count sizes the next merge's filter): each run is
        // refused and removed, and the index starts again.
        let flip_posting: fn(&mut Vec<u8>) = |bytes| bytes[3] ^= 1;
        let flip_filter: fn(&mut Vec<u8>) = |bytes| {
            let in_filter = bytes.len() - TRAILER_LEN as usize - 1;
            bytes[in_filter] ^= 1;
        };
        let too_many_keys: fn(&mut Vec<u8>) = |bytes| {
            let keys_at = bytes.len() - TRAILER_LEN as usize + 48;
            bytes[keys_at..keys_at + 8].copy_from_slice(&u64::MAX.to_be_bytes());
        };
        let damages = [flip_posting, flip_filter, too_many_keys];
        for damage in damages {
            let index = QueryIndex::open(dir.path(), 100).unwrap();
            index.add(vec![posting(1, 5, 1)], Vec::new(), 1, 1).unwrap();
            drop(index);
            let run = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("run-"))
                .unwrap();
            let mut bytes = fs::read(&run).unwrap();
            damage(&mut bytes);
            fs::write(&run, &bytes).unwrap();
            let index = QueryIndex::open(dir.path(), 100).unwrap();
            assert_eq!(index.snapshot().indexed_up_to, 0);
            assert!(!run.exists());
        }

        // A manifest that is not one.
        fs::write(dir.path().join(MANIFEST), "something else\n").unwrap();
        let index = QueryIndex::open(dir.path(), 100).unwrap();
        assert_eq!(index.snapshot().indexed_up_to, 0);
    }
}
