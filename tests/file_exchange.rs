//! Organisations exchange report files: a national CERT shares with a bank, withholding the
//! victim's identity; tampered copies are refused while good ones in the same batch are kept;
//! a retraction travels like a report and hides what it withdraws.

use cairn_core::{DisclosureField, ReportDraft, ReportKind, Severity, Tlp, sample};
use cairn_store::{IngestOutcome, Provenance, ReportQuery, ReportStatus};
use cairn_tests::TestNode;
use rand::SeedableRng;

fn incident() -> ReportDraft {
    ReportDraft {
        kind: Some(ReportKind::Incident),
        title: "Ransomware at a regional hospital".into(),
        severity: Some(Severity::Critical),
        tlp: Some(Tlp::Amber),
        tags: vec!["ransomware".into()],
        victim: Some("Hospital X".into()),
        internal_notes: Some("linked to case 2026-114".into()),
        ..ReportDraft::default()
    }
}

#[test]
fn a_cert_shares_with_a_bank_without_naming_the_victim() {
    let mut cert = TestNode::new("CERT-FR", 1);
    let bank = TestNode::new("Bank", 2);
    let report = cert.publish(&incident());
    let copy = report.withhold(&[DisclosureField::Victim]);

    let outcomes = bank.import(&[copy.envelope_bytes().to_vec()]);
    assert!(
        matches!(outcomes[0], IngestOutcome::Stored { .. }),
        "{outcomes:?}"
    );
    let held = bank.store.get(&report.id()).unwrap().unwrap();
    assert_eq!(held.report.author(), cert.key());
    assert_eq!(held.provenance, Provenance::Import);
    assert_eq!(held.report.withheld(), 1);
    assert!(
        held.report
            .disclosures()
            .iter()
            .all(|d| d.field != DisclosureField::Victim)
    );
    assert_eq!(held.report.report(), report.report());
    // The author still holds everything.
    assert_eq!(
        cert.store
            .get(&report.id())
            .unwrap()
            .unwrap()
            .report
            .withheld(),
        0
    );
}

#[test]
fn tampered_copies_are_refused_and_good_ones_kept() {
    let mut cert = TestNode::new("CERT-FR", 1);
    let bank = TestNode::new("Bank", 2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let good: Vec<_> = (0..5)
        .map(|n| cert.publish(&sample::indicator_report(&mut rng, n)))
        .collect();
    let mut batch: Vec<Vec<u8>> = good.iter().map(|r| r.envelope_bytes().to_vec()).collect();
    let mut forged = batch[2].clone();
    let middle = forged.len() / 2;
    forged[middle] ^= 0x20;
    batch.insert(2, forged);
    batch.push(b"definitely not a report".to_vec());

    let outcomes = bank.import(&batch);
    let stored = outcomes
        .iter()
        .filter(|o| matches!(o, IngestOutcome::Stored { .. }))
        .count();
    assert_eq!(stored, 5);
    assert!(matches!(outcomes[2], IngestOutcome::Rejected(_)));
    assert!(matches!(outcomes[6], IngestOutcome::Rejected(_)));
    assert_eq!(bank.store.last_seq().unwrap(), 5);
    assert_eq!(bank.current().len(), 5);
}

#[test]
fn a_retraction_travels_and_hides_the_report() {
    let mut cert = TestNode::new("CERT-FR", 1);
    let bank = TestNode::new("Bank", 2);
    let report = cert.publish(&incident());
    bank.import(&[report.envelope_bytes().to_vec()]);
    let tombstone = cert.retract(&report, "false positive");
    bank.import(&[tombstone.envelope_bytes().to_vec()]);
    let held = bank.store.get(&report.id()).unwrap().unwrap();
    assert_eq!(
        bank.store.status(&held.report).unwrap(),
        ReportStatus::Retracted(tombstone.id())
    );
    assert!(bank.current().is_empty());
    let history = bank.store.history(&report.id()).unwrap();
    assert_eq!(history.len(), 2);

    // The bank cannot retract the CERT's report, nor supersede it.
    let mut bank = bank;
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    assert!(cairn_core::retract(&report, "mine", &bank.org, &mut rng).is_err());
    let mut hijack = ReportDraft::new_version_of(&report);
    hijack.title = "Nothing happened".into();
    let forged = bank.publish_unchecked(&hijack);
    let outcome = cert.import(&[forged]);
    assert!(
        matches!(outcome[0], IngestOutcome::Refused { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        cert.store
            .query(&ReportQuery {
                include_history: true,
                ..Default::default()
            })
            .unwrap()
            .len(),
        2
    );
}

trait SignOnly {
    fn publish_unchecked(&mut self, draft: &ReportDraft) -> Vec<u8>;
}

impl SignOnly for TestNode {
    /// Signs without storing: what a misbehaving organisation could send.
    fn publish_unchecked(&mut self, draft: &ReportDraft) -> Vec<u8> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(99);
        draft
            .sign(&self.org, &mut rng)
            .unwrap()
            .envelope_bytes()
            .to_vec()
    }
}
