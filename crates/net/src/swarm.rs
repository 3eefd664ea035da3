//! The one task that owns the libp2p Swarm: it listens, dials and redials trusted nodes,
//! refuses everyone else, carries requests out and hands incoming ones to the node. It never
//! touches storage or signatures: answers come back from the node on oneshot channels.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, connection_limits};
use libp2p::{identify, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::psi_wire::{PSI_PROTOCOL, PsiAnswer, PsiCodec, PsiQuery};
use crate::wire::{PROTOCOL, Request, Response, SyncCodec};

/// How long a PSI query may take to be answered: a responder may first make the tags of
/// everything the asker may see.
const PSI_TIMEOUT: Duration = Duration::from_secs(600);
use crate::{BadNodeAddress, NetConfig, NodeAddress};

/// A partner node this node may talk to, and where to reach it (if anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedNode {
    /// Its PeerId.
    pub node: NodeAddress,
    /// Multiaddrs to dial; empty when the partner dials in.
    pub addresses: Vec<String>,
}

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The node key is not usable.
    #[error("node key: {0}")]
    NodeKey(String),
    /// A listen or partner address is not valid.
    #[error(transparent)]
    Address(#[from] BadNodeAddress),
    /// The transport could not be built.
    #[error("cannot set up the transport: {0}")]
    Transport(String),
    /// Listening failed (address in use, not an address of this machine, ...).
    #[error("cannot listen on {address}: {reason}")]
    Listen {
        /// The listen address.
        address: String,
        /// Why.
        reason: String,
    },
}

/// Refuses a listen address whose port another program already listens on. The transport
/// listens with port reuse (so that connections it dials leave from the listening port), which
/// would let a second node share the port with the first: connecting to the port first finds
/// out. (A bind would also fail for a port that only an outgoing connection happens to use,
/// which takes nothing from this node.)
fn port_free(text: &str, address: &Multiaddr) -> Result<(), StartError> {
    use libp2p::multiaddr::Protocol;
    let mut parts = address.iter();
    let ip: std::net::IpAddr = match parts.next() {
        Some(Protocol::Ip4(ip)) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        Some(Protocol::Ip6(ip)) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        _ => return Ok(()),
    };
    let Some(Protocol::Tcp(port)) = parts.next() else {
        return Ok(());
    };
    if port == 0 {
        return Ok(());
    }
    let target = std::net::SocketAddr::new(ip, port);
    match std::net::TcpStream::connect_timeout(&target, Duration::from_millis(500)) {
        Ok(_) => Err(StartError::Listen {
            address: text.to_string(),
            reason: format!(
                "port {port} is in use: another program (perhaps another Cairn node) listens there"
            ),
        }),
        // Nobody answers: the port is ours to listen on (an address that is not this
        // machine's fails when the transport listens, with its own error).
        Err(_) => Ok(()),
    }
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The node is not connected and could not be reached.
    #[error("the node could not be reached")]
    Unreachable,
    /// No answer in time.
    #[error("the node did not answer in time")]
    Timeout,
    /// The connection closed before the answer.
    #[error("the connection closed before the answer")]
    ConnectionClosed,
    /// The node does not speak this protocol (version).
    #[error("the node does not speak {PROTOCOL}")]
    UnsupportedProtocol,
    /// The answer was malformed or too large, or the stream failed.
    #[error("the exchange failed: {0}")]
    Io(String),
    /// This node is shutting down.
    #[error("the network task has stopped")]
    Stopped,
}

/// Where an open connection to a trusted node goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The node.
    pub node: NodeAddress,
    /// The remote address.
    pub address: String,
    /// Whether this node dialled it.
    pub outbound: bool,
}

/// Hands the node's answer back to the network task.
#[derive(Debug)]
pub struct Responder(oneshot::Sender<Response>);

impl Responder {
    /// Sends the answer. Dropping a responder without answering closes the stream.
    pub fn respond(self, response: Response) {
        let _ = self.0.send(response);
    }
}

/// Where the answer to a PSI query goes.
#[derive(Debug)]
pub struct PsiResponder(oneshot::Sender<PsiAnswer>);

impl PsiResponder {
    /// Sends the answer. Dropping a responder without answering closes the stream.
    pub fn respond(self, answer: PsiAnswer) {
        let _ = self.0.send(answer);
    }
}

/// What the network tells the node.
#[derive(Debug)]
pub enum NetEvent {
    /// Listening on this address.
    Listening(String),
    /// A node connected (its first connection): a trusted one, or one not in the trust list
    /// that may only introduce itself (`Request::Hello`) before it is trusted or disconnected.
    Connected(Connection),
    /// The last connection to a trusted node closed.
    Disconnected(NodeAddress),
    /// Dialling a trusted node failed (it is retried later).
    Unreachable {
        /// The node.
        node: NodeAddress,
        /// What the dial ran into, on one line.
        error: String,
    },
    /// A trusted node asks which of some values this node holds (private set intersection);
    /// answer through `reply`.
    PsiQuery {
        /// Who asks.
        from: NodeAddress,
        /// What.
        query: PsiQuery,
        /// Where the answer goes.
        reply: PsiResponder,
    },
    /// A trusted node asks something, or an unlisted one introduces itself; answer through
    /// `reply`.
    Request {
        /// Who asks.
        from: NodeAddress,
        /// What.
        request: Request,
        /// Where the answer goes.
        reply: Responder,
    },
}

enum Command {
    Request {
        to: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, RequestError>>,
    },
    PsiQuery {
        to: PeerId,
        query: PsiQuery,
        reply: oneshot::Sender<Result<PsiAnswer, RequestError>>,
    },
    ListenAddresses(oneshot::Sender<Vec<String>>),
    Connections(oneshot::Sender<Vec<Connection>>),
    Trust {
        node: TrustedNode,
        /// The addresses given replace those known (a reloaded trust list), instead of being
        /// added to them.
        exactly: bool,
        reply: oneshot::Sender<Result<(), BadNodeAddress>>,
    },
    HoldOff {
        node: PeerId,
        until: Instant,
    },
    Distrust {
        node: PeerId,
    },
}

/// Talks to the network task. Cheap to clone.
#[derive(Clone)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    local: NodeAddress,
}

impl NetHandle {
    /// This node's PeerId.
    pub fn local_node(&self) -> &NodeAddress {
        &self.local
    }

    /// Sends a request to a trusted node and waits for the answer (dialling it if needed).
    pub async fn request(
        &self,
        to: &NodeAddress,
        request: Request,
    ) -> Result<Response, RequestError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Request {
                to: to.peer_id(),
                request,
                reply,
            })
            .await
            .map_err(|_| RequestError::Stopped)?;
        answer.await.map_err(|_| RequestError::Stopped)?
    }

    /// Asks a trusted node which of some values it holds (private set intersection) and waits
    /// for the answer (dialling it if needed).
    pub async fn psi_query(
        &self,
        to: &NodeAddress,
        query: PsiQuery,
    ) -> Result<PsiAnswer, RequestError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::PsiQuery {
                to: to.peer_id(),
                query,
                reply,
            })
            .await
            .map_err(|_| RequestError::Stopped)?;
        answer.await.map_err(|_| RequestError::Stopped)?
    }

    /// The addresses this node listens on (with the port chosen for `/tcp/0`).
    pub async fn listen_addresses(&self) -> Vec<String> {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::ListenAddresses(reply))
            .await
            .is_err()
        {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    /// The trusted nodes connected now.
    pub async fn connections(&self) -> Vec<Connection> {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::Connections(reply))
            .await
            .is_err()
        {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    /// Adds a node to the allow-list (or new addresses for one) and dials it if it has any.
    /// Disconnects a trusted node and refuses it until `for_` has passed (it kept flooding
    /// this node after being refused); it is then let in and dialled again.
    pub async fn hold_off(&self, node: &NodeAddress, for_: Duration) {
        let _ = self
            .commands
            .send(Command::HoldOff {
                node: node.peer_id(),
                until: Instant::now() + for_,
            })
            .await;
    }

    /// Takes a node off the allow-list for as long as this node runs: it is disconnected, not
    /// dialled and refused (its organisation revoked its key).
    pub async fn distrust(&self, node: &NodeAddress) {
        let _ = self
            .commands
            .send(Command::Distrust {
                node: node.peer_id(),
            })
            .await;
    }

    pub async fn trust(&self, node: TrustedNode) -> Result<(), RequestError> {
        self.send_trust(node, false).await
    }

    /// Puts a node on the allow-list with exactly these addresses (those known before are
    /// forgotten), lets it in even if it was distrusted, and dials it if it has any.
    pub async fn trust_exactly(&self, node: TrustedNode) -> Result<(), RequestError> {
        self.send_trust(node, true).await
    }

    async fn send_trust(&self, node: TrustedNode, exactly: bool) -> Result<(), RequestError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Trust {
                node,
                exactly,
                reply,
            })
            .await
            .map_err(|_| RequestError::Stopped)?;
        answer
            .await
            .map_err(|_| RequestError::Stopped)?
            .map_err(|e| RequestError::Io(e.to_string()))
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    per_address: crate::admission::PerAddress,
    allowed: crate::admission::TrustList,
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
    psi: request_response::Behaviour<PsiCodec>,
}

/// Parses a partner node's address: IP and TCP port, optionally `/p2p/` and its PeerId, which
/// must then be that node's.
pub(crate) fn dial_address(text: &str, node: &NodeAddress) -> Result<Multiaddr, BadNodeAddress> {
    let address = Multiaddr::from_str(text.trim()).map_err(|e| {
        BadNodeAddress(match crate::multiaddr_for(text) {
            Some(form) => format!("{text:?} is not a multiaddr: write it {form:?}"),
            None => format!(
                "{text:?} is not a multiaddr ({e}): use /ip4/ADDRESS/tcp/PORT or /ip6/ADDRESS/tcp/PORT"
            ),
        })
    })?;
    let mut parts = address.iter();
    let host = parts.next();
    let port = parts.next();
    let peer = parts.next();
    let shape_error = || {
        BadNodeAddress(format!(
            "{text:?} is not a node address: use /ip4/ADDRESS/tcp/PORT or /ip6/ADDRESS/tcp/PORT, optionally followed by /p2p/PEERID"
        ))
    };
    if !matches!(host, Some(Protocol::Ip4(_) | Protocol::Ip6(_)))
        || !matches!(port, Some(Protocol::Tcp(_)))
        || parts.next().is_some()
    {
        return Err(shape_error());
    }
    match peer {
        None => Ok(address),
        Some(Protocol::P2p(peer)) if NodeAddress::of(&peer) == *node => {
            let mut bare = address.clone();
            bare.pop();
            Ok(bare)
        }
        Some(Protocol::P2p(peer)) => Err(BadNodeAddress(format!(
            "{text:?} names another node ({peer}) than {node}"
        ))),
        Some(_) => Err(shape_error()),
    }
}

struct Redial {
    addresses: Vec<Multiaddr>,
    connected: bool,
    dialling: bool,
    failures: u32,
    next: Option<Instant>,
    /// Held off (disconnected, and refused if it dials) until then.
    held_until: Option<Instant>,
}

type PendingAnswer = std::pin::Pin<
    Box<dyn Future<Output = (ResponseChannel<Response>, Option<Response>)> + Send + 'static>,
>;

type PendingPsiAnswer = std::pin::Pin<
    Box<dyn Future<Output = (ResponseChannel<PsiAnswer>, Option<PsiAnswer>)> + Send + 'static>,
>;

/// Starts the network task: listens on `config.listen`, dials the trusted nodes that have
/// addresses, and runs until `shutdown` is cancelled. Returns once every listen address is
/// bound (or failed).
pub async fn spawn(
    config: &NetConfig,
    node_secret: [u8; 32],
    trusted: Vec<TrustedNode>,
    shutdown: CancellationToken,
) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), StartError> {
    let keypair = libp2p::identity::Keypair::ed25519_from_bytes(node_secret)
        .map_err(|e| StartError::NodeKey(e.to_string()))?;
    let local = NodeAddress::of(&keypair.public().to_peer_id());

    let mut redial = HashMap::new();
    for node in &trusted {
        let mut addresses = Vec::new();
        for text in &node.addresses {
            addresses.push(dial_address(text, &node.node)?);
        }
        redial.insert(
            node.node.peer_id(),
            Redial {
                addresses,
                connected: false,
                dialling: false,
                failures: 0,
                next: Some(Instant::now()),
                held_until: None,
            },
        );
    }
    let per_peer = config.max_connections_per_peer.max(1);
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(config.max_pending_incoming.max(1)))
        .with_max_established_per_peer(Some(per_peer))
        .with_max_established(Some(
            per_peer
                .saturating_mul(u32::try_from(trusted.len()).unwrap_or(u32::MAX))
                .saturating_add(config.max_unlisted_nodes.saturating_mul(per_peer))
                .saturating_add(8),
        ));
    let request_timeout = config.request_timeout();
    let idle = Duration::from_secs(config.idle_timeout_secs.max(1));
    let handshake = Duration::from_secs(config.handshake_timeout_secs.max(1));
    let per_address = config.max_pending_per_address.max(1) as usize;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| {
            use libp2p::Transport;
            // A connection that does not finish its handshake in time is closed: idle
            // connections from anyone cannot hold handshake slots for ever.
            let noise: Result<_, Box<dyn std::error::Error + Send + Sync>> =
                noise::Config::new(key).map_err(Into::into);
            noise.map(|noise| {
                tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
                    .upgrade(libp2p::core::upgrade::Version::V1Lazy)
                    .authenticate(noise)
                    .multiplex(yamux::Config::default())
                    .timeout(handshake)
            })
        })
        .map_err(|e| StartError::Transport(e.to_string()))?
        .with_behaviour(|key| {
            let mut allowed = crate::admission::TrustList::new(
                config.max_unlisted_nodes as usize,
                Duration::from_secs(config.introduction_secs.max(1)),
            );
            for node in &trusted {
                allowed.allow_peer(node.node.peer_id());
            }
            Behaviour {
                per_address: crate::admission::PerAddress::new(
                    per_address,
                    config.paced_handshakes_per_second,
                ),
                allowed,
                limits: connection_limits::Behaviour::new(limits),
                identify: identify::Behaviour::new(
                    identify::Config::new("/cairn/1".into(), key.public())
                        .with_agent_version(format!("cairn/{}", env!("CARGO_PKG_VERSION"))),
                ),
                sync: request_response::Behaviour::with_codec(
                    SyncCodec::default(),
                    [(StreamProtocol::new(PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(request_timeout),
                ),
                // A query of many values against a large set takes a while to answer.
                psi: request_response::Behaviour::with_codec(
                    PsiCodec::default(),
                    [(StreamProtocol::new(PSI_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(PSI_TIMEOUT.max(request_timeout)),
                ),
            }
        })
        .map_err(|e| StartError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();

    let mut wanted = 0;
    for text in &config.listen {
        crate::check_listen_address(text)?;
        let address = Multiaddr::from_str(text.trim())
            .map_err(|e| BadNodeAddress(format!("{text:?}: {e}")))?;
        port_free(text, &address)?;
        swarm.listen_on(address).map_err(|e| StartError::Listen {
            address: text.clone(),
            reason: e.to_string(),
        })?;
        wanted += 1;
    }
    let mut listening = Vec::new();
    // Wait until every listener is bound, so callers learn the ports at once.
    while listening.len() < wanted {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => listening.push(address.to_string()),
            SwarmEvent::ListenerError { error, .. }
            | SwarmEvent::ListenerClosed {
                reason: Err(error), ..
            } => {
                return Err(StartError::Listen {
                    address: config.listen.join(", "),
                    reason: error.to_string(),
                });
            }
            _ => {}
        }
    }

    let (commands, command_rx) = mpsc::channel(256);
    let (event_tx, events) = mpsc::channel(1024);
    for address in &listening {
        let _ = event_tx.try_send(NetEvent::Listening(address.clone()));
    }
    let task = SwarmTask {
        swarm,
        config: config.clone(),
        commands: command_rx,
        events: event_tx,
        pending_requests: HashMap::new(),
        pending_answers: FuturesUnordered::new(),
        pending_psi: HashMap::new(),
        pending_psi_answers: FuturesUnordered::new(),
        redial,
        listening,
        connections: HashMap::new(),
    };
    tokio::spawn(task.run(shutdown));
    Ok((NetHandle { commands, local }, events))
}

struct SwarmTask {
    swarm: Swarm<Behaviour>,
    config: NetConfig,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    pending_requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, RequestError>>>,
    pending_answers: FuturesUnordered<PendingAnswer>,
    pending_psi: HashMap<OutboundRequestId, oneshot::Sender<Result<PsiAnswer, RequestError>>>,
    pending_psi_answers: FuturesUnordered<PendingPsiAnswer>,
    redial: HashMap<PeerId, Redial>,
    listening: Vec<String>,
    connections: HashMap<PeerId, Vec<(libp2p::swarm::ConnectionId, Connection)>>,
}

impl SwarmTask {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(command) = self.commands.recv() => self.on_command(command),
                Some((channel, answer)) = self.pending_answers.next(),
                    if !self.pending_answers.is_empty() =>
                {
                    if let Some(response) = answer {
                        // Fails only if the asker went away meanwhile.
                        let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
                    }
                }
                Some((channel, answer)) = self.pending_psi_answers.next(),
                    if !self.pending_psi_answers.is_empty() =>
                {
                    if let Some(answer) = answer {
                        let _ = self.swarm.behaviour_mut().psi.send_response(channel, answer);
                    }
                }
                _ = tick.tick() => {
                    self.redial_due();
                    self.disconnect_unintroduced();
                }
            }
        }
        for (_, reply) in self.pending_requests.drain() {
            let _ = reply.send(Err(RequestError::Stopped));
        }
        for (_, reply) in self.pending_psi.drain() {
            let _ = reply.send(Err(RequestError::Stopped));
        }
        tracing::debug!("network task stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Request { to, request, reply } => {
                let Some(known) = self.redial.get(&to) else {
                    let _ = reply.send(Err(RequestError::Unreachable));
                    return;
                };
                // Not connected yet: the request dials the node's known addresses.
                let addresses = known.addresses.clone();
                let id = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_request_with_addresses(&to, request, addresses);
                self.pending_requests.insert(id, reply);
            }
            Command::PsiQuery { to, query, reply } => {
                let Some(known) = self.redial.get(&to) else {
                    let _ = reply.send(Err(RequestError::Unreachable));
                    return;
                };
                let addresses = known.addresses.clone();
                let id = self
                    .swarm
                    .behaviour_mut()
                    .psi
                    .send_request_with_addresses(&to, query, addresses);
                self.pending_psi.insert(id, reply);
            }
            Command::ListenAddresses(reply) => {
                let _ = reply.send(self.listening.clone());
            }
            Command::HoldOff { node, until } => {
                if let Some(r) = self.redial.get_mut(&node) {
                    r.held_until = Some(until);
                    r.next = Some(until);
                    self.swarm.behaviour_mut().allowed.disallow_peer(node);
                    let _ = self.swarm.disconnect_peer_id(node);
                }
            }
            Command::Distrust { node } => {
                self.redial.remove(&node);
                self.swarm.behaviour_mut().allowed.disallow_peer(node);
                let _ = self.swarm.disconnect_peer_id(node);
            }
            Command::Connections(reply) => {
                let mut all: Vec<Connection> = self
                    .connections
                    .values()
                    .filter_map(|c| c.first().map(|(_, c)| c.clone()))
                    .collect();
                all.sort_by(|a, b| a.node.cmp(&b.node));
                let _ = reply.send(all);
            }
            Command::Trust {
                node,
                exactly,
                reply,
            } => {
                let mut addresses = Vec::new();
                for text in &node.addresses {
                    match dial_address(text, &node.node) {
                        Ok(a) => addresses.push(a),
                        Err(e) => {
                            let _ = reply.send(Err(e));
                            return;
                        }
                    }
                }
                let peer = node.node.peer_id();
                self.swarm.behaviour_mut().allowed.allow_peer(peer);
                let entry = self.redial.entry(peer).or_insert(Redial {
                    addresses: Vec::new(),
                    connected: false,
                    dialling: false,
                    failures: 0,
                    next: None,
                    held_until: None,
                });
                if exactly {
                    entry.addresses.clear();
                }
                for a in addresses {
                    if !entry.addresses.contains(&a) {
                        entry.addresses.push(a);
                    }
                }
                if !entry.connected {
                    entry.next = Some(Instant::now());
                    entry.failures = 0;
                }
                let _ = reply.send(Ok(()));
                self.redial_due();
            }
        }
    }

    /// Disconnects the unlisted nodes that did not introduce themselves in time.
    fn disconnect_unintroduced(&mut self) {
        let now = std::time::Instant::now();
        for peer in self.swarm.behaviour_mut().allowed.expired(now) {
            tracing::info!(node = %NodeAddress::of(&peer), "an unlisted node did not introduce itself in time: disconnected");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn redial_due(&mut self) {
        let now = Instant::now();
        // Nodes held off long enough may connect again.
        for (peer, r) in &mut self.redial {
            if r.held_until.is_some_and(|until| until <= now) {
                r.held_until = None;
                r.next = Some(now);
                self.swarm.behaviour_mut().allowed.allow_peer(*peer);
            }
        }
        let mut due = Vec::new();
        for (peer, r) in &mut self.redial {
            if r.connected || r.dialling || r.addresses.is_empty() || r.held_until.is_some() {
                continue;
            }
            if r.next.is_some_and(|at| at <= now) {
                r.dialling = true;
                r.next = None;
                due.push((*peer, r.addresses.clone()));
            }
        }
        for (peer, addresses) in due {
            let opts = DialOpts::peer_id(peer)
                .addresses(addresses)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(node = %NodeAddress::of(&peer), "dial not started: {e}");
                self.dial_failed(peer);
            }
        }
    }

    fn dial_failed(&mut self, peer: PeerId) {
        if let Some(r) = self.redial.get_mut(&peer) {
            r.dialling = false;
            if !r.connected {
                r.failures = r.failures.saturating_add(1);
                r.next = Some(Instant::now() + self.config.redial_wait(r.failures));
            }
        }
    }

    fn emit(&mut self, event: NetEvent) {
        if let Err(e) = self.events.try_send(event) {
            match e.into_inner() {
                NetEvent::Request { reply, from, .. } => {
                    tracing::warn!(node = %from, "node busy: request refused");
                    reply.respond(Response::Refused("busy: try again later".into()));
                }
                other => tracing::warn!("node busy: network event dropped: {other:?}"),
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let text = address.to_string();
                if !self.listening.contains(&text) {
                    self.listening.push(text.clone());
                    self.emit(NetEvent::Listening(text));
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            } => {
                let (address, outbound) = match &endpoint {
                    ConnectedPoint::Dialer { address, .. } => (address.to_string(), true),
                    ConnectedPoint::Listener { send_back_addr, .. } => {
                        (send_back_addr.to_string(), false)
                    }
                };
                let connection = Connection {
                    node: NodeAddress::of(&peer_id),
                    address,
                    outbound,
                };
                let list = self.connections.entry(peer_id).or_default();
                let first = list.is_empty();
                list.push((connection_id, connection.clone()));
                if let Some(r) = self.redial.get_mut(&peer_id) {
                    r.connected = true;
                    r.dialling = false;
                    r.failures = 0;
                    r.next = None;
                }
                if first {
                    tracing::info!(node = %connection.node, address = %connection.address, "connected");
                    self.emit(NetEvent::Connected(connection));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                if let Some(list) = self.connections.get_mut(&peer_id) {
                    list.retain(|(id, _)| *id != connection_id);
                    if list.is_empty() {
                        self.connections.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    let node = NodeAddress::of(&peer_id);
                    let cause = cause.map_or_else(|| "closed".to_string(), |e| e.to_string());
                    tracing::info!(node = %node, %cause, "disconnected");
                    if let Some(r) = self.redial.get_mut(&peer_id) {
                        r.connected = false;
                        r.failures = r.failures.saturating_add(1);
                        r.next = Some(Instant::now() + self.config.redial_wait(r.failures));
                    }
                    self.emit(NetEvent::Disconnected(node));
                }
            }
            SwarmEvent::OutgoingConnectionError {
                peer_id: Some(peer),
                error,
                ..
            } => {
                tracing::debug!(node = %NodeAddress::of(&peer), "dial failed: {error}");
                self.dial_failed(peer);
                // The transport lists what each address answered, over several lines.
                let error = error
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                self.emit(NetEvent::Unreachable {
                    node: NodeAddress::of(&peer),
                    error,
                });
            }
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                peer_id,
                ..
            } => {
                // A paced address is refused again and again at no cost: not worth a line each
                // time (the refusal that made it paced was logged).
                if let libp2p::swarm::ListenError::Denied { cause } = &error
                    && cause
                        .downcast_ref::<crate::admission::PacedAddress>()
                        .is_some()
                {
                    tracing::debug!(from = %send_back_addr, "incoming connection refused: {cause}");
                    return;
                }
                let error = error
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                match peer_id {
                    // Past the handshake: the node that tried is known by its PeerId.
                    Some(peer) => tracing::info!(
                        node = %NodeAddress::of(&peer),
                        from = %send_back_addr,
                        "incoming connection refused: {error}"
                    ),
                    None => {
                        tracing::info!(from = %send_back_addr, "incoming connection refused: {error}")
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Psi(event)) => self.on_psi_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                tracing::debug!(node = %NodeAddress::of(&peer_id), agent = %info.agent_version, "identified");
            }
            _ => {}
        }
    }

    fn on_psi_event(&mut self, event: request_response::Event<PsiQuery, PsiAnswer>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                // Only a trusted node may ask, never one that has only introduced itself.
                if !self.swarm.behaviour().allowed.allows(&peer) || !self.redial.contains_key(&peer)
                {
                    let refused = PsiAnswer::Refused("not in this node's trust list".into());
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .psi
                        .send_response(channel, refused);
                    return;
                }
                let (tx, rx) = oneshot::channel();
                self.pending_psi_answers
                    .push(Box::pin(async move { (channel, rx.await.ok()) }));
                let event = NetEvent::PsiQuery {
                    from: NodeAddress::of(&peer),
                    query: request,
                    reply: PsiResponder(tx),
                };
                if let Err(e) = self.events.try_send(event)
                    && let NetEvent::PsiQuery { reply, from, .. } = e.into_inner()
                {
                    tracing::warn!(node = %from, "node busy: PSI query refused");
                    reply.respond(PsiAnswer::Refused("busy: try again later".into()));
                }
            }
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending_psi.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.pending_psi.remove(&request_id) {
                    let _ = reply.send(Err(outbound_error(error)));
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                tracing::info!(node = %NodeAddress::of(&peer), "PSI query from peer failed: {error}");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn on_sync_event(&mut self, event: request_response::Event<Request, Response>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                // A node not in the trust list may only introduce itself.
                if !self.swarm.behaviour().allowed.allows(&peer)
                    && !matches!(request, Request::Hello { .. })
                {
                    let refused = Response::Refused(
                        "not in this node's trust list: introduce yourself first".into(),
                    );
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, refused);
                    return;
                }
                let (tx, rx) = oneshot::channel();
                self.pending_answers
                    .push(Box::pin(async move { (channel, rx.await.ok()) }));
                self.emit(NetEvent::Request {
                    from: NodeAddress::of(&peer),
                    request,
                    reply: Responder(tx),
                });
            }
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.pending_requests.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.pending_requests.remove(&request_id) {
                    let _ = reply.send(Err(outbound_error(error)));
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                tracing::info!(node = %NodeAddress::of(&peer), "request from peer failed: {error}");
            }
            Event::ResponseSent { .. } => {}
        }
    }
}

/// What a request that failed on its way out says.
fn outbound_error(error: request_response::OutboundFailure) -> RequestError {
    use request_response::OutboundFailure;
    match error {
        OutboundFailure::DialFailure => RequestError::Unreachable,
        OutboundFailure::Timeout => RequestError::Timeout,
        OutboundFailure::ConnectionClosed => RequestError::ConnectionClosed,
        OutboundFailure::UnsupportedProtocols => RequestError::UnsupportedProtocol,
        OutboundFailure::Io(e) => RequestError::Io(e.to_string()),
    }
}
