//! `cairn config check` and `cairn policy explain`: what an operator runs to see who gets what.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;

use crate::config::NodeConfig;
use crate::home::{Home, now_ms};
use crate::sharing;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate node.toml: every problem with its line and field, or a summary.
    #[command(
        after_help = "Examples:\n  cairn config check\n  cairn config check --file deploy/node.example.toml"
    )]
    Check {
        /// The file to check (default: the node's node.toml).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Make the running node read node.toml again: its trust list, policies and communities
    /// are taken at once (a file with problems is refused and the node keeps what it had).
    /// SIGHUP does the same.
    #[command(
        after_help = "Examples:\n  cairn config reload\n  cairn --home /var/lib/cairn config reload\n\nUnder systemd, `systemctl reload cairn` sends SIGHUP, which does the same."
    )]
    Reload,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Who receives a report and who does not, and why.
    #[command(
        after_help = "Examples:\n  cairn policy explain --report 3f2a9c01 --peer bank-a\n  cairn policy explain --report 3f2a9c01 --all-peers"
    )]
    Explain {
        /// Report id or prefix.
        #[arg(long)]
        report: String,
        /// The partner's name in node.toml.
        #[arg(
            long,
            required_unless_present = "all_peers",
            conflicts_with = "all_peers"
        )]
        peer: Option<String>,
        /// Every partner.
        #[arg(long)]
        all_peers: bool,
    },
}

pub fn config(home: &Home, command: ConfigCommand) -> Result<ExitCode> {
    let ConfigCommand::Check { file } = command else {
        bail!("only `config check` is read here");
    };
    let path = file.unwrap_or_else(|| home.config_path());
    let us = home.organisation_if_known();
    let (config, issues) = NodeConfig::load_with_issues_for(&path, us.as_ref())?;
    if !issues.is_empty() {
        for issue in &issues {
            eprintln!(
                "{}:{}: {}: {}",
                path.display(),
                issue.line,
                issue.field,
                issue.message
            );
        }
        bail!("{} has {} problem(s)", path.display(), issues.len());
    }
    println!("{} is valid.", path.display());
    println!(
        "  organisation  {} (node {})",
        config.node.organisation, config.node.node_name
    );
    println!("  listening     {}", config.network.listen.join(", "));
    print!("{}", sharing::summary(&config.sharing()));
    let inbound = config.sharing().inbound();
    println!(
        "  inbound       {} direct reports, {} relayed reports{}, up to {} bytes, dated at most {} minutes ahead",
        if inbound.accept_direct {
            "accepts"
        } else {
            "refuses"
        },
        if inbound.accept_relayed {
            "accepts"
        } else {
            "refuses"
        },
        if inbound.relayed_authors.is_empty() {
            String::new()
        } else {
            format!(" by {} listed author(s)", inbound.relayed_authors.len())
        },
        inbound.max_bytes,
        inbound.max_clock_ahead_ms / 60_000
    );
    Ok(ExitCode::SUCCESS)
}

pub fn policy(home: &Home, command: PolicyCommand) -> Result<ExitCode> {
    let PolicyCommand::Explain {
        report,
        peer,
        all_peers,
    } = command;
    let config = home.config()?;
    let us = home.organisation()?;
    // The report, from the store of a stopped node or through a running one.
    let reader = crate::reports::Reader::open(home)?;
    let (stored, _) = reader.one(&report)?;
    // A sighting goes only where the report it concerns may go: that report, as held here.
    let concerned = match stored.report.report().concerns {
        None => None,
        Some(concerns) => Some(match reader.maybe_one(&concerns.report)? {
            Some(held) => cairn_node::exchange::ConcernedStanding::of(&us, &held, now_ms()),
            None => cairn_node::exchange::ConcernedStanding::NotHeld,
        }),
    };
    let id = stored.report.id();
    let sections = config.sharing();
    let partners = sections.partners();
    let communities = sections.communities(&us);
    let chosen: Vec<_> = match (&peer, all_peers) {
        (Some(name), _) => {
            let found: Vec<_> = partners.iter().filter(|p| &p.name == name).collect();
            if found.is_empty() {
                let names: Vec<&str> = partners.iter().map(|p| p.name.as_str()).collect();
                bail!(
                    "no partner {name:?} in node.toml (partners: {})",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                );
            }
            found
        }
        (None, _) => partners.iter().collect(),
    };
    // How far the report has come to this node: its own reports start at 0.
    let hop = cairn_node::relay::hop_of(&us, &stored.report.author(), &stored.provenance);
    let r = stored.report.report();
    println!(
        "Report {} ({} {}, {}{}), held at hop {hop}:",
        id.short(),
        r.kind,
        r.tlp.official(),
        r.distribution.scope,
        r.distribution
            .community
            .as_ref()
            .map_or(String::new(), |c| format!(", community {c}"))
    );
    if chosen.is_empty() {
        println!("  no partners in node.toml: it goes to nobody");
    }
    let decisions = cairn_node::exchange::explain_sharing(
        &us,
        &stored,
        concerned.as_ref(),
        chosen,
        &communities,
        now_ms(),
    );
    for decision in decisions {
        if decision.receives {
            let without = if decision.withheld.is_empty() {
                String::new()
            } else {
                format!(" without {}", decision.withheld.join(", "))
            };
            println!(
                "  {:<16} receives it{without}: {}",
                decision.partner, decision.reason
            );
        } else {
            println!("  {:<16} does not: {}", decision.partner, decision.reason);
        }
    }
    Ok(ExitCode::SUCCESS)
}
