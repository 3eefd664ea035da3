//! `cairn psi ask`: which of these values does a partner hold that this organisation may see
//! there, by private set intersection (docs/PSI.md), through the running node: the partner
//! learns only how many values were asked. Values come as arguments or one a line from a file
//! (`-` for standard input), each an observable or TYPE:VALUE.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_core::Indicator;

use crate::control::{ControlRequest, ControlResponse, ask, is_running};
use crate::home::Home;

/// `cairn psi`.
#[derive(Debug, clap::Subcommand)]
pub enum PsiCommand {
    /// Ask a partner which of these values it holds that this organisation may see there.
    #[command(
        after_help = "Examples:\n  cairn psi ask cert-eu 203.0.113.7 evil.example\n  cairn psi ask cert-eu --file iocs.txt --json\n\nThe partner must offer it to this organisation (psi_values_per_day in its node.toml);\nit learns how many values were asked, nothing else. Needs the running node."
    )]
    Ask {
        /// The partner, by its name in the trust list or its organisation key.
        partner: String,
        /// Values: observables, or TYPE:VALUE.
        values: Vec<String>,
        /// Read values from this file too, one a line (`-`: standard input; `#` starts a
        /// comment line).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `cairn psi`.
pub fn run(home: &Home, command: PsiCommand) -> Result<ExitCode> {
    let PsiCommand::Ask {
        partner,
        mut values,
        file,
        json,
    } = command;
    if let Some(path) = file {
        let mut text = String::new();
        if path.as_os_str() == "-" {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading standard input")?;
        } else {
            text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
        }
        values.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    if values.is_empty() {
        bail!("no value to ask about: give values, or --file");
    }
    let mut asked: Vec<Indicator> = Vec::with_capacity(values.len());
    for text in &values {
        let read = cairn_core::correlation::readings(text)
            .map_err(|e| anyhow::anyhow!("{text:?}: {e}"))?;
        asked.extend(read);
    }
    let socket = home.control_socket_path();
    if !is_running(&socket) {
        bail!("the node is not running: `cairn run` first (a partner is asked over the network)");
    }
    let request = ControlRequest::PsiAsk {
        partner: partner.clone(),
        values: asked
            .iter()
            .map(|i| format!("{}:{}", i.kind, i.value))
            .collect(),
    };
    let held = match ask(&socket, &request)? {
        ControlResponse::Json(view) => view,
        ControlResponse::Error(e) => bail!("{e}"),
        _ => bail!("the running node answered something unexpected"),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&held)?);
        return Ok(ExitCode::SUCCESS);
    }
    let list = held["held"].as_array().cloned().unwrap_or_default();
    for value in &list {
        println!("{}", value.as_str().unwrap_or_default());
    }
    eprintln!(
        "{} of {} value(s) asked are held by {partner} and may be seen by this organisation there.",
        list.len(),
        asked.len()
    );
    Ok(ExitCode::SUCCESS)
}
