//! `cairn import`: STIX 2.1 bundles and MISP event JSON from other tools, signed as this
//! organisation's reports and stored, with an account of what was imported, merged or skipped
//! and why. A file that cannot be read as either format is refused whole.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_interop::import::{Imported, import};
use cairn_store::{IngestOutcome, Provenance, ReportQuery, Store};

use crate::home::Home;

/// Largest file read.
const MAX_FILE_BYTES: u64 = 256 << 20;

/// Reports stored per write.
const BATCH: usize = 512;

/// Show progress from this many reports on, when standard error is a terminal.
const PROGRESS_FROM: usize = 200;

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

/// The report already stored for a source object, if it was imported before.
fn already_imported(store: &Store, source_tag: &str) -> Result<Option<String>> {
    let found = store.query(&ReportQuery {
        tag: Some(source_tag.to_string()),
        include_history: true,
        limit: 1,
        ..ReportQuery::default()
    })?;
    Ok(found.first().map(|s| s.report.id().to_string()))
}

/// Imports every file; returns failure if any file was refused.
pub fn run(home: &Home, files: &[PathBuf]) -> Result<ExitCode> {
    let store = home.open_store()?;
    let org = home.org_key()?;
    let us = org.public();
    let mut refused = 0;
    for path in files {
        let imported = match read(path).and_then(|text| {
            import(&text, &us).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }) {
            Ok(imported) => imported,
            Err(e) => {
                eprintln!("error: {}", crate::one_line(&format!("{e:#}")));
                refused += 1;
                continue;
            }
        };
        store_file(&store, &org, path, imported)?;
    }
    Ok(if refused > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn store_file(
    store: &Store,
    org: &cairn_core::OrgKey,
    path: &Path,
    imported: Imported,
) -> Result<()> {
    let total = imported.reports.len();
    let progress = total >= PROGRESS_FROM && std::io::stderr().is_terminal();
    let mut skipped = imported.skipped;
    let mut signed = Vec::new();
    let mut notes = Vec::new();
    for (n, report) in imported.reports.into_iter().enumerate() {
        let source_tag = report.draft.tags.first().cloned().unwrap_or_default();
        if let Some(existing) = already_imported(store, &source_tag)? {
            skipped.push(cairn_interop::import::Skipped {
                what: report.source_id,
                why: format!("already imported as report {existing}"),
            });
            continue;
        }
        match report.draft.sign_imported(org, &report.source_id) {
            Ok(verified) => {
                for note in report.notes {
                    notes.push(format!("{}: {note}", report.source_id));
                }
                signed.push(verified);
            }
            Err(e) => skipped.push(cairn_interop::import::Skipped {
                what: report.source_id,
                why: format!("not a valid report: {e}"),
            }),
        }
        if progress && (n + 1) % 50 == 0 {
            eprint!("\r  signing {}/{total}", n + 1);
        }
    }
    let mut stored = 0;
    let mut observables = 0;
    let count = signed.len();
    for (k, chunk) in signed.chunks(BATCH).enumerate() {
        for (report, outcome) in chunk
            .iter()
            .zip(store.insert(chunk.to_vec(), Provenance::Import)?)
        {
            match outcome {
                IngestOutcome::Stored { .. } => {
                    stored += 1;
                    observables += report.report().indicators.len();
                }
                IngestOutcome::Duplicate { id, .. } => {
                    skipped.push(cairn_interop::import::Skipped {
                        what: id.to_string(),
                        why: "already stored".into(),
                    })
                }
                IngestOutcome::Rejected(e) => skipped.push(cairn_interop::import::Skipped {
                    what: report.id().to_string(),
                    why: e.to_string(),
                }),
                IngestOutcome::Refused { id, reason } => {
                    skipped.push(cairn_interop::import::Skipped {
                        what: id.to_string(),
                        why: reason,
                    })
                }
            }
        }
        if progress {
            eprint!("\r  storing {}/{count}   ", ((k + 1) * BATCH).min(count));
        }
    }
    if progress {
        eprintln!();
    }
    println!(
        "{} ({}): imported {stored} report(s) with {observables} observable(s); merged {} duplicate observable(s); skipped {}",
        path.display(),
        imported.format,
        imported.merged,
        skipped.len()
    );
    for note in &notes {
        println!("  note: {note}");
    }
    // One line per reason, with a few examples.
    let mut by_reason: Vec<(String, Vec<String>)> = Vec::new();
    for s in skipped {
        match by_reason.iter_mut().find(|(why, _)| *why == s.why) {
            Some((_, whats)) => whats.push(s.what),
            None => by_reason.push((s.why, vec![s.what])),
        }
    }
    for (why, whats) in by_reason {
        if whats.len() == 1 {
            println!("  skipped {}: {why}", whats[0]);
        } else {
            let shown: Vec<&str> = whats.iter().take(3).map(String::as_str).collect();
            println!(
                "  skipped {} objects ({}{}): {why}",
                whats.len(),
                shown.join(", "),
                if whats.len() > 3 { ", ..." } else { "" }
            );
        }
    }
    Ok(())
}
