//! The TAXII 2.1 server of a running `cairn run` node, driven by the OASIS taxii2-client
//! library (tests/conformance/taxii_client.py): discovery, collections, paging through objects
//! and the manifest, every filter, one object, versions, adding objects with a status
//! resource, a generated bundle with every STIX 2.1 type added and paged back as sent and
//! valid for the OASIS validator, and the 401/403/404/406/415 errors.
//! `.ci/run` installs taxii2-client in a venv and names its Python in CAIRN_PYTHON; without it
//! (outside CI) this test says so and checks nothing else.

use std::time::Duration;

use cairn_tests::processes::CliNode;

#[test]
fn taxii2_client_reads_everything_a_node_holds() {
    let Some(python) =
        cairn_tests::corpus::python_with("taxii2-client", "the TAXII conformance check")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut node = CliNode::init(dir.path(), "cert");
    let token = node.ok(&["token", "create", "--role", "read", "--name", "conformance"]);
    let token = token.trim().to_string();
    let publisher = node.ok(&["token", "create", "--role", "publish", "--name", "writer"]);
    let publisher = publisher.trim().to_string();
    node.start();
    let publish = |args: &[&str]| -> String {
        let mut all = vec!["report", "new", "--kind", "indicator", "--tlp", "green"];
        all.extend_from_slice(args);
        let out = node.ok(&all);
        out.split_whitespace().nth(2).unwrap().to_string()
    };
    let first = publish(&[
        "--title",
        "Phishing kit",
        "--indicator",
        "domain:login-bank.example",
        "--indicator",
        "ipv4:198.51.100.7",
    ]);
    publish(&["--title", "C2 servers", "--indicator", "ipv4:203.0.113.50"]);
    publish(&[
        "--title",
        "Dropper",
        "--indicator",
        "sha256:5f2b8d1c9a3e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8",
    ]);
    // A second version, published a moment later so its STIX version differs.
    std::thread::sleep(Duration::from_millis(20));
    publish(&[
        "--title",
        "Phishing kit (second version)",
        "--indicator",
        "domain:login-bank.example",
        "--supersedes",
        &first,
    ]);
    node.wait_for_reports(4, Duration::from_secs(10));
    let text = cairn_tests::corpus::run_conformance(
        &python,
        "taxii_client.py",
        [
            format!("http://127.0.0.1:{}", node.api_port),
            token,
            publisher,
        ],
    );
    assert!(text.contains("all TAXII checks passed"), "{text}");
    assert!(node.signal("TERM"));
}
