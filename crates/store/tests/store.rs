//! Store behaviour: idempotent ingest, arrival numbers, queries, versions and retractions,
//! bad input, and round trips through reopen.

use cairn_core::{
    OrgKey, ReportDraft, ReportKind, Tlp, VerifiedReport, VerifyError, retract, sample,
};
use cairn_store::{
    IngestOutcome, OpenError, Provenance, ReportQuery, ReportStatus, Store, StoreConfig,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A store whose index is only written when a test calls `index_pending`, so tests see both
/// the unindexed and the indexed query paths.
fn open(dir: &tempfile::TempDir) -> Store {
    let config = StoreConfig {
        background_indexing: false,
        ..StoreConfig::default()
    };
    Store::open(dir.path(), &config).unwrap()
}

/// Runs a query before and after indexing; both answers must agree.
fn query_ids(store: &Store, query: &ReportQuery) -> Vec<cairn_core::ReportId> {
    let before = ids(&store.query(query).unwrap());
    while store.index_pending(3).unwrap() > 0 {}
    assert_eq!(store.indexed_up_to(), store.last_seq().unwrap());
    let after = ids(&store.query(query).unwrap());
    assert_eq!(
        before, after,
        "indexed and unindexed answers differ for {query:?}"
    );
    after
}

fn org(seed: u64) -> OrgKey {
    OrgKey::generate(&mut StdRng::seed_from_u64(seed))
}

fn report(org: &OrgKey, seed: u64, edit: impl FnOnce(&mut ReportDraft)) -> VerifiedReport {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draft = sample::indicator_report(&mut rng, seed);
    edit(&mut draft);
    draft.sign(org, &mut rng).unwrap()
}

fn ids(list: &[cairn_store::StoredReport]) -> Vec<cairn_core::ReportId> {
    list.iter().map(|s| s.report.id()).collect()
}

#[test]
fn ingest_is_idempotent_and_numbers_arrivals() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = org(1);
    let reports: Vec<VerifiedReport> = (0..5).map(|i| report(&a, i, |_| {})).collect();
    let envelopes: Vec<&[u8]> = reports.iter().map(|r| r.envelope_bytes()).collect();
    let first = store.ingest(&envelopes, Provenance::Local).unwrap();
    let seqs: Vec<u64> = first
        .iter()
        .map(|o| match o {
            IngestOutcome::Stored { seq, .. } => *seq,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    let again = store.ingest(&envelopes[1..3], Provenance::Import).unwrap();
    assert_eq!(
        again,
        vec![
            IngestOutcome::Duplicate {
                id: reports[1].id(),
                seq: 2
            },
            IngestOutcome::Duplicate {
                id: reports[2].id(),
                seq: 3
            },
        ]
    );
    // The same report twice in one batch is stored once.
    let b = report(&a, 99, |_| {});
    let twice = store
        .ingest(&[b.envelope_bytes(), b.envelope_bytes()], Provenance::Local)
        .unwrap();
    assert_eq!(twice[1], IngestOutcome::Duplicate { id: b.id(), seq: 6 });
    assert_eq!(store.len().unwrap(), 6);
    assert_eq!(store.last_seq().unwrap(), 6);
    let got = store.get(&reports[2].id()).unwrap().unwrap();
    assert_eq!(got.seq, 3);
    assert_eq!(got.provenance, Provenance::Local);
    assert_eq!(got.report.envelope_bytes(), reports[2].envelope_bytes());
}

#[test]
fn listing_after_a_cursor_pages_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = org(1);
    let reports: Vec<VerifiedReport> = (0..10).map(|i| report(&a, i, |_| {})).collect();
    store.insert(reports.clone(), Provenance::Local).unwrap();
    let page1 = store.after(0, 4).unwrap();
    let page2 = store.after(page1.last().unwrap().seq, 4).unwrap();
    let page3 = store.after(page2.last().unwrap().seq, 4).unwrap();
    let all: Vec<_> = [page1, page2, page3].concat();
    assert_eq!(
        ids(&all),
        reports.iter().map(|r| r.id()).collect::<Vec<_>>()
    );
    assert!(store.after(10, 4).unwrap().is_empty());
}

#[test]
fn bad_envelopes_are_rejected_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let good = report(&org(1), 1, |_| {});
    store.insert(vec![good.clone()], Provenance::Local).unwrap();
    let mut tampered = good.envelope_bytes().to_vec();
    tampered[40] ^= 0x04;
    let outcomes = store
        .ingest(
            &[b"garbage".to_vec(), tampered, vec![0; 2 << 20]],
            Provenance::Import,
        )
        .unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, IngestOutcome::Rejected(_)))
    );
    assert!(matches!(
        outcomes[2],
        IngestOutcome::Rejected(VerifyError::TooLarge { .. })
    ));
    assert_eq!(store.len().unwrap(), 1);
    assert_eq!(store.last_seq().unwrap(), 1);
    assert_eq!(store.get(&good.id()).unwrap().unwrap().report, good);
}

#[test]
fn queries_use_every_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (a, b) = (org(1), org(2));
    let base = 1_750_000_000_000i64;
    let at = |ms: i64| {
        Some(time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap())
    };
    let r1 = report(&a, 1, |d| {
        d.created = at(base);
        d.tags = vec!["ransomware".into()];
    });
    let r2 = report(&a, 2, |d| {
        d.created = at(base + 1000);
        d.kind = Some(ReportKind::Advisory);
        d.tlp = Some(Tlp::Clear);
        d.scope = None;
        d.hop_limit = None;
        d.tags = vec!["phishing".into()];
        d.indicators[1].value = "Shared.Bad.Example".into();
    });
    let r3 = report(&b, 3, |d| {
        d.created = at(base + 2000);
        d.tags = vec!["Phishing".into()];
        d.indicators[1].value = "shared.bad.example".into();
    });
    store
        .insert(vec![r1.clone(), r2.clone(), r3.clone()], Provenance::Local)
        .unwrap();
    let q = |f: fn(&mut ReportQuery)| {
        let mut query = ReportQuery::default();
        f(&mut query);
        query_ids(&store, &query)
    };
    assert_eq!(q(|_| {}), vec![r3.id(), r2.id(), r1.id()]);
    let author_a = a.public();
    let mut by_author = ReportQuery {
        author: Some(author_a),
        ..Default::default()
    };
    assert_eq!(query_ids(&store, &by_author), vec![r2.id(), r1.id()]);
    by_author.limit = 1;
    assert_eq!(query_ids(&store, &by_author), vec![r2.id()]);
    assert_eq!(q(|q| q.kind = Some(ReportKind::Advisory)), vec![r2.id()]);
    assert_eq!(q(|q| q.tlp = Some(Tlp::Green)), vec![r3.id(), r1.id()]);
    assert_eq!(
        q(|q| q.tag = Some("PHISHING".into())),
        vec![r3.id(), r2.id()]
    );
    assert_eq!(
        q(|q| q.indicator = Some("shared.BAD.example".into())),
        vec![r3.id(), r2.id()]
    );
    let window = ReportQuery {
        since_ms: Some(base + 500),
        until_ms: Some(base + 1500),
        ..Default::default()
    };
    assert_eq!(query_ids(&store, &window), vec![r2.id()]);
    let combined = ReportQuery {
        tag: Some("phishing".into()),
        author: Some(b.public()),
        ..Default::default()
    };
    assert_eq!(query_ids(&store, &combined), vec![r3.id()]);
    let ip = r1.report().indicators[0].value.clone();
    let by_ip = ReportQuery {
        indicator: Some(ip),
        ..Default::default()
    };
    assert!(query_ids(&store, &by_ip).contains(&r1.id()));
    let none = ReportQuery {
        indicator: Some("203.0.113.250".into()),
        ..Default::default()
    };
    assert!(query_ids(&store, &none).is_empty());
}

#[test]
fn new_versions_replace_old_ones_and_history_keeps_both() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = org(1);
    let v1 = report(&a, 1, |_| {});
    let mut rng = StdRng::seed_from_u64(5);
    let mut next = ReportDraft::new_version_of(&v1);
    next.title = "Updated: wider campaign".into();
    let v2 = next.sign(&a, &mut rng).unwrap();
    store
        .insert(vec![v1.clone(), v2.clone()], Provenance::Local)
        .unwrap();
    assert_eq!(query_ids(&store, &ReportQuery::default()), vec![v2.id()]);
    assert_eq!(
        store.status(&v1).unwrap(),
        ReportStatus::SupersededBy(v2.id())
    );
    assert_eq!(store.status(&v2).unwrap(), ReportStatus::Current);
    assert_eq!(
        ids(&store.history(&v2.id()).unwrap()),
        vec![v1.id(), v2.id()]
    );
    let all = ReportQuery {
        include_history: true,
        ..Default::default()
    };
    assert_eq!(query_ids(&store, &all).len(), 2);

    // Another organisation cannot supersede it.
    let mut forged = ReportDraft::new_version_of(&v2);
    forged.title = "Hijacked".into();
    let forged = forged.sign(&org(2), &mut rng).unwrap();
    let outcome = store
        .insert(vec![forged.clone()], Provenance::Import)
        .unwrap();
    assert!(
        matches!(&outcome[0], IngestOutcome::Refused { reason, .. } if reason.contains("another organisation"))
    );
    assert!(store.get(&forged.id()).unwrap().is_none());
    assert_eq!(store.status(&v2).unwrap(), ReportStatus::Current);
}

#[test]
fn retractions_hide_every_version_and_only_the_author_can_retract() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (a, b) = (org(1), org(2));
    let mut rng = StdRng::seed_from_u64(8);
    let v1 = report(&a, 1, |_| {});
    let mut next = ReportDraft::new_version_of(&v1);
    next.title = "v2".into();
    let v2 = next.sign(&a, &mut rng).unwrap();
    let other = report(&a, 2, |_| {});
    store
        .insert(
            vec![v1.clone(), v2.clone(), other.clone()],
            Provenance::Local,
        )
        .unwrap();
    let tombstone = retract(&v1, "false positive", &a, &mut rng).unwrap();
    store
        .insert(vec![tombstone.clone()], Provenance::Local)
        .unwrap();
    assert_eq!(
        store.status(&v2).unwrap(),
        ReportStatus::Retracted(tombstone.id())
    );
    assert_eq!(query_ids(&store, &ReportQuery::default()), vec![other.id()]);
    let history = ids(&store.history(&v2.id()).unwrap());
    assert!(
        history.contains(&v1.id())
            && history.contains(&v2.id())
            && history.contains(&tombstone.id())
    );
    let retractions = ReportQuery {
        kind: Some(ReportKind::Retraction),
        ..Default::default()
    };
    assert_eq!(query_ids(&store, &retractions), vec![tombstone.id()]);

    // A retraction signed by someone else: refused when the target is known.
    let b_report = report(&b, 3, |_| {});
    let b_tombstone = retract(&b_report, "withdrawn", &b, &mut rng).unwrap();
    store
        .insert(vec![b_tombstone.clone()], Provenance::Import)
        .unwrap();
    // b's retraction arrived before b's report: the report is hidden as soon as it arrives.
    store
        .insert(vec![b_report.clone()], Provenance::Import)
        .unwrap();
    assert_eq!(
        store.status(&b_report).unwrap(),
        ReportStatus::Retracted(b_tombstone.id())
    );
}

#[test]
fn indicator_lookups_stay_exact_as_index_runs_merge() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = org(1);
    let mut shared = Vec::new();
    // One report per index write: many small runs of the query index, merged as they come.
    for i in 0..70u64 {
        let r = report(&a, 1000 + i, |d| {
            if i % 2 == 0 {
                d.indicators[0].value = "203.0.113.99".into();
            }
        });
        if i % 2 == 0 {
            shared.push(r.id());
        }
        store.insert(vec![r], Provenance::Local).unwrap();
        assert_eq!(store.index_pending(1).unwrap(), 1);
    }
    let query = ReportQuery {
        indicator: Some("203.0.113.99".into()),
        limit: 1000,
        ..Default::default()
    };
    let mut found = query_ids(&store, &query);
    found.sort();
    shared.sort();
    assert_eq!(found, shared);
    let limited = ReportQuery { limit: 5, ..query };
    assert_eq!(query_ids(&store, &limited).len(), 5);
    // Every report's own indicators are still found.
    for stored in store.after(0, 100).unwrap() {
        let value = stored.report.report().indicators[3].value.clone();
        let q = ReportQuery {
            indicator: Some(value),
            ..Default::default()
        };
        assert_eq!(query_ids(&store, &q), vec![stored.report.id()]);
    }
}

#[test]
fn ids_resolve_from_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let r = report(&org(1), 1, |_| {});
    store.insert(vec![r.clone()], Provenance::Local).unwrap();
    let text = r.id().to_string();
    assert_eq!(store.resolve(&text[..9]).unwrap(), r.id());
    assert_eq!(store.resolve(&text.to_uppercase()).unwrap(), r.id());
    assert!(store.resolve("abc").is_err());
    let missing = if text.starts_with('0') {
        "ffffffff"
    } else {
        "00000000"
    };
    assert!(matches!(
        store.resolve(missing),
        Err(cairn_store::ResolveError::NotFound(_))
    ));
}

#[test]
fn a_second_process_cannot_open_a_store_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open(&dir);
    let err = Store::open(dir.path(), &StoreConfig::default()).unwrap_err();
    assert!(matches!(err, OpenError::Locked(_)), "{err}");
    assert!(err.to_string().contains("in use by another Cairn process"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn everything_stored_survives_reopen(seeds in proptest::collection::vec(any::<u64>(), 1..20), batch in 1usize..8) {
        let dir = tempfile::tempdir().unwrap();
        let a = org(7);
        let reports: Vec<VerifiedReport> = seeds.iter().map(|s| report(&a, *s, |_| {})).collect();
        {
            let store = open(&dir);
            for chunk in reports.chunks(batch) {
                let envelopes: Vec<&[u8]> = chunk.iter().map(|r| r.envelope_bytes()).collect();
                store.ingest(&envelopes, Provenance::Local).unwrap();
            }
        }
        let store = open(&dir);
        let mut unique: Vec<_> = reports.iter().map(|r| r.id()).collect();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(store.len().unwrap(), unique.len() as u64);
        prop_assert_eq!(store.last_seq().unwrap(), unique.len() as u64);
        for r in &reports {
            let stored = store.get(&r.id()).unwrap().unwrap();
            prop_assert_eq!(stored.report.envelope_bytes(), r.envelope_bytes());
            prop_assert!(cairn_core::verify(stored.report.envelope_bytes()).is_ok());
        }
        let listed = store.after(0, 1000).unwrap();
        prop_assert_eq!(listed.len(), unique.len());
        prop_assert!(listed.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// The last reports stored are listed from memory: the listing must read exactly as the
    /// records on disk do, provenance rewrites by shorter paths included.
    #[test]
    fn listing_from_memory_matches_the_records_on_disk(
        arrivals in proptest::collection::vec((0u64..120, 0u32..4, 1usize..6), 1..40),
        cursors in proptest::collection::vec((0u64..130, 1usize..200), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (author, relay) = (org(11), org(12));
        let running = {
            let store = open(&dir);
            for (seed, hop, count) in &arrivals {
                let reports: Vec<VerifiedReport> =
                    (0..*count as u64).map(|i| report(&author, seed + i, |_| {})).collect();
                let provenance = if *hop == 0 {
                    Provenance::Import
                } else {
                    Provenance::Peer { org: relay.public(), hop: *hop }
                };
                store.insert(reports, provenance).unwrap();
            }
            cursors
                .iter()
                .map(|&(cursor, limit)| store.after(cursor, limit).unwrap())
                .collect::<Vec<_>>()
        };
        let reopened = open(&dir);
        for (&(cursor, limit), listed) in cursors.iter().zip(&running) {
            let on_disk = reopened.after(cursor, limit).unwrap();
            prop_assert_eq!(listed.len(), on_disk.len());
            for (a, b) in listed.iter().zip(&on_disk) {
                prop_assert_eq!(a.seq, b.seq);
                prop_assert_eq!(a.received_ms, b.received_ms);
                prop_assert_eq!(&a.provenance, &b.provenance);
                prop_assert_eq!(a.report.envelope_bytes(), b.report.envelope_bytes());
            }
        }
    }
}

#[test]
fn queries_racing_the_background_indexer_miss_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path(), &StoreConfig::default()).unwrap());
    let a = org(1);
    let reports: Vec<VerifiedReport> = (0..300).map(|i| report(&a, 5000 + i, |_| {})).collect();
    let writer = {
        let store = store.clone();
        let reports = reports.clone();
        std::thread::spawn(move || {
            for chunk in reports.chunks(3) {
                store.insert(chunk.to_vec(), Provenance::Local).unwrap();
            }
        })
    };
    let all = ReportQuery {
        limit: 1000,
        ..Default::default()
    };
    let mut rounds = 0;
    loop {
        // Everything acknowledged before the query started must be in its answer.
        let acknowledged = store.last_seq().unwrap();
        // Every acknowledged report is found by id while the indexer files the ids.
        for r in reports.iter().take(acknowledged as usize) {
            assert!(
                store.get(&r.id()).unwrap().is_some(),
                "report {} not found",
                r.id()
            );
        }
        let found = store.query(&all).unwrap();
        assert!(
            found.len() as u64 >= acknowledged,
            "query found {} of {acknowledged} acknowledged reports (indexed up to {})",
            found.len(),
            store.indexed_up_to()
        );
        rounds += 1;
        if writer.is_finished() && acknowledged == 300 {
            break;
        }
    }
    writer.join().unwrap();
    assert!(rounds > 1);
}

#[test]
fn large_batches_still_recognise_duplicates_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = org(1);
    let all: Vec<VerifiedReport> = (0..150).map(|i| report(&a, 7000 + i, |_| {})).collect();
    let first = all[..100].to_vec();
    let second = all[50..].to_vec();
    {
        let store = open(&dir);
        let outcomes = store.insert(first.clone(), Provenance::Local).unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, IngestOutcome::Stored { .. }))
        );
    }
    // A new process: the id filter is loaded from the store on the first large batch.
    let store = open(&dir);
    let outcomes = store.insert(second, Provenance::Local).unwrap();
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, IngestOutcome::Duplicate { .. }))
        .count();
    assert_eq!(duplicates, 50);
    assert_eq!(store.last_seq().unwrap(), 150);
    // And the same batch again, now that the filter holds everything.
    let again = store.insert(first, Provenance::Local).unwrap();
    assert!(
        again
            .iter()
            .all(|o| matches!(o, IngestOutcome::Duplicate { .. }))
    );
    assert_eq!(store.last_seq().unwrap(), 150);
}

#[test]
fn ids_are_found_whether_indexed_or_not_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = org(1);
    let reports: Vec<VerifiedReport> = (0..30).map(|i| report(&a, 9000 + i, |_| {})).collect();
    {
        let store = open(&dir);
        store.insert(reports.clone(), Provenance::Local).unwrap();
        // Index only the first 12: the rest are known by id through the unindexed map.
        store.index_pending(12).unwrap();
        for r in &reports {
            assert!(store.get(&r.id()).unwrap().is_some());
        }
    }
    let store = open(&dir);
    assert_eq!(store.indexed_up_to(), 12);
    for r in &reports {
        let stored = store.get(&r.id()).unwrap().expect("found after reopen");
        assert_eq!(stored.report.id(), r.id());
        assert_eq!(store.resolve(&r.id().to_string()[..10]).unwrap(), r.id());
    }
    while store.index_pending(7).unwrap() > 0 {}
    for r in &reports {
        assert!(store.get(&r.id()).unwrap().is_some());
    }
    // Duplicates are still recognised once everything is indexed.
    let again = store.insert(reports.clone(), Provenance::Import).unwrap();
    assert!(
        again
            .iter()
            .all(|o| matches!(o, IngestOutcome::Duplicate { .. }))
    );
}

#[test]
fn a_damaged_query_index_is_rebuilt_from_the_reports_and_an_older_one_removed() {
    let dir = tempfile::tempdir().unwrap();
    let a = org(1);
    let reports: Vec<VerifiedReport> = (0..40).map(|i| report(&a, 7000 + i, |_| {})).collect();
    let by_indicator = |r: &VerifiedReport| ReportQuery {
        indicator: Some(r.report().indicators[2].value.clone()),
        ..Default::default()
    };
    {
        let store = open(&dir);
        store.insert(reports.clone(), Provenance::Local).unwrap();
        while store.index_pending(16).unwrap() > 0 {}
    }
    // Damage one byte of every run file; leave the folder of a sled index of earlier Cairns.
    let index = dir.path().join("query-index");
    let mut damaged = 0;
    for entry in std::fs::read_dir(&index).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("run-")
        {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[0] ^= 0x40;
            std::fs::write(&path, bytes).unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0, "no run files in {}", index.display());
    std::fs::create_dir_all(dir.path().join("index")).unwrap();
    std::fs::write(dir.path().join("index/conf"), b"segment_size: 524288\n").unwrap();

    let store = open(&dir);
    assert!(!dir.path().join("index").exists(), "the old index stays");
    // Nothing is trusted from the damaged runs; every report is still found, then indexed
    // again.
    assert_eq!(store.indexed_up_to(), 0);
    for r in &reports {
        assert!(store.get(&r.id()).unwrap().is_some());
        assert_eq!(query_ids(&store, &by_indicator(r)), vec![r.id()]);
    }
    assert_eq!(store.indexed_up_to(), 40);
    assert_eq!(
        query_ids(
            &store,
            &ReportQuery {
                limit: 1000,
                ..Default::default()
            }
        )
        .len(),
        40
    );
}

#[test]
fn a_fuller_copy_replaces_a_thinner_one_and_never_the_reverse() {
    use cairn_core::DisclosureField;
    let dir = tempfile::tempdir().unwrap();
    let (author, relay) = (org(4), org(5));
    let full = report(&author, 9, |d| {
        d.internal_notes = Some("seen first on the payments gateway".into());
    });
    assert_eq!(full.disclosures().len(), 2);
    let thin = full.withhold(&[DisclosureField::Victim, DisclosureField::InternalNotes]);
    let half = full.withhold(&[DisclosureField::InternalNotes]);
    let by_relay = Provenance::Peer {
        org: relay.public(),
        hop: 1,
    };
    {
        let store = open(&dir);
        store.insert(vec![thin.clone()], by_relay).unwrap();
        let held = |store: &Store| store.get(&full.id()).unwrap().unwrap();
        assert!(held(&store).report.disclosures().is_empty());
        // The victim disclosure arrives: kept.
        let again = store.insert(vec![half.clone()], by_relay).unwrap();
        assert_eq!(
            again,
            vec![IngestOutcome::Duplicate {
                id: full.id(),
                seq: 1
            }]
        );
        assert_eq!(held(&store).report.disclosures(), half.disclosures());
        // A thinner copy later changes nothing.
        store.insert(vec![thin.clone()], by_relay).unwrap();
        assert_eq!(held(&store).report.disclosures(), half.disclosures());
        // The full copy from its author: kept, and listed so.
        store
            .insert(vec![full.clone()], Provenance::Import)
            .unwrap();
        assert_eq!(held(&store).report.envelope_bytes(), full.envelope_bytes());
        assert_eq!(
            store.after(0, 10).unwrap()[0].report.envelope_bytes(),
            full.envelope_bytes()
        );
        assert!(cairn_core::verify(held(&store).report.envelope_bytes()).is_ok());
        assert_eq!(store.last_seq().unwrap(), 1);
    }
    let store = open(&dir);
    let held = store.get(&full.id()).unwrap().unwrap();
    assert_eq!(held.report.envelope_bytes(), full.envelope_bytes());
    assert_eq!(held.provenance, by_relay, "the path is not lengthened");
}

#[test]
fn a_shorter_path_replaces_the_recorded_hop() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (relay, author_org) = (org(2), org(3));
    let r = report(&author_org, 1, |_| {});
    let far = Provenance::Peer {
        org: relay.public(),
        hop: 3,
    };
    let near = Provenance::Peer {
        org: author_org.public(),
        hop: 0,
    };
    store.insert(vec![r.clone()], far).unwrap();
    assert_eq!(store.get(&r.id()).unwrap().unwrap().provenance, far);
    // The same report straight from its author: still a duplicate, now at hop 0.
    let again = store.insert(vec![r.clone()], near).unwrap();
    assert_eq!(again, vec![IngestOutcome::Duplicate { id: r.id(), seq: 1 }]);
    assert_eq!(store.get(&r.id()).unwrap().unwrap().provenance, near);
    // A longer path later changes nothing, nor does a local or imported copy.
    store.insert(vec![r.clone()], far).unwrap();
    store.insert(vec![r.clone()], Provenance::Import).unwrap();
    assert_eq!(store.get(&r.id()).unwrap().unwrap().provenance, near);
    assert_eq!(store.last_seq().unwrap(), 1);
}

#[test]
fn cursors_never_go_back_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let node_a = [1u8; 32];
    let node_b = [2u8; 32];
    {
        let store = open(&dir);
        assert_eq!(store.cursor(&node_a).unwrap(), 0);
        store.save_cursor(&node_a, 40).unwrap();
        store.save_cursor(&node_a, 12).unwrap();
        store.save_cursor(&node_b, 7).unwrap();
        assert_eq!(store.cursor(&node_a).unwrap(), 40);
    }
    let store = open(&dir);
    assert_eq!(store.cursor(&node_a).unwrap(), 40);
    assert_eq!(store.cursor(&node_b).unwrap(), 7);
    assert_eq!(store.cursors().unwrap(), vec![(node_a, 40), (node_b, 7)]);
}

#[test]
fn only_a_reset_takes_a_cursor_back_and_it_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let node = [3u8; 32];
    {
        let store = open(&dir);
        store.save_cursor(&node, 1_000_000).unwrap();
        store.reset_cursor(&node, 0).unwrap();
        assert_eq!(store.cursor(&node).unwrap(), 0);
        store.save_cursor(&node, 10).unwrap();
    }
    let store = open(&dir);
    assert_eq!(store.cursor(&node).unwrap(), 10);
}

#[test]
fn deliveries_are_recorded_per_report_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let author = org(1);
    let bank = org(2).public();
    let ngo = org(3).public();
    let r1 = report(&author, 1, |_| {});
    let r2 = report(&author, 2, |_| {});
    {
        let store = open(&dir);
        store
            .record_deliveries(&bank, &[9; 32], &[r1.id(), r2.id()], 1_000)
            .unwrap();
        store
            .record_deliveries(&ngo, &[8; 32], &[r1.id()], 2_000)
            .unwrap();
        store.record_deliveries(&ngo, &[8; 32], &[], 3_000).unwrap();
    }
    let store = open(&dir);
    let first = store.deliveries(&r1.id()).unwrap();
    assert_eq!(first.len(), 2);
    assert!(
        first
            .iter()
            .any(|d| d.org == bank && d.at_ms == 1_000 && d.node == [9; 32])
    );
    assert!(
        first
            .iter()
            .any(|d| d.org == ngo && d.at_ms == 2_000 && d.node == [8; 32])
    );
    let second = store.deliveries(&r2.id()).unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].org, bank);
    let never = report(&author, 3, |_| {});
    assert!(store.deliveries(&never.id()).unwrap().is_empty());
}

#[test]
fn key_statements_are_kept_once_by_organisation_and_survive_reopening() {
    use cairn_core::keylog::KeyStatement;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (org(71), org(72));
    let genesis_a = KeyStatement::implicit_genesis(&a).unwrap();
    let genesis_b = KeyStatement::implicit_genesis(&b).unwrap();
    let id_a = genesis_a.organisation();
    let revocation =
        KeyStatement::revocation(id_a, &a, [9; 32], 1_000, "node stolen", 2_000).unwrap();
    {
        let store = open(&dir);
        let new = store
            .keep_statements(&[genesis_a.clone(), revocation.clone(), genesis_a.clone()])
            .unwrap();
        assert_eq!(new, vec![genesis_a.clone(), revocation.clone()]);
        let new = store
            .keep_statements(&[revocation.clone(), genesis_b.clone()])
            .unwrap();
        assert_eq!(new, vec![genesis_b.clone()], "only what was not kept yet");
    }
    let store = open(&dir);
    let mut kept = store.statements_of(&id_a).unwrap();
    kept.sort_by_key(|s| s.issued_ms);
    assert_eq!(kept, vec![genesis_a.clone(), revocation]);
    assert_eq!(
        store.statements_of(&genesis_b.organisation()).unwrap(),
        vec![genesis_b]
    );
    let all = store.all_statements().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().map(|(_, list)| list.len()).sum::<usize>(), 3);
}

#[test]
fn an_organisation_cannot_fill_the_store_with_key_statements() {
    use cairn_core::keylog::KeyStatement;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = org(73);
    let genesis = KeyStatement::implicit_genesis(&a).unwrap();
    let id = genesis.organisation();
    let mut batch = vec![genesis];
    for i in 1..cairn_store::MAX_STATEMENTS_PER_ORG as i64 {
        batch.push(KeyStatement::revocation(id, &a, [7; 32], i, "", i).unwrap());
    }
    assert_eq!(
        store.keep_statements(&batch).unwrap().len(),
        cairn_store::MAX_STATEMENTS_PER_ORG
    );
    let one_more = KeyStatement::revocation(id, &a, [7; 32], 0, "", 0).unwrap();
    let error = store.keep_statements(&[one_more]).unwrap_err().to_string();
    assert!(error.contains("more than 4096 key statements"), "{error}");
    assert_eq!(
        store.statements_of(&id).unwrap().len(),
        cairn_store::MAX_STATEMENTS_PER_ORG,
        "nothing of a refused batch is kept"
    );
}

#[test]
fn text_and_containment_searches_find_exactly_what_a_scan_finds() {
    use cairn_core::search::Container;
    use cairn_core::{IndicatorDraft, IndicatorType};
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = org(1);
    let titles = [
        "Wiper at a water utility",
        "Phishing wave against town halls",
        "Water utility phishing",
        "Botnet controllers",
    ];
    let observables: [(IndicatorType, &str); 8] = [
        (IndicatorType::Ipv4, "203.0.113.7"),
        (IndicatorType::Ipv4, "203.0.127.200"),
        (IndicatorType::Ipv4, "198.51.100.1"),
        (IndicatorType::Cidr, "203.0.113.0/28"),
        (IndicatorType::Domain, "cdn.files.example.org"),
        (IndicatorType::Url, "https://login.example.org/x"),
        (IndicatorType::Email, "billing@example.net"),
        (IndicatorType::Ipv6, "2001:db8:5::1"),
    ];
    let mut all = Vec::new();
    for n in 0..48u64 {
        let r = report(&a, 5000 + n, |d| {
            d.title = titles[(n % 4) as usize].to_string();
            d.summary = if n % 3 == 0 {
                "Seen by the CERT".into()
            } else {
                String::new()
            };
            let (kind, value) = observables[(n % 8) as usize];
            d.indicators = vec![IndicatorDraft {
                kind,
                value: value.into(),
                description: String::new(),
                file: 0,
                valid_from: None,
                valid_until: None,
            }];
        });
        all.push(r);
    }
    store.insert(all.clone(), Provenance::Local).unwrap();
    let scan = |keep: &dyn Fn(&cairn_core::Report) -> bool| {
        let mut ids: Vec<_> = all
            .iter()
            .filter(|r| keep(r.report()))
            .map(|r| r.id())
            .collect();
        ids.sort();
        ids
    };
    // Asked before the index holds them (read from the records) and after; a text search
    // reads the postings of its rarest word.
    for indexed in [false, true] {
        if indexed {
            while store.index_pending(1000).unwrap() > 0 {}
        }
        for range in [
            "203.0.113.0/24",
            "203.0.112.0/20",
            "203.0.0.0/16",
            "198.51.100.1",
            "example.org",
            "files.example.org",
            "example.net",
            "2001:db8::/32",
        ] {
            let container = Container::parse(range).unwrap();
            let query = ReportQuery {
                inside: Some(container.clone()),
                limit: 1000,
                ..Default::default()
            };
            let mut found = query_ids(&store, &query);
            found.sort();
            let wanted = scan(&|r| r.indicators.iter().any(|i| container.contains(i)));
            assert!(!wanted.is_empty(), "{range} finds something");
            assert_eq!(found, wanted, "inside {range}");
        }
        for text in [
            "water",
            "WATER phishing",
            "cert",
            "town halls",
            "at",
            "water botnet",
            "seen utility",
            "absent",
        ] {
            let query = ReportQuery {
                text: Some(text.into()),
                limit: 1000,
                ..Default::default()
            };
            let mut found = query_ids(&store, &query);
            found.sort();
            let wanted = scan(&|r| cairn_core::search::text_matches(text, &r.title, &r.summary));
            assert_eq!(found, wanted, "text {text:?}");
        }
    }
}

#[test]
fn pages_oldest_first_and_newest_first_list_every_report_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = org(1);
    let reports: Vec<VerifiedReport> = (0..37u64)
        .map(|n| {
            report(&a, 6000 + n, |d| {
                // Several reports share a creation time: arrival numbers order them.
                d.created = Some(
                    time::OffsetDateTime::from_unix_timestamp(1_790_000_000 + (n / 3) as i64)
                        .unwrap(),
                );
            })
        })
        .collect();
    store
        .insert(reports[..20].to_vec(), Provenance::Local)
        .unwrap();
    store.index_pending(usize::MAX).unwrap();
    // The rest stays past the index marker: pages merge both.
    store
        .insert(reports[20..].to_vec(), Provenance::Local)
        .unwrap();
    for oldest_first in [true, false] {
        let mut seen = Vec::new();
        let mut past = None;
        loop {
            let page = store
                .query(&ReportQuery {
                    limit: 5,
                    past,
                    oldest_first,
                    ..Default::default()
                })
                .unwrap();
            let Some(last) = page.last() else { break };
            past = Some((last.report.report().created_ms, last.seq));
            seen.extend(page.iter().map(|s| (s.report.report().created_ms, s.seq)));
        }
        let mut wanted = seen.clone();
        wanted.sort();
        if !oldest_first {
            wanted.reverse();
        }
        assert_eq!(seen, wanted, "oldest first: {oldest_first}");
        assert_eq!(seen.len(), 37, "every report once");
    }
}

#[test]
fn reports_in_and_out_are_counted_per_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = org(1);
    let reports: Vec<VerifiedReport> = (0..5).map(|n| report(&a, 7100 + n, |_| {})).collect();
    store.insert(reports.clone(), Provenance::Local).unwrap();
    let partner = org(2).public();
    let theirs: Vec<VerifiedReport> = (0..3).map(|n| report(&org(2), 7200 + n, |_| {})).collect();
    store
        .insert(
            theirs,
            Provenance::Peer {
                org: partner,
                hop: 0,
            },
        )
        .unwrap();
    let now = cairn_core::when::now_ms();
    let day = 86_400_000;
    let ids: Vec<_> = reports.iter().map(VerifiedReport::id).collect();
    store
        .record_deliveries(&partner, &[7; 32], &ids[..2], now)
        .unwrap();
    store
        .record_deliveries(&partner, &[7; 32], &ids, now - 2 * day)
        .unwrap();
    store
        .record_deliveries(&partner, &[7; 32], &ids, now - 30 * day)
        .unwrap();

    let today = cairn_core::when::utc_day(now);
    let first_day = today - 2;
    let mut arrived = std::collections::BTreeMap::new();
    let (up_to, cut_short) = store
        .count_arrivals(0, first_day, 1000, &mut arrived)
        .unwrap();
    assert_eq!(up_to, 8);
    assert!(!cut_short);
    assert_eq!(arrived, [(today, [3, 5])].into());
    let mut served = std::collections::BTreeMap::new();
    let newest = store.count_served(None, first_day, &mut served).unwrap();
    assert_eq!(served, [(today - 2, 5), (today, 2)].into());
    // The next count reads only what is new.
    store
        .insert(vec![report(&a, 7300, |_| {})], Provenance::Import)
        .unwrap();
    store
        .record_deliveries(&partner, &[7; 32], &ids[..1], now)
        .unwrap();
    let (up_to, _) = store
        .count_arrivals(up_to, first_day, 1000, &mut arrived)
        .unwrap();
    assert_eq!(up_to, 9);
    assert_eq!(arrived, [(today, [3, 6])].into());
    store.count_served(newest, first_day, &mut served).unwrap();
    assert_eq!(served, [(today - 2, 5), (today, 3)].into());
    // Reading at most four records: the day is counted in part, and said to be.
    let mut partial = std::collections::BTreeMap::new();
    let (_, cut_short) = store.count_arrivals(0, first_day, 4, &mut partial).unwrap();
    assert_eq!(partial[&today][0] + partial[&today][1], 4);
    assert!(cut_short);
}

#[test]
fn sector_region_and_principle_searches_find_exactly_what_a_scan_finds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = org(1);
    let sectors = ["health", "finance", "energy", "water"];
    let regions = ["western-africa", "EU", "south-east-asia"];
    let mut all = Vec::new();
    for n in 0..60u64 {
        let r = report(&a, 7000 + n, |d| {
            d.sectors = (0..(n % 3))
                .map(|i| sectors[((n + i) % 4) as usize].to_string())
                .collect();
            d.regions = vec![regions[(n % 3) as usize].to_string()];
            d.paris_call_principles = (1..=9).filter(|p| (n + u64::from(*p)) % 4 == 0).collect();
            d.tags = if n % 2 == 0 {
                vec!["wiper".into()]
            } else {
                vec![]
            };
        });
        all.push(r);
    }
    store.insert(all.clone(), Provenance::Local).unwrap();
    let scan = |keep: &dyn Fn(&cairn_core::Report) -> bool| {
        let mut ids: Vec<_> = all
            .iter()
            .filter(|r| keep(r.report()))
            .map(|r| r.id())
            .collect();
        ids.sort();
        ids
    };
    // Asked before the index holds them (read from the records) and after.
    for indexed in [false, true] {
        if indexed {
            while store.index_pending(1000).unwrap() > 0 {}
        }
        for sector in sectors.iter().copied().chain(["HEALTH ", "absent"]) {
            for tagged in [false, true] {
                let query = ReportQuery {
                    sector: Some(sector.into()),
                    tag: tagged.then(|| "wiper".into()),
                    limit: 1000,
                    ..Default::default()
                };
                let mut found = query_ids(&store, &query);
                found.sort();
                let s = sector.trim().to_lowercase();
                let wanted = scan(&|r| {
                    r.sectors.contains(&s) && (!tagged || r.tags.contains(&"wiper".to_string()))
                });
                assert_eq!(
                    found, wanted,
                    "sector {sector:?}, tagged {tagged}, indexed {indexed}"
                );
            }
        }
        for region in regions.iter().copied().chain(["eu"]) {
            let query = ReportQuery {
                region: Some(region.into()),
                limit: 1000,
                ..Default::default()
            };
            let mut found = query_ids(&store, &query);
            found.sort();
            let g = region.to_lowercase();
            let wanted = scan(&|r| r.regions.contains(&g));
            assert!(!wanted.is_empty());
            assert_eq!(found, wanted, "region {region:?}, indexed {indexed}");
        }
        for principle in 1..=9u8 {
            let query = ReportQuery {
                principle: Some(principle),
                region: (principle % 2 == 0).then(|| "EU".into()),
                limit: 1000,
                ..Default::default()
            };
            let mut found = query_ids(&store, &query);
            found.sort();
            let wanted = scan(&|r| {
                r.paris_call_principles.contains(&principle)
                    && (principle % 2 != 0 || r.regions.contains(&"eu".to_string()))
            });
            assert_eq!(found, wanted, "principle {principle}, indexed {indexed}");
        }
    }
}
