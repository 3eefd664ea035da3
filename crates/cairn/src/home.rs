//! A node's home folder: its configuration, keys and store, created by `cairn init`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use cairn_core::keylog::KeyStatement;
use cairn_core::{NodeCertificate, NodeKey, OrgKey};
use cairn_store::Store;

use crate::config::NodeConfig;

/// The files of one node.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    config: Option<PathBuf>,
}

/// What `cairn init` created.
pub struct Initialised {
    /// The organisation key (new or imported).
    pub org: OrgKey,
    /// The node's network identity.
    pub peer_id: String,
    /// Whether the organisation key was imported rather than generated.
    pub imported_org_key: bool,
    /// The organisation's recovery key, when one was made (its secret went to a file of its
    /// own, to keep offline).
    pub recovery_key: Option<cairn_core::OrgPublicKey>,
}

impl Home {
    /// The home folder at `root`.
    pub fn new(root: &Path) -> Home {
        Home {
            root: root.to_path_buf(),
            config: None,
        }
    }

    /// The node whose configuration file is `config`: its folder is the home.
    pub fn with_config(config: &Path) -> Home {
        let root = match config.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Home {
            root,
            config: Some(config.to_path_buf()),
        }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The operator's warning lists (MISP warninglist files), beside Cairn's own.
    pub fn warning_lists_dir(&self) -> PathBuf {
        self.root.join("warninglists")
    }

    /// Cairn's warning lists and the operator's (`warninglists/*.json`, which replace Cairn's
    /// of the same name).
    pub fn warning_lists(&self) -> Result<cairn_core::warninglist::WarningLists> {
        cairn_core::warninglist::WarningLists::with_folder(&self.warning_lists_dir())
            .context("a warning list cannot be used (fix or remove the file)")
    }

    fn keys_dir(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// Creates the home and its keys folder (readable by their owner only) if missing.
    pub fn ensure_keys_dir(&self) -> Result<()> {
        create_private_dir(&self.root)?;
        create_private_dir(&self.keys_dir())
    }

    /// The organisation's secret key.
    pub fn org_key_path(&self) -> PathBuf {
        self.keys_dir().join("org.key")
    }

    /// The node's transport key.
    pub fn node_key_path(&self) -> PathBuf {
        self.keys_dir().join("node.key")
    }

    /// The organisation's certificate for the node key.
    pub fn node_cert_path(&self) -> PathBuf {
        self.keys_dir().join("node.cert")
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| self.root.join("node.toml"))
    }

    /// The store folder.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("store")
    }

    /// The API tokens (digests only).
    pub fn tokens_path(&self) -> PathBuf {
        self.root.join("tokens.json")
    }

    /// The running node's control socket.
    pub fn control_socket_path(&self) -> PathBuf {
        self.root.join("control.sock")
    }

    /// The node key.
    pub fn node_key(&self) -> Result<NodeKey> {
        Ok(NodeKey::load(&self.node_key_path())?)
    }

    /// This node's organisation, as its certificate names it (whether or not the organisation
    /// key is here).
    pub fn organisation(&self) -> Result<cairn_core::OrgPublicKey> {
        Ok(self.node_certificate()?.org_key)
    }

    /// This node's organisation, when its certificate is here and reads.
    pub fn organisation_if_known(&self) -> Option<cairn_core::OrgPublicKey> {
        match self.node_cert_path().exists() {
            true => self.node_certificate().ok().map(|c| c.org_key),
            false => None,
        }
    }

    /// The key this node signs its organisation's reports with: the organisation key when
    /// `keys/org.key` is here, or else the node key, which the organisation's key statements
    /// must authorise to sign reports (`cairn org certify`; partners refuse what it signs
    /// otherwise).
    pub fn report_signing_key(&self) -> Result<cairn_core::ReportSigningKey> {
        let author = self.node_certificate()?.org_key;
        if self.org_key_path().exists() {
            let key = self.org_key()?;
            // After a rotation the key here is a later one: it signs for the organisation,
            // which its first key still names.
            return Ok(match key.public() == author {
                true => cairn_core::ReportSigningKey::Organisation(key),
                false => cairn_core::ReportSigningKey::Successor { author, key },
            });
        }
        Ok(cairn_core::ReportSigningKey::Node {
            author,
            node: self.node_key()?,
        })
    }

    /// The organisation key here, if it is the organisation's first key (the one its
    /// certificate names): the key that wrote the implicit genesis of an organisation that
    /// predates key statements. None where the key is not here or was handed over.
    pub fn first_org_key(&self) -> Result<Option<OrgKey>> {
        if !self.org_key_path().exists() {
            return Ok(None);
        }
        let key = self.org_key()?;
        let first = match self.node_cert_path().exists() {
            true => self.node_certificate()?.org_key == key.public(),
            // A home holding only the organisation key (an offline machine): its statements
            // say whether it is the first key.
            false => self
                .offline_statements()?
                .iter()
                .find(|s| s.defines().is_some())
                .is_none_or(|genesis| genesis.signer == *key.public().as_bytes()),
        };
        Ok(first.then_some(key))
    }

    /// The statements a home holding only the organisation key keeps (none before it signed
    /// any), each verified.
    pub fn offline_statements(&self) -> Result<Vec<KeyStatement>> {
        let path = self.org_statements_path();
        match path.exists() {
            true => read_statements_file(&path),
            false => Ok(Vec::new()),
        }
    }

    /// Replaces the statements a home holding only the organisation key keeps with `all`
    /// (written beside, then moved over: a failure leaves the former list whole).
    pub fn keep_offline_statements(&self, all: &[KeyStatement]) -> Result<()> {
        use base64::Engine;
        let path = self.org_statements_path();
        let mut text = String::from(
            "# The organisation's key statements, kept by `cairn org` where its key is.\n",
        );
        for s in all {
            text.push_str(&base64::engine::general_purpose::STANDARD.encode(s.to_bytes()));
            text.push('\n');
        }
        self.ensure_keys_dir()?;
        let staged = path.with_extension("statements.new");
        std::fs::write(&staged, text)
            .with_context(|| format!("cannot write {}", staged.display()))?;
        std::fs::rename(&staged, &path)
            .with_context(|| format!("cannot replace {}", path.display()))
    }

    /// The organisation's key statements in a home that holds only the organisation key (an
    /// offline machine), one in base64 per line, kept by `cairn org` commands there.
    pub fn org_statements_path(&self) -> PathBuf {
        self.keys_dir().join("org.statements")
    }

    /// Creates keys, certificate and configuration. Refuses to overwrite existing keys. With
    /// `recovery_key`, the organisation is founded with a recovery key written to that file
    /// (to keep offline): its genesis names it, and it can later revoke a leaked organisation
    /// key and name its successor (`cairn org recover`).
    pub fn init(
        &self,
        organisation: &str,
        node_name: &str,
        import_org_key: Option<&Path>,
        recovery_key: Option<&Path>,
    ) -> Result<Initialised> {
        self.check_empty(organisation)?;
        if let Some(path) = recovery_key {
            if import_org_key.is_some() {
                bail!(
                    "--recovery-key founds a new organisation; a node of an existing one (--org-key) loads its statements with `cairn org add-statements`"
                );
            }
            if path.exists() {
                bail!(
                    "{} already exists: refusing to overwrite a key",
                    path.display()
                );
            }
        }
        let mut rng = rand::rngs::OsRng;
        let (org, imported_org_key) = match import_org_key {
            Some(path) => (
                OrgKey::load(path).with_context(|| {
                    format!("cannot import the organisation key {}", path.display())
                })?,
                true,
            ),
            None => (OrgKey::generate(&mut rng), false),
        };
        let node = NodeKey::generate(&mut rng);
        let peer_id = cairn_net::peer_id_of(&node.public_bytes())?.to_string();
        let cert = NodeCertificate::issue(&org, node.public_bytes(), node_name, now_ms());
        org.save(&self.org_key_path())?;
        node.save(&self.node_key_path())?;
        write_new(&self.node_cert_path(), cert.to_bytes())?;
        let config = NodeConfig::new(organisation, node_name);
        write_new(&self.config_path(), config.to_toml()?.as_bytes())?;
        let recovery = match recovery_key {
            Some(path) => {
                let recovery = OrgKey::generate(&mut rng);
                recovery.save(path).with_context(|| {
                    format!("cannot write the recovery key to {}", path.display())
                })?;
                let genesis = KeyStatement::genesis(
                    &org,
                    organisation.trim(),
                    Some(*recovery.public().as_bytes()),
                    now_ms(),
                )?;
                Store::open(&self.store_path(), &config.store)?.keep_statements(&[genesis])?;
                Some(recovery.public())
            }
            None => None,
        };
        Ok(Initialised {
            org,
            peer_id,
            imported_org_key,
            recovery_key: recovery,
        })
    }

    /// Refuses to create a node where one is, or without an organisation name; creates the
    /// folders.
    fn check_empty(&self, organisation: &str) -> Result<()> {
        if organisation.trim().is_empty() {
            bail!("the organisation name must not be empty");
        }
        for existing in [
            self.org_key_path(),
            self.node_key_path(),
            self.config_path(),
        ] {
            if existing.exists() {
                bail!(
                    "{} already exists: this folder holds a Cairn node already; refusing to overwrite its keys",
                    existing.display()
                );
            }
        }
        self.ensure_keys_dir()
    }

    /// Creates a node whose organisation key stays on an offline machine: its node key and
    /// configuration only. Its certificate and authorisation come from `cairn org certify
    /// PEER_ID --out FILE` where the organisation key is, loaded with `cairn org
    /// add-statements FILE`. Returns its PeerId.
    pub fn init_without_org_key(&self, organisation: &str, node_name: &str) -> Result<String> {
        self.check_empty(organisation)?;
        let node = NodeKey::generate(&mut rand::rngs::OsRng);
        let peer_id = cairn_net::peer_id_of(&node.public_bytes())?.to_string();
        node.save(&self.node_key_path())?;
        let config = NodeConfig::new(organisation, node_name);
        write_new(&self.config_path(), config.to_toml()?.as_bytes())?;
        Ok(peer_id)
    }

    /// Whether this home holds a node still waiting for its certificate (created with the
    /// organisation key kept offline).
    pub fn awaits_certificate(&self) -> bool {
        self.node_key_path().exists() && !self.node_cert_path().exists()
    }

    /// Writes the certificate this home's node waits for (it must be for its key).
    pub fn install_certificate(&self, cert: &NodeCertificate) -> Result<()> {
        if cert.node_key != self.node_key()?.public_bytes() {
            bail!("the certificate is for another node");
        }
        write_new(&self.node_cert_path(), cert.to_bytes())
    }

    /// Reads the configuration; says how to create a node when there is none.
    pub fn config(&self) -> Result<NodeConfig> {
        if !self.config_path().exists() {
            bail!(
                "no Cairn node in {}: run `cairn --home {} init --organisation NAME` first",
                self.root.display(),
                self.root.display()
            );
        }
        // A partner listed with this organisation's own key is refused, once its key is known.
        NodeConfig::load_for(&self.config_path(), self.organisation_if_known().as_ref())
    }

    /// The organisation's signing key.
    pub fn org_key(&self) -> Result<OrgKey> {
        Ok(OrgKey::load(&self.org_key_path())?)
    }

    /// The node certificate, verified.
    pub fn node_certificate(&self) -> Result<NodeCertificate> {
        if self.awaits_certificate() {
            let peer = self
                .node_key()
                .ok()
                .and_then(|k| cairn_net::peer_id_of(&k.public_bytes()).ok())
                .map_or_else(|| "PEER_ID".to_string(), |p| p.to_string());
            bail!(
                "this node has no certificate yet ({} is missing): where the organisation key is, run `cairn org certify {peer} --out node.statements`, then here `cairn org add-statements node.statements`",
                self.node_cert_path().display()
            );
        }
        let bytes = std::fs::read(self.node_cert_path())
            .with_context(|| format!("cannot read {}", self.node_cert_path().display()))?;
        NodeCertificate::verify(&bytes)
            .with_context(|| format!("{}", self.node_cert_path().display()))
    }

    /// Opens the node's store.
    pub fn open_store(&self) -> Result<Store> {
        let config = self.config()?;
        if crate::control::is_running(&self.control_socket_path()) {
            bail!(
                "the node running from {} holds the store: this command needs it stopped (Ctrl-C or SIGTERM); `cairn status`, `peers`, `audit`, `import`, `policy explain`, `report new`, `list`, `show`, `history`, `export`, `retract` and `import` work with it running, and the API (docs/API.md) serves reads and TAXII",
                self.root.display()
            );
        }
        Ok(Store::open(&self.store_path(), &config.store)?)
    }
}

/// How a node certificate is written in a statements file: this, then the certificate in
/// base64 (`cairn org certify --out` writes one for the node it authorises).
pub const CERTIFICATE_LINE: &str = "node-certificate ";

/// Reads a file of key statements, one in base64 per line (`#` comments, blank lines and node
/// certificates skipped), each verified; an error names the line.
pub fn read_statements_file(path: &Path) -> Result<Vec<KeyStatement>> {
    use base64::Engine;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut list = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(CERTIFICATE_LINE) {
            continue;
        }
        let at = || format!("{}, line {}", path.display(), number + 1);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(line)
            .with_context(|| format!("{}: not a key statement in base64", at()))?;
        list.push(
            KeyStatement::verify(&bytes)
                .with_context(|| format!("{}: not a valid key statement", at()))?,
        );
    }
    Ok(list)
}

/// The node certificates in a statements file (lines starting with [`CERTIFICATE_LINE`]),
/// each verified; an error names the line.
pub fn read_certificates_file(path: &Path) -> Result<Vec<NodeCertificate>> {
    use base64::Engine;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut list = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let Some(encoded) = line.trim().strip_prefix(CERTIFICATE_LINE) else {
            continue;
        };
        let at = || format!("{}, line {}", path.display(), number + 1);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .with_context(|| format!("{}: not a node certificate in base64", at()))?;
        list.push(
            NodeCertificate::verify(&bytes)
                .with_context(|| format!("{}: not a valid node certificate", at()))?,
        );
    }
    Ok(list)
}

fn create_private_dir(path: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}
