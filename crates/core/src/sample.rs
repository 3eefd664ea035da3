//! Realistic sample reports (about 1-2 KB, ten indicators) for demos, tests and benchmarks.

use rand::Rng;

use crate::draft::{IndicatorDraft, ReportDraft};
use crate::model::{IndicatorType, ReportKind, Scope, Severity, Tlp};

const SECTORS: &[&str] = &["finance", "energy", "health", "government", "telecom"];
const REGIONS: &[&str] = &["eu", "fr", "de", "ke", "sg", "br"];
const TAGS: &[&str] = &[
    "phishing",
    "ransomware",
    "c2",
    "credential-theft",
    "ddos",
    "supply-chain",
];

/// A GREEN community indicator report with ten indicators of mixed types, a summary of a few
/// hundred bytes and a victim disclosure: the typical size of what Cairn nodes exchange.
pub fn indicator_report<R: Rng>(rng: &mut R, n: u64) -> ReportDraft {
    let mut indicators = Vec::with_capacity(10);
    for k in 0..10u32 {
        let (kind, value) = match k % 5 {
            0 => (
                IndicatorType::Ipv4,
                format!(
                    "198.51.{}.{}",
                    rng.gen_range(0..=255u8),
                    rng.gen_range(1..=254u8)
                ),
            ),
            1 => (
                IndicatorType::Domain,
                format!("login-{:x}.bad-{}.example", rng.r#gen::<u32>(), n % 997),
            ),
            2 => (IndicatorType::Sha256, hex::encode(rng.r#gen::<[u8; 32]>())),
            3 => (
                IndicatorType::Url,
                format!(
                    "https://cdn-{:x}.example/payload/{}.bin",
                    rng.r#gen::<u32>(),
                    k
                ),
            ),
            _ => (
                IndicatorType::Email,
                format!("billing{}@invoice-{:x}.example", k, rng.r#gen::<u16>()),
            ),
        };
        indicators.push(IndicatorDraft {
            kind,
            value,
            description: "seen in the first stage of the intrusion".to_string(),
            file: 0,
            valid_from: None,
            valid_until: None,
        });
    }
    let sector = SECTORS[(n as usize) % SECTORS.len()];
    ReportDraft {
        kind: Some(ReportKind::Indicator),
        title: format!("Credential phishing wave against {sector} organisations (#{n})"),
        summary: "Emails impersonating a payment provider lead to a credential-harvesting page \
                  hosted on recently registered domains. Stolen credentials were used within \
                  hours to log in to webmail and VPN portals from the listed addresses. Block \
                  the indicators, reset credentials of anyone who entered them, and look for \
                  logins from these addresses in the last 14 days."
            .to_string(),
        severity: Some(Severity::High),
        confidence: Some(80),
        tlp: Some(Tlp::Green),
        scope: Some(Scope::Community),
        hop_limit: Some(2),
        tags: vec![
            TAGS[(n as usize) % TAGS.len()].to_string(),
            TAGS[(n as usize + 1) % TAGS.len()].to_string(),
        ],
        sectors: vec![sector.to_string()],
        regions: vec![REGIONS[(n as usize) % REGIONS.len()].to_string()],
        paris_call_principles: vec![1, 5],
        indicators,
        victim: Some(format!("Regional bank #{n}, retail banking division")),
        ..ReportDraft::default()
    }
}

/// STIX 2.1 indicator number `i` as a TAXII client posts it: an IPv4, domain or SHA-256
/// pattern in turn, marked TLP:GREEN, with a fixed version. What the TAXII benchmarks send.
pub fn stix_indicator(i: usize) -> serde_json::Value {
    let pattern = match i % 3 {
        0 => format!(
            "[ipv4-addr:value = '10.{}.{}.{}']",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ),
        1 => format!("[domain-name:value = 'c2-{i}.bench.example']"),
        _ => {
            let hash: String = (0..8u64)
                .map(|k| {
                    format!(
                        "{:08x}",
                        ((i as u64 + 1) * 2_654_435_761 * (k + 1)) & 0xffff_ffff
                    )
                })
                .collect();
            format!("[file:hashes.'SHA-256' = '{hash}']")
        }
    };
    serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": format!("indicator--{:08x}-0000-4000-8000-{:012x}", i, i),
        "created": "2026-11-01T10:00:00.000Z",
        "modified": "2026-11-01T10:00:00.000Z",
        "name": format!("Benchmark indicator {i}"),
        "pattern": pattern,
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": "2026-11-01T10:00:00.000Z",
        "indicator_types": ["malicious-activity"],
        "object_marking_refs": [crate::stix::tlp_marking_id(Tlp::Green)]
    })
}
