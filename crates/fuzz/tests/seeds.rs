//! The seed corpus: written once by `cargo test -p cairn-fuzz --test seeds -- --ignored` (from
//! Cairn's own samples and the public STIX and MISP samples in ../shared/interop) and kept in
//! the repository; the tests here check that every target has seeds and that they are read.

use std::path::Path;

use cairn_core::{NodeCertificate, NodeKey, OrgKey, Tlp, sample};
use cairn_net::{Page, PassedReport, Request, Response};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = cairn_fuzz::seed_dir().join(target);
    std::fs::create_dir_all(&dir).expect("seed folder");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

fn copy(target: &str, from: &Path) {
    let name = from
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a file name");
    write(target, name, &std::fs::read(from).expect("a shared sample"));
}

/// A report signed by a node key for its organisation (written in envelope format 2; the
/// format of the day when written again).
#[test]
#[ignore = "writes a seed; run once, then commit seeds/"]
fn write_the_node_signed_envelope_seed() {
    let mut rng = StdRng::seed_from_u64(12);
    let org = OrgKey::generate(&mut rng);
    let node = NodeKey::generate(&mut rng);
    let signer = cairn_core::ReportSigner::Node {
        author: org.public(),
        node: &node,
    };
    let report = sample::indicator_report(&mut rng, 5)
        .sign(signer, &mut rng)
        .expect("a valid sample");
    write("envelope", "node-signed.bin", report.envelope_bytes());
}

/// Reports in envelope format 3 (signatures over the report id), by the organisation key and
/// by a node key. The other envelope seeds were written in formats 1 and 2, and are kept so
/// that the fuzzer goes on reading the formats stores and partners still hold.
#[test]
#[ignore = "writes seeds; run once, then commit seeds/"]
fn write_the_format_3_envelope_seeds() {
    let mut rng = StdRng::seed_from_u64(13);
    let org = OrgKey::generate(&mut rng);
    let node = NodeKey::generate(&mut rng);
    let by_org = sample::indicator_report(&mut rng, 6)
        .sign(&org, &mut rng)
        .expect("a valid sample");
    write(
        "envelope",
        "format-3-org-signed.bin",
        by_org.envelope_bytes(),
    );
    let signer = cairn_core::ReportSigner::Node {
        author: org.public(),
        node: &node,
    };
    let by_node = sample::indicator_report(&mut rng, 7)
        .sign(signer, &mut rng)
        .expect("a valid sample");
    write(
        "envelope",
        "format-3-node-signed.bin",
        by_node.envelope_bytes(),
    );
}

#[test]
#[ignore = "writes the seed corpus; run once, then commit seeds/"]
fn write_the_seed_corpus() {
    write_the_node_signed_envelope_seed();
    let mut rng = StdRng::seed_from_u64(11);
    let org = OrgKey::generate(&mut rng);
    let mut envelopes = Vec::new();
    for (n, tlp) in [Tlp::Clear, Tlp::Green, Tlp::Amber, Tlp::Red]
        .into_iter()
        .enumerate()
    {
        let mut draft = sample::indicator_report(&mut rng, n as u64);
        draft.tlp = Some(tlp);
        if tlp == Tlp::Red {
            draft.recipients = vec![OrgKey::generate(&mut rng).public()];
            draft.scope = None;
            draft.hop_limit = None;
        }
        if tlp == Tlp::Amber {
            draft.scope = None;
            draft.hop_limit = None;
        }
        let report = draft.sign(&org, &mut rng).expect("a valid sample");
        write(
            "envelope",
            &format!("report-{n}.bin"),
            report.envelope_bytes(),
        );
        envelopes.push(report);
    }
    let carried =
        std::fs::read_to_string("../../../shared/interop/stix/indicator-for-malicious-url.json")
            .expect("a shared STIX sample");
    let options = cairn_interop::import::ImportOptions::default();
    let imported = cairn_interop::stix::import_bundle(carried.as_bytes(), &org.public(), &options)
        .expect("imports");
    let with_stix = imported.reports[0]
        .draft
        .sign_imported(&org, &imported.reports[0].source_id)
        .expect("signs");
    write("envelope", "carried-stix.bin", with_stix.envelope_bytes());

    let node = NodeKey::generate(&mut rng);
    let certificate =
        NodeCertificate::issue(&org, node.public_bytes(), "node-1", 1_700_000_000_000);
    write("certificate", "node-1.bin", certificate.to_bytes());

    let statement_bytes: Vec<Vec<u8>> = {
        use cairn_core::keylog::{KeyStatement, Purpose};
        let (recovery, next) = (OrgKey::generate(&mut rng), OrgKey::generate(&mut rng));
        let genesis =
            KeyStatement::genesis(&org, "CERT-Example", Some(*recovery.public().as_bytes()), 1)
                .expect("a genesis");
        let id = genesis.defines().expect("an organisation id");
        let node_key = node.public_bytes();
        let statements = [
            ("genesis.bin", genesis.clone()),
            (
                "node.bin",
                KeyStatement::authorise_node(
                    id,
                    &org,
                    node_key,
                    "node-1",
                    &[Purpose::SignReports, Purpose::ServePartners],
                    1,
                    1_000_000,
                    2,
                )
                .expect("an authorisation"),
            ),
            (
                "succession.bin",
                KeyStatement::succession(id, &org, *org.public().as_bytes(), &next, 3)
                    .expect("a succession"),
            ),
            (
                "revocation.bin",
                KeyStatement::revocation(id, &recovery, node_key, 4, "stolen", 5)
                    .expect("a revocation"),
            ),
        ];
        for (name, statement) in &statements {
            write("key-statement", name, statement.to_bytes());
        }
        statements
            .iter()
            .map(|(_, s)| s.to_bytes().to_vec())
            .collect()
    };

    let requests = [
        Request::Hello {
            certificate: certificate.to_bytes().to_vec(),
            statements: statement_bytes.clone(),
            clock_ms: 0,
        },
        Request::Statements {
            statements: statement_bytes[3..].to_vec(),
        },
        Request::Notify {
            head: 42,
            again: Vec::new(),
        },
        Request::Pull {
            after: 7,
            limit: 512,
        },
        Request::Fetch {
            report_id: *envelopes[0].id().as_bytes(),
        },
        Request::Notify {
            head: 43,
            again: envelopes
                .iter()
                .map(|r| cairn_net::Offered {
                    report_id: *r.id().as_bytes(),
                    hop: 1,
                    disclosures: 0,
                })
                .collect(),
        },
    ];
    for (n, request) in requests.iter().enumerate() {
        write(
            "wire-request",
            &format!("request-{n}.bin"),
            &request.encode(),
        );
    }
    let responses = [
        Response::Hello {
            certificate: certificate.to_bytes().to_vec(),
            statements: statement_bytes.clone(),
            clock_ms: 0,
        },
        Response::Ack,
        Response::Page(Page {
            reports: envelopes
                .iter()
                .map(|r| PassedReport {
                    envelope: r.envelope_bytes().to_vec(),
                    hop: 1,
                })
                .collect(),
            through: 9,
            more: true,
            head: 20,
        }),
        Response::Fetched(Some(PassedReport {
            envelope: envelopes[1].envelope_bytes().to_vec(),
            hop: 0,
        })),
        Response::Fetched(None),
        Response::Refused("busy".into()),
    ];
    for (n, response) in responses.iter().enumerate() {
        write(
            "wire-response",
            &format!("response-{n}.bin"),
            &response.encode(),
        );
    }

    for name in [
        "indicator-for-malicious-url.json",
        "malware-indicator-for-file-hash.json",
        "using-tlp2.0-green.json",
        "using-marking-definitions.json",
        "tlp2-all-levels.json",
    ] {
        copy(
            "stix-import",
            &Path::new("../../../shared/interop/stix").join(name),
        );
    }
    write(
        "stix-import",
        "taxii-envelope.json",
        br#"{"objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2026-11-01T10:00:00.000Z","modified":"2026-11-01T10:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'c2.example']","pattern_type":"stix","valid_from":"2026-11-01T10:00:00Z"}]}"#,
    );
    for name in [
        "misp_event.json",
        "test_events_collection_1.json",
        "57c4445b-c548-4654-af0b-4be3950d210f.json",
    ] {
        copy(
            "misp-import",
            &Path::new("../../../shared/interop/misp").join(name),
        );
    }
    write(
        "report-draft",
        "indicator.json",
        br#"{"kind":"indicator","title":"Phishing domains","tlp":"green","tags":["phishing"],"indicators":[{"type":"domain","value":"login-bank.example"},{"type":"ipv4","value":"198.51.100.7","description":"sender"}],"victim":"A regional bank"}"#,
    );
    write(
        "report-draft",
        "red.json",
        br#"{"kind":"incident","title":"Ransomware at a hospital","tlp":"red","scope":"direct-peers","severity":"critical","confidence":80,"created":"2026-11-30T08:00:00Z","summary":"Encrypted file servers.","paris_call_principles":[1,3],"internal_notes":"do not share"}"#,
    );
}

#[test]
fn every_target_has_seeds_that_it_reads_without_panicking() {
    for target in cairn_fuzz::targets::all() {
        let corpus = cairn_fuzz::seeds(&cairn_fuzz::seed_dir(), &target)
            .unwrap_or_else(|e| panic!("{}: no seeds: {e}", target.name));
        assert!(!corpus.is_empty(), "{}: no seeds", target.name);
        for input in &corpus {
            (target.run)(input);
        }
    }
}

/// A bundle with two reports, as written (read as it is), and its body alone (read as a body
/// the seeds' node signed).
#[test]
#[ignore = "writes a seed; run once, then commit seeds/"]
fn write_the_bundle_seeds() {
    use cairn_core::bundle::{BundleBody, BundledReport, seal};
    let mut rng = StdRng::seed_from_u64(13);
    let org = OrgKey::generate(&mut rng);
    let node = NodeKey::from_secret_bytes(&cairn_fuzz::targets::BUNDLE_SEED_NODE);
    let certificate = NodeCertificate::issue(&org, node.public_bytes(), "cert-1", 1_000);
    let reports: Vec<BundledReport> = (0..2)
        .map(|n| BundledReport {
            envelope: sample::indicator_report(&mut rng, n)
                .sign(&org, &mut rng)
                .expect("a valid sample")
                .envelope_bytes()
                .to_vec(),
            hop: n as u32,
        })
        .collect();
    let body = BundleBody {
        certificate: certificate.to_bytes().to_vec(),
        statements: Vec::new(),
        recipient: OrgKey::generate(&mut rng).public(),
        created_ms: 1_800_000_000_000,
        after: 3,
        through: 9,
        head: 9,
        more: false,
        reports,
    };
    let sealed = seal(&body, &node);
    write("bundle", "two-reports.bin", &sealed);
    let opened = cairn_core::bundle::open(&sealed).expect("opens");
    assert_eq!(opened.body, body);
    // The body alone: the bytes the signature covers, after the context.
    let encoded = <cairn_proto::v1::Bundle as prost::Message>::decode(sealed.as_slice())
        .expect("a bundle")
        .body;
    write("bundle", "two-reports-body.bin", &encoded);
}

/// A report of observance figures (kind `observance`, TLP:CLEAR, a few cells).
#[test]
#[ignore = "writes a seed; run once, then commit seeds/"]
fn write_the_observance_envelope_seed() {
    use cairn_core::observance::{Aggregate, Cell};
    let mut rng = StdRng::seed_from_u64(14);
    let org = OrgKey::generate(&mut rng);
    let mut figures = Aggregate {
        min_count: 5,
        suppressed: 3,
        ..Aggregate::default()
    };
    for (principle, region, count) in [
        (1, "west-africa", 7),
        (2, "baltic", 12),
        (6, "unspecified", 5),
    ] {
        figures.counts.insert(
            Cell {
                quarter: "2026-Q4".parse().unwrap(),
                measure: cairn_core::observance::Measure::Principle(principle),
                region: region.into(),
                sector: "health".into(),
            },
            count,
        );
    }
    let report = cairn_core::ReportDraft {
        kind: Some(cairn_core::ReportKind::Observance),
        title: "Paris Call observance figures".into(),
        tlp: Some(Tlp::Clear),
        language: Some("en".into()),
        observance: Some(figures),
        ..cairn_core::ReportDraft::default()
    }
    .sign(&org, &mut rng)
    .expect("valid figures");
    write(
        "envelope",
        "observance-figures.bin",
        report.envelope_bytes(),
    );
}

/// An incident coded for norms observance (norms, countries, operation, impact, attribution),
/// and its STIX form with Cairn's incident-coding extension for the import target.
#[test]
#[ignore = "writes a seed; run once, then commit seeds/"]
fn write_the_coded_incident_seeds() {
    use cairn_core::coding::{AttributionClaim, GgeNorm, ImpactLevel, IncidentCoding, Operation};
    let mut rng = StdRng::seed_from_u64(15);
    let org = OrgKey::generate(&mut rng);
    let report = cairn_core::ReportDraft {
        kind: Some(cairn_core::ReportKind::Incident),
        title: "Wiper at a water utility".into(),
        tlp: Some(Tlp::Green),
        paris_call_principles: vec![6],
        regions: vec!["western-africa".into()],
        sectors: vec!["water".into()],
        coding: Some(IncidentCoding {
            gge_norms: vec![GgeNorm::F, GgeNorm::G],
            countries: vec!["SN".into()],
            operations: vec![Operation::Destruction],
            impact: Some(ImpactLevel::Significant),
            impact_kinds: Vec::new(),
            attributions: vec![AttributionClaim {
                attributed_to: "Unnamed state actor".into(),
                actor_type: None,
                claimed_by: "National CERT".into(),
                claimant_type: None,
                confidence: 60,
                claimed_on: Some("2026-11-20".into()),
                source: None,
            }],
        }),
        ..cairn_core::ReportDraft::default()
    }
    .sign(&org, &mut rng)
    .expect("a valid coding");
    write("envelope", "coded-incident.bin", report.envelope_bytes());
    let context = cairn_interop::stix::ExportContext {
        author_name: None,
        first: (report.id(), report.report().created_ms),
        sighting_of: None,
    };
    let bundle =
        cairn_interop::stix::bundle(cairn_interop::stix::report_objects(&report, &context));
    write(
        "stix-import",
        "coded-incident.json",
        serde_json::to_string(&bundle).unwrap().as_bytes(),
    );
}

/// A directory entry (a capacity need with topics, countries, languages, validity).
#[test]
#[ignore = "writes a seed; run once, then commit seeds/"]
fn write_the_directory_entry_seed() {
    use cairn_core::directory::{DirectoryEntry, EntryType, Topic};
    let mut rng = StdRng::seed_from_u64(16);
    let org = OrgKey::generate(&mut rng);
    let report = cairn_core::ReportDraft {
        kind: Some(cairn_core::ReportKind::DirectoryEntry),
        title: "CSIRT training for Sahel NGOs".into(),
        tlp: Some(Tlp::Clear),
        regions: vec!["western-africa".into()],
        directory_entry: Some(DirectoryEntry {
            entry_type: EntryType::CapacityNeed,
            topics: vec![Topic::IncidentResponse, Topic::Workforce],
            countries: vec!["SN".into()],
            languages: vec!["fr".into()],
            contact: "cert@example.sn".into(),
            url: Some("https://cert.example.sn/needs".into()),
            valid_until: Some(4_102_444_799_999),
        }),
        ..cairn_core::ReportDraft::default()
    }
    .sign(&org, &mut rng)
    .expect("a valid entry");
    write("envelope", "directory-entry.bin", report.envelope_bytes());
}
