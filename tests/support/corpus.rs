//! What scenarios read from outside the project: the public STIX and MISP corpora in
//! ../shared/interop, and the Python of the tools Cairn is checked against.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// ../shared/interop.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop")
}

/// Every JSON file below these folders of ../shared/interop (all of it for `&[""]`), sorted,
/// except MISP feed manifests and those `skip` names.
pub fn json_files(folders: &[&str], skip: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = folders.iter().map(|f| root().join(f)).collect();
    while let Some(folder) = pending.pop() {
        let entries =
            std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json")
                && path.file_name().is_some_and(|n| n != "manifest.json")
                && !skip(&path)
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Runs `tests/conformance/<script>` with `python` and these arguments; its output (standard
/// output, then standard error), printed too. Fails the test if the script fails.
pub fn run_conformance(
    python: &OsString,
    script: &str,
    args: impl IntoIterator<Item = impl AsRef<std::ffi::OsStr>>,
) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("conformance")
        .join(script);
    let out = std::process::Command::new(python)
        .arg(path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "{text}");
    text
}

/// The Python that has `tool` installed (CAIRN_PYTHON, which `.ci/run` sets); outside CI,
/// `None` after saying that `what` did not run. In CI its absence is a failure.
pub fn python_with(tool: &str, what: &str) -> Option<OsString> {
    let python = std::env::var_os("CAIRN_PYTHON");
    if python.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide a Python with {tool} in CAIRN_PYTHON (.ci/run installs it)"
        );
        eprintln!("CAIRN_PYTHON is not set: {what} did not run");
    }
    python
}
