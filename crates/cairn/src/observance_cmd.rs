//! `cairn observance`: the Paris Call observance trends over what the node holds (current
//! incident reports by principle, region, sector and quarter), from the running node or a
//! stopped node's store; the same view as `GET /api/v1/observance`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use cairn_api::observance::{ObservanceQuery, ObservanceView, view};

use crate::control::{ControlRequest, ControlResponse, ask, is_running};
use crate::home::Home;

/// `cairn observance`'s options.
#[derive(Debug, clap::Args)]
pub struct ObservanceArgs {
    /// Only reports this organisation wrote.
    #[arg(long)]
    mine: bool,
    /// Leave out cells under this count.
    #[arg(long, value_name = "N")]
    min_count: Option<u64>,
    /// Only this region.
    #[arg(long)]
    region: Option<String>,
    /// Only this sector.
    #[arg(long)]
    sector: Option<String>,
    /// Only this principle (1-9).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=9))]
    principle: Option<u8>,
    /// JSON, as the API gives it.
    #[arg(long)]
    json: bool,
}

/// The trends `query` asks for, from the running node or the store.
pub fn trends(home: &Home, query: &ObservanceQuery) -> Result<ObservanceView> {
    let socket = home.control_socket_path();
    if is_running(&socket) {
        return match ask(&socket, &ControlRequest::Observance(query.clone()))? {
            ControlResponse::Observance(trends) => Ok(trends),
            ControlResponse::Error(e) => bail!("{e}"),
            _ => bail!("the running node answered something unexpected"),
        };
    }
    let store = home.open_store()?;
    let us = home.organisation()?;
    Ok(view(&store, us, query)?)
}

/// Prints the trends as a table (or JSON).
pub fn show(home: &Home, args: ObservanceArgs) -> Result<ExitCode> {
    let query = ObservanceQuery {
        mine: args.mine,
        min_count: args.min_count,
        region: args.region,
        sector: args.sector,
        principle: args.principle,
    };
    let trends = trends(home, &query)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&trends)?);
        return Ok(ExitCode::SUCCESS);
    }
    let whose = if trends.mine {
        "written by this organisation"
    } else {
        "held by this node"
    };
    println!(
        "{} current incident report(s) {whose} name a Paris Call principle.",
        trends.reports
    );
    if trends.cells.is_empty() {
        println!("No cell to show.");
    } else {
        let width = |f: &dyn Fn(&cairn_api::observance::ObservanceCell) -> usize, min: usize| {
            trends.cells.iter().map(f).max().unwrap_or(0).max(min)
        };
        let (rw, sw) = (
            width(&|c| c.region.chars().count(), 6),
            width(&|c| c.sector.chars().count(), 6),
        );
        println!(
            "{:<8} {:<9} {:<rw$} {:<sw$} {:>6}",
            "QUARTER", "PRINCIPLE", "REGION", "SECTOR", "COUNT"
        );
        for c in &trends.cells {
            println!(
                "{:<8} {:<9} {:<rw$} {:<sw$} {:>6}",
                c.quarter, c.principle, c.region, c.sector, c.count
            );
        }
    }
    if trends.suppressed > 0 {
        println!(
            "{} cell(s) under {} left out.",
            trends.suppressed, trends.min_count
        );
    }
    Ok(ExitCode::SUCCESS)
}
