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
    let ControlResponse::Status(s) = ask(&home.control_socket_path(), &ControlRequest::Status)?
    else {
        bail!("the running node answered something unexpected");
    };
    if json {
        print_json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
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
    let ControlResponse::Peers(peers) = ask(&home.control_socket_path(), &ControlRequest::Peers)?
    else {
        bail!("the running node answered something unexpected");
    };
    if json {
        print_json(&peers)?;
    } else if peers.is_empty() {
        println!("No partner nodes in the trust list: add [[partners.nodes]] to node.toml.");
    } else {
        print!("{}", peers_table(&peers, now_ms()));
        println!(
            "BEHIND counts the partner's arrivals not yet looked at (not all of them may be for this node)."
        );
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
