//! `cairn backup DIR` and `cairn restore DIR`: a consistent copy of a node (its store, taken
//! by the running node itself while it serves, or from a stopped node; node.toml, keys and
//! tokens beside it) and bringing it back into an empty home with every report verified.
//! A backup is written into `DIR.partial` and renamed to `DIR` only once complete, so that an
//! interrupted one is never mistaken for a backup.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_core::OrgPublicKey;
use cairn_store::{Store, StoreConfig};

use crate::control::{ControlRequest, ControlResponse, ask, is_running};
use crate::home::{Home, now_ms};
use crate::view;

/// The file that makes a folder a complete backup.
pub const MANIFEST: &str = "backup.json";

/// What a backup says of itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The backup format (1).
    pub format: u32,
    /// When it was made (RFC 3339).
    pub made: String,
    /// The Cairn version that made it.
    pub cairn: String,
    /// The organisation's display name.
    pub organisation: String,
    /// The organisation key.
    pub org_key: String,
    /// The node's PeerId.
    pub peer_id: String,
    /// Reports in the store.
    pub reports: u64,
    /// The last arrival number in the store.
    pub last_seq: u64,
    /// Whether it was taken from a running node.
    pub from_running_node: bool,
}

/// What the running node answers when asked to copy its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreCopied {
    /// Reports copied.
    pub reports: u64,
    /// The last arrival number copied.
    pub last_seq: u64,
}

/// Copies the store of a running node (on a blocking thread): for the control socket.
pub async fn copy_running_store(node: &cairn_node::NodeHandle, to: PathBuf) -> Result<StoreCopied> {
    let store = node.store().clone();
    let summary = tokio::task::spawn_blocking(move || store.backup(&to))
        .await
        .context("the backup stopped")??;
    Ok(StoreCopied {
        reports: summary.reports,
        last_seq: summary.last_seq,
    })
}

fn partial_path(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    dir.with_file_name(name)
}

/// Copies a file, readable by its owner only, and flushes it.
fn copy_private(from: &Path, to: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .with_context(|| format!("cannot write {}", to.display()))?;
    std::io::Write::write_all(&mut file, &bytes)
        .with_context(|| format!("cannot write {}", to.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", to.display()))?;
    Ok(())
}

fn private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Copies the files of a folder (not its subfolders).
fn copy_files(from: &Path, to: &Path) -> Result<Vec<String>> {
    private_dir(to)?;
    let mut copied = Vec::new();
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            copy_private(&entry.path(), &to.join(entry.file_name()))?;
            copied.push(entry.file_name().to_string_lossy().to_string());
        }
    }
    copied.sort();
    Ok(copied)
}

/// Copies a folder and everything under it.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    private_dir(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            copy_private(&entry.path(), &target)?;
        }
    }
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Ok(dir) = std::fs::File::open(path) {
        let _ = dir.sync_all();
    }
}

/// `cairn backup DIR`.
pub fn backup(home: &Home, dir: &Path) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    if dir.exists() {
        bail!(
            "{} exists already: back up into a new folder",
            dir.display()
        );
    }
    let config = home.config()?;
    let certificate = home.node_certificate()?;
    let partial = partial_path(dir);
    if partial.exists() {
        eprintln!(
            "Removing {}, left by a backup that did not finish.",
            partial.display()
        );
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    private_dir(&partial)?;
    let socket = home.control_socket_path();
    let running = is_running(&socket);
    let copied = if running {
        let to = std::fs::canonicalize(&partial)?.join("store");
        match ask(
            &socket,
            &ControlRequest::Backup {
                store: to.to_string_lossy().to_string(),
            },
        )? {
            ControlResponse::StoreCopied(copied) => copied,
            _ => bail!("the running node answered something unexpected"),
        }
    } else {
        let store = Store::open(&home.store_path(), &StoreConfig::default())?;
        let summary = store.backup(&partial.join("store"))?;
        StoreCopied {
            reports: summary.reports,
            last_seq: summary.last_seq,
        }
    };
    copy_private(&home.config_path(), &partial.join("node.toml"))?;
    let keys = copy_files(&home.root().join("keys"), &partial.join("keys"))?;
    let tokens = home.tokens_path().exists();
    if tokens {
        copy_private(&home.tokens_path(), &partial.join("tokens.json"))?;
    }
    let manifest = Manifest {
        format: 1,
        made: view::rfc3339(now_ms()),
        cairn: env!("CARGO_PKG_VERSION").to_string(),
        organisation: config.node.organisation.clone(),
        org_key: certificate.org_key.to_string(),
        peer_id: cairn_net::peer_id_of(&certificate.node_key)?.to_string(),
        reports: copied.reports,
        last_seq: copied.last_seq,
        from_running_node: running,
    };
    let path = partial.join(MANIFEST);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::File::open(&path)?.sync_all()?;
    sync_dir(&partial);
    std::fs::rename(&partial, dir)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), dir.display()))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent);
    }
    println!(
        "Backed up {} reports (arrivals up to {}), node.toml, keys ({}){} to {} in {:.1} s{}.",
        copied.reports,
        copied.last_seq,
        keys.join(", "),
        if tokens { " and API tokens" } else { "" },
        dir.display(),
        started.elapsed().as_secs_f64(),
        if running { ", while the node ran" } else { "" }
    );
    println!(
        "It holds the node's secret keys: keep it as safe as the node. Restore with `cairn --home EMPTY_FOLDER restore {}`.",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    if !path.exists() {
        if dir.join("store").exists() || dir.extension().is_some_and(|e| e == "partial") {
            bail!(
                "{} is not a complete backup (no {MANIFEST}): the backup that wrote it did not finish; take a new one",
                dir.display()
            );
        }
        bail!("{} is not a Cairn backup (no {MANIFEST})", dir.display());
    }
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("{} is not a backup manifest", path.display()))?;
    if manifest.format != 1 {
        bail!(
            "{} has backup format {}, which this Cairn does not know: restore it with a newer Cairn",
            dir.display(),
            manifest.format
        );
    }
    Ok(manifest)
}

/// Verifies every report of a store: its signature, and for reports signed by other keys than
/// the author's first, that the author's key statements (kept in the store) let that key sign
/// then. Returns how many were checked.
fn verify_store(store: &Store) -> Result<u64> {
    let kept = store.all_statements()?;
    let authors: Vec<OrgPublicKey> = kept
        .iter()
        .flat_map(|(_, statements)| statements.iter())
        .filter(|s| s.defines().is_some())
        .filter_map(|s| OrgPublicKey::from_bytes(&s.signer).ok())
        .collect();
    let logs = cairn_node::keylogs::KeyLogs::new(authors, kept);
    let total = store.len()?;
    let mut checked = 0u64;
    let mut cursor = 0u64;
    loop {
        let batch = store.envelopes_after(cursor, 1024)?;
        let Some(last) = batch.last() else { break };
        cursor = last.seq;
        for stored in &batch {
            cairn_core::verify_with(&stored.envelope, &logs).map_err(|e| {
                anyhow::anyhow!("the report at arrival {} does not verify: {e}", stored.seq)
            })?;
            checked += 1;
        }
        eprint!("\rVerified {checked} of {total} reports");
    }
    eprintln!();
    Ok(checked)
}

/// `cairn restore DIR`: into a home without a store (and without other keys than the backup's).
pub fn restore(home: &Home, dir: &Path) -> Result<ExitCode> {
    let manifest = read_manifest(dir)?;
    if is_running(&home.control_socket_path()) {
        bail!(
            "a node is running from {}: stop it first (restore replaces what it runs from)",
            home.root().display()
        );
    }
    let store_path = home.store_path();
    if store_path.exists() {
        bail!(
            "{} holds a store already: move it away first (restore brings a backup into a home without one)",
            store_path.display()
        );
    }
    if !home.root().exists() {
        private_dir(home.root())?;
    }
    // Keys and configuration: taken from the backup where the home has none; where it has
    // them, they must be the backup's (another node's keys beside this store would be a
    // different node).
    let backup_keys = dir.join("keys");
    let home_keys = home.root().join("keys");
    if home_keys.exists() {
        for entry in std::fs::read_dir(&backup_keys)? {
            let entry = entry?;
            let ours = home_keys.join(entry.file_name());
            if ours.exists() && std::fs::read(&ours)? != std::fs::read(entry.path())? {
                bail!(
                    "{} differs from the backup's: this home belongs to another node; restore into an empty folder",
                    ours.display()
                );
            }
        }
    }
    let mut taken = Vec::new();
    if !home_keys.exists() {
        copy_files(&backup_keys, &home_keys)?;
        taken.push("keys");
    }
    if !home.config_path().exists() {
        copy_private(&dir.join("node.toml"), &home.config_path())?;
        taken.push("node.toml");
    }
    if !home.tokens_path().exists() && dir.join("tokens.json").exists() {
        copy_private(&dir.join("tokens.json"), &home.tokens_path())?;
        taken.push("API tokens");
    }
    let partial = partial_path(&store_path);
    if partial.exists() {
        std::fs::remove_dir_all(&partial)?;
    }
    copy_tree(&dir.join("store"), &partial)?;
    let verified = {
        let store = Store::open(&partial, &StoreConfig::default())?;
        let verified = verify_store(&store);
        store.flush()?;
        verified
    };
    let verified = match verified {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e.context(format!(
                "{} was not restored: a report in it does not verify",
                dir.display()
            )));
        }
    };
    if verified != manifest.reports {
        let _ = std::fs::remove_dir_all(&partial);
        bail!(
            "{} holds {verified} reports where its manifest says {}: it was not restored",
            dir.display(),
            manifest.reports
        );
    }
    std::fs::rename(&partial, &store_path)?;
    sync_dir(home.root());
    println!(
        "Restored the backup of {} made {} into {}: {verified} reports, each verified{}.",
        manifest.organisation,
        manifest.made,
        home.root().display(),
        if taken.is_empty() {
            String::new()
        } else {
            format!("; {} from the backup", taken.join(", "))
        }
    );
    println!(
        "Start it with `cairn run`: it resumes with its partners from where the backup left off (what arrived after the backup is fetched again)."
    );
    Ok(ExitCode::SUCCESS)
}
