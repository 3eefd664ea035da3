//! Sightings across three organisations on 127.0.0.1, under every TLP label: a bank's sighting
//! of a CERT's report goes back to the CERT, and reaches a third organisation only when the
//! report itself may go there from the bank (CLEAR and GREEN); under AMBER, AMBER+STRICT and
//! RED it reaches the author alone, though the third organisation holds the report too.

use std::time::Duration;

use cairn_core::sighting::{SightingRequest, draft_about};
use cairn_core::{ReportKind, SightingKind, Tlp, sample};
use cairn_tests::federation::{Federation, up_to};
use rand::SeedableRng;

const WAIT: Duration = Duration::from_secs(30);
/// How long to wait before concluding that something did not arrive.
const SETTLE: Duration = Duration::from_millis(1500);

const CERT: usize = 0;
const BANK: usize = 1;
const TELCO: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sighting_goes_back_to_the_author_and_never_further_than_its_report() {
    let mut fed = Federation::new(&["cert", "bank", "telco"], 17);
    fed.trust(CERT, BANK, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.trust(CERT, TELCO, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.trust(BANK, TELCO, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    let cert = fed.members[CERT].org.public();
    let bank = fed.members[BANK].org.public();
    let telco = fed.members[TELCO].org.public();

    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let mut sent = Vec::new();
    for (n, tlp) in Tlp::ALL.iter().enumerate() {
        let mut draft = sample::indicator_report(&mut rng, n as u64);
        draft.tlp = Some(*tlp);
        draft.scope = None;
        draft.hop_limit = None;
        if *tlp == Tlp::Red {
            draft.recipients = vec![bank, telco];
        }
        let report = fed.publish_draft(CERT, &draft).await;
        assert!(fed.wait_for(BANK, &[report.id()], WAIT).await, "{tlp}");
        assert!(fed.wait_for(TELCO, &[report.id()], WAIT).await, "{tlp}");
        let indicator = &report.report().indicators[0];
        let request = SightingRequest {
            kind: SightingKind::Seen,
            indicator: Some(format!("{}:{}", indicator.kind, indicator.value)),
            count: Some(4),
            first_seen: Some("3h".into()),
            last_seen: Some("1h".into()),
            place: Some("payment gateway".into()),
            observed: vec![format!("blocked connection to {}", indicator.value)],
            ..SightingRequest::of(SightingKind::Seen)
        };
        let held = fed
            .node(BANK)
            .store()
            .get(&report.id())
            .unwrap()
            .expect("the bank holds the report");
        let sighting_draft = draft_about(
            held.report.report(),
            report.id(),
            cert,
            &request,
            cairn_core::when::now_ms(),
        )
        .unwrap();
        let sighting = fed.publish_draft(BANK, &sighting_draft).await;
        assert_eq!(sighting.report().kind, ReportKind::Sighting);
        assert_eq!(sighting.report().tlp, *tlp, "marked like its report");
        sent.push((*tlp, report, sighting));
    }

    for (tlp, report, sighting) in &sent {
        assert!(
            fed.wait_for(CERT, &[sighting.id()], WAIT).await,
            "{tlp}: the author receives the sighting"
        );
        let at_cert = fed.node(CERT).store().sightings_of(&report.id()).unwrap();
        assert_eq!(at_cert.len(), 1, "{tlp}");
        let said = at_cert[0].report.report().sighting.clone().unwrap();
        assert_eq!(said.count, 4);
        assert_eq!(said.place.as_deref(), Some("payment gateway"));
        assert_eq!(at_cert[0].report.author(), bank);
        if tlp.relayable() {
            assert!(
                fed.wait_for(TELCO, &[sighting.id()], WAIT).await,
                "{tlp}: the report may go from the bank to the telco, so may its sighting"
            );
        }
    }
    tokio::time::sleep(SETTLE).await;
    for (tlp, _, sighting) in &sent {
        if !tlp.relayable() {
            assert!(
                !fed.holds(TELCO, &sighting.id()),
                "{tlp}: the bank may not pass the report on, so its sighting goes to the author only"
            );
        }
    }
    for i in [CERT, BANK, TELCO] {
        fed.stop(i).await;
    }
}
