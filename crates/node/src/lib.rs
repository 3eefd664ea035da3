//! The Cairn node: the store, the sharing rules and the network put together. [`start`] opens
//! the store, starts the network task and runs the node's actor until the shutdown token is
//! cancelled; a [`NodeHandle`] asks it things (status, peers, publish, audit). The actor owns
//! the catch-up state machine and the partners' state; store reads and writes and signature
//! checks run on blocking threads, never on the actor or the network task.

mod actor;
pub mod awaiting;
pub mod bundles;
pub mod clock;
pub mod exchange;
pub mod keylogs;
pub mod metrics;
pub mod notices;
pub mod psi;
pub mod relay;
pub mod trust;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::keylog::KeyStatement;
use cairn_core::{NodeCertificate, OrgPublicKey, ReportId, VerifiedReport};
use cairn_net::NodeAddress;
use cairn_policy::{Communities, InboundPolicy, Partner};
use cairn_store::{IngestOutcome, Provenance, ReportQuery, Store, StoreConfig, StoredReport};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use cairn_net::NetConfig;
pub use cairn_net::sync::SyncConfig;
pub use cairn_store::Delivery;

/// Settings of catch-up (the `[sync]` table of node.toml).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSettings {
    /// Reports asked for per page (1-4096).
    pub page_size: u32,
    /// Ask every connected partner for news this often even without a notification, in
    /// seconds (a safety net; notifications normally arrive at once).
    pub poll_interval_secs: u64,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            page_size: 512,
            poll_interval_secs: 60,
        }
    }
}

impl SyncSettings {
    fn sync_config(&self) -> SyncConfig {
        SyncConfig {
            page_size: self.page_size.clamp(1, cairn_net::wire::MAX_PAGE_REPORTS),
            ..SyncConfig::default()
        }
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_secs.max(1))
    }
}

/// A partner organisation in the trust list, with its nodes.
#[derive(Debug, Clone)]
pub struct TrustedPartner {
    /// Who it is and what it may receive.
    pub partner: Partner,
    /// Its nodes: PeerId and the addresses to dial (none: it dials in).
    pub nodes: Vec<PartnerNode>,
    /// How many values it may ask about in private set intersection queries per UTC day; 0:
    /// its queries are refused (the default).
    pub psi_values_per_day: u32,
}

/// One node of a partner organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerNode {
    /// Its PeerId.
    pub node: NodeAddress,
    /// Multiaddrs to dial.
    pub addresses: Vec<String>,
}

/// The trust list and the sharing rules: what a running node takes again on
/// [`NodeHandle::reconfigure`] (node.toml reloaded).
#[derive(Debug, Clone)]
pub struct Sharing {
    /// The trust list (partners, and this organisation's other nodes).
    pub partners: Vec<TrustedPartner>,
    /// Communities (sharing groups).
    pub communities: Communities,
    /// What this node accepts.
    pub inbound: InboundPolicy,
}

/// What a new trust list changed on the running node.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reconfigured {
    /// Partners added (their names).
    pub added: Vec<String>,
    /// Partners removed (their names).
    pub removed: Vec<String>,
    /// Partner nodes disconnected because they are no longer trusted.
    pub disconnected: Vec<String>,
    /// Partner nodes newly trusted (dialled when they have addresses).
    pub trusted: Vec<String>,
}

/// The trust list as the node runs with it now, read by callers that name partners.
#[derive(Debug, Clone, Default)]
pub struct SharedTrustList(Arc<std::sync::RwLock<Arc<Vec<TrustedPartner>>>>);

impl SharedTrustList {
    fn new(partners: Vec<TrustedPartner>) -> SharedTrustList {
        SharedTrustList(Arc::new(std::sync::RwLock::new(Arc::new(partners))))
    }

    /// The trust list now.
    pub fn get(&self) -> Arc<Vec<TrustedPartner>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, partners: Arc<Vec<TrustedPartner>>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = partners;
    }
}

/// Everything a node needs to run.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// The organisation's display name.
    pub organisation: String,
    /// The node key's secret (the transport identity).
    pub node_secret: [u8; 32],
    /// The organisation's certificate for the node key.
    pub certificate: NodeCertificate,
    /// Where the store lives, and its settings.
    pub store_path: PathBuf,
    /// Store settings.
    pub store: StoreConfig,
    /// Network settings.
    pub network: NetConfig,
    /// Catch-up settings.
    pub sync: SyncSettings,
    /// The trust list.
    pub partners: Vec<TrustedPartner>,
    /// Communities (sharing groups).
    pub communities: Communities,
    /// What this node accepts.
    pub inbound: InboundPolicy,
    /// Key statements of this node's organisation that it should hold (at least the genesis
    /// its organisation key signed); kept with those already in the store.
    pub organisation_statements: Vec<KeyStatement>,
}

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store did not open.
    #[error(transparent)]
    Store(#[from] cairn_store::OpenError),
    /// The store could not be read.
    #[error(transparent)]
    Read(#[from] cairn_store::ReadError),
    /// The network did not start.
    #[error(transparent)]
    Network(#[from] cairn_net::StartError),
    /// The certificate does not match the node key.
    #[error("the node certificate was issued for another node key than this node's")]
    CertificateMismatch,
    /// The trust list names a node or an organisation twice.
    #[error(transparent)]
    TrustList(#[from] trust::TrustListError),
    /// This node's key does not stand for its organisation: revoked (or its organisation key
    /// is), or outside the authorisations its organisation gave it.
    #[error("this node may not run: {0}")]
    Revoked(String),
    /// The organisation's key statements are not usable.
    #[error("this organisation's key statements: {0}")]
    Statements(String),
    /// A partner is misconfigured.
    #[error("partner {partner}: {reason}")]
    Partner {
        /// Its name.
        partner: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why a request to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
    /// Storing failed.
    #[error(transparent)]
    Ingest(#[from] cairn_store::IngestError),
    /// Reading failed.
    #[error(transparent)]
    Read(#[from] cairn_store::ReadError),
    /// A partner node did not answer.
    #[error("{node}: {error}")]
    Request {
        /// The node asked.
        node: NodeAddress,
        /// What went wrong.
        error: cairn_net::RequestError,
    },
    /// No partner node of the trust list has this PeerId.
    #[error("{0} is not a node of a partner in the trust list (see `cairn peers`)")]
    UnknownNode(NodeAddress),
    /// The partner node has not connected since this node started: its node key (which keys
    /// our position in its arrivals) is not known yet.
    #[error(
        "{0} has not connected since this node started: try again once `cairn peers` shows it connected"
    )]
    NotMetYet(NodeAddress),
    /// Key statements that are not this organisation's, or do not verify.
    #[error("key statements refused: {0}")]
    StatementsRefused(String),
    /// Key statements could not be kept.
    #[error(transparent)]
    KeepStatements(#[from] cairn_store::KeepStatementsError),
    /// A new trust list was refused; the node keeps the one it runs with.
    #[error("the new trust list was not taken: {0}")]
    TrustList(#[from] trust::TrustListError),
    /// A partner node answered something unexpected.
    #[error("{node}: {reason}")]
    BadAnswer {
        /// The node asked.
        node: NodeAddress,
        /// What was wrong.
        reason: String,
    },
    /// No partner of the trust list has this name.
    #[error("no partner named {0:?} in the trust list (see `cairn peers`)")]
    UnknownPartner(String),
    /// A bundle could not be written.
    #[error(transparent)]
    WriteBundle(#[from] bundles::WriteBundleError),
    /// A bundle was not read.
    #[error(transparent)]
    ReadBundle(#[from] bundles::ReadBundleError),
}

/// The node as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeStatus {
    /// The organisation's display name.
    pub organisation: String,
    /// Its key.
    pub org_key: String,
    /// This node's name.
    pub node_name: String,
    /// This node's PeerId.
    pub peer_id: String,
    /// Where it listens.
    pub listening: Vec<String>,
    /// Reports stored.
    pub reports: u64,
    /// Reports not yet in the query index.
    pub index_pending: u64,
    /// Reports received from partners since the node started.
    pub received: u64,
    /// Reports served to partners since the node started.
    pub served: u64,
    /// Reports from partners refused since the node started.
    pub refused: u64,
    /// Partner nodes connected now, and in the trust list.
    pub peers_connected: usize,
    /// Partner nodes in the trust list.
    pub peers_trusted: usize,
    /// Seconds since the node started.
    pub uptime_secs: u64,
}

/// One partner node as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeerStatus {
    /// The partner's name.
    pub partner: String,
    /// Its organisation key.
    pub org_key: String,
    /// The node's PeerId.
    pub peer_id: String,
    /// Whether it is connected now (and has proved its organisation).
    pub connected: bool,
    /// The remote address of the connection.
    pub address: Option<String>,
    /// When it was last heard from (ms since the Unix epoch).
    pub last_seen_ms: Option<i64>,
    /// Our position in its arrival order.
    pub cursor: u64,
    /// Its newest arrival number, as last announced.
    pub head: u64,
    /// Reports received from it since the node started.
    pub received: u64,
    /// Reports from it refused since the node started.
    pub refused: u64,
    /// Reports served to it since the node started.
    pub served: u64,
    /// The last problem with it, if any.
    pub last_error: Option<String>,
}

impl PeerStatus {
    /// Arrivals at the partner this node has not looked at yet (not all of them may be for
    /// this node).
    pub fn behind(&self) -> u64 {
        self.head.saturating_sub(self.cursor)
    }
}

/// Who received a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// The partner's name (or its key when it is no longer in the trust list).
    pub partner: String,
    /// Its organisation key.
    pub org_key: String,
    /// The PeerId of the node that received it.
    pub peer_id: String,
    /// When (ms since the Unix epoch).
    pub at_ms: i64,
}

pub(crate) enum NodeCommand {
    Status(oneshot::Sender<NodeStatus>),
    PsiAsk {
        partner: String,
        values: Vec<cairn_core::Indicator>,
        reply: oneshot::Sender<Result<Vec<cairn_core::Indicator>, psi::PsiAskError>>,
    },
    Peers(oneshot::Sender<Vec<PeerStatus>>),
    Publish {
        reports: Vec<VerifiedReport>,
        /// `Local`, or `Import` for reports imported from another platform.
        provenance: Provenance,
        reply: oneshot::Sender<Result<Vec<IngestOutcome>, NodeError>>,
    },
    Fetch {
        node: NodeAddress,
        id: ReportId,
        reply: oneshot::Sender<Result<Option<VerifiedReport>, NodeError>>,
    },
    /// Catch up with a partner node again from its first report.
    CatchUpAgain {
        node: NodeAddress,
        reply: oneshot::Sender<Result<u64, NodeError>>,
    },
    /// Key statements this organisation made: kept, then sent to every connected partner node.
    AddStatements {
        statements: Vec<KeyStatement>,
        reply: oneshot::Sender<Result<usize, NodeError>>,
    },
    /// Reports a caller stored itself (`NodeHandle::import_blocking`), for the node to tell
    /// the partners who may see them.
    Stored {
        reports: Vec<VerifiedReport>,
        outcomes: Vec<IngestOutcome>,
        /// For each report that is a sighting, what this node holds of the report it concerns.
        concerned: Vec<Option<exchange::ConcernedStanding>>,
    },
    /// Write what a partner may see into a bundle, after `after` (or where the last bundle
    /// for it ended).
    WriteBundle {
        partner: String,
        after: Option<u64>,
        reply: oneshot::Sender<Result<bundles::WrittenBundle, NodeError>>,
    },
    /// Read a bundle a partner wrote for this organisation.
    ReadBundle {
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<bundles::ReadBundle, NodeError>>,
    },
    /// Whether each partner receives a stored report now, and why.
    ExplainSharing {
        stored: Box<StoredReport>,
        /// For a sighting, what this node holds of the report it concerns.
        concerned: Option<exchange::ConcernedStanding>,
        reply: oneshot::Sender<Vec<exchange::SharingDecision>>,
    },
    /// Whether each partner would receive a report of ours published now, and why.
    ExplainDraft {
        report: Box<cairn_core::Report>,
        /// For a sighting, what this node holds of the report it concerns.
        concerned: Option<exchange::ConcernedStanding>,
        reply: oneshot::Sender<Vec<exchange::SharingDecision>>,
    },
    /// Take a new trust list and sharing rules; `kept` is every key statement in the store,
    /// for the logs of partners new to the list.
    Reconfigure {
        sharing: Sharing,
        kept: Vec<(cairn_core::keylog::OrgId, Vec<KeyStatement>)>,
        reply: oneshot::Sender<Result<Reconfigured, NodeError>>,
    },
}

/// Talks to a running node. Cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    commands: mpsc::Sender<NodeCommand>,
    store: Arc<Store>,
    partners: SharedTrustList,
    metrics: metrics::NodeMetrics,
    local: NodeAddress,
    us: OrgPublicKey,
    /// The key logs the actor keeps, read to verify reports signed by node keys.
    keylogs: keylogs::SharedKeyLogs,
    done: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    listening: Vec<String>,
}

impl NodeHandle {
    /// This node's PeerId.
    pub fn peer_id(&self) -> &NodeAddress {
        &self.local
    }

    /// This node's organisation.
    pub fn org(&self) -> OrgPublicKey {
        self.us
    }

    /// The addresses the node listens on (with the ports chosen for `/tcp/0`).
    pub fn listen_addresses(&self) -> &[String] {
        &self.listening
    }

    /// The store, for reads.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> NodeCommand,
    ) -> Result<T, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NodeError::Stopped)?;
        answer.await.map_err(|_| NodeError::Stopped)
    }

    /// Asks a partner (by its name in the trust list, or its organisation key) which of
    /// `values` it holds that this organisation may see there, by private set intersection
    /// (docs/PSI.md): the partner learns only how many values were asked.
    pub async fn psi_ask(
        &self,
        partner: &str,
        values: Vec<cairn_core::Indicator>,
    ) -> Result<Vec<cairn_core::Indicator>, psi::PsiAskError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(NodeCommand::PsiAsk {
                partner: partner.to_string(),
                values,
                reply,
            })
            .await
            .map_err(|_| psi::PsiAskError::Stopped)?;
        answer.await.map_err(|_| psi::PsiAskError::Stopped)?
    }

    /// The node's status.
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        self.ask(NodeCommand::Status).await
    }

    /// Every partner node in the trust list.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>, NodeError> {
        self.ask(NodeCommand::Peers).await
    }

    /// Catches up with a partner node again from its first report (its arrival numbers were
    /// reset, or our position in them is wrong); what is already held is recognised and kept
    /// once. Returns the position given up.
    pub async fn catch_up_again(&self, node: NodeAddress) -> Result<u64, NodeError> {
        self.ask(|reply| NodeCommand::CatchUpAgain { node, reply })
            .await?
    }

    /// Keeps key statements this organisation made (a node key revoked, ...) and sends them to
    /// every connected partner node at once. Returns how many were new.
    pub async fn add_statements(&self, statements: Vec<KeyStatement>) -> Result<usize, NodeError> {
        self.ask(|reply| NodeCommand::AddStatements { statements, reply })
            .await?
    }

    /// Writes what the partner named `partner` may see of this node's reports into a signed
    /// bundle, after arrival number `after` (or, when `None`, where the last bundle for that
    /// partner ended): for sites that exchange files instead of connecting.
    pub async fn write_bundle(
        &self,
        partner: &str,
        after: Option<u64>,
    ) -> Result<bundles::WrittenBundle, NodeError> {
        let partner = partner.to_string();
        self.ask(|reply| NodeCommand::WriteBundle {
            partner,
            after,
            reply,
        })
        .await?
    }

    /// Reads a bundle a partner wrote for this organisation: its reports are stored as a page
    /// from the partner's node would be, and the partners that may see them are told.
    pub async fn read_bundle(&self, bytes: Vec<u8>) -> Result<bundles::ReadBundle, NodeError> {
        self.ask(|reply| NodeCommand::ReadBundle { bytes, reply })
            .await?
    }

    /// The key statements of this node's organisation that the node holds.
    pub async fn organisation_statements(&self) -> Result<Vec<KeyStatement>, NodeError> {
        let store = self.store.clone();
        let us = self.us;
        tokio::task::spawn_blocking(move || own_statements(&store, &us))
            .await
            .map_err(|_| NodeError::Stopped)?
    }

    /// Stores reports published on this node and tells the partners who may see them.
    pub async fn publish(
        &self,
        reports: Vec<VerifiedReport>,
    ) -> Result<Vec<IngestOutcome>, NodeError> {
        self.store_own(reports, Provenance::Local).await
    }

    /// Stores reports this organisation signed from another platform's data (STIX, MISP), as
    /// imported, on the calling thread, and returns once they are on disk; the node then tells
    /// the partners who may see them. For a caller already on a blocking thread
    /// (`tokio::task::spawn_blocking`): it spares the hand-over to the node's task and back.
    /// Must not be called from async code.
    pub fn import_blocking(
        &self,
        reports: Vec<VerifiedReport>,
    ) -> Result<Vec<IngestOutcome>, NodeError> {
        let (reports, slots) = self.refuse_unauthorised(reports);
        let outcomes = self.store.insert(reports.clone(), Provenance::Import)?;
        if outcomes
            .iter()
            .any(|o| matches!(o, IngestOutcome::Stored { .. }))
        {
            let concerned = exchange::concerned_of_each(
                &self.store,
                &self.us,
                reports.iter().map(VerifiedReport::report),
                cairn_core::when::now_ms(),
            );
            // A node that is stopping announces nothing more; partners catch up later.
            let _ = self.commands.blocking_send(NodeCommand::Stored {
                reports,
                outcomes: outcomes.clone(),
                concerned,
            });
        }
        Ok(merge_outcomes(slots, outcomes))
    }

    async fn store_own(
        &self,
        reports: Vec<VerifiedReport>,
        provenance: Provenance,
    ) -> Result<Vec<IngestOutcome>, NodeError> {
        let (reports, slots) = self.refuse_unauthorised(reports);
        let stored = if reports.is_empty() {
            Vec::new()
        } else {
            self.ask(|reply| NodeCommand::Publish {
                reports,
                provenance,
                reply,
            })
            .await??
        };
        Ok(merge_outcomes(slots, stored))
    }

    /// Leaves out the reports signed by a node key this organisation's key statements do not
    /// let sign them (an authorisation that ended, or none): partners would refuse them. One
    /// slot per report, in order: the refusal, or none for a report kept.
    fn refuse_unauthorised(
        &self,
        reports: Vec<VerifiedReport>,
    ) -> (Vec<VerifiedReport>, Vec<Option<IngestOutcome>>) {
        use cairn_core::Signers;
        let mut kept = Vec::with_capacity(reports.len());
        let mut slots = Vec::with_capacity(reports.len());
        for report in reports {
            let refusal = report
                .signer_key()
                .zip(report.signed_ms())
                .and_then(|(signer, at)| {
                    self.keylogs
                        .may_sign(&report.author(), &signer, at)
                        .err()
                        .map(|reason| cairn_core::VerifyError::Signer {
                            author: report.author(),
                            key: hex::encode(signer),
                            reason,
                        })
                });
            match refusal {
                Some(e) => slots.push(Some(IngestOutcome::Rejected(e))),
                None => {
                    kept.push(report);
                    slots.push(None);
                }
            }
        }
        (kept, slots)
    }

    /// Verifies and stores signed envelopes published on this node (as `cairn report new`
    /// sends them to a running node).
    pub async fn publish_envelopes(
        &self,
        envelopes: Vec<Vec<u8>>,
    ) -> Result<Vec<IngestOutcome>, NodeError> {
        self.store_envelopes(envelopes, Provenance::Local).await
    }

    /// Verifies and stores signed envelopes imported on this node (as `cairn import` sends
    /// them to a running node).
    pub async fn import_envelopes(
        &self,
        envelopes: Vec<Vec<u8>>,
    ) -> Result<Vec<IngestOutcome>, NodeError> {
        self.store_envelopes(envelopes, Provenance::Import).await
    }

    async fn store_envelopes(
        &self,
        envelopes: Vec<Vec<u8>>,
        provenance: Provenance,
    ) -> Result<Vec<IngestOutcome>, NodeError> {
        let signers = self.keylogs.clone();
        let verified = tokio::task::spawn_blocking(move || {
            cairn_core::verify_batch_parallel_with(&envelopes, 0, &signers)
        })
        .await
        .map_err(|_| NodeError::Stopped)?;
        let mut reports = Vec::new();
        let mut outcomes: Vec<Option<IngestOutcome>> = Vec::new();
        for result in verified {
            match result {
                Ok(r) => {
                    reports.push(r);
                    outcomes.push(None);
                }
                Err(e) => outcomes.push(Some(IngestOutcome::Rejected(e))),
            }
        }
        let stored = self.store_own(reports, provenance).await?;
        Ok(merge_outcomes(outcomes, stored))
    }

    /// Asks a partner node for a report by id, as that partner would serve it to us.
    pub async fn fetch(
        &self,
        node: &NodeAddress,
        id: ReportId,
    ) -> Result<Option<VerifiedReport>, NodeError> {
        let node = node.clone();
        self.ask(|reply| NodeCommand::Fetch { node, id, reply })
            .await?
    }

    /// Takes a new trust list and sharing rules without a restart: partners removed are
    /// disconnected at once, new ones dialled, changed policies apply to what is served from
    /// now on. A trust list that names a node or an organisation twice is refused whole and
    /// the node keeps the one it runs with.
    pub async fn reconfigure(&self, sharing: Sharing) -> Result<Reconfigured, NodeError> {
        trust::check(&sharing.partners)?;
        let store = self.store.clone();
        let kept = tokio::task::spawn_blocking(move || store.all_statements())
            .await
            .map_err(|_| NodeError::Stopped)??;
        self.ask(|reply| NodeCommand::Reconfigure {
            sharing,
            kept,
            reply,
        })
        .await?
    }

    /// The node's counters and latency histograms (for `/metrics`).
    pub fn metrics(&self) -> &metrics::NodeMetrics {
        &self.metrics
    }

    /// The trust list the node runs with now.
    pub fn trust_list(&self) -> Arc<Vec<TrustedPartner>> {
        self.partners.get()
    }

    /// For each partner in the trust list, whether it receives `stored` from this node now and
    /// why, under the rules the node runs with.
    pub async fn explain_sharing(
        &self,
        stored: StoredReport,
    ) -> Result<Vec<exchange::SharingDecision>, NodeError> {
        let concerned = self.concerned_of(stored.report.marking()).await?;
        self.ask(|reply| NodeCommand::ExplainSharing {
            stored: Box::new(stored),
            concerned,
            reply,
        })
        .await
    }

    /// For a sighting, what this node holds of the report it concerns, read on a blocking
    /// thread.
    async fn concerned_of(
        &self,
        report: cairn_core::Report,
    ) -> Result<Option<exchange::ConcernedStanding>, NodeError> {
        if report.concerns.is_none() {
            return Ok(None);
        }
        let store = self.store.clone();
        let us = self.us;
        tokio::task::spawn_blocking(move || {
            exchange::concerned_of(&store, &us, &report, cairn_core::when::now_ms())
        })
        .await
        .map_err(|_| NodeError::Stopped)?
        .map_err(NodeError::from)
    }

    /// For each partner in the trust list, whether it would receive `report` (a draft's
    /// content, not yet signed) if the organisation published it now, and why.
    pub async fn explain_draft(
        &self,
        report: cairn_core::Report,
    ) -> Result<Vec<exchange::SharingDecision>, NodeError> {
        let concerned = self.concerned_of(report.clone()).await?;
        self.ask(|reply| NodeCommand::ExplainDraft {
            report: Box::new(report),
            concerned,
            reply,
        })
        .await
    }

    /// Who received a report from this node, and when.
    pub async fn audit(&self, id: ReportId) -> Result<Vec<AuditEntry>, NodeError> {
        let store = self.store.clone();
        let partners = self.partners.get();
        tokio::task::spawn_blocking(move || audit(&store, &partners, &id))
            .await
            .map_err(|_| NodeError::Stopped)?
    }

    /// Reports matching a query (reads the store on a blocking thread).
    pub async fn query(&self, query: ReportQuery) -> Result<Vec<StoredReport>, NodeError> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || store.query(&query))
            .await
            .map_err(|_| NodeError::Stopped)??)
    }

    /// Waits until the node has stopped (after its shutdown token was cancelled): in-flight
    /// writes finished, cursors saved, the store flushed.
    pub async fn stopped(&self) {
        let task = self.done.lock().await.take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Who received a report, from the store's audit trail, named as the trust list names them.
pub fn audit(
    store: &Store,
    partners: &[TrustedPartner],
    id: &ReportId,
) -> Result<Vec<AuditEntry>, NodeError> {
    let mut entries: Vec<AuditEntry> = store
        .deliveries(id)?
        .into_iter()
        .map(|d| AuditEntry {
            partner: partners
                .iter()
                .find(|p| p.partner.org == d.org)
                .map_or_else(|| d.org.short(), |p| p.partner.name.clone()),
            org_key: d.org.to_string(),
            peer_id: if d.node == bundles::DELIVERED_IN_BUNDLE {
                "(in a bundle file)".into()
            } else {
                cairn_net::peer_id_of(&d.node)
                    .map_or_else(|_| "(unknown node)".into(), |n| n.to_string())
            },
            at_ms: d.at_ms,
        })
        .collect();
    entries.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.partner.cmp(&b.partner)));
    Ok(entries)
}

/// Opens the store, starts the network and the node's actor. Everything stops when
/// `shutdown` is cancelled; [`NodeHandle::stopped`] waits for the end.
pub async fn start(
    settings: NodeSettings,
    shutdown: CancellationToken,
) -> Result<NodeHandle, StartError> {
    actor::start(settings, shutdown).await
}

/// One outcome per slot: the slot's own (a report refused before it was stored), or else the
/// next of `stored` (the outcomes of the reports kept, in order).
fn merge_outcomes(
    slots: Vec<Option<IngestOutcome>>,
    stored: Vec<IngestOutcome>,
) -> Vec<IngestOutcome> {
    let mut stored = stored.into_iter();
    slots
        .into_iter()
        .map(|slot| {
            slot.or_else(|| stored.next())
                .unwrap_or(IngestOutcome::Refused {
                    id: ReportId::from_bytes([0; 32]),
                    reason: "not stored".into(),
                })
        })
        .collect()
}

/// The key statements kept in `store` about the organisation whose genesis `org` signed.
pub fn own_statements(store: &Store, org: &OrgPublicKey) -> Result<Vec<KeyStatement>, NodeError> {
    Ok(store
        .all_statements()?
        .into_iter()
        .find(|(_, list)| {
            list.iter()
                .any(|s| s.defines().is_some() && s.signer == *org.as_bytes())
        })
        .map(|(_, list)| list)
        .unwrap_or_default())
}
