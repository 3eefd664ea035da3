//! The event loop: simulated time and links driving each organisation's real protocol code
//! (`cairn_net::sync` for catch-up, `cairn_node::relay` for whom to tell and what a page holds,
//! `cairn_policy` for what may be stored). Only the store and the wire are modelled: a store is
//! an arrival-ordered list that keeps one copy of a report, at the shortest path it came by, as
//! `cairn_store` does; a message is delivered after the link's latency unless it is lost, its
//! link is down or either end is offline.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use cairn_net::sync::{PeerKey, SyncAction, SyncConfig, SyncEvent, SyncState};
use cairn_node::notices::{Notice, Notices};
use cairn_node::relay::{self, JustStored, PagePlan, Skip, Standing, Tell, Verdict};
use cairn_policy::{Arrival, InboundPolicy, decide_inbound};
use cairn_store::Provenance;
use rand::Rng;
use rand::rngs::StdRng;

use crate::world::{Org, World, Written};

/// Simulated time, in microseconds since the start of the run.
pub type Micros = u64;

/// Wall-clock time at the start of a run, in ms since the Unix epoch (what reports are dated
/// from and what embargoes count in).
pub const EPOCH_MS: i64 = 1_800_000_000_000;

/// Most reports a page may hold, and most bytes (as the node serves them).
const PAGE_BUDGET_BYTES: usize = 4 * 1024 * 1024;
/// Most stored reports looked at for one page.
const SCAN_BUDGET: usize = cairn_net::MAX_PAGE_SPAN as usize;

/// How the links and the nodes behave.
#[derive(Debug, Clone, Copy)]
pub struct Links {
    /// One-way latency of every link.
    pub latency: Duration,
    /// Up to this much more, at random, per message.
    pub jitter: Duration,
    /// Chance that a message is lost.
    pub loss: f64,
    /// Round trips to set up a connection (TCP, Noise, Yamux, introductions).
    pub connect_round_trips: u32,
    /// How long a pull waits for its answer.
    pub request_timeout: Duration,
    /// How often each node asks each partner even without a notification (none: never).
    pub poll_interval: Option<Duration>,
    /// Time to check and store a page: a fixed part and a part per report.
    pub store_fixed: Duration,
    /// See `store_fixed`.
    pub store_per_report: Duration,
    /// Time to serve a page.
    pub serve: Duration,
}

impl Default for Links {
    fn default() -> Self {
        Links {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            loss: 0.0,
            connect_round_trips: 3,
            request_timeout: Duration::from_secs(30),
            poll_interval: Some(Duration::from_secs(60)),
            store_fixed: Duration::from_micros(400),
            store_per_report: Duration::from_micros(60),
            serve: Duration::from_micros(200),
        }
    }
}

/// What travels between two nodes.
#[derive(Debug, Clone)]
enum Message {
    Notify {
        head: u64,
        /// Reports offered again (report, hop at the sender), as `cairn_net::Offered`.
        again: Vec<(u32, u32)>,
    },
    Fetch {
        report: u32,
    },
    Fetched {
        report: u32,
        /// The copy's hop, or none: "no such report, or not for you".
        hop: Option<u32>,
    },
    Pull {
        after: u64,
        limit: u32,
    },
    Page {
        after: u64,
        reports: Vec<(u32, u32)>,
        through: u64,
        more: bool,
        head: u64,
    },
}

impl Message {
    /// Bytes on the wire (headers of the request-response protocol included).
    fn bytes(&self, written: &[Written]) -> u64 {
        match self {
            Message::Notify { again, .. } => 48 + 40 * again.len() as u64,
            Message::Pull { .. } => 56,
            Message::Fetch { .. } => 72,
            Message::Fetched { report, hop } => {
                48 + hop.map_or(0, |_| written[*report as usize].size as u64 + 8)
            }
            Message::Page { reports, .. } => {
                64 + reports
                    .iter()
                    .map(|(r, _)| written[*r as usize].size as u64 + 8)
                    .sum::<u64>()
            }
        }
    }
}

#[derive(Debug)]
enum Event {
    Publish {
        report: u32,
    },
    Deliver {
        from: Org,
        to: Org,
        epoch: u64,
        message: Message,
    },
    Connected {
        a: Org,
        b: Org,
        epoch: u64,
    },
    PullTimeout {
        node: Org,
        peer: Org,
        after: u64,
        epoch: u64,
    },
    StoreDone {
        node: Org,
    },
    FetchStored {
        node: Org,
        from: Org,
        report: u32,
        hop: u32,
    },
    Tick {
        node: Org,
    },
    Poll {
        node: Org,
    },
    EmbargoEnds {
        node: Org,
        peer: Org,
    },
    /// Notifications that waited for their turn may go.
    NoticesDue {
        node: Org,
    },
    SetOnline {
        node: Org,
        online: bool,
    },
    SetPartition {
        side: Option<Vec<bool>>,
    },
}

struct Scheduled {
    at: Micros,
    order: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// One stored report on a node.
#[derive(Debug, Clone, Copy)]
struct Held {
    report: u32,
    provenance: Provenance,
    received_ms: i64,
}

/// What storing a copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// It was not held.
    New,
    /// It was held by a longer path.
    Closer,
    /// It was held by a path as short.
    Again,
}

/// A page waiting to be stored.
#[derive(Debug)]
struct PageToStore {
    peer: Org,
    epoch: u64,
    through: u64,
    reports: Vec<(u32, u32)>,
}

#[derive(Default)]
struct Node {
    online: bool,
    sync: Option<SyncState>,
    /// Persisted catch-up cursors, per partner.
    cursors: HashMap<Org, u64>,
    /// The arrival-ordered store: arrival number n is `log[n - 1]`.
    log: Vec<Held>,
    /// Arrival number of each report held.
    held: HashMap<u32, u64>,
    /// Partners connected and introduced, with the connection's epoch (in order: what is done
    /// for each of them happens in the same order in every run).
    connected: BTreeMap<Org, u64>,
    store_queue: VecDeque<PageToStore>,
    storing: bool,
    tick_at: Option<Micros>,
    /// Notifications to partners, paced as the node paces them.
    notices: Notices<Org>,
    notices_at: Option<Micros>,
}

impl Node {
    fn sync(&mut self) -> &mut SyncState {
        self.sync
            .get_or_insert_with(|| SyncState::new(SyncConfig::default()))
    }
}

/// What a run measured.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Messages sent (lost ones included).
    pub messages: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Messages lost on the way.
    pub lost: u64,
    /// Pages served.
    pub pages: u64,
    /// Copies of reports received that the node already held.
    pub duplicates: u64,
    /// Copies refused by the receiver's inbound rules.
    pub refused: u64,
    /// Reports offered again to a partner (held by a shorter path, so they may go further).
    pub offered_again: u64,
    /// Reports fetched after being offered again.
    pub fetched_again: u64,
    /// Problems the catch-up state machines reported (none from honest partners).
    pub problems: Vec<String>,
    /// Copies stored that the oracle says the sender may not have passed on.
    pub leaks: Vec<String>,
    /// Events processed.
    pub events: u64,
}

/// A federation being simulated.
pub struct Simulation {
    /// The federation.
    pub world: World,
    /// The reports, in the order they are published.
    pub written: Vec<Written>,
    /// When each report was published.
    pub published_at: Vec<Option<Micros>>,
    /// When each organisation first stored each report: `first_held[report][org]`.
    pub first_held: Vec<HashMap<Org, Micros>>,
    /// What was measured.
    pub tally: Tally,
    links: Links,
    inbound: InboundPolicy,
    nodes: Vec<Node>,
    /// Per link (a < b), the epoch of its connection; odd while connected or connecting.
    link_epoch: HashMap<(Org, Org), u64>,
    /// Which side of a partition each organisation is on, while there is one.
    partition: Option<Vec<bool>>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    /// Events queued that are not background (polls and pull timeouts are).
    work: u64,
    /// Pulls sent and not yet answered or failed, by (node, partner).
    outstanding: HashMap<(Org, Org), u64>,
    order: u64,
    now: Micros,
    rng: StdRng,
}

fn key_of(org: Org) -> PeerKey {
    let mut key = [0u8; 32];
    key[..4].copy_from_slice(&org.to_be_bytes());
    key
}

fn org_of(key: &PeerKey) -> Org {
    Org::from_be_bytes([key[0], key[1], key[2], key[3]])
}

fn micros(d: Duration) -> Micros {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn ordered(a: Org, b: Org) -> (Org, Org) {
    if a < b { (a, b) } else { (b, a) }
}

impl Simulation {
    /// Every organisation online, connections starting at time 0.
    pub fn new(world: World, links: Links, rng: StdRng) -> Simulation {
        let n = world.len();
        let mut sim = Simulation {
            world,
            written: Vec::new(),
            published_at: Vec::new(),
            first_held: Vec::new(),
            tally: Tally::default(),
            links,
            inbound: InboundPolicy::default(),
            nodes: (0..n).map(|_| Node::default()).collect(),
            link_epoch: HashMap::new(),
            partition: None,
            queue: BinaryHeap::new(),
            work: 0,
            outstanding: HashMap::new(),
            order: 0,
            now: 0,
            rng,
        };
        for org in 0..n as Org {
            sim.nodes[org as usize].online = true;
        }
        for org in 0..n as Org {
            sim.links_up(org);
            if let Some(every) = links.poll_interval {
                let phase = sim.rng.gen_range(0..micros(every).max(1));
                sim.schedule(phase, Event::Poll { node: org });
            }
        }
        sim
    }

    /// Now, in simulated time.
    pub fn now(&self) -> Micros {
        self.now
    }

    fn wall_ms(&self) -> i64 {
        EPOCH_MS + (self.now / 1000) as i64
    }

    /// Wall-clock time (ms) at simulated time `at`.
    pub fn wall_ms_at(at: Micros) -> i64 {
        EPOCH_MS + (at / 1000) as i64
    }

    fn schedule(&mut self, at: Micros, event: Event) {
        if !Self::background(&event) {
            self.work += 1;
        }
        self.order += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            order: self.order,
            event,
        }));
    }

    /// Publishes `written` at time `at` (its creation time is then).
    pub fn publish_at(&mut self, at: Micros, mut written: Written) -> u32 {
        written.report.created_ms = Self::wall_ms_at(at);
        let index = self.written.len() as u32;
        self.written.push(written);
        self.published_at.push(None);
        self.first_held.push(HashMap::new());
        self.schedule(at, Event::Publish { report: index });
        index
    }

    /// Takes `org` offline at `from` and back online at `until`.
    pub fn offline(&mut self, org: Org, from: Micros, until: Micros) {
        self.schedule(
            from,
            Event::SetOnline {
                node: org,
                online: false,
            },
        );
        self.schedule(
            until,
            Event::SetOnline {
                node: org,
                online: true,
            },
        );
    }

    /// Cuts every link between the two sides (`side[org]`) from `from` until `until`.
    pub fn partition(&mut self, side: Vec<bool>, from: Micros, until: Micros) {
        self.schedule(from, Event::SetPartition { side: Some(side) });
        self.schedule(until, Event::SetPartition { side: None });
    }

    /// Polls and pull timeouts: they come whether or not anything happens.
    fn background(event: &Event) -> bool {
        matches!(event, Event::Poll { .. } | Event::PullTimeout { .. })
    }

    fn pop(&mut self) -> Option<Scheduled> {
        let Reverse(next) = self.queue.pop()?;
        if !Self::background(&next.event) {
            self.work -= 1;
        }
        self.now = next.at;
        self.tally.events += 1;
        Some(next)
    }

    /// Runs events until none is left before `until`; returns the time of the last one.
    pub fn run_until(&mut self, until: Micros) -> Micros {
        let mut last = self.now;
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > until {
                break;
            }
            let Some(next) = self.pop() else {
                break;
            };
            last = next.at;
            self.handle(next.event);
        }
        self.now = self.now.max(until);
        last
    }

    /// Runs until the federation is quiet (nothing queued but periodic polls, no pull waiting
    /// for its answer, nothing being stored), or until `until`; returns when it was last busy.
    pub fn run_until_quiet(&mut self, until: Micros) -> Micros {
        let mut last_work = self.now;
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > until || (self.work == 0 && self.outstanding.is_empty()) {
                break;
            }
            let Some(next) = self.pop() else {
                break;
            };
            if !matches!(next.event, Event::Poll { .. }) {
                last_work = next.at;
            }
            self.handle(next.event);
        }
        last_work
    }

    /// Whether `org` holds `report`, and at which hop.
    pub fn holding(&self, org: Org, report: u32) -> Option<u32> {
        let node = &self.nodes[org as usize];
        let seq = node.held.get(&report)?;
        let held = node.log[(*seq - 1) as usize];
        let written = &self.written[report as usize];
        Some(relay::hop_of(
            &self.world.keys[org as usize],
            &self.world.keys[written.author as usize],
            &held.provenance,
        ))
    }

    /// How many reports `org` holds.
    pub fn held_count(&self, org: Org) -> usize {
        self.nodes[org as usize].held.len()
    }

    fn link_allowed(&self, a: Org, b: Org) -> bool {
        self.nodes[a as usize].online
            && self.nodes[b as usize].online
            && self
                .partition
                .as_ref()
                .is_none_or(|side| side[a as usize] == side[b as usize])
    }

    /// Starts connecting every link of `org` that may be up and is not.
    fn links_up(&mut self, org: Org) {
        let partners = self.world.partners[org as usize].clone();
        for peer in partners {
            if !self.link_allowed(org, peer) {
                continue;
            }
            let epoch = self.link_epoch.entry(ordered(org, peer)).or_insert(0);
            if *epoch % 2 == 1 {
                continue;
            }
            *epoch += 1;
            let epoch = *epoch;
            let delay = micros(self.links.latency) * 2 * u64::from(self.links.connect_round_trips);
            let (a, b) = ordered(org, peer);
            self.schedule(self.now + delay, Event::Connected { a, b, epoch });
        }
    }

    /// Closes every link of `org` that may no longer be up.
    fn links_down(&mut self, org: Org) {
        let partners = self.world.partners[org as usize].clone();
        for peer in partners {
            if self.link_allowed(org, peer) {
                continue;
            }
            let key = ordered(org, peer);
            let Some(epoch) = self.link_epoch.get_mut(&key) else {
                continue;
            };
            if *epoch % 2 == 0 {
                continue;
            }
            *epoch += 1;
            for (x, y) in [(org, peer), (peer, org)] {
                let node = &mut self.nodes[x as usize];
                if node.connected.remove(&y).is_some() {
                    node.store_queue.retain(|p| p.peer != y);
                    node.notices.forget(&y);
                    self.outstanding.remove(&(x, y));
                    let actions = self.step(x, SyncEvent::Disconnected(key_of(y)));
                    self.carry_out(x, actions);
                }
            }
        }
    }

    fn send(&mut self, from: Org, to: Org, message: Message, after: Micros) {
        let Some(&epoch) = self.nodes[from as usize].connected.get(&to) else {
            return;
        };
        self.tally.messages += 1;
        self.tally.bytes += message.bytes(&self.written);
        if self.links.loss > 0.0 && self.rng.gen_bool(self.links.loss) {
            self.tally.lost += 1;
            return;
        }
        let jitter = micros(self.links.jitter);
        let jitter = if jitter > 0 {
            self.rng.gen_range(0..=jitter)
        } else {
            0
        };
        let at = self.now + after + micros(self.links.latency) + jitter;
        self.schedule(
            at,
            Event::Deliver {
                from,
                to,
                epoch,
                message,
            },
        );
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Publish { report } => self.on_publish(report),
            Event::Connected { a, b, epoch } => {
                if self.link_epoch.get(&(a, b)) != Some(&epoch) || !self.link_allowed(a, b) {
                    return;
                }
                for (x, y) in [(a, b), (b, a)] {
                    let node = &mut self.nodes[x as usize];
                    node.connected.insert(y, epoch);
                    let cursor = node.cursors.get(&y).copied().unwrap_or(0);
                    let actions = self.step(
                        x,
                        SyncEvent::Connected {
                            peer: key_of(y),
                            cursor,
                        },
                    );
                    self.carry_out(x, actions);
                }
            }
            Event::Deliver {
                from,
                to,
                epoch,
                message,
            } => {
                if self.nodes[to as usize].connected.get(&from) != Some(&epoch) {
                    return;
                }
                self.on_message(from, to, message);
            }
            Event::PullTimeout {
                node,
                peer,
                after,
                epoch,
            } => {
                let n = &mut self.nodes[node as usize];
                if n.connected.get(&peer) == Some(&epoch) && n.sync().expects(&key_of(peer), after)
                {
                    self.outstanding.remove(&(node, peer));
                    let actions = self.step(node, SyncEvent::Failed(key_of(peer)));
                    self.carry_out(node, actions);
                }
            }
            Event::StoreDone { node } => self.on_store_done(node),
            Event::FetchStored {
                node,
                from,
                report,
                hop,
            } => {
                if self.nodes[node as usize].connected.contains_key(&from) {
                    self.receive(node, from, &[(report, hop)]);
                }
            }
            Event::Tick { node } => {
                self.nodes[node as usize].tick_at = None;
                let now = Duration::from_micros(self.now);
                let actions = self.step(node, SyncEvent::Tick { now });
                self.carry_out(node, actions);
            }
            Event::Poll { node } => {
                if let Some(every) = self.links.poll_interval {
                    self.schedule(self.now + micros(every), Event::Poll { node });
                }
                let peers: Vec<Org> = self.nodes[node as usize]
                    .connected
                    .keys()
                    .copied()
                    .collect();
                for peer in peers {
                    let actions = self.step(node, SyncEvent::Poll(key_of(peer)));
                    self.carry_out(node, actions);
                }
            }
            Event::EmbargoEnds { node, peer } => {
                let head = self.nodes[node as usize].log.len() as u64;
                self.notify(node, peer, head, Vec::new());
            }
            Event::NoticesDue { node } => {
                self.nodes[node as usize].notices_at = None;
                let now = Duration::from_micros(self.now);
                let due = self.nodes[node as usize].notices.due(now);
                for notice in due {
                    self.send_notice(node, notice);
                }
                self.notices_later(node);
            }
            Event::SetOnline { node, online } => {
                self.nodes[node as usize].online = online;
                if online {
                    self.links_up(node);
                } else {
                    self.links_down(node);
                }
            }
            Event::SetPartition { side } => {
                self.partition = side;
                for org in 0..self.world.len() as Org {
                    self.links_down(org);
                }
                for org in 0..self.world.len() as Org {
                    self.links_up(org);
                }
            }
        }
    }

    fn on_publish(&mut self, report: u32) {
        let author = self.written[report as usize].author;
        self.published_at[report as usize] = Some(self.now);
        let received_ms = self.wall_ms();
        self.store(author, report, Provenance::Local, received_ms);
        self.announce(author, &[(report, 0, None)]);
    }

    /// Appends a report to `org`'s store, or keeps the shorter path of a copy it held.
    fn store(&mut self, org: Org, report: u32, provenance: Provenance, received_ms: i64) -> Kept {
        let node = &mut self.nodes[org as usize];
        if let Some(&seq) = node.held.get(&report) {
            // The store keeps the shortest path a report came by.
            let held = &mut node.log[(seq - 1) as usize];
            if let (Provenance::Peer { hop: new, .. }, Provenance::Peer { hop: old, .. }) =
                (provenance, held.provenance)
                && new < old
            {
                held.provenance = provenance;
                return Kept::Closer;
            }
            return Kept::Again;
        }
        node.log.push(Held {
            report,
            provenance,
            received_ms,
        });
        node.held.insert(report, node.log.len() as u64);
        self.first_held[report as usize].insert(org, self.now);
        Kept::New
    }

    /// Tells the partners of `org` that may see one of `new` (report, hop held at, passed on
    /// by) to pull, as the node's actor does after storing.
    fn announce(&mut self, org: Org, new: &[(u32, u32, Option<Org>)]) {
        if new.is_empty() {
            return;
        }
        let us = self.world.keys[org as usize];
        let now_ms = self.wall_ms();
        let head = self.nodes[org as usize].log.len() as u64;
        let stored: Vec<JustStored<'_>> = new
            .iter()
            .map(|&(report, hop, from)| {
                let w = &self.written[report as usize];
                JustStored {
                    author: self.world.keys[w.author as usize],
                    marking: &w.report,
                    hop,
                    from: from.map(|f| self.world.keys[f as usize]),
                    concerned: None,
                }
            })
            .collect();
        let mut notify = Vec::new();
        let mut later = Vec::new();
        let peers: Vec<Org> = self.nodes[org as usize].connected.keys().copied().collect();
        for peer in peers {
            let Some(partner) = self.world.policy(org, peer) else {
                continue;
            };
            match relay::tell(&us, &stored, partner, &self.world.communities, now_ms) {
                Tell::Now => notify.push(peer),
                Tell::At(until) => later.push((peer, until)),
                Tell::Nothing => {}
            }
        }
        drop(stored);
        for peer in notify {
            self.notify(org, peer, head, Vec::new());
        }
        for (peer, until) in later {
            self.embargo(org, peer, until);
        }
    }

    fn embargo(&mut self, node: Org, peer: Org, until_ms: i64) {
        let wait_ms = until_ms.saturating_sub(self.wall_ms()).max(0) as u64;
        self.schedule(
            self.now + wait_ms * 1000 + 1000,
            Event::EmbargoEnds { node, peer },
        );
    }

    fn on_message(&mut self, from: Org, to: Org, message: Message) {
        match message {
            Message::Notify { head, again } => {
                let actions = self.step(
                    to,
                    SyncEvent::Notified {
                        peer: key_of(from),
                        latest: head,
                    },
                );
                self.carry_out(to, actions);
                // As the actor does: fetch what is lacking or held by a longer path.
                // No disclosures are simulated: only the path counts.
                for (report, hop) in again {
                    let held = self.holding(to, report).map(|hop| relay::Copy {
                        hop,
                        disclosures: 0,
                    });
                    if relay::worth_fetching(
                        held,
                        relay::Copy {
                            hop,
                            disclosures: 0,
                        },
                    ) {
                        self.tally.fetched_again += 1;
                        self.send(to, from, Message::Fetch { report }, 0);
                    }
                }
            }
            Message::Fetch { report } => {
                let hop = self.serve_fetch(to, from, report);
                let serve = micros(self.links.serve);
                self.send(to, from, Message::Fetched { report, hop }, serve);
            }
            Message::Fetched { report, hop } => {
                if let Some(hop) = hop {
                    let store = micros(self.links.store_fixed + self.links.store_per_report);
                    self.schedule(
                        self.now + store,
                        Event::FetchStored {
                            node: to,
                            from,
                            report,
                            hop,
                        },
                    );
                }
            }
            Message::Pull { after, limit } => self.serve(to, from, after, limit),
            Message::Page {
                after,
                reports,
                through,
                more,
                head,
            } => {
                let node = &mut self.nodes[to as usize];
                if !node.sync().expects(&key_of(from), after) {
                    return;
                }
                self.outstanding.remove(&(to, from));
                let count = reports.len();
                let epoch = node.connected.get(&from).copied().unwrap_or(0);
                let actions = self.step(
                    to,
                    SyncEvent::Page {
                        peer: key_of(from),
                        after,
                        through,
                        more,
                        head,
                        reports: count,
                    },
                );
                // The page is kept for storing only if the state machine takes it.
                let mut page = Some(reports);
                for action in &actions {
                    if let SyncAction::StorePage { through: t, .. } = action
                        && *t == through
                        && let Some(reports) = page.take()
                    {
                        let node = &mut self.nodes[to as usize];
                        node.store_queue.push_back(PageToStore {
                            peer: from,
                            epoch,
                            through,
                            reports,
                        });
                    }
                }
                self.carry_out(to, actions);
                self.store_next(to);
            }
        }
    }

    /// `node` serves a pull from `peer`, as `cairn_node::exchange::serve_page` does.
    fn serve(&mut self, node: Org, peer: Org, after: u64, limit: u32) {
        let Some(partner) = self.world.policy(node, peer) else {
            return;
        };
        let us = self.world.keys[node as usize];
        let now_ms = self.wall_ms();
        let n = &self.nodes[node as usize];
        let head = n.log.len() as u64;
        let mut plan = PagePlan::new(after, head, limit as usize, PAGE_BUDGET_BYTES, SCAN_BUDGET);
        let mut reports = Vec::new();
        while plan.room() > 0 {
            let seq = plan.through() + 1;
            let Some(held) = n.log.get((seq - 1) as usize) else {
                break;
            };
            let w = &self.written[held.report as usize];
            let standing = Standing {
                author: self.world.keys[w.author as usize],
                marking: &w.report,
                provenance: held.provenance,
                received_ms: held.received_ms,
                concerned: None,
            };
            let verdict = relay::verdict(
                &us,
                &self.world.communities,
                partner,
                standing,
                now_ms,
                Skip::Theirs,
            );
            if plan.take(seq, &verdict, w.size)
                && let Verdict::Share { hop, .. } = verdict
            {
                reports.push((held.report, hop));
            }
        }
        let end = plan.end();
        self.tally.pages += 1;
        let serve = micros(self.links.serve);
        self.send(
            node,
            peer,
            Message::Page {
                after,
                reports,
                through: end.through,
                more: end.more,
                head,
            },
            serve,
        );
        if let Some(until) = end.embargo_until {
            self.embargo(node, peer, until);
        }
    }

    /// Feeds one event to `org`'s catch-up state machine, after telling it the time.
    fn step(&mut self, org: Org, event: SyncEvent) -> Vec<SyncAction> {
        let now = Duration::from_micros(self.now);
        let sync = self.nodes[org as usize].sync();
        let mut actions = sync.handle(SyncEvent::Tick { now });
        if !matches!(event, SyncEvent::Tick { .. }) {
            actions.extend(sync.handle(event));
        }
        actions
    }

    fn carry_out(&mut self, org: Org, actions: Vec<SyncAction>) {
        for action in actions {
            match action {
                SyncAction::Pull {
                    peer,
                    cursor,
                    limit,
                } => {
                    let peer = org_of(&peer);
                    let epoch = self.nodes[org as usize]
                        .connected
                        .get(&peer)
                        .copied()
                        .unwrap_or(0);
                    self.outstanding.insert((org, peer), cursor);
                    self.send(
                        org,
                        peer,
                        Message::Pull {
                            after: cursor,
                            limit,
                        },
                        0,
                    );
                    self.schedule(
                        self.now + micros(self.links.request_timeout),
                        Event::PullTimeout {
                            node: org,
                            peer,
                            after: cursor,
                            epoch,
                        },
                    );
                }
                SyncAction::SaveCursor { peer, cursor }
                | SyncAction::ResetCursor { peer, cursor } => {
                    let reset = matches!(action, SyncAction::ResetCursor { .. });
                    let peer = org_of(&peer);
                    let node = &mut self.nodes[org as usize];
                    node.cursors.insert(peer, cursor);
                    if reset {
                        node.store_queue.retain(|p| p.peer != peer);
                    }
                }
                SyncAction::StorePage { .. } => {}
                SyncAction::Problem { peer, problem } => self
                    .tally
                    .problems
                    .push(format!("org {org} about org {}: {problem}", org_of(&peer))),
            }
        }
        self.wake_later(org);
    }

    /// Gives `peer` news from `org` (its head, reports offered again as (report, hop)):
    /// notified now if its turn has come, as the node's `Notices` decide, else later.
    fn notify(&mut self, org: Org, peer: Org, head: u64, again: Vec<(u32, u32)>) {
        let again = again
            .into_iter()
            .map(|(report, hop)| {
                let mut report_id = [0u8; 32];
                report_id[..4].copy_from_slice(&report.to_be_bytes());
                cairn_net::Offered {
                    report_id,
                    hop,
                    disclosures: 0,
                }
            })
            .collect();
        let now = Duration::from_micros(self.now);
        let ready = self.nodes[org as usize]
            .notices
            .news(&peer, head, again, now);
        if let Some(notice) = ready {
            self.send_notice(org, notice);
        }
        self.notices_later(org);
    }

    fn send_notice(&mut self, org: Org, notice: Notice<Org>) {
        let again = notice
            .again
            .iter()
            .map(|o| {
                let mut report = [0u8; 4];
                report.copy_from_slice(&o.report_id[..4]);
                (u32::from_be_bytes(report), o.hop)
            })
            .collect();
        self.send(
            org,
            notice.node,
            Message::Notify {
                head: notice.head,
                again,
            },
            0,
        );
    }

    /// Makes sure a `NoticesDue` comes when the node's next waiting notification may go.
    fn notices_later(&mut self, org: Org) {
        let node = &mut self.nodes[org as usize];
        let Some(due) = node.notices.next_due() else {
            return;
        };
        let due = micros(due).max(self.now);
        if node
            .notices_at
            .is_some_and(|at| at <= due && at >= self.now)
        {
            return;
        }
        node.notices_at = Some(due);
        self.schedule(due, Event::NoticesDue { node: org });
    }

    /// Makes sure a `Tick` comes when the node's catch-up next has something due.
    fn wake_later(&mut self, org: Org) {
        let node = &mut self.nodes[org as usize];
        let Some(due) = node.sync.as_ref().and_then(SyncState::next_due) else {
            return;
        };
        let due = micros(due);
        if node.tick_at.is_some_and(|at| at <= due && at > self.now) {
            return;
        }
        node.tick_at = Some(due);
        self.schedule(due, Event::Tick { node: org });
    }

    fn store_next(&mut self, org: Org) {
        let node = &mut self.nodes[org as usize];
        if node.storing {
            return;
        }
        let Some(page) = node.store_queue.front() else {
            return;
        };
        node.storing = true;
        let cost = micros(self.links.store_fixed)
            + micros(self.links.store_per_report) * page.reports.len() as u64;
        self.schedule(self.now + cost, Event::StoreDone { node: org });
    }

    fn on_store_done(&mut self, org: Org) {
        let node = &mut self.nodes[org as usize];
        node.storing = false;
        let Some(page) = node.store_queue.pop_front() else {
            return;
        };
        let live = node.connected.get(&page.peer) == Some(&page.epoch);
        self.receive(org, page.peer, &page.reports);
        if live {
            let actions = self.step(
                org,
                SyncEvent::Stored {
                    peer: key_of(page.peer),
                    through: page.through,
                },
            );
            self.carry_out(org, actions);
        }
        self.store_next(org);
    }

    /// `org` applies its inbound rules to copies from `from` (report, hop at the sender) and
    /// stores what passes, then tells its partners about what is new and offers again what it
    /// now holds by a shorter path, as `cairn_node::exchange::store_checked` and the actor do.
    fn receive(&mut self, org: Org, from: Org, copies: &[(u32, u32)]) {
        let us = self.world.keys[org as usize];
        let now_ms = self.wall_ms();
        let mut new = Vec::new();
        let mut closer = Vec::new();
        for &(report, hop) in copies {
            let w = &self.written[report as usize];
            let hop_matters = relay::hop_matters(&w.report);
            let Some(sender) = self.world.policy(org, from) else {
                continue;
            };
            let author = self.world.keys[w.author as usize];
            let decision = decide_inbound(
                &us,
                Arrival {
                    report: &w.report,
                    author: &author,
                    size: w.size,
                    from: sender,
                    partner_hop: hop,
                    now_ms,
                },
                &self.inbound,
                &self.world.communities,
            );
            if !decision.accepts() {
                self.tally.refused += 1;
                continue;
            }
            let sender_received = self.received_ms(from, report);
            if !self
                .world
                .allows(from, org, w, hop, sender_received, now_ms)
            {
                self.tally.leaks.push(format!(
                    "org {org} stored report {report} from org {from} (hop {hop}), which the oracle withholds"
                ));
            }
            let provenance = Provenance::Peer {
                org: self.world.keys[from as usize],
                hop,
            };
            match self.store(org, report, provenance, now_ms) {
                Kept::New => new.push((report, hop + 1, Some(from))),
                Kept::Closer => {
                    self.tally.duplicates += 1;
                    if hop_matters {
                        closer.push((report, hop + 1, Some(from)));
                    }
                }
                Kept::Again => self.tally.duplicates += 1,
            }
        }
        self.announce(org, &new);
        self.offer_again(org, &closer);
    }

    /// Offers reports `org` now holds by a shorter path to the partners they may now go to.
    fn offer_again(&mut self, org: Org, closer: &[(u32, u32, Option<Org>)]) {
        if closer.is_empty() {
            return;
        }
        let us = self.world.keys[org as usize];
        let now_ms = self.wall_ms();
        let head = self.nodes[org as usize].log.len() as u64;
        let peers: Vec<Org> = self.nodes[org as usize].connected.keys().copied().collect();
        let mut offers = Vec::new();
        for peer in peers {
            let Some(partner) = self.world.policy(org, peer) else {
                continue;
            };
            let again: Vec<(u32, u32)> = closer
                .iter()
                .filter_map(|&(report, hop, from)| {
                    let w = &self.written[report as usize];
                    let held = JustStored {
                        author: self.world.keys[w.author as usize],
                        marking: &w.report,
                        hop,
                        from: from.map(|f| self.world.keys[f as usize]),
                        concerned: None,
                    };
                    relay::copy_for(&us, &held, &[], partner, &self.world.communities, now_ms)
                        .map(|copy| (report, copy.hop))
                })
                .collect();
            if !again.is_empty() {
                offers.push((peer, again));
            }
        }
        for (peer, again) in offers {
            self.tally.offered_again += again.len() as u64;
            self.notify(org, peer, head, again);
        }
    }

    /// What `node` answers `peer`'s fetch of `report`, as `cairn_node::exchange::serve_fetch`
    /// does: the copy's hop, or none.
    fn serve_fetch(&self, node: Org, peer: Org, report: u32) -> Option<u32> {
        let partner = self.world.policy(node, peer)?;
        let n = &self.nodes[node as usize];
        let seq = n.held.get(&report)?;
        let held = n.log[(*seq - 1) as usize];
        let w = &self.written[report as usize];
        let standing = Standing {
            author: self.world.keys[w.author as usize],
            marking: &w.report,
            provenance: held.provenance,
            received_ms: held.received_ms,
            concerned: None,
        };
        match relay::verdict(
            &self.world.keys[node as usize],
            &self.world.communities,
            partner,
            standing,
            self.wall_ms(),
            Skip::Nothing,
        ) {
            Verdict::Share { hop, .. } => Some(hop),
            Verdict::Theirs | Verdict::Embargoed(_) | Verdict::Withheld(_) => None,
        }
    }

    /// When `org` stored `report` (ms), or now if it no longer holds it.
    fn received_ms(&self, org: Org, report: u32) -> i64 {
        let node = &self.nodes[org as usize];
        node.held.get(&report).map_or_else(
            || self.wall_ms(),
            |seq| node.log[(*seq - 1) as usize].received_ms,
        )
    }
}
