//! `cairn correlate`: the current reports related to a value (the same observable, another
//! hash of the same file, a range or domain it lies in, an observable inside it), or to each
//! indicator of a report; from the running node through its control socket, or from the
//! store of a stopped one.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use cairn_core::correlation::{Relation, readings};
use cairn_core::{Indicator, IndicatorType};
use cairn_store::{Correlation, Link, ReportStatus, Store, StoredReport};

use crate::control::HeldReport;
use crate::home::Home;
use crate::view;

/// Reports listed for a value when no limit is given.
const DEFAULT_LIMIT: usize = 25;
/// Reports listed for each indicator of a report when no limit is given.
const DEFAULT_PER_INDICATOR: usize = 10;
/// Most reports listed for one value.
const MAX_LIMIT: usize = 1000;

/// What to correlate.
#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
#[command(
    after_help = "Examples:\n  cairn correlate 203.0.113.7\n  cairn correlate evil.example --limit 20\n  cairn correlate md5:d41d8cd98f00b204e9800998ecf8427e --json\n  cairn correlate --report 3f2a9c01\n\nA report relates when one of its indicators is the same observable, another hash of\nthe same file (some report names both as one file's), a range or domain the value lies\nin (a CIDR range holding an address, a parent domain, the domain of a URL or email\naddress), or an observable inside the value (addresses in a range of /8 or narrower,\n/32 for IPv6; domains, URLs and email addresses under a domain). Only current reports\nare listed, newest first."
)]
pub struct CorrelateArgs {
    /// The value: an address, range, domain, URL, email address, hash, CVE or AS number, or
    /// TYPE:VALUE to say which type.
    #[arg(required_unless_present = "report", conflicts_with = "report")]
    pub value: Option<String>,
    /// Correlate each indicator of this report (its id or first 8+ hex digits) instead.
    #[arg(long)]
    pub report: Option<String>,
    /// At most this many reports (for each indicator with --report): 1 to 1000 (default 25,
    /// or 10 with --report).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print JSON for scripts.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

/// One indicator's (or the value's) related reports, as the control socket carries them.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct HeldCorrelation {
    /// The report's indicator correlated (none when a value was).
    pub indicator: Option<(IndicatorType, String)>,
    /// The readings of the value (or the indicator itself).
    pub readings: Vec<(IndicatorType, String)>,
    /// Each related report and its indicators that relate.
    pub reports: Vec<(HeldReport, Vec<HeldLink>)>,
    /// More reports relate than the limit let through.
    pub more: bool,
}

/// A [`Link`] as the control socket carries it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct HeldLink {
    relation: Relation,
    reading: (IndicatorType, String),
    indicator: (IndicatorType, String),
}

fn pair(indicator: &Indicator) -> (IndicatorType, String) {
    (indicator.kind, indicator.value.clone())
}

fn indicator_of((kind, value): &(IndicatorType, String)) -> Indicator {
    Indicator {
        kind: *kind,
        value: value.clone(),
        description: String::new(),
        file: 0,
        valid_from_ms: 0,
        valid_until_ms: 0,
    }
}

fn held(
    indicator: Option<&Indicator>,
    readings: &[Indicator],
    found: &Correlation,
) -> HeldCorrelation {
    HeldCorrelation {
        indicator: indicator.map(pair),
        readings: readings.iter().map(pair).collect(),
        reports: found
            .reports
            .iter()
            .map(|c| {
                let links = c
                    .links
                    .iter()
                    .map(|l| HeldLink {
                        relation: l.relation,
                        reading: pair(&l.probe),
                        indicator: pair(&l.indicator),
                    })
                    .collect();
                (HeldReport::new(&c.stored, &ReportStatus::Current), links)
            })
            .collect(),
        more: found.more,
    }
}

/// What `args` asks of `store`: one group for a value, one per distinct indicator for a
/// report. Runs on the node's blocking threads for the control socket, or here.
pub fn correlate_in(store: &Store, args: &CorrelateArgs) -> Result<Vec<HeldCorrelation>> {
    if let Some(limit) = args.limit
        && !(1..=MAX_LIMIT).contains(&limit)
    {
        bail!("--limit {limit}: give a number from 1 to {MAX_LIMIT}");
    }
    if let Some(id) = &args.report {
        let id = store.resolve(id)?;
        let stored = store
            .get(&id)?
            .with_context(|| format!("no report {id} in this node's store"))?;
        let limit = args.limit.unwrap_or(DEFAULT_PER_INDICATOR);
        let mut groups: Vec<HeldCorrelation> = Vec::new();
        for indicator in &stored.report.report().indicators {
            let probe = indicator_of(&pair(indicator));
            if groups
                .iter()
                .any(|g| g.indicator.as_ref() == Some(&pair(&probe)))
            {
                continue;
            }
            let found = store.correlate(std::slice::from_ref(&probe), limit, Some(&id))?;
            groups.push(held(Some(&probe), std::slice::from_ref(&probe), &found));
        }
        return Ok(groups);
    }
    let value = args.value.as_deref().unwrap_or_default();
    let probes = readings(value)?;
    let found = store.correlate(&probes, args.limit.unwrap_or(DEFAULT_LIMIT), None)?;
    Ok(vec![held(None, &probes, &found)])
}

/// `cairn correlate`.
pub fn run(home: &Home, args: CorrelateArgs) -> Result<std::process::ExitCode> {
    // A bad value is refused before anything is opened.
    if let Some(value) = &args.value {
        readings(value)?;
    }
    let socket = home.control_socket_path();
    let groups = if crate::control::is_running(&socket) {
        use crate::control::{ControlRequest, ControlResponse};
        match crate::control::ask(&socket, &ControlRequest::Correlate(args.clone()))? {
            ControlResponse::Correlations(groups) => groups,
            _ => bail!("the running node answered something unexpected"),
        }
    } else {
        correlate_in(&home.open_store()?, &args)?
    };
    let groups = groups
        .iter()
        .map(Group::read)
        .collect::<Result<Vec<Group>>>()?;
    if args.json {
        crate::reports::print_json(&groups.iter().map(Group::json).collect::<Vec<_>>())?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let us = home.organisation()?;
    if args.report.is_some() && groups.is_empty() {
        println!("This report carries no indicators to correlate.");
    }
    for group in &groups {
        print!("{}", group.text(&us));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// A group read back from its held form.
struct Group {
    indicator: Option<Indicator>,
    readings: Vec<Indicator>,
    reports: Vec<(StoredReport, Vec<Link>)>,
    more: bool,
}

impl Group {
    fn read(held: &HeldCorrelation) -> Result<Group> {
        let reports = held
            .reports
            .iter()
            .map(|(report, links)| {
                let (stored, _) = report.read()?;
                let links = links
                    .iter()
                    .map(|l| Link {
                        relation: l.relation,
                        probe: indicator_of(&l.reading),
                        indicator: indicator_of(&l.indicator),
                    })
                    .collect();
                Ok((stored, links))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Group {
            indicator: held.indicator.as_ref().map(indicator_of),
            readings: held.readings.iter().map(indicator_of).collect(),
            reports,
            more: held.more,
        })
    }

    fn json(&self) -> serde_json::Value {
        let reports: Vec<serde_json::Value> = self
            .reports
            .iter()
            .map(|(stored, links)| {
                serde_json::json!({
                    "report": view::ReportJson::new(&stored.report, Some((stored, &ReportStatus::Current))),
                    "links": links.iter().map(|l| serde_json::json!({
                        "relation": l.relation,
                        "indicator": {"type": l.indicator.kind, "value": l.indicator.value},
                        "reading": {"type": l.probe.kind, "value": l.probe.value},
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut json = serde_json::json!({
            "readings": self.readings.iter().map(|r| serde_json::json!({"type": r.kind, "value": r.value})).collect::<Vec<_>>(),
            "reports": reports,
            "more": self.more,
        });
        if let Some(indicator) = &self.indicator {
            json["indicator"] =
                serde_json::json!({"type": indicator.kind, "value": indicator.value});
        }
        json
    }

    fn text(&self, us: &cairn_core::OrgPublicKey) -> String {
        let mut out = String::new();
        let named = match &self.indicator {
            Some(i) => format!("{}:{}", i.kind, i.value),
            None => self
                .readings
                .iter()
                .map(|r| format!("{}:{}", r.kind, r.value))
                .collect::<Vec<_>>()
                .join(" or "),
        };
        if self.reports.is_empty() {
            let _ = writeln!(out, "{named}: no other current report relates.");
            return out;
        }
        let count = self.reports.len();
        let more = if self.more {
            " (more left out: raise --limit)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{named}: {count} report{} relate{}{more}",
            if count == 1 { "" } else { "s" },
            if count == 1 { "s" } else { "" },
        );
        let stored: Vec<StoredReport> = self.reports.iter().map(|(s, _)| s.clone()).collect();
        let table = view::table(&stored, us);
        let mut rows = table.lines();
        if let Some(header) = rows.next() {
            let _ = writeln!(out, "  {header}");
        }
        for ((_, links), row) in self.reports.iter().zip(rows) {
            let _ = writeln!(out, "  {row}");
            for link in links {
                let _ = writeln!(
                    out,
                    "      {:<10} {}:{}",
                    link.relation.name(),
                    link.indicator.kind,
                    link.indicator.value
                );
            }
        }
        out
    }
}
