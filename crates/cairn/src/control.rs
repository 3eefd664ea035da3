//! The running node's control socket (`control.sock` in the node's folder, mode 0600): how
//! `cairn status`, `cairn peers`, `cairn audit`, `cairn org` and publishing commands reach a
//! running node.
//! One JSON request per line, one JSON answer per line.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cairn_node::{AuditEntry, NodeHandle, NodeStatus, PeerStatus};
use cairn_store::IngestOutcome;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Largest request line accepted (a batch of reports to publish).
pub(crate) const MAX_REQUEST_BYTES: usize = 64 << 20;

/// Bytes (an encoded envelope or key statement) as a control request carries them.
pub(crate) fn encode_envelope(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode_envelope(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text)
}

/// What a command asks the running node.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlRequest {
    /// The node's status.
    Status,
    /// The partner nodes.
    Peers,
    /// Catch up with a partner node again from its first report.
    CatchUpAgain {
        /// Its PeerId.
        node: String,
    },
    /// Who received a report (full id in hex).
    Audit {
        /// The report id.
        report: String,
    },
    /// Keep key statements this organisation made and send them to the connected partners.
    AddStatements {
        /// The encoded statements, in base64.
        statements: Vec<String>,
    },
    /// This organisation's key statements, as the node holds them.
    OrganisationStatements,
    /// Sign reports published over the API with the organisation key now in the home (after
    /// `cairn org rotate`).
    ReloadSigningKey,
    /// Read node.toml again and take its trust list and sharing rules (`cairn config reload`).
    ReloadConfig,
    /// Stored reports as a STIX 2.1 bundle (`cairn report export --format stix`): one report
    /// (id or prefix), or all of them.
    ExportStix {
        /// The report, or none for every report.
        report: Option<String>,
    },
    /// The public advisories, as the public feed shows them (`cairn site build`).
    PublicAdvisories,
    /// The observance trends (`cairn observance`).
    Observance(cairn_api::observance::ObservanceQuery),
    /// Which of these values (TYPE:VALUE) a partner holds that this organisation may see
    /// there, by private set intersection (`cairn psi ask`).
    PsiAsk {
        /// The partner, by name or organisation key.
        partner: String,
        /// The values, as TYPE:VALUE.
        values: Vec<String>,
    },
    /// The indicators a query selects, with their scores (`cairn indicators`).
    Indicators(cairn_api::indicators::IndicatorQuery),
    /// The directory entries a search selects (`cairn directory search`).
    DirectorySearch(cairn_core::directory::DirectorySearch),
    /// Capacity needs and what matches them (`cairn directory match`).
    DirectoryMatches(cairn_api::directory::MatchQuery),
    /// Write what a partner may see into a bundle file (`cairn bundle export`).
    WriteBundle {
        /// The partner's name in the trust list.
        partner: String,
        /// After which of this node's arrivals (default: where the last bundle for it ended).
        after: Option<u64>,
        /// The file to create (absolute; it must not exist).
        file: String,
    },
    /// Read a bundle file a partner wrote (`cairn bundle import`).
    ReadBundle {
        /// The file (absolute).
        file: String,
    },
    /// Publish this organisation's observance figures (`cairn observance publish`).
    PublishObservance(crate::observance_cmd::FiguresWanted),
    /// Copy the store into a new folder while the node runs (`cairn backup`).
    Backup {
        /// The folder to create (absolute).
        store: String,
    },
    /// Stored reports, each with its status among its versions.
    Reports(ReportsWanted),
    /// The current reports related to a value or to each indicator of a report
    /// (`cairn correlate`).
    Correlate(crate::correlate_cmd::CorrelateArgs),
    /// Which held report each of these sightings is of (`cairn import` of a file with STIX or
    /// MISP sightings).
    Sighted(Vec<SightedWanted>),
    /// Store reports signed by this organisation.
    Publish {
        /// The encoded envelopes, in base64 (a quarter of their size more, where hexadecimal
        /// would double it: an import of tens of megabytes goes through here).
        envelopes: Vec<String>,
        /// Whether they were imported from another platform (`cairn import`).
        #[serde(default)]
        imported: bool,
    },
}

/// What became of one published report.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PublishOutcome {
    /// "stored", "duplicate", "rejected" or "refused".
    pub outcome: String,
    /// The report id, when known.
    pub id: Option<String>,
    /// Why it was not stored.
    pub reason: Option<String>,
    /// Its arrival number, when stored.
    #[serde(default)]
    pub seq: Option<u64>,
}

impl PublishOutcome {
    /// The form of what became of one report.
    pub fn new(outcome: IngestOutcome) -> PublishOutcome {
        let (outcome, id, reason, seq) = match outcome {
            IngestOutcome::Stored { id, seq } => ("stored", Some(id), None, Some(seq)),
            IngestOutcome::Duplicate { id, .. } => ("duplicate", Some(id), None, None),
            IngestOutcome::Rejected(e) => ("rejected", None, Some(e.to_string()), None),
            IngestOutcome::Refused { id, reason } => ("refused", Some(id), Some(reason), None),
        };
        PublishOutcome {
            outcome: outcome.into(),
            id: id.map(|id| id.to_string()),
            reason,
            seq,
        }
    }
}

/// The answer.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlResponse {
    /// For `Status`.
    Status(NodeStatus),
    /// For `Peers`.
    Peers(Vec<PeerStatus>),
    /// For `Audit`.
    Audit(Vec<AuditEntry>),
    /// For `Publish`.
    Published(Vec<PublishOutcome>),
    /// For `CatchUpAgain`: the position in the partner's arrivals given up.
    CaughtUpAgain {
        /// Our former position.
        was: u64,
    },
    /// For `AddStatements`: how many were new.
    StatementsAdded {
        /// Statements the node did not hold before.
        new: usize,
    },
    /// For `OrganisationStatements`: the encoded statements, in base64.
    Statements(Vec<String>),
    /// For `ReloadSigningKey`.
    SigningKeyReloaded,
    /// For `ReloadConfig`.
    ConfigReloaded(crate::run::ConfigReloaded),
    /// For `Backup`.
    StoreCopied(crate::backup_cmd::StoreCopied),
    /// For `PublishObservance`.
    ObservancePublished(crate::observance_cmd::FiguresPublished),
    /// For `WriteBundle`.
    BundleWritten(crate::bundle_cmd::BundleWritten),
    /// For `ReadBundle`.
    BundleRead(crate::bundle_cmd::BundleRead),
    /// For `PublicAdvisories`.
    PublicAdvisories(Vec<cairn_api::public::PublicAdvisory>),
    /// For `Observance`.
    Observance(cairn_api::observance::ObservanceView),
    /// For `Indicators`, `DirectorySearch` and `DirectoryMatches`: the API's JSON.
    Json(serde_json::Value),
    /// For `ExportStix`.
    StixBundle {
        /// Reports in it.
        reports: usize,
        /// The bundle.
        bundle: serde_json::Value,
    },
    /// For `Reports`.
    Reports(Vec<HeldReport>),
    /// For `Correlate`.
    Correlations(Vec<crate::correlate_cmd::HeldCorrelation>),
    /// For `Sighted`: the envelope (base64) of the report each sighting asked about is of, in
    /// the order asked; none where this node holds none.
    Sighted(Vec<Option<String>>),
    /// The request failed.
    Error(String),
}

/// Makes what the running node signs with the organisation key now in its home (after
/// `cairn org rotate`).
pub type ReloadSigningKey = std::sync::Arc<dyn Fn() -> Result<()> + Send + Sync>;

/// What the control socket needs of the running daemon besides the node.
#[derive(Clone)]
pub struct Daemon {
    /// The node's home.
    pub home: crate::home::Home,
    /// node.toml as the node started with it (for the sections a reload cannot change).
    pub started_with: std::sync::Arc<crate::config::NodeConfig>,
    /// Reloads the organisation key the API signs with.
    pub reload_signing_key: ReloadSigningKey,
}

/// Serves the control socket until `shutdown` is cancelled; removes it then.
pub async fn serve(
    path: &Path,
    node: NodeHandle,
    daemon: Daemon,
    shutdown: CancellationToken,
) -> Result<()> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another node is running from this folder (its control socket {} answers)",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("cannot create the control socket {}", path.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    let owned = path.to_path_buf();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let node = node.clone();
                    let daemon = daemon.clone();
                    let shutdown = shutdown.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = shutdown.cancelled() => {}
                            _ = answer(stream, node, daemon) => {}
                        }
                    });
                }
            }
        }
        let _ = std::fs::remove_file(&owned);
    });
    Ok(())
}

async fn answer(stream: tokio::net::UnixStream, node: NodeHandle, daemon: Daemon) {
    let (read, mut write) = stream.into_split();
    // Imports send tens of megabytes on one line: read it in large pieces.
    let mut lines = tokio::io::BufReader::with_capacity(1 << 20, read.take_limited()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let response = match serde_json::from_str::<ControlRequest>(&line) {
            Ok(request) => handle(request, &node, &daemon).await,
            Err(e) => ControlResponse::Error(format!("not a control request: {e}")),
        };
        let mut text = serde_json::to_string(&response)
            .unwrap_or_else(|e| format!("{{\"error\":\"cannot encode the answer: {e}\"}}"));
        text.push('\n');
        if write.write_all(text.as_bytes()).await.is_err() {
            break;
        }
    }
}

trait TakeLimited {
    fn take_limited(self) -> tokio::io::Take<Self>
    where
        Self: Sized;
}

impl<T: tokio::io::AsyncRead> TakeLimited for T {
    fn take_limited(self) -> tokio::io::Take<Self> {
        tokio::io::AsyncReadExt::take(self, MAX_REQUEST_BYTES as u64)
    }
}

async fn handle(request: ControlRequest, node: &NodeHandle, daemon: &Daemon) -> ControlResponse {
    let failed = |e: cairn_node::NodeError| ControlResponse::Error(e.to_string());
    match request {
        ControlRequest::Status => node
            .status()
            .await
            .map_or_else(failed, ControlResponse::Status),
        ControlRequest::Peers => node
            .peers()
            .await
            .map_or_else(failed, ControlResponse::Peers),
        ControlRequest::CatchUpAgain { node: text } => {
            match text.parse::<cairn_net::NodeAddress>() {
                Ok(address) => node
                    .catch_up_again(address)
                    .await
                    .map_or_else(failed, |was| ControlResponse::CaughtUpAgain { was }),
                Err(e) => ControlResponse::Error(e.to_string()),
            }
        }
        ControlRequest::Reports(wanted) => {
            let store = node.store().clone();
            match tokio::task::spawn_blocking(move || reports_wanted(&store, wanted)).await {
                Ok(Ok(list)) => ControlResponse::Reports(list),
                Ok(Err(e)) => ControlResponse::Error(format!("{e:#}")),
                Err(_) => ControlResponse::Error("the node is stopping".into()),
            }
        }
        ControlRequest::Correlate(args) => {
            let store = node.store().clone();
            match tokio::task::spawn_blocking(move || {
                crate::correlate_cmd::correlate_in(&store, &args)
            })
            .await
            {
                Ok(Ok(groups)) => ControlResponse::Correlations(groups),
                Ok(Err(e)) => ControlResponse::Error(format!("{e:#}")),
                Err(_) => ControlResponse::Error("the node is stopping".into()),
            }
        }
        ControlRequest::Sighted(wanted) => {
            let store = node.store().clone();
            match tokio::task::spawn_blocking(move || {
                // Each index is read from the whole store once, and only if a sighting needs it.
                let exported_by = cairn_api::stix_ids(&store);
                let misp_event = cairn_api::misp_events(&store);
                wanted
                    .iter()
                    .map(|w| {
                        cairn_api::sighted_in(&store, &exported_by, &misp_event, &w.as_ref())
                            .map(|report| encode_envelope(report.envelope_bytes()))
                    })
                    .collect::<Vec<_>>()
            })
            .await
            {
                Ok(found) => ControlResponse::Sighted(found),
                Err(_) => ControlResponse::Error("the node is stopping".into()),
            }
        }
        ControlRequest::Audit { report } => {
            let store = node.store().clone();
            let resolved = tokio::task::spawn_blocking(move || store.resolve(&report)).await;
            let id = match resolved {
                Ok(Ok(id)) => id,
                Ok(Err(e)) => return ControlResponse::Error(e.to_string()),
                Err(_) => return ControlResponse::Error("the node is stopping".into()),
            };
            node.audit(id)
                .await
                .map_or_else(failed, ControlResponse::Audit)
        }
        ControlRequest::AddStatements { statements } => {
            let mut read = Vec::with_capacity(statements.len());
            for (i, text) in statements.iter().enumerate() {
                let statement = decode_envelope(text)
                    .map_err(|e| format!("statement {i} is not base64: {e}"))
                    .and_then(|bytes| {
                        cairn_core::keylog::KeyStatement::verify(&bytes)
                            .map_err(|e| format!("statement {i}: {e}"))
                    });
                match statement {
                    Ok(s) => read.push(s),
                    Err(e) => return ControlResponse::Error(e),
                }
            }
            node.add_statements(read)
                .await
                .map_or_else(failed, |new| ControlResponse::StatementsAdded { new })
        }
        ControlRequest::ReloadSigningKey => match (daemon.reload_signing_key)() {
            Ok(()) => ControlResponse::SigningKeyReloaded,
            Err(e) => ControlResponse::Error(format!("{e:#}")),
        },
        ControlRequest::PublicAdvisories => {
            let store = node.store().clone();
            let home = daemon.home.clone();
            let read =
                tokio::task::spawn_blocking(move || crate::site_cmd::advisories_in(&home, &store))
                    .await;
            match read {
                Ok(Ok(list)) => ControlResponse::PublicAdvisories(list),
                Ok(Err(e)) => ControlResponse::Error(format!("{e:#}")),
                Err(e) => ControlResponse::Error(format!("reading the advisories stopped: {e}")),
            }
        }
        ControlRequest::Observance(query) => {
            let store = node.store().clone();
            let us = node.org();
            let read = tokio::task::spawn_blocking(move || {
                cairn_api::observance::view(&store, us, &query)
            })
            .await;
            match read {
                Ok(Ok(trends)) => ControlResponse::Observance(trends),
                Ok(Err(e)) => ControlResponse::Error(e.to_string()),
                Err(e) => ControlResponse::Error(format!("counting stopped: {e}")),
            }
        }
        ControlRequest::PsiAsk { partner, values } => {
            let mut asked = Vec::with_capacity(values.len());
            for text in &values {
                match cairn_core::Indicator::parse_typed(text) {
                    Ok(i) => asked.push(i),
                    Err(e) => return ControlResponse::Error(e.to_string()),
                }
            }
            let count = asked.len();
            match node.psi_ask(&partner, asked).await {
                Ok(held) => ControlResponse::Json(serde_json::json!({
                    "partner": partner,
                    "asked": count,
                    "held": held
                        .iter()
                        .map(|i| format!("{}:{}", i.kind, i.value))
                        .collect::<Vec<_>>(),
                })),
                Err(e) => ControlResponse::Error(e.to_string()),
            }
        }
        ControlRequest::Indicators(query) => {
            let store = node.store().clone();
            let scoring = daemon.started_with.scoring.clone();
            let now = cairn_core::when::now_ms();
            let read = tokio::task::spawn_blocking(move || {
                crate::indicators_cmd::answer(&store, &query, &scoring, now)
            })
            .await;
            match read {
                Ok(Ok(view)) => ControlResponse::Json(view),
                Ok(Err(e)) => ControlResponse::Error(e.to_string()),
                Err(e) => ControlResponse::Error(format!("scoring stopped: {e}")),
            }
        }
        ControlRequest::DirectorySearch(search) => {
            let store = node.store().clone();
            let now = cairn_core::when::now_ms();
            let read = tokio::task::spawn_blocking(move || {
                cairn_api::directory::search_view(&store, &search, now)
            })
            .await;
            match read {
                Ok(Ok(view)) => ControlResponse::Json(view),
                Ok(Err(e)) => ControlResponse::Error(e.to_string()),
                Err(e) => ControlResponse::Error(format!("the search stopped: {e}")),
            }
        }
        ControlRequest::DirectoryMatches(query) => {
            let store = node.store().clone();
            let us = node.org();
            let now = cairn_core::when::now_ms();
            let read = tokio::task::spawn_blocking(move || {
                cairn_api::directory::matches_view(&store, us, &query, now)
            })
            .await;
            match read {
                Ok(Ok(view)) => ControlResponse::Json(view),
                Ok(Err(e)) => ControlResponse::Error(e.to_string()),
                Err(e) => ControlResponse::Error(format!("matching stopped: {e}")),
            }
        }
        ControlRequest::ExportStix { report } => {
            let store = node.store().clone();
            let home = daemon.home.clone();
            let us = node.org();
            let made = tokio::task::spawn_blocking(move || {
                let config = home.config()?;
                crate::stix_export::bundle_of(&store, &config, &us, report.as_deref())
            })
            .await;
            match made {
                Ok(Ok((reports, bundle))) => ControlResponse::StixBundle { reports, bundle },
                Ok(Err(e)) => ControlResponse::Error(format!("{e:#}")),
                Err(e) => ControlResponse::Error(format!("the export stopped: {e}")),
            }
        }
        ControlRequest::PublishObservance(wanted) => {
            match crate::observance_cmd::publish_running(node, &daemon.home, wanted).await {
                Ok(done) => ControlResponse::ObservancePublished(done),
                Err(e) => ControlResponse::Error(format!("{e:#}")),
            }
        }
        ControlRequest::WriteBundle {
            partner,
            after,
            file,
        } => match crate::bundle_cmd::write_running(node, &partner, after, file.as_ref()).await {
            Ok(written) => ControlResponse::BundleWritten(written),
            Err(e) => ControlResponse::Error(format!("{e:#}")),
        },
        ControlRequest::ReadBundle { file } => {
            match crate::bundle_cmd::read_running(node, file.as_ref()).await {
                Ok(read) => ControlResponse::BundleRead(read),
                Err(e) => ControlResponse::Error(format!("{e:#}")),
            }
        }
        ControlRequest::Backup { store } => {
            match crate::backup_cmd::copy_running_store(node, store.into()).await {
                Ok(copied) => ControlResponse::StoreCopied(copied),
                Err(e) => ControlResponse::Error(format!("{e:#}")),
            }
        }
        ControlRequest::ReloadConfig => match crate::run::reload_config(daemon, node).await {
            Ok(reloaded) => ControlResponse::ConfigReloaded(reloaded),
            Err(e) => ControlResponse::Error(format!("{e:#}")),
        },
        ControlRequest::OrganisationStatements => {
            node.organisation_statements()
                .await
                .map_or_else(failed, |list| {
                    ControlResponse::Statements(
                        list.iter().map(|s| encode_envelope(s.to_bytes())).collect(),
                    )
                })
        }
        ControlRequest::Publish {
            envelopes,
            imported,
        } => {
            let mut bytes = Vec::with_capacity(envelopes.len());
            for (i, text) in envelopes.iter().enumerate() {
                match decode_envelope(text) {
                    Ok(b) => bytes.push(b),
                    Err(e) => {
                        return ControlResponse::Error(format!("envelope {i} is not base64: {e}"));
                    }
                }
            }
            let stored = if imported {
                node.import_envelopes(bytes).await
            } else {
                node.publish_envelopes(bytes).await
            };
            match stored {
                Ok(outcomes) => ControlResponse::Published(
                    outcomes.into_iter().map(PublishOutcome::new).collect(),
                ),
                Err(e) => failed(e),
            }
        }
    }
}

/// What a sighting in an imported file is of, as `ControlRequest::Sighted` asks the running
/// node (the owned form of `cairn_interop::import::SightedRef`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SightedWanted {
    /// A STIX sighting's `sighting_of_ref`, and the Cairn report it names when Cairn exported
    /// it.
    Stix {
        /// Its `sighting_of_ref`.
        stix_id: String,
        /// The Cairn report it names.
        report: Option<cairn_core::ReportId>,
    },
    /// A MISP event, by its uuid: its attributes' sightings.
    MispEvent(String),
}

impl SightedWanted {
    /// The owned form of `wanted`.
    pub fn of(wanted: &cairn_interop::import::SightedRef<'_>) -> SightedWanted {
        use cairn_interop::import::SightedRef;
        match wanted {
            SightedRef::Stix { stix_id, report } => SightedWanted::Stix {
                stix_id: stix_id.to_string(),
                report: *report,
            },
            SightedRef::MispEvent(uuid) => SightedWanted::MispEvent(uuid.to_string()),
        }
    }

    /// What the import asked.
    pub fn as_ref(&self) -> cairn_interop::import::SightedRef<'_> {
        use cairn_interop::import::SightedRef;
        match self {
            SightedWanted::Stix { stix_id, report } => SightedRef::Stix {
                stix_id,
                report: *report,
            },
            SightedWanted::MispEvent(uuid) => SightedRef::MispEvent(uuid),
        }
    }
}

/// Asks the running node which held report each of `wanted` is of, in order.
pub fn ask_sighted(
    socket: &Path,
    wanted: Vec<SightedWanted>,
) -> Result<Vec<Option<cairn_core::VerifiedReport>>> {
    let asked = wanted.len();
    match ask(socket, &ControlRequest::Sighted(wanted))? {
        ControlResponse::Sighted(found) if found.len() == asked => found
            .into_iter()
            .map(|envelope| {
                envelope
                    .map(|text| {
                        let bytes = decode_envelope(&text)
                            .context("the running node sent a report that is not base64")?;
                        cairn_core::VerifiedReport::from_stored_owned(bytes)
                            .context("the running node sent a report that does not read")
                    })
                    .transpose()
            })
            .collect(),
        _ => bail!("the running node answered something unexpected"),
    }
}

/// Which stored reports `ControlRequest::Reports` asks for.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportsWanted {
    /// Those matching, as `cairn report list` asks.
    Matching(Box<crate::reports::ListArgs>),
    /// One, by its id or a prefix of it.
    One(String),
    /// Every version of one, oldest first.
    History(String),
    /// One by its full id, if this node holds it (none otherwise).
    IfHeld(cairn_core::ReportId),
    /// The sightings of one (by its id or a prefix of it), in arrival order.
    SightingsOf(String),
}

/// A stored report as the control socket carries it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct HeldReport {
    /// The envelope as stored, in base64.
    pub envelope: String,
    /// Its arrival number.
    pub seq: u64,
    /// When it was stored (ms since the Unix epoch).
    pub received_ms: i64,
    /// Who handed it over: none (published here), "import", or a partner with the hop.
    pub from: Option<(String, u32)>,
    /// Whether imported from a file.
    pub imported: bool,
    /// Superseded or retracted by this report (full id), if so.
    pub superseded_by: Option<String>,
    /// Retracted by this report (full id), if so.
    pub retracted_by: Option<String>,
}

impl HeldReport {
    /// The form of `stored`, standing as `status`.
    pub fn new(stored: &cairn_store::StoredReport, status: &cairn_store::ReportStatus) -> Self {
        use cairn_store::{Provenance, ReportStatus};
        HeldReport {
            envelope: encode_envelope(stored.report.envelope_bytes()),
            seq: stored.seq,
            received_ms: stored.received_ms,
            from: match &stored.provenance {
                Provenance::Peer { org, hop } => Some((org.to_string(), *hop)),
                Provenance::Local | Provenance::Import => None,
            },
            imported: stored.provenance == Provenance::Import,
            superseded_by: match status {
                ReportStatus::SupersededBy(id) => Some(id.to_string()),
                _ => None,
            },
            retracted_by: match status {
                ReportStatus::Retracted(id) => Some(id.to_string()),
                _ => None,
            },
        }
    }

    /// Back to the stored report and its status, as the node read them.
    pub fn read(&self) -> Result<(cairn_store::StoredReport, cairn_store::ReportStatus)> {
        use cairn_store::{Provenance, ReportStatus};
        let bytes = decode_envelope(&self.envelope)
            .context("the running node sent a report that is not base64")?;
        let report = cairn_core::VerifiedReport::from_stored_owned(bytes)
            .context("the running node sent a report that does not read")?;
        let provenance = match (&self.from, self.imported) {
            (Some((org, hop)), _) => Provenance::Peer {
                org: org
                    .parse()
                    .context("the running node sent a bad provenance")?,
                hop: *hop,
            },
            (None, true) => Provenance::Import,
            (None, false) => Provenance::Local,
        };
        let id = |text: &String| -> Result<cairn_core::ReportId> {
            text.parse()
                .context("the running node sent a bad report id")
        };
        let status = match (&self.retracted_by, &self.superseded_by) {
            (Some(by), _) => ReportStatus::Retracted(id(by)?),
            (None, Some(by)) => ReportStatus::SupersededBy(id(by)?),
            (None, None) => ReportStatus::Current,
        };
        Ok((
            cairn_store::StoredReport {
                seq: self.seq,
                received_ms: self.received_ms,
                provenance,
                report,
            },
            status,
        ))
    }
}

/// What `ControlRequest::Reports` asks of `store` (on a blocking thread).
fn reports_wanted(store: &cairn_store::Store, wanted: ReportsWanted) -> Result<Vec<HeldReport>> {
    let reports = match wanted {
        ReportsWanted::Matching(args) => store.query(&crate::reports::query_from_args(&args)?)?,
        ReportsWanted::One(id) => {
            let id = store.resolve(&id)?;
            vec![
                store
                    .get(&id)?
                    .with_context(|| format!("no report {id} in this node's store"))?,
            ]
        }
        ReportsWanted::History(id) => store.history(&store.resolve(&id)?)?,
        ReportsWanted::IfHeld(id) => store.get(&id)?.into_iter().collect(),
        ReportsWanted::SightingsOf(id) => store.sightings_of(&store.resolve(&id)?)?,
    };
    reports
        .iter()
        .map(|r| Ok(HeldReport::new(r, &store.status(&r.report)?)))
        .collect()
}

/// The node took a request and closed its control socket before answering (it was stopped or
/// killed meanwhile): what the request did, if anything, is not known.
#[derive(Debug)]
pub struct NoAnswer;

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the node stopped before answering")
    }
}

impl std::error::Error for NoAnswer {}

/// Whether a node is running from this folder (its control socket answers).
pub fn is_running(path: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

/// Sends one request to the running node and returns its answer.
pub fn ask(path: &Path, request: &ControlRequest) -> Result<ControlResponse> {
    let stream = std::os::unix::net::UnixStream::connect(path).map_err(|_| {
        match path.exists() {
            // The socket of a node that did not stop cleanly (killed, or the machine failed).
            true => anyhow::anyhow!(
                "no node is running from this folder: the node that ran here stopped without closing its control socket {} (killed?); start it again with `cairn run`",
                path.display()
            ),
            false => anyhow::anyhow!(
                "no node is running from this folder (no control socket at {}): start it with `cairn run`",
                path.display()
            ),
        }
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    writer
        .write_all(line.as_bytes())
        .context("cannot talk to the running node")?;
    let mut answer = String::new();
    let read = BufReader::new(stream)
        .read_line(&mut answer)
        .context("the running node did not answer")?;
    if read == 0 {
        return Err(NoAnswer.into());
    }
    match serde_json::from_str(&answer).context("the running node's answer is not readable")? {
        ControlResponse::Error(e) => bail!("the running node says: {e}"),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node that takes a request and goes away before answering: the caller learns that it
    /// does not know what became of the request, not a decoding error.
    #[test]
    fn a_node_that_closes_without_answering_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            assert!(line.contains("status"), "{line}");
            // Gone without a word.
        });
        let err = ask(&path, &ControlRequest::Status).unwrap_err();
        server.join().unwrap();
        assert!(err.downcast_ref::<NoAnswer>().is_some(), "{err:#}");
        // Once it is gone, its socket file left behind says so.
        drop(std::fs::remove_file(&path));
        let missing = ask(&path, &ControlRequest::Status).unwrap_err();
        assert!(
            missing.to_string().contains("no control socket"),
            "{missing}"
        );
    }
}
