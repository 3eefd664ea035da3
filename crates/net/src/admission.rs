//! Admission of connections. Still in their handshake: at most a few per remote IP address, so
//! that one address (a stranger, or a partner's compromised machine) cannot hold every
//! handshake slot and keep trusted partners out; handshakes that never finish are cut by the
//! transport's handshake timeout. Established: only the nodes of the trust list, and, while
//! they introduce themselves, a few unlisted ones (new nodes of a trusted organisation), each
//! for a short time ([`TrustList`]).

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

/// Why an incoming connection was refused before its handshake.
#[derive(Debug, thiserror::Error)]
#[error("{address} already has {pending} handshakes under way (at most {max} per address)")]
pub(crate) struct TooManyFromAddress {
    address: IpAddr,
    pending: usize,
    max: usize,
}

/// Incoming handshakes under way, per remote IP address (plain bookkeeping, no I/O).
#[derive(Debug, Default)]
pub(crate) struct PendingPerAddress {
    max: usize,
    pending: HashMap<IpAddr, usize>,
    address_of: HashMap<ConnectionId, IpAddr>,
}

impl PendingPerAddress {
    /// At most `max` handshakes under way from one address (at least one).
    pub(crate) fn new(max: usize) -> PendingPerAddress {
        PendingPerAddress {
            max: max.max(1),
            ..PendingPerAddress::default()
        }
    }

    /// Counts a new incoming connection from `address`, or refuses it.
    fn admit(&mut self, id: ConnectionId, address: IpAddr) -> Result<(), TooManyFromAddress> {
        let pending = self.pending.entry(address).or_default();
        if *pending >= self.max {
            return Err(TooManyFromAddress {
                address,
                pending: *pending,
                max: self.max,
            });
        }
        *pending += 1;
        self.address_of.insert(id, address);
        Ok(())
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

impl NetworkBehaviour for PendingPerAddress {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        match ip_of(remote) {
            Some(address) => self.admit(id, address).map_err(ConnectionDenied::new),
            None => Ok(()),
        }
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.done(id);
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
            FromSwarm::ListenFailure(failure) => self.done(failure.connection_id),
            FromSwarm::ConnectionEstablished(established) => {
                self.done(established.connection_id);
            }
            FromSwarm::ConnectionClosed(closed) => self.done(closed.connection_id),
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

    #[test]
    fn each_address_gets_its_own_few_slots_and_gets_them_back() {
        let mut admission = PendingPerAddress::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let id = ConnectionId::new_unchecked;
        assert!(admission.admit(id(1), a).is_ok());
        assert!(admission.admit(id(2), a).is_ok());
        let refused = admission.admit(id(3), a).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "192.0.2.1 already has 2 handshakes under way (at most 2 per address)"
        );
        // Another address is not affected.
        assert!(admission.admit(id(4), b).is_ok());
        // A handshake ends (done, failed or refused elsewhere): its slot is free again, once.
        admission.done(id(1));
        admission.done(id(1));
        admission.done(id(99));
        assert!(admission.admit(id(5), a).is_ok());
        assert!(admission.admit(id(6), a).is_err());
        admission.done(id(2));
        admission.done(id(5));
        admission.done(id(4));
        assert!(admission.pending.is_empty() && admission.address_of.is_empty());
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
