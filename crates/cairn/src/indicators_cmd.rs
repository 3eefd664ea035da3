//! `cairn indicators`: the indicators of current reports with their validity window, score and
//! state, filtered by state, score and type: what is still valid, as a table, JSON or plain
//! values one a line for a blocklist; from the running node through its control socket, or
//! from the store of a stopped one, scored with node.toml's `[scoring]`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use cairn_api::indicators::{IndicatorQuery, indicators_view};
use serde_json::Value;

use crate::control::ControlRequest;
use crate::home::Home;

/// Which indicators to list.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  cairn indicators --valid\n  cairn indicators --valid --type ipv4 --values > blocklist.txt\n  cairn indicators --valid --stix > still-valid.stix.json\n  cairn indicators --state expired,withdrawn --since 30d\n  cairn indicators --min-score 70 --json\n\nStates: active (valid and scoring at least [scoring] threshold), decayed (below it),\nnot-yet-valid, expired (past its valid_until, or its author said so), withdrawn (its\nauthor said false positive). The score decays from the report's confidence over the\nlifetime of the indicator's type and rises when other organisations see it; see the\nuser guide, \"Expiry and scores\"."
)]
pub struct IndicatorArgs {
    /// Only active indicators: valid now and scoring at least the threshold.
    #[arg(long, conflicts_with = "state")]
    pub valid: bool,
    /// Only in these states, comma-separated.
    #[arg(long, value_name = "STATES")]
    pub state: Option<String>,
    /// Only scoring at least this (0-100).
    #[arg(long, value_name = "SCORE")]
    pub min_score: Option<u8>,
    /// Only of this type (ipv4, domain, sha256, ...).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Only of reports with this TLP.
    #[arg(long)]
    pub tlp: Option<String>,
    /// Only of reports created since (RFC 3339, a date, or an age such as 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many (1-10000, default 1000).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Go on from where a previous page ended (its next_cursor).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Print JSON for scripts.
    #[arg(long, conflicts_with = "values")]
    pub json: bool,
    /// Print the values alone, one a line, each once (for a blocklist).
    #[arg(long, conflicts_with = "stix")]
    pub values: bool,
    /// Print a STIX 2.1 bundle of the reports of these indicators, each keeping only them
    /// (with --valid: an export of what is still valid).
    #[arg(long, conflicts_with = "json")]
    pub stix: bool,
}

/// What the node answers for `query`: the API's JSON view, or for `format = "stix"` the
/// bundle (`{"bundle", "next_cursor"}`). The running node and a stopped store answer alike.
pub(crate) fn answer(
    store: &cairn_store::Store,
    query: &IndicatorQuery,
    scoring: &cairn_core::score::ScoringConfig,
    now_ms: i64,
) -> Result<Value, cairn_api::indicators::IndicatorQueryError> {
    if query.format.as_deref() == Some("stix") {
        let (bundle, next) = cairn_api::indicators::indicators_stix(store, query, scoring, now_ms)?;
        let mut view = serde_json::json!({ "bundle": bundle });
        if let Some(next) = next {
            view["next_cursor"] = serde_json::json!(next);
        }
        return Ok(view);
    }
    indicators_view(store, query, scoring, now_ms)
}

/// Lists the indicators `args` selects.
pub fn run(home: &Home, args: IndicatorArgs) -> Result<ExitCode> {
    let query = IndicatorQuery {
        valid: args.valid.then_some(true),
        state: args.state.clone(),
        min_score: args.min_score.map(|s| s.to_string()),
        kind: args.kind.clone(),
        tlp: args.tlp.clone(),
        since: args.since.clone(),
        limit: args.limit,
        cursor: args.cursor.clone(),
        format: args.stix.then(|| "stix".to_string()),
        ..IndicatorQuery::default()
    };
    let view = crate::directory_cmd::read(
        home,
        ControlRequest::Indicators(query.clone()),
        |store, _| {
            let scoring = home.config()?.scoring;
            Ok(answer(store, &query, &scoring, cairn_core::when::now_ms())?)
        },
    )?;
    if args.stix {
        println!("{}", serde_json::to_string_pretty(&view["bundle"])?);
        if let Some(next) = view["next_cursor"].as_str() {
            eprintln!("More: cairn indicators ... --stix --cursor {next}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(list) = view["indicators"].as_array() else {
        bail!("the node answered without a list of indicators");
    };
    if args.values {
        let mut seen = std::collections::HashSet::new();
        for i in list {
            let value = i["value"].as_str().unwrap_or_default();
            if seen.insert(value) {
                println!("{value}");
            }
        }
    } else if list.is_empty() {
        println!("No indicator matches.");
    } else {
        for i in list {
            println!("{}", line(i));
        }
        println!(
            "{} indicator{}.",
            list.len(),
            if list.len() == 1 { "" } else { "s" }
        );
    }
    if let Some(next) = view["next_cursor"].as_str() {
        eprintln!("More: cairn indicators ... --cursor {next}");
    }
    Ok(ExitCode::SUCCESS)
}

/// One indicator as a line: state, score, type, value, window, report.
fn line(i: &Value) -> String {
    let text = |key: &str| i[key].as_str().unwrap_or_default().to_string();
    let day = |key: &str| text(key).get(..10).unwrap_or_default().to_string();
    let mut window = format!("from {}", day("valid_from"));
    if i["valid_until"].is_string() {
        window.push_str(&format!(" until {}", day("valid_until")));
    }
    let seen = i["corroborating_organisations"].as_u64().unwrap_or(0);
    let seen = match seen {
        0 => String::new(),
        1 => ", seen by 1 other organisation".to_string(),
        n => format!(", seen by {n} other organisations"),
    };
    format!(
        "{:<13} {:>3}  {:<7} {}  ({window}{seen}; report {})",
        text("state"),
        i["score"].as_u64().unwrap_or(0),
        text("type"),
        text("value"),
        text("report").get(..12).unwrap_or_default(),
    )
}
