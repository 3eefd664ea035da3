//! Private set intersection between organisations on 127.0.0.1: a bank asks a CERT which of
//! its values the CERT holds and learns exactly those it may see there (not a TLP:RED report
//! addressed to someone else); an organisation the CERT does not offer it to is refused, and
//! a bank over its daily allowance is refused, each with the reason.

use std::time::Duration;

use cairn_core::{Indicator, IndicatorDraft, IndicatorType, ReportDraft, ReportKind, Tlp};
use cairn_node::psi::PsiAskError;
use cairn_tests::federation::{Federation, up_to};

const WAIT: Duration = Duration::from_secs(30);

const CERT: usize = 0;
const BANK: usize = 1;
const TELCO: usize = 2;

fn ip(text: &str) -> Indicator {
    Indicator::new(IndicatorType::Ipv4, text, "").unwrap()
}

fn report(title: &str, tlp: Tlp, values: &[&str]) -> ReportDraft {
    ReportDraft {
        kind: Some(ReportKind::Indicator),
        title: title.into(),
        tlp: Some(tlp),
        indicators: values.iter().map(|v| IndicatorDraft::from(ip(v))).collect(),
        ..ReportDraft::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_learns_only_which_of_its_values_it_may_see_and_only_when_offered() {
    let mut fed = Federation::new(&["cert", "bank", "telco"], 23);
    fed.trust(CERT, BANK, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.trust(CERT, TELCO, up_to(Tlp::Red), up_to(Tlp::Red));
    fed.offer_psi(CERT, BANK, 1000);
    fed.start_all().await;
    fed.wait_connected(WAIT).await;
    let telco = fed.members[TELCO].org.public();
    fed.publish_draft(
        CERT,
        &report("Loader", Tlp::Green, &["203.0.113.1", "203.0.113.2"]),
    )
    .await;
    let mut red = report("Telco only", Tlp::Red, &["203.0.113.3"]);
    red.recipients = vec![telco];
    red.scope = Some(cairn_core::Scope::DirectPeers);
    fed.publish_draft(CERT, &red).await;

    // The bank asks about one value it may see, one under RED for the telco alone, and one
    // the CERT does not hold.
    let asked = vec![ip("203.0.113.1"), ip("203.0.113.3"), ip("198.51.100.9")];
    let found = fed
        .node(BANK)
        .psi_ask("cert", asked)
        .await
        .expect("the CERT answers the bank");
    assert_eq!(found, vec![ip("203.0.113.1")]);

    // The telco is not offered it; the bank has 997 values left today.
    let refused = fed
        .node(TELCO)
        .psi_ask("cert", vec![ip("203.0.113.3")])
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, PsiAskError::Refused { reason, .. } if reason.contains("does not answer")),
        "{refused}"
    );
    let many: Vec<Indicator> = (0..998u32)
        .map(|n| ip(&format!("10.0.{}.{}", n / 250, n % 250 + 1)))
        .collect();
    let over = fed.node(BANK).psi_ask("cert", many).await.unwrap_err();
    assert!(
        matches!(&over, PsiAskError::Refused { reason, .. } if reason.contains("997 left of the 1000")),
        "{over}"
    );
    let unknown = fed
        .node(BANK)
        .psi_ask("nobody", vec![ip("203.0.113.1")])
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, PsiAskError::UnknownPartner(_)),
        "{unknown}"
    );
}
