//! `cairn status`, `cairn peers` and `cairn audit`: what operators ask a node. Status and peers
//! come from the running node (its control socket); the audit trail is read from the running
//! node, or from the store when the node is stopped.

use std::process::ExitCode;

use anyhow::{Result, bail};
use cairn_node::{AuditEntry, PeerStatus};

use crate::control::{ControlRequest, ControlResponse, ask, is_running};
use crate::home::{Home, now_ms};
use crate::view;

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// How long ago, in words.
fn ago(ms: Option<i64>, now: i64) -> String {
    let Some(ms) = ms else {
        return "never".into();
    };
    let secs = (now - ms).max(0) / 1000;
    match secs {
        0..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// `cairn status`.
pub fn status(home: &Home, json: bool) -> Result<ExitCode> {
    if !is_running(&home.control_socket_path()) {
        return stopped_status(home, json);
    }
    let ControlResponse::Status(s) = ask(&home.control_socket_path(), &ControlRequest::Status)?
    else {
        bail!("the running node answered something unexpected");
    };
    if json {
        print_json(&serde_json::json!({ "running": true, "node": s }))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("running           yes");
    println!("organisation      {}", s.organisation);
    println!("organisation key  {}", s.org_key);
    println!("node              {} ({})", s.node_name, s.peer_id);
    for a in &s.listening {
        println!("listening         {a}/p2p/{}", s.peer_id);
    }
    println!(
        "running for       {}",
        ago(Some(now_ms() - s.uptime_secs as i64 * 1000), now_ms()).trim_end_matches(" ago")
    );
    println!(
        "reports           {} stored ({} waiting for the query index)",
        s.reports, s.index_pending
    );
    println!(
        "since start       {} received, {} served, {} refused",
        s.received, s.served, s.refused
    );
    println!(
        "partners          {} of {} nodes connected (`cairn peers` for details)",
        s.peers_connected, s.peers_trusted
    );
    Ok(ExitCode::SUCCESS)
}

/// What a stopped node is, read from its home: its configuration, certificate and store.
fn stopped_status(home: &Home, json: bool) -> Result<ExitCode> {
    let config = home.config()?;
    let certificate = home.node_certificate()?;
    let peer_id = cairn_net::peer_id_of(&certificate.node_key)?.to_string();
    let store = home.open_store()?;
    let reports = store.len()?;
    let sharing = crate::run::sharing(&config, &certificate.org_key);
    let trusted: usize = sharing.partners.iter().map(|p| p.nodes.len()).sum();
    if json {
        print_json(&serde_json::json!({
            "running": false,
            "node": {
                "organisation": config.node.organisation,
                "org_key": certificate.org_key.to_string(),
                "node_name": certificate.node_name,
                "peer_id": peer_id,
                "listening": config.network.listen,
                "reports": reports,
                "peers_trusted": trusted,
            }
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if home.control_socket_path().exists() {
        println!(
            "running           no: the node that ran here stopped without closing its control socket (killed?); start it with `cairn run`"
        );
    } else {
        println!("running           no: start it with `cairn run`");
    }
    println!("organisation      {}", config.node.organisation);
    println!("organisation key  {}", certificate.org_key);
    println!("node              {} ({peer_id})", certificate.node_name);
    for a in &config.network.listen {
        println!("listens on        {a} (when running)");
    }
    println!("reports           {reports} stored");
    println!("partners          {trusted} nodes in the trust list");
    Ok(ExitCode::SUCCESS)
}

/// The partner nodes of a stopped node's trust list, with its position in each one's arrivals
/// as its store keeps it.
fn stopped_peers(home: &Home) -> Result<Vec<PeerStatus>> {
    let config = home.config()?;
    let certificate = home.node_certificate()?;
    let store = home.open_store()?;
    let cursors: std::collections::BTreeMap<[u8; 32], u64> = store.cursors()?.into_iter().collect();
    let sharing = crate::run::sharing(&config, &certificate.org_key);
    let mut peers = Vec::new();
    for p in &sharing.partners {
        for n in &p.nodes {
            let cursor = cairn_net::node_key_of(&n.node)
                .and_then(|key| cursors.get(&key).copied())
                .unwrap_or(0);
            peers.push(PeerStatus {
                partner: p.partner.name.clone(),
                org_key: p.partner.org.to_string(),
                peer_id: n.node.to_string(),
                connected: false,
                address: n.addresses.first().cloned(),
                last_seen_ms: None,
                cursor,
                head: cursor,
                received: 0,
                refused: 0,
                served: 0,
                last_error: Some("this node is not running".into()),
            });
        }
    }
    Ok(peers)
}

/// The `cairn peers` table.
pub fn peers_table(peers: &[PeerStatus], now: i64) -> String {
    let mut out = format!(
        "{:<16} {:<14} {:<12} {:<10} {:>8} {:>9} {:>8} {:>7}  {}\n",
        "PARTNER",
        "NODE",
        "STATE",
        "LAST SEEN",
        "BEHIND",
        "RECEIVED",
        "REFUSED",
        "SERVED",
        "LAST PROBLEM"
    );
    for p in peers {
        let node = format!("…{}", &p.peer_id[p.peer_id.len().saturating_sub(12)..]);
        out.push_str(&format!(
            "{:<16} {:<14} {:<12} {:<10} {:>8} {:>9} {:>8} {:>7}  {}\n",
            p.partner,
            node,
            if p.connected {
                "connected"
            } else {
                "not connected"
            },
            ago(p.last_seen_ms, now),
            p.behind(),
            p.received,
            p.refused,
            p.served,
            p.last_error.as_deref().unwrap_or("-")
        ));
    }
    out
}

/// `cairn peers catch-up-again NODE`.
pub fn catch_up_again(home: &Home, node: &str, json: bool) -> Result<ExitCode> {
    let request = ControlRequest::CatchUpAgain {
        node: node.to_string(),
    };
    let ControlResponse::CaughtUpAgain { was } = ask(&home.control_socket_path(), &request)? else {
        bail!("the running node answered something unexpected");
    };
    if json {
        print_json(&serde_json::json!({ "node": node, "was": was, "now": 0 }))?;
    } else {
        println!(
            "Catching up with {node} again from its first report (our position in its arrivals was {was})."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn peers`.
pub fn peers(home: &Home, json: bool) -> Result<ExitCode> {
    let running = is_running(&home.control_socket_path());
    let peers = if running {
        let ControlResponse::Peers(peers) =
            ask(&home.control_socket_path(), &ControlRequest::Peers)?
        else {
            bail!("the running node answered something unexpected");
        };
        peers
    } else {
        stopped_peers(home)?
    };
    if json {
        print_json(&peers)?;
    } else if peers.is_empty() {
        println!("No partner nodes in the trust list: add [[partners.nodes]] to node.toml.");
    } else {
        print!("{}", peers_table(&peers, now_ms()));
        if running {
            println!(
                "BEHIND counts the partner's arrivals not yet looked at (not all of them may be for this node)."
            );
        } else {
            println!(
                "This node is not running: CURSOR is where it will resume with each partner node (`cairn run`)."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn audit REPORT`.
pub fn audit(home: &Home, report: &str, json: bool) -> Result<ExitCode> {
    let (id, entries): (String, Vec<AuditEntry>) = if is_running(&home.control_socket_path()) {
        match ask(
            &home.control_socket_path(),
            &ControlRequest::Audit {
                report: report.to_string(),
            },
        )? {
            ControlResponse::Audit(entries) => (report.to_string(), entries),
            _ => bail!("the running node answered something unexpected"),
        }
    } else {
        let store = home.open_store()?;
        let id = store.resolve(report)?;
        let config = home.config()?;
        let trust = config.sharing().trust_list();
        (id.to_string(), cairn_node::audit(&store, &trust, &id)?)
    };
    if json {
        print_json(&entries)?;
    } else if entries.is_empty() {
        println!("Report {id} has not been served to any partner.");
    } else {
        println!("Report {id} was served to:");
        for e in &entries {
            println!(
                "  {}  {:<16} node {}",
                view::rfc3339(e.at_ms),
                e.partner,
                e.peer_id
            );
        }
        let mut orgs: Vec<&str> = entries.iter().map(|e| e.partner.as_str()).collect();
        orgs.sort_unstable();
        orgs.dedup();
        println!("{} organisation(s): {}", orgs.len(), orgs.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
