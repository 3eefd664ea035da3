//! Cairn nodes as separate `cairn run` processes, for scenarios that need a real process:
//! signals, SIGKILL, the control socket. Each node has its own folder and a loopback port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `cairn` binary of this workspace, built if needed.
pub fn cairn_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> -> target/<profile>/cairn
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target folder")
        .to_path_buf();
    let binary = profile_dir.join("cairn");
    if !binary.exists() {
        let status = cargo()
            .args(["build", "-p", "cairn", "--bin", "cairn"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building cairn failed");
    }
    binary
}

/// A `cargo` command for building from a test or benchmark, without the variables cargo sets
/// for the running test (`CARGO_PKG_NAME`, `CARGO_MANIFEST_DIR`, ...): build scripts that
/// watch them (ring's does) would otherwise run again, and everything above them be built
/// again, on every call and on the next ordinary build.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_for_target = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(
                name,
                "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "OUT_DIR"
            );
        if set_for_target {
            command.env_remove(name);
        }
    }
    command
}

/// Waits until `done` holds, checking every 25 ms; fails the test after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A free TCP port on 127.0.0.1 for a node started later, from below the range the system
/// hands out for outgoing connections and port 0 (32768 and up on Linux): a port taken from
/// that range can be given to another socket before the node binds it. Ports are tried in an
/// order of this process's own, and one that binds now is returned.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Processes running at once start at different places.
    let start = 20_000 + (std::process::id() % 500) * 24;
    for _ in 0..12_000 {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (start - 20_000 + step * 7) % 12_000;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One node folder and, while it runs, its process.
pub struct CliNode {
    /// The node's folder.
    pub home: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its HTTP API's port on 127.0.0.1.
    pub api_port: u16,
    /// Its organisation key (hex).
    pub org_key: String,
    /// Its PeerId.
    pub peer_id: String,
    process: Option<Child>,
}

impl CliNode {
    /// `cairn init` in `dir/name`, listening on a free loopback port.
    pub fn init(dir: &Path, name: &str) -> CliNode {
        CliNode::init_with(dir, name, &[])
    }

    /// `cairn init` with more arguments (`--recovery-key FILE`).
    pub fn init_with(dir: &Path, name: &str, more: &[&str]) -> CliNode {
        let home = dir.join(name);
        let mut args = vec!["init", "--organisation", name];
        args.extend_from_slice(more);
        let out = Command::new(cairn_binary())
            .arg("--home")
            .arg(&home)
            .args(&args)
            .env_remove("CAIRN_HOME")
            .output()
            .expect("run cairn");
        assert!(
            out.status.success(),
            "cairn {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        CliNode::existing(home)
    }

    /// The node whose home `init` created in `home` (as `cairn init` writes node.toml, with its
    /// default ports), moved to free loopback ports.
    pub fn existing(home: PathBuf) -> CliNode {
        let mut node = CliNode {
            home,
            port: free_port(),
            api_port: free_port(),
            org_key: String::new(),
            peer_id: String::new(),
            process: None,
        };
        let identity = node.ok(&["identity"]);
        for line in identity.lines() {
            if let Some(v) = line.strip_prefix("organisation key") {
                node.org_key = v.trim().to_string();
            }
            if let Some(v) = line.strip_prefix("node PeerId") {
                node.peer_id = v.trim().to_string();
            }
        }
        let config = node.home.join("node.toml");
        let text = std::fs::read_to_string(&config).expect("node.toml");
        let text = text
            .replace(
                "/ip4/0.0.0.0/tcp/7400",
                &format!("/ip4/127.0.0.1/tcp/{}", node.port),
            )
            .replace(
                "listen = \"127.0.0.1:7401\"",
                &format!("listen = \"127.0.0.1:{}\"", node.api_port),
            );
        std::fs::write(&config, text).expect("write node.toml");
        node
    }

    /// Appends TOML to node.toml.
    pub fn configure(&self, toml: &str) {
        let config = self.home.join("node.toml");
        let mut text = std::fs::read_to_string(&config).expect("node.toml");
        text.push('\n');
        text.push_str(toml);
        std::fs::write(&config, text).expect("write node.toml");
    }

    /// Sets a value in node.toml's text (a plain replacement).
    pub fn replace_in_config(&self, from: &str, to: &str) {
        let config = self.home.join("node.toml");
        let text = std::fs::read_to_string(&config).expect("node.toml");
        assert!(text.contains(from), "{from:?} is not in node.toml");
        std::fs::write(&config, text.replace(from, to)).expect("write node.toml");
    }

    /// Makes `self` and `other` partners, each sharing up to `tlp` with the other.
    pub fn partner_with(&self, other: &CliNode, name: &str, tlp: &str) {
        self.configure(&format!(
            "[policies.for-{name}]\nmax_tlp = \"{tlp}\"\n\n[[partners]]\nname = \"{name}\"\norg_key = \"{}\"\nkind = \"cert\"\npolicy = \"for-{name}\"\nnodes = [{{ peer_id = \"{}\", addresses = [\"/ip4/127.0.0.1/tcp/{}\"] }}]\n",
            other.org_key, other.peer_id, other.port
        ));
    }

    /// `cairn report new` of a TLP:GREEN phishing domain numbered `n`, which the node must
    /// take; what it printed.
    pub fn publish_green(&self, n: u32) -> String {
        self.ok(&[
            "report",
            "new",
            "--kind",
            "indicator",
            "--tlp",
            "green",
            "--title",
            &format!("Phishing kit {n}"),
            "--indicator",
            &format!("domain:phish-{n}.example"),
        ])
    }

    /// A `cairn` command for this node.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(cairn_binary());
        cmd.arg("--home")
            .arg(&self.home)
            .args(args)
            .env_remove("CAIRN_HOME");
        cmd
    }

    /// Runs a command and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run cairn")
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "cairn {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Starts `cairn run` and waits until its control socket answers.
    pub fn start(&mut self) {
        self.start_with(&[]);
    }

    /// [`CliNode::start`] with more environment variables (`CAIRN_LOG_FORMAT`).
    pub fn start_with(&mut self, env: &[(&str, &str)]) {
        assert!(self.process.is_none(), "already running");
        // What the node says goes to a file in its folder, shown if it does not start.
        let log_path = self.home.join("run.log");
        let log = std::fs::File::create(&log_path).expect("create run.log");
        let mut command = self.command(&["run"]);
        command.envs(env.iter().copied());
        let child = command
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start cairn run");
        self.process = Some(child);
        let start = Instant::now();
        let running = |node: &CliNode| {
            let out = node.run(&["status", "--json"]);
            out.status.success()
                && serde_json::from_slice::<serde_json::Value>(&out.stdout)
                    .is_ok_and(|s| s["running"] == true)
        };
        while !running(self) {
            let exited = self
                .process
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if exited.is_some() || start.elapsed() > Duration::from_secs(30) {
                panic!(
                    "the node did not start ({}):\n{}",
                    exited.map_or("still starting after 30 s".to_string(), |s| s.to_string()),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The running process's id.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// `cairn status --json`.
    pub fn status(&self) -> serde_json::Value {
        let status: serde_json::Value =
            serde_json::from_str(&self.ok(&["status", "--json"])).expect("status JSON");
        assert_eq!(status["running"], true, "the node is not running: {status}");
        status["node"].clone()
    }

    /// Reports stored, as the running node says.
    pub fn reports(&self) -> u64 {
        self.status()["reports"].as_u64().expect("report count")
    }

    /// Waits (up to `limit`) until the running node has stored at least `n` reports.
    pub fn wait_for_reports(&self, n: u64, limit: Duration) {
        let start = Instant::now();
        while self.reports() < n {
            assert!(
                start.elapsed() < limit,
                "the node stored {} of {n} reports",
                self.reports()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal to the running process and returns at once (SIGHUP: reload).
    pub fn send_signal(&self, signal: &str) {
        let child = self.process.as_ref().expect("running");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Sends a signal and waits for the process to end; returns whether it exited cleanly.
    pub fn signal(&mut self, signal: &str) -> bool {
        let mut child = self.process.take().expect("running");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        child.wait().expect("wait").success()
    }
}

impl Drop for CliNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
