//! `cairn sighting`: say what was seen of a report this node holds, or that it is a false
//! positive, expired or confirmed (`add`), and read what was said of a report (`list`). The
//! sighting is drafted and checked against the report by `cairn_core::sighting::draft_about`,
//! signed here and stored by the running node (or in the store of a stopped one).

use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_core::sighting::{SightingRequest, draft_about, tally};
use cairn_core::{OrgPublicKey, Scope, SightingKind, Tlp};
use cairn_store::{Provenance, ReportStatus};
use clap::Subcommand;

use crate::home::{Home, now_ms};
use crate::reports::Reader;
use crate::view;

/// Sightings and feedback.
#[derive(Debug, Subcommand)]
pub enum SightingCommand {
    /// Say something about a report this node holds (or one of its indicators): it goes back
    /// to the report's author, and never further than the report may go.
    #[command(
        after_help = "Examples:\n  cairn sighting add 3f2a9c01 --kind seen --indicator 203.0.113.7 --count 12 --where \"mail gateway\"\n  cairn sighting add 3f2a9c01 --kind false-positive --indicator domain:cdn.example --comment \"our CDN\"\n  cairn sighting add 3f2a9c01 --kind expired\n\nThe sighting is marked like the report unless --tlp makes it stricter; its scope is\nthe narrower of the report's and the TLP's default."
    )]
    Add(Box<AddArgs>),
    /// What organisations said of a report: its current sightings, and a tally per indicator.
    List {
        /// The report (its id or first 8+ hex digits).
        report: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// What `cairn sighting add` takes.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The report (its id or first 8+ hex digits).
    report: String,
    /// seen, false-positive, expired or confirmed.
    #[arg(long)]
    kind: SightingKind,
    /// One of the report's indicators, as TYPE:VALUE or the value alone (default: the
    /// whole report).
    #[arg(long)]
    indicator: Option<String>,
    /// How many times it was seen (default 1 for seen).
    #[arg(long)]
    count: Option<u32>,
    /// When first seen: RFC 3339, a date or an age (2h).
    #[arg(long)]
    first_seen: Option<String>,
    /// When last seen, as --first-seen.
    #[arg(long)]
    last_seen: Option<String>,
    /// Where it was seen, in words.
    #[arg(long = "where")]
    place: Option<String>,
    /// What was observed (a log line, the URL requested); repeat for more lines.
    #[arg(long)]
    observed: Vec<String>,
    /// Who first reported it, when it comes from another tool.
    #[arg(long)]
    source: Option<String>,
    /// Free text for the report's author.
    #[arg(long)]
    comment: Option<String>,
    /// A stricter TLP than the report's.
    #[arg(long)]
    tlp: Option<Tlp>,
    /// A narrower scope than the default.
    #[arg(long)]
    scope: Option<Scope>,
    /// With --tlp red: another of the report's recipients who may read it (the report's
    /// author always may).
    #[arg(long = "recipient")]
    recipients: Vec<OrgPublicKey>,
    /// Print the sighting as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(home: &Home, command: SightingCommand) -> Result<ExitCode> {
    match command {
        SightingCommand::Add(args) => {
            let AddArgs {
                report,
                kind,
                indicator,
                count,
                first_seen,
                last_seen,
                place,
                observed,
                source,
                comment,
                tlp,
                scope,
                recipients,
                json,
            } = *args;
            let request = SightingRequest {
                kind,
                indicator,
                count,
                first_seen,
                last_seen,
                place,
                observed,
                source,
                comment,
                tlp,
                scope,
                recipients,
            };
            let reader = Reader::open(home)?;
            let (concerned, _) = reader.one(&report)?;
            let draft = draft_about(
                concerned.report.report(),
                concerned.report.id(),
                concerned.report.author(),
                &request,
                now_ms(),
            )
            .context("the sighting is not valid")?;
            let signing = home.report_signing_key()?;
            let signed = draft
                .sign(&signing, &mut rand::rngs::OsRng)
                .context("the sighting is not valid")?;
            match &reader {
                Reader::Store(store) => {
                    crate::reports::check_signer(store, &signed)?;
                    crate::reports::store_one(store, &signed, Provenance::Local)?;
                }
                Reader::Running(_) => crate::reports::hand_to_running_node(home, &signed)?,
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&view::ReportJson::new(&signed, None))?
                );
            } else {
                println!(
                    "Sighting {} ({}, {}) of report {} by {} stored; it goes back to the report's author.",
                    signed.id(),
                    kind,
                    signed.report().tlp.official(),
                    concerned.report.id().short(),
                    concerned.report.author().short()
                );
            }
        }
        SightingCommand::List { report, json } => {
            let reader = Reader::open(home)?;
            let (concerned, _) = reader.one(&report)?;
            let sightings = reader.sightings_of(&concerned.report.id().to_string())?;
            let current: Vec<_> = sightings
                .iter()
                .filter(|(_, status)| *status == ReportStatus::Current)
                .filter_map(|(s, _)| {
                    let r = s.report.report();
                    r.sighting
                        .as_ref()
                        .map(|sighting| (s.report.author(), sighting, r.created_ms))
                })
                .collect();
            let tallies = tally(current.iter().copied());
            if json {
                let listed: Vec<_> = current
                    .iter()
                    .map(|(author, sighting, created)| {
                        serde_json::json!({
                            "author": author.to_string(),
                            "created": cairn_core::when::rfc3339(*created),
                            "sighting": sighting,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "report": concerned.report.id().to_string(),
                        "sightings": listed,
                        "by_indicator": tallies,
                    }))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            if current.is_empty() {
                println!(
                    "No sightings of report {} on this node.",
                    concerned.report.id().short()
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!("Report {}:", concerned.report.id().short());
            for t in &tallies {
                println!(
                    "  {:<40} seen {} time(s) in {} sighting(s), {} false positive, {} expired, {} confirmed, by {} organisation(s){}",
                    t.indicator.as_deref().unwrap_or("(the whole report)"),
                    t.seen,
                    t.seen_reports,
                    t.false_positive,
                    t.expired,
                    t.confirmed,
                    t.organisations,
                    t.last_seen_ms
                        .map(|ms| format!(", last seen {}", cairn_core::when::rfc3339(ms)))
                        .unwrap_or_default()
                );
            }
            println!();
            for (author, sighting, created) in &current {
                println!(
                    "  {} {} {:<15} {}{}{}",
                    cairn_core::when::rfc3339(*created),
                    author.short(),
                    sighting.kind,
                    sighting
                        .indicator
                        .as_ref()
                        .map(|i| format!("{}:{}", i.kind, i.value))
                        .unwrap_or_else(|| "(the whole report)".into()),
                    if sighting.count > 0 {
                        format!(" x{}", sighting.count)
                    } else {
                        String::new()
                    },
                    sighting
                        .place
                        .as_ref()
                        .map(|p| format!(" at {p}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
