//! The envelope file beside the trees: an ingest cut short leaves no trace, a damaged envelope
//! is reported and never served, a file missing envelopes refuses to open, and nothing else
//! stored is lost with it.

use std::io::Write;

use cairn_core::{OrgKey, ReportId, VerifiedReport, sample};
use cairn_store::{OpenError, Provenance, ReadError, Store, StoreConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn open(dir: &tempfile::TempDir) -> Result<Store, OpenError> {
    Store::open(dir.path(), &StoreConfig::default())
}

fn reports(seed: u64, count: u64) -> Vec<VerifiedReport> {
    let mut rng = StdRng::seed_from_u64(seed);
    let org = OrgKey::generate(&mut rng);
    (0..count)
        .map(|n| {
            sample::indicator_report(&mut rng, seed * 1000 + n)
                .sign(&org, &mut rng)
                .unwrap()
        })
        .collect()
}

fn file(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("envelopes")
}

fn assert_all_held(store: &Store, reports: &[VerifiedReport]) {
    for report in reports {
        let held = store.get(&report.id()).unwrap().expect("report held");
        assert_eq!(held.report.envelope_bytes(), report.envelope_bytes());
    }
}

#[test]
fn bytes_of_an_ingest_that_did_not_complete_are_cut_off_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let first = reports(1, 10);
    {
        let store = open(&dir).unwrap();
        store.insert(first.clone(), Provenance::Local).unwrap();
    }
    let committed = std::fs::metadata(file(&dir)).unwrap().len();
    assert!(committed > 0);
    // A crash after the envelopes were written but before the records were.
    std::fs::OpenOptions::new()
        .append(true)
        .open(file(&dir))
        .unwrap()
        .write_all(&[0xAB; 5000])
        .unwrap();

    let store = open(&dir).unwrap();
    assert_eq!(std::fs::metadata(file(&dir)).unwrap().len(), committed);
    assert_eq!(store.len().unwrap(), 10);
    assert_all_held(&store, &first);
    let second = reports(2, 5);
    store.insert(second.clone(), Provenance::Import).unwrap();
    drop(store);

    let store = open(&dir).unwrap();
    assert_eq!(store.len().unwrap(), 15);
    assert_all_held(&store, &first);
    assert_all_held(&store, &second);
    let listed = store.after(0, 100).unwrap();
    assert_eq!(listed.len(), 15);
    assert_eq!(store.envelopes_after(10, 100).unwrap().len(), 5);
}

#[test]
fn a_damaged_envelope_is_reported_and_its_neighbours_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let stored = reports(3, 4);
    let first: ReportId = stored[0].id();
    {
        let store = open(&dir).unwrap();
        store.insert(stored.clone(), Provenance::Local).unwrap();
        // Indexed, so that opening finds every id in the index and reads no envelope.
        store.index_pending(usize::MAX).unwrap();
        store.flush().unwrap();
    }
    // Flip a byte of the first envelope.
    let mut bytes = std::fs::read(file(&dir)).unwrap();
    bytes[3] ^= 0xFF;
    std::fs::write(file(&dir), &bytes).unwrap();

    let store = open(&dir).unwrap();
    let error = store.get(&first).unwrap_err();
    assert!(matches!(error, ReadError::Envelope(_)), "{error:?}");
    assert!(
        error.to_string().contains("does not match its checksum"),
        "{error}"
    );
    assert!(store.envelope_at(1).is_err());
    assert_all_held(&store, &stored[1..]);
}

#[test]
fn a_file_missing_envelopes_refuses_to_open_and_is_left_as_found() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir).unwrap();
        store.insert(reports(4, 3), Provenance::Local).unwrap();
    }
    let full = std::fs::metadata(file(&dir)).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(file(&dir))
        .unwrap()
        .set_len(full - 10)
        .unwrap();
    let error = open(&dir).unwrap_err();
    assert!(matches!(error, OpenError::Corrupt { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("envelopes are missing"), "{message}");
    assert!(message.contains("restore it from a backup"), "{message}");
    assert_eq!(std::fs::metadata(file(&dir)).unwrap().len(), full - 10);
}

#[test]
fn a_backup_carries_the_envelopes_and_opens_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let stored = reports(5, 20);
    let copy = tempfile::tempdir().unwrap();
    let copy_path = copy.path().join("copy");
    {
        let store = open(&dir).unwrap();
        store.insert(stored.clone(), Provenance::Local).unwrap();
        store.backup(&copy_path).unwrap();
    }
    // The original goes away entirely: the copy needs nothing of it.
    drop(dir);
    let store = Store::open(&copy_path, &StoreConfig::default()).unwrap();
    assert_all_held(&store, &stored);
    let more = reports(6, 3);
    store.insert(more.clone(), Provenance::Local).unwrap();
    assert_all_held(&store, &more);
}
