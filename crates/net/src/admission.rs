//! Admission of connections. Still in their handshake: at most a few per remote IP address, so
//! that one address (a stranger, or a partner's compromised machine) cannot hold every
//! handshake slot and keep trusted partners out; handshakes that never finish are cut by the
//! transport's handshake timeout. An address whose connections were refused after their
//! handshake (a node held off for flooding, a stranger) may start only a few handshakes a
//! second for a while: refusing it again costs nothing then, where each handshake costs the
//! node its key exchange. Established: only the nodes of the trust list, and, while they
//! introduce themselves, a few unlisted ones (new nodes of a trusted organisation), each for a
//! short time ([`TrustList`]).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

use crate::rate::TokenBucket;

/// Why an incoming connection was refused before its handshake.
#[derive(Debug, thiserror::Error)]
#[error("{address} already has {pending} handshakes under way (at most {max} per address)")]
pub(crate) struct TooManyFromAddress {
    address: IpAddr,
    pending: usize,
    max: usize,
}

/// Why an incoming connection was refused before its handshake: its address is paced.
#[derive(Debug, thiserror::Error)]
#[error(
    "connections from {address} were refused after their handshake: at most {per_second} handshakes a second from it for now"
)]
pub(crate) struct PacedAddress {
    address: IpAddr,
    per_second: u32,
}

/// How long an address stays paced after the last of its connections refused after the
/// handshake.
const PACED_FOR: Duration = Duration::from_secs(60);

/// Most addresses paced at once; beyond, the one refused longest ago is forgotten.
const MAX_PACED: usize = 4096;

/// An address whose connections were refused after their handshake.
#[derive(Debug)]
struct Paced {
    handshakes: TokenBucket,
    /// When one of its connections was last refused after its handshake.
    refused_at: Duration,
}

/// Incoming handshakes per remote IP address: how many are under way, and how fast an address
/// whose connections were refused after their handshake may start them (plain bookkeeping,
/// no I/O; times are counted from the behaviour's creation).
#[derive(Debug)]
pub(crate) struct PerAddress {
    max: usize,
    pending: HashMap<IpAddr, usize>,
    address_of: HashMap<ConnectionId, IpAddr>,
    /// Connections past their handshake, waiting for every behaviour's verdict.
    established: HashMap<ConnectionId, IpAddr>,
    paced: HashMap<IpAddr, Paced>,
    paced_per_second: u32,
    epoch: Instant,
}

impl PerAddress {
    /// At most `max` handshakes under way from one address (at least one), and
    /// `paced_per_second` a second (at least one) from an address whose connections were
    /// refused after their handshake in the last minute.
    pub(crate) fn new(max: usize, paced_per_second: u32) -> PerAddress {
        PerAddress {
            max: max.max(1),
            pending: HashMap::new(),
            address_of: HashMap::new(),
            established: HashMap::new(),
            paced: HashMap::new(),
            paced_per_second: paced_per_second.max(1),
            epoch: Instant::now(),
        }
    }

    /// Counts a new incoming connection from `address` at `now`, or refuses it.
    fn admit(
        &mut self,
        id: ConnectionId,
        address: IpAddr,
        now: Duration,
    ) -> Result<(), ConnectionDenied> {
        if let Some(paced) = self.paced.get_mut(&address) {
            if now.saturating_sub(paced.refused_at) >= PACED_FOR {
                self.paced.remove(&address);
            } else if !paced.handshakes.take(now) {
                return Err(ConnectionDenied::new(PacedAddress {
                    address,
                    per_second: self.paced_per_second,
                }));
            }
        }
        let pending = self.pending.entry(address).or_default();
        if *pending >= self.max {
            return Err(ConnectionDenied::new(TooManyFromAddress {
                address,
                pending: *pending,
                max: self.max,
            }));
        }
        *pending += 1;
        self.address_of.insert(id, address);
        Ok(())
    }

    /// A connection from `address` was refused after its handshake at `now`: the address is
    /// paced for [`PACED_FOR`] from now.
    fn refused_after_handshake(&mut self, address: IpAddr, now: Duration) {
        if !self.paced.contains_key(&address) && self.paced.len() >= MAX_PACED {
            self.paced
                .retain(|_, p| now.saturating_sub(p.refused_at) < PACED_FOR);
            if self.paced.len() >= MAX_PACED
                && let Some(oldest) = self
                    .paced
                    .iter()
                    .min_by_key(|(_, p)| p.refused_at)
                    .map(|(a, _)| *a)
            {
                self.paced.remove(&oldest);
            }
        }
        let per_second = self.paced_per_second;
        let paced = self.paced.entry(address).or_insert_with(|| Paced {
            handshakes: TokenBucket::new(per_second, per_second, now),
            refused_at: now,
        });
        paced.refused_at = now;
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The connection finished its handshake, failed or was refused elsewhere.
    fn done(&mut self, id: ConnectionId) {
        let Some(address) = self.address_of.remove(&id) else {
            return;
        };
        if let Some(pending) = self.pending.get_mut(&address) {
            *pending = pending.saturating_sub(1);
            if *pending == 0 {
                self.pending.remove(&address);
            }
        }
    }
}

/// The IP address a multiaddr starts with, if any.
fn ip_of(address: &Multiaddr) -> Option<IpAddr> {
    address.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl NetworkBehaviour for PerAddress {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        match ip_of(remote) {
            Some(address) => self.admit(id, address, self.now()),
            None => Ok(()),
        }
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.done(id);
        // The behaviours after this one may still refuse it (not in the trust list, held off).
        if let Some(address) = ip_of(remote) {
            self.established.insert(id, address);
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _address: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ListenFailure(failure) => {
                self.done(failure.connection_id);
                if let Some(address) = self.established.remove(&failure.connection_id) {
                    let now = self.now();
                    self.refused_after_handshake(address, now);
                }
            }
            FromSwarm::ConnectionEstablished(established) => {
                self.done(established.connection_id);
                self.established.remove(&established.connection_id);
            }
            FromSwarm::ConnectionClosed(closed) => {
                self.done(closed.connection_id);
                self.established.remove(&closed.connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// Why an established connection was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotAdmitted {
    /// Not a node of the trust list, and unlisted nodes are not admitted.
    #[error("{0} is not in the trust list")]
    NotListed(PeerId),
    /// A node this node trusts no more, or not for now (cut off, held off).
    #[error("{0} is refused for now")]
    Refused(PeerId),
    /// Not in the trust list, and enough unlisted nodes are introducing themselves already.
    #[error(
        "{peer} is not in the trust list, and {max} unlisted nodes are introducing themselves already"
    )]
    TooManyUnlisted {
        /// The node.
        peer: PeerId,
        /// How many may.
        max: usize,
    },
}

/// Most unlisted nodes remembered as refused.
const MAX_HELD_UNLISTED: usize = 1024;
/// A refused unlisted node is kept out for this many introduction windows.
const HELD_WINDOWS: u32 = 6;

/// Which nodes may hold an established connection: those of the trust list, and, for
/// `window` after they connect, at most `max_unlisted` others, to introduce themselves as
/// nodes of a trusted organisation (the node then trusts them, [`TrustList::allow_peer`]) or be
/// disconnected. Plain bookkeeping; the network task disconnects what [`TrustList::expired`]
/// returns.
#[derive(Debug)]
pub(crate) struct TrustList {
    allowed: HashSet<PeerId>,
    /// Nodes trusted no more, or not for now: never admitted as unlisted either.
    refused: HashSet<PeerId>,
    /// Unlisted nodes refused, with until when they are not admitted again (at most
    /// [`MAX_HELD_UNLISTED`], the oldest forgotten first).
    held_unlisted: HashMap<PeerId, Instant>,
    /// Unlisted nodes connected, with when their time to introduce themselves ends.
    unlisted: HashMap<PeerId, Instant>,
    max_unlisted: usize,
    window: Duration,
}

impl TrustList {
    /// No node allowed yet; `max_unlisted` (0: none) unlisted nodes at a time, each for
    /// `window`.
    pub(crate) fn new(max_unlisted: usize, window: Duration) -> TrustList {
        TrustList {
            allowed: HashSet::new(),
            refused: HashSet::new(),
            held_unlisted: HashMap::new(),
            unlisted: HashMap::new(),
            max_unlisted,
            window,
        }
    }

    /// Trusts `peer` from now on (an unlisted node that introduced itself stays).
    pub(crate) fn allow_peer(&mut self, peer: PeerId) {
        self.unlisted.remove(&peer);
        self.refused.remove(&peer);
        self.allowed.insert(peer);
    }

    /// Trusts `peer` no more, or not until it is allowed again (the caller disconnects it): it
    /// is not admitted as an unlisted node either.
    pub(crate) fn disallow_peer(&mut self, peer: PeerId) {
        self.unlisted.remove(&peer);
        if self.allowed.remove(&peer) || self.refused.contains(&peer) {
            self.refused.insert(peer);
            return;
        }
        // An unlisted node refused: kept out for a while, in bounded memory.
        if self.held_unlisted.len() >= MAX_HELD_UNLISTED
            && let Some(oldest) = self
                .held_unlisted
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(p, _)| *p)
        {
            self.held_unlisted.remove(&oldest);
        }
        self.held_unlisted
            .insert(peer, Instant::now() + self.window * HELD_WINDOWS);
    }

    /// Whether `peer` is trusted.
    pub(crate) fn allows(&self, peer: &PeerId) -> bool {
        self.allowed.contains(peer)
    }

    /// Admits an established connection from `peer` at `now`.
    fn admit(&mut self, peer: PeerId, now: Instant) -> Result<(), NotAdmitted> {
        if self.allowed.contains(&peer) || self.unlisted.contains_key(&peer) {
            return Ok(());
        }
        if self.refused.contains(&peer)
            || self
                .held_unlisted
                .get(&peer)
                .is_some_and(|until| *until > now)
        {
            return Err(NotAdmitted::Refused(peer));
        }
        if self.max_unlisted == 0 {
            return Err(NotAdmitted::NotListed(peer));
        }
        if self.unlisted.len() >= self.max_unlisted {
            return Err(NotAdmitted::TooManyUnlisted {
                peer,
                max: self.max_unlisted,
            });
        }
        self.unlisted.insert(peer, now + self.window);
        Ok(())
    }

    /// The unlisted nodes whose time to introduce themselves ended by `now`: no longer
    /// admitted, to disconnect.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<PeerId> {
        let gone: Vec<PeerId> = self
            .unlisted
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in &gone {
            self.unlisted.remove(peer);
        }
        self.held_unlisted.retain(|_, until| *until > now);
        gone
    }
}

impl NetworkBehaviour for TrustList {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _id: ConnectionId,
        peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.admit(peer, Instant::now())
            .map_err(ConnectionDenied::new)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        peer: PeerId,
        _address: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // This node dials only the nodes it trusts.
        match self.allowed.contains(&peer) {
            true => Ok(dummy::ConnectionHandler),
            false => Err(ConnectionDenied::new(NotAdmitted::NotListed(peer))),
        }
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(closed) = event
            && closed.remaining_established == 0
        {
            self.unlisted.remove(&closed.peer_id);
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a refusal says.
    fn cause(denied: &ConnectionDenied) -> String {
        std::error::Error::source(denied).map_or_else(String::new, |e| e.to_string())
    }

    #[test]
    fn each_address_gets_its_own_few_slots_and_gets_them_back() {
        let mut admission = PerAddress::new(2, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let id = ConnectionId::new_unchecked;
        let t = Duration::ZERO;
        assert!(admission.admit(id(1), a, t).is_ok());
        assert!(admission.admit(id(2), a, t).is_ok());
        let refused = admission.admit(id(3), a, t).unwrap_err();
        assert_eq!(
            cause(&refused),
            "192.0.2.1 already has 2 handshakes under way (at most 2 per address)"
        );
        // Another address is not affected.
        assert!(admission.admit(id(4), b, t).is_ok());
        // A handshake ends (done, failed or refused elsewhere): its slot is free again, once.
        admission.done(id(1));
        admission.done(id(1));
        admission.done(id(99));
        assert!(admission.admit(id(5), a, t).is_ok());
        assert!(admission.admit(id(6), a, t).is_err());
        admission.done(id(2));
        admission.done(id(5));
        admission.done(id(4));
        assert!(admission.pending.is_empty() && admission.address_of.is_empty());
    }

    #[test]
    fn an_address_refused_after_its_handshake_is_paced_for_a_minute() {
        let mut admission = PerAddress::new(64, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let mut next = 0;
        let mut try_at = |admission: &mut PerAddress, address: IpAddr, ms: u64| {
            next += 1;
            let id = ConnectionId::new_unchecked(next);
            let admitted = admission.admit(id, address, Duration::from_millis(ms));
            admission.done(id);
            admitted
        };
        // Not paced before any refusal: a hundred handshakes in a second are all let through.
        for ms in 0..100 {
            assert!(try_at(&mut admission, a, ms * 10).is_ok());
        }
        admission.refused_after_handshake(a, Duration::from_millis(1_000));
        // Now two a second, and refused before any handshake beyond that, saying why.
        let admitted = (0..100)
            .filter(|ms| try_at(&mut admission, a, 1_000 + ms * 10).is_ok())
            .count();
        assert!((2..=4).contains(&admitted), "{admitted} admitted");
        let refused = try_at(&mut admission, a, 1_995).unwrap_err();
        assert_eq!(
            cause(&refused),
            "connections from 192.0.2.1 were refused after their handshake: at most 2 handshakes a second from it for now"
        );
        // Another address is not affected.
        assert!((0..50).all(|ms| try_at(&mut admission, b, 1_000 + ms).is_ok()));
        // A minute after the last refusal, the address is trusted with its pace again.
        assert!((0..50).all(|ms| try_at(&mut admission, a, 61_000 + ms).is_ok()));
        assert!(admission.paced.is_empty());
    }

    #[test]
    fn paced_addresses_are_kept_in_bounded_memory() {
        let mut admission = PerAddress::new(4, 2);
        for n in 0..(MAX_PACED as u32 + 100) {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(n));
            admission.refused_after_handshake(address, Duration::from_millis(u64::from(n)));
        }
        assert_eq!(admission.paced.len(), MAX_PACED);
        // The newest are kept, the oldest forgotten.
        let newest = IpAddr::V4(std::net::Ipv4Addr::from(MAX_PACED as u32 + 99));
        assert!(admission.paced.contains_key(&newest));
        assert!(
            !admission
                .paced
                .contains_key(&IpAddr::V4(std::net::Ipv4Addr::from(0)))
        );
    }

    #[test]
    fn unlisted_nodes_get_a_few_slots_for_a_while_and_listed_ones_always() {
        let listed = PeerId::random();
        let mut list = TrustList::new(2, Duration::from_secs(10));
        list.allow_peer(listed);
        let t0 = Instant::now();
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        assert!(list.admit(listed, t0).is_ok());
        assert!(list.admit(a, t0).is_ok());
        assert!(
            list.admit(a, t0).is_ok(),
            "a second connection of the same node"
        );
        assert!(list.admit(b, t0 + Duration::from_secs(5)).is_ok());
        let refused = list.admit(c, t0).unwrap_err();
        assert!(
            refused.to_string().contains("2 unlisted nodes"),
            "{refused}"
        );
        // `a` introduced itself: trusted, and its slot is free for `c`.
        list.allow_peer(a);
        assert!(list.admit(c, t0).is_ok());
        // Time runs out for those that did not.
        assert_eq!(
            list.expired(t0 + Duration::from_secs(9)),
            Vec::<PeerId>::new()
        );
        let mut gone = list.expired(t0 + Duration::from_secs(15));
        gone.sort();
        let mut expected = vec![b, c];
        expected.sort();
        assert_eq!(gone, expected);
        assert!(list.allows(&a) && list.allows(&listed) && !list.allows(&b));
        // A node refused (cut off, held off) is not admitted as unlisted either, until allowed.
        list.disallow_peer(a);
        assert!(matches!(list.admit(a, t0), Err(NotAdmitted::Refused(_))));
        list.allow_peer(a);
        assert!(list.admit(a, t0).is_ok());
        // An unlisted node refused is kept out for a while (six windows), then may try again.
        let mut fresh = TrustList::new(1, Duration::from_secs(10));
        let d = PeerId::random();
        let now = Instant::now();
        fresh.disallow_peer(d);
        assert!(matches!(fresh.admit(d, now), Err(NotAdmitted::Refused(_))));
        let later = now + Duration::from_secs(61);
        fresh.expired(later);
        assert!(fresh.held_unlisted.is_empty());
        assert!(fresh.admit(d, later).is_ok());
        // None admitted when the node admits no unlisted nodes.
        let mut closed = TrustList::new(0, Duration::from_secs(10));
        assert!(matches!(
            closed.admit(a, t0),
            Err(NotAdmitted::NotListed(_))
        ));
    }
}
