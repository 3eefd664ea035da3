//! `cairn bundle export` and `cairn bundle import`: store-and-forward bundles for partners that
//! exchange files instead of connecting. The running node writes and reads them (it holds the
//! store, the sharing rules and the node key); the command names the file, and the node says
//! what went in or what became of each report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_node::NodeHandle;
use serde::{Deserialize, Serialize};

use crate::control::{ControlRequest, ControlResponse, ask};
use crate::home::Home;

/// What a written bundle holds, and where it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleWritten {
    /// The file.
    pub file: String,
    /// The partner it is for.
    pub partner: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// What it holds.
    #[serde(flatten)]
    pub contents: cairn_node::bundles::BundleContents,
}

/// What reading a bundle did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleRead {
    /// The partner it came from.
    pub partner: String,
    /// Reports stored.
    pub stored: usize,
    /// Reports already held.
    pub duplicates: usize,
    /// Reports refused, each with why.
    pub refused: Vec<String>,
    /// The writer's arrivals the bundle accounts for, after `after` and up to `through`.
    pub after: u64,
    /// See `after`.
    pub through: u64,
    /// Whether the writer had more than fit.
    pub more: bool,
    /// Our position in the writing node's arrivals before the bundle, and after.
    pub cursor_before: u64,
    /// See `cursor_before`.
    pub cursor_after: u64,
    /// Key statements of the partner new to this node.
    pub new_statements: usize,
}

/// Writes a bundle for `partner` into `file`, which must not exist (the running node's side).
pub async fn write_running(
    node: &NodeHandle,
    partner: &str,
    after: Option<u64>,
    file: &Path,
) -> Result<BundleWritten> {
    if file.exists() {
        bail!(
            "{} exists already: name a new file (a bundle never replaces one)",
            file.display()
        );
    }
    let written = node.write_bundle(partner, after).await?;
    let (path, bytes) = (file.to_path_buf(), written.bytes);
    let size = bytes.len() as u64;
    tokio::task::spawn_blocking(move || write_new(&path, &bytes))
        .await
        .context("the node is stopping")??;
    Ok(BundleWritten {
        file: file.display().to_string(),
        partner: partner.to_string(),
        bytes: size,
        contents: written.contents,
    })
}

/// Writes `bytes` to a new file: beside it first, then renamed, so that a reader never sees
/// half a bundle and an existing file is never replaced.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let partial = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", partial.display()))?;
    if path.exists() {
        let _ = std::fs::remove_file(&partial);
        bail!("{} appeared meanwhile: not replaced", path.display());
    }
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot move {} to {}", partial.display(), path.display()))
}

/// Reads the bundle in `file` (the running node's side).
pub async fn read_running(node: &NodeHandle, file: &Path) -> Result<BundleRead> {
    let path = file.to_path_buf();
    let bytes = tokio::task::spawn_blocking(move || read_file(&path))
        .await
        .context("the node is stopping")??;
    let read = node.read_bundle(bytes).await?;
    Ok(BundleRead {
        partner: read.partner.name.clone(),
        stored: read.received.stored.len(),
        duplicates: read.received.duplicates,
        refused: read
            .received
            .rejected
            .iter()
            .map(|r| r.line.clone())
            .chain(
                read.refused_statements
                    .iter()
                    .map(|s| format!("key statement refused: {s}")),
            )
            .collect(),
        after: read.after,
        through: read.through,
        more: read.more,
        cursor_before: read.cursor_before,
        cursor_after: read.cursor_after,
        new_statements: read.new_statements.len(),
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let max = cairn_core::bundle::MAX_BUNDLE_BYTES as u64;
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > max {
        bail!(
            "{} is {size} bytes; a bundle is at most {max} bytes",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The absolute form of a path given on the command line (the node may run elsewhere).
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// `cairn bundle export --for PARTNER [--after N] --out FILE`.
pub fn export(
    home: &Home,
    partner: &str,
    after: Option<u64>,
    out: &Path,
    json: bool,
) -> Result<ExitCode> {
    let request = ControlRequest::WriteBundle {
        partner: partner.to_string(),
        after,
        file: absolute(out)?.display().to_string(),
    };
    let ControlResponse::BundleWritten(written) = ask(&home.control_socket_path(), &request)?
    else {
        bail!("the running node answered something unexpected");
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&written)?);
        return Ok(ExitCode::SUCCESS);
    }
    if written.contents.through > written.contents.after {
        println!(
            "Wrote {} ({} bytes): {} report{} for {}, from this node's arrivals {} to {} (of {}).",
            written.file,
            written.bytes,
            written.contents.reports,
            if written.contents.reports == 1 {
                ""
            } else {
                "s"
            },
            written.partner,
            written.contents.after + 1,
            written.contents.through,
            written.contents.head
        );
    } else {
        println!(
            "Wrote {} ({} bytes): nothing new for {} after this node's arrival {}.",
            written.file, written.bytes, written.partner, written.contents.after
        );
    }
    for (rule, n) in &written.contents.withheld {
        println!("  {n} withheld by the sharing rules ({rule})");
    }
    if let Some(until) = written.contents.embargo_until {
        println!(
            "  It stops at a report embargoed for {} until {}: export again after that.",
            written.partner,
            cairn_core::when::rfc3339(until)
        );
    } else if written.contents.more {
        println!(
            "  More did not fit: export again (the next bundle starts after {}).",
            written.contents.through
        );
    }
    println!(
        "The next `cairn bundle export --for {}` starts after {}; give --after N to start elsewhere (N as the partner's import reports it).",
        written.partner, written.contents.through
    );
    Ok(ExitCode::SUCCESS)
}

/// `cairn bundle import FILE`.
pub fn import(home: &Home, file: &Path, json: bool) -> Result<ExitCode> {
    let request = ControlRequest::ReadBundle {
        file: absolute(file)?.display().to_string(),
    };
    let ControlResponse::BundleRead(read) = ask(&home.control_socket_path(), &request)? else {
        bail!("the running node answered something unexpected");
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&read)?);
    } else {
        println!(
            "From {}: {} stored, {} already held, {} refused.",
            read.partner,
            read.stored,
            read.duplicates,
            read.refused.len()
        );
        for why in &read.refused {
            println!("  refused: {why}");
        }
        if read.after > read.cursor_before {
            println!(
                "An earlier bundle is missing: this one starts after {}'s arrival {}, and this node holds them only up to {}. Ask {} for `cairn bundle export --for <this organisation> --after {}`, import it, then this one again.",
                read.partner, read.after, read.cursor_before, read.partner, read.cursor_before
            );
        } else {
            println!(
                "This node now holds {}'s arrivals up to {}{}.",
                read.partner,
                read.cursor_after,
                if read.more {
                    " (it had more than fitted: ask for the next bundle)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(if read.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
