//! The node's actor: one task that owns the partners' state and the catch-up state machine,
//! answers partner requests through the sharing rules, pulls what partners announce, and tells
//! partners about new reports they may see. Store and signature work runs on blocking threads;
//! their results come back to the actor as messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::keylog::KeyStatement;
use cairn_core::{NodeCertificate, OrgPublicKey, VerifiedReport};
use cairn_net::sync::{PeerKey, SyncAction, SyncEvent, SyncState};
use cairn_net::wire::PAGE_BUDGET_BYTES;
use cairn_net::{NetEvent, NetHandle, NodeAddress, Request, RequestError, Response, TrustedNode};
use cairn_policy::Partner;
use cairn_store::{IngestOutcome, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::awaiting::{self, AwaitingStatements};
use crate::bundles;
use crate::exchange::{self, Received, SharingRules};
use crate::keylogs::{Certified, KeyLogs, SharedKeyLogs};
use crate::metrics::NodeMetrics;
use crate::notices::{Notice, Notices, Pace};
use crate::relay::{self, JustStored, Tell};
use crate::trust::NodeChange;
use crate::{
    NodeCommand, NodeError, NodeHandle, NodeSettings, NodeStatus, PeerStatus, Reconfigured,
    SharedTrustList, Sharing, StartError, TrustedPartner,
};

/// Every fetch answered "none" takes at least this long, whether the report does not exist or
/// the partner may not see it (deciding reads only its marking, but a large report still takes
/// longer to read than a missing one).
const FETCH_REFUSAL_TIME: Duration = Duration::from_millis(2);

/// Most reports offered again by one partner node waiting to be fetched; more are dropped
/// (a partner cannot make this node fetch without end).
const MAX_AGAIN_QUEUED: usize = 4 * cairn_net::MAX_OFFERED;

/// Fetches, from `node`, the offered reports this node lacks or holds by a longer path, and
/// stores those that verify and pass the inbound rules as reports from `partner`.
async fn fetch_offered(
    store: &Arc<Store>,
    rules: &Arc<SharingRules>,
    net: &NetHandle,
    node: &NodeAddress,
    partner: &Partner,
    batch: Vec<cairn_net::Offered>,
    signers: SharedKeyLogs,
) -> Result<Received, String> {
    let wanted = {
        let store = store.clone();
        let us = rules.us;
        tokio::task::spawn_blocking(move || {
            let mut wanted = Vec::new();
            for offered in batch {
                let id = cairn_core::ReportId::from_bytes(offered.report_id);
                let held = exchange::held_copy(&store, &us, &id).map_err(|e| e.to_string())?;
                let copy = relay::Copy {
                    hop: offered.hop,
                    disclosures: offered.disclosures,
                };
                if relay::worth_fetching(held, copy) {
                    wanted.push(id);
                }
            }
            Ok::<_, String>(wanted)
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let mut fetched = Vec::new();
    let mut refused = Vec::new();
    for id in wanted {
        match net
            .request(
                node,
                Request::Fetch {
                    report_id: *id.as_bytes(),
                },
            )
            .await
        {
            Ok(Response::Fetched(Some(passed))) => {
                if cairn_core::id_of_stored(&passed.envelope).is_ok_and(|got| got == id) {
                    fetched.push(passed);
                } else {
                    refused.push(exchange::Rejection::new(
                        "not_the_report_offered",
                        format!("report {id}: offered again, but the answer is another report"),
                    ));
                }
            }
            // No longer for us (an embargo, a policy change): nothing to store.
            Ok(Response::Fetched(None)) => {}
            Ok(Response::Refused(reason)) => return Err(format!("fetch refused: {reason}")),
            Ok(_) => return Err("it answered a fetch with something else".into()),
            Err(e) => return Err(format!("fetch failed: {e}")),
        }
    }
    let store = store.clone();
    let rules = rules.clone();
    let partner = partner.clone();
    let mut received = tokio::task::spawn_blocking(move || {
        exchange::receive(&store, &rules, &partner, fetched, &signers, now_ms())
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    received.rejected.extend(refused);
    Ok(received)
}

/// How often the actor looks at timers (retries, embargoes, polls).
const TICK: Duration = Duration::from_millis(100);

/// How often standing is checked against the clock (authorisations that end or start).
const STANDING_CHECK: Duration = Duration::from_secs(1);

/// Requests one partner node may have admitted at once (one being served, the others waiting
/// their turn); more are refused as busy. A node's requests are served one at a time, so a
/// node that floods takes at most one serving thread and one flush of the audit trail at a
/// time from the others.
const MAX_SERVING_PER_PEER: usize = 4;

fn not_introduced() -> Response {
    Response::Refused("this node has not introduced itself (hello) on this connection".into())
}

/// How long the query index waits after each catch-up page that has more behind it.
const CATCH_UP_INDEX_HOLD: Duration = Duration::from_millis(500);

/// How long shutdown waits for in-flight work.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A partner node's turn to be served: its requests are served one at a time.
#[derive(Debug, Clone)]
struct ServeTurn(std::sync::Arc<tokio::sync::Semaphore>);

impl Default for ServeTurn {
    fn default() -> Self {
        ServeTurn(std::sync::Arc::new(tokio::sync::Semaphore::new(1)))
    }
}

#[derive(Debug, Default)]
struct PeerState {
    partner: usize,
    connected: bool,
    address: Option<String>,
    /// Bumped on every new connection: results of work for an older one are ignored.
    epoch: u64,
    /// Proven by a valid certificate.
    node_key: Option<PeerKey>,
    /// Who issued that certificate, and when.
    certified: Option<Certified>,
    /// It introduced itself to us: we may serve it.
    introduced_in: bool,
    /// It answered our introduction: we may pull from it.
    introduced_out: bool,
    hello_in_flight: bool,
    /// Requests from it admitted: being served, or waiting for its turn.
    serving: usize,
    /// Its turn to be served: one request at a time.
    serve_turn: ServeTurn,
    /// The requests it may still make (a flooding node is refused, not served).
    budget: cairn_net::rate::RequestBudget,
    /// Until when it is held off for flooding: its problem says so until then, whatever fails
    /// meanwhile because it is disconnected.
    held_off_until: Option<Instant>,
    /// Pages from it waiting to be stored, and whether one is being stored.
    store_queue: std::collections::VecDeque<PageToStore>,
    storing: bool,
    /// Bumped when catch-up with it starts again from the cursor: pages of an older
    /// generation still being stored no longer move the cursor.
    store_generation: u64,
    hello_retry_at: Option<Instant>,
    /// Reports it offered again (it holds them by a shorter path now), to fetch, and whether a
    /// batch of them is being fetched.
    again_queue: std::collections::VecDeque<cairn_net::Offered>,
    fetching_again: bool,
    last_seen_ms: Option<i64>,
    received: u64,
    refused: u64,
    served: u64,
    last_error: Option<String>,
    /// Why it is not let in (its organisation revoked its key, or its authorisation ended):
    /// for as long as its organisation's key statements say it does not stand.
    cut_off: Option<String>,
}

/// How many reports a page or bundle brought, and why the last refused one was.
struct TakenIn {
    stored: u64,
    refused: u64,
    last_refusal: Option<String>,
}

/// A report just stored here, as far as telling partners about it goes.
struct NewReport {
    author: OrgPublicKey,
    marking: cairn_core::Report,
    /// The hop at which this node holds it.
    hop: u32,
    /// The partner organisation that passed it on, if any.
    from: Option<OrgPublicKey>,
    /// For a sighting, what this node holds of the report it concerns (read where the report
    /// was stored).
    concerned: Option<exchange::ConcernedStanding>,
}

/// A page received and waiting to be stored, in arrival order per partner node.
#[derive(Debug)]
struct PageToStore {
    through: u64,
    /// Its signature checks, started when it arrived.
    checked: tokio::task::JoinHandle<Vec<exchange::Checked>>,
}

enum TaskResult {
    HelloAnswered {
        node: NodeAddress,
        epoch: u64,
        result: Result<Response, RequestError>,
    },
    PageArrived {
        node: NodeAddress,
        key: PeerKey,
        after: u64,
        result: Result<cairn_net::Page, String>,
    },
    PageStored {
        node: NodeAddress,
        key: PeerKey,
        through: u64,
        generation: u64,
        result: Result<Received, String>,
    },
    FetchedAgain {
        node: NodeAddress,
        result: Result<Received, String>,
    },
    /// A bundle read, to take in and answer.
    BundleRead {
        read: Box<Result<bundles::ReadBundle, NodeError>>,
        reply: oneshot::Sender<Result<bundles::ReadBundle, NodeError>>,
    },
    /// Reports that waited for their author's statements, checked again now that new ones
    /// arrived.
    CheckedAgain {
        node: NodeAddress,
        result: Result<Received, String>,
    },
    Served {
        node: NodeAddress,
        count: usize,
        embargo_until: Option<i64>,
        error: Option<String>,
    },
    Published {
        reports: Vec<VerifiedReport>,
        /// For each report that is a sighting, what this node holds of the report it concerns.
        concerned: Vec<Option<exchange::ConcernedStanding>>,
        result: Result<Vec<IngestOutcome>, NodeError>,
        reply: oneshot::Sender<Result<Vec<IngestOutcome>, NodeError>>,
    },
    Failed {
        node: Option<NodeAddress>,
        error: String,
    },
}

struct Actor {
    organisation: String,
    node_name: String,
    us: OrgPublicKey,
    certificate: Vec<u8>,
    /// The node key, to sign bundles with.
    bundle_key: Arc<cairn_core::NodeKey>,
    /// Who issued this node's certificate, and when.
    certified: Certified,
    node_key: PeerKey,
    /// The key logs of this organisation and its partners.
    keylogs: SharedKeyLogs,
    /// When partners' and this node's standing are next checked against the clock.
    next_standing_check: Instant,
    /// Why this node's own key does not stand for its organisation, if it does not.
    own_standing: Option<String>,
    local: NodeAddress,
    listening: Vec<String>,
    store: Arc<Store>,
    net: NetHandle,
    rules: Arc<SharingRules>,
    /// Counters and latencies, shared with the node's handles.
    metrics: NodeMetrics,
    partners: Arc<Vec<TrustedPartner>>,
    /// The same trust list, for the node's handles (replaced with `partners`).
    trust_list: SharedTrustList,
    /// The request budget each partner node gets.
    rate_limit: cairn_net::rate::RateLimit,
    peers: HashMap<NodeAddress, PeerState>,
    by_key: HashMap<PeerKey, NodeAddress>,
    sync: SyncState,
    poll_interval: Duration,
    next_poll: Instant,
    epoch: Instant,
    /// Notifications waiting for their turn, per partner node.
    notices: Notices<NodeAddress>,
    embargoes: Vec<(i64, NodeAddress)>,
    /// Reports from partners signed by a key their author's statements, as known here, do not
    /// let sign yet: held until the statements arrive, for a while.
    awaiting: AwaitingStatements<NodeAddress>,
    tasks: JoinSet<()>,
    results: mpsc::UnboundedSender<TaskResult>,
    stopping: bool,
    received: u64,
    served: u64,
    refused: u64,
    /// Values each partner asked about in private set intersection queries today.
    psi_allowances: crate::psi::Allowances,
    /// The secret and tags each partner's queries are answered with.
    psi_responders: crate::psi::Responders,
}

pub(crate) async fn start(
    settings: NodeSettings,
    shutdown: CancellationToken,
) -> Result<NodeHandle, StartError> {
    let path = settings.store_path.clone();
    let store_config = settings.store.clone();
    let store = tokio::task::spawn_blocking(move || -> Result<Store, StartError> {
        let store = Store::open(&path, &store_config)?;
        store.warm_up()?;
        Ok(store)
    })
    .await
    .map_err(|e| StartError::Partner {
        partner: "(store)".into(),
        reason: e.to_string(),
    })??;
    let store = Arc::new(store);

    let us = settings.certificate.org_key;
    let node_key = settings.certificate.node_key;
    let certified = Certified::from(&settings.certificate);
    let kept = store.all_statements()?;
    let mut keylogs = KeyLogs::new(
        std::iter::once(us).chain(settings.partners.iter().map(|p| p.partner.org)),
        kept,
    );
    // The genesis given (the implicit one a node holding the first key writes) only counts
    // while the store holds none: an organisation founded with an explicit genesis (a
    // recovery key) keeps that one.
    let has_genesis = keylogs.org_id(&us).is_some();
    let own: Vec<Vec<u8>> = settings
        .organisation_statements
        .iter()
        .filter(|s| !(has_genesis && s.defines().is_some()))
        .map(|s| s.to_bytes().to_vec())
        .collect();
    let admitted = keylogs.admit(&us, &own);
    if let Some(reason) = admitted.refused.first() {
        return Err(StartError::Statements(reason.clone()));
    }
    if !admitted.new.is_empty() {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.keep_statements(&admitted.new))
            .await
            .map_err(|e| StartError::Statements(e.to_string()))?
            .map_err(|e| StartError::Statements(e.to_string()))?;
    }
    keylogs
        .standing(&us, &node_key, Some(certified), now_ms())
        .map_err(StartError::Revoked)?;
    let keylogs = SharedKeyLogs::new(keylogs);

    crate::trust::check(&settings.partners)?;
    let mut trusted = Vec::new();
    let mut peers = HashMap::new();
    for (index, p) in settings.partners.iter().enumerate() {
        for n in &p.nodes {
            trusted.push(TrustedNode {
                node: n.node.clone(),
                addresses: n.addresses.clone(),
            });
            peers.insert(
                n.node.clone(),
                PeerState {
                    partner: index,
                    budget: cairn_net::rate::RequestBudget::new(settings.network.rate_limit),
                    ..PeerState::default()
                },
            );
        }
    }
    let child = shutdown.child_token();
    let (net, events) = cairn_net::spawn(
        &settings.network,
        settings.node_secret,
        trusted,
        child.clone(),
    )
    .await?;
    let local = net.local_node().clone();
    if cairn_net::peer_id_of(&settings.certificate.node_key).ok() != Some(local.clone()) {
        child.cancel();
        return Err(StartError::CertificateMismatch);
    }
    let listening = net.listen_addresses().await;
    let rules = Arc::new(SharingRules {
        us,
        communities: settings.communities.clone(),
        inbound: settings.inbound.clone(),
    });
    let partners = Arc::new(settings.partners.clone());
    let trust_list = SharedTrustList::new(settings.partners.clone());
    let metrics = NodeMetrics::default();
    let (results, results_rx) = mpsc::unbounded_channel();
    let (commands, commands_rx) = mpsc::channel(64);
    let actor = Actor {
        organisation: settings.organisation.clone(),
        node_name: settings.certificate.node_name.clone(),
        us,
        certificate: settings.certificate.to_bytes().to_vec(),
        bundle_key: Arc::new(cairn_core::NodeKey::from_secret_bytes(
            &settings.node_secret,
        )),
        certified,
        node_key,
        keylogs: keylogs.clone(),
        next_standing_check: Instant::now() + STANDING_CHECK,
        own_standing: None,
        local: local.clone(),
        listening: listening.clone(),
        store: store.clone(),
        net,
        rules,
        metrics: metrics.clone(),
        partners,
        trust_list: trust_list.clone(),
        rate_limit: settings.network.rate_limit,
        peers,
        by_key: HashMap::new(),
        sync: SyncState::new(settings.sync.sync_config()),
        poll_interval: settings.sync.poll_interval(),
        next_poll: Instant::now() + settings.sync.poll_interval(),
        epoch: Instant::now(),
        notices: Notices::new(Pace::default()),
        embargoes: Vec::new(),
        awaiting: AwaitingStatements::default(),
        tasks: JoinSet::new(),
        results,
        stopping: false,
        received: 0,
        served: 0,
        refused: 0,
        psi_allowances: crate::psi::Allowances::default(),
        psi_responders: crate::psi::Responders::default(),
    };
    tracing::info!(
        organisation = %settings.organisation,
        node = %local,
        listening = ?listening,
        "node started"
    );
    let done = tokio::spawn(actor.run(shutdown, child, events, commands_rx, results_rx));
    Ok(NodeHandle {
        commands,
        store,
        partners: trust_list,
        metrics,
        local,
        us,
        keylogs,
        done: Arc::new(tokio::sync::Mutex::new(Some(done))),
        listening,
    })
}

/// Sleeps until `at` (the caller selects on it only when there is one).
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// The trust list entry of the organisation an unlisted node's certificate names, if it is a
/// trusted one (a partner, or this organisation when its other nodes are listed). The
/// certificate itself, and the node's standing, are checked as for a listed node.
fn unlisted_partner(partners: &[TrustedPartner], certificate: &[u8]) -> Result<usize, String> {
    let cert = NodeCertificate::verify(certificate).map_err(|e| e.to_string())?;
    partners
        .iter()
        .position(|p| p.partner.org == cert.org_key)
        .ok_or_else(|| {
            format!(
                "not in this node's trust list, and its certificate names organisation {}, which is not a partner",
                cert.org_key.short()
            )
        })
}

/// Checks a partner node's certificate: for a node of the partner's organisation, this node,
/// signed by its issuer. Whether the issuer was the organisation's key when it issued it is
/// for the organisation's key statements to say ([`KeyLogs::standing`]).
fn check_certificate(
    bytes: &[u8],
    node: &NodeAddress,
    partner: &Partner,
) -> Result<(PeerKey, Certified), String> {
    let cert = NodeCertificate::verify(bytes)
        .map_err(|e| format!("certificate mismatch: its node certificate does not verify: {e}"))?;
    if cert.org_key != partner.org {
        return Err(format!(
            "certificate mismatch: its node certificate is issued by organisation {}, not by {} ({})",
            cert.org_key, partner.name, partner.org
        ));
    }
    match cairn_net::peer_id_of(&cert.node_key) {
        Ok(id) if id == *node => Ok((cert.node_key, Certified::from(&cert))),
        _ => Err("certificate mismatch: its node certificate is for another node".into()),
    }
}

impl Actor {
    async fn run(
        mut self,
        shutdown: CancellationToken,
        network: CancellationToken,
        mut events: mpsc::Receiver<NetEvent>,
        mut commands: mpsc::Receiver<NodeCommand>,
        mut results: mpsc::UnboundedReceiver<TaskResult>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let notice_due = self
                .notices
                .next_due()
                .map(|at| tokio::time::Instant::from_std(self.epoch + at));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = sleep_until_some(notice_due), if notice_due.is_some() => self.send_due_notices(),
                Some(event) = events.recv() => self.on_net_event(event),
                Some(command) = commands.recv() => self.on_command(command),
                Some(result) = results.recv() => self.on_result(result),
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
                _ = tick.tick() => self.on_tick(),
            }
        }
        // Finish what is in flight: pages being stored, cursors being saved. Nothing new
        // starts; the network stops, so pending requests end at once.
        self.stopping = true;
        network.cancel();
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        loop {
            tokio::select! {
                Some(result) = results.recv() => self.on_result(result),
                joined = self.tasks.join_next() => {
                    if joined.is_none() {
                        while let Ok(result) = results.try_recv() {
                            self.on_result(result);
                        }
                        if self.tasks.is_empty() {
                            break;
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!("shutdown: gave up waiting for in-flight work");
                    break;
                }
            }
        }
        let store = self.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.flush()).await;
        tracing::info!("node stopped");
    }

    fn partner_of(&self, node: &NodeAddress) -> Option<&Partner> {
        let state = self.peers.get(node)?;
        self.partners.get(state.partner).map(|p| &p.partner)
    }

    fn spawn<F>(&mut self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(work);
    }

    fn on_net_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Listening(address) => {
                if !self.listening.contains(&address) {
                    self.listening.push(address);
                }
            }
            NetEvent::Connected(connection) => {
                let Some(state) = self.peers.get_mut(&connection.node) else {
                    return;
                };
                state.connected = true;
                state.address = Some(connection.address);
                state.epoch += 1;
                state.last_seen_ms = Some(now_ms());
                state.introduced_in = false;
                state.introduced_out = false;
                state.hello_in_flight = false;
                state.hello_retry_at = None;
                self.send_hello(connection.node);
            }
            NetEvent::Disconnected(node) => {
                if let Some(state) = self.peers.get_mut(&node) {
                    state.connected = false;
                    state.introduced_in = false;
                    state.introduced_out = false;
                    state.hello_in_flight = false;
                    state.epoch += 1;
                    if let Some(key) = state.node_key {
                        self.sync.handle(SyncEvent::Disconnected(key));
                    }
                }
                self.notices.forget(&node);
            }
            NetEvent::Unreachable { node, error } => {
                let partner = self.partner_of(&node).map(|p| p.name.clone());
                if let (Some(partner), Some(state)) = (partner, self.peers.get_mut(&node))
                    && !state.connected
                    && state.cut_off.is_none()
                {
                    let problem = format!("unreachable: {error}");
                    if state.last_error.as_deref() != Some(problem.as_str()) {
                        tracing::warn!(partner = %partner, node = %node, "partner node unreachable: {error}");
                    }
                    state.last_error = Some(problem);
                }
            }
            NetEvent::Request {
                from,
                request,
                reply,
            } => self.on_request(from, request, reply),
            NetEvent::PsiQuery { from, query, reply } => self.on_psi_query(from, query, reply),
        }
    }

    /// A partner node asks which of some values this node holds: answered on a blocking
    /// thread when its organisation may ask (node.toml `psi_values_per_day`) and has not used
    /// up today's allowance; refused with the reason otherwise.
    fn on_psi_query(
        &mut self,
        from: NodeAddress,
        query: cairn_net::PsiQuery,
        reply: cairn_net::PsiResponder,
    ) {
        let refuse = |reply: cairn_net::PsiResponder, why: String| {
            reply.respond(cairn_net::PsiAnswer::Refused(why));
        };
        if self.may_serve(&from).is_none() {
            refuse(reply, "introduce yourself first".into());
            return;
        }
        let Some(trusted) = self
            .peers
            .get(&from)
            .and_then(|state| self.partners.get(state.partner))
        else {
            refuse(reply, "not a node of a partner in the trust list".into());
            return;
        };
        let partner = trusted.partner.clone();
        let per_day = trusted.psi_values_per_day;
        let asked = match cairn_core::psi::read_query(&query.blinded) {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(partner = %partner.name, node = %from, "PSI query refused: {e}");
                refuse(reply, e.to_string());
                return;
            }
        };
        if let Err(why) =
            self.psi_allowances
                .admit(&partner.org, &partner.name, per_day, asked, now_ms())
        {
            tracing::info!(partner = %partner.name, node = %from, "PSI query refused: {why}");
            refuse(reply, why);
            return;
        }
        tracing::info!(partner = %partner.name, node = %from, values = asked, "answering a PSI query");
        let store = self.store.clone();
        let rules = self.rules.clone();
        let responders = self.psi_responders.clone();
        self.spawn(async move {
            let answered = tokio::task::spawn_blocking(move || {
                responders.answer(&store, &rules, &partner, &query.blinded, now_ms())
            })
            .await;
            match answered {
                Ok(Ok(answer)) => reply.respond(answer),
                Ok(Err(e)) => reply.respond(cairn_net::PsiAnswer::Refused(format!(
                    "could not be answered: {e}"
                ))),
                Err(_) => {
                    reply.respond(cairn_net::PsiAnswer::Refused("the node is stopping".into()))
                }
            }
        });
    }

    /// A node the trust list does not name introduces itself. It is let in as a node of the
    /// trusted organisation its certificate names, as if listed, when that organisation's key
    /// statements let it serve partners; otherwise it is refused, forgotten and disconnected.
    fn introduce_unlisted(
        &mut self,
        from: NodeAddress,
        certificate: Vec<u8>,
        statements: Vec<Vec<u8>>,
        clock_ms: i64,
        reply: cairn_net::Responder,
    ) {
        let partner = unlisted_partner(&self.partners, &certificate);
        let Ok(index) = partner else {
            let reason = partner.err().unwrap_or_default();
            tracing::info!(node = %from, "an unlisted node was refused: {reason}");
            reply.respond(Response::Refused(reason));
            let net = self.net.clone();
            self.spawn(async move { net.distrust(&from).await });
            return;
        };
        self.peers.insert(
            from.clone(),
            PeerState {
                partner: index,
                connected: true,
                epoch: 1,
                last_seen_ms: Some(now_ms()),
                budget: cairn_net::rate::RequestBudget::new(self.rate_limit),
                ..PeerState::default()
            },
        );
        self.on_request(
            from.clone(),
            Request::Hello {
                certificate,
                statements,
                clock_ms,
            },
            reply,
        );
        let introduced = self.peers.get(&from).is_some_and(|s| s.introduced_in);
        let name = self.partners[index].partner.name.clone();
        if !introduced {
            // Refused (its certificate, its standing): not kept as a node of the partner.
            if let Some(state) = self.peers.remove(&from)
                && let Some(key) = state.node_key
            {
                self.by_key.remove(&key);
            }
            let net = self.net.clone();
            self.spawn(async move { net.distrust(&from).await });
            return;
        }
        tracing::info!(partner = %name, node = %from, "a node not in the trust list introduced itself as one of the partner's: let in");
        let net = self.net.clone();
        let node = from.clone();
        self.spawn(async move {
            if let Err(e) = net
                .trust(TrustedNode {
                    node: node.clone(),
                    addresses: Vec::new(),
                })
                .await
            {
                tracing::warn!(node = %node, "cannot trust the node: {e}");
            }
        });
        self.send_hello(from);
    }

    fn send_hello(&mut self, node: NodeAddress) {
        let Some(state) = self.peers.get_mut(&node) else {
            return;
        };
        state.hello_in_flight = true;
        let epoch = state.epoch;
        let net = self.net.clone();
        let results = self.results.clone();
        let certificate = self.certificate.clone();
        let statements = self
            .keylogs
            .read()
            .encoded(&self.us, cairn_net::MAX_STATEMENTS);
        self.spawn(async move {
            let result = net
                .request(
                    &node,
                    Request::Hello {
                        certificate,
                        statements,
                        clock_ms: now_ms(),
                    },
                )
                .await;
            let _ = results.send(TaskResult::HelloAnswered {
                node,
                epoch,
                result,
            });
        });
    }

    fn on_request(&mut self, from: NodeAddress, request: Request, reply: cairn_net::Responder) {
        let Some(partner) = self.partner_of(&from).cloned() else {
            match request {
                Request::Hello {
                    certificate,
                    statements,
                    clock_ms,
                } => self.introduce_unlisted(from, certificate, statements, clock_ms, reply),
                _ => reply.respond(Response::Refused("not in this node's trust list".into())),
            }
            return;
        };
        let Some(state) = self.peers.get_mut(&from) else {
            return;
        };
        state.last_seen_ms = Some(now_ms());
        if let cairn_net::rate::Admission::Limited { first, hold_off } =
            state.budget.admit(self.epoch.elapsed())
        {
            let limit = *state.budget.limit();
            if hold_off {
                let problem = format!(
                    "went on sending requests after {} refusals: disconnected for {} s",
                    limit.hold_off_after,
                    limit.hold_off().as_secs()
                );
                tracing::warn!(partner = %partner.name, node = %from, "{problem}");
                state.last_error = Some(problem);
                state.held_off_until = Some(Instant::now() + limit.hold_off());
                let net = self.net.clone();
                let node = from.clone();
                self.spawn(async move {
                    net.hold_off(&node, limit.hold_off()).await;
                });
            } else if first {
                let problem = format!(
                    "sending more than {} requests a second: refused until it slows down",
                    limit.per_second
                );
                tracing::warn!(partner = %partner.name, node = %from, "{problem}");
                state.last_error = Some(problem);
            }
            reply.respond(Response::Refused(format!(
                "rate-limited: at most {} requests a second from one node",
                limit.per_second
            )));
            return;
        }
        match request {
            Request::Hello {
                certificate,
                statements,
                clock_ms,
            } => {
                let checked = check_certificate(&certificate, &from, &partner).and_then(
                    |(key, certified)| {
                        self.check_standing(&from, &partner, key, certified, &statements)
                    },
                );
                let Some(state) = self.peers.get_mut(&from) else {
                    return;
                };
                match checked {
                    Ok(key) => {
                        state.introduced_in = true;
                        state.node_key = Some(key);
                        self.by_key.insert(key, from.clone());
                        reply.respond(Response::Hello {
                            certificate: self.certificate.clone(),
                            statements: self
                                .keylogs
                                .read()
                                .encoded(&self.us, cairn_net::MAX_STATEMENTS),
                            clock_ms: now_ms(),
                        });
                        self.note_clock(&from, clock_ms);
                    }
                    Err(reason) => {
                        tracing::warn!(partner = %partner.name, node = %from, "introduction refused by us: {reason}");
                        if state.cut_off.is_none() {
                            state.last_error = Some(format!("refused by us: {reason}"));
                        }
                        reply.respond(Response::Refused(reason));
                    }
                }
            }
            Request::Statements { statements } => {
                if state.node_key.is_none() || !state.introduced_in {
                    reply.respond(not_introduced());
                    return;
                }
                reply.respond(Response::Ack);
                self.take_statements(&from, &partner, &statements);
            }
            Request::Notify { head, again } => {
                let key = state.node_key.filter(|_| state.introduced_out);
                reply.respond(Response::Ack);
                if let Some(key) = key {
                    self.feed(SyncEvent::Notified {
                        peer: key,
                        latest: head,
                    });
                    if !again.is_empty() {
                        self.queue_again(&from, again);
                    }
                }
            }
            Request::Pull { after, limit } => {
                let Some(node_key) = self.may_serve(&from) else {
                    reply.respond(not_introduced());
                    return;
                };
                let Some(reply) = self.admit(&from, reply) else {
                    return;
                };
                let limit = limit.clamp(1, cairn_net::wire::MAX_PAGE_REPORTS) as usize;
                let store = self.store.clone();
                let rules = self.rules.clone();
                let metrics = self.metrics.clone();
                self.serve(from, reply, "pull", move || {
                    let now = now_ms();
                    let served = exchange::serve_page(
                        &store,
                        &rules,
                        &partner,
                        after,
                        limit,
                        PAGE_BUDGET_BYTES,
                        now,
                    )?;
                    store.record_deliveries(&partner.org, &node_key, &served.delivered, now)?;
                    for (rule, count) in &served.withheld {
                        metrics.withheld(rule, *count);
                    }
                    Ok((
                        Response::Page(served.page),
                        served.delivered.len(),
                        served.embargo_until,
                    ))
                });
            }
            Request::Fetch { report_id } => {
                let Some(node_key) = self.may_serve(&from) else {
                    reply.respond(not_introduced());
                    return;
                };
                let Some(reply) = self.admit(&from, reply) else {
                    return;
                };
                let store = self.store.clone();
                let rules = self.rules.clone();
                let id = cairn_core::ReportId::from_bytes(report_id);
                self.serve(from, reply, "fetch", move || {
                    let started = Instant::now();
                    let now = now_ms();
                    let found = exchange::serve_fetch(&store, &rules, &partner, &id, now)?;
                    if found.is_some() {
                        store.record_deliveries(&partner.org, &node_key, &[id], now)?;
                    } else {
                        // "No such report" and "not for you" take the same time to say, so
                        // that a partner cannot tell a report it may not see exists.
                        std::thread::sleep(FETCH_REFUSAL_TIME.saturating_sub(started.elapsed()));
                    }
                    let count = usize::from(found.is_some());
                    Ok((Response::Fetched(found), count, None))
                });
            }
        }
    }

    /// The node key of a partner node we may serve (it introduced itself on this connection).
    fn may_serve(&self, node: &NodeAddress) -> Option<PeerKey> {
        let state = self.peers.get(node)?;
        state.node_key.filter(|_| state.introduced_in)
    }

    /// Counts a request against the partner node's share of serving work; refuses it when the
    /// node already has `MAX_SERVING_PER_PEER` requests being served.
    fn admit(
        &mut self,
        node: &NodeAddress,
        reply: cairn_net::Responder,
    ) -> Option<cairn_net::Responder> {
        let state = self.peers.get_mut(node)?;
        if state.serving >= MAX_SERVING_PER_PEER {
            reply.respond(Response::Refused(
                "busy: too many requests from this node at once".into(),
            ));
            return None;
        }
        state.serving += 1;
        Some(reply)
    }

    /// Runs serving work on a blocking thread when it is the partner node's turn (one of its
    /// requests at a time), answers, and reports back to the actor.
    fn serve<F>(
        &mut self,
        node: NodeAddress,
        reply: cairn_net::Responder,
        request: &'static str,
        work: F,
    ) where
        F: FnOnce() -> Result<(Response, usize, Option<i64>), NodeError> + Send + 'static,
    {
        let results = self.results.clone();
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let span = self.peer_span(&node, request);
        let turn = self
            .peers
            .get(&node)
            .map(|state| state.serve_turn.clone())
            .unwrap_or_default();
        self.spawn(
            async move {
                // The semaphore is never closed: a permit always comes.
                let permit = turn.0.acquire_owned().await;
                let (response, count, embargo_until, error) =
                    match tokio::task::spawn_blocking(work).await {
                        Ok(Ok((response, count, embargo))) => (response, count, embargo, None),
                        Ok(Err(e)) => (
                            Response::Refused("the node could not read its store".into()),
                            0,
                            None,
                            Some(format!("serving a request failed: {e}")),
                        ),
                        Err(_) => (
                            Response::Refused("the node is stopping".into()),
                            0,
                            None,
                            None,
                        ),
                    };
                drop(permit);
                reply.respond(response);
                metrics.request("sync", request, started.elapsed().as_secs_f64());
                let _ = results.send(TaskResult::Served {
                    node,
                    count,
                    embargo_until,
                    error,
                });
            }
            .instrument(span),
        );
    }

    /// Feeds the catch-up state machine and carries out what it says.
    fn feed(&mut self, event: SyncEvent) {
        let actions = self.sync.handle(event);
        self.carry_out(actions);
    }

    /// Carries out what catch-up decided (a page to store is queued by `on_page`, which
    /// holds it).
    fn carry_out(&mut self, actions: Vec<SyncAction>) {
        for action in actions {
            match action {
                SyncAction::Pull {
                    peer,
                    cursor,
                    limit,
                } => self.pull(peer, cursor, limit),
                SyncAction::SaveCursor { peer, cursor } => {
                    let store = self.store.clone();
                    let results = self.results.clone();
                    self.spawn(async move {
                        let saved =
                            tokio::task::spawn_blocking(move || store.save_cursor(&peer, cursor))
                                .await;
                        if let Ok(Err(e)) = saved {
                            let _ = results.send(TaskResult::Failed {
                                node: None,
                                error: format!("saving a catch-up cursor failed: {e}"),
                            });
                        }
                    });
                }
                SyncAction::ResetCursor { peer, cursor } => {
                    if let Some(state) = self
                        .by_key
                        .get(&peer)
                        .and_then(|node| self.peers.get_mut(node))
                    {
                        state.store_queue.clear();
                        state.store_generation += 1;
                    }
                    // Written here, in order with the catch-up that follows.
                    if let Err(e) = self.store.reset_cursor(&peer, cursor) {
                        tracing::warn!("resetting a catch-up cursor failed: {e}");
                    }
                }
                SyncAction::Problem { peer, problem } => {
                    let node = self.by_key.get(&peer).cloned();
                    match &node {
                        Some(node) => {
                            tracing::warn!(partner = %self.partner_name(node), node = %node, "catch-up: {problem}")
                        }
                        None => tracing::warn!("catch-up: {problem}"),
                    }
                    self.note_error(node.as_ref(), problem);
                }
                SyncAction::StorePage { .. } => {}
            }
        }
    }

    fn pull(&mut self, key: PeerKey, cursor: u64, limit: u32) {
        let Some(node) = self.by_key.get(&key).cloned() else {
            return;
        };
        if self.stopping {
            return;
        }
        let net = self.net.clone();
        let results = self.results.clone();
        let span = self.peer_span(&node, "pull");
        self.spawn(
            async move {
                let request = Request::Pull {
                    after: cursor,
                    limit,
                };
                let result = match net.request(&node, request).await {
                    // Its numbers are checked by catch-up (`SyncState`).
                    Ok(Response::Page(page)) => Ok(page),
                    Ok(Response::Refused(reason)) => {
                        Err(format!("refused by them: {reason} (a pull)"))
                    }
                    Ok(_) => Err("answered a pull with something else than a page".into()),
                    Err(e) => Err(format!("pull failed: {e}")),
                };
                let _ = results.send(TaskResult::PageArrived {
                    node,
                    key,
                    after: cursor,
                    result,
                });
            }
            .instrument(span),
        );
    }

    /// The span of work for or with one partner node: its partner's name, its PeerId and what
    /// is done (log lines inside name them).
    fn peer_span(&self, node: &NodeAddress, work: &'static str) -> tracing::Span {
        let partner = self.partner_of(node).map_or("", |p| p.name.as_str());
        tracing::info_span!("peer", partner = %partner, node = %node, work)
    }

    /// Catch-up with a partner node failed: it starts again from the cursor after a backoff;
    /// pages waiting to be stored are dropped.
    fn sync_failed(&mut self, node: &NodeAddress, key: PeerKey, error: String) {
        let partner = self.partner_of(node).map_or("", |p| p.name.as_str());
        tracing::info!(partner = %partner, node = %node, "{error}");
        if let Some(state) = self.peers.get_mut(node) {
            state.store_queue.clear();
            state.store_generation += 1;
        }
        self.note_error(Some(node), error);
        self.feed(SyncEvent::Failed(key));
    }

    fn on_page(
        &mut self,
        node: NodeAddress,
        key: PeerKey,
        after: u64,
        result: Result<cairn_net::Page, String>,
    ) {
        let page = match result {
            Ok(page) => page,
            Err(e) => {
                if self.sync.expects(&key, after) {
                    self.sync_failed(&node, key, e);
                }
                return;
            }
        };
        // An answer to a pull given up on (timed out, or made before a reset): dropped.
        if !self.sync.expects(&key, after) {
            return;
        }
        let actions = self.sync.handle(SyncEvent::Page {
            peer: key,
            after,
            through: page.through,
            more: page.more,
            head: page.head,
            reports: page.reports.len(),
        });
        let accepted = SyncAction::StorePage {
            peer: key,
            through: page.through,
        };
        if actions.contains(&accepted) {
            if page.more {
                // A catch-up: index once it is over, not between its pages.
                self.store.hold_indexing(CATCH_UP_INDEX_HOLD);
            }
            if let Some(state) = self.peers.get_mut(&node) {
                // Signatures are checked at once, while earlier pages are being stored.
                let reports = page.reports;
                let signers = self.keylogs.clone();
                state.store_queue.push_back(PageToStore {
                    through: page.through,
                    checked: tokio::task::spawn_blocking(move || {
                        exchange::check_page(reports, &signers)
                    }),
                });
            }
        }
        self.carry_out(actions);
        self.store_next(&node, key);
    }

    /// Starts storing the partner node's next page, if none is being stored.
    fn store_next(&mut self, node: &NodeAddress, key: PeerKey) {
        let Some(partner) = self.partner_of(node).cloned() else {
            return;
        };
        let Some(state) = self.peers.get_mut(node) else {
            return;
        };
        if state.storing {
            return;
        }
        let Some(page) = state.store_queue.pop_front() else {
            return;
        };
        state.storing = true;
        let generation = state.store_generation;
        let store = self.store.clone();
        let rules = self.rules.clone();
        let results = self.results.clone();
        let node = node.clone();
        self.spawn(async move {
            let through = page.through;
            let result = match page.checked.await {
                Ok(checked) => tokio::task::spawn_blocking(move || {
                    exchange::store_checked(&store, &rules, &partner, checked, now_ms())
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string())),
                Err(e) => Err(format!("checking signatures failed: {e}")),
            };
            let _ = results.send(TaskResult::PageStored {
                node,
                key,
                through,
                generation,
                result,
            });
        });
    }

    fn on_result(&mut self, result: TaskResult) {
        match result {
            TaskResult::HelloAnswered {
                node,
                epoch,
                result,
            } => self.on_hello_answer(node, epoch, result),
            TaskResult::PageArrived {
                node,
                key,
                after,
                result,
            } => self.on_page(node, key, after, result),
            TaskResult::PageStored {
                node,
                key,
                through,
                generation,
                result,
            } => {
                let current = self.peers.get_mut(&node).map(|state| {
                    state.storing = false;
                    state.store_generation == generation
                });
                match result {
                    Ok(received) => {
                        self.on_received(&node, received);
                        if current == Some(true) {
                            self.feed(SyncEvent::Stored { peer: key, through });
                        }
                    }
                    Err(e) => {
                        tracing::error!(partner = %self.partner_name(&node), node = %node, "storing a page failed: {e}");
                        if current == Some(true) {
                            self.sync_failed(&node, key, format!("storing a page failed: {e}"));
                        }
                    }
                }
                self.store_next(&node, key);
            }
            TaskResult::FetchedAgain { node, result } => {
                if let Some(state) = self.peers.get_mut(&node) {
                    state.fetching_again = false;
                }
                match result {
                    Ok(received) => self.on_received(&node, received),
                    Err(e) => {
                        tracing::warn!(partner = %self.partner_name(&node), node = %node, "fetching reports offered again failed: {e}");
                        self.note_error(Some(&node), e);
                    }
                }
                self.fetch_again(&node);
            }
            TaskResult::BundleRead { read, reply } => {
                let read = *read;
                if let Ok(read) = &read {
                    let partner = read.partner.clone();
                    for reason in &read.refused_statements {
                        tracing::warn!(partner = %partner.name, "key statement in a bundle refused: {reason}");
                    }
                    if !read.new_statements.is_empty() {
                        tracing::info!(partner = %partner.name, new = read.new_statements.len(), "key statements received in a bundle");
                        self.recheck(partner.org);
                        self.check_awaiting_again(partner.org);
                    }
                    let received = Received {
                        stored: read.received.stored.clone(),
                        again: read.received.again.clone(),
                        rejected: read.received.rejected.clone(),
                        ..Received::default()
                    };
                    // (A connected node's catch-up goes on from where it was: the store's
                    // position never moves back, and what the bundle brought is not stored
                    // twice.)
                    self.take_in("(bundle file)", Some(partner.org), &partner.name, received);
                }
                let _ = reply.send(read);
            }
            TaskResult::CheckedAgain { node, result } => match result {
                Ok(mut received) => {
                    // Checked with every statement there is: no more waiting.
                    let refused = received.awaiting.drain(..).map(|a| a.refused());
                    received.rejected.extend(refused);
                    self.on_received(&node, received);
                }
                Err(e) => {
                    tracing::error!(partner = %self.partner_name(&node), node = %node, "storing reports that waited for key statements failed: {e}");
                    self.note_error(Some(&node), e);
                }
            },
            TaskResult::Served {
                node,
                count,
                embargo_until,
                error,
            } => {
                self.served += count as u64;
                if let Some(state) = self.peers.get_mut(&node) {
                    state.served += count as u64;
                    state.serving = state.serving.saturating_sub(1);
                }
                if count > 0 {
                    let partner = self.partner_of(&node).map_or("", |p| p.name.as_str());
                    tracing::info!(partner = %partner, node = %node, reports = count, "reports served");
                }
                if let Some(error) = error {
                    tracing::error!(partner = %self.partner_name(&node), node = %node, "{error}");
                }
                if let Some(until) = embargo_until
                    && !self
                        .embargoes
                        .iter()
                        .any(|(u, n)| *u == until && *n == node)
                {
                    self.embargoes.push((until, node));
                }
            }
            TaskResult::Published {
                reports,
                concerned,
                result,
                reply,
            } => {
                if let Ok(outcomes) = &result {
                    self.announce_own(reports, outcomes, concerned);
                }
                let _ = reply.send(result);
            }
            TaskResult::Failed { node, error } => {
                tracing::error!("{error}");
                self.note_error(node.as_ref(), error);
            }
        }
    }

    /// Tells partners about reports published or imported here that were stored.
    fn announce_own(
        &mut self,
        reports: Vec<VerifiedReport>,
        outcomes: &[IngestOutcome],
        concerned: Vec<Option<exchange::ConcernedStanding>>,
    ) {
        for (report, outcome) in reports.iter().zip(outcomes) {
            if let IngestOutcome::Stored { seq, .. } = outcome {
                tracing::info!(
                    report = %report.id(),
                    seq,
                    kind = %report.report().kind,
                    tlp = %report.report().tlp.official(),
                    "report published"
                );
            }
        }
        let new: Vec<NewReport> = reports
            .into_iter()
            .zip(outcomes)
            .zip(concerned.into_iter().chain(std::iter::repeat(None)))
            .filter(|((_, o), _)| matches!(o, IngestOutcome::Stored { .. }))
            .map(|((r, _), concerned)| NewReport {
                author: r.author(),
                marking: r.marking(),
                hop: u32::from(r.author() != self.us),
                from: None,
                concerned,
            })
            .collect();
        self.announce(&new);
    }

    /// The name of a partner node's partner, for log lines (empty when it is not known).
    fn partner_name(&self, node: &NodeAddress) -> String {
        self.partner_of(node)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    fn note_error(&mut self, node: Option<&NodeAddress>, error: String) {
        if let Some(state) = node.and_then(|n| self.peers.get_mut(n)) {
            // Held off for flooding: what fails meanwhile fails because of that.
            if state
                .held_off_until
                .is_some_and(|until| until > Instant::now())
            {
                return;
            }
            state.last_error = Some(error);
        }
    }

    /// Takes the key statements a partner node introduced itself with, then says whether the
    /// node still acts for its organisation; one that does not is cut off.
    fn check_standing(
        &mut self,
        node: &NodeAddress,
        partner: &Partner,
        key: PeerKey,
        certified: Certified,
        statements: &[Vec<u8>],
    ) -> Result<PeerKey, String> {
        if let Some(reason) = self.peers.get(node).and_then(|s| s.cut_off.clone()) {
            return Err(reason);
        }
        if let Some(state) = self.peers.get_mut(node) {
            state.certified = Some(certified);
        }
        self.take_statements(node, partner, statements);
        let standing = self
            .keylogs
            .read()
            .standing(&partner.org, &key, Some(certified), now_ms());
        match standing {
            Ok(()) => Ok(key),
            Err(reason) => {
                self.cut_off(node, &reason);
                Err(reason)
            }
        }
    }

    /// Admits the key statements a partner node sent about its organisation, keeps the new
    /// ones and cuts off the partner's nodes that no longer stand.
    fn take_statements(&mut self, node: &NodeAddress, partner: &Partner, statements: &[Vec<u8>]) {
        if statements.is_empty() {
            return;
        }
        let admitted = self.keylogs.write().admit(&partner.org, statements);
        for reason in &admitted.refused {
            tracing::warn!(partner = %partner.name, node = %node, "key statement refused: {reason}");
        }
        if let Some(last) = admitted.refused.last()
            && let Some(state) = self.peers.get_mut(node)
        {
            state.last_error = Some(format!("key statement refused: {last}"));
        }
        if admitted.new.is_empty() {
            return;
        }
        tracing::info!(partner = %partner.name, node = %node, new = admitted.new.len(), "key statements received");
        self.keep_statements(admitted.new, None);
        self.recheck(partner.org);
        self.check_awaiting_again(partner.org);
    }

    /// Keeps statements in the store, then answers `reply` (if any) with how many there were.
    fn keep_statements(
        &mut self,
        statements: Vec<cairn_core::keylog::KeyStatement>,
        reply: Option<oneshot::Sender<Result<usize, NodeError>>>,
    ) {
        let store = self.store.clone();
        self.spawn(async move {
            let count = statements.len();
            let kept = tokio::task::spawn_blocking(move || store.keep_statements(&statements))
                .await
                .map_err(|_| NodeError::Stopped)
                .and_then(|r| r.map_err(NodeError::from));
            match (kept, reply) {
                (Ok(_), Some(reply)) => {
                    let _ = reply.send(Ok(count));
                }
                (Err(e), Some(reply)) => {
                    let _ = reply.send(Err(e));
                }
                (Err(e), None) => tracing::error!("keeping key statements failed: {e}"),
                (Ok(_), None) => {}
            }
        });
    }

    /// Cuts off every node of organisation `org` whose key no longer stands, and lets in again
    /// those that stand once more.
    fn recheck(&mut self, org: OrgPublicKey) {
        self.recheck_nodes(Some(org));
    }

    /// [`Actor::recheck`] for the nodes of `only`, or of every partner, in one pass.
    fn recheck_nodes(&mut self, only: Option<OrgPublicKey>) {
        let now = now_ms();
        let mut fallen: Vec<(NodeAddress, String)> = Vec::new();
        let mut restored: Vec<NodeAddress> = Vec::new();
        let logs = self.keylogs.read();
        for (node, state) in &self.peers {
            let Some(org) = self.partners.get(state.partner).map(|p| p.partner.org) else {
                continue;
            };
            if only.is_some_and(|only| only != org) {
                continue;
            }
            let Some(key) = cairn_net::node_key_of(node) else {
                continue;
            };
            match (
                logs.standing(&org, &key, state.certified, now),
                &state.cut_off,
            ) {
                (Err(reason), None) => fallen.push((node.clone(), reason)),
                (Ok(()), Some(_)) => restored.push(node.clone()),
                _ => {}
            }
        }
        drop(logs);
        for (node, reason) in fallen {
            self.cut_off(&node, &reason);
        }
        for node in restored {
            self.let_in_again(&node);
        }
    }

    /// Checks, every [`STANDING_CHECK`], every partner node's standing and this node's own:
    /// authorisations end and start with time, not only with new statements.
    fn recheck_all(&mut self) {
        let now = Instant::now();
        if now < self.next_standing_check {
            return;
        }
        self.next_standing_check = now + STANDING_CHECK;
        self.recheck_nodes(None);
        let us = self.us;
        let own = self
            .keylogs
            .read()
            .standing(&us, &self.node_key, Some(self.certified), now_ms())
            .err();
        if own != self.own_standing {
            match &own {
                Some(reason) => tracing::error!("{reason}: partners cut this node off"),
                None => tracing::info!("this node's key stands again for its organisation"),
            }
            self.own_standing = own;
        }
    }

    /// Lets a node that was cut off in again: its organisation's log says it stands once more
    /// (a renewed authorisation). A revoked key never stands again.
    fn let_in_again(&mut self, node: &NodeAddress) {
        let Some(state) = self.peers.get_mut(node) else {
            return;
        };
        let Some(partner) = self.partners.get(state.partner) else {
            return;
        };
        tracing::info!(partner = %partner.partner.name, node = %node, "node let in again: its organisation's key statements say it stands");
        state.cut_off = None;
        state.last_error = None;
        let addresses = partner
            .nodes
            .iter()
            .find(|n| &n.node == node)
            .map(|n| n.addresses.clone())
            .unwrap_or_default();
        let net = self.net.clone();
        let node = node.clone();
        self.spawn(async move {
            if let Err(e) = net
                .trust(TrustedNode {
                    node: node.clone(),
                    addresses,
                })
                .await
            {
                tracing::warn!(node = %node, "letting the node in again failed: {e}");
            }
        });
    }

    /// Disconnects a partner node and refuses it for as long as this node runs.
    fn cut_off(&mut self, node: &NodeAddress, reason: &str) {
        let Some(state) = self.peers.get_mut(node) else {
            return;
        };
        let name = self
            .partners
            .get(state.partner)
            .map_or_else(String::new, |p| p.partner.name.clone());
        tracing::warn!(partner = %name, node = %node, "node cut off: {reason}");
        state.cut_off = Some(reason.to_string());
        state.last_error = Some(format!("cut off: {reason}"));
        state.introduced_in = false;
        state.introduced_out = false;
        state.hello_retry_at = None;
        let net = self.net.clone();
        let node = node.clone();
        self.spawn(async move {
            net.distrust(&node).await;
        });
    }

    fn on_hello_answer(
        &mut self,
        node: NodeAddress,
        epoch: u64,
        result: Result<Response, RequestError>,
    ) {
        let Some(partner) = self.partner_of(&node).cloned() else {
            return;
        };
        let Some(state) = self.peers.get_mut(&node) else {
            return;
        };
        if state.epoch != epoch || !state.connected {
            return;
        }
        state.hello_in_flight = false;
        let checked = match result {
            Ok(Response::Hello {
                certificate,
                statements,
                clock_ms,
            }) => check_certificate(&certificate, &node, &partner)
                .and_then(|(key, certified)| {
                    self.check_standing(&node, &partner, key, certified, &statements)
                })
                .map(|key| (key, clock_ms)),
            Ok(Response::Refused(reason)) => Err(format!("refused by them: {reason}")),
            Ok(_) => Err("it answered our introduction with something else".into()),
            Err(e) => Err(format!("introduction failed: {e}")),
        };
        let Some(state) = self.peers.get_mut(&node) else {
            return;
        };
        if state.cut_off.is_some() {
            return;
        }
        match checked {
            Ok((key, clock_ms)) => {
                state.node_key = Some(key);
                state.introduced_out = true;
                state.last_error = None;
                self.by_key.insert(key, node.clone());
                self.note_clock(&node, clock_ms);
                let cursor = match self.store.cursor(&key) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!("reading a catch-up cursor failed: {e}");
                        return;
                    }
                };
                tracing::info!(partner = %partner.name, node = %node, cursor, "partner introduced");
                self.feed(SyncEvent::Connected { peer: key, cursor });
            }
            Err(reason) => {
                tracing::warn!(partner = %partner.name, node = %node, "{reason}");
                state.last_error = Some(reason);
                state.hello_retry_at = Some(Instant::now() + Duration::from_secs(5));
            }
        }
    }

    fn on_received(&mut self, node: &NodeAddress, mut received: Received) {
        let partner_org = self.partner_of(node).map(|p| p.org);
        let name = self
            .partner_of(node)
            .map_or_else(String::new, |p| p.name.clone());
        let now = self.epoch.elapsed();
        for waiting in std::mem::take(&mut received.awaiting) {
            tracing::info!(partner = %name, node = %node, author = %waiting.author.short(), "report held until its author's key statements arrive: {}", waiting.line);
            let let_go = self.awaiting.hold(
                node.clone(),
                waiting.author,
                waiting.report,
                waiting.line,
                now,
            );
            self.give_up_awaiting(let_go);
        }
        let taken = self.take_in(&node.to_string(), partner_org, &name, received);
        if let Some(state) = self.peers.get_mut(node) {
            state.received += taken.stored;
            state.refused += taken.refused;
            if let Some(last) = taken.last_refusal {
                state.last_error = Some(format!("report rejected: {last}"));
            }
        }
    }

    /// Logs and counts what a partner's node (`source`) or bundle sent, and tells the other
    /// partners about the reports newly stored.
    fn take_in(
        &mut self,
        source: &str,
        partner_org: Option<OrgPublicKey>,
        name: &str,
        received: Received,
    ) -> TakenIn {
        for rejection in &received.rejected {
            tracing::warn!(partner = %name, node = %source, reason = rejection.reason, "report rejected: {}", rejection.line);
            self.metrics.refused(rejection.reason);
        }
        let taken = TakenIn {
            stored: received.stored.len() as u64,
            refused: received.rejected.len() as u64,
            last_refusal: received.rejected.last().map(|r| r.line.clone()),
        };
        self.received += taken.stored;
        self.refused += taken.refused;
        for new in &received.stored {
            tracing::info!(
                partner = %name,
                node = %source,
                report = %new.id,
                author = %new.author.short(),
                tlp = %new.marking.tlp.official(),
                "report received"
            );
        }
        let new: Vec<NewReport> = received
            .stored
            .into_iter()
            .map(|s| NewReport {
                author: s.author,
                marking: s.marking,
                hop: s.partner_hop.saturating_add(1),
                from: partner_org,
                concerned: s.concerned,
            })
            .collect();
        self.announce(&new);
        self.offer_again(&received.again, partner_org);
        taken
    }

    /// Writes a bundle for the partner named `name` on a blocking thread, and answers.
    fn write_bundle(
        &mut self,
        name: String,
        after: Option<u64>,
        reply: oneshot::Sender<Result<bundles::WrittenBundle, NodeError>>,
    ) {
        let Some(partner) = self
            .partners
            .iter()
            .find(|p| p.partner.name == name)
            .map(|p| p.partner.clone())
        else {
            let _ = reply.send(Err(NodeError::UnknownPartner(name)));
            return;
        };
        let store = self.store.clone();
        let rules = self.rules.clone();
        let certificate = self.certificate.clone();
        let statements = self
            .keylogs
            .read()
            .encoded(&self.us, cairn_net::MAX_STATEMENTS);
        let key = self.bundle_key.clone();
        self.spawn(async move {
            let written = tokio::task::spawn_blocking(move || {
                let after = match after {
                    Some(after) => after,
                    None => store.bundle_cursor(&partner.org)?,
                };
                let writer = bundles::Writer {
                    certificate: &certificate,
                    statements,
                    node_key: &key,
                };
                let written = bundles::write(&store, &rules, &partner, after, writer, now_ms())?;
                tracing::info!(partner = %partner.name, reports = written.contents.reports, after = written.contents.after, through = written.contents.through, "bundle written");
                Ok(written)
            })
            .await
            .map_err(|_| NodeError::Stopped)
            .and_then(|r: Result<_, NodeError>| r);
            let _ = reply.send(written);
        });
    }

    /// Reads a bundle on a blocking thread; then, in the actor, takes in what it brought as
    /// from the partner's node.
    fn read_bundle(
        &mut self,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<bundles::ReadBundle, NodeError>>,
    ) {
        let store = self.store.clone();
        let rules = self.rules.clone();
        let keylogs = self.keylogs.clone();
        let us = self.us;
        let partners: Vec<Partner> = self.partners.iter().map(|p| p.partner.clone()).collect();
        let results = self.results.clone();
        self.spawn(async move {
            let read = tokio::task::spawn_blocking(move || {
                bundles::read(&store, &rules, &keylogs, &us, &partners, &bytes, now_ms())
            })
            .await
            .map_err(|_| NodeError::Stopped)
            .and_then(|r| r.map_err(NodeError::from));
            let _ = results.send(TaskResult::BundleRead {
                read: Box::new(read),
                reply,
            });
        });
    }

    /// Checks again the reports by `author` that waited for its organisation's statements
    /// (new ones arrived), each with the partner node that sent it.
    fn check_awaiting_again(&mut self, author: OrgPublicKey) {
        let released = self.awaiting.release(&author);
        if released.is_empty() {
            return;
        }
        let mut by_node: Vec<(NodeAddress, Vec<cairn_net::PassedReport>)> = Vec::new();
        for (node, report) in released {
            match by_node.iter_mut().find(|(n, _)| *n == node) {
                Some((_, reports)) => reports.push(report),
                None => by_node.push((node, vec![report])),
            }
        }
        for (node, reports) in by_node {
            let Some(partner) = self.partner_of(&node).cloned() else {
                continue;
            };
            let store = self.store.clone();
            let rules = self.rules.clone();
            let signers = self.keylogs.clone();
            let results = self.results.clone();
            self.spawn(async move {
                let result = tokio::task::spawn_blocking(move || {
                    exchange::receive(&store, &rules, &partner, reports, &signers, now_ms())
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
                let _ = results.send(TaskResult::CheckedAgain { node, result });
            });
        }
    }

    /// Refuses the reports that waited for their author's statements in vain (or were let go
    /// to make room), as reports that do not verify.
    fn give_up_awaiting(&mut self, given_up: Vec<awaiting::GivenUp<NodeAddress>>) {
        for gone in given_up {
            let line = if gone.crowded {
                format!(
                    "{} (too many reports were waiting for key statements)",
                    gone.line
                )
            } else {
                format!(
                    "{} (its author's key statements did not arrive within {} s)",
                    gone.line,
                    awaiting::WAIT.as_secs()
                )
            };
            let received = Received {
                rejected: vec![exchange::Rejection::new("does_not_verify", line)],
                ..Received::default()
            };
            self.on_received(&gone.node, received);
        }
    }

    /// Offers reports now held by a shorter path, or with more disclosures, to the partners
    /// they may go to: their pulls have passed these reports, so they are named for the
    /// partners to fetch.
    fn offer_again(&mut self, again: &[exchange::StoredNew], from: Option<OrgPublicKey>) {
        if again.is_empty() || self.stopping {
            return;
        }
        let head = self.store.last_seq().unwrap_or(0);
        let now = now_ms();
        let mut offers: Vec<(NodeAddress, Vec<cairn_net::Offered>)> = Vec::new();
        for (node, state) in &self.peers {
            if !state.introduced_in {
                continue;
            }
            let Some(partner) = self.partners.get(state.partner).map(|p| &p.partner) else {
                continue;
            };
            let again: Vec<cairn_net::Offered> = again
                .iter()
                .filter_map(|c| {
                    let held = JustStored {
                        author: c.author,
                        marking: &c.marking,
                        hop: c.partner_hop.saturating_add(1),
                        from,
                        // Offered again only where a sighting may surely go: its report's
                        // author.
                        concerned: None,
                    };
                    let copy = relay::copy_for(
                        &self.us,
                        &held,
                        &c.disclosures,
                        partner,
                        &self.rules.communities,
                        now,
                    )?;
                    Some(cairn_net::Offered {
                        report_id: *c.id.as_bytes(),
                        hop: copy.hop,
                        disclosures: copy.disclosures,
                    })
                })
                .collect();
            if !again.is_empty() {
                offers.push((node.clone(), again));
            }
        }
        for (node, again) in offers {
            self.send_notify(node, head, again);
        }
    }

    /// Keeps reports a partner node offered again, to fetch one batch at a time.
    fn queue_again(&mut self, node: &NodeAddress, again: Vec<cairn_net::Offered>) {
        let Some(state) = self.peers.get_mut(node) else {
            return;
        };
        for offered in again {
            if state.again_queue.len() >= MAX_AGAIN_QUEUED {
                tracing::warn!(node = %node, "too many reports offered again: the rest are dropped");
                break;
            }
            if !state
                .again_queue
                .iter()
                .any(|o| o.report_id == offered.report_id)
            {
                state.again_queue.push_back(offered);
            }
        }
        self.fetch_again(node);
    }

    /// Fetches the next batch of reports a partner node offered again, if none is being
    /// fetched: those this node lacks or holds by a longer path, each checked and stored as a
    /// report from that partner.
    fn fetch_again(&mut self, node: &NodeAddress) {
        let Some(partner) = self.partner_of(node).cloned() else {
            return;
        };
        let Some(state) = self.peers.get_mut(node) else {
            return;
        };
        if state.fetching_again || state.again_queue.is_empty() || !state.introduced_out {
            return;
        }
        state.fetching_again = true;
        let take = state.again_queue.len().min(cairn_net::MAX_OFFERED);
        let batch: Vec<cairn_net::Offered> = state.again_queue.drain(..take).collect();
        let store = self.store.clone();
        let rules = self.rules.clone();
        let net = self.net.clone();
        let results = self.results.clone();
        let node = node.clone();
        let signers = self.keylogs.clone();
        self.spawn(async move {
            let result = fetch_offered(&store, &rules, &net, &node, &partner, batch, signers).await;
            let _ = results.send(TaskResult::FetchedAgain { node, result });
        });
    }

    /// Tells each introduced partner that may see one of these new reports to pull.
    fn announce(&mut self, new: &[NewReport]) {
        if new.is_empty() || self.stopping {
            return;
        }
        let head = self.store.last_seq().unwrap_or(0);
        let now = now_ms();
        // A sighting is announced to whoever may receive the report it concerns from here.
        let stored: Vec<JustStored<'_>> = new
            .iter()
            .map(|n| JustStored {
                author: n.author,
                marking: &n.marking,
                hop: n.hop,
                from: n.from,
                concerned: n
                    .concerned
                    .as_ref()
                    .map(exchange::ConcernedStanding::as_concerned),
            })
            .collect();
        let mut notify = Vec::new();
        for (node, state) in &self.peers {
            if !state.introduced_in {
                continue;
            }
            let Some(partner) = self.partners.get(state.partner).map(|p| &p.partner) else {
                continue;
            };
            match relay::tell(&self.us, &stored, partner, &self.rules.communities, now) {
                Tell::Now => notify.push(node.clone()),
                Tell::At(until) => self.embargoes.push((until, node.clone())),
                Tell::Nothing => {}
            }
        }
        for node in notify {
            self.notify(node, head);
        }
    }

    fn notify(&mut self, node: NodeAddress, head: u64) {
        self.send_notify(node, head, Vec::new());
    }

    /// Gives a partner node news (our head, reports offered again): sent now if its turn has
    /// come (`notices`), else with its next notice.
    fn send_notify(&mut self, node: NodeAddress, head: u64, again: Vec<cairn_net::Offered>) {
        if let Some(notice) = self.notices.news(&node, head, again, self.epoch.elapsed()) {
            self.send_notice(notice);
        }
    }

    fn send_due_notices(&mut self) {
        for notice in self.notices.due(self.epoch.elapsed()) {
            self.send_notice(notice);
        }
    }

    fn send_notice(&mut self, notice: Notice<NodeAddress>) {
        let net = self.net.clone();
        self.spawn(async move {
            let Notice { node, head, again } = notice;
            if let Err(e) = net.request(&node, Request::Notify { head, again }).await {
                tracing::debug!(node = %node, "notification not delivered: {e}");
            }
        });
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        self.feed(SyncEvent::Tick {
            now: now.duration_since(self.epoch),
        });
        self.recheck_all();
        let given_up = self.awaiting.expire(now.duration_since(self.epoch));
        self.give_up_awaiting(given_up);
        // Embargoes that ended: the partner may now see what its pulls stopped at.
        let wall = now_ms();
        if self.embargoes.iter().any(|(until, _)| *until <= wall) {
            let head = self.store.last_seq().unwrap_or(0);
            let (due, later): (Vec<_>, Vec<_>) = self
                .embargoes
                .drain(..)
                .partition(|(until, _)| *until <= wall);
            self.embargoes = later;
            let mut nodes: Vec<NodeAddress> = due.into_iter().map(|(_, n)| n).collect();
            nodes.sort();
            nodes.dedup();
            for node in nodes {
                if self.peers.get(&node).is_some_and(|s| s.introduced_in) {
                    self.notify(node, head);
                }
            }
        }
        // Introductions to retry.
        let retry: Vec<NodeAddress> = self
            .peers
            .iter()
            .filter(|(_, s)| {
                s.connected
                    && !s.introduced_out
                    && !s.hello_in_flight
                    && s.hello_retry_at.is_some_and(|at| at <= now)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for node in retry {
            self.send_hello(node);
        }
        // The periodic safety net.
        if now >= self.next_poll {
            self.next_poll = now + self.poll_interval;
            let keys: Vec<PeerKey> = self
                .peers
                .values()
                .filter(|s| s.introduced_out)
                .filter_map(|s| s.node_key)
                .collect();
            for key in keys {
                self.feed(SyncEvent::Poll(key));
            }
        }
    }

    /// Takes a new trust list and sharing rules (see [`crate::trust::plan`]): nodes no longer
    /// trusted are disconnected and forgotten, new ones trusted and dialled, the others kept
    /// with their state under their partner's new entry.
    fn reconfigure(
        &mut self,
        sharing: Sharing,
        kept: &[(cairn_core::keylog::OrgId, Vec<KeyStatement>)],
    ) -> Result<Reconfigured, NodeError> {
        let known: Vec<(NodeAddress, usize)> = self
            .peers
            .iter()
            .map(|(node, state)| (node.clone(), state.partner))
            .collect();
        let plan = crate::trust::plan(&self.partners, &sharing.partners, &known)?;
        self.keylogs
            .write()
            .track(sharing.partners.iter().map(|p| p.partner.org), kept);
        let mut done = Reconfigured {
            added: plan.added.clone(),
            removed: plan.removed.clone(),
            ..Reconfigured::default()
        };
        // Carried out by the network task in this order: a node dropped and added again (it
        // moved to another organisation) is let in again.
        let mut net_steps: Vec<(NodeAddress, Option<Vec<String>>)> = Vec::new();
        for (node, change) in plan.changes {
            match change {
                NodeChange::Keep { partner, addresses } => {
                    if let Some(state) = self.peers.get_mut(&node) {
                        state.partner = partner;
                    }
                    if let Some(addresses) = addresses {
                        net_steps.push((node, Some(addresses)));
                    }
                }
                NodeChange::Add { partner, addresses } => {
                    self.peers.insert(
                        node.clone(),
                        PeerState {
                            partner,
                            budget: cairn_net::rate::RequestBudget::new(self.rate_limit),
                            ..PeerState::default()
                        },
                    );
                    done.trusted.push(node.to_string());
                    net_steps.push((node, Some(addresses)));
                }
                NodeChange::Drop => {
                    let name = self.partner_of(&node).map(|p| p.name.clone());
                    tracing::info!(partner = ?name, node = %node, "no longer in the trust list: disconnected");
                    self.forget_node(&node);
                    done.disconnected.push(node.to_string());
                    net_steps.push((node, None));
                }
            }
        }
        self.partners = Arc::new(sharing.partners);
        self.trust_list.set(self.partners.clone());
        self.rules = Arc::new(SharingRules {
            us: self.us,
            communities: sharing.communities,
            inbound: sharing.inbound,
        });
        let net = self.net.clone();
        self.spawn(async move {
            for (node, addresses) in net_steps {
                match addresses {
                    None => net.distrust(&node).await,
                    Some(addresses) => {
                        if let Err(e) = net
                            .trust_exactly(TrustedNode {
                                node: node.clone(),
                                addresses,
                            })
                            .await
                        {
                            tracing::warn!(node = %node, "cannot trust the node: {e}");
                        }
                    }
                }
            }
        });
        tracing::info!(
            added = ?done.added,
            removed = ?done.removed,
            "trust list and sharing rules reloaded"
        );
        Ok(done)
    }

    /// Shows and logs a partner node's clock skew, if its clock (as its introduction said)
    /// differs from ours by minutes.
    fn note_clock(&mut self, node: &NodeAddress, clock_ms: i64) {
        let Some(problem) = crate::clock::clock_skew(clock_ms, now_ms()) else {
            return;
        };
        let name = self.partner_name(node);
        if let Some(state) = self.peers.get_mut(node) {
            if state.last_error.as_deref() != Some(problem.as_str()) {
                tracing::warn!(partner = %name, node = %node, "{problem}");
            }
            state.last_error = Some(problem);
        }
    }

    /// Forgets a partner node: its state, its place in catch-up, what was waiting for it.
    fn forget_node(&mut self, node: &NodeAddress) {
        if let Some(state) = self.peers.remove(node)
            && let Some(key) = state.node_key
        {
            self.by_key.remove(&key);
            self.sync.handle(SyncEvent::Disconnected(key));
        }
        self.notices.forget(node);
        self.embargoes.retain(|(_, n)| n != node);
        self.awaiting.forget(node);
    }

    fn on_command(&mut self, command: NodeCommand) {
        match command {
            NodeCommand::PsiAsk {
                partner,
                values,
                reply,
            } => {
                let Some(index) = self.partners.iter().position(|p| {
                    p.partner.name == partner || p.partner.org.to_string() == partner
                }) else {
                    let _ = reply.send(Err(crate::psi::PsiAskError::UnknownPartner(partner)));
                    return;
                };
                let name = self.partners[index].partner.name.clone();
                let mut connected: Vec<&NodeAddress> = self
                    .peers
                    .iter()
                    .filter(|(_, state)| state.partner == index && state.introduced_out)
                    .map(|(node, _)| node)
                    .collect();
                connected.sort();
                let Some(node) = connected.first().map(|n| (*n).clone()) else {
                    let _ = reply.send(Err(crate::psi::PsiAskError::NotConnected(name)));
                    return;
                };
                let net = self.net.clone();
                self.spawn(async move {
                    let _ = reply.send(crate::psi::ask(&net, &node, &name, values).await);
                });
            }
            NodeCommand::Status(reply) => {
                let reports = self.store.last_seq().unwrap_or(0);
                let indexed = self.store.indexed_up_to();
                let _ = reply.send(NodeStatus {
                    organisation: self.organisation.clone(),
                    org_key: self.us.to_string(),
                    node_name: self.node_name.clone(),
                    peer_id: self.local.to_string(),
                    listening: self.listening.clone(),
                    reports,
                    index_pending: reports.saturating_sub(indexed),
                    received: self.received,
                    served: self.served,
                    refused: self.refused,
                    peers_connected: self.peers.values().filter(|s| s.introduced_out).count(),
                    peers_trusted: self.peers.len(),
                    uptime_secs: self.epoch.elapsed().as_secs(),
                });
            }
            NodeCommand::CatchUpAgain { node, reply } => {
                let key = match self.peers.get(&node) {
                    None => {
                        let _ = reply.send(Err(NodeError::UnknownNode(node)));
                        return;
                    }
                    Some(state) => state.node_key,
                };
                let answer = match key {
                    None => Err(NodeError::NotMetYet(node)),
                    Some(key) => {
                        let was = self
                            .sync
                            .cursor(&key)
                            .or_else(|| self.store.cursor(&key).ok())
                            .unwrap_or(0);
                        tracing::warn!(partner = %self.partner_name(&node), node = %node, "catching up again from its first report (the operator asked; position was {was})");
                        if self.sync.cursor(&key).is_some() {
                            self.feed(SyncEvent::Restart(key));
                            Ok(was)
                        } else {
                            self.store
                                .reset_cursor(&key, 0)
                                .map(|()| was)
                                .map_err(NodeError::from)
                        }
                    }
                };
                let _ = reply.send(answer);
            }
            NodeCommand::WriteBundle {
                partner,
                after,
                reply,
            } => self.write_bundle(partner, after, reply),
            NodeCommand::ReadBundle { bytes, reply } => self.read_bundle(bytes, reply),
            NodeCommand::AddStatements { statements, reply } => {
                let encoded: Vec<Vec<u8>> =
                    statements.iter().map(|s| s.to_bytes().to_vec()).collect();
                let us = self.us;
                let admitted = self.keylogs.write().admit_own(&us, &encoded);
                if !admitted.refused.is_empty() {
                    let _ = reply.send(Err(NodeError::StatementsRefused(
                        admitted.refused.join("; "),
                    )));
                    return;
                }
                if admitted.new.is_empty() {
                    let _ = reply.send(Ok(0));
                    return;
                }
                let own = self.keylogs.read().standing(
                    &us,
                    &self.node_key,
                    Some(self.certified),
                    now_ms(),
                );
                if let Err(reason) = own {
                    tracing::warn!("{reason}: partners will cut this node off");
                }
                let new: Vec<Vec<u8>> =
                    admitted.new.iter().map(|s| s.to_bytes().to_vec()).collect();
                self.keep_statements(admitted.new, Some(reply));
                let nodes: Vec<NodeAddress> = self
                    .peers
                    .iter()
                    .filter(|(_, s)| s.connected && s.cut_off.is_none())
                    .map(|(node, _)| node.clone())
                    .collect();
                tracing::info!(
                    partners = nodes.len(),
                    "key statements sent to connected partner nodes"
                );
                for node in nodes {
                    let net = self.net.clone();
                    let statements = new.clone();
                    self.spawn(async move {
                        if let Err(e) = net.request(&node, Request::Statements { statements }).await
                        {
                            tracing::warn!(node = %node, "sending key statements failed: {e}");
                        }
                    });
                }
            }
            NodeCommand::Peers(reply) => {
                let mut list: Vec<PeerStatus> = self
                    .peers
                    .iter()
                    .map(|(node, s)| {
                        let partner = self.partners.get(s.partner).map(|p| &p.partner);
                        let cursor = s
                            .node_key
                            .and_then(|k| {
                                self.sync.cursor(&k).or_else(|| self.store.cursor(&k).ok())
                            })
                            .unwrap_or(0);
                        PeerStatus {
                            partner: partner.map_or_else(String::new, |p| p.name.clone()),
                            org_key: partner.map_or_else(String::new, |p| p.org.to_string()),
                            peer_id: node.to_string(),
                            connected: s.connected && s.introduced_out,
                            address: s.address.clone().filter(|_| s.connected),
                            last_seen_ms: s.last_seen_ms,
                            cursor,
                            head: s
                                .node_key
                                .and_then(|k| self.sync.head(&k))
                                .unwrap_or(cursor),
                            received: s.received,
                            refused: s.refused,
                            served: s.served,
                            last_error: s.last_error.clone(),
                        }
                    })
                    .collect();
                list.sort_by(|a, b| a.partner.cmp(&b.partner).then(a.peer_id.cmp(&b.peer_id)));
                let _ = reply.send(list);
            }
            NodeCommand::Publish {
                reports,
                provenance,
                reply,
            } => {
                let store = self.store.clone();
                let results = self.results.clone();
                let us = self.us;
                self.spawn(async move {
                    let copy = reports.clone();
                    let stored = tokio::task::spawn_blocking(move || {
                        let result = store.insert(copy.clone(), provenance);
                        let concerned = exchange::concerned_of_each(
                            &store,
                            &us,
                            copy.iter().map(VerifiedReport::report),
                            now_ms(),
                        );
                        (result, concerned)
                    })
                    .await;
                    let (result, concerned) = match stored {
                        Ok((result, concerned)) => (result.map_err(NodeError::from), concerned),
                        Err(_) => (Err(NodeError::Stopped), Vec::new()),
                    };
                    let _ = results.send(TaskResult::Published {
                        reports,
                        concerned,
                        result,
                        reply,
                    });
                });
            }
            NodeCommand::Stored {
                reports,
                outcomes,
                concerned,
            } => self.announce_own(reports, &outcomes, concerned),
            NodeCommand::ExplainSharing {
                stored,
                concerned,
                reply,
            } => {
                let decisions = exchange::explain_sharing(
                    &self.us,
                    &stored,
                    concerned.as_ref(),
                    self.partners.iter().map(|p| &p.partner),
                    &self.rules.communities,
                    now_ms(),
                );
                let _ = reply.send(decisions);
            }
            NodeCommand::ExplainDraft {
                report,
                concerned,
                reply,
            } => {
                let decisions = exchange::explain_draft(
                    &self.us,
                    &report,
                    concerned.as_ref(),
                    self.partners.iter().map(|p| &p.partner),
                    &self.rules.communities,
                    now_ms(),
                );
                let _ = reply.send(decisions);
            }
            NodeCommand::Reconfigure {
                sharing,
                kept,
                reply,
            } => {
                let _ = reply.send(self.reconfigure(sharing, &kept));
            }
            NodeCommand::Fetch { node, id, reply } => {
                let net = self.net.clone();
                let signers = self.keylogs.clone();
                self.spawn(async move {
                    let answer = match net
                        .request(
                            &node,
                            Request::Fetch {
                                report_id: *id.as_bytes(),
                            },
                        )
                        .await
                    {
                        Ok(Response::Fetched(None)) => Ok(None),
                        Ok(Response::Fetched(Some(passed))) => {
                            let checked = tokio::task::spawn_blocking(move || {
                                cairn_core::verify_with(&passed.envelope, &signers)
                            })
                            .await;
                            match checked {
                                Ok(Ok(report)) if report.id() == id => Ok(Some(report)),
                                Ok(Ok(_)) => Err(NodeError::BadAnswer {
                                    node,
                                    reason: "it answered with another report".into(),
                                }),
                                Ok(Err(e)) => Err(NodeError::BadAnswer {
                                    node,
                                    reason: format!("its report does not verify: {e}"),
                                }),
                                Err(_) => Err(NodeError::Stopped),
                            }
                        }
                        Ok(Response::Refused(reason)) => Err(NodeError::BadAnswer {
                            node,
                            reason: format!("refused: {reason}"),
                        }),
                        Ok(_) => Err(NodeError::BadAnswer {
                            node,
                            reason: "it answered with something else than a report".into(),
                        }),
                        Err(error) => Err(NodeError::Request { node, error }),
                    };
                    let _ = reply.send(answer);
                });
            }
        }
    }
}
