//! `cairn import`: STIX 2.1 bundles and MISP event JSON from other tools, signed as this
//! organisation's reports and stored (through the running node when there is one, which then
//! shares them), with an account of what was imported, merged or skipped and why. A file that
//! cannot be read as either format is refused whole.

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

/// Where imported reports go: the store itself, or the node running from the folder.
enum Destination<'a> {
    Store(Box<Store>),
    RunningNode(&'a Home),
}

impl Destination<'_> {
    /// The report already stored for a source object, if it was imported before. A running
    /// node is not asked: the same source object signs into the same report, which it then
    /// keeps once.
    fn already_imported(&self, source_tag: &str) -> Result<Option<String>> {
        match self {
            Destination::Store(store) => already_imported(store, source_tag),
            Destination::RunningNode(_) => Ok(None),
        }
    }

    /// Stores a batch; one outcome per report.
    fn store(&self, reports: &[cairn_core::VerifiedReport]) -> Result<Vec<IngestOutcome>> {
        match self {
            Destination::Store(store) => Ok(store.insert(reports.to_vec(), Provenance::Import)?),
            Destination::RunningNode(home) => {
                use crate::control::{ControlRequest, ControlResponse, ask};
                let answer = ask(
                    &home.control_socket_path(),
                    &ControlRequest::Publish {
                        envelopes: reports
                            .iter()
                            .map(|r| hex::encode(r.envelope_bytes()))
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

/// Imports every file; returns failure if any file was refused.
pub fn run(home: &Home, files: &[PathBuf]) -> Result<ExitCode> {
    let destination = if crate::control::is_running(&home.control_socket_path()) {
        Destination::RunningNode(home)
    } else {
        Destination::Store(Box::new(home.open_store()?))
    };
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
        store_file(&destination, &org, path, imported)?;
    }
    Ok(if refused > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn store_file(
    destination: &Destination<'_>,
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
        if let Some(existing) = destination.already_imported(&source_tag)? {
            skipped.push(cairn_interop::import::Skipped {
                what: report.what(),
                why: format!("already imported as report {existing}"),
            });
            continue;
        }
        match report.draft.sign_imported(org, &report.source_id) {
            Ok(verified) => {
                for note in &report.notes {
                    notes.push(format!("{}: {note}", report.what()));
                }
                signed.push(verified);
            }
            Err(e) => skipped.push(cairn_interop::import::Skipped {
                what: report.what(),
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
        for (report, outcome) in chunk.iter().zip(destination.store(chunk)?) {
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
