//! `GET /metrics`: the node's figures in the Prometheus text format (the prometheus-client
//! crate), read from the node's status and its partner nodes when scraped, with the counters
//! and latency histograms the node keeps as things happen.

use cairn_node::{NodeStatus, PeerStatus};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The labels of a partner node's figures.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    partner: String,
    peer_id: String,
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let g: Gauge = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, g);
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

/// The figures of `status` and `peers`, the store's size on disk and the node's counted
/// figures, as Prometheus reads them.
pub(crate) fn encode(
    status: &NodeStatus,
    peers: &[PeerStatus],
    store_bytes: u64,
    counted: &cairn_node::metrics::NodeMetrics,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("cairn");
    counted.register(&mut registry);
    gauge(
        &mut registry,
        "store_bytes",
        "Bytes the store takes on disk (reports and query index)",
        store_bytes,
    );
    gauge(
        &mut registry,
        "reports",
        "Reports this node holds",
        status.reports,
    );
    gauge(
        &mut registry,
        "index_pending",
        "Reports stored and not yet in the query index",
        status.index_pending,
    );
    counter(
        &mut registry,
        "reports_received",
        "Reports received from partners and stored, since the node started",
        status.received,
    );
    counter(
        &mut registry,
        "reports_served",
        "Reports served to partners, since the node started",
        status.served,
    );
    counter(
        &mut registry,
        "reports_refused",
        "Reports from partners refused (verification or inbound rules), since the node started",
        status.refused,
    );
    gauge(
        &mut registry,
        "peers_connected",
        "Partner nodes connected",
        status.peers_connected as u64,
    );
    gauge(
        &mut registry,
        "peers_trusted",
        "Partner nodes in the trust list",
        status.peers_trusted as u64,
    );
    gauge(
        &mut registry,
        "uptime_seconds",
        "Seconds since the node started",
        status.uptime_secs,
    );
    let connected = Family::<PeerLabels, Gauge>::default();
    let behind = Family::<PeerLabels, Gauge>::default();
    let received = Family::<PeerLabels, Counter>::default();
    let served = Family::<PeerLabels, Counter>::default();
    let refused = Family::<PeerLabels, Counter>::default();
    for peer in peers {
        let labels = PeerLabels {
            partner: peer.partner.clone(),
            peer_id: peer.peer_id.clone(),
        };
        connected
            .get_or_create(&labels)
            .set(i64::from(peer.connected));
        behind
            .get_or_create(&labels)
            .set(i64::try_from(peer.behind()).unwrap_or(i64::MAX));
        received.get_or_create(&labels).inc_by(peer.received);
        served.get_or_create(&labels).inc_by(peer.served);
        refused.get_or_create(&labels).inc_by(peer.refused);
    }
    registry.register(
        "peer_connected",
        "Whether the partner node is connected (1) or not (0)",
        connected,
    );
    registry.register(
        "peer_behind",
        "Reports the partner node holds that this node has not pulled yet",
        behind,
    );
    registry.register(
        "peer_reports_received",
        "Reports received from the partner node",
        received,
    );
    registry.register(
        "peer_reports_served",
        "Reports served to the partner node",
        served,
    );
    registry.register(
        "peer_reports_refused",
        "Reports from the partner node refused",
        refused,
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}
