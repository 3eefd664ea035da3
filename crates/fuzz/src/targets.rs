//! The decoders fuzzed, each fed whatever bytes the fuzzer makes: what a peer sends (report
//! envelopes, sync messages, node certificates), what a file or a client hands the node
//! (STIX bundles and TAXII envelopes, MISP events, report drafts as JSON).

use cairn_core::{NodeCertificate, OrgKey, OrgPublicKey, ReportDraft, VerifiedReport};

use crate::Target;

/// Every target.
pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "envelope",
            reads: "a signed report envelope from a peer, or read back from the store",
            text: false,
            run: envelope,
        },
        Target {
            name: "wire-request",
            reads: "a /cairn/sync/1 request from a peer",
            text: false,
            run: wire_request,
        },
        Target {
            name: "wire-response",
            reads: "a /cairn/sync/1 answer from a peer",
            text: false,
            run: wire_response,
        },
        Target {
            name: "bundle",
            reads: "a store-and-forward bundle file a partner wrote, as it is and as a body signed by the node its certificate names",
            text: false,
            run: bundle,
        },
        Target {
            name: "certificate",
            reads: "a node certificate a peer introduces itself with",
            text: false,
            run: certificate,
        },
        Target {
            name: "key-statement",
            reads: "an organisation's key statement (genesis, node authorisation, succession, revocation), then a key log built with it",
            text: false,
            run: key_statement,
        },
        Target {
            name: "stix-import",
            reads: "a STIX 2.1 bundle, list, object or TAXII envelope (cairn import, TAXII POST)",
            text: true,
            run: stix_import,
        },
        Target {
            name: "misp-import",
            reads: "MISP event JSON (cairn import)",
            text: true,
            run: misp_import,
        },
        Target {
            name: "tokens-file",
            reads: "the API's token file (tokens.json), then tokens checked against it",
            text: true,
            run: tokens_file,
        },
        Target {
            name: "taxii-query",
            reads: "a TAXII 2.1 query string (limit, next, added_after, match[...])",
            text: true,
            run: taxii_query,
        },
        Target {
            name: "node-toml",
            reads: "node.toml: every table, the sharing sections and what `cairn config check` says",
            text: true,
            run: node_toml,
        },
        Target {
            name: "report-draft",
            reads: "a report draft as JSON (cairn report new --file, the API), then a retraction of it with the input as its reason",
            text: true,
            run: report_draft,
        },
    ]
}

/// The organisation imports are made for (any key will do).
fn us() -> OrgPublicKey {
    OrgKey::from_secret_bytes(&[9; 32]).public()
}

/// Signs what an import mapped, as `cairn import` would (the first few reports).
fn sign_some(imported: &cairn_interop::import::Imported) {
    let org = OrgKey::from_secret_bytes(&[9; 32]);
    for report in imported.reports.iter().take(4) {
        let _ = report.sign(&org);
    }
}

/// Lets every node key sign for every organisation, so that the fuzzer reaches the signature
/// check of node-signed envelopes (format 2) too.
struct AnyNodeMaySign;

impl cairn_core::Signers for AnyNodeMaySign {
    fn may_sign(&self, _: &cairn_core::OrgPublicKey, _: &[u8; 32], _: i64) -> Result<(), String> {
        Ok(())
    }

    fn first_key_may_sign(&self, _: &cairn_core::OrgPublicKey, _: i64) -> Result<(), String> {
        Ok(())
    }
}

fn envelope(data: &[u8]) {
    let verified = cairn_core::verify(data);
    let with_signers = cairn_core::verify_with(data, &AnyNodeMaySign);
    if verified.is_ok() && with_signers.is_err() {
        panic!("verifies without key statements but not with them");
    }
    if let Ok(report) = with_signers {
        // What a node reads of what it stored.
        let bytes = report.envelope_bytes();
        let _ = cairn_core::stored_marking(bytes);
        let _ = cairn_core::stored_stix_objects(bytes);
        let _ = cairn_core::id_of_stored(bytes);
        let _ = VerifiedReport::from_stored(bytes);
        let _ = report.withhold(&[cairn_core::DisclosureField::Victim]);
    }
    // Stored bytes are trusted to have been verified, but must still never panic.
    let _ = VerifiedReport::from_stored(data);
    let _ = cairn_core::stored_marking(data);
    let _ = cairn_core::stored_stix_objects(data);
}

fn wire_request(data: &[u8]) {
    if let Ok(request) = cairn_net::Request::decode(data) {
        let _ = cairn_net::Request::decode(&request.encode());
    }
}

fn wire_response(data: &[u8]) {
    if let Ok(response) = cairn_net::Response::decode(data) {
        let _ = cairn_net::Response::decode(&response.encode());
    }
}

/// The node key whose certificate the bundle seeds carry.
pub const BUNDLE_SEED_NODE: [u8; 32] = [7; 32];

fn bundle(data: &[u8]) {
    let _ = cairn_core::bundle::open(data);
    // The same bytes as a body, signed by the node the seeds' certificate names, to reach what
    // is read after the signature.
    let node = cairn_core::NodeKey::from_secret_bytes(&BUNDLE_SEED_NODE);
    let sealed = cairn_core::bundle::seal_encoded(data.to_vec(), &node);
    if let Ok(opened) = cairn_core::bundle::open(&sealed) {
        let again = cairn_core::bundle::open(&cairn_core::bundle::seal(&opened.body, &node))
            .expect("a bundle written again from what was read opens");
        assert_eq!(again.body, opened.body, "a bundle reads back differently");
    }
}

fn certificate(data: &[u8]) {
    let _ = NodeCertificate::verify(data);
}

fn key_statement(data: &[u8]) {
    use cairn_core::keylog::{KeyLog, KeyStatement, Purpose};
    let Ok(statement) = KeyStatement::verify(data) else {
        return;
    };
    let _ = KeyStatement::verify(statement.to_bytes());
    let first = OrgKey::from_secret_bytes(&[9; 32]);
    let mut statements = vec![statement.clone()];
    if let Ok(genesis) = KeyStatement::genesis(&first, "fuzz", None, 0) {
        statements.push(genesis);
    }
    if let Ok(log) = KeyLog::build(&statements) {
        let _ = log.check(&statement.signer, Purpose::SignReports, statement.issued_ms);
        let _ = log.org_key_at(statement.issued_ms);
    }
}

fn stix_import(data: &[u8]) {
    let options = cairn_interop::import::ImportOptions::default();
    if let Ok(imported) = cairn_interop::stix::import_bundle(data, &us(), &options) {
        sign_some(&imported);
    }
}

fn misp_import(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let options = cairn_interop::import::ImportOptions::default();
    if let Ok(imported) = cairn_interop::misp::import_events(text, &us(), &options) {
        sign_some(&imported);
    }
}

fn report_draft(data: &[u8]) {
    let org = OrgKey::from_secret_bytes(&[9; 32]);
    if let Ok(draft) = serde_json::from_slice::<ReportDraft>(data)
        && let Ok(report) = draft.sign_imported(&org, "fuzz")
    {
        // The API's other body: the reason of a retraction, here the input as text.
        let reason = String::from_utf8_lossy(data);
        let _ = cairn_core::retract(&report, &reason, &org, &mut rand::rngs::OsRng);
    }
}

fn node_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Certificate paths are read relative to a folder that does not exist.
    let path = std::path::Path::new("/nonexistent/cairn-fuzz/node.toml");
    if let Ok((config, issues)) = cairn::config::NodeConfig::from_text(path, text)
        && issues.is_empty()
    {
        let _ = config.to_toml();
        let _ = cairn::sharing::summary(&config.sharing());
    }
}

fn tokens_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(tokens) = cairn_api::Tokens::from_text(std::path::Path::new("tokens.json"), text) {
        for record in tokens.records() {
            let _ = tokens.role_of(&record.name);
        }
        let _ = tokens.role_of(text);
    }
}

fn taxii_query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = cairn_api::taxii::check_query(text);
}
