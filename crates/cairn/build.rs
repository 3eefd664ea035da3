//! Records the commit the binary is built from, for `cairn --version` (`CAIRN_COMMIT`: the
//! short hash, the `CAIRN_COMMIT` the build was given, or `unknown` outside a git checkout).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    // A build without git history (a container build) is told the commit in CAIRN_COMMIT.
    println!("cargo:rerun-if-env-changed=CAIRN_COMMIT");
    let given = std::env::var("CAIRN_COMMIT")
        .ok()
        .filter(|c| !c.is_empty() && c != "unknown");
    let commit = match given.or_else(|| git(&["rev-parse", "--short=12", "HEAD"])) {
        Some(hash) if !hash.is_empty() => hash,
        _ => "unknown".to_string(),
    };
    println!("cargo:rustc-env=CAIRN_COMMIT={commit}");
    // Built again when the checked-out commit changes. Only files that exist are named: cargo
    // treats a missing one as always changed and would build the binary again every time.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let git_dir = Path::new(&git_dir);
        let mut watched = vec![git_dir.join("HEAD"), git_dir.join("packed-refs")];
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watched.push(git_dir.join(reference));
        }
        for file in watched.iter().filter(|file| file.exists()) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
