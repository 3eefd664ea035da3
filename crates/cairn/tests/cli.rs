//! The `cairn` command line as users run it: exit codes, one-line errors, files in and out,
//! and bad input that must leave the store unchanged.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let node = Node {
            dir: tempfile::tempdir().unwrap(),
        };
        let out = node.run(&["init", "--organisation", "CERT-Test"]);
        assert!(out.status.success(), "{}", stderr(&out));
        node
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("node")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
        cmd.arg("--home")
            .arg(self.home())
            .args(args)
            .env_remove("CAIRN_HOME");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cairn {args:?} failed: {}",
            stderr(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command that must fail, and returns its one-line error.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "cairn {args:?} should have failed");
        let err = stderr(&out);
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "error is not one line: {err}"
        );
        assert!(err.starts_with("error: "), "{err}");
        err
    }

    fn list_json(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["report", "list", "--all-versions", "--json"])).unwrap()
    }

    fn publish(&self, extra: &[&str]) -> String {
        let mut args = vec!["report", "new", "--json"];
        args.extend_from_slice(extra);
        let json: serde_json::Value = serde_json::from_str(&self.ok(&args)).unwrap();
        json["id"].as_str().unwrap().to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const GREEN: &[&str] = &[
    "--kind",
    "indicator",
    "--tlp",
    "green",
    "--title",
    "Phishing kit",
    "--indicator",
    "domain:Login-Bank.Example",
    "--indicator",
    "ipv4:198.51.100.7",
    "--tag",
    "phishing",
    "--victim",
    "Bank A",
    "--notes",
    "internal",
];

#[test]
fn init_creates_private_keys_and_refuses_to_overwrite() {
    let node = Node::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["org.key", "node.key"] {
            let mode = std::fs::metadata(node.home().join("keys").join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
    }
    let before = std::fs::read(node.home().join("keys/org.key")).unwrap();
    let err = node.fails(&["init", "--organisation", "Other"]);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(
        std::fs::read(node.home().join("keys/org.key")).unwrap(),
        before
    );
    let identity = node.ok(&["identity"]);
    assert!(
        identity.contains("CERT-Test") && identity.contains("12D3KooW"),
        "{identity}"
    );
    // The address to give partners, as the guide says.
    assert!(
        identity.contains(
            "listening on      /ip4/0.0.0.0/tcp/7400: give partners /ip4/THIS_MACHINE'S_ADDRESS/tcp/7400"
        ),
        "{identity}"
    );
}

#[test]
fn commands_without_a_node_say_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--home")
        .arg(dir.path())
        .args(["report", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("init --organisation"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn publish_list_show_and_search() {
    let node = Node::new();
    let id = node.publish(GREEN);
    let table = node.ok(&["report", "list"]);
    assert!(
        table.contains(&id[..12]) && table.contains("TLP:GREEN"),
        "{table}"
    );
    let shown = node.ok(&["report", "show", &id[..10]]);
    assert!(shown.contains("login-bank.example"), "{shown}");
    assert!(shown.contains("2 of 2 present"), "{shown}");
    let hits = node.ok(&[
        "report",
        "list",
        "--indicator",
        "LOGIN-BANK.example",
        "--json",
    ]);
    let hits: Vec<serde_json::Value> = serde_json::from_str(&hits).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["tlp"], "green");
    assert_eq!(hits[0]["status"], "current");
    // Inside a range or under a domain, and by words of the title.
    for search in [
        ["--inside", "198.51.100.0/24"],
        ["--inside", "Login-Bank.example"],
        ["--text", "KIT phishing"],
    ] {
        let hits = node.ok(&["report", "list", search[0], search[1], "--json"]);
        let hits: Vec<serde_json::Value> = serde_json::from_str(&hits).unwrap();
        assert_eq!(hits.len(), 1, "{search:?}");
    }
    // Not inside: another range, and a domain that only ends with the same letters.
    for outside in ["198.51.101.0/24", "bank.example"] {
        let none = node.ok(&["report", "list", "--inside", outside, "--json"]);
        assert_eq!(none.trim(), "[]", "{outside}");
    }
    let err = node.fails(&["report", "list", "--inside", "198.51.100.1/24"]);
    assert!(
        err.contains("--inside") && err.contains("198.51.100.0/24"),
        "{err}"
    );
    let none = node.ok(&["report", "list", "--tlp", "red"]);
    assert!(none.contains("No reports match"), "{none}");
}

#[test]
fn reports_from_toml_and_json_files() {
    let node = Node::new();
    let toml_file = node.path("report.toml");
    std::fs::write(
        &toml_file,
        r#"
kind = "incident"
title = "Intrusion at a water utility"
tlp = "amber+strict"
severity = "critical"
created = "2026-11-01T09:30:00Z"
sectors = ["water"]
paris_call_principles = [1]
victim = "Utility X"

[[indicators]]
type = "ipv6"
value = "2001:DB8::77"
description = "VPN login source"
"#,
    )
    .unwrap();
    let out = node.ok(&[
        "report",
        "new",
        "--file",
        toml_file.to_str().unwrap(),
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["tlp"], "amber+strict");
    assert_eq!(json["created"], "2026-11-01T09:30:00Z");
    assert_eq!(json["indicators"][0]["value"], "2001:db8::77");
    assert_eq!(json["distribution"]["scope"], "direct-peers");
    let json_file = node.path("report.json");
    std::fs::write(
        &json_file,
        r#"{"kind":"advisory","title":"Patch now","tlp":"clear"}"#,
    )
    .unwrap();
    node.ok(&["report", "new", "--file", json_file.to_str().unwrap()]);
    assert_eq!(node.list_json().len(), 2);

    let typo = node.path("typo.toml");
    std::fs::write(
        &typo,
        "kind = \"advisory\"\ntitle = \"x\"\ntlp = \"clear\"\nseverty = \"low\"\n",
    )
    .unwrap();
    let err = node.fails(&["report", "new", "--file", typo.to_str().unwrap()]);
    assert!(err.contains("severty") && err.contains("line 4"), "{err}");
    let bad_tlp = node.path("bad-tlp.json");
    std::fs::write(
        &bad_tlp,
        r#"{"kind":"advisory","title":"x","tlp":"purple"}"#,
    )
    .unwrap();
    let err = node.fails(&["report", "new", "--file", bad_tlp.to_str().unwrap()]);
    assert!(err.contains("unknown TLP label \"purple\""), "{err}");
    assert_eq!(node.list_json().len(), 2, "bad input changed the store");
}

#[test]
fn invalid_input_names_the_field_and_value_and_stores_nothing() {
    let node = Node::new();
    let refused =
        |extra: &[&str]| node.fails(&[&["report", "new", "--title", "x"], extra].concat());
    let err = refused(&[
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--indicator",
        "ipv4:300.1.2.3",
    ]);
    assert!(err.contains("ipv4") && err.contains("300.1.2.3"), "{err}");
    let err = refused(&["--kind", "indicator", "--tlp", "purple"]);
    assert!(err.contains("purple"), "{err}");
    let err = refused(&["--kind", "incident", "--tlp", "red"]);
    assert!(err.contains("recipients"), "{err}");
    let err = refused(&[
        "--kind",
        "incident",
        "--tlp",
        "amber",
        "--scope",
        "community",
    ]);
    assert!(err.contains("distribution.scope"), "{err}");
    let err = refused(&["--kind", "incident", "--tlp", "green", "--principle", "12"]);
    assert!(
        err.contains("paris_call_principles[0]") && err.contains("12"),
        "{err}"
    );
    assert!(node.list_json().is_empty());
}

#[test]
fn export_withhold_verify_and_import_on_another_node() {
    let author = Node::new();
    let partner = Node::new();
    let id = author.publish(GREEN);
    let file = author.path("copy.cairn");
    author.ok(&[
        "report",
        "export",
        &id[..8],
        "--withhold",
        "victim",
        "--out",
        file.to_str().unwrap(),
    ]);
    let verdict = author.ok(&["report", "verify", file.to_str().unwrap()]);
    assert!(
        verdict.contains("Valid") && verdict.contains("1 of 2 disclosure(s) present, 1 withheld"),
        "{verdict}"
    );
    let imported = partner.ok(&["report", "import", file.to_str().unwrap()]);
    assert!(imported.contains("1 stored"), "{imported}");
    let again = partner.ok(&["report", "import", file.to_str().unwrap()]);
    assert!(again.contains("already stored"), "{again}");
    let shown: serde_json::Value =
        serde_json::from_str(&partner.ok(&["report", "show", &id, "--json"])).unwrap();
    assert_eq!(shown["withheld_disclosures"], 1);
    assert_eq!(shown["disclosures"][0]["field"], "internal-notes");
    assert_eq!(shown["provenance"], "imported from a file");
    // Only the author may retract it.
    let err = partner.fails(&["report", "retract", &id]);
    assert!(err.contains("only its author can retract it"), "{err}");
}

fn assert_import_refused(node: &Node, file: &Path, expect: &str) {
    let before = node.list_json();
    let out = node.run(&["report", "import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(expect),
        "expected {expect:?} in: {}",
        stderr(&out)
    );
    let verify = node.run(&["report", "verify", file.to_str().unwrap()]);
    assert!(!verify.status.success());
    assert_eq!(
        node.list_json(),
        before,
        "a refused import changed the store"
    );
}

#[test]
fn bad_files_are_refused_and_change_nothing() {
    let node = Node::new();
    let id = node.publish(GREEN);
    let good = node.path("good.cairn");
    node.ok(&["report", "export", &id, "--out", good.to_str().unwrap()]);
    let bytes = std::fs::read(&good).unwrap();

    let truncated = node.path("truncated.cairn");
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    assert_import_refused(&node, &truncated, "not imported");

    let garbage = node.path("garbage.cairn");
    std::fs::write(&garbage, b"\x00\x01\x02 this is not a report \xff\xfe").unwrap();
    assert_import_refused(&node, &garbage, "not a Cairn report");

    let empty = node.path("empty.cairn");
    std::fs::write(&empty, b"").unwrap();
    assert_import_refused(&node, &empty, "is empty");

    let huge = node.path("huge.cairn");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(50 * 1000 * 1000).unwrap();
    assert_import_refused(&node, &huge, "a Cairn report is at most");

    // Written by a newer Cairn: the envelope starts with its format version (field 1 = 3,
    // the format this node writes; see docs/REPORT-FORMAT.md).
    assert_eq!(
        &bytes[..2],
        &[0x08, 0x03],
        "envelope no longer starts with its version"
    );
    let mut future = bytes.clone();
    future[1] = 0x09;
    let newer = node.path("newer.cairn");
    std::fs::write(&newer, &future).unwrap();
    assert_import_refused(&node, &newer, "newer than this node understands");

    // A flipped bit anywhere in the signed body.
    for i in [10, bytes.len() / 2, bytes.len() - 200] {
        let mut tampered = bytes.clone();
        tampered[i] ^= 0x08;
        let path = node.path(&format!("tampered-{i}.cairn"));
        std::fs::write(&path, &tampered).unwrap();
        assert_import_refused(&node, &path, "not imported");
    }
}

#[test]
fn versions_and_retractions_from_the_command_line() {
    let node = Node::new();
    let v1 = node.publish(GREEN);
    let mut args = GREEN.to_vec();
    args.extend_from_slice(&["--supersedes", &v1[..12]]);
    let v2 = node.publish(&args);
    let current: Vec<serde_json::Value> =
        serde_json::from_str(&node.ok(&["report", "list", "--json"])).unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], v2.as_str());
    let history: Vec<serde_json::Value> =
        serde_json::from_str(&node.ok(&["report", "history", &v1, "--json"])).unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history[0]["status"]
            .as_str()
            .unwrap()
            .starts_with("superseded by")
    );
    let out = node.ok(&["report", "retract", &v2, "--reason", "false positive"]);
    assert!(out.contains("Retracted report"), "{out}");
    assert!(node.ok(&["report", "list"]).contains("No reports match"));
    let shown = node.ok(&["report", "show", &v2]);
    assert!(shown.contains("retracted by"), "{shown}");
    // Every version listed says where it stands.
    let all = node.ok(&["report", "list", "--all-versions"]);
    let line = |id: &str| {
        all.lines()
            .find(|l| l.starts_with(&id[..12]))
            .unwrap_or_else(|| panic!("{id} not listed:\n{all}"))
            .to_string()
    };
    assert!(line(&v1).contains("[superseded by"), "{all}");
    assert!(line(&v2).contains("[retracted by"), "{all}");
    let history = node.ok(&["report", "history", &v1]);
    assert!(history.contains("[retracted by"), "{history}");
}

/// The README's first command: three organisations on loopback, and exactly the deliveries
/// their rules allow.
#[test]
fn federation_demo_delivers_what_the_rules_allow_and_says_why_not() {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("demo")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let section = |name: &str| -> String {
        let start = text
            .find(&format!("  {name} ("))
            .unwrap_or_else(|| panic!("{text}"));
        let rest = &text[start..];
        let end = rest[3..].find("\n\n").map_or(rest.len(), |e| e + 3);
        rest[..end].to_string()
    };
    let received = |section: &str, title: &str| {
        section
            .lines()
            .any(|l| l.trim_start().starts_with('+') && l.contains(title))
    };
    let refused = |section: &str, title: &str, why: &str| {
        section
            .lines()
            .any(|l| l.trim_start().starts_with('-') && l.contains(title) && l.contains(why))
    };
    let cert = section("CERT-Nationale");
    let bank = section("Bank-A");
    let ngo = section("NGO-Watch");
    for title in [
        "Card-skimming malware",
        "Fraud by an insider",
        "Payment-message credential theft",
        "Spyware sent to journalists",
        "Harassment campaign",
    ] {
        assert!(received(&cert, title), "{title}: {cert}");
    }
    assert!(
        received(&bank, "Mule accounts"),
        "RED to its recipient: {bank}"
    );
    assert!(received(&bank, "Phishing kit"), "{bank}");
    assert!(
        refused(&bank, "Intrusion at a regional hospital", "incident"),
        "{bank}"
    );
    assert!(
        refused(&bank, "Harassment campaign", "never passed on"),
        "{bank}"
    );
    assert!(
        received(&ngo, "Card-skimming malware") && ngo.contains("relayed by CERT-Nationale"),
        "GREEN community report relayed: {ngo}"
    );
    assert!(
        refused(&ngo, "Mule accounts", "recipients the author named"),
        "{ngo}"
    );
    assert!(
        refused(&ngo, "Fraud by an insider", "never passed on"),
        "{ngo}"
    );
    assert!(
        refused(&ngo, "Payment-message credential theft", "finance-isac"),
        "{ngo}"
    );
    assert!(
        refused(&ngo, "Command servers seized", "law-enforcement"),
        "{ngo}"
    );
    assert!(
        refused(&ngo, "Intrusion at a regional hospital", "up to TLP:GREEN"),
        "{ngo}"
    );
    assert!(text.contains("All three nodes stopped cleanly"), "{text}");
}

#[test]
fn one_node_demo_runs_to_the_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["demo", "--one-node"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[8/8] Done"), "{text}");
    assert!(
        text.contains("ngo-watch  does not: this partner may receive up to TLP:GREEN only"),
        "{text}"
    );
    assert!(
        text.contains(
            "bank-a     does not: TLP:RED reports go only to the recipients the author named"
        ),
        "{text}"
    );
    assert!(
        text.contains("1 of 2 disclosure(s) present, 1 withheld"),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
}

#[test]
fn reports_can_be_addressed_to_a_community() {
    let node = Node::new();
    let out = node.ok(&[
        "report",
        "new",
        "--kind",
        "advisory",
        "--tlp",
        "green",
        "--title",
        "Sector alert",
        "--community",
        "finance-isac",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["distribution"]["community"], "finance-isac");
    let shown = node.ok(&["report", "show", json["id"].as_str().unwrap()]);
    assert!(shown.contains("within community finance-isac"), "{shown}");
    let err = node.fails(&[
        "report",
        "new",
        "--kind",
        "advisory",
        "--tlp",
        "green",
        "--title",
        "x",
        "--community",
        "Finance ISAC",
    ]);
    assert!(err.contains("distribution.community"), "{err}");
}

fn example_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/node.example.toml")
}

#[test]
fn config_check_summarises_a_valid_file_and_lists_every_problem() {
    let node = Node::new();
    let ok = node.ok(&[
        "config",
        "check",
        "--file",
        example_config().to_str().unwrap(),
    ]);
    assert!(
        ok.contains("is valid") && ok.contains("bank-a") && ok.contains("finance-isac"),
        "{ok}"
    );
    // AMBER as a ceiling leaves AMBER+STRICT out, and the summary says so.
    assert!(
        ok.contains("up to TLP:AMBER (not TLP:AMBER+STRICT)") && ok.contains("up to TLP:RED\n"),
        "{ok}"
    );
    let bad = node.path("bad.toml");
    std::fs::write(
        &bad,
        "[node]\norganisation = \"X\"\n\n[policies.banks]\nmax_tlp = \"amber\"\n\n[[partners]]\nname = \"a\"\norg_key = \"0d33011053e3292090b5e4f2788d682677d6d9fcd6012fbce0de1fa9cd25f26e\"\nkind = \"company\"\npolicy = \"bnaks\"\n\n[[partners]]\nname = \"a\"\norg_key = \"12\"\nkind = \"ngo\"\n",
    )
    .unwrap();
    let out = node.run(&["config", "check", "--file", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(":11: partners[0].policy: unknown policy \"bnaks\" (defined: banks)"),
        "{err}"
    );
    assert!(
        err.contains(":14: partners[1].name: partner \"a\" is listed twice"),
        "{err}"
    );
    assert!(err.contains(":15: partners[1].org_key"), "{err}");
    assert!(err.trim_end().ends_with("has 3 problem(s)"), "{err}");

    // The node's own organisation listed as a partner: its other nodes go elsewhere.
    let identity = node.ok(&["identity"]);
    let own = identity
        .lines()
        .find_map(|l| l.strip_prefix("organisation key"))
        .unwrap()
        .trim()
        .to_string();
    let config = node.home().join("node.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[policies.p]\nmax_tlp = \"green\"\n\n[[partners]]\nname = \"us\"\norg_key = \"{own}\"\nkind = \"cert\"\npolicy = \"p\"\n"
    ));
    std::fs::write(&config, text).unwrap();
    let out = node.run(&["config", "check"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("partners[0].org_key: this is this organisation's own key"),
        "{err}"
    );
    assert!(err.contains("other_nodes"), "{err}");
    let err = node.fails(&["report", "list"]);
    assert!(err.contains("this organisation's own key"), "{err}");
}

#[test]
fn policy_explain_says_who_receives_a_report_and_why() {
    let node = Node::new();
    // The node becomes the example CERT: its partners, policies and communities.
    let example = std::fs::read_to_string(example_config()).unwrap();
    let sharing = &example[example.find("# Named policies").unwrap()..];
    let config = node.home().join("node.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push('\n');
    text.push_str(sharing);
    std::fs::write(&config, text).unwrap();

    let amber = node.publish(&[
        "--kind",
        "vulnerability",
        "--tlp",
        "amber",
        "--title",
        "Flaw in a payment gateway",
        "--sector",
        "finance",
        "--victim",
        "Bank B",
    ]);
    let out = node.ok(&["policy", "explain", "--report", &amber, "--all-peers"]);
    assert!(
        out.contains("bank-a           receives it without victim, internal-notes"),
        "{out}"
    );
    assert!(
        out.contains("ngo-watch        does not: this partner may receive up to TLP:GREEN only"),
        "{out}"
    );
    assert!(out.contains("ministry         receives it"), "{out}");

    let isac = node.publish(&[
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--title",
        "Card skimming domains",
        "--sector",
        "finance",
        "--community",
        "finance-isac",
    ]);
    let one = node.ok(&["policy", "explain", "--report", &isac, "--peer", "ministry"]);
    assert!(
        one.contains("addressed to community finance-isac, and this partner is not a member"),
        "{one}"
    );
    assert!(!one.contains("bank-a"), "{one}");
    let ministry = "9267710a05186808b9267b8ccaf6e5ee1e903dc0616ae8b4f9b6afe6828d03d6";
    let red = node.publish(&[
        "--kind",
        "incident",
        "--tlp",
        "red",
        "--title",
        "Intrusion at the ministry",
        "--recipient",
        ministry,
    ]);
    let out = node.ok(&["policy", "explain", "--report", &red, "--all-peers"]);
    assert!(
        out.contains(
            "bank-a           does not: TLP:RED reports go only to the recipients the author named"
        ),
        "{out}"
    );
    assert!(out.contains("ministry         receives it"), "{out}");
    let err = node.fails(&["policy", "explain", "--report", &isac, "--peer", "nobody"]);
    assert!(err.contains("no partner \"nobody\""), "{err}");
}

/// STIX 2.1 export of every kind of report and observable, a new version and a retraction:
/// deterministic, versioned by the same id, and valid for the OASIS validator. `.ci/run`
/// installs `stix2-validator` and names it in CAIRN_STIX_VALIDATOR; without it (outside CI)
/// only the structure is checked.
#[test]
fn stix_export_is_deterministic_versioned_and_valid() {
    let node = Node::new();
    let first = node.ok(&[
        "report", "new", "--kind", "indicator", "--tlp", "green", "--title", "Phishing kit",
        "--indicator", "domain:login-bank.example", "--indicator", "ipv4:198.51.100.7",
        "--indicator", "ipv6:2001:db8::1", "--indicator", "cidr:10.0.0.0/8",
        "--indicator", "url:https://x.example/a'b", "--indicator", "email:billing@invoice.example",
        "--indicator", "md5:d41d8cd98f00b204e9800998ecf8427e",
        "--indicator", "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "--indicator", "sha256:5f2b8d1c9a3e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8",
        "--indicator", "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        "--indicator", "cve:CVE-2024-3400", "--indicator", "asn:AS64496",
        "--tag", "phishing", "--sector", "finance", "--victim", "Bank A",
    ]);
    let first_id = first.split_whitespace().nth(2).unwrap().to_string();
    let second = node.ok(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--title",
        "Phishing kit (v2)",
        "--indicator",
        "domain:login-bank.example",
        "--supersedes",
        &first_id[..12],
    ]);
    let second_id = second.split_whitespace().nth(2).unwrap().to_string();
    node.ok(&[
        "report",
        "new",
        "--kind",
        "advisory",
        "--tlp",
        "clear",
        "--title",
        "Patch now",
    ]);
    node.ok(&[
        "report",
        "new",
        "--kind",
        "incident",
        "--tlp",
        "amber+strict",
        "--title",
        "Intrusion",
    ]);
    node.ok(&[
        "report",
        "retract",
        &second_id[..12],
        "--reason",
        "false positive",
    ]);

    let out = node.home().join("all.stix.json");
    let out_text = out.to_str().unwrap().to_string();
    node.ok(&[
        "report", "export", "--all", "--format", "stix", "--out", &out_text,
    ]);
    let again = node.ok(&["report", "export", "--all", "--format", "stix"]);
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text, again, "the same reports export the same bundle");
    let bundle: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(bundle["type"], "bundle");
    let objects = bundle["objects"].as_array().unwrap();
    let reports: Vec<&serde_json::Value> =
        objects.iter().filter(|o| o["type"] == "report").collect();
    // Two versions and a retraction of one STIX report, plus two others.
    let chain: Vec<&&serde_json::Value> = reports
        .iter()
        .filter(|r| {
            r["external_references"][0]["external_id"] == first_id.as_str()
                || r["external_references"][0]["external_id"] == second_id.as_str()
                || r["revoked"] == true
        })
        .collect();
    assert_eq!(chain.len(), 3, "{chain:#?}");
    assert!(chain.iter().all(|r| r["id"] == chain[0]["id"]));
    assert_eq!(reports.len(), 5);
    let patterns: Vec<&str> = objects
        .iter()
        .filter_map(|o| o["pattern"].as_str())
        .collect();
    for expected in [
        "[domain-name:value = 'login-bank.example']",
        "[url:value = 'https://x.example/a\\'b']",
        "[file:hashes.'SHA-512' = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e']",
        "[autonomous-system:number = 64496]",
    ] {
        assert!(
            patterns.contains(&expected),
            "{expected} not in {patterns:?}"
        );
    }
    assert!(objects.iter().any(|o| o["type"] == "vulnerability"));
    assert!(
        objects.iter().any(|o| o["id"] == cairn_amber_strict()),
        "the AMBER+STRICT marking-definition is included"
    );
    assert!(!text.contains("Bank A"), "disclosures never leave in STIX");

    match std::env::var_os("CAIRN_STIX_VALIDATOR") {
        Some(validator) => {
            let result = Command::new(validator)
                .args(["--version", "2.1", "--strict"])
                .arg(&out)
                .output()
                .unwrap();
            let report = String::from_utf8_lossy(&result.stdout);
            assert!(result.status.success(), "{report}");
            assert!(!report.contains("[X]"), "{report}");
            assert!(!report.contains("Warning"), "{report}");
        }
        None => assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide stix2_validator in CAIRN_STIX_VALIDATOR (.ci/run installs it)"
        ),
    }
}

fn cairn_amber_strict() -> &'static str {
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
}

fn interop_sample(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/interop")
        .join(path)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn import_takes_stix_bundles_and_misp_events_once_and_refuses_malformed_files() {
    let node = Node::new();
    let poison = interop_sample("stix/poisonivy.json");
    let misp = interop_sample("misp/57c4445b-c548-4654-af0b-4be3950d210f.json");
    let out = node.ok(&["import", &poison, &misp]);
    // Every STIX object is carried: none is skipped.
    assert!(
        out.contains("(STIX 2.1): 155 object(s) in 1 new report(s): 155 imported, 0 new version(s), 0 duplicate(s), 0 refused"),
        "{out}"
    );
    // The MISP event is carried whole, as sent and in its STIX form: nothing is skipped.
    assert!(
        out.contains("(MISP event JSON): 1 event(s) in 1 new report(s): 1 imported"),
        "{out}"
    );
    let list = node.ok(&["report", "list"]);
    assert!(list.contains("Poison Ivy"), "{list}");
    assert!(
        list.contains("TLP:CLEAR"),
        "the MISP event's tlp:white: {list}"
    );
    assert!(list.contains("2 report(s)"), "{list}");

    // A second import of the same files stores nothing new and says why.
    let again = node.ok(&["import", &poison]);
    assert!(again.contains("in 0 new report(s)"), "{again}");
    assert!(again.contains("155 duplicate(s)"), "{again}");
    assert!(again.contains("already held"), "{again}");

    // For scripts: what became of every object, as JSON.
    let json = node.ok(&["import", "--json", &poison]);
    let document: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(document["duplicate"], 155);
    assert_eq!(document["results"].as_array().unwrap().len(), 155);

    // A file that is no JSON is refused whole, saying what is wrong; nothing changes.
    let garbage = node.dir.path().join("garbage.json");
    std::fs::write(&garbage, "{not json").unwrap();
    let err = node.fails(&["import", garbage.to_str().unwrap()]);
    assert!(err.contains("not JSON"), "{err}");
    assert!(node.ok(&["report", "list"]).contains("2 report(s)"));

    // Exported again as STIX, an imported report keeps its TLP marking.
    let stix = node.ok(&["report", "export", "--all", "--format", "stix"]);
    assert!(stix.contains("marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"));
    // The carried objects come back under their own ids.
    assert!(stix.contains("report--f2b63e80-b523-4747-a069-35c002c690db"));
}

#[test]
fn a_misp_feed_folder_imports_every_event_its_manifest_lists() {
    let node = Node::new();
    let feed = interop_sample("real/misp/feed-crowdsec");
    let out = node.ok(&["import", &feed]);
    assert_eq!(
        out.matches("(MISP event JSON): 1 event(s) in 1 new report(s): 1 imported")
            .count(),
        3,
        "{out}"
    );
    assert!(node.ok(&["report", "list"]).contains("3 report(s)"));

    // A folder that is not a feed, or a manifest that names something else than an event
    // file, is refused saying so; nothing is imported from it.
    let plain = node.dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let err = node.fails(&["import", plain.to_str().unwrap()]);
    assert!(err.contains("without manifest.json"), "{err}");
    let hostile = node.dir.path().join("hostile");
    std::fs::create_dir(&hostile).unwrap();
    std::fs::write(hostile.join("manifest.json"), r#"{"../../etc/passwd": {}}"#).unwrap();
    let err = node.fails(&["import", hostile.to_str().unwrap()]);
    assert!(err.contains("not an event uuid"), "{err}");
    let missing = node.dir.path().join("missing");
    std::fs::create_dir(&missing).unwrap();
    std::fs::write(
        missing.join("manifest.json"),
        r#"{"5f1b0e7c-0b1a-4c2d-9e3f-1a2b3c4d5e6f": {}}"#,
    )
    .unwrap();
    let err = node.fails(&["import", missing.to_str().unwrap()]);
    assert!(err.contains("is missing"), "{err}");
    assert!(node.ok(&["report", "list"]).contains("3 report(s)"));
}

#[test]
fn report_new_says_which_flag_fixes_a_refusal() {
    let node = Node::new();
    let err = node.fails(&[
        "report",
        "new",
        "--kind",
        "retraction",
        "--tlp",
        "green",
        "--title",
        "x",
    ]);
    assert!(err.contains("cairn report retract ID"), "{err}");
    let err = node.fails(&[
        "report", "new", "--kind", "bogus", "--tlp", "green", "--title", "x",
    ]);
    assert!(
        err.contains("expected one of incident, indicator, advisory, vulnerability, threat-actor, campaign (see"),
        "{err}"
    );
    let err = node.fails(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "red",
        "--title",
        "x",
        "--indicator",
        "domain:a.example",
    ]);
    assert!(err.contains("--recipient ORG_KEY"), "{err}");
    // The short names the help gives are taken.
    let out = node.ok(&[
        "report",
        "new",
        "--kind",
        "ioc",
        "--tlp",
        "green",
        "--title",
        "x",
        "--indicator",
        "ip:198.51.100.1",
    ]);
    assert!(out.contains("(indicator, TLP:GREEN"), "{out}");
    assert_eq!(node.list_json().len(), 1);
}

/// Every example in the help pastes into a shell as printed: one command per line, or lines
/// joined by a trailing backslash, never a command cut by the help's line wrapping.
#[test]
fn help_examples_paste_as_printed() {
    let node = Node::new();
    let commands: &[&[&str]] = &[
        &[],
        &["init"],
        &["report", "new"],
        &["report", "list"],
        &["correlate"],
        &["report", "export"],
        &["report", "retract"],
        &["import"],
        &["org", "show"],
        &["org", "revoke-node"],
        &["org", "certify"],
        &["org", "rotate"],
        &["org", "recover"],
        &["org", "add-statements"],
        &["token", "create"],
        &["policy", "explain"],
        &["invite"],
        &["partner", "add"],
        &["partner", "remove"],
        &["partner", "list"],
        &["config", "reload"],
        &["backup"],
        &["restore"],
        &["completions"],
        &["site", "build"],
        &["man"],
    ];
    for command in commands {
        let mut args: Vec<&str> = command.to_vec();
        args.push("--help");
        let help = node.ok(&args);
        let mut in_examples = false;
        let mut continues = false;
        for line in help.lines() {
            if line.starts_with("Examples:") {
                in_examples = true;
                continue;
            }
            if !in_examples {
                continue;
            }
            if line.trim().is_empty() {
                assert!(!continues, "{command:?}: an example ends with a backslash");
                break;
            }
            let expected: &[&str] = if continues {
                &["      "]
            } else {
                &["  cairn ", "  curl "]
            };
            assert!(
                expected.iter().any(|start| line.starts_with(start)),
                "{command:?}: example line cut by wrapping: {line:?}\n{help}"
            );
            continues = line.ends_with('\\');
        }
    }
}

/// Completions for each shell name every command, and the manual pages cover each command.
#[test]
fn completions_and_manual_pages_cover_every_command() {
    let node = Node::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = node.ok(&["completions", shell]);
        for command in ["partner", "invite", "backup", "restore", "report"] {
            assert!(script.contains(command), "{shell}: no {command}");
        }
    }
    let refused = node.run(&["completions", "tcsh"]);
    assert!(!refused.status.success());
    let dir = tempfile::tempdir().unwrap();
    let out = node.ok(&["man", dir.path().to_str().unwrap()]);
    assert!(out.contains("manual pages"), "{out}");
    let main = std::fs::read_to_string(dir.path().join("cairn.1")).unwrap();
    assert!(
        main.starts_with(".ie") || main.contains(".TH cairn"),
        "{main}"
    );
    for page in [
        "cairn-partner-add.1",
        "cairn-backup.1",
        "cairn-report-new.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".SH"), "{page}");
    }
}

/// `--version` names the commit the binary was built from.
#[test]
fn the_version_names_its_commit() {
    let node = Node::new();
    let version = node.ok(&["--version"]);
    let commit = version
        .trim()
        .strip_suffix(')')
        .and_then(|v| v.split_once("(commit "))
        .map(|(_, c)| c.to_string())
        .unwrap_or_else(|| panic!("{version}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{version}"
    );
}

/// The public site shows current TLP:CLEAR advisories left unrestricted, as accessible pages,
/// and nothing else: no other TLP, no restricted scope, no disclosure, no indicator, no
/// retracted advisory; text is escaped.
#[test]
fn the_public_site_shows_only_unrestricted_clear_advisories() {
    let node = Node::new();
    let publish = |title: &str, tlp: &str, scope: Option<&str>| -> String {
        let mut args = vec![
            "report",
            "new",
            "--kind",
            "advisory",
            "--tlp",
            tlp,
            "--title",
            title,
            "--summary",
            "Patch <now> & check",
            "--victim",
            "SECRET-VICTIM",
            "--notes",
            "SECRET-NOTES",
            "--indicator",
            "domain:secret-indicator.example",
            "--principle",
            "6",
        ];
        if let Some(scope) = scope {
            args.extend(["--scope", scope]);
        }
        let out = node.ok(&args);
        out.split_whitespace().nth(2).unwrap().to_string()
    };
    publish("Public <script>alert(1)</script> advisory", "clear", None);
    let french = node.ok(&[
        "report",
        "new",
        "--kind",
        "advisory",
        "--tlp",
        "clear",
        "--title",
        "Mettez à jour vos pare-feu",
        "--language",
        "fr",
    ]);
    let french = french.split_whitespace().nth(2).unwrap().to_string();
    let refused = node.run(&[
        "report",
        "new",
        "--kind",
        "advisory",
        "--tlp",
        "clear",
        "--title",
        "x",
        "--language",
        "french!",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not a BCP 47 language tag"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    publish("Community advisory", "clear", Some("community"));
    publish("Green advisory", "green", None);
    let withdrawn = publish("Withdrawn advisory", "clear", None);
    node.ok(&["report", "retract", &withdrawn[..12], "--reason", "mistake"]);
    node.ok(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "clear",
        "--title",
        "Clear indicators",
        "--indicator",
        "ip:203.0.113.9",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let out = node.ok(&["site", "build", site.to_str().unwrap()]);
    assert!(out.contains("(2 advisories)"), "{out}");
    // The French advisory's words are marked French, on its page, in the index and the feed.
    let page = walk(&site)
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&french[..12]))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .expect("the French advisory's page");
    assert!(
        page.contains("<h1 lang=\"fr\">Mettez à jour vos pare-feu</h1>"),
        "{page}"
    );
    assert!(page.contains("<dt>Language</dt><dd>fr</dd>"), "{page}");
    assert!(
        std::fs::read_to_string(site.join("advisories.atom"))
            .unwrap()
            .contains("xml:lang=\"fr\"")
    );
    let mut all = String::new();
    for entry in walk(&site) {
        all.push_str(&std::fs::read_to_string(&entry).unwrap());
    }
    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(index.contains("<html lang=\"en\">") && index.contains("<main id=\"main\">"));
    assert!(index.contains("Public &lt;script&gt;"), "{index}");
    assert!(!all.contains("<script>"), "unescaped:\n{all}");
    for hidden in [
        "Community advisory",
        "Green advisory",
        "Withdrawn advisory",
        "Clear indicators",
        "SECRET-VICTIM",
        "SECRET-NOTES",
        "secret-indicator",
    ] {
        assert!(!all.contains(hidden), "{hidden} is public");
    }
    assert!(all.contains("Patch &lt;now&gt; &amp; check"), "{all}");
    assert!(all.contains("6 ("), "the principle is named: {all}");
    assert!(
        std::fs::read_to_string(site.join("advisories.atom"))
            .unwrap()
            .contains("<feed")
    );
    assert!(
        !site.join("observance.html").exists(),
        "observance figures are published only when asked"
    );
}

/// With --observance, the site shows the organisation's own observance figures as charts and
/// a table, and never a count under the threshold.
#[test]
fn the_public_site_shows_observance_figures_only_when_asked_and_only_above_the_threshold() {
    let node = Node::new();
    let incident = |n: u32, tlp: &str, region: &str| {
        let title = format!("Intrusion at water utility {n}");
        node.ok(&[
            "report",
            "new",
            "--kind",
            "incident",
            "--tlp",
            tlp,
            "--title",
            &title,
            "--principle",
            "2",
            "--region",
            region,
            "--sector",
            "water",
        ]);
    };
    for n in 0..3 {
        incident(n, "amber", "west-africa");
    }
    incident(3, "green", "baltic-small-cell");
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let out = node.ok(&[
        "site",
        "build",
        site.to_str().unwrap(),
        "--observance",
        "--min-count",
        "2",
    ]);
    assert!(
        out.contains("Wrote 2 pages (0 advisories, and the observance figures)"),
        "{out}"
    );
    let page = std::fs::read_to_string(site.join("observance.html")).unwrap();
    assert!(
        page.contains("<html lang=\"en\">") && page.contains("<svg"),
        "{page}"
    );
    assert!(
        page.contains("role=\"img\"") && page.contains("<desc"),
        "{page}"
    );
    assert!(
        page.contains("<td>west-africa</td><td>water</td><td>3</td>"),
        "{page}"
    );
    assert!(
        !page.contains("baltic-small-cell"),
        "a cell under 2 is public: {page}"
    );
    assert!(page.contains("1 left out"), "{page}");
    assert!(
        std::fs::read_to_string(site.join("index.html"))
            .unwrap()
            .contains("href=\"observance.html\"")
    );
    // --min-count alone is refused: it only applies to --observance.
    let refused = node.run(&["site", "build", site.to_str().unwrap(), "--min-count", "3"]);
    assert!(!refused.status.success());
}

/// An incident coded for norms observance from flags: shown in words, given as JSON, counted
/// by norm in the trends; a term outside its vocabulary is refused, saying which terms exist.
#[test]
fn an_incident_is_coded_for_norms_from_flags_and_bad_terms_are_refused() {
    let node = Node::new();
    let coded = [
        "report",
        "new",
        "--kind",
        "incident",
        "--tlp",
        "amber",
        "--title",
        "Wiper at a water utility",
        "--principle",
        "6",
        "--norm",
        "f",
        "--norm",
        "g",
        "--region",
        "western-africa",
        "--sector",
        "water",
        "--country",
        "sn",
        "--operation",
        "destruction",
        "--impact",
        "significant",
        "--impact-kind",
        "availability",
        "--attribution",
        "to=Unnamed state actor;by=National CERT;confidence=60;actor-type=nation-state;on=2026-11-20",
        "--json",
    ];
    let json: serde_json::Value = serde_json::from_str(&node.ok(&coded)).unwrap();
    let coding = &json["coding"];
    assert_eq!(coding["gge_norms"], serde_json::json!(["f", "g"]), "{json}");
    assert_eq!(coding["countries"], serde_json::json!(["SN"]));
    assert_eq!(coding["attributions"][0]["confidence"], 60);
    let id = json["id"].as_str().unwrap();
    let shown = node.ok(&["report", "show", &id[..12]]);
    for said in [
        "f. Do not conduct or support ICT activity that damages critical infrastructure",
        "SN (Senegal)",
        "significant: Several organisations or an essential service affected",
        "Services or information unavailable",
        "Unnamed state actor (nation-state) according to National CERT, confidence 60/100, on 2026-11-20",
    ] {
        assert!(shown.contains(said), "{said}: {shown}");
    }
    let trends = node.ok(&["observance", "--measures", "norms"]);
    assert!(
        trends.contains("norm f") && trends.contains("norm g") && !trends.contains("principle 6"),
        "{trends}"
    );
    for (flag, value, said) in [
        ("--norm", "l", "not a UN GGE norm"),
        ("--operation", "hacking", "espionage, data-theft"),
        ("--impact", "huge", "none, minor, moderate"),
        ("--attribution", "to=X;confidence=5", "who says so (by=...)"),
        ("--country", "XX", "coding.countries[0]"),
    ] {
        let out = node.run(&[
            "report", "new", "--kind", "incident", "--tlp", "amber", "--title", "x", flag, value,
        ]);
        assert!(!out.status.success(), "{flag} {value}");
        assert!(
            stderr(&out).contains(said),
            "{flag} {value}: {}",
            stderr(&out)
        );
    }
    let out = node.run(&[
        "report", "new", "--kind", "advisory", "--tlp", "amber", "--title", "x", "--norm", "f",
    ]);
    assert!(
        stderr(&out).contains("only incident reports are coded"),
        "{}",
        stderr(&out)
    );
    let listed = node.ok(&["report", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&listed)
            .unwrap()
            .len(),
        1,
        "nothing refused was stored"
    );
}

/// Directory entries from the command line: published, shown, searched by every filter,
/// matched (never with the organisation's own offers), withdrawn; bad values refused, saying
/// what is wrong, with nothing stored.
#[test]
fn directory_entries_are_published_searched_matched_and_withdrawn() {
    let node = Node::new();
    let add = |args: &[&str]| -> String {
        let mut all = vec!["directory", "add", "--json"];
        all.extend_from_slice(args);
        let json: serde_json::Value = serde_json::from_str(&node.ok(&all)).unwrap();
        json["id"].as_str().unwrap().to_string()
    };
    let need = add(&[
        "--type",
        "capacity-need",
        "--title",
        "CSIRT training for Sahel NGOs",
        "--topic",
        "incident-response",
        "--topic",
        "workforce",
        "--region",
        "western-africa",
        "--country",
        "sn",
        "--language",
        "fr",
        "--contact",
        "cert@example.sn",
        "--valid-until",
        "2099-06-30",
    ]);
    let offer = add(&[
        "--type",
        "capacity-offer",
        "--title",
        "Incident response mentoring",
        "--topic",
        "incident-response",
        "--language",
        "en",
        "--contact",
        "mentors@example.org",
        "--url",
        "https://mentors.example.org",
    ]);
    let shown = node.ok(&["report", "show", &need[..12]]);
    for said in [
        "capacity-need (Help sought)",
        "workforce (Cyber security culture and skills)",
        "cert@example.sn",
        "2099-06-30T23:59:59.999Z",
    ] {
        assert!(shown.contains(said), "{said}: {shown}");
    }
    let found = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["directory", "search", "--json"];
        all.extend_from_slice(args);
        let view: serde_json::Value = serde_json::from_str(&node.ok(&all)).unwrap();
        view["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(found(&[]).len(), 2);
    assert_eq!(found(&["--type", "capacity-need"]), [need.as_str()]);
    assert_eq!(found(&["--topic", "incident-response"]).len(), 2);
    assert_eq!(found(&["--theme", "culture-and-skills"]), [need.as_str()]);
    assert_eq!(found(&["--region", "western-africa"]), [need.as_str()]);
    assert_eq!(found(&["--country", "SN"]), [need.as_str()]);
    assert_eq!(found(&["--language", "fr-SN"]), [need.as_str()]);
    assert_eq!(found(&["--text", "MENTORING incident"]), [offer.as_str()]);
    assert!(found(&["--text", "banking"]).is_empty());
    let table = node.ok(&["directory", "search", "--type", "capacity-offer"]);
    assert!(
        table.contains("Incident response mentoring") && table.contains("where: anywhere"),
        "{table}"
    );
    // An organisation's own offer is not a match for its own need.
    let matched = node.ok(&["directory", "match"]);
    assert!(
        matched.contains("CSIRT training for Sahel NGOs")
            && matched.contains("no offer or donor programme shares its topics yet"),
        "{matched}"
    );
    for (args, said) in [
        (
            vec!["--topic", "cooking"],
            "incident-response, critical-infrastructure",
        ),
        (
            vec!["--topic", "awareness", "--valid-until", "30d"],
            "give a date",
        ),
        (
            vec!["--topic", "awareness", "--valid-until", "2001-01-01"],
            "ends before the entry was written",
        ),
        (
            vec!["--topic", "awareness", "--country", "XX"],
            "directory_entry.countries[0]",
        ),
        (
            vec!["--topic", "awareness", "--url", "ftp://x.example"],
            "http(s)",
        ),
        (vec!["--topic", "awareness", "--tlp", "red"], "recipients"),
    ] {
        let mut all = vec![
            "directory",
            "add",
            "--type",
            "capacity-offer",
            "--title",
            "x",
            "--contact",
            "y",
        ];
        all.extend(args.iter());
        let out = node.run(&all);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(found(&[]).len(), 2, "nothing refused was stored");
    node.ok(&[
        "report",
        "retract",
        &offer[..12],
        "--reason",
        "programme closed",
    ]);
    assert_eq!(found(&[]), [need]);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn indicators_on_warning_lists_are_flagged_at_publish_and_import_with_the_list_named() {
    let node = Node::new();
    // Published: stored and shared as asked, with a warning naming the list.
    let out = node.run(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--title",
        "Resolver seen in beaconing",
        "--indicator",
        "ipv4:8.8.8.8",
        "--indicator",
        "domain:evil-c2.ru",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let warned = stderr(&out);
    assert!(
        warned.contains("warning: ipv4:8.8.8.8 is on the warning list public-dns-resolvers"),
        "{warned}"
    );
    assert!(!warned.contains("evil-c2.ru"), "{warned}");
    assert_eq!(node.list_json().len(), 1, "a warning refuses nothing");

    // An operator's list, in MISP's format, beside Cairn's.
    let lists = node.home().join("warninglists");
    std::fs::create_dir_all(&lists).unwrap();
    std::fs::write(
        lists.join("cloud.json"),
        r#"{"name": "cloud-example", "description": "A cloud provider's ranges", "version": 1,
            "type": "cidr", "list": ["52.0.0.0/11"]}"#,
    )
    .unwrap();
    let listed = node.ok(&["warning-lists"]);
    assert!(
        listed.contains("cloud-example") && listed.contains("reserved-ipv4"),
        "{listed}"
    );
    let checked = node.ok(&[
        "warning-lists",
        "--check",
        "ipv4:52.1.2.3",
        "--check",
        "ipv4:11.1.1.1",
    ]);
    assert!(
        checked.contains("ipv4:52.1.2.3: on cloud-example"),
        "{checked}"
    );
    assert!(
        checked.contains("ipv4:11.1.1.1: on no warning list"),
        "{checked}"
    );

    // Imported: the accounting names each flagged indicator and its report.
    let bundle = node.path("bundle.json");
    std::fs::write(
        &bundle,
        r#"{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [
          {"type": "indicator", "spec_version": "2.1",
           "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
           "created": "2026-11-30T10:00:00.000Z", "modified": "2026-11-30T10:00:00.000Z",
           "name": "Scanner", "pattern_type": "stix", "valid_from": "2026-11-30T10:00:00Z",
           "pattern": "[ipv4-addr:value = '52.9.9.9']"}]}"#,
    )
    .unwrap();
    let out = node.ok(&["import", bundle.to_str().unwrap()]);
    assert!(
        out.contains("1 indicator(s) on warning lists")
            && out.contains("ipv4:52.9.9.9 is on the warning list cloud-example"),
        "{out}"
    );

    // A list that cannot be read stops a publication before anything is signed, naming it.
    std::fs::write(lists.join("broken.json"), "{ not json").unwrap();
    let before = node.list_json().len();
    let err = node.fails(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--title",
        "x",
    ]);
    assert!(err.contains("broken.json"), "{err}");
    assert_eq!(node.list_json().len(), before);
}

#[test]
fn correlate_names_related_reports_for_a_value_and_for_each_indicator_of_a_report() {
    let node = Node::new();
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let range = node.publish(&[
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--title",
        "Botnet range",
        "--indicator",
        "cidr:198.51.100.0/24",
    ]);
    let address = node.publish(&[
        "--kind",
        "indicator",
        "--tlp",
        "amber",
        "--title",
        "C2 address",
        "--indicator",
        "ipv4:198.51.100.7",
        "--file-hashes",
        &format!("md5:{md5},sha256:{sha256}"),
    ]);
    let by_sha = node.publish(&[
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--title",
        "Dropper",
        "--indicator",
        &format!("sha256:{sha256}"),
    ]);
    let text = node.ok(&["correlate", "198.51.100.7"]);
    assert!(text.contains("2 reports relate"), "{text}");
    assert!(
        text.contains(&range[..12]) && text.contains(&address[..12]),
        "{text}"
    );
    assert!(
        text.contains("covers") && text.contains("cidr:198.51.100.0/24"),
        "{text}"
    );

    let json: Vec<serde_json::Value> =
        serde_json::from_str(&node.ok(&["correlate", &format!("md5:{md5}"), "--json"])).unwrap();
    let reports = json[0]["reports"].as_array().unwrap();
    let found: Vec<(&str, &str)> = reports
        .iter()
        .flat_map(|r| {
            r["links"].as_array().unwrap().iter().map(move |l| {
                (
                    r["report"]["id"].as_str().unwrap(),
                    l["relation"].as_str().unwrap(),
                )
            })
        })
        .collect();
    assert!(found.contains(&(by_sha.as_str(), "same-file")), "{found:?}");
    assert!(found.contains(&(address.as_str(), "same")), "{found:?}");

    // Each indicator of a report, the report itself left out.
    let per = node.ok(&["correlate", "--report", &address[..10]]);
    assert!(per.contains("ipv4:198.51.100.7: 1 report relates"), "{per}");
    assert!(per.contains(&by_sha[..12]), "{per}");
    assert!(
        per.contains(&format!("md5:{md5}: 1 report relates")),
        "{per}"
    );

    let none = node.ok(&["correlate", "203.0.113.9"]);
    assert!(none.contains("no other current report relates"), "{none}");
    let err = node.fails(&["correlate", "not a thing"]);
    assert!(err.contains("not an observable"), "{err}");
    let err = node.fails(&["correlate", "evil.example", "--limit", "0"]);
    assert!(err.contains("--limit"), "{err}");
    let err = node.fails(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--title",
        "x",
        "--tlp",
        "green",
        "--file-hashes",
        "ipv4:198.51.100.7",
    ]);
    assert!(
        err.contains("--file-hashes #1") && err.contains("not a hash"),
        "{err}"
    );
}

#[test]
fn a_partner_says_it_saw_a_report_and_lists_what_was_said() {
    let author = Node::new();
    let partner = Node::new();
    let id = author.publish(GREEN);
    let file = author.path("copy.cairn");
    author.ok(&[
        "report",
        "export",
        &id[..8],
        "--out",
        file.to_str().unwrap(),
    ]);
    partner.ok(&["report", "import", file.to_str().unwrap()]);
    let said = partner.ok(&[
        "sighting",
        "add",
        &id[..8],
        "--kind",
        "seen",
        "--indicator",
        "198.51.100.7",
        "--count",
        "3",
        "--where",
        "mail gateway",
        "--observed",
        "SMTP from 198.51.100.7",
    ]);
    assert!(said.contains("goes back to the report's author"), "{said}");
    partner.ok(&[
        "sighting",
        "add",
        &id[..8],
        "--kind",
        "false-positive",
        "--indicator",
        "domain:login-bank.example",
    ]);
    // Never wider than the report, never about an indicator it does not carry.
    let err = partner.fails(&[
        "sighting",
        "add",
        &id[..8],
        "--kind",
        "seen",
        "--tlp",
        "clear",
    ]);
    assert!(err.contains("further than the report"), "{err}");
    let err = partner.fails(&[
        "sighting",
        "add",
        &id[..8],
        "--kind",
        "seen",
        "--indicator",
        "ipv4:192.0.2.1",
    ]);
    assert!(err.contains("has no indicator"), "{err}");
    let err = partner.fails(&[
        "sighting",
        "add",
        &id[..8],
        "--kind",
        "seen",
        "--count",
        "0",
    ]);
    assert!(err.contains("sighting.count"), "{err}");

    let listed = partner.ok(&["sighting", "list", &id[..8]]);
    assert!(listed.contains("ipv4:198.51.100.7"), "{listed}");
    assert!(listed.contains("seen 3 time(s)"), "{listed}");
    assert!(listed.contains("at mail gateway"), "{listed}");
    let json: serde_json::Value =
        serde_json::from_str(&partner.ok(&["sighting", "list", &id[..8], "--json"])).unwrap();
    assert_eq!(json["sightings"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(json["by_indicator"][1]["false_positive"], 1, "{json}");
    // The author, given the partner's sightings, sees them per report.
    let out = partner.path("sightings.cairn");
    let sighting_id = json["sightings"][0]["sighting"]["concerns"]["report"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sighting_id, id);
    let mine = partner.list_json();
    let first_sighting = mine
        .iter()
        .find(|r| r["kind"] == "sighting" && r["sighting"]["kind"] == "seen")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = partner.ok(&["report", "show", &first_sighting]);
    for said in [
        format!("report {id}"),
        "Times seen".to_string(),
        "mail gateway".to_string(),
        "SMTP from 198.51.100.7".to_string(),
    ] {
        assert!(shown.contains(&said), "{said}: {shown}");
    }
    partner.ok(&[
        "report",
        "export",
        &first_sighting,
        "--out",
        out.to_str().unwrap(),
    ]);
    author.ok(&["report", "import", out.to_str().unwrap()]);
    let at_author = author.ok(&["sighting", "list", &id[..8]]);
    assert!(at_author.contains("198.51.100.7"), "{at_author}");
    let none = partner.ok(&["sighting", "list", &first_sighting[..8]]);
    assert!(none.contains("No sightings"), "{none}");
}

#[test]
fn indicators_are_listed_with_their_validity_and_score_and_filtered_to_what_is_valid() {
    let node = Node::new();
    let old = node.path("old.json");
    std::fs::write(
        &old,
        r#"{"kind": "indicator", "tlp": "green", "title": "Old campaign",
            "created": "2020-01-01T00:00:00Z", "confidence": 80,
            "indicators": [
                {"type": "ipv4", "value": "198.51.100.7"},
                {"type": "domain", "value": "gone.example", "valid_until": "2020-01-02T00:00:00Z"}
            ]}"#,
    )
    .unwrap();
    let fresh = node.path("fresh.json");
    std::fs::write(
        &fresh,
        r#"{"kind": "indicator", "tlp": "green", "title": "This week's loader",
            "confidence": 80,
            "indicators": [
                {"type": "ipv4", "value": "203.0.113.9", "valid_until": "2099-01-01T00:00:00Z"},
                {"type": "domain", "value": "later.example", "valid_from": "2099-01-01T00:00:00Z"}
            ]}"#,
    )
    .unwrap();
    for file in [&old, &fresh] {
        node.ok(&["report", "new", "--file", file.to_str().unwrap()]);
    }
    let table = node.ok(&["indicators"]);
    for (state, value) in [
        ("decayed", "198.51.100.7"),
        ("expired", "gone.example"),
        ("active", "203.0.113.9"),
        ("not-yet-valid", "later.example"),
    ] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(state) && l.contains(value)),
            "{state} {value}: {table}"
        );
    }
    assert!(table.contains("until 2099-01-01"), "{table}");
    assert_eq!(
        node.ok(&["indicators", "--valid", "--values"]),
        "203.0.113.9\n"
    );
    // The STIX export of what is still valid: the active address alone, with its window.
    let bundle: serde_json::Value =
        serde_json::from_str(&node.ok(&["indicators", "--valid", "--stix"])).unwrap();
    assert_eq!(bundle["type"], "bundle");
    let patterns: Vec<&serde_json::Value> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .collect();
    assert_eq!(patterns.len(), 1, "{bundle}");
    assert_eq!(patterns[0]["pattern"], "[ipv4-addr:value = '203.0.113.9']");
    assert_eq!(patterns[0]["valid_until"], "2099-01-01T00:00:00.000Z");
    let json: serde_json::Value = serde_json::from_str(&node.ok(&[
        "indicators",
        "--state",
        "expired,not-yet-valid",
        "--json",
    ]))
    .unwrap();
    let mut listed: Vec<&str> = json["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    listed.sort();
    assert_eq!(listed, vec!["gone.example", "later.example"]);
    let fresh_score = node.ok(&["indicators", "--min-score", "79", "--values"]);
    assert_eq!(fresh_score, "203.0.113.9\n", "a day-old address keeps ~80");
    let err = node.fails(&["indicators", "--state", "stale"]);
    assert!(err.contains("not a state"), "{err}");
    // A window that ends before it starts is refused, naming the field.
    let backwards = node.path("backwards.json");
    std::fs::write(
        &backwards,
        r#"{"kind": "indicator", "tlp": "green", "title": "Backwards",
            "indicators": [{"type": "ipv4", "value": "192.0.2.1",
            "valid_from": "2030-01-01T00:00:00Z", "valid_until": "2029-01-01T00:00:00Z"}]}"#,
    )
    .unwrap();
    let err = node.fails(&["report", "new", "--file", backwards.to_str().unwrap()]);
    assert!(err.contains("indicators[0].valid_until"), "{err}");
    // A scoring section that cannot work is refused when the configuration is checked.
    let config = node.home().join("node.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[scoring]\ndecay_speed = 0.0\n");
    std::fs::write(&config, text).unwrap();
    let out = node.run(&["config", "check"]);
    assert!(!out.status.success());
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(said.contains("decay_speed"), "{said}");
}

#[test]
fn psi_ask_names_a_bad_value_and_needs_the_running_node() {
    let node = Node::new();
    let err = node.fails(&["psi", "ask", "cert", "not a value at all"]);
    assert!(err.contains("not a value at all"), "{err}");
    let err = node.fails(&["psi", "ask", "cert"]);
    assert!(err.contains("no value to ask about"), "{err}");
    let err = node.fails(&["psi", "ask", "cert", "203.0.113.7"]);
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn output_into_a_closed_pipe_ends_the_command_quietly() {
    let node = Node::new();
    for args in [&["warning-lists"][..], &["report", "list"], &["identity"]] {
        let mut child = node
            .cmd(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes before the command writes anything (`cairn ... | head -0`).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "cairn {args:?}: {err}");
        assert!(!out.status.success(), "cairn {args:?} wrote into nothing");
    }
}

#[test]
fn sightings_in_an_imported_file_become_sightings_of_the_reports_held_here() {
    let node = Node::new();
    let published = node.ok(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--title",
        "Update server",
        "--tag",
        "phishing",
        "--indicator",
        "domain:cdn-update.example",
    ]);
    let id = published.split_whitespace().nth(2).unwrap().to_string();
    // Another tool's sighting of the indicator as this node exports it.
    let exported: serde_json::Value =
        serde_json::from_str(&node.ok(&["report", "export", &id[..8], "--format", "stix"]))
            .unwrap();
    let indicator = exported["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "indicator")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bundle = node.path("sightings.json");
    std::fs::write(
        &bundle,
        serde_json::json!({
            "type": "bundle",
            "id": "bundle--00000000-0000-4000-8000-000000000001",
            "objects": [{
                "type": "sighting", "spec_version": "2.1",
                "id": "sighting--00000000-0000-4000-8000-000000000001",
                "created": "2026-12-01T10:00:00.000Z", "modified": "2026-12-01T10:00:00.000Z",
                "sighting_of_ref": indicator, "count": 4,
                "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
            }]
        })
        .to_string(),
    )
    .unwrap();
    let bundle = bundle.to_str().unwrap();
    // The report's own tag ("phishing") does not make the sighting look imported already.
    let out = node.ok(&["import", bundle]);
    assert!(
        out.contains("1 object(s) in 1 new report(s): 1 imported"),
        "{out}"
    );
    let listed = node.ok(&["sighting", "list", &id[..8]]);
    assert!(listed.contains("seen 4 time(s)"), "{listed}");
    let again = node.ok(&["import", bundle]);
    assert!(again.contains("1 duplicate(s)"), "{again}");

    // A MISP event with sightings: carried whole the first time; once the event is held here,
    // its sightings become sightings of it; after that, nothing is new.
    let misp = interop_sample("misp/sighting_1.json");
    let first = node.ok(&["import", &misp]);
    assert!(
        first.contains("1 event(s) in 1 new report(s): 1 imported"),
        "{first}"
    );
    let second = node.ok(&["import", &misp]);
    assert!(
        second.contains("1 event(s) and 6 sighting(s) in 6 new report(s): 6 imported"),
        "{second}"
    );
    let third = node.ok(&["import", &misp]);
    assert!(third.contains("in 0 new report(s)"), "{third}");
    assert!(third.contains("7 duplicate(s)"), "{third}");
}
