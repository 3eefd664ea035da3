//! Settings of the network layer (the `[network]` table of node.toml).

use std::time::Duration;

/// How a node listens, dials and limits connections.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetConfig {
    /// Addresses to listen on, as multiaddrs (`/ip4/0.0.0.0/tcp/7400`). Only organisations in
    /// the trust list can connect, whatever the address.
    pub listen: Vec<String>,
    /// How long a request may take before it counts as failed, in seconds.
    pub request_timeout_secs: u64,
    /// How long a connection with nothing to do stays open, in seconds.
    pub idle_timeout_secs: u64,
    /// Incoming connections still in their handshake at once (caps what unknown diallers cost).
    pub max_pending_incoming: u32,
    /// Of those, at most this many from one IP address: one address cannot take them all.
    pub max_pending_per_address: u32,
    /// Handshakes a second an address may start for a minute after one of its connections was
    /// refused past the handshake (a node held off for flooding, a stranger); beyond, its
    /// connections are refused before the handshake, which costs nothing.
    pub paced_handshakes_per_second: u32,
    /// A connection that has not finished its handshake (encryption, identity, multiplexing)
    /// by then is closed, in seconds.
    pub handshake_timeout_secs: u64,
    /// Connections per trusted node.
    pub max_connections_per_peer: u32,
    /// Nodes not in the trust list that may be connected at once to introduce themselves as
    /// new nodes of a trusted organisation, with its certificate (0: only listed nodes).
    pub max_unlisted_nodes: u32,
    /// How long such a node has to introduce itself before it is disconnected, in seconds.
    pub introduction_secs: u64,
    /// First wait before redialling a trusted node that dropped or could not be reached, in
    /// milliseconds; doubles on each failure in a row.
    pub redial_initial_ms: u64,
    /// Longest wait between redials, in seconds.
    pub redial_max_secs: u64,
    /// How many requests one partner node may make.
    pub rate_limit: crate::rate::RateLimit,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: vec!["/ip4/0.0.0.0/tcp/7400".to_string()],
            request_timeout_secs: 30,
            idle_timeout_secs: 3600,
            max_pending_incoming: 32,
            max_pending_per_address: 4,
            paced_handshakes_per_second: 2,
            handshake_timeout_secs: 10,
            max_connections_per_peer: 2,
            max_unlisted_nodes: 8,
            introduction_secs: 10,
            redial_initial_ms: 500,
            redial_max_secs: 60,
            rate_limit: crate::rate::RateLimit::default(),
        }
    }
}

impl NetConfig {
    /// The listen addresses that are not valid multiaddrs, with why.
    pub fn check(&self) -> Vec<(usize, String)> {
        let mut problems = Vec::new();
        for (i, address) in self.listen.iter().enumerate() {
            if let Err(e) = crate::check_listen_address(address) {
                problems.push((i, e.to_string()));
            }
        }
        problems
    }

    /// What is wrong with the rate limits, if anything.
    pub fn check_rate_limit(&self) -> Option<String> {
        self.rate_limit.check()
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    pub(crate) fn redial_wait(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        Duration::from_millis(self.redial_initial_ms.max(10))
            .saturating_mul(factor)
            .min(Duration::from_secs(self.redial_max_secs.max(1)))
    }
}
