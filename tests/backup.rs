//! Backups as operators take them: `cairn backup` of a running node while it stores and serves,
//! a node killed (SIGKILL) in the middle of a backup, which leaves no folder that passes for a
//! backup and loses nothing, and `cairn restore` into an empty home, which verifies every
//! report and resumes with the partner without pulling everything again.

use std::time::Duration;

use cairn_tests::processes::{CliNode, cairn_binary, wait_until};

/// `cairn --home HOME ARGS...`.
fn cairn_at(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(cairn_binary())
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("CAIRN_HOME")
        .output()
        .expect("run cairn")
}

fn publish(node: &CliNode, from: u32, to: u32) {
    for n in from..to {
        node.publish_green(n);
    }
}

fn import_many(node: &CliNode, dir: &std::path::Path, n: usize) {
    // A STIX bundle of `n` indicators, one report per 100 or so: a store large enough that a
    // backup takes a while.
    let objects: Vec<serde_json::Value> = (0..n).map(cairn_core::sample::stix_indicator).collect();
    let bundle = serde_json::json!({
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000001",
        "objects": objects
    });
    let path = dir.join("bulk.json");
    std::fs::write(&path, serde_json::to_vec(&bundle).unwrap()).unwrap();
    node.ok(&["import", path.to_str().unwrap()]);
}

#[test]
fn a_backup_of_a_running_node_restores_verified_and_resumes_with_its_partner() {
    let dir = tempfile::tempdir().unwrap();
    let mut cert = CliNode::init(dir.path(), "cert");
    let mut bank = CliNode::init(dir.path(), "bank");
    cert.partner_with(&bank, "bank", "amber");
    bank.partner_with(&cert, "cert", "green");
    cert.start();
    bank.start();
    publish(&cert, 0, 20);
    bank.wait_for_reports(20, Duration::from_secs(30));
    bank.ok(&["token", "create", "--role", "read", "--name", "grafana"]);

    // Taken while the node runs and while reports keep arriving.
    let backup = dir.path().join("bank-backup");
    let out = bank.ok(&["backup", backup.to_str().unwrap()]);
    assert!(out.contains("while the node ran"), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup.join("backup.json")).unwrap()).unwrap();
    let backed_up = manifest["reports"].as_u64().unwrap();
    assert!(backed_up >= 20, "{manifest}");
    let error = bank.run(&["backup", backup.to_str().unwrap()]);
    assert!(
        !error.status.success(),
        "a backup over an existing folder was taken"
    );

    // The bank's machine is lost; its backup comes back on a new one (the same node).
    let _ = bank.signal("KILL");
    publish(&cert, 20, 25);
    let served_before = cert.status()["served"].as_u64().unwrap();
    let restored_home = dir.path().join("bank-restored");
    let out = cairn_at(&restored_home, &["restore", backup.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("{backed_up} reports, each verified")),
        "{text}"
    );
    assert!(
        text.contains("keys") && text.contains("node.toml") && text.contains("API tokens"),
        "{text}"
    );
    // The restored node.toml keeps the bank's address, where the CERT dials it.
    let mut node = CliNode::existing(restored_home.clone());
    assert_eq!(node.peer_id, bank.peer_id);
    node.start();
    wait_until(
        "the restored node to catch up",
        Duration::from_secs(30),
        || node.reports() >= 25,
    );
    // Only what arrived after the backup was served again, not everything.
    let served = cert.status()["served"].as_u64().unwrap() - served_before;
    assert_eq!(
        served,
        25 - backed_up,
        "the CERT served {served} reports again"
    );
    // A restore never runs over an existing store.
    let again = node.run(&["restore", backup.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(node.signal("TERM"));
    assert!(cert.signal("TERM"));
}

#[test]
fn a_node_killed_in_the_middle_of_a_backup_loses_nothing_and_leaves_no_false_backup() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = CliNode::init(dir.path(), "cert");
    node.start();
    import_many(&node, dir.path(), 20_000);
    let stored = node.reports();
    assert!(stored >= 5, "{stored}");
    for (round, delay_ms) in [0u64, 20, 60, 150].into_iter().enumerate() {
        let target = dir.path().join(format!("backup-{round}"));
        let mut backup = node
            .command(&["backup", target.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = node.signal("KILL");
        let _ = backup.wait();
        // Either a complete backup, or none: what is left is named .partial.
        if target.exists() {
            assert!(target.join("backup.json").exists(), "round {round}");
        }
        let partial = dir.path().join(format!("backup-{round}.partial"));
        eprintln!(
            "round {round}: killed after {delay_ms} ms: complete backup {}, partial {}",
            target.exists(),
            partial.exists()
        );
        if partial.exists() {
            let restore_home = dir.path().join(format!("restore-partial-{round}"));
            let out = cairn_at(&restore_home, &["restore", partial.to_str().unwrap()]);
            assert!(!out.status.success(), "a partial backup was restored");
            let error = String::from_utf8_lossy(&out.stderr);
            assert!(error.contains("not a complete backup"), "{error}");
        }
        // The node starts again with everything it held.
        node.start();
        assert_eq!(node.reports(), stored, "round {round}");
    }
    // And a backup taken afterwards, over the leftovers, is whole and restores.
    let target = dir.path().join("backup-0");
    let _ = std::fs::remove_dir_all(&target);
    let out = node.ok(&["backup", target.to_str().unwrap()]);
    assert!(
        out.contains(&format!("Backed up {stored} reports")),
        "{out}"
    );
    assert!(node.signal("TERM"));
    let home = dir.path().join("restored");
    let out = cairn_at(&home, &["restore", target.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{stored} reports, each verified"))
    );
}
