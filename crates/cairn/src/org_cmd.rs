//! `cairn org`: the organisation's key statements. `show` prints what they establish (its id,
//! its keys, the node keys it revoked); `revoke-node` signs the revocation of a node key with
//! the organisation key and hands it to the running node, which sends it to every connected
//! partner at once (or keeps it in the store of a stopped node, sent on its next connections).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_core::keylog::{KeyLog, KeyStatement};
use clap::Subcommand;

use crate::control::{self, ControlRequest, ControlResponse};
use crate::home::{Home, now_ms};
use crate::view;

/// What `cairn org` does.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// The organisation's id, keys and revoked node keys, from its key statements.
    #[command(after_help = "Examples:\n  cairn org show\n  cairn org show --json")]
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a node's key: partners cut the node off within seconds and refuse it from then
    /// on, even after restarts (a stolen or retired node).
    #[command(
        after_help = "Examples:\n  cairn org revoke-node 12D3KooW... --reason \"laptop stolen\"\n  cairn org revoke-node 12D3KooW... --from 2026-11-30T22:00:00Z --reason \"server compromised\"\n\nRevoke from the time the node may have been taken, not the time it was noticed.\nRun it on a node that holds the organisation key (keys/org.key), not on the node revoked:\nits partners learn it from the nodes of the organisation they are connected to."
    )]
    RevokeNode {
        /// The node's PeerId (as `cairn identity` or `cairn peers` shows it).
        node: String,
        /// Why, in words (kept in the statement partners receive).
        #[arg(long)]
        reason: String,
        /// From when the key is revoked: RFC 3339, a date, or an age (`2h`: two hours ago).
        /// Now unless given.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `cairn org` command.
pub fn run(home: &Home, command: OrgCommand) -> Result<ExitCode> {
    match command {
        OrgCommand::Show { json } => show(home, json),
        OrgCommand::RevokeNode {
            node,
            reason,
            from,
            json,
        } => revoke_node(home, &node, &reason, from.as_deref(), json),
    }
}

/// The organisation's statements: from the running node, or from the store and the
/// organisation key of a stopped one.
fn statements(home: &Home) -> Result<Vec<KeyStatement>> {
    let socket = home.control_socket_path();
    let mut list = if control::is_running(&socket) {
        let ControlResponse::Statements(encoded) =
            control::ask(&socket, &ControlRequest::OrganisationStatements)?
        else {
            bail!("the running node answered something unexpected");
        };
        encoded
            .iter()
            .map(|text| {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
                Ok(KeyStatement::verify(&bytes)?)
            })
            .collect::<Result<Vec<_>>>()
            .context("the running node sent a key statement that does not verify")?
    } else {
        let org = home.node_certificate()?.org_key;
        let store = home.open_store()?;
        cairn_node::own_statements(&store, &org)?
    };
    if !list.iter().any(|s| s.defines().is_some()) && home.org_key_path().exists() {
        // A node that has not run since key statements came: its genesis is the implicit one.
        list.push(KeyStatement::implicit_genesis(&home.org_key()?)?);
    }
    Ok(list)
}

fn node_label(key: &[u8; 32]) -> String {
    match cairn_net::peer_id_of(key) {
        Ok(peer) => peer.to_string(),
        Err(_) => hex::encode(key),
    }
}

fn show(home: &Home, json: bool) -> Result<ExitCode> {
    let list = statements(home)?;
    let log = KeyLog::build(&list)
        .context("this organisation's key statements do not determine who it is")?;
    if json {
        let value = serde_json::json!({
            "org_id": log.org_id().to_string(),
            "name": log.name(),
            "org_keys": log.org_keys().iter().map(|p| serde_json::json!({
                "key": hex::encode(p.key),
                "from": view::rfc3339(p.from_ms),
                "until": p.until_ms.map(view::rfc3339),
            })).collect::<Vec<_>>(),
            "revoked": log.revocations().iter().map(|(key, from)| serde_json::json!({
                "key": hex::encode(key),
                "node": cairn_net::peer_id_of(key).ok().map(|p| p.to_string()),
                "from": view::rfc3339(*from),
            })).collect::<Vec<_>>(),
            "statements": list.len(),
            "left_out": log.left_out().iter().map(|l| l.reason.clone()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("organisation id   {}", log.org_id());
    if !log.name().is_empty() {
        println!("name              {}", log.name());
    }
    for period in log.org_keys() {
        let until = period
            .until_ms
            .map_or_else(|| "now".to_string(), view::rfc3339);
        println!(
            "organisation key  {} (from {} until {until})",
            hex::encode(period.key),
            if period.from_ms == 0 {
                "the start".to_string()
            } else {
                view::rfc3339(period.from_ms)
            }
        );
    }
    let revoked = log.revocations();
    if revoked.is_empty() {
        println!("revoked keys      none");
    }
    for (key, from) in revoked {
        println!(
            "revoked           {} from {}",
            node_label(&key),
            view::rfc3339(from)
        );
    }
    println!("key statements    {}", list.len());
    for left in log.left_out() {
        println!("left out          {}", left.reason);
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke_node(
    home: &Home,
    node: &str,
    reason: &str,
    from: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let reason = reason.trim();
    if reason.is_empty() {
        bail!("--reason must say why the node is revoked");
    }
    let address: cairn_net::NodeAddress = node.parse()?;
    let Some(node_key) = cairn_net::node_key_of(&address) else {
        bail!("{node} is not the PeerId of a Cairn node (an ed25519 key)");
    };
    if !home.org_key_path().exists() {
        bail!(
            "this node does not hold the organisation key ({}): revoke from a node or machine that does",
            home.org_key_path().display()
        );
    }
    let org = home.org_key()?;
    let now = now_ms();
    let from_ms = match from {
        Some(text) => view::parse_time(text, now, false)?,
        None => now,
    };
    if from_ms > now {
        bail!("--from {from:?} is in the future: a revocation takes effect from now or earlier");
    }
    let list = statements(home)?;
    let log = KeyLog::build(&list)
        .context("this organisation's key statements do not determine who it is")?;
    if log.org_keys().iter().any(|p| p.key == node_key) {
        bail!("{node} is an organisation key, not a node key");
    }
    if let Some(at) = log.revoked_from(&node_key)
        && at <= from_ms
    {
        bail!("{node} is already revoked from {}", view::rfc3339(at));
    }
    let statement = KeyStatement::revocation(log.org_id(), &org, node_key, from_ms, reason, now)?;
    let this_node = home.node_certificate()?.node_key == node_key;
    let socket = home.control_socket_path();
    let running = control::is_running(&socket);
    if running {
        let request = ControlRequest::AddStatements {
            statements: vec![control::encode_envelope(statement.to_bytes())],
        };
        let ControlResponse::StatementsAdded { .. } = control::ask(&socket, &request)? else {
            bail!("the running node answered something unexpected");
        };
    } else {
        let store = home.open_store()?;
        // With the genesis, so that the store holds the organisation's log whole.
        let mut keep: Vec<KeyStatement> = list
            .iter()
            .filter(|s| s.defines().is_some())
            .cloned()
            .collect();
        keep.push(statement.clone());
        store.keep_statements(&keep)?;
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "revoked": node,
                "from": view::rfc3339(from_ms),
                "reason": reason,
                "sent_to_partners": running,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Revoked node {node} from {}: {reason}",
        view::rfc3339(from_ms)
    );
    if running {
        println!(
            "The running node sent the revocation to its connected partners; they cut the node off."
        );
    } else {
        println!(
            "Kept in this node's store: partners learn it when this node next connects to them (`cairn run`)."
        );
    }
    if this_node {
        println!("This is this node's own key: it will not start again.");
    }
    Ok(ExitCode::SUCCESS)
}
