//! Real Cairn nodes in one process for multi-node scenarios: each member organisation gets its
//! own keys, node certificate and store folder, and listens on 127.0.0.1 with a port the
//! system picks. Trust is declared per pair; nodes started later dial the earlier ones.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cairn_core::keylog::KeyStatement;
use cairn_core::{NodeCertificate, NodeKey, OrgKey, ReportDraft, ReportId, VerifiedReport};
use cairn_net::{NetConfig, NodeAddress};
use cairn_node::{NodeHandle, NodeSettings, PartnerNode, SyncSettings, TrustedPartner};
use cairn_policy::{Communities, InboundPolicy, OrgKind, OutboundPolicy, Partner};
use cairn_store::{IngestOutcome, StoreConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio_util::sync::CancellationToken;

/// One organisation of a test federation.
pub struct Member {
    /// Its short name.
    pub name: String,
    /// Its signing key.
    pub org: OrgKey,
    /// Its node's key.
    pub node_key: NodeKey,
    /// The organisation's certificate for that node.
    pub certificate: NodeCertificate,
    /// The node's PeerId.
    pub peer_id: NodeAddress,
    /// What it accepts.
    pub inbound: InboundPolicy,
    /// Addresses it listens on besides its IPv4 loopback one (which partners dial).
    pub also_listen: Vec<String>,
    rng: StdRng,
    dir: tempfile::TempDir,
    address: Option<String>,
    dial: Option<String>,
    running: Option<(NodeHandle, CancellationToken)>,
}

/// A set of organisations, who trusts whom with which policy, and their running nodes.
pub struct Federation {
    /// The organisations, by index.
    pub members: Vec<Member>,
    /// Reports asked for per pull.
    pub page_size: u32,
    /// How long a connection may stay in its handshake.
    pub handshake_timeout_secs: u64,
    links: Vec<Vec<(usize, OutboundPolicy)>>,
    communities: BTreeMap<String, Vec<usize>>,
    /// Values `(a, b)`: how many values `b` may ask `a` about per day by private set
    /// intersection (none: refused).
    psi: BTreeMap<(usize, usize), u32>,
}

/// A policy sharing up to `max` with no other filter.
pub fn up_to(max: cairn_core::Tlp) -> OutboundPolicy {
    OutboundPolicy {
        max_tlp: Some(max),
        ..OutboundPolicy::default()
    }
}

impl Federation {
    /// Organisations with these names; `seed` makes their keys reproducible.
    pub fn new(names: &[&str], seed: u64) -> Federation {
        let members = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1000) + i as u64);
                let org = OrgKey::generate(&mut rng);
                let node_key = NodeKey::generate(&mut rng);
                let certificate = NodeCertificate::issue(
                    &org,
                    node_key.public_bytes(),
                    "node-1",
                    1_700_000_000_000,
                );
                let peer_id = cairn_net::peer_id_of(&node_key.public_bytes()).expect("node key");
                Member {
                    name: name.to_string(),
                    org,
                    node_key,
                    certificate,
                    peer_id,
                    inbound: InboundPolicy::default(),
                    also_listen: Vec::new(),
                    rng,
                    dir: tempfile::tempdir().expect("temporary folder"),
                    address: None,
                    dial: None,
                    running: None,
                }
            })
            .collect::<Vec<_>>();
        Federation {
            page_size: 128,
            handshake_timeout_secs: NetConfig::default().handshake_timeout_secs,
            links: vec![Vec::new(); members.len()],
            members,
            communities: BTreeMap::new(),
            psi: BTreeMap::new(),
        }
    }

    /// `a` and `b` trust each other; `a` shares with `b` under `a_to_b`, and back under
    /// `b_to_a`.
    pub fn trust(&mut self, a: usize, b: usize, a_to_b: OutboundPolicy, b_to_a: OutboundPolicy) {
        self.links[a].push((b, a_to_b));
        self.links[b].push((a, b_to_a));
    }

    /// `a` lists `b` in its trust list and shares with it under `policy`; `b` does not list
    /// `a` (a node `b` does not know of, which dials it).
    pub fn lists(&mut self, a: usize, b: usize, policy: OutboundPolicy) {
        self.links[a].push((b, policy));
    }

    /// `a` answers `b`'s private set intersection queries, up to `per_day` values a day.
    pub fn offer_psi(&mut self, a: usize, b: usize, per_day: u32) {
        self.psi.insert((a, b), per_day);
    }

    /// Defines a community with these members, the same on every node.
    pub fn community(&mut self, name: &str, members: &[usize]) {
        self.communities.insert(name.to_string(), members.to_vec());
    }

    /// Makes member `i` a second node of member `of`'s organisation: it signs with `of`'s
    /// organisation key and presents a certificate of it. Partners trusting both list them as
    /// two nodes of one partner.
    pub fn join_organisation(&mut self, i: usize, of: usize) {
        let file = self.members[i].dir.path().join("org.key");
        self.members[of].org.save(&file).expect("write the key");
        let org = OrgKey::load(&file).expect("read the key");
        let m = &mut self.members[i];
        m.certificate =
            NodeCertificate::issue(&org, m.node_key.public_bytes(), "node-2", 1_700_000_000_000);
        m.org = org;
    }

    fn settings(&self, i: usize) -> NodeSettings {
        let m = &self.members[i];
        let mut partners: Vec<TrustedPartner> = Vec::new();
        for (j, policy) in &self.links[i] {
            let p = &self.members[*j];
            let node = PartnerNode {
                node: p.peer_id.clone(),
                addresses: p.dial.iter().chain(&p.address).take(1).cloned().collect(),
            };
            match partners
                .iter_mut()
                .find(|t| t.partner.org == p.org.public())
            {
                Some(same) => same.nodes.push(node),
                None => partners.push(TrustedPartner {
                    partner: Partner {
                        org: p.org.public(),
                        name: p.name.clone(),
                        kind: OrgKind::Cert,
                        sector: None,
                        region: None,
                        policy: policy.clone(),
                    },
                    nodes: vec![node],
                    psi_values_per_day: self.psi.get(&(i, *j)).copied().unwrap_or(0),
                }),
            }
        }
        let mut communities = Communities::default();
        for (name, members) in &self.communities {
            communities.define(name, members.iter().map(|j| self.members[*j].org.public()));
        }
        NodeSettings {
            organisation: m.name.clone(),
            node_secret: m.node_key.secret_bytes(),
            certificate: m.certificate.clone(),
            store_path: m.dir.path().join("store"),
            store: StoreConfig::default(),
            network: NetConfig {
                // A restarted node keeps its port, so partners' redials find it again.
                listen: std::iter::once(
                    m.address
                        .clone()
                        .unwrap_or_else(|| "/ip4/127.0.0.1/tcp/0".to_string()),
                )
                .chain(m.also_listen.iter().cloned())
                .collect(),
                redial_initial_ms: 100,
                redial_max_secs: 1,
                request_timeout_secs: 10,
                handshake_timeout_secs: self.handshake_timeout_secs,
                ..NetConfig::default()
            },
            sync: SyncSettings {
                page_size: self.page_size,
                poll_interval_secs: 2,
            },
            partners,
            communities,
            inbound: m.inbound.clone(),
            organisation_statements: vec![
                KeyStatement::implicit_genesis(&m.org).expect("a genesis"),
            ],
        }
    }

    /// Where member `i`'s store lives (to fill it before the node starts).
    pub fn store_path(&self, i: usize) -> std::path::PathBuf {
        self.members[i].dir.path().join("store")
    }

    /// The address partners dial to reach member `i` (set after it starts; a test may put a
    /// proxy in between).
    pub fn set_address(&mut self, i: usize, address: &str) {
        self.members[i].dial = Some(address.to_string());
    }

    /// Member `i`'s address, once it has started.
    pub fn address(&self, i: usize) -> Option<&str> {
        self.members[i].address.as_deref()
    }

    /// Starts only a network task for member `i`, with its node key, trusting the nodes of
    /// `partners`: a partner built from Cairn's network crate that behaves as a test makes it
    /// (a hostile one, a flooder). Partners started after this dial it on 127.0.0.1.
    pub async fn start_network_only(
        &mut self,
        i: usize,
        partners: &[usize],
        stop: CancellationToken,
    ) -> (
        cairn_net::NetHandle,
        tokio::sync::mpsc::Receiver<cairn_net::NetEvent>,
    ) {
        let trusted = partners
            .iter()
            .map(|j| cairn_net::TrustedNode {
                node: self.members[*j].peer_id.clone(),
                addresses: Vec::new(),
            })
            .collect();
        let (net, events) = cairn_net::spawn(
            &NetConfig {
                listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
                ..NetConfig::default()
            },
            self.members[i].node_key.secret_bytes(),
            trusted,
            stop,
        )
        .await
        .unwrap_or_else(|e| panic!("{}'s network did not start: {e}", self.members[i].name));
        let address = net
            .listen_addresses()
            .await
            .first()
            .cloned()
            .expect("listening");
        self.set_address(i, &address);
        (net, events)
    }

    /// Starts member `i`'s node.
    pub async fn start(&mut self, i: usize) -> NodeHandle {
        let settings = self.settings(i);
        let shutdown = CancellationToken::new();
        let handle = cairn_node::start(settings, shutdown.clone())
            .await
            .unwrap_or_else(|e| panic!("{} did not start: {e}", self.members[i].name));
        let m = &mut self.members[i];
        m.address = handle
            .listen_addresses()
            .iter()
            .find(|a| a.starts_with("/ip4/"))
            .cloned();
        m.running = Some((handle.clone(), shutdown));
        handle
    }

    /// Starts every member, in order.
    pub async fn start_all(&mut self) {
        for i in 0..self.members.len() {
            self.start(i).await;
        }
    }

    /// Stops member `i`'s node cleanly and waits until it has.
    pub async fn stop(&mut self, i: usize) {
        if let Some((handle, shutdown)) = self.members[i].running.take() {
            shutdown.cancel();
            handle.stopped().await;
        }
    }

    /// Member `i`'s running node.
    pub fn node(&self, i: usize) -> &NodeHandle {
        &self.members[i]
            .running
            .as_ref()
            .unwrap_or_else(|| panic!("{} is not running", self.members[i].name))
            .0
    }

    /// Signs a draft as member `i`.
    pub fn sign(&mut self, i: usize, draft: &ReportDraft) -> VerifiedReport {
        let m = &mut self.members[i];
        draft.sign(&m.org, &mut m.rng).expect("valid draft")
    }

    /// Signs a retraction as member `i`.
    pub fn retraction(&mut self, i: usize, report: &VerifiedReport) -> VerifiedReport {
        let m = &mut self.members[i];
        cairn_core::retract(report, "withdrawn in a test", &m.org, &mut m.rng).expect("own report")
    }

    /// Publishes signed reports on member `i`'s running node.
    pub async fn publish(&self, i: usize, reports: Vec<VerifiedReport>) {
        let outcomes = self.node(i).publish(reports).await.expect("publish");
        for o in outcomes {
            assert!(matches!(o, IngestOutcome::Stored { .. }), "{o:?}");
        }
    }

    /// Signs and publishes one report on member `i`'s node.
    pub async fn publish_draft(&mut self, i: usize, draft: &ReportDraft) -> VerifiedReport {
        let report = self.sign(i, draft);
        self.publish(i, vec![report.clone()]).await;
        report
    }

    /// Whether member `i` holds a report.
    pub fn holds(&self, i: usize, id: &ReportId) -> bool {
        let handle = &self.members[i].running.as_ref().expect("running").0;
        handle.store().get(id).expect("read").is_some()
    }

    /// Waits (up to `limit`) until member `i` holds every one of `ids`; false if it did not.
    pub async fn wait_for(&self, i: usize, ids: &[ReportId], limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            if ids.iter().all(|id| self.holds(i, id)) {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every node that is running has connected to all its running partners.
    pub async fn wait_connected(&self, limit: Duration) {
        let start = Instant::now();
        loop {
            let mut all = true;
            for (i, m) in self.members.iter().enumerate() {
                let Some((handle, _)) = &m.running else {
                    continue;
                };
                let peers = handle.peers().await.expect("peers");
                for (j, _) in &self.links[i] {
                    if self.members[*j].running.is_some()
                        && !peers.iter().any(|p| {
                            p.peer_id == self.members[*j].peer_id.to_string() && p.connected
                        })
                    {
                        all = false;
                    }
                }
            }
            if all {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "partners did not connect within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
