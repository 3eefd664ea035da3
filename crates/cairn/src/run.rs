//! `cairn run`: the node daemon. It reads node.toml, starts the node (store, network, sharing
//! rules) and its control socket, and runs until Ctrl-C or SIGTERM, then stops cleanly:
//! in-flight writes finish and catch-up cursors are saved before it exits.

use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_core::OrgPublicKey;
use cairn_node::{NodeHandle, NodeSettings, Reconfigured, Sharing};
use tokio_util::sync::CancellationToken;

use crate::config::NodeConfig;
use crate::control;
use crate::home::Home;

/// The settings of the node in `home`.
pub fn settings(home: &Home) -> Result<NodeSettings> {
    let config = home.config()?;
    let certificate = home.node_certificate()?;
    let node_key = home.node_key()?;
    if certificate.node_key != node_key.public_bytes() {
        anyhow::bail!(
            "{} certifies another node key than {}",
            home.node_cert_path().display(),
            home.node_key_path().display()
        );
    }
    // The organisation's genesis: the implicit one every node holding the organisation's first
    // key writes alike (a node without it holds its organisation's statements in its store).
    let organisation_statements = match home.first_org_key()? {
        Some(key) => vec![
            cairn_core::keylog::KeyStatement::implicit_genesis(&key)
                .context("cannot write the organisation's genesis statement")?,
        ],
        None => Vec::new(),
    };
    let Sharing {
        partners,
        communities,
        inbound,
    } = sharing(&config, &certificate.org_key);
    Ok(NodeSettings {
        organisation_statements,
        organisation: config.node.organisation.clone(),
        node_secret: node_key.secret_bytes(),
        communities,
        inbound,
        partners,
        certificate,
        store_path: home.store_path(),
        store: config.store.clone(),
        network: config.network.clone(),
        sync: config.sync.clone(),
    })
}

/// The trust list and sharing rules node.toml gives the node of organisation `us`.
pub fn sharing(config: &NodeConfig, us: &OrgPublicKey) -> Sharing {
    let sections = config.sharing();
    Sharing {
        communities: sections.communities(us),
        inbound: sections.inbound(),
        partners: sections
            .trust_list()
            .into_iter()
            .chain(sections.own_nodes(us, &config.node.organisation))
            .collect(),
    }
}

/// What reloading node.toml did on the running node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigReloaded {
    /// Partners added and removed, nodes disconnected and newly trusted.
    pub changes: Reconfigured,
    /// Sections changed in the file that the node takes only when it starts again.
    pub restart_needed: Vec<String>,
}

impl ConfigReloaded {
    /// What an operator reads.
    pub fn describe(&self) -> String {
        let c = &self.changes;
        let mut out = String::from("node.toml reloaded: trust list and sharing rules taken.\n");
        let list = |names: &[String]| names.join(", ");
        if !c.added.is_empty() {
            out.push_str(&format!("  partners added     {}\n", list(&c.added)));
        }
        if !c.removed.is_empty() {
            out.push_str(&format!("  partners removed   {}\n", list(&c.removed)));
        }
        if !c.disconnected.is_empty() {
            out.push_str(&format!("  disconnected       {}\n", list(&c.disconnected)));
        }
        if !c.trusted.is_empty() {
            out.push_str(&format!("  nodes now trusted  {}\n", list(&c.trusted)));
        }
        if c.added.is_empty()
            && c.removed.is_empty()
            && c.disconnected.is_empty()
            && c.trusted.is_empty()
        {
            out.push_str(
                "  the trust list is unchanged; policies and communities apply from now on\n",
            );
        } else {
            out.push_str("  policies and communities apply from now on\n");
        }
        if !self.restart_needed.is_empty() {
            out.push_str(&format!(
                "  changed, taken at the next start: {}\n",
                self.restart_needed.join(", ")
            ));
        }
        out
    }
}

/// Reads node.toml again and gives the running node its trust list and sharing rules. A file
/// with any problem is refused whole (the message names each), and the node keeps running with
/// what it had.
pub async fn reload_config(daemon: &control::Daemon, node: &NodeHandle) -> Result<ConfigReloaded> {
    let path = daemon.home.config_path();
    let (config, issues) =
        NodeConfig::load_with_issues_for(&path, Some(&node.org())).map_err(|e| {
            anyhow::anyhow!(
                "{e:#}\n(not taken: the node keeps running with the configuration it had)"
            )
        })?;
    if !issues.is_empty() {
        let mut message = format!(
            "{} was not taken: the node keeps running with the configuration it had",
            path.display()
        );
        for issue in &issues {
            message.push_str(&format!(
                "\n  {}:{}: {}: {}",
                path.display(),
                issue.line,
                issue.field,
                issue.message
            ));
        }
        anyhow::bail!(message);
    }
    let changes = node
        .reconfigure(sharing(&config, &node.org()))
        .await
        .with_context(|| {
            format!(
                "{} was not taken: the node keeps running with the configuration it had",
                path.display()
            )
        })?;
    Ok(ConfigReloaded {
        changes,
        restart_needed: restart_needed(&daemon.started_with, &config),
    })
}

/// The sections of node.toml that differ from those the node started with and that only a
/// start takes (the TAXII collections follow the community names at start).
fn restart_needed(started: &NodeConfig, now: &NodeConfig) -> Vec<String> {
    let mut changed = Vec::new();
    if started.node.organisation != now.node.organisation
        || started.node.node_name != now.node.node_name
    {
        changed.push("[node] organisation and node_name".to_string());
    }
    if started.node.malloc_arenas != now.node.malloc_arenas {
        changed.push("[node] malloc_arenas".to_string());
    }
    if started.store != now.store {
        changed.push("[store]".to_string());
    }
    if started.network != now.network {
        changed.push("[network]".to_string());
    }
    if started.sync != now.sync {
        changed.push("[sync]".to_string());
    }
    if started.api != now.api {
        changed.push("[api]".to_string());
    }
    if started.import != now.import {
        changed.push("[import]".to_string());
    }
    if started.communities.keys().ne(now.communities.keys()) {
        changed.push("the TAXII collections of communities".to_string());
    }
    changed
}

/// Caps the C library allocator's arenas at `arenas` (`[node] malloc_arenas`; 0 leaves the
/// default). Only glibc has them; elsewhere the setting is reported and ignored.
fn limit_malloc_arenas(arenas: u32) {
    if arenas == 0 {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let arenas = i32::try_from(arenas).unwrap_or(i32::MAX);
        // SAFETY: mallopt only reads its two integer arguments.
        if unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) } != 1 {
            tracing::warn!(arenas, "the C library refused [node] malloc_arenas");
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    tracing::warn!(
        arenas,
        "[node] malloc_arenas applies to glibc only and is ignored here"
    );
}

/// Runs the node until it is told to stop.
pub fn run(home: &Home) -> Result<ExitCode> {
    let settings = settings(home)?;
    let config = home.config()?;
    // Before the runtime's threads first allocate: glibc sizes its arena limit on first need.
    limit_malloc_arenas(config.node.malloc_arenas);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cairn")
        .build()
        .context("cannot start the runtime")?;
    let api = config.api.clone();
    let warning_lists = home.warning_lists()?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let partners = settings.partners.len();
        let organisation = settings.organisation.clone();
        let node = cairn_node::start(settings, shutdown.clone())
            .await
            .context("the node did not start")?;
        // Reports published over the API are signed here: with the organisation key, or by a
        // node without it, with its node key under its organisation's authorisation.
        let signer = cairn_api::SignerSlot::default();
        if api.enabled {
            match home.report_signing_key() {
                Ok(key) => signer.replace(Some(key)),
                Err(e) => eprintln!(
                    "warning: publishing over the API is off: {}",
                    crate::one_line(&format!("{e:#}"))
                ),
            }
        }
        let reload: control::ReloadSigningKey = {
            let signer = signer.clone();
            let home = home.clone();
            let enabled = api.enabled;
            std::sync::Arc::new(move || {
                if enabled {
                    signer.replace(Some(home.report_signing_key()?));
                }
                Ok(())
            })
        };
        let daemon = control::Daemon {
            home: home.clone(),
            started_with: std::sync::Arc::new(config.clone()),
            reload_signing_key: reload,
        };
        let socket = home.control_socket_path();
        if let Err(e) =
            control::serve(&socket, node.clone(), daemon.clone(), shutdown.clone()).await
        {
            shutdown.cancel();
            node.stopped().await;
            return Err(e);
        }
        let api_address = if api.enabled {
            // A TAXII collection per community of node.toml.
            let communities: Vec<String> = config.communities.keys().cloned().collect();
            match cairn_api::serve(
                &api,
                node.clone(),
                cairn_api::ApiParts {
                    signer,
                    communities,
                    import: config.import.clone(),
                    tokens_path: home.tokens_path(),
                    warning_lists: std::sync::Arc::new(warning_lists),
                    scoring: config.scoring.clone(),
                    partner_actions: Some(std::sync::Arc::new(
                        crate::partner_cmd::ConsolePartnerActions::new(
                            daemon.clone(),
                            node.clone(),
                        ),
                    )),
                },
                shutdown.clone(),
            )
            .await
            {
                Ok(address) => Some(address),
                Err(e) => {
                    shutdown.cancel();
                    node.stopped().await;
                    return Err(anyhow::anyhow!("the API did not start: {e}"));
                }
            }
        } else {
            None
        };
        println!("Cairn node of {organisation} running");
        println!("  PeerId      {}", node.peer_id());
        for address in node.listen_addresses() {
            println!("  listening   {address}");
        }
        println!("  partners    {partners} in the trust list");
        println!("  control     {}", socket.display());
        if let Some(address) = api_address {
            let scheme = if api.tls_certificate.is_some() {
                "https"
            } else {
                "http"
            };
            println!("  api         {scheme}://{address}/api/v1/ (tokens: `cairn token create`)");
            println!("  taxii       {scheme}://{address}/taxii2/");
        }
        println!("Stop with Ctrl-C (or SIGTERM).");
        wait_for_signal(&daemon, &node).await?;
        tracing::info!("stopping: finishing in-flight work and saving cursors");
        shutdown.cancel();
        node.stopped().await;
        let _ = std::fs::remove_file(&socket);
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Waits for Ctrl-C or SIGTERM; on SIGHUP, reloads node.toml (as `cairn config reload`) and
/// goes on waiting.
async fn wait_for_signal(daemon: &control::Daemon, node: &NodeHandle) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    loop {
        tokio::select! {
            result = tokio::signal::ctrl_c() => return result.context("cannot listen for Ctrl-C"),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => match reload_config(daemon, node).await {
                Ok(reloaded) => {
                    for line in reloaded.describe().lines() {
                        tracing::info!("SIGHUP: {}", line.trim());
                    }
                }
                Err(e) => tracing::error!("SIGHUP: {e:#}"),
            },
        }
    }
}
