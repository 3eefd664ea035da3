//! The node's counters and latency histograms (prometheus-client), kept as things happen and
//! shared with whoever exposes them (the API's `/metrics`): reports refused by reason, reports
//! withheld by rule, and how long requests take to serve, per protocol and request.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A reason or rule label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The reason (`does_not_verify`, `too_large`, ...) or rule (`above_max_tlp`, ...).
    pub reason: String,
}

/// A request's labels: the protocol it came by and what it asked.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `sync` (partners, over libp2p), `api`, `taxii` or `misp_feed` (HTTP).
    pub protocol: String,
    /// What was asked (`pull`, `fetch`, `hello`; `get`, `post`, ...).
    pub request: String,
}

/// Upper bounds of the latency buckets, in seconds: 0.1 ms to 10 s.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The node's figures that are counted as they happen. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct NodeMetrics {
    refused: Family<ReasonLabels, Counter>,
    withheld: Family<ReasonLabels, Counter>,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

/// Why a report from a partner is not stored, besides the inbound rules
/// ([`crate::exchange::Rejection::reason`]).
pub const REFUSAL_REASONS: &[&str] = &[
    "does_not_verify",
    "too_many_relays",
    "conflict",
    "not_the_report_offered",
];

impl Default for NodeMetrics {
    /// Every reason and rule starts at zero, so that each series exists from the start.
    fn default() -> Self {
        let metrics = NodeMetrics {
            refused: Family::default(),
            withheld: Family::default(),
            requests: Family::new_with_constructor(latency_histogram),
        };
        for reason in REFUSAL_REASONS
            .iter()
            .chain(cairn_policy::InboundRule::REJECTION_NAMES)
        {
            let _ = metrics.refused.get_or_create(&ReasonLabels {
                reason: (*reason).to_string(),
            });
        }
        for rule in cairn_policy::OutboundRule::WITHHOLDING_NAMES {
            let _ = metrics.withheld.get_or_create(&ReasonLabels {
                reason: (*rule).to_string(),
            });
        }
        metrics
    }
}

impl NodeMetrics {
    /// A report from a partner was not stored, for this reason.
    pub fn refused(&self, reason: &str) {
        self.refused
            .get_or_create(&ReasonLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Reports were left out of what a partner was served, by this rule.
    pub fn withheld(&self, rule: &str, count: u64) {
        self.withheld
            .get_or_create(&ReasonLabels {
                reason: rule.to_string(),
            })
            .inc_by(count);
    }

    /// A request took `seconds` to serve.
    pub fn request(&self, protocol: &str, request: &str, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                protocol: protocol.to_string(),
                request: request.to_string(),
            })
            .observe(seconds);
    }

    /// Adds these figures to a registry (they stay shared: later counts show at the next
    /// encoding of a registry they were added to).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "reports_refused_by_reason",
            "Reports from partners not stored, by reason (since the node started)",
            self.refused.clone(),
        );
        registry.register(
            "reports_withheld_by_rule",
            "Reports left out of pages served to partners, by the sharing rule that withheld them (since the node started)",
            self.withheld.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to serve a request, by protocol and request",
            self.requests.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text_format() {
        let metrics = NodeMetrics::default();
        metrics.refused("does_not_verify");
        metrics.refused("does_not_verify");
        metrics.withheld("above_max_tlp", 3);
        metrics.request("sync", "pull", 0.002);
        let mut registry = Registry::with_prefix("cairn");
        metrics.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("cairn_reports_refused_by_reason_total{reason=\"does_not_verify\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("cairn_reports_withheld_by_rule_total{reason=\"above_max_tlp\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "cairn_request_duration_seconds_bucket{le=\"0.0025\",protocol=\"sync\",request=\"pull\"} 1"
            ),
            "{text}"
        );
    }
}
