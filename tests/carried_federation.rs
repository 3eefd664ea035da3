//! Carried intelligence across a federation: every STIX and MISP file of the public corpora is
//! imported at A; C, a partner of A's partner B, reads it over TAXII and its MISP feed. What
//! the marking lets travel two hops (TLP:CLEAR and TLP:GREEN with a scope that relays) arrives
//! identical, object by object and version by version, MISP events as sent; what it does not
//! (TLP:AMBER and stricter, a MISP event for one community only) never reaches C.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use cairn_api::{ApiConfig, Role, Tokens};
use cairn_core::{Scope, Tlp, VerifiedReport};
use cairn_interop::import::{ImportOptions, import};
use cairn_tests::federation::{Federation, up_to};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(120);
const SETTLE: Duration = Duration::from_millis(1500);
const ALL: &str = "365fed99-08fa-4dcd-a1b3-fb247eb41d01";

fn corpus() -> Vec<PathBuf> {
    cairn_tests::corpus::json_files(&[""], |_| false)
}

/// Whether a report travels two hops, read from its marking alone: TLP:CLEAR or TLP:GREEN,
/// with a scope that relays and no named recipients.
fn travels_two_hops(report: &VerifiedReport) -> bool {
    let r = report.report();
    r.tlp <= Tlp::Green
        && r.recipients.is_empty()
        && match r.distribution.scope {
            Scope::Unrestricted => true,
            Scope::Community => r.distribution.hop_limit >= 1,
            Scope::Organisation | Scope::DirectPeers => false,
        }
}

/// An object's identity for comparison: its id and version (none for an SCO).
fn key_of(object: &Value) -> (String, Option<String>) {
    let version = object["modified"]
        .as_str()
        .or(object["created"].as_str())
        .map(str::to_string);
    (
        object["id"].as_str().unwrap_or_default().to_string(),
        version,
    )
}

fn get(url: &str, token: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", "application/taxii+json;version=2.1")
        .call()
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let text = response.body_mut().read_to_string().unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_intelligence_reaches_a_partners_partner_intact_and_stricter_never_does() {
    // A - B - C: A and C do not know each other; each shares everything its rules allow.
    let mut fed = Federation::new(&["a", "b", "c"], 11);
    fed.trust(0, 1, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.trust(1, 2, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;

    // Import every file at A, unmarked objects as TLP:GREEN.
    let options = ImportOptions {
        default_tlp: Tlp::Green,
        ..ImportOptions::default()
    };
    let us = fed.members[0].org.public();
    let mut reports: Vec<VerifiedReport> = Vec::new();
    let mut seen = HashSet::new();
    let mut misp_events: HashMap<String, Value> = HashMap::new();
    for file in corpus() {
        let text = std::fs::read_to_string(&file).unwrap();
        let imported =
            import(&text, &us, &options).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for r in imported.reports {
            let signed = r
                .draft
                .sign_imported(&fed.members[0].org, &r.source_id)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if let Some(part) = &signed.report().misp_event
                && travels_two_hops(&signed)
                && part.parts == 1
            {
                misp_events.insert(part.uuid.clone(), serde_json::from_str(&part.text).unwrap());
            }
            if seen.insert(signed.id()) {
                reports.push(signed);
            }
        }
    }
    for batch in reports.chunks(64) {
        fed.publish(0, batch.to_vec()).await;
    }
    let (travelling, staying): (Vec<&VerifiedReport>, Vec<&VerifiedReport>) =
        reports.iter().partition(|r| travels_two_hops(r));
    assert!(
        travelling.len() >= 20 && staying.len() >= 5,
        "{} {}",
        travelling.len(),
        staying.len()
    );
    let ids: Vec<_> = travelling.iter().map(|r| r.id()).collect();
    if !fed.wait_for(2, &ids, WAIT).await {
        let missing: Vec<String> = travelling
            .iter()
            .filter(|r| !fed.holds(2, &r.id()))
            .map(|r| {
                format!(
                    "{} (at B: {}, {:?} {:?})",
                    r.report().title,
                    fed.holds(1, &r.id()),
                    r.report().tlp,
                    r.report().distribution
                )
            })
            .collect();
        let peers = fed.node(1).peers().await.unwrap();
        panic!(
            "C lacks {} of {} reports: {:?}; B's partners: {peers:#?}",
            missing.len(),
            travelling.len(),
            &missing[..missing.len().min(3)]
        );
    }
    tokio::time::sleep(SETTLE).await;
    for r in &staying {
        assert!(
            !fed.holds(2, &r.id()),
            "{} ({:?}, {:?}) must not reach C",
            r.report().title,
            r.report().tlp,
            r.report().distribution.scope
        );
    }

    // The objects C may hold, by id and version, and those only A and B may.
    // An object without a version (an SCO) that two sources carry with different properties is
    // served once, as either.
    let mut expected: HashMap<(String, Option<String>), Vec<Value>> = HashMap::new();
    for r in &travelling {
        for o in &r.report().stix_objects {
            let v: Value = serde_json::from_str(o).unwrap();
            let candidates = expected.entry(key_of(&v)).or_default();
            if !candidates.contains(&v) {
                candidates.push(v);
            }
        }
    }
    let withheld: HashSet<(String, Option<String>)> = staying
        .iter()
        .flat_map(|r| r.report().stix_objects.iter())
        .map(|o| key_of(&serde_json::from_str(o).unwrap()))
        .filter(|k| !expected.contains_key(k))
        .collect();
    assert!(!withheld.is_empty());

    // C's TAXII collection, every version of every object, paged.
    let dir = tempfile::tempdir().unwrap();
    let tokens_path = dir.path().join("tokens.json");
    let mut tokens = Tokens::load(&tokens_path).unwrap();
    let token = tokens.create("reader", Role::Read, 1).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let address = cairn_api::serve(
        &ApiConfig {
            listen: "127.0.0.1:0".into(),
            ..ApiConfig::default()
        },
        fed.node(2).clone(),
        cairn_api::ApiParts::new(tokens_path),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let served = tokio::task::spawn_blocking(move || {
        let base = format!(
            "http://{address}/taxii2/api/collections/{ALL}/objects/?match[version]=all&limit=500"
        );
        let mut served: Vec<Value> = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let url = match &next {
                Some(n) => format!("{base}&next={n}"),
                None => base.clone(),
            };
            let page = get(&url, &token);
            served.extend(page["objects"].as_array().cloned().unwrap_or_default());
            match page["next"].as_str() {
                Some(n) if page["more"] == true => next = Some(n.to_string()),
                _ => break,
            }
        }
        let feed = get(&format!("http://{address}/misp/feed/manifest.json"), &token);
        let mut events = HashMap::new();
        for uuid in feed.as_object().unwrap().keys() {
            let event = get(&format!("http://{address}/misp/feed/{uuid}.json"), &token);
            events.insert(uuid.clone(), event["Event"].clone());
        }
        (served, events)
    })
    .await
    .unwrap();
    let (served, events) = served;
    let served: HashMap<(String, Option<String>), Value> =
        served.into_iter().map(|v| (key_of(&v), v)).collect();
    for (key, candidates) in &expected {
        let back = served
            .get(key)
            .unwrap_or_else(|| panic!("{key:?} is not served at C"));
        assert!(
            candidates.contains(back),
            "{key:?} comes back at C as its source sent it: {back} is not one of {candidates:?}"
        );
    }
    for key in &withheld {
        assert!(!served.contains_key(key), "{key:?} is withheld from C");
    }
    assert_eq!(served.len(), expected.len(), "C serves nothing else");
    // MISP events, as their source sent them.
    assert!(!misp_events.is_empty());
    for (uuid, event) in &misp_events {
        assert_eq!(events.get(uuid), Some(event), "MISP event {uuid} at C");
    }
    shutdown.cancel();
    for i in 0..3 {
        fed.stop(i).await;
    }
}
