//! `cairn directory`: the liaison directory. `add` publishes an entry (an initiative, project,
//! capacity offer or need, or donor programme) as a signed report of kind `directory-entry`,
//! shared like any report; `search` and `match` read the entries the node holds, from the
//! running node or a stopped node's store, in the same JSON as `GET /api/v1/directory` and
//! `GET /api/v1/directory/matches`.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_api::directory::MatchQuery;
use cairn_core::directory::{DirectoryEntry, DirectorySearch, EntryType, Theme, Topic};
use cairn_core::{ReportDraft, ReportKind, Tlp};
use serde_json::Value;

use crate::control::{ControlRequest, ControlResponse, ask, is_running};
use crate::home::Home;

/// `cairn directory`'s commands.
#[derive(Debug, clap::Subcommand)]
pub enum DirectoryCommand {
    /// Publish a directory entry (TLP:CLEAR unless --tlp says otherwise). A new version
    /// replaces an entry with --supersedes; `cairn report retract ID` withdraws one.
    #[command(
        after_help = "Examples:\n  cairn directory add --type capacity-need --title \"CSIRT training for Sahel NGOs\" \\\n    --topic incident-response --topic workforce --region western-africa --country SN \\\n    --language fr --contact cert@example.sn --valid-until 2027-06-30\n  cairn directory add --type donor-programme --title \"Digital resilience fund\" \\\n    --topic civil-society-support --language en --language fr --contact grants@fund.example"
    )]
    Add(Box<AddArgs>),
    /// The entries the node holds that a search selects (current, still valid).
    #[command(
        after_help = "Examples:\n  cairn directory search --type capacity-offer --topic incident-response\n  cairn directory search --region western-africa --language fr\n  cairn directory search --text \"phishing training\" --json"
    )]
    Search(SearchArgs),
    /// Capacity needs and the offers and donor programmes that match them, best first, with
    /// the reasons for each match.
    #[command(
        after_help = "Examples:\n  cairn directory match\n  cairn directory match --mine\n  cairn directory match --need 3f9a... --json"
    )]
    Match(MatchArgs),
}

/// `cairn directory add`'s options.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// initiative, project, capacity-offer, capacity-need or donor-programme.
    #[arg(long = "type", value_name = "TYPE")]
    entry_type: EntryType,
    /// One line saying what it is.
    #[arg(long)]
    title: String,
    /// What it is, for whom, and how.
    #[arg(long, default_value = "")]
    summary: String,
    /// A topic (docs/VOCABULARIES.md: incident-response, workforce, awareness, ...); repeat.
    #[arg(long = "topic", value_name = "TOPIC", required = true)]
    topics: Vec<Topic>,
    /// A region it concerns (western-africa, northern-europe, ...); repeat.
    #[arg(long = "region")]
    regions: Vec<String>,
    /// A country it concerns, ISO 3166-1 alpha-2; repeat.
    #[arg(long = "country", value_name = "CODE")]
    countries: Vec<String>,
    /// A language it works in, a BCP 47 tag (fr, en, pt-BR); repeat.
    #[arg(long = "language", value_name = "TAG")]
    languages: Vec<String>,
    /// How partners reach whoever runs it.
    #[arg(long)]
    contact: String,
    /// Where to read more (http or https).
    #[arg(long)]
    url: Option<String>,
    /// The last day it is valid (2027-06-30, to the end of that day UTC) or an RFC 3339 time;
    /// none: until withdrawn.
    #[arg(long, value_name = "DATE")]
    valid_until: Option<String>,
    /// clear (default), green, amber, amber+strict.
    #[arg(long, default_value = "clear")]
    tlp: Tlp,
    /// Address it to this community (a regional cluster); it never leaves it.
    #[arg(long)]
    community: Option<String>,
    /// The language the title and summary are written in (BCP 47).
    #[arg(long = "written-in", value_name = "TAG")]
    written_in: Option<String>,
    /// The earlier entry of this organisation that this one replaces (full id, or a prefix
    /// when the node is stopped).
    #[arg(long)]
    supersedes: Option<String>,
    /// Print the new entry as JSON.
    #[arg(long)]
    json: bool,
}

/// `cairn directory search`'s options.
#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Words that must all appear in the title, description or contact.
    #[arg(long)]
    text: Option<String>,
    /// Of this type.
    #[arg(long = "type", value_name = "TYPE")]
    entry_type: Option<EntryType>,
    /// About this topic.
    #[arg(long)]
    topic: Option<Topic>,
    /// About a topic of this GFCE theme (policy-and-strategy, incident-management,
    /// cybercrime, culture-and-skills, standards).
    #[arg(long)]
    theme: Option<Theme>,
    /// Concerning this region.
    #[arg(long)]
    region: Option<String>,
    /// Concerning this country.
    #[arg(long)]
    country: Option<String>,
    /// Working in this language (fr also finds fr-SN).
    #[arg(long)]
    language: Option<String>,
    /// Addressed to this community (a regional cluster).
    #[arg(long)]
    community: Option<String>,
    /// Also entries past their end of validity.
    #[arg(long)]
    include_expired: bool,
    /// JSON, as the API gives it.
    #[arg(long)]
    json: bool,
}

/// `cairn directory match`'s options.
#[derive(Debug, clap::Args)]
pub struct MatchArgs {
    /// Only this need (its full report id).
    #[arg(long)]
    need: Option<String>,
    /// Only the needs this organisation published.
    #[arg(long)]
    mine: bool,
    /// Only entries addressed to this community (a regional cluster).
    #[arg(long)]
    community: Option<String>,
    /// At most this many matches per need.
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// JSON, as the API gives it.
    #[arg(long)]
    json: bool,
}

pub fn run(home: &Home, command: DirectoryCommand) -> Result<ExitCode> {
    match command {
        DirectoryCommand::Add(args) => add(home, *args),
        DirectoryCommand::Search(args) => search(home, args),
        DirectoryCommand::Match(args) => match_needs(home, args),
    }
}

fn add(home: &Home, args: AddArgs) -> Result<ExitCode> {
    let valid_until = args
        .valid_until
        .as_deref()
        .map(|text| {
            cairn_core::directory::parse_valid_until(text)
                .map_err(|e| anyhow::anyhow!("--valid-until {e}"))
        })
        .transpose()?;
    let running = is_running(&home.control_socket_path());
    let store = if running {
        None
    } else {
        Some(home.open_store()?)
    };
    let supersedes = args
        .supersedes
        .as_deref()
        .map(|id| match &store {
            Some(store) => store.resolve(id).context("--supersedes"),
            None => id.parse::<cairn_core::ReportId>().map_err(|_| {
                anyhow::anyhow!(
                    "--supersedes {id:?}: with the node running, give the full report id (64 hex digits)"
                )
            }),
        })
        .transpose()?;
    let draft = ReportDraft {
        kind: Some(ReportKind::DirectoryEntry),
        title: args.title,
        summary: args.summary,
        tlp: Some(args.tlp),
        community: args.community,
        regions: args.regions,
        language: args.written_in,
        supersedes,
        directory_entry: Some(DirectoryEntry {
            entry_type: args.entry_type,
            topics: args.topics,
            countries: args.countries,
            languages: args.languages,
            contact: args.contact,
            url: args.url,
            valid_until,
        }),
        ..ReportDraft::default()
    };
    let report = match &store {
        None => crate::reports::publish_to_running_node(home, &draft)?,
        Some(store) => crate::reports::publish(home, store, &draft)?,
    };
    if args.json {
        crate::reports::print_json(&crate::view::ReportJson::new(&report, None))?;
    } else {
        let entry = report.report().directory_entry.as_ref();
        println!(
            "Published directory entry {} ({}, {}){}.",
            report.id(),
            entry.map_or("entry".into(), |e| e.entry_type.to_string()),
            report.report().tlp.official(),
            entry
                .and_then(|e| e.valid_until)
                .map(|until| format!(", valid until {}", cairn_core::when::rfc3339(until)))
                .unwrap_or_default()
        );
        if store.is_some() {
            println!(
                "Stored on this node, which is not running: its partners receive the entry once it runs (`cairn run`)."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks the running node, or reads the stopped node's store: the API's JSON either way.
pub(crate) fn read(
    home: &Home,
    request: ControlRequest,
    from_store: impl FnOnce(&cairn_store::Store, cairn_core::OrgPublicKey) -> Result<Value>,
) -> Result<Value> {
    let socket = home.control_socket_path();
    if is_running(&socket) {
        return match ask(&socket, &request)? {
            ControlResponse::Json(view) => Ok(view),
            ControlResponse::Error(e) => bail!("{e}"),
            _ => bail!("the running node answered something unexpected"),
        };
    }
    let store = home.open_store()?;
    from_store(&store, home.organisation()?)
}

fn search(home: &Home, args: SearchArgs) -> Result<ExitCode> {
    let search = DirectorySearch {
        text: args.text,
        entry_type: args.entry_type,
        topic: args.topic,
        theme: args.theme,
        region: args.region,
        country: args.country,
        language: args.language,
        community: args.community,
        include_expired: args.include_expired,
    };
    let view = read(
        home,
        ControlRequest::DirectorySearch(search.clone()),
        |store, _| {
            Ok(cairn_api::directory::search_view(
                store,
                &search,
                cairn_core::when::now_ms(),
            )?)
        },
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let entries = view["entries"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() {
        println!("No directory entry matches.");
        return Ok(ExitCode::SUCCESS);
    }
    for e in &entries {
        println!("{}", entry_line(e));
        println!("    {}", entry_details(e));
    }
    println!(
        "{} entr{}.",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    );
    Ok(ExitCode::SUCCESS)
}

fn match_needs(home: &Home, args: MatchArgs) -> Result<ExitCode> {
    let query = MatchQuery {
        need: args.need,
        mine: args.mine,
        community: args.community,
        limit: Some(args.limit),
    };
    let view = read(
        home,
        ControlRequest::DirectoryMatches(query.clone()),
        |store, us| {
            Ok(cairn_api::directory::matches_view(
                store,
                us,
                &query,
                cairn_core::when::now_ms(),
            )?)
        },
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    let needs = view["needs"].as_array().cloned().unwrap_or_default();
    if needs.is_empty() {
        println!("No current capacity need to match.");
    }
    for need in &needs {
        println!("Need: {}", entry_line(&need["need"]));
        let found = need["matches"].as_array().cloned().unwrap_or_default();
        if found.is_empty() {
            println!("    no offer or donor programme shares its topics yet");
        }
        for m in &found {
            println!("  {:>3}  {}", m["score"], entry_line(&m["entry"]));
            let reasons: Vec<&str> = m["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            println!("       {}", reasons.join("; "));
            println!(
                "       contact: {}",
                m["entry"]["directory_entry"]["contact"]
                    .as_str()
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `capacity-offer  CSIRT mentoring (3f9a1c2b4d5e) by 64 hex`: an entry in one line.
fn entry_line(report: &Value) -> String {
    let id = report["id"].as_str().unwrap_or_default();
    format!(
        "{:<16} {} ({})",
        report["directory_entry"]["type"]
            .as_str()
            .unwrap_or_default(),
        report["title"].as_str().unwrap_or_default(),
        id.get(..12).unwrap_or(id)
    )
}

/// Topics, place, languages and validity of an entry, in one line.
fn entry_details(report: &Value) -> String {
    let list = |v: &Value| -> String {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let entry = &report["directory_entry"];
    let mut place = list(&report["regions"]);
    let countries = list(&entry["countries"]);
    if !countries.is_empty() {
        place = if place.is_empty() {
            countries
        } else {
            format!("{place}; {countries}")
        };
    }
    format!(
        "topics: {} | where: {} | languages: {} | valid until: {} | contact: {}",
        list(&entry["topics"]),
        if place.is_empty() {
            "anywhere".into()
        } else {
            place
        },
        {
            let l = list(&entry["languages"]);
            if l.is_empty() { "any".into() } else { l }
        },
        entry["valid_until"].as_str().unwrap_or("withdrawn"),
        entry["contact"].as_str().unwrap_or_default()
    )
}
