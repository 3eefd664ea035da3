//! Arrival marks: every stored report has one saying who wrote it and which partner passed it
//! here, kept up to date when a closer copy replaces the record.

use cairn_core::{OrgKey, Tlp, sample};
use cairn_store::{Provenance, Store, StoreConfig};
use rand::SeedableRng;

#[test]
fn every_report_has_its_arrival_mark() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreConfig::default()).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let author = OrgKey::generate(&mut rng);
    let far = OrgKey::generate(&mut rng).public();
    let near = OrgKey::generate(&mut rng).public();
    let reports: Vec<_> = (0..5)
        .map(|k| {
            let mut d = sample::indicator_report(&mut rng, k);
            d.tlp = Some(Tlp::Green);
            d.sign(&author, &mut rng).unwrap()
        })
        .collect();
    store
        .insert(reports[..2].to_vec(), Provenance::Local)
        .unwrap();
    store
        .insert(reports[2..].to_vec(), Provenance::Peer { org: far, hop: 3 })
        .unwrap();
    let marks = store.arrival_marks(0, 100).unwrap();
    assert_eq!(
        marks.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert!(marks.iter().all(|(_, m)| m.is_from(&author.public())));
    assert_eq!(marks[0].1.giver, None);
    assert!(marks[2].1.is_from(&far) && !marks[2].1.is_from(&near));
    assert_eq!(store.arrival_marks(3, 1).unwrap()[0].0, 4);
    assert!(store.arrival_marks(5, 10).unwrap().is_empty());
    // A closer copy from another partner replaces the record, and the mark with it.
    store
        .insert(
            vec![reports[2].clone()],
            Provenance::Peer { org: near, hop: 1 },
        )
        .unwrap();
    let mark = store.arrival_marks(2, 1).unwrap()[0].1;
    assert!(mark.is_from(&near) && !mark.is_from(&far));
    assert_eq!(
        store.envelope_at(3).unwrap().unwrap().envelope,
        reports[2].envelope_bytes()
    );
    assert!(store.envelope_at(6).unwrap().is_none());
}
