//! `cairn observance`: the Paris Call observance trends over what the node holds (current
//! incident reports by principle, region, sector and quarter), from the running node or a
//! stopped node's store; the same view as `GET /api/v1/observance`. `--federation` merges the
//! latest figures each organisation published; `cairn observance publish` publishes this
//! organisation's own (TLP:CLEAR, small cells left out).

use std::process::ExitCode;

use anyhow::{Result, bail};
use cairn_api::observance::{ObservanceQuery, ObservanceView, view};

use crate::control::{ControlRequest, ControlResponse, ask, is_running};
use crate::home::Home;

/// `cairn observance`'s options.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ObservanceArgs {
    #[command(subcommand)]
    action: Option<ObservanceAction>,
    /// Only reports this organisation wrote.
    #[arg(long, conflicts_with = "federation")]
    mine: bool,
    /// The federation's trends: the latest observance figures each organisation published,
    /// as this node holds them, merged.
    #[arg(long)]
    federation: bool,
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
    /// Only this UN GGE norm (a-k).
    #[arg(long, value_parser = |t: &str| cairn_core::coding::GgeNorm::from_term(t).map(|n| n.term().to_string()))]
    norm: Option<String>,
    /// Only principles, or only norms.
    #[arg(long, value_parser = ["principles", "norms"])]
    measures: Option<String>,
    /// A regional cluster: only incident reports addressed to this community (with
    /// --federation: the figures published to it).
    #[arg(long)]
    community: Option<String>,
    /// JSON, as the API gives it.
    #[arg(long)]
    json: bool,
}

/// What else `cairn observance` does.
#[derive(Debug, clap::Subcommand)]
pub enum ObservanceAction {
    /// Publish this organisation's own figures: the current incident reports it wrote,
    /// counted by principle or norm, region, sector and quarter, cells under --min-count left out,
    /// signed as a TLP:CLEAR report that supersedes the figures published before. Counts of
    /// reports of every TLP become public: choose the threshold accordingly.
    #[command(
        after_help = "Examples:\n  cairn observance publish\n  cairn observance publish --min-count 10 --epsilon 1.0\n  cairn observance publish --community west-africa-cluster"
    )]
    Publish {
        #[command(flatten)]
        wanted: FiguresWanted,
        /// JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Which figures `cairn observance publish` publishes.
#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct FiguresWanted {
    /// The smallest count published (at least 1).
    #[arg(long, value_name = "K", default_value_t = cairn_core::observance::DEFAULT_MIN_COUNT)]
    pub min_count: u64,
    /// Add Laplace noise of scale 27 / EPSILON to every count first (differential
    /// privacy for each report; smaller is noisier).
    #[arg(long, value_name = "EPSILON")]
    pub epsilon: Option<f64>,
    /// A regional cluster: count only the incident reports addressed to this community, and
    /// address the figures to it (a new version of the figures published to it before).
    #[arg(long)]
    pub community: Option<String>,
}

/// What publishing the figures did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FiguresPublished {
    /// The report that carries them (hex).
    pub report: String,
    /// Cells published.
    pub cells: usize,
    /// Cells left out.
    pub suppressed: usize,
    /// The threshold.
    pub min_count: u64,
    /// The noise, if any.
    pub epsilon: Option<f64>,
}

/// The figures draft of this organisation, from `store`.
fn figures_draft(
    store: &cairn_store::Store,
    us: cairn_core::OrgPublicKey,
    name: &str,
    wanted: &FiguresWanted,
) -> Result<cairn_core::ReportDraft> {
    if wanted.min_count == 0 {
        bail!("--min-count must be at least 1");
    }
    let publishing = cairn_core::observance::Publishing {
        min_count: wanted.min_count,
        epsilon: wanted.epsilon,
    };
    Ok(cairn_api::observance::figures_draft(
        store,
        us,
        name,
        publishing,
        wanted.community.as_deref(),
        &mut rand::rngs::OsRng,
    )?)
}

fn published(report: &cairn_core::VerifiedReport) -> FiguresPublished {
    let figures = report.report().observance.clone().unwrap_or_default();
    FiguresPublished {
        report: report.id().to_string(),
        cells: figures.counts.len(),
        suppressed: figures.suppressed,
        min_count: figures.min_count,
        epsilon: figures.epsilon,
    }
}

/// Publishes the figures through the running node (the control socket's side).
pub async fn publish_running(
    node: &cairn_node::NodeHandle,
    home: &Home,
    wanted: FiguresWanted,
) -> Result<FiguresPublished> {
    let name = home.config()?.node.organisation;
    let store = node.store().clone();
    let us = node.org();
    let draft =
        tokio::task::spawn_blocking(move || figures_draft(&store, us, &name, &wanted)).await??;
    let signing = home.report_signing_key()?;
    let report = draft
        .sign(&signing, &mut rand::rngs::OsRng)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for outcome in node.publish(vec![report.clone()]).await? {
        match outcome {
            cairn_store::IngestOutcome::Stored { .. }
            | cairn_store::IngestOutcome::Duplicate { .. } => {}
            cairn_store::IngestOutcome::Refused { reason, .. } => bail!("{reason}"),
            cairn_store::IngestOutcome::Rejected(e) => bail!("{e}"),
        }
    }
    Ok(published(&report))
}

/// `cairn observance publish`.
fn publish(home: &Home, wanted: FiguresWanted, json: bool) -> Result<ExitCode> {
    let socket = home.control_socket_path();
    let community = wanted.community.clone();
    let done = if is_running(&socket) {
        match ask(&socket, &ControlRequest::PublishObservance(wanted))? {
            ControlResponse::ObservancePublished(done) => done,
            ControlResponse::Error(e) => bail!("{e}"),
            _ => bail!("the running node answered something unexpected"),
        }
    } else {
        let store = home.open_store()?;
        let name = home.config()?.node.organisation;
        let draft = figures_draft(&store, home.organisation()?, &name, &wanted)?;
        published(&crate::reports::publish(home, &store, &draft)?)
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        println!(
            "Published the observance figures as report {}: {} cell(s), {} under {} left out{}. TLP:CLEAR: partners pass them on{}, and `cairn observance --federation{}` merges them.",
            &done.report[..12],
            done.cells,
            done.suppressed,
            done.min_count,
            done.epsilon
                .map(|e| format!(", Laplace noise of epsilon {e}"))
                .unwrap_or_default(),
            community
                .as_deref()
                .map(|c| format!(" within the {c} community"))
                .unwrap_or_default(),
            community
                .as_deref()
                .map(|c| format!(" --community {c}"))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
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
    if let Some(ObservanceAction::Publish { wanted, json }) = args.action {
        return publish(home, wanted, json);
    }
    let query = ObservanceQuery {
        mine: args.mine,
        federation: args.federation,
        min_count: args.min_count,
        region: args.region,
        sector: args.sector,
        principle: args.principle,
        norm: args.norm,
        measures: args.measures,
        community: args.community,
    };
    let trends = trends(home, &query)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&trends)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(organisations) = trends.organisations {
        println!(
            "The latest observance figures of {organisations} organisation(s), as this node holds them, merged."
        );
    } else {
        let whose = if trends.mine {
            "written by this organisation"
        } else {
            "held by this node"
        };
        println!(
            "{} current incident report(s) {whose} name a Paris Call principle or a UN GGE norm.",
            trends.reports
        );
    }
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
            "{:<8} {:<11} {:<rw$} {:<sw$} {:>6}",
            "QUARTER", "MEASURE", "REGION", "SECTOR", "COUNT"
        );
        for c in &trends.cells {
            println!(
                "{:<8} {:<11} {:<rw$} {:<sw$} {:>6}",
                c.quarter,
                c.measure(),
                c.region,
                c.sector,
                c.count
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
