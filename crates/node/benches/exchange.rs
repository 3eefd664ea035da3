//! The two halves of catch-up without the network: a serving node building pages of what a
//! partner may see, and a receiving node verifying and storing them. Shows where catch-up
//! time goes. Run: `cargo bench -p cairn-node --bench exchange` (`--reports N`, default 20000;
//! `--page N` reports per page, default 512).

use std::time::Instant;

use cairn_core::{OrgKey, Tlp, sample};
use cairn_node::exchange::{SharingRules, receive, serve_page};
use cairn_policy::{Communities, InboundPolicy, OrgKind, OutboundPolicy, Partner};
use cairn_store::{Provenance, Store, StoreConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn main() {
    let mut n = 20_000usize;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--reports") {
        n = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .expect("--reports N");
    }
    let mut page_size = 512usize;
    if let Some(i) = args.iter().position(|a| a == "--page") {
        page_size = args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .expect("--page N");
    }
    let mut rng = StdRng::seed_from_u64(1);
    let cert = OrgKey::generate(&mut rng);
    let bank = OrgKey::generate(&mut rng);
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Store::open(&dir.path().join("server"), &StoreConfig::default()).expect("store");
    let reports: Vec<_> = (0..n)
        .map(|k| {
            let mut d = sample::indicator_report(&mut rng, k as u64);
            d.tlp = Some(Tlp::Green);
            d.sign(&cert, &mut rng).expect("valid")
        })
        .collect();
    for chunk in reports.chunks(5000) {
        server
            .insert(chunk.to_vec(), Provenance::Local)
            .expect("insert");
    }
    while server.index_pending(100_000).expect("index") > 0 {}
    let partner = |org: &OrgKey, name: &str| Partner {
        org: org.public(),
        name: name.into(),
        kind: OrgKind::Cert,
        sector: None,
        region: None,
        policy: OutboundPolicy {
            max_tlp: Some(Tlp::Green),
            ..OutboundPolicy::default()
        },
    };
    let serving = SharingRules {
        us: cert.public(),
        communities: Communities::default(),
        inbound: InboundPolicy::default(),
    };
    let receiving = SharingRules {
        us: bank.public(),
        ..serving.clone()
    };

    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let start = Instant::now();
    let mut pages = Vec::new();
    let mut after = 0;
    loop {
        let served = serve_page(
            &server,
            &serving,
            &partner(&bank, "bank"),
            after,
            page_size,
            64 << 20,
            now_ms,
        )
        .expect("serve");
        after = served.page.through;
        let more = served.page.more;
        pages.push(served.page);
        if !more {
            break;
        }
    }
    let serve_s = start.elapsed().as_secs_f64();
    println!(
        "serve    {:>8.0} reports/s ({} pages, one thread)",
        n as f64 / serve_s,
        pages.len()
    );

    let client_config = StoreConfig {
        background_indexing: std::env::var_os("NO_INDEX").is_none(),
        ..StoreConfig::default()
    };
    let client = Store::open(&dir.path().join("client"), &client_config).expect("store");
    let start = Instant::now();
    let mut stored = 0;
    for page in pages {
        stored += receive(
            &client,
            &receiving,
            &partner(&cert, "cert"),
            page.reports,
            &cairn_core::OrganisationKeysOnly,
            now_ms,
        )
        .expect("receive")
        .stored
        .len();
    }
    let receive_s = start.elapsed().as_secs_f64();
    assert_eq!(stored, n);
    println!(
        "receive  {:>8.0} reports/s (verify on every core, store durably)",
        n as f64 / receive_s
    );
    println!(
        "both in sequence {:>8.0} reports/s",
        n as f64 / (serve_s + receive_s)
    );
}
