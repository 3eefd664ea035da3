//! Partners as operators add and remove them on running nodes: signed invitations instead of
//! hand-typed keys, node.toml edited with its comments kept, the trust list reloaded without a
//! restart (`cairn config reload`, SIGHUP), a bad file refused with the running configuration
//! kept, and a removed partner disconnected at once.

use std::time::Duration;

use cairn_tests::processes::{CliNode, wait_until};

fn peers(node: &CliNode) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&node.ok(&["peers", "--json"]))
        .expect("peers JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn connected_to(node: &CliNode, other: &CliNode) -> bool {
    peers(node)
        .iter()
        .any(|p| p["peer_id"] == other.peer_id.as_str() && p["connected"] == true)
}

fn refused(node: &CliNode, args: &[&str]) -> String {
    let out = node.run(args);
    assert!(!out.status.success(), "{args:?} was accepted");
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Two organisations with a policy each and no partners, running.
fn two_running(dir: &std::path::Path) -> (CliNode, CliNode) {
    let mut cert = CliNode::init(dir, "cert");
    let mut bank = CliNode::init(dir, "bank");
    for node in [&cert, &bank] {
        node.configure("# Who may see what.\n[policies.partners]\nmax_tlp = \"green\"\n");
    }
    cert.start();
    bank.start();
    (cert, bank)
}

#[test]
fn partners_join_by_invitation_and_leave_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut cert, mut bank) = two_running(dir.path());

    // Each side invites the other and adds the other's invitation while running.
    let cert_invitation = cert.ok(&["invite", "--kind", "cert", "--region", "EU"]);
    let added = bank.ok(&[
        "partner",
        "add",
        cert_invitation.trim(),
        "--policy",
        "partners",
    ]);
    assert!(added.contains("Added partner cert"), "{added}");
    assert!(added.contains("The running node took it"), "{added}");
    assert!(added.contains(&cert.org_key), "{added}");
    let file = dir.path().join("bank-invitation.txt");
    let bank_invitation = bank.ok(&["invite", "--kind", "company", "--sector", "finance"]);
    std::fs::write(&file, &bank_invitation).unwrap();
    cert.ok(&[
        "partner",
        "add",
        file.to_str().unwrap(),
        "--policy",
        "partners",
    ]);
    let config = std::fs::read_to_string(cert.home.join("node.toml")).unwrap();
    assert!(
        config.contains("# Who may see what."),
        "comments lost:\n{config}"
    );
    assert!(config.contains("sector = \"finance\""), "{config}");

    wait_until("the two nodes to connect", Duration::from_secs(30), || {
        connected_to(&cert, &bank) && connected_to(&bank, &cert)
    });
    cert.publish_green(1);
    bank.wait_for_reports(1, Duration::from_secs(30));
    let listed: serde_json::Value =
        serde_json::from_str(&cert.ok(&["partner", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["name"], "bank");
    assert_eq!(listed[0]["kind"], "company");
    assert_eq!(listed[0]["nodes"][0]["connected"], true);

    // A file with a problem is refused whole; the node keeps running as it was.
    let path = cert.home.join("node.toml");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        good.replace("policy = \"partners\"", "policy = \"nobody\""),
    )
    .unwrap();
    let error = refused(&cert, &["config", "reload"]);
    assert!(
        error.contains("unknown policy \"nobody\"") && error.contains("keeps running"),
        "{error}"
    );
    std::fs::write(&path, &good).unwrap();
    assert!(connected_to(&cert, &bank));

    // Removed: disconnected at once, and nothing more reaches the bank.
    let removed = cert.ok(&["partner", "remove", "bank"]);
    assert!(removed.contains("disconnected"), "{removed}");
    assert!(peers(&cert).is_empty(), "{:?}", peers(&cert));
    wait_until(
        "the bank to see the CERT go",
        Duration::from_secs(10),
        || !connected_to(&bank, &cert),
    );
    cert.publish_green(2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(bank.reports(), 1);

    // Listed again by hand, and taken on SIGHUP: the bank catches up.
    cert.partner_with(&bank, "bank-again", "green");
    cert.send_signal("HUP");
    wait_until(
        "the nodes to connect again",
        Duration::from_secs(30),
        || connected_to(&cert, &bank) && connected_to(&bank, &cert),
    );
    bank.wait_for_reports(2, Duration::from_secs(30));
    let log = std::fs::read_to_string(cert.home.join("run.log")).unwrap();
    assert!(log.contains("SIGHUP: node.toml reloaded"), "{log}");
    assert!(cert.signal("TERM"));
    assert!(bank.signal("TERM"));
}

#[test]
fn a_damaged_or_unusable_invitation_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cert = CliNode::init(dir.path(), "cert");
    let bank = CliNode::init(dir.path(), "bank");
    bank.configure("[policies.partners]\nmax_tlp = \"green\"\n");
    let config = || std::fs::read_to_string(bank.home.join("node.toml")).unwrap();
    let before = config();

    let invitation = cert.ok(&["invite", "--kind", "cert"]).trim().to_string();
    // One character changed in the middle: refused, never added with other content.
    let mut damaged: Vec<char> = invitation.chars().collect();
    let middle = damaged.len() / 2;
    damaged[middle] = if damaged[middle] == 'A' { 'B' } else { 'A' };
    let damaged: String = damaged.into_iter().collect();
    let error = refused(&bank, &["partner", "add", &damaged, "--policy", "partners"]);
    assert!(
        error.contains("refused") || error.contains("damaged"),
        "{error}"
    );
    let error = refused(&bank, &["partner", "add", "hello", "--policy", "partners"]);
    assert!(error.contains("cairn-invite-1."), "{error}");
    // An unknown policy: the file would be invalid, so it is left as it was.
    let error = refused(
        &bank,
        &["partner", "add", &invitation, "--policy", "nobody"],
    );
    assert!(
        error.contains("unknown policy") && error.contains("partners"),
        "{error}"
    );
    // The organisation's own invitation is not a partner's.
    let own = bank.ok(&["invite"]).trim().to_string();
    let error = refused(&bank, &["partner", "add", &own, "--policy", "partners"]);
    assert!(error.contains("own organisation"), "{error}");
    // Removing a partner that is not there names those that are.
    let error = refused(&bank, &["partner", "remove", "cert"]);
    assert!(error.contains("no partner is named"), "{error}");
    assert_eq!(config(), before);

    // Without a kind, the invitation does not say what the organisation is: asked for.
    let unsaid = cert.ok(&["invite"]).trim().to_string();
    let error = refused(&bank, &["partner", "add", &unsaid, "--policy", "partners"]);
    assert!(error.contains("--kind"), "{error}");
    // A listen address of every interface needs --address.
    let open = CliNode::init(dir.path(), "open");
    open.replace_in_config(
        &format!("/ip4/127.0.0.1/tcp/{}", open.port),
        "/ip4/0.0.0.0/tcp/7400",
    );
    let error = refused(&open, &["invite"]);
    assert!(error.contains("--address"), "{error}");
    let bad = refused(&open, &["invite", "--address", "127.0.0.1:7400"]);
    assert!(bad.contains("/ip4/127.0.0.1/tcp/7400"), "{bad}");
    let error = refused(&cert, &["invite", "--expires", "soon"]);
    assert!(error.contains("7d"), "{error}");
    assert_eq!(config(), before);

    // Added on a stopped node: taken when it starts.
    let added = bank.ok(&["partner", "add", &invitation, "--policy", "partners"]);
    assert!(added.contains("when it starts"), "{added}");
    let reload = bank.ok(&["config", "reload"]);
    assert!(reload.contains("No node is running"), "{reload}");
}
