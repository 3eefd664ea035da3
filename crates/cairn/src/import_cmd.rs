//! `cairn import`: STIX 2.1 and MISP event JSON from other tools, signed as this organisation's
//! reports and stored (through the running node when there is one, which then shares them),
//! with an account of what became of every source object: imported, a new version, a duplicate,
//! or refused with the reason. A file that cannot be read as either format is refused whole.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_interop::import::{
    ImportOptions, Imported, ObjectOutcome, Outcome, ReportFate, import, settle,
};
use cairn_store::{IngestOutcome, Provenance, ReportQuery, Store};

use crate::control::SightedWanted;
use crate::home::Home;

/// Largest file read.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// Most reports stored per write.
const BATCH: usize = 512;

/// Most envelope bytes signed and held before they are stored: an import holds one batch of
/// signed reports at a time, whatever the size of the source. A batch travels to a running node
/// in base64 (4 bytes for every 3) on one control-socket line, at most `MAX_REQUEST_BYTES`.
const BATCH_BYTES: usize = 8 << 20;

/// Signed reports waiting to be stored, in order: at most `BATCH` of them and `BATCH_BYTES`
/// bytes (a report larger than that on its own is a batch of its own).
struct Batch<T> {
    items: Vec<T>,
    bytes: usize,
}

impl<T> Batch<T> {
    fn new() -> Batch<T> {
        Batch {
            items: Vec::new(),
            bytes: 0,
        }
    }

    /// Whether one more item of `size` bytes fits.
    fn has_room_for(&self, size: usize) -> bool {
        self.items.is_empty() || (self.items.len() < BATCH && self.bytes + size <= BATCH_BYTES)
    }

    fn push(&mut self, item: T, size: usize) {
        self.items.push(item);
        self.bytes += size;
    }

    /// The batch, emptied.
    fn take(&mut self) -> Vec<T> {
        self.bytes = 0;
        std::mem::take(&mut self.items)
    }
}

/// The files a path names: the file itself, or for a MISP feed folder (one with
/// `manifest.json`) the event file of every event its manifest lists, in the manifest's order.
fn files_of(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let manifest_path = path.join("manifest.json");
    if !manifest_path.is_file() {
        bail!(
            "{} is a folder without manifest.json: give the files to import, or a MISP feed folder",
            path.display()
        );
    }
    let text = read(&manifest_path)?;
    let manifest: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| {
            format!(
                "{} is not a MISP feed manifest (an object of events by uuid)",
                manifest_path.display()
            )
        })?;
    let mut files = Vec::with_capacity(manifest.len());
    for uuid in manifest.keys() {
        // A name from the file, never a path: only a UUID names an event file.
        if !cairn_core::stix::is_uuid(uuid) {
            bail!("{}: {uuid:?} is not an event uuid", manifest_path.display());
        }
        let file = path.join(format!("{uuid}.json"));
        if !file.is_file() {
            bail!(
                "{}: event {uuid} is listed but {} is missing",
                manifest_path.display(),
                file.display()
            );
        }
        files.push(file);
    }
    Ok(files)
}

fn read(path: &Path) -> Result<String> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > MAX_FILE_BYTES {
        bail!(
            "{} is {size} bytes: larger than the {} MiB an import reads",
            path.display(),
            MAX_FILE_BYTES >> 20
        );
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))
}

/// The report already stored for a source, if it was imported before.
fn already_imported(store: &Store, source_tag: &str) -> Result<Option<cairn_core::ReportId>> {
    let found = store.query(&ReportQuery {
        tag: Some(source_tag.to_string()),
        include_history: true,
        limit: 1,
        ..ReportQuery::default()
    })?;
    Ok(found.first().map(|s| s.report.id()))
}

/// Where imported reports go: the store itself, or the node running from the folder.
enum Destination<'a> {
    Store(Box<Store>),
    RunningNode(&'a Home),
}

impl Destination<'_> {
    /// The report already stored for a source, if it was imported before. A running node is
    /// not asked: the same source signs into the same report, which it then keeps once.
    fn already_imported(&self, source_tag: &str) -> Result<Option<cairn_core::ReportId>> {
        match self {
            Destination::Store(store) => already_imported(store, source_tag),
            Destination::RunningNode(_) => Ok(None),
        }
    }

    /// Stores a batch; one outcome per report.
    fn store(&self, reports: &[cairn_core::VerifiedReport]) -> Result<Vec<IngestOutcome>> {
        match self {
            Destination::Store(store) => {
                if let Some(first) = reports.first() {
                    crate::reports::check_signer(store, first)?;
                }
                Ok(store.insert(reports.to_vec(), Provenance::Import)?)
            }
            Destination::RunningNode(home) => {
                use crate::control::{ControlRequest, ControlResponse, ask};
                let answer = ask(
                    &home.control_socket_path(),
                    &ControlRequest::Publish {
                        envelopes: reports
                            .iter()
                            .map(|r| crate::control::encode_envelope(r.envelope_bytes()))
                            .collect(),
                        imported: true,
                    },
                )?;
                let ControlResponse::Published(outcomes) = answer else {
                    bail!("the running node answered something unexpected");
                };
                if outcomes.len() != reports.len() {
                    bail!(
                        "the running node answered for {} of {} reports",
                        outcomes.len(),
                        reports.len()
                    );
                }
                Ok(reports
                    .iter()
                    .zip(outcomes)
                    .map(|(report, o)| {
                        let reason = o.reason.unwrap_or_else(|| o.outcome.clone());
                        match o.outcome.as_str() {
                            "stored" => IngestOutcome::Stored {
                                id: report.id(),
                                seq: 0,
                            },
                            "duplicate" => IngestOutcome::Duplicate {
                                id: report.id(),
                                seq: 0,
                            },
                            _ => IngestOutcome::Refused {
                                id: report.id(),
                                reason,
                            },
                        }
                    })
                    .collect())
            }
        }
    }
}

/// Imports every file; returns failure if a file was refused whole (objects refused inside a
/// file are listed, with why, and counted in `--json`).
pub fn run(
    home: &Home,
    files: &[PathBuf],
    default_tlp: Option<cairn_core::Tlp>,
    json: bool,
) -> Result<ExitCode> {
    let config = home.config()?;
    let destination = if crate::control::is_running(&home.control_socket_path()) {
        Destination::RunningNode(home)
    } else {
        Destination::Store(Box::new(home.open_store()?))
    };
    let org = home.report_signing_key()?;
    let warning_lists = home.warning_lists()?;
    let us = org.author();
    // A sighting of a report held here becomes a sighting of it: a stopped node's store is
    // read for the report a sighting names or exports under its `sighting_of_ref`, or whose
    // MISP event it is of; a running node is asked the same, once per file for every sighting
    // in it (the file is then read again with the answers).
    let running_socket = home.control_socket_path();
    let sighted_store = match &destination {
        Destination::Store(store) => Some(&**store),
        Destination::RunningNode(_) => None,
    };
    let exported_by = sighted_store.map(cairn_api::stix_ids);
    let misp_event = sighted_store.map(cairn_api::misp_events);
    type Answers = std::collections::HashMap<SightedWanted, Option<cairn_core::VerifiedReport>>;
    let answered: std::cell::RefCell<Answers> = Default::default();
    let unanswered: std::cell::RefCell<Vec<SightedWanted>> = Default::default();
    let sighted = |wanted: &cairn_interop::import::SightedRef<'_>| match (
        sighted_store,
        &exported_by,
        &misp_event,
    ) {
        (Some(store), Some(exported_by), Some(misp_event)) => {
            cairn_api::sighted_in(store, exported_by, misp_event, wanted)
        }
        _ => {
            let wanted = SightedWanted::of(wanted);
            if let Some(found) = answered.borrow().get(&wanted) {
                return found.clone();
            }
            let mut unanswered = unanswered.borrow_mut();
            if !unanswered.contains(&wanted) {
                unanswered.push(wanted);
            }
            None
        }
    };
    let options = ImportOptions {
        default_tlp: default_tlp.unwrap_or(config.import.default_tlp),
        sighted: &sighted,
        ..ImportOptions::default()
    };
    let mut failed = false;
    let mut paths = Vec::with_capacity(files.len());
    for path in files {
        match files_of(path) {
            Ok(found) => paths.extend(found),
            Err(e) => {
                eprintln!("error: {}", crate::one_line(&format!("{e:#}")));
                failed = true;
            }
        }
    }
    for path in &paths {
        let imported = read(path).and_then(|text| {
            let once = import(&text, &us, &options)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let asked = unanswered.take();
            if asked.is_empty() {
                return Ok(once);
            }
            // Sightings the running node must place: asked together, then the file is read
            // again with the answers.
            let found =
                crate::control::ask_sighted(&running_socket, asked.clone()).with_context(|| {
                    format!(
                        "{}: the running node could not say which reports its sightings are of",
                        path.display()
                    )
                })?;
            answered.borrow_mut().extend(asked.into_iter().zip(found));
            import(&text, &us, &options).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        });
        let imported = match imported {
            Ok(imported) => imported,
            Err(e) => {
                eprintln!("error: {}", crate::one_line(&format!("{e:#}")));
                failed = true;
                continue;
            }
        };
        store_file(&destination, &org, &warning_lists, path, imported, json)?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A progress bar on standard error for `total` steps, drawn only on a terminal.
fn progress(total: usize, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "  {msg:8} [{bar:32}] {pos}/{len} reports ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// Signs and stores one file's reports and says what became of each object.
fn store_file(
    destination: &Destination<'_>,
    org: &cairn_core::ReportSigningKey,
    warning_lists: &cairn_core::warninglist::WarningLists,
    path: &Path,
    imported: Imported,
    json: bool,
) -> Result<()> {
    let mut imported = imported;
    let total = imported.reports.len();
    let mut fates: Vec<ReportFate> = Vec::with_capacity(total);
    let mut notes = Vec::new();
    // Indicators on a warning list, with the report that carries them.
    let mut flagged: Vec<(String, cairn_core::warninglist::Flag)> = Vec::new();
    // Signed a batch at a time and stored at once: memory holds the drafts and one batch.
    let mut batch: Batch<(usize, cairn_core::VerifiedReport)> = Batch::new();
    let store = |batch: Vec<(usize, cairn_core::VerifiedReport)>,
                 fates: &mut Vec<ReportFate>|
     -> Result<()> {
        let (places, reports): (Vec<usize>, Vec<cairn_core::VerifiedReport>) =
            batch.into_iter().unzip();
        for (k, outcome) in places.into_iter().zip(destination.store(&reports)?) {
            fates[k] = match outcome {
                IngestOutcome::Stored { id, .. } => ReportFate::Stored(id),
                IngestOutcome::Duplicate { id, .. } => ReportFate::AlreadyStored(id),
                IngestOutcome::Rejected(e) => ReportFate::Failed(e.to_string()),
                IngestOutcome::Refused { reason, .. } => ReportFate::Failed(reason),
            };
        }
        Ok(())
    };
    let bar = progress(total, "importing");
    for report in &mut imported.reports {
        let source_tag = report.draft.tags.first().cloned().unwrap_or_default();
        if let Some(existing) = destination.already_imported(&source_tag)? {
            fates.push(ReportFate::AlreadyStored(existing));
        } else {
            match report.sign(org) {
                Ok(verified) => {
                    for note in &report.notes {
                        notes.push(format!("{}: {note}", report.what()));
                    }
                    for flag in warning_lists.flags(&verified.report().indicators) {
                        flagged.push((report.what(), flag));
                    }
                    // The signed report holds what the draft carried.
                    report.draft.stix_objects = Vec::new();
                    report.draft.misp_event = None;
                    fates.push(ReportFate::Stored(verified.id()));
                    let size = verified.envelope_bytes().len();
                    if !batch.has_room_for(size) {
                        store(batch.take(), &mut fates)?;
                    }
                    batch.push((fates.len() - 1, verified), size);
                }
                Err(e) => fates.push(ReportFate::Failed(format!("not a valid report: {e}"))),
            }
        }
        bar.inc(1);
    }
    store(batch.take(), &mut fates)?;
    bar.finish_and_clear();
    let objects = if imported.accounts.is_empty() {
        // Sources read as whole events (MISP): one line per event report.
        imported
            .reports
            .iter()
            .zip(&fates)
            .map(|(report, fate)| report_outcome(report, fate))
            .chain(imported.skipped.iter().map(|s| ObjectOutcome {
                id: s.what.clone(),
                version: None,
                outcome: Outcome::Refused,
                report: None,
                message: s.why.clone(),
            }))
            .collect()
    } else {
        settle(&imported.accounts, &fates)
    };
    let count = |o: Outcome| objects.iter().filter(|x| x.outcome == o).count();
    let refused = count(Outcome::Refused);
    let stored = fates
        .iter()
        .filter(|f| matches!(f, ReportFate::Stored(_)))
        .count();
    if json {
        let document = serde_json::json!({
            "file": path.display().to_string(),
            "format": imported.format.to_string(),
            "objects": imported.objects,
            "reports_stored": stored,
            "imported": count(Outcome::Imported),
            "updated": count(Outcome::Updated),
            "duplicate": count(Outcome::Duplicate),
            "refused": refused,
            "merged_observables": imported.merged,
            "notes": notes,
            "warning_list_flags": flagged
                .iter()
                .map(|(what, flag)| serde_json::json!({
                    "report": what,
                    "indicator": flag.indicator,
                    "lists": flag.lists,
                }))
                .collect::<Vec<_>>(),
            "results": objects,
        });
        println!("{document}");
        return Ok(());
    }
    // Each object accounted for: a MISP file's sightings of events held here are accounted
    // for beside its events.
    let read = match imported.format {
        cairn_interop::import::SourceFormat::Stix => format!("{} object(s)", objects.len()),
        cairn_interop::import::SourceFormat::Misp => {
            match objects.len().saturating_sub(imported.objects) {
                0 => format!("{} event(s)", imported.objects),
                sightings => format!("{} event(s) and {sightings} sighting(s)", imported.objects),
            }
        }
    };
    println!(
        "{} ({}): {read} in {stored} new report(s): {} imported, {} new version(s), {} duplicate(s), {refused} refused",
        path.display(),
        imported.format,
        count(Outcome::Imported),
        count(Outcome::Updated),
        count(Outcome::Duplicate),
    );
    for note in &notes {
        println!("  note: {note}");
    }
    if !flagged.is_empty() {
        println!(
            "  {} indicator(s) on warning lists (known benign or reserved: check before acting on them):",
            flagged.len()
        );
        for (what, flag) in flagged.iter().take(10) {
            println!("    {} (in {what})", flag.describe());
        }
        if flagged.len() > 10 {
            println!(
                "    ... and {} more (--json lists them all)",
                flagged.len() - 10
            );
        }
    }
    // Duplicates and refusals: one line per reason, with a few examples.
    let mut by_reason: Vec<(&str, String, Vec<&str>)> = Vec::new();
    for o in objects
        .iter()
        .filter(|o| matches!(o.outcome, Outcome::Refused | Outcome::Duplicate))
    {
        let label = if o.outcome == Outcome::Refused {
            "refused"
        } else {
            "duplicate"
        };
        let why = if o.outcome == Outcome::Duplicate && o.report.is_some() {
            "already held".to_string()
        } else {
            o.message.clone()
        };
        match by_reason
            .iter_mut()
            .find(|(l, w, _)| *l == label && *w == why)
        {
            Some((_, _, ids)) => ids.push(&o.id),
            None => by_reason.push((label, why, vec![&o.id])),
        }
    }
    for (label, why, ids) in by_reason {
        if ids.len() == 1 {
            println!("  {label} {}: {why}", ids[0]);
        } else {
            let shown: Vec<&str> = ids.iter().take(3).copied().collect();
            println!(
                "  {label} {} objects ({}{}): {why}",
                ids.len(),
                shown.join(", "),
                if ids.len() > 3 { ", ..." } else { "" }
            );
        }
    }
    Ok(())
}

/// The outcome of a report made from a whole source event.
fn report_outcome(
    report: &cairn_interop::import::ImportedReport,
    fate: &ReportFate,
) -> ObjectOutcome {
    let (outcome, id, message) = match fate {
        ReportFate::Stored(id) => (Outcome::Imported, Some(id), format!("Cairn report {id}")),
        ReportFate::AlreadyStored(id) => (
            Outcome::Duplicate,
            Some(id),
            format!("already imported as Cairn report {id}"),
        ),
        ReportFate::Failed(why) => (Outcome::Refused, None, why.clone()),
    };
    ObjectOutcome {
        id: report.what(),
        version: None,
        outcome,
        report: id.map(|r| r.to_string()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_fit_one_control_request() {
        // Reports of a mebibyte (the largest a report may be) make batches that never exceed
        // what the control socket reads, even in base64.
        const { assert!(BATCH_BYTES / 3 * 4 + (4 << 20) < crate::control::MAX_REQUEST_BYTES) };
        let runs = |sizes: &[usize]| {
            let mut batch: Batch<()> = Batch::new();
            let mut runs = Vec::new();
            for &size in sizes {
                if !batch.has_room_for(size) {
                    runs.push(batch.take().len());
                }
                batch.push((), size);
            }
            runs.push(batch.take().len());
            runs
        };
        let big = runs(&[1 << 20; 100]);
        assert_eq!(big.iter().sum::<usize>(), 100);
        assert!(big.iter().all(|n| n * (1 << 20) <= BATCH_BYTES), "{big:?}");
        // Small reports go BATCH at a time; a report larger than a batch goes alone.
        assert_eq!(runs(&[1000; 1100]), vec![512, 512, 76]);
        assert_eq!(runs(&[BATCH_BYTES + 1, 10]), vec![1, 1]);
    }
}
