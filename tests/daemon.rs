//! Nodes as operators run them: `cairn run` processes, the control socket (status, peers,
//! audit, publishing, importing), a clean stop on SIGTERM, and a SIGKILL in the middle of catch-up that
//! loses nothing already stored and resumes where it stopped.

use std::collections::BTreeSet;
use std::time::Duration;

use cairn_core::{NodeCertificate, OrgKey, ReportId, sample};
use cairn_store::{Provenance, Store, StoreConfig};
use cairn_tests::processes::{CliNode, cairn_binary, wait_until};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn node_key_of(node: &CliNode) -> [u8; 32] {
    let bytes = std::fs::read(node.home.join("keys/node.cert")).unwrap();
    NodeCertificate::verify(&bytes).unwrap().node_key
}

/// A CERT and a bank, partners (the CERT shares up to AMBER, the bank GREEN), both running.
fn cert_and_bank_running(dir: &std::path::Path) -> (CliNode, CliNode) {
    let mut cert = CliNode::init(dir, "cert");
    let mut bank = CliNode::init(dir, "bank");
    cert.partner_with(&bank, "bank", "amber");
    bank.partner_with(&cert, "cert", "green");
    cert.start();
    bank.start();
    (cert, bank)
}

#[test]
fn operators_publish_watch_and_audit_through_running_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cert, mut bank) = cert_and_bank_running(dir.path());

    let published = cert.ok(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--title",
        "Phishing kit",
        "--indicator",
        "domain:login-bank.example",
    ]);
    let id = published
        .split_whitespace()
        .nth(2)
        .expect("report id")
        .to_string();
    wait_until(
        "the bank to receive the report",
        Duration::from_secs(30),
        || bank.reports() == 1,
    );

    let peers = bank.ok(&["peers"]);
    assert!(peers.contains("cert"), "{peers}");
    assert!(peers.contains("connected"), "{peers}");
    let status = cert.ok(&["status"]);
    assert!(status.contains("1 of 1 nodes connected"), "{status}");
    let audit = cert.ok(&["audit", &id[..8]]);
    assert!(audit.contains("bank"), "{audit}");
    assert!(audit.contains(&bank.peer_id), "{audit}");

    // Importing through the running node: stored, shared with the bank, and a second
    // import of the same file stores nothing new.
    let bundle = dir.path().join("feed.json");
    std::fs::write(
        &bundle,
        r#"{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [
            {"type": "indicator", "spec_version": "2.1",
             "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
             "created": "2026-11-20T10:00:00.000Z", "modified": "2026-11-20T10:00:00.000Z",
             "name": "C2 server", "pattern": "[ipv4-addr:value = '198.51.100.23']",
             "pattern_type": "stix", "valid_from": "2026-11-20T10:00:00Z",
             "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}
        ]}"#,
    )
    .unwrap();
    let bundle = bundle.to_str().unwrap();
    let first = cert.ok(&["import", bundle]);
    assert!(
        first.contains("1 object(s) in 1 new report(s): 1 imported"),
        "{first}"
    );
    wait_until(
        "the bank to receive the imported report",
        Duration::from_secs(30),
        || bank.reports() == 2,
    );
    let again = cert.ok(&["import", bundle]);
    assert!(again.contains("in 0 new report(s)"), "{again}");
    assert!(again.contains("1 duplicate(s)"), "{again}");
    assert!(again.contains("already held"), "{again}");
    assert_eq!(cert.reports(), 2);

    // While running, a STIX export is made by the node.
    let bundle: serde_json::Value =
        serde_json::from_str(&bank.ok(&["report", "export", "--all", "--format", "stix"])).unwrap();
    assert_eq!(bundle["type"], "bundle");
    assert!(
        bundle["objects"]
            .as_array()
            .is_some_and(|o| o.iter().any(|o| o["type"] == "report")),
        "{bundle}"
    );

    // SIGTERM: a clean stop; then the store is there for every command.
    assert!(bank.signal("TERM"), "the bank did not exit cleanly");
    assert!(cert.signal("TERM"), "the CERT did not exit cleanly");
    let list = bank.ok(&["report", "list"]);
    assert!(list.contains("Phishing kit"), "{list}");
    assert!(list.contains("C2 server"), "{list}");
    let audit = cert.ok(&["audit", &id[..8]]);
    assert!(audit.contains("bank"), "{audit}");
    assert!(!cert.home.join("control.sock").exists());
    // Stopped, status and peers say so, and what the home holds.
    let status = cert.ok(&["status"]);
    assert!(
        status.contains("running           no: start it with `cairn run`"),
        "{status}"
    );
    assert!(status.contains(" stored"), "{status}");
    let peers = cert.ok(&["peers"]);
    assert!(
        peers.contains("bank") && peers.contains("not running"),
        "{peers}"
    );
}

#[test]
fn a_node_killed_in_the_middle_of_catch_up_loses_nothing_and_resumes() {
    const REPORTS: u64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let mut cert = CliNode::init(dir.path(), "cert");
    let mut bank = CliNode::init(dir.path(), "bank");
    cert.partner_with(&bank, "bank", "green");
    bank.partner_with(&cert, "cert", "green");
    // Small pages: many steps to be killed in the middle of.
    bank.replace_in_config("page_size = 512", "page_size = 50");

    // The CERT already holds the reports when the bank first connects.
    let org = OrgKey::load(&cert.home.join("keys/org.key")).unwrap();
    let mut published = BTreeSet::new();
    {
        let store = Store::open(&cert.home.join("store"), &StoreConfig::default()).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        for chunk in 0..(REPORTS / 1000) {
            let reports: Vec<_> = (0..1000)
                .map(|k| {
                    let mut d = sample::indicator_report(&mut rng, chunk * 1000 + k);
                    d.victim = None;
                    d.sign(&org, &mut rng).unwrap()
                })
                .collect();
            published.extend(reports.iter().map(|r| r.id()));
            store.insert(reports, Provenance::Local).unwrap();
        }
    }
    cert.start();
    bank.start();
    wait_until("catch-up to start", Duration::from_secs(60), || {
        bank.reports() >= 500
    });
    bank.signal("KILL");

    let cert_node = node_key_of(&cert);
    let held_at_kill: BTreeSet<ReportId>;
    {
        let store = Store::open(&bank.home.join("store"), &StoreConfig::default()).unwrap();
        let stored = store.after(0, REPORTS as usize + 1).unwrap();
        held_at_kill = stored.iter().map(|s| s.report.id()).collect();
        let n = held_at_kill.len() as u64;
        assert!(n >= 500, "what was acknowledged before the kill is kept");
        assert!(n < REPORTS, "the kill came after catch-up had finished");
        assert!(held_at_kill.is_subset(&published));
        let cursor = store.cursor(&cert_node).unwrap();
        assert!(
            cursor <= n,
            "the cursor ({cursor}) is never ahead of what is stored ({n})"
        );
    }

    bank.start();
    wait_until("catch-up to finish", Duration::from_secs(180), || {
        bank.reports() == REPORTS
    });
    assert!(bank.signal("TERM"));
    assert!(cert.signal("TERM"));
    let store = Store::open(&bank.home.join("store"), &StoreConfig::default()).unwrap();
    let stored: BTreeSet<ReportId> = store
        .after(0, REPORTS as usize + 1)
        .unwrap()
        .iter()
        .map(|s| s.report.id())
        .collect();
    assert_eq!(stored, published, "exactly what the CERT holds, once each");
    assert!(held_at_kill.is_subset(&stored));
    assert_eq!(store.cursor(&cert_node).unwrap(), REPORTS);
}

/// A home folder in `dir` holding only `node`'s organisation key, as an offline machine
/// would; the key is moved off the node when `moved`, copied otherwise.
fn offline_machine(dir: &std::path::Path, node: &CliNode, moved: bool) -> std::path::PathBuf {
    let offline = dir.join("offline");
    std::fs::create_dir_all(offline.join("keys")).unwrap();
    let (from, to) = (
        node.home.join("keys").join("org.key"),
        offline.join("keys").join("org.key"),
    );
    if moved {
        std::fs::rename(from, to).unwrap();
    } else {
        std::fs::copy(from, to).unwrap();
    }
    offline
}

/// Runs `cairn --home HOME ARGS`.
fn run_at(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(cairn_binary())
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .unwrap()
}

/// A CERT and a bank, running and connected to each other.
fn cert_and_bank_connected(dir: &std::path::Path) -> (CliNode, CliNode) {
    let (cert, bank) = cert_and_bank_running(dir);
    wait_until(
        "the CERT and the bank to connect",
        Duration::from_secs(30),
        || cert.status()["peers_connected"].as_u64() == Some(1),
    );
    (cert, bank)
}

#[test]
fn an_organisation_revokes_a_node_key_with_the_cli_and_partners_cut_the_node_off() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cert, mut bank) = cert_and_bank_connected(dir.path());

    let show = bank.ok(&["org", "show"]);
    assert!(show.contains("organisation id"), "{show}");
    assert!(
        show.contains(&format!("organisation key  {}", bank.org_key)),
        "{show}"
    );
    assert!(show.contains("revoked keys      none"), "{show}");

    // What is refused, and says why.
    for (args, expected) in [
        (
            vec!["org", "revoke-node", "nonsense", "--reason", "x"],
            "is not a PeerId",
        ),
        (
            vec!["org", "revoke-node", &bank.peer_id, "--reason", " "],
            "--reason must say why",
        ),
        (
            vec![
                "org",
                "revoke-node",
                &bank.peer_id,
                "--reason",
                "x",
                "--from",
                "2999-01-01",
            ],
            "in the future",
        ),
    ] {
        assert_refused(&bank, &args, expected);
    }
    let org_key: [u8; 32] = hex::decode(&bank.org_key).unwrap().try_into().unwrap();
    let org_as_node = cairn_net::peer_id_of(&org_key).unwrap().to_string();
    let out = bank.run(&["org", "revoke-node", &org_as_node, "--reason", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is an organisation key"));

    // The bank retires this node: the CERT cuts it off at once.
    let revoked = bank.ok(&["org", "revoke-node", &bank.peer_id, "--reason", "retired"]);
    assert!(revoked.contains("sent the revocation"), "{revoked}");
    assert!(revoked.contains("this node's own key"), "{revoked}");
    wait_until(
        "the CERT to cut the bank's node off",
        Duration::from_secs(30),
        || cert.ok(&["peers"]).contains("cut off"),
    );
    let peers: serde_json::Value = serde_json::from_str(&cert.ok(&["peers", "--json"])).unwrap();
    assert_eq!(peers[0]["connected"], false, "{peers}");
    let problem = peers[0]["last_error"].as_str().unwrap();
    assert!(problem.contains("revoked this node's key"), "{problem}");
    let again = bank.run(&["org", "revoke-node", &bank.peer_id, "--reason", "retired"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already revoked"));

    // Stopped, the node shows the revocation and does not start again.
    assert!(bank.signal("TERM"), "the bank did not exit cleanly");
    let show = bank.ok(&["org", "show"]);
    assert!(
        show.contains(&format!("revoked           {}", bank.peer_id)),
        "{show}"
    );
    let out = bank.run(&["run"]);
    assert!(!out.status.success(), "a revoked node started");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("this node may not run"), "{err}");
    assert!(cert.signal("TERM"), "the CERT did not exit cleanly");
}

#[test]
fn an_organisation_key_kept_offline_certifies_a_node_and_the_node_passes_it_to_partners() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cert, mut bank) = cert_and_bank_connected(dir.path());
    let show = bank.ok(&["org", "show"]);
    assert!(show.contains("authorised nodes  none"), "{show}");

    // The offline machine holds the organisation key and nothing else.
    let offline = offline_machine(dir.path(), &bank, false);
    let on_offline = |args: &[&str]| run_at(&offline, args);
    let file = dir.path().join("bank-node.statements");
    let file_arg = file.to_str().unwrap();
    for (args, expected) in [
        (
            vec!["org", "certify", &bank.peer_id, "--may", "rule"],
            "say sign, serve",
        ),
        (
            vec!["org", "certify", &bank.peer_id, "--until", "2001-01-01"],
            "before it starts",
        ),
        (
            vec![
                "org",
                "certify",
                &bank.peer_id,
                "--from",
                "2000-01-01",
                "--until",
                "2001-01-01",
            ],
            "which is past",
        ),
        (
            vec!["org", "certify", &bank.peer_id],
            "this home holds no node",
        ),
        (vec!["org", "certify", "nonsense"], "is not a PeerId"),
    ] {
        let out = on_offline(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let out = on_offline(&[
        "org",
        "certify",
        &bank.peer_id,
        "--name",
        "node-1",
        "--days",
        "30",
        "--out",
        file_arg,
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("Authorised node"), "{said}");
    assert!(said.contains("first node authorisation"), "{said}");

    // A file that is not statements is refused with its line; nothing is kept.
    let bad = dir.path().join("bad.statements");
    std::fs::write(&bad, "# comment\n\nnot base64!\n").unwrap();
    let out = bank.run(&["org", "add-statements", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");

    // Statements of another organisation are refused by the node.
    let other = dir.path().join("other.statements");
    let out = cert.run(&[
        "org",
        "certify",
        &bank.peer_id,
        "--out",
        other.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let out = bank.run(&["org", "add-statements", other.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "another organisation's statements were kept"
    );

    // The node loads the authorisation and passes it on; the CERT keeps serving it.
    let added = bank.ok(&["org", "add-statements", file_arg]);
    assert!(added.contains("2 key statements read"), "{added}");
    assert!(added.contains("1 new"), "{added}");
    let show = bank.ok(&["org", "show"]);
    assert!(
        show.contains(&format!("authorised node   {} until", bank.peer_id)),
        "{show}"
    );
    let again = bank.ok(&["org", "add-statements", file_arg]);
    assert!(again.contains("0 new"), "{again}");
    std::thread::sleep(Duration::from_millis(1500));
    let peers: serde_json::Value = serde_json::from_str(&cert.ok(&["peers", "--json"])).unwrap();
    assert_eq!(peers[0]["connected"], true, "{peers}");
    assert!(peers[0]["last_error"].is_null(), "{peers}");

    // Stopped, the node keeps a statement file in its store.
    assert!(bank.signal("TERM"), "the bank did not exit cleanly");
    let again = bank.ok(&["org", "add-statements", file_arg]);
    assert!(again.contains("Kept in this node's store"), "{again}");
    assert!(cert.signal("TERM"), "the CERT did not exit cleanly");
}

#[test]
fn a_node_without_the_organisation_key_signs_with_its_own_key_once_authorised() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cert, mut bank) = cert_and_bank_connected(dir.path());
    // The organisation key goes to an offline machine; the node keeps its node key.
    let offline = offline_machine(dir.path(), &bank, true);
    let publish = |n: u32| {
        let domain = format!("phish-{n}.example");
        let title = format!("Phishing kit {n}");
        bank.run(&[
            "report",
            "new",
            "--kind",
            "indicator",
            "--tlp",
            "green",
            "--title",
            &title,
            "--indicator",
            &format!("domain:{domain}"),
        ])
    };
    // Not yet authorised: refused, and the message says what to do.
    let out = publish(1);
    assert!(!out.status.success(), "an unauthorised node key signed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("may not sign"), "{err}");
    assert_eq!(bank.reports(), 0);

    let file = dir.path().join("bank.statements");
    let out = run_at(
        &offline,
        &[
            "org",
            "certify",
            &bank.peer_id,
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bank.ok(&["org", "add-statements", file.to_str().unwrap()]);

    // Authorised: the node signs; the CERT receives the report as the bank's.
    let out = publish(2);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .expect("report id")
        .to_string();
    cert.wait_for_reports(1, Duration::from_secs(30));
    assert!(bank.signal("TERM"));
    assert!(cert.signal("TERM"));
    let shown: serde_json::Value =
        serde_json::from_str(&cert.ok(&["report", "show", &id, "--json"])).unwrap();
    assert_eq!(
        shown["author"].as_str(),
        Some(bank.org_key.as_str()),
        "{shown}"
    );
}

/// Runs a command on `node` that must fail with `expected` in what it says.
fn assert_refused(node: &CliNode, args: &[&str], expected: &str) {
    let out = node.run(args);
    assert!(!out.status.success(), "{args:?} was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(expected), "{args:?}: {err}");
}

/// An HTTP client that hands back error statuses as answers.
fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// `POST`s JSON to the node's API with a publish token; the status and the answer.
fn api_post(
    node: &CliNode,
    token: &str,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let agent = http_agent();
    let mut response = agent
        .post(&format!("http://127.0.0.1:{}{path}", node.api_port))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

#[test]
fn an_organisation_rotates_its_key_on_a_running_node_and_partners_carry_on_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cert, mut bank) = cert_and_bank_connected(dir.path());
    let token = bank.ok(&["token", "create", "--role", "publish", "--name", "soc"]);
    let token = token.trim().to_string();
    let draft = |n: u32| {
        serde_json::json!({
            "kind": "indicator",
            "tlp": "green",
            "title": format!("Phishing kit {n}"),
            "indicators": [{"type": "domain", "value": format!("phish-{n}.example")}],
        })
    };
    let (status, before) = api_post(&bank, &token, "/api/v1/reports", &draft(1));
    assert_eq!(status, 201, "{before}");
    let before_id = before["id"].as_str().expect("id").to_string();
    cert.wait_for_reports(1, Duration::from_secs(30));
    let old_key = std::fs::read(bank.home.join("keys/org.key")).unwrap();

    // The bank hands its organisation key over while the node runs.
    let out = bank.ok(&["org", "rotate", "--json"]);
    let rotated: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        rotated["old_key"].as_str(),
        Some(bank.org_key.as_str()),
        "{rotated}"
    );
    assert_eq!(rotated["sent_to_partners"], true, "{rotated}");
    assert_eq!(
        rotated["running_node_signs_with_new_key"], true,
        "{rotated}"
    );
    let new_key = rotated["new_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, bank.org_key);
    assert_ne!(
        std::fs::read(bank.home.join("keys/org.key")).unwrap(),
        old_key
    );
    assert!(!bank.home.join("keys/org.key.new").exists());
    let show = bank.ok(&["org", "show"]);
    assert!(
        show.contains(&format!(
            "organisation key  {} (from the start until",
            bank.org_key
        )),
        "{show}"
    );
    assert!(
        show.contains(&format!("organisation key  {new_key} (from")),
        "{show}"
    );
    // The identity partners know is unchanged.
    assert!(bank.ok(&["identity"]).contains(&bank.org_key));

    // After: the API (which now signs with the new key) and the CLI both publish; the CERT,
    // whose configuration names only the first key, takes them as the bank's.
    let (status, after) = api_post(&bank, &token, "/api/v1/reports", &draft(2));
    assert_eq!(status, 201, "{after}");
    assert_eq!(
        after["author"].as_str(),
        Some(bank.org_key.as_str()),
        "{after}"
    );
    let out = bank.publish_green(3);
    assert!(out.contains("Published report"), "{out}");
    // A retraction of the report signed before the rotation is the bank's too.
    let (status, retraction) = api_post(
        &bank,
        &token,
        &format!("/api/v1/reports/{before_id}/retract"),
        &serde_json::json!({"reason": "false positive"}),
    );
    assert_eq!(status, 201, "{retraction}");
    cert.wait_for_reports(4, Duration::from_secs(30));
    let peers: serde_json::Value = serde_json::from_str(&cert.ok(&["peers", "--json"])).unwrap();
    assert_eq!(peers[0]["connected"], true, "{peers}");
    assert!(peers[0]["last_error"].is_null(), "{peers}");

    // The succession is kept on both sides: after restarts the bank still signs with the
    // new key and the CERT still takes it.
    assert!(cert.signal("TERM"));
    assert!(bank.signal("TERM"));
    let listed = cert.ok(&["report", "list", "--json"]);
    assert!(listed.contains("Phishing kit 3"), "{listed}");
    cert.start();
    bank.start();
    bank.publish_green(4);
    cert.wait_for_reports(5, Duration::from_secs(30));

    // A second rotation. A copy of the first key left on another machine, which knows
    // nothing of the successions, hands it over a second time: the node refuses that fork,
    // and keeps signing with the key it holds.
    bank.ok(&["org", "rotate"]);
    let show: serde_json::Value =
        serde_json::from_str(&bank.ok(&["org", "show", "--json"])).unwrap();
    assert_eq!(show["org_keys"].as_array().unwrap().len(), 3, "{show}");
    let stale = dir.path().join("stale");
    std::fs::create_dir_all(stale.join("keys")).unwrap();
    std::fs::write(stale.join("keys/org.key"), &old_key).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            stale.join("keys/org.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let fork = stale.join("fork.statements");
    let out = run_at(&stale, &["org", "rotate", "--out", fork.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bank.run(&["org", "add-statements", fork.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "a second succession from one key was kept"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("handed over twice"), "{err}");
    bank.publish_green(5);
    cert.wait_for_reports(6, Duration::from_secs(30));
    let peers: serde_json::Value = serde_json::from_str(&cert.ok(&["peers", "--json"])).unwrap();
    assert!(peers[0]["last_error"].is_null(), "{peers}");
    assert!(bank.signal("TERM"));
    assert!(cert.signal("TERM"));
}

#[test]
fn a_leaked_organisation_key_is_revoked_with_the_recovery_key_and_what_the_thief_signs_is_refused()
{
    let dir = tempfile::tempdir().unwrap();
    let recovery = dir.path().join("recovery.key");
    let recovery_arg = recovery.to_str().unwrap();
    let mut cert = CliNode::init(dir.path(), "cert");
    let mut bank = CliNode::init_with(dir.path(), "bank", &["--recovery-key", recovery_arg]);
    cert.partner_with(&bank, "bank", "amber");
    bank.partner_with(&cert, "cert", "green");
    let show: serde_json::Value =
        serde_json::from_str(&bank.ok(&["org", "show", "--json"])).unwrap();
    assert_eq!(show["name"], "bank", "{show}");
    assert!(show["recovery_key"].is_string(), "{show}");
    cert.start();
    bank.start();
    wait_until(
        "the CERT and the bank to connect",
        Duration::from_secs(30),
        || cert.status()["peers_connected"].as_u64() == Some(1),
    );
    bank.publish_green(1);
    cert.wait_for_reports(1, Duration::from_secs(30));

    // A thief copies the bank's keys and configuration, and signs a report with the
    // organisation key on a node of its own making.
    let thief = dir.path().join("thief");
    std::fs::create_dir_all(thief.join("keys")).unwrap();
    for file in [
        "keys/org.key",
        "keys/node.key",
        "keys/node.cert",
        "node.toml",
    ] {
        std::fs::copy(bank.home.join(file), thief.join(file)).unwrap();
    }
    let forged = run_at(
        &thief,
        &[
            "report",
            "new",
            "--kind",
            "indicator",
            "--tlp",
            "green",
            "--title",
            "Forged advisory",
            "--indicator",
            "domain:update-bank.example",
        ],
    );
    assert!(
        forged.status.success(),
        "{}",
        String::from_utf8_lossy(&forged.stderr)
    );
    let forged_id = String::from_utf8_lossy(&forged.stdout)
        .split_whitespace()
        .nth(2)
        .expect("report id")
        .to_string();
    let forged_file = dir.path().join("forged.cairn");
    let out = run_at(
        &thief,
        &[
            "report",
            "export",
            &forged_id,
            "--out",
            forged_file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Wrong inputs are refused with what is wrong, and change nothing.
    let other = dir.path().join("other.key");
    OrgKey::generate(&mut StdRng::seed_from_u64(8))
        .save(&other)
        .unwrap();
    for (args, expected) in [
        (
            vec![
                "org",
                "recover",
                "--recovery-key",
                other.to_str().unwrap(),
                "--from",
                "1h",
                "--reason",
                "x",
            ],
            "is not the recovery key",
        ),
        (
            vec![
                "org",
                "recover",
                "--recovery-key",
                recovery_arg,
                "--from",
                "2999-01-01",
                "--reason",
                "x",
            ],
            "in the future",
        ),
        (
            vec![
                "org",
                "recover",
                "--recovery-key",
                recovery_arg,
                "--from",
                "1h",
                "--reason",
                " ",
            ],
            "--reason",
        ),
    ] {
        assert_refused(&bank, &args, expected);
    }
    let cert_org = cert.run(&[
        "org",
        "recover",
        "--recovery-key",
        recovery_arg,
        "--from",
        "1h",
        "--reason",
        "x",
    ]);
    assert!(!cert_org.status.success());
    assert!(String::from_utf8_lossy(&cert_org.stderr).contains("founded without a recovery key"));

    // The bank revokes the leaked key from an hour ago with its recovery key.
    let out = bank.ok(&[
        "org",
        "recover",
        "--recovery-key",
        recovery_arg,
        "--from",
        "1h",
        "--reason",
        "backup copied",
        "--json",
    ]);
    let recovered: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        recovered["old_key"].as_str(),
        Some(bank.org_key.as_str()),
        "{recovered}"
    );
    assert!(recovered["old_key_revoked_from"].is_string(), "{recovered}");
    assert_eq!(
        recovered["running_node_signs_with_new_key"], true,
        "{recovered}"
    );
    let show: serde_json::Value =
        serde_json::from_str(&bank.ok(&["org", "show", "--json"])).unwrap();
    assert_eq!(show["org_keys"].as_array().unwrap().len(), 2, "{show}");
    assert_eq!(
        show["authorised_nodes"].as_array().unwrap().len(),
        1,
        "{show}"
    );

    // The bank carries on with its new key; the CERT takes its reports and keeps it connected.
    bank.publish_green(2);
    cert.wait_for_reports(2, Duration::from_secs(30));
    wait_until(
        "the CERT to see the bank without a problem",
        Duration::from_secs(30),
        || {
            let peers: serde_json::Value =
                serde_json::from_str(&cert.ok(&["peers", "--json"])).unwrap();
            peers[0]["connected"] == true && peers[0]["last_error"].is_null()
        },
    );

    // What the thief signed is refused at the CERT, with why, and nothing is stored.
    assert!(cert.signal("TERM"));
    assert!(bank.signal("TERM"));
    let before = cert.ok(&["report", "list", "--json"]);
    let out = cert.run(&["report", "import", forged_file.to_str().unwrap()]);
    assert!(
        !out.status.success(),
        "the leaked key's report was imported"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("revoked"), "{err}");
    assert_eq!(cert.ok(&["report", "list", "--json"]), before);
}

#[test]
fn a_node_created_without_the_organisation_key_is_certified_from_the_offline_machine() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cert, mut bank) = cert_and_bank_connected(dir.path());
    let offline = offline_machine(dir.path(), &bank, false);

    // The bank's second node is created with the organisation key kept offline.
    let mut bank2 = CliNode::init_with(dir.path(), "bank2", &["--offline-org-key"]);
    assert!(!bank2.home.join("keys/org.key").exists());
    assert!(!bank2.home.join("keys/node.cert").exists());
    let identity = bank2.ok(&["identity"]);
    assert!(identity.contains("certified         not yet"), "{identity}");
    assert_refused(&bank2, &["run"], "no certificate yet");
    assert_refused(&bank2, &["report", "list"], "no certificate yet");

    // A file without its certificate is refused, and nothing is installed.
    let other_node = dir.path().join("other.statements");
    let out = run_at(
        &offline,
        &[
            "org",
            "certify",
            &bank.peer_id,
            "--out",
            other_node.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_refused(
        &bank2,
        &["org", "add-statements", other_node.to_str().unwrap()],
        "holds no certificate for this node",
    );
    assert!(!bank2.home.join("keys/node.cert").exists());

    // Certified on the offline machine, the node installs its certificate with the file.
    let file = dir.path().join("bank-2.statements");
    let out = run_at(
        &offline,
        &[
            "org",
            "certify",
            &bank2.peer_id,
            "--name",
            "bank-2",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added = bank2.ok(&["org", "add-statements", file.to_str().unwrap()]);
    assert!(added.contains("Certificate installed"), "{added}");
    let identity = bank2.ok(&["identity"]);
    assert!(
        identity.contains(&format!("organisation key  {}", bank.org_key)),
        "{identity}"
    );
    bank2.org_key = bank.org_key.clone();

    // The CERT lists it as a second node of the bank; the bank's first node is authorised too
    // (from the first authorisation on, partners let in only authorised nodes).
    let first_node = dir.path().join("bank-1.statements");
    let out = run_at(
        &offline,
        &[
            "org",
            "certify",
            &bank.peer_id,
            "--name",
            "bank-1",
            "--out",
            first_node.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    bank.ok(&["org", "add-statements", first_node.to_str().unwrap()]);
    assert!(cert.signal("TERM"));
    let listed = format!(
        "nodes = [{{ peer_id = \"{}\", addresses = [\"/ip4/127.0.0.1/tcp/{}\"] }}]",
        bank.peer_id, bank.port
    );
    let both = format!(
        "nodes = [{{ peer_id = \"{}\", addresses = [\"/ip4/127.0.0.1/tcp/{}\"] }}, {{ peer_id = \"{}\", addresses = [\"/ip4/127.0.0.1/tcp/{}\"] }}]",
        bank.peer_id, bank.port, bank2.peer_id, bank2.port
    );
    cert.replace_in_config(&listed, &both);
    bank2.partner_with(&cert, "cert", "green");
    cert.start();
    bank2.start();
    wait_until(
        "the CERT to connect to both bank nodes",
        Duration::from_secs(30),
        || cert.status()["peers_connected"].as_u64() == Some(2),
    );

    // It signs with its own key, as the bank.
    let out = bank2.publish_green(7);
    let id = out
        .split_whitespace()
        .nth(2)
        .expect("report id")
        .to_string();
    cert.wait_for_reports(1, Duration::from_secs(30));
    assert!(bank2.signal("TERM"));
    assert!(bank.signal("TERM"));
    assert!(cert.signal("TERM"));
    let shown: serde_json::Value =
        serde_json::from_str(&cert.ok(&["report", "show", &id, "--json"])).unwrap();
    assert_eq!(
        shown["author"].as_str(),
        Some(bank.org_key.as_str()),
        "{shown}"
    );
}

/// `GET`s JSON from the node's API; the answer.
fn api_get(node: &CliNode, token: &str, path: &str) -> serde_json::Value {
    let agent = http_agent();
    let mut response = agent
        .get(&format!("http://127.0.0.1:{}{path}", node.api_port))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{path}");
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

#[test]
fn an_organisation_runs_two_nodes_and_its_users_carry_on_through_one_when_the_other_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cert = CliNode::init(dir.path(), "cert");
    let mut bank1 = CliNode::init(dir.path(), "bank1");
    let org_key = bank1.home.join("keys/org.key");
    let mut bank2 = CliNode::init_with(
        dir.path(),
        "bank2",
        &[
            "--node-name",
            "bank-2",
            "--org-key",
            org_key.to_str().unwrap(),
        ],
    );
    assert_eq!(bank2.org_key, bank1.org_key);
    // Each bank node lists the other under [node] other_nodes; the CERT lists both.
    let other = |node: &CliNode| {
        format!(
            "other_nodes = [{{ peer_id = \"{}\", addresses = [\"/ip4/127.0.0.1/tcp/{}\"] }}]",
            node.peer_id, node.port
        )
    };
    for (node, sibling) in [(&bank1, &bank2), (&bank2, &bank1)] {
        let config = node.home.join("node.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        let text = text.replacen("[node]\n", &format!("[node]\n{}\n", other(sibling)), 1);
        std::fs::write(&config, text).unwrap();
        node.partner_with(&cert, "cert", "amber");
    }
    let checked = bank1.ok(&["config", "check"]);
    assert!(!checked.contains("problem"), "{checked}");
    cert.configure(&format!(
        "[policies.for-bank]\nmax_tlp = \"amber\"\n\n[[partners]]\nname = \"bank\"\norg_key = \"{}\"\nkind = \"company\"\npolicy = \"for-bank\"\nnodes = [{{ peer_id = \"{}\", addresses = [\"/ip4/127.0.0.1/tcp/{}\"] }}, {{ peer_id = \"{}\", addresses = [\"/ip4/127.0.0.1/tcp/{}\"] }}]\n",
        bank1.org_key, bank1.peer_id, bank1.port, bank2.peer_id, bank2.port
    ));
    // The same API tokens on both nodes, as behind a load balancer.
    let token = bank1.ok(&["token", "create", "--role", "read", "--name", "soc"]);
    let token = token.trim().to_string();
    std::fs::copy(
        bank1.home.join("tokens.json"),
        bank2.home.join("tokens.json"),
    )
    .unwrap();
    cert.start();
    bank1.start();
    bank2.start();
    wait_until("every node to connect", Duration::from_secs(30), || {
        bank1.status()["peers_connected"].as_u64() == Some(2)
            && bank2.status()["peers_connected"].as_u64() == Some(2)
    });

    // Reports written on either bank node, and the CERT's, are on both.
    bank1.publish_green(1);
    bank2.publish_green(2);
    let internal = bank1.ok(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "amber",
        "--scope",
        "organisation",
        "--title",
        "Internal only",
        "--indicator",
        "domain:intranet.example",
    ]);
    assert!(internal.contains("Published report"), "{internal}");
    let out = cert.ok(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "amber",
        "--title",
        "Botnet C2",
        "--indicator",
        "ip:203.0.113.7",
    ]);
    assert!(out.contains("Published report"), "{out}");
    bank1.wait_for_reports(4, Duration::from_secs(30));
    bank2.wait_for_reports(4, Duration::from_secs(30));
    cert.wait_for_reports(3, Duration::from_secs(30));
    let listed = |node: &CliNode| {
        let mut ids: Vec<String> = api_get(node, &token, "/api/v1/reports?limit=100")["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let before = listed(&bank1);
    assert_eq!(before.len(), 4);
    // Prometheus sees each partner node, this organisation's other node included.
    let mut scraped = http_agent()
        .get(&format!("http://127.0.0.1:{}/metrics", bank1.api_port))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    let metrics = scraped.body_mut().read_to_string().unwrap();
    let connected = |partner: &str| {
        metrics.lines().any(|l| {
            l.starts_with("cairn_peer_connected{")
                && l.contains(&format!("partner=\"{partner}\""))
                && l.ends_with(" 1")
        })
    };
    assert!(
        connected("cert") && connected("bank1 (this organisation)"),
        "{metrics}"
    );
    assert!(metrics.lines().any(|l| l == "cairn_reports 4"), "{metrics}");
    // Every metric the Grafana dashboard in deploy/ draws is one the node serves.
    let dashboard = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/cairn-node.json"),
    )
    .expect("the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    let mut drawn = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let mut rest = target["expr"].as_str().expect("an expression");
            while let Some(at) = rest.find("cairn_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                drawn.insert(name);
            }
        }
    }
    assert!(drawn.len() >= 15, "{drawn:?}");
    for name in &drawn {
        let family = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        assert!(
            metrics.contains(&format!("# TYPE {family} ")),
            "the dashboard draws {name}, which /metrics does not serve:\n{metrics}"
        );
    }
    assert_eq!(
        listed(&bank2),
        before,
        "the bank's nodes serve different reports"
    );

    // The first node dies. Its users read the same through the second, which keeps
    // receiving from the CERT and publishing to it.
    assert!(!bank1.signal("KILL"));
    assert_eq!(listed(&bank2), before);
    cert.ok(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--title",
        "New phishing wave",
        "--indicator",
        "domain:login-bank.example",
    ]);
    bank2.wait_for_reports(5, Duration::from_secs(30));
    bank2.publish_green(3);
    cert.wait_for_reports(5, Duration::from_secs(30));

    // Back, the first node catches up and serves the same again.
    bank1.start();
    bank1.wait_for_reports(6, Duration::from_secs(30));
    assert_eq!(listed(&bank1), listed(&bank2));
    assert!(bank1.signal("TERM"));
    assert!(bank2.signal("TERM"));
    assert!(cert.signal("TERM"));
}

/// A node's home written by Cairn before key statements, node certificates naming their issuer,
/// rotations and several nodes per organisation (commit 382c60e): three reports, one of them
/// retracted, and a STIX import, in `tests/fixtures/home-before-key-statements.tar.gz`.
fn home_from_before(dir: &std::path::Path) -> CliNode {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/home-before-key-statements.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(dir)
        .status()
        .expect("tar");
    assert!(status.success(), "cannot unpack {}", fixture.display());
    CliNode::existing(dir.join("bank"))
}

#[test]
fn a_home_written_before_key_statements_opens_verifies_and_serves_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = home_from_before(dir.path());
    // Stopped: everything reads back, and verifies.
    let listed: serde_json::Value =
        serde_json::from_str(&old.ok(&["report", "list", "--all-versions", "--json"])).unwrap();
    let reports = listed.as_array().expect("a list");
    assert_eq!(reports.len(), 5, "{listed}");
    for report in reports {
        let id = report["id"].as_str().unwrap();
        let shown: serde_json::Value =
            serde_json::from_str(&old.ok(&["report", "show", id, "--json"])).unwrap();
        assert_eq!(
            shown["author"].as_str(),
            Some(old.org_key.as_str()),
            "{shown}"
        );
    }
    // Its organisation is the one its first key names, with the implicit genesis.
    let show = old.ok(&["org", "show"]);
    assert!(
        show.contains(&format!(
            "organisation key  {} (from the start until now)",
            old.org_key
        )),
        "{show}"
    );

    // Running, it shares them with a new partner, and signs new reports alongside.
    let mut cert = CliNode::init(dir.path(), "cert");
    cert.partner_with(&old, "bank", "amber");
    old.partner_with(&cert, "cert", "amber");
    cert.start();
    old.start();
    old.publish_green(9);
    // What it may share of what it held (the GREEN and AMBER reports, the import), and the
    // new one: at least four.
    cert.wait_for_reports(4, Duration::from_secs(30));
    let peers: serde_json::Value = serde_json::from_str(&cert.ok(&["peers", "--json"])).unwrap();
    assert!(peers[0]["last_error"].is_null(), "{peers}");
    // And it rotates its key like any organisation.
    let rotated: serde_json::Value =
        serde_json::from_str(&old.ok(&["org", "rotate", "--json"])).unwrap();
    assert_eq!(rotated["old_key"].as_str(), Some(old.org_key.as_str()));
    let before = cert.reports();
    old.publish_green(10);
    cert.wait_for_reports(before + 1, Duration::from_secs(30));
    assert!(old.signal("TERM"));
    assert!(cert.signal("TERM"));
}

#[test]
fn a_running_node_logs_what_it_does_in_plain_text_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut cert = CliNode::init(dir.path(), "cert");
    let mut bank = CliNode::init(dir.path(), "bank");
    cert.partner_with(&bank, "bank", "amber");
    bank.partner_with(&cert, "cert", "green");
    cert.start();
    bank.start_with(&[("CAIRN_LOG_FORMAT", "json")]);
    wait_until(
        "the CERT and the bank to connect",
        Duration::from_secs(30),
        || cert.status()["peers_connected"].as_u64() == Some(1),
    );
    let out = bank.publish_green(1);
    let id = out
        .split_whitespace()
        .nth(2)
        .expect("report id")
        .to_string();
    cert.wait_for_reports(1, Duration::from_secs(30));
    assert!(bank.signal("TERM"));
    assert!(cert.signal("TERM"));

    // Written to a file, text has no colour codes; it says what came from whom.
    let text = std::fs::read_to_string(cert.home.join("run.log")).unwrap();
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file:\n{text}"
    );
    let received = text
        .lines()
        .find(|l| l.contains("report received"))
        .unwrap_or_else(|| panic!("no line for the report received:\n{text}"));
    assert!(
        received.contains(&id) && received.contains("partner=bank"),
        "{received}"
    );
    assert!(text.contains("disconnected"), "{text}");
    assert!(
        !text.contains("Some("),
        "Rust debug text in the log:\n{text}"
    );

    // JSON: one object per line, with the report published and what was served.
    let json = std::fs::read_to_string(bank.home.join("run.log")).unwrap();
    // Every line, the daemon's own stopping lines included.
    let events: Vec<serde_json::Value> = json
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let message = |e: &serde_json::Value| e["fields"]["message"].as_str().unwrap_or("").to_string();
    let published = events
        .iter()
        .find(|e| message(e) == "report published")
        .unwrap_or_else(|| panic!("no report published in:\n{json}"));
    assert_eq!(published["fields"]["report"].as_str(), Some(id.as_str()));
    assert_eq!(published["level"], "INFO");
    assert!(
        events.iter().any(|e| message(e) == "reports served"),
        "{json}"
    );
    assert!(events.iter().any(|e| message(e) == "stopped"), "{json}");
}

#[test]
fn after_a_kill_the_commands_say_the_node_is_not_running_and_what_that_means() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = CliNode::init(dir.path(), "cert");
    node.start();
    assert!(!node.signal("KILL"));
    assert!(
        node.home.join("control.sock").exists(),
        "the socket is left behind"
    );
    let status = node.ok(&["status"]);
    assert!(
        status.contains("stopped without closing its control socket"),
        "{status}"
    );
    // Published while it is down: stored here, and said to wait for the node.
    let out = node.publish_green(1);
    assert!(out.contains("Published report"), "{out}");
    assert!(out.contains("which is not running"), "{out}");
    // Started again, it removes the stale socket and answers.
    node.start();
    assert_eq!(node.reports(), 1);
    assert!(node.signal("TERM"));
}

#[test]
fn a_partner_node_that_is_down_is_reported_with_why_until_it_comes_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut cert = CliNode::init(dir.path(), "cert");
    let mut bank = CliNode::init(dir.path(), "bank");
    cert.partner_with(&bank, "bank", "amber");
    bank.partner_with(&cert, "cert", "green");
    cert.start();
    let peers =
        || -> serde_json::Value { serde_json::from_str(&cert.ok(&["peers", "--json"])).unwrap() };
    wait_until(
        "the bank to be reported unreachable",
        Duration::from_secs(30),
        || {
            peers()[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("unreachable: ") && !e.contains('\n'))
        },
    );
    let text = cert.ok(&["peers"]);
    assert!(text.contains("unreachable"), "{text}");
    bank.start();
    wait_until("the bank to connect", Duration::from_secs(30), || {
        let p = peers();
        p[0]["connected"] == true && p[0]["last_error"].is_null()
    });
    assert!(bank.signal("TERM"));
    assert!(cert.signal("TERM"));
}

#[test]
fn report_commands_work_alike_on_a_running_and_a_stopped_node() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cert, mut bank) = cert_and_bank_connected(dir.path());
    let first = bank.publish_green(1);
    let first = first.split_whitespace().nth(2).unwrap().to_string();
    bank.publish_green(2);
    cert.wait_for_reports(2, Duration::from_secs(30));

    // Running: list, show, history and export read through the node.
    let list_running = bank.ok(&["report", "list", "--json"]);
    let show_running = bank.ok(&["report", "show", &first[..12], "--json"]);
    let table_running = bank.ok(&["report", "list"]);
    let history_running = bank.ok(&["report", "history", &first[..12]]);
    let explain_running = bank.ok(&["policy", "explain", "--report", &first[..12], "--all-peers"]);
    assert!(explain_running.contains("cert"), "{explain_running}");
    let exported = dir.path().join("first.cairn");
    bank.ok(&[
        "report",
        "export",
        &first[..12],
        "--out",
        exported.to_str().unwrap(),
    ]);
    let verified = bank.ok(&["report", "verify", exported.to_str().unwrap()]);
    assert!(verified.contains(&first), "{verified}");
    // Imported into the running CERT, which holds it already from the federation.
    let imported = cert.ok(&["report", "import", exported.to_str().unwrap()]);
    assert!(
        imported.contains("was already stored") && imported.contains("0 failed"),
        "{imported}"
    );
    // A file that is not a report is refused with why, and the node carries on.
    let junk = dir.path().join("junk.cairn");
    std::fs::write(&junk, b"not a report").unwrap();
    let out = cert.run(&["report", "import", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not imported"));
    // Retracted while running: the node stores the retraction and the CERT receives it.
    let out = bank.ok(&[
        "report",
        "retract",
        &first[..12],
        "--reason",
        "false positive",
    ]);
    assert!(out.contains("Retracted report"), "{out}");
    cert.wait_for_reports(3, Duration::from_secs(30));
    let after_running = bank.ok(&["report", "list", "--all-versions"]);
    assert!(after_running.contains("[retracted by"), "{after_running}");
    let stix_running = bank.ok(&["report", "export", "--all", "--format", "stix"]);
    // The public site, built through the running node: no public advisory here.
    let site = dir.path().join("site");
    let built = bank.ok(&["site", "build", site.to_str().unwrap()]);
    assert!(built.contains("(0 advisories)"), "{built}");
    assert!(site.join("index.html").exists() && site.join("advisories.atom").exists());

    // Stopped: the same answers.
    assert!(bank.signal("TERM"));
    assert!(cert.signal("TERM"));
    let list_stopped = bank.ok(&["report", "list", "--all-versions", "--json"]);
    let listed: Vec<serde_json::Value> = serde_json::from_str(&list_stopped).unwrap();
    assert_eq!(listed.len(), 3);
    let before: Vec<serde_json::Value> = serde_json::from_str(&list_running).unwrap();
    assert_eq!(before.len(), 2);
    let stix_stopped = bank.ok(&["report", "export", "--all", "--format", "stix"]);
    let (running, stopped): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&stix_running).unwrap(),
        serde_json::from_str(&stix_stopped).unwrap(),
    );
    assert_eq!(running["objects"], stopped["objects"]);
    let show_stopped = bank.ok(&["report", "show", &first[..12], "--json"]);
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&show_running).unwrap(),
        serde_json::from_str(&show_stopped).unwrap(),
    );
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["title"], b["title"]);
    assert_eq!(a["status"], "current");
    assert!(
        b["status"].as_str().unwrap().starts_with("retracted by"),
        "{b}"
    );
    assert_eq!(
        bank.ok(&["report", "history", &first[..12]])
            .lines()
            .count(),
        history_running.lines().count() + 1
    );
    assert!(table_running.contains("2 report(s)"), "{table_running}");
    assert_eq!(
        bank.ok(&["policy", "explain", "--report", &first[..12], "--all-peers"]),
        explain_running
    );
}

#[test]
fn observance_trends_are_the_same_from_a_stopped_and_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut cert = CliNode::init(dir.path(), "cert");
    let incident = |n: u32, principles: &[&str], region: &str| {
        let title = format!("Ransomware at hospital {n}");
        let mut args = vec![
            "report", "new", "--kind", "incident", "--tlp", "green", "--title", &title, "--region",
            region, "--sector", "health",
        ];
        for p in principles {
            args.extend(["--principle", p]);
        }
        cert.ok(&args);
    };
    for n in 0..3 {
        incident(n, &["2"], "west-africa");
    }
    incident(3, &["2", "5"], "baltic");
    let stopped = cert.ok(&["observance", "--json"]);
    let view: serde_json::Value = serde_json::from_str(&stopped).unwrap();
    assert_eq!(view["reports"], 4, "{stopped}");
    let counts: Vec<(String, u64, String, u64)> = view["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["quarter"].as_str().unwrap().to_string(),
                c["principle"].as_u64().unwrap(),
                c["region"].as_str().unwrap().to_string(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts.len(), 3, "{stopped}");
    assert!(counts.contains(&(counts[0].0.clone(), 2, "west-africa".into(), 3)));
    cert.start();
    assert_eq!(cert.ok(&["observance", "--json"]), stopped);
    let table = cert.ok(&["observance", "--mine", "--min-count", "2"]);
    assert!(
        table.contains("west-africa") && !table.contains("baltic"),
        "{table}"
    );
    assert!(table.contains("2 cell(s) under 2 left out"), "{table}");
    let refused = cert.run(&["observance", "--principle", "12"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("12"));

    // Its own figures, published: cells under 2 left out, and merged back as the federation's.
    let out = cert.ok(&["observance", "publish", "--min-count", "2"]);
    assert!(
        out.contains("Published the observance figures as report")
            && out.contains("2 under 2 left out"),
        "{out}"
    );
    let merged = cert.ok(&["observance", "--federation", "--json"]);
    let view: serde_json::Value = serde_json::from_str(&merged).unwrap();
    assert_eq!(view["organisations"], 1, "{merged}");
    let cells = view["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 1, "{merged}");
    assert_eq!(
        (cells[0]["region"].as_str(), cells[0]["count"].as_u64()),
        (Some("west-africa"), Some(3))
    );
    let both = cert.run(&["observance", "--mine", "--federation"]);
    assert!(!both.status.success());
    let bad = cert.run(&["observance", "publish", "--epsilon", "0"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("epsilon 0 is not a positive number"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn partners_that_only_exchange_files_pass_bundles_with_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut cert = CliNode::init(dir.path(), "cert");
    let mut ngo = CliNode::init(dir.path(), "ngo");
    cert.partner_with(&ngo, "ngo", "green");
    ngo.partner_with(&cert, "cert", "green");
    let first = dir.path().join("to-ngo-1.cairn");
    let first_arg = first.to_str().unwrap();
    // The running node writes bundles, and the command says so when there is none.
    let refused = cert.run(&["bundle", "export", "--for", "ngo", "--out", first_arg]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("cairn run"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    cert.start();
    cert.publish_green(1);
    cert.publish_green(2);
    let written = cert.ok(&["bundle", "export", "--for", "ngo", "--out", first_arg]);
    assert!(written.contains("2 reports for ngo"), "{written}");
    // A file is never replaced, and a partner must be in the trust list.
    let again = cert.run(&["bundle", "export", "--for", "ngo", "--out", first_arg]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let stranger = cert.run(&["bundle", "export", "--for", "nobody", "--out", "x.cairn"]);
    assert!(String::from_utf8_lossy(&stranger.stderr).contains("no partner named \"nobody\""));
    assert!(cert.signal("TERM"), "the CERT stops cleanly");

    ngo.start();
    let read = ngo.ok(&["bundle", "import", first_arg]);
    assert!(
        read.contains("From cert: 2 stored, 0 already held, 0 refused."),
        "{read}"
    );
    assert_eq!(ngo.reports(), 2);
    let json = ngo.ok(&["bundle", "import", first_arg, "--json"]);
    let view: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (view["stored"].as_u64(), view["duplicates"].as_u64()),
        (Some(0), Some(2))
    );
    // Not a bundle: refused, saying so, with nothing stored.
    let garbage = dir.path().join("garbage.cairn");
    std::fs::write(&garbage, b"this is not a bundle").unwrap();
    let refused = ngo.run(&["bundle", "import", garbage.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not a Cairn bundle"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(ngo.reports(), 2);
}

#[test]
fn an_import_through_a_running_node_places_another_tools_sightings() {
    let dir = tempfile::tempdir().unwrap();
    let mut cert = CliNode::init(dir.path(), "cert");
    cert.start();
    let published = cert.publish_green(1);
    let id = published
        .split_whitespace()
        .nth(2)
        .expect("report id")
        .to_string();
    // The indicator as the node exports it, which another tool then says it saw: the tool
    // names only that STIX id, so the running node must say which report exports it.
    let exported: serde_json::Value =
        serde_json::from_str(&cert.ok(&["report", "export", &id[..8], "--format", "stix"]))
            .unwrap();
    let indicator = exported["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "indicator")
        .expect("an exported indicator")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let sightings = dir.path().join("sightings.json");
    std::fs::write(
        &sightings,
        serde_json::json!({
            "type": "bundle",
            "id": "bundle--00000000-0000-4000-8000-000000000001",
            "objects": [{
                "type": "sighting", "spec_version": "2.1",
                "id": "sighting--00000000-0000-4000-8000-000000000001",
                "created": "2026-12-01T10:00:00.000Z", "modified": "2026-12-01T10:00:00.000Z",
                "sighting_of_ref": indicator, "count": 4,
                "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
            }, {
                "type": "sighting", "spec_version": "2.1",
                "id": "sighting--00000000-0000-4000-8000-000000000002",
                "created": "2026-12-01T10:00:00.000Z", "modified": "2026-12-01T10:00:00.000Z",
                "sighting_of_ref": "indicator--00000000-0000-4000-8000-0000000000aa", "count": 1,
                "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
            }]
        })
        .to_string(),
    )
    .unwrap();
    let imported = cert.ok(&["import", sightings.to_str().unwrap()]);
    assert!(
        imported.contains("2 object(s) in 2 new report(s)"),
        "{imported}"
    );
    let listed = cert.ok(&["sighting", "list", &id[..8]]);
    assert!(listed.contains("domain:phish-1.example"), "{listed}");
    assert!(listed.contains("seen 4 time(s)"), "{listed}");
    // The sighting of an object no report here exports is carried as it came: not listed.
    assert!(!listed.contains("seen 1 time(s)"), "{listed}");
    assert!(cert.signal("TERM"), "the CERT did not exit cleanly");
}
