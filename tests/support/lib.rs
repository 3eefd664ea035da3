//! Helpers for Cairn's scenarios: organisations with their own node folder, keys and store,
//! federations of real nodes on 127.0.0.1 in one process (`federation`), nodes as `cairn run`
//! processes (`processes`), what benchmarks of those processes share (`bench`), and the
//! public corpora and Python tools scenarios check against (`corpus`).

pub mod bench;
pub mod corpus;
pub mod federation;
pub mod processes;

use cairn_core::{OrgKey, OrgPublicKey, ReportDraft, VerifiedReport};
use cairn_store::{IngestOutcome, Provenance, ReportQuery, Store, StoreConfig, StoredReport};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// One organisation's node, in a temporary folder removed when it is dropped.
pub struct TestNode {
    /// The organisation's display name.
    pub name: String,
    /// The organisation's signing key.
    pub org: OrgKey,
    /// The node's store.
    pub store: Store,
    rng: StdRng,
    _dir: tempfile::TempDir,
}

impl TestNode {
    /// A node for a new organisation; `seed` makes its keys and reports reproducible.
    pub fn new(name: &str, seed: u64) -> TestNode {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut rng = StdRng::seed_from_u64(seed);
        let org = OrgKey::generate(&mut rng);
        let store =
            Store::open(&dir.path().join("store"), &StoreConfig::default()).expect("open store");
        TestNode {
            name: name.to_string(),
            org,
            store,
            rng,
            _dir: dir,
        }
    }

    /// The organisation's public key.
    pub fn key(&self) -> OrgPublicKey {
        self.org.public()
    }

    /// Signs and stores a report written on this node.
    pub fn publish(&mut self, draft: &ReportDraft) -> VerifiedReport {
        let report = draft.sign(&self.org, &mut self.rng).expect("valid draft");
        let outcome = self
            .store
            .insert(vec![report.clone()], Provenance::Local)
            .expect("store");
        assert!(
            matches!(outcome[0], IngestOutcome::Stored { .. }),
            "{outcome:?}"
        );
        report
    }

    /// Signs and stores a retraction of one of this organisation's reports.
    pub fn retract(&mut self, report: &VerifiedReport, reason: &str) -> VerifiedReport {
        let tombstone =
            cairn_core::retract(report, reason, &self.org, &mut self.rng).expect("own report");
        self.store
            .insert(vec![tombstone.clone()], Provenance::Local)
            .expect("store");
        tombstone
    }

    /// Receives envelopes as an operator import; one outcome each.
    pub fn import(&self, envelopes: &[Vec<u8>]) -> Vec<IngestOutcome> {
        self.store
            .ingest(envelopes, Provenance::Import)
            .expect("ingest")
    }

    /// Current reports, newest first.
    pub fn current(&self) -> Vec<StoredReport> {
        self.store.query(&ReportQuery::default()).expect("query")
    }
}
