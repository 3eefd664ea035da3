//! The MISP feed of a running `cairn run` node, loaded as a MISP instance would with PyMISP
//! (tests/conformance/misp_feed.py): every MISP event of the public corpora, imported through
//! the node, comes back from the feed exactly as its source sent it, beside the report written
//! in Cairn, with a manifest and hashes that name them. `.ci/run` installs PyMISP in a venv and
//! names its Python in CAIRN_PYTHON; without it (outside CI) this test says so and checks
//! nothing else.

use std::path::PathBuf;
use std::time::Duration;

use cairn_tests::processes::CliNode;

fn misp_sources() -> Vec<PathBuf> {
    cairn_tests::corpus::json_files(&["misp", "real/misp"], |p| {
        p.to_string_lossy().contains("stix")
    })
}

#[test]
fn pymisp_loads_the_feed_of_everything_a_node_holds() {
    let Some(python) = cairn_tests::corpus::python_with("PyMISP", "the MISP feed check") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut node = CliNode::init(dir.path(), "cert");
    let token = node.ok(&["token", "create", "--role", "read", "--name", "misp"]);
    let token = token.trim().to_string();
    node.start();
    let sources = misp_sources();
    assert!(sources.len() >= 14, "{sources:?}");
    let mut args = vec!["import".to_string(), "--json".to_string()];
    args.extend(sources.iter().map(|p| p.to_string_lossy().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = node.ok(&args);
    for line in out.lines() {
        let summary: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(summary["refused"], 0, "{line}");
        assert!(summary["imported"].as_u64().unwrap() >= 1, "{line}");
    }
    node.ok(&[
        "report",
        "new",
        "--kind",
        "indicator",
        "--tlp",
        "green",
        "--title",
        "Written in Cairn",
        "--indicator",
        "domain:login-bank.example",
    ]);
    node.wait_for_reports(sources.len() as u64, Duration::from_secs(20));
    let mut args: Vec<std::ffi::OsString> = vec![
        format!("http://127.0.0.1:{}", node.api_port).into(),
        token.into(),
        "Written in Cairn".into(),
    ];
    args.extend(sources.iter().map(|p| p.clone().into_os_string()));
    let text = cairn_tests::corpus::run_conformance(&python, "misp_feed.py", args);
    assert!(text.contains("PyMISP loaded"), "{text}");
    assert!(node.signal("TERM"));
}
