//! Sightings are found by the report they concern, in arrival order, whoever wrote them, and
//! survive the store being opened again; a report nobody sighted has none.

use cairn_core::sighting::{SightingRequest, draft_about};
use cairn_core::{OrgKey, ReportDraft, SightingKind, Tlp, sample};
use cairn_store::{Provenance, Store, StoreConfig};
use rand::SeedableRng;

fn request(kind: SightingKind) -> SightingRequest {
    SightingRequest {
        place: Some("mail gateway".into()),
        ..SightingRequest::of(kind)
    }
}

#[test]
fn sightings_are_found_by_the_report_they_concern() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let cert = OrgKey::generate(&mut rng);
    let bank = OrgKey::generate(&mut rng);
    let telco = OrgKey::generate(&mut rng);
    let mut reports: Vec<_> = (0..2)
        .map(|k| {
            let mut d: ReportDraft = sample::indicator_report(&mut rng, k);
            d.tlp = Some(Tlp::Green);
            d.sign(&cert, &mut rng).unwrap()
        })
        .collect();
    let sighted = reports.remove(0);
    let other = reports.remove(0);
    let now = sighted.report().created_ms + 10;
    let sighting = |by: &OrgKey, kind, rng: &mut rand::rngs::StdRng| {
        draft_about(
            sighted.report(),
            sighted.id(),
            cert.public(),
            &request(kind),
            now,
        )
        .unwrap()
        .sign(by, rng)
        .unwrap()
    };
    let first = sighting(&bank, SightingKind::Seen, &mut rng);
    let second = sighting(&telco, SightingKind::FalsePositive, &mut rng);
    {
        let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
        store
            .insert(vec![sighted.clone(), other.clone()], Provenance::Local)
            .unwrap();
        store
            .insert(
                vec![first.clone()],
                Provenance::Peer {
                    org: bank.public(),
                    hop: 0,
                },
            )
            .unwrap();
        store
            .insert(vec![second.clone()], Provenance::Import)
            .unwrap();
        // Stored twice, listed once.
        store
            .insert(vec![first.clone()], Provenance::Local)
            .unwrap();
    }
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let found: Vec<_> = store
        .sightings_of(&sighted.id())
        .unwrap()
        .into_iter()
        .map(|s| s.report.id())
        .collect();
    assert_eq!(found, vec![first.id(), second.id()]);
    assert!(store.sightings_of(&other.id()).unwrap().is_empty());
    assert!(store.sightings_of(&first.id()).unwrap().is_empty());
}

#[test]
fn an_indicator_kept_in_a_new_version_keeps_what_partners_said_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let cert = OrgKey::generate(&mut rng);
    let bank = OrgKey::generate(&mut rng);
    let telco = OrgKey::generate(&mut rng);
    let mut draft: ReportDraft = sample::indicator_report(&mut rng, 1);
    draft.tlp = Some(Tlp::Green);
    let first = draft.sign(&cert, &mut rng).unwrap();
    let kept = first.report().indicators[0].clone();
    let named = format!("{}:{}", kept.kind.as_str(), kept.value);
    let now = first.report().created_ms + 10;
    // The bank saw the first indicator; the telco saw the whole report.
    let of_indicator = draft_about(
        first.report(),
        first.id(),
        cert.public(),
        &SightingRequest {
            indicator: Some(named),
            ..SightingRequest::of(SightingKind::Seen)
        },
        now,
    )
    .unwrap()
    .sign(&bank, &mut rng)
    .unwrap();
    let of_report = draft_about(
        first.report(),
        first.id(),
        cert.public(),
        &SightingRequest::of(SightingKind::Seen),
        now,
    )
    .unwrap()
    .sign(&telco, &mut rng)
    .unwrap();
    let second = ReportDraft::new_version_of(&first)
        .sign(&cert, &mut rng)
        .unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    store
        .insert(
            vec![first.clone(), of_indicator, of_report, second.clone()],
            Provenance::Local,
        )
        .unwrap();
    let scoring = cairn_core::score::ScoringConfig::default();
    let at = second.report().created_ms + 10;
    let standings = store.standings(&second, &scoring, at).unwrap();
    assert_eq!(standings.len(), second.report().indicators.len());
    // Only the bank speaks for the kept indicator; the telco's sighting of the whole first
    // version speaks for none of the second's.
    assert_eq!(standings[0].corroborating, 1, "{:?}", standings[0]);
    assert!(
        standings[1..].iter().all(|s| s.corroborating == 0),
        "{standings:?}"
    );
    // The first version itself counts both.
    let first_standings = store.standings(&first, &scoring, at).unwrap();
    assert_eq!(first_standings[0].corroborating, 2, "{first_standings:?}");
    assert_eq!(first_standings[1].corroborating, 1, "{first_standings:?}");
}
