//! `cairn run`: the node daemon. It reads node.toml, starts the node (store, network, sharing
//! rules) and its control socket, and runs until Ctrl-C or SIGTERM, then stops cleanly:
//! in-flight writes finish and catch-up cursors are saved before it exits.

use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_node::NodeSettings;
use tokio_util::sync::CancellationToken;

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
    let sharing = config.sharing();
    // The organisation's genesis: the implicit one every node holding the organisation's first
    // key writes alike (a node without it holds its organisation's statements in its store).
    let organisation_statements = match home.first_org_key()? {
        Some(key) => vec![
            cairn_core::keylog::KeyStatement::implicit_genesis(&key)
                .context("cannot write the organisation's genesis statement")?,
        ],
        None => Vec::new(),
    };
    Ok(NodeSettings {
        organisation_statements,
        organisation: config.node.organisation.clone(),
        node_secret: node_key.secret_bytes(),
        communities: sharing.communities(&certificate.org_key),
        inbound: sharing.inbound(),
        partners: sharing
            .trust_list()
            .into_iter()
            .chain(sharing.own_nodes(&certificate.org_key, &config.node.organisation))
            .collect(),
        certificate,
        store_path: home.store_path(),
        store: config.store.clone(),
        network: config.network.clone(),
        sync: config.sync.clone(),
    })
}

/// Runs the node until it is told to stop.
pub fn run(home: &Home) -> Result<ExitCode> {
    let settings = settings(home)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cairn")
        .build()
        .context("cannot start the runtime")?;
    let config = home.config()?;
    let api = config.api.clone();
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
        let socket = home.control_socket_path();
        if let Err(e) = control::serve(&socket, node.clone(), reload, shutdown.clone()).await {
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
                signer,
                communities,
                config.import.clone(),
                home.tokens_path(),
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
        wait_for_signal().await?;
        eprintln!("Stopping: finishing in-flight work and saving cursors...");
        shutdown.cancel();
        node.stopped().await;
        let _ = std::fs::remove_file(&socket);
        eprintln!("Stopped.");
        Ok(ExitCode::SUCCESS)
    })
}

async fn wait_for_signal() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C"),
        _ = terminate.recv() => Ok(()),
    }
}
