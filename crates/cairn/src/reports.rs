//! `cairn report ...`: writing, reading, verifying, exporting, importing and retracting reports.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_core::{
    DisclosureField, Indicator, IndicatorDraft, OrgPublicKey, ReportDraft, ReportKind, Scope,
    Severity, Tlp, VerifiedReport, limits,
};
use cairn_store::{IngestOutcome, Provenance, ReportQuery, ReportStatus, Store, StoredReport};
use clap::{Args, Subcommand};

use crate::home::{Home, now_ms};
use crate::view;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Write and sign a report from flags or from a TOML or JSON file, and store it.
    #[command(
        after_help = "Examples:\n  cairn report new --kind incident --tlp amber --title \"Ransomware at a hospital\" \\\n      --severity critical --victim \"Hospital X\"\n  cairn report new --file report.toml\n\nA report file holds the same fields, e.g. (TOML):\n  kind = \"indicator\"\n  title = \"Phishing kit\"\n  tlp = \"green\"\n  tags = [\"phishing\"]\n  [[indicators]]\n  type = \"domain\"\n  value = \"login-bank.example\""
    )]
    New(Box<NewArgs>),
    /// List current reports, newest first, with filters.
    #[command(
        after_help = "Examples:\n  cairn report list --tlp amber --since 7d\n  cairn report list --indicator 198.51.100.7 --json"
    )]
    List(ListArgs),
    /// Show one report in full (ID: the id or its first 8+ hex digits).
    Show {
        /// Report id or prefix.
        id: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show every version of a report and its retraction, oldest first.
    History {
        /// Report id or prefix.
        id: String,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Check an exported report file: signature, content, disclosures.
    Verify {
        /// The file written by `cairn report export`.
        file: PathBuf,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Write a stored report to a file, optionally withholding disclosures.
    #[command(
        after_help = "Examples:\n  cairn report export 3f2a9c01 --out incident.cairn\n  cairn report export 3f2a9c01 --withhold victim,internal-notes \\\n      --out for-partners.cairn\n  cairn report export 3f2a9c01 --format stix --out incident.stix.json\n  cairn report export --all --format stix --out everything.stix.json"
    )]
    Export {
        /// Report id or prefix.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every stored report, every version (with --format stix).
        #[arg(long, requires = "format")]
        all: bool,
        /// Output file (default: standard output, when it is not a terminal).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Disclosures to leave out: victim, internal-notes, evidence, or all.
        #[arg(long, value_delimiter = ',')]
        withhold: Vec<String>,
        /// cairn (the signed report, for Cairn nodes) or stix (a STIX 2.1 bundle, for other
        /// tools; disclosures are never included).
        #[arg(long, value_enum, default_value_t = ExportFormat::Cairn)]
        format: ExportFormat,
    },
    /// Verify and store report files exported by Cairn nodes.
    Import {
        /// Files to import.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Withdraw one of this organisation's reports with a signed retraction.
    Retract {
        /// Report id or prefix.
        id: String,
        /// Why it is withdrawn (travels with the retraction).
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Read the report from a TOML or JSON file instead of flags ("-": standard input, JSON or TOML).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kind", "title", "tlp"])]
    file: Option<PathBuf>,
    /// incident, indicator (or ioc), advisory, vulnerability (or vuln), threat-actor (or
    /// actor), campaign. A retraction is made with `cairn report retract`.
    #[arg(long, value_parser = kind_of_new_report)]
    kind: Option<ReportKind>,
    /// One line saying what it is.
    #[arg(long)]
    title: Option<String>,
    /// Free text.
    #[arg(long, default_value = "")]
    summary: String,
    /// clear, green, amber, amber+strict, red.
    #[arg(long)]
    tlp: Option<Tlp>,
    /// organisation, direct-peers, community, unrestricted (default follows the TLP).
    #[arg(long)]
    scope: Option<Scope>,
    /// Relays allowed for the community scope (1-16, default 2).
    #[arg(long)]
    hops: Option<u32>,
    /// Address the report to this community (sharing group); it never leaves it.
    #[arg(long)]
    community: Option<String>,
    /// info, low, medium, high, critical.
    #[arg(long)]
    severity: Option<Severity>,
    /// 0-100 (default 50).
    #[arg(long)]
    confidence: Option<u8>,
    /// Creation time, RFC 3339 (default: now).
    #[arg(long)]
    created: Option<String>,
    /// A named recipient's organisation key (TLP:RED); repeat for several.
    #[arg(long = "recipient", value_name = "ORG_KEY")]
    recipients: Vec<OrgPublicKey>,
    /// A tag; repeat for several.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// A sector concerned; repeat for several.
    #[arg(long = "sector")]
    sectors: Vec<String>,
    /// A region concerned; repeat for several.
    #[arg(long = "region")]
    regions: Vec<String>,
    /// A Paris Call principle concerned (1-9); repeat for several.
    #[arg(long = "principle")]
    principles: Vec<u32>,
    /// The language the title and summary are written in, as a BCP 47 tag (en, fr, pt-BR).
    #[arg(long, value_name = "TAG")]
    language: Option<String>,
    /// Incidents: a UN GGE 2015 norm concerned, by its letter (a-k); repeat for several.
    #[arg(long = "norm", value_name = "LETTER")]
    norms: Vec<cairn_core::coding::GgeNorm>,
    /// Incidents: a country affected, ISO 3166-1 alpha-2 (EE, SN); repeat for several.
    #[arg(long = "country", value_name = "CODE")]
    countries: Vec<String>,
    /// Incidents: the kind of operation (espionage, ransomware, disruption, ...; see
    /// docs/VOCABULARIES.md); repeat for several.
    #[arg(long = "operation", value_name = "KIND")]
    operations: Vec<cairn_core::coding::Operation>,
    /// Incidents: how severe its consequences were (none, minor, moderate, significant, severe).
    #[arg(long, value_name = "LEVEL")]
    impact: Option<cairn_core::coding::ImpactLevel>,
    /// Incidents: a kind of harm done (confidentiality, integrity, availability,
    /// physical-damage, financial-loss, human-harm, human-rights, political); repeat.
    #[arg(long = "impact-kind", value_name = "KIND")]
    impact_kinds: Vec<cairn_core::coding::ImpactKind>,
    /// Incidents: an attribution claim, "to=ACTOR;by=CLAIMANT;confidence=0-100" with optional
    /// actor-type=, claimant-type=, on=YYYY-MM-DD, source=; repeat for several.
    #[arg(long = "attribution", value_name = "CLAIM", value_parser = cairn_core::coding::parse_attribution)]
    attributions: Vec<cairn_core::coding::AttributionClaim>,
    /// An observable as TYPE:VALUE (ipv4 or ip, ipv6, cidr, domain, url, email, md5, sha1, sha256, sha512, cve, asn); repeat.
    #[arg(long = "indicator", value_name = "TYPE:VALUE")]
    indicators: Vec<String>,
    /// The hashes of one file, as TYPE:VALUE separated by commas (md5, sha1, sha256, sha512;
    /// one of each at most): partners correlate the file by any of them; repeat for several
    /// files.
    #[arg(long = "file-hashes", value_name = "TYPE:VALUE,...")]
    file_hashes: Vec<String>,
    /// The earlier report of this organisation that this one replaces (id or prefix).
    #[arg(long)]
    supersedes: Option<String>,
    /// Who was attacked (a selective disclosure).
    #[arg(long)]
    victim: Option<String>,
    /// Internal notes (a selective disclosure).
    #[arg(long)]
    notes: Option<String>,
    /// Raw evidence (a selective disclosure); repeat for several.
    #[arg(long)]
    evidence: Vec<String>,
    /// Print the new report as JSON.
    #[arg(long)]
    json: bool,
}

/// The kind of a report written with `report new`: any but a retraction, which withdraws a
/// report and is written by `report retract`.
fn kind_of_new_report(text: &str) -> Result<ReportKind, String> {
    let written = "incident, indicator, advisory, vulnerability, threat-actor, campaign";
    match text.parse::<ReportKind>() {
        Ok(ReportKind::Retraction) => Err(
            "a retraction withdraws one of your reports: write it with `cairn report retract ID --reason TEXT`"
                .into(),
        ),
        Ok(ReportKind::Sighting) => Err(
            "a sighting concerns a report you hold: write it with `cairn sighting add ID --kind seen|false-positive|expired|confirmed`"
                .into(),
        ),
        Ok(kind) => Ok(kind),
        Err(_) => Err(format!(
            "unknown report kind {text:?}: expected one of {written}"
        )),
    }
}

#[derive(Debug, Args, Default, serde::Serialize, serde::Deserialize)]
pub struct ListArgs {
    /// Written by this organisation key (64 hex digits).
    #[arg(long)]
    pub author: Option<OrgPublicKey>,
    /// Of this kind.
    #[arg(long)]
    pub kind: Option<ReportKind>,
    /// With this TLP label.
    #[arg(long)]
    pub tlp: Option<Tlp>,
    /// Carrying this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// About this sector.
    #[arg(long)]
    pub sector: Option<String>,
    /// About this region.
    #[arg(long)]
    pub region: Option<String>,
    /// Concerning this Paris Call principle (1-9).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub principle: Option<u8>,
    /// Created at or after: RFC 3339, a date, or an age (7d, 12h).
    #[arg(long)]
    pub since: Option<String>,
    /// Created at or before: RFC 3339, a date, or an age.
    #[arg(long)]
    pub until: Option<String>,
    /// Mentioning this observable (any type it fits).
    #[arg(long)]
    pub indicator: Option<String>,
    /// Mentioning an observable inside this CIDR range (/8 or narrower for IPv4, /32 for IPv6)
    /// or domain (its subdomains, URLs and email addresses too).
    #[arg(long)]
    pub inside: Option<String>,
    /// With all these words in the title or summary (any case).
    #[arg(long)]
    pub text: Option<String>,
    /// Also list superseded and retracted versions and retractions.
    #[arg(long)]
    pub all_versions: bool,
    /// At most this many reports.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print JSON for scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn run(home: &Home, command: ReportCommand) -> Result<ExitCode> {
    match command {
        ReportCommand::New(args) => {
            let json = args.json;
            let warning_lists = home.warning_lists()?;
            let running = crate::control::is_running(&home.control_socket_path());
            let report = if running {
                // The running node holds the store: sign here, let the node store and share.
                let draft = draft_from_args(*args, None)?;
                publish_to_running_node(home, &draft)?
            } else {
                let store = home.open_store()?;
                let draft = draft_from_args(*args, Some(&store))?;
                publish(home, &store, &draft)?
            };
            for flag in warning_lists.flags(&report.report().indicators) {
                eprintln!(
                    "warning: {} (known benign or reserved: is it what you meant?)",
                    flag.describe()
                );
            }
            if json {
                print_json(&view::ReportJson::new(&report, None))?;
            } else {
                println!("{}", published_line(&report));
                if !running {
                    println!(
                        "Stored on this node, which is not running: its partners receive the report once it runs (`cairn run`)."
                    );
                }
            }
        }
        ReportCommand::List(args) => {
            let reader = Reader::open(home)?;
            let us = home.organisation()?;
            let json = args.json;
            let (reports, statuses) = unzip(reader.matching(args)?);
            if json {
                print_list_json(&reports, &statuses)?;
            } else if reports.is_empty() {
                println!("No reports match.");
            } else {
                print!("{}", view::table_with_status(&reports, &statuses, &us));
                println!("{} report(s)", reports.len());
            }
        }
        ReportCommand::Show { id, json } => {
            let reader = Reader::open(home)?;
            let us = home.organisation()?;
            let (stored, status) = reader.one(&id)?;
            if json {
                print_json(&view::ReportJson::new(
                    &stored.report,
                    Some((&stored, &status)),
                ))?;
            } else {
                print!(
                    "{}",
                    view::detail(&stored.report, Some((&stored, &status)), &us)
                );
            }
        }
        ReportCommand::History { id, json } => {
            let reader = Reader::open(home)?;
            let us = home.organisation()?;
            let (versions, statuses) = unzip(reader.history(&id)?);
            if json {
                print_list_json(&versions, &statuses)?;
            } else {
                print!("{}", view::table_with_status(&versions, &statuses, &us));
            }
        }
        ReportCommand::Verify { file, json } => {
            let bytes = read_report_file(&file)?;
            let report = cairn_core::verify(&bytes)
                .with_context(|| format!("{} does not verify", file.display()))?;
            if json {
                print_json(&view::ReportJson::new(&report, None))?;
            } else {
                println!("{}", verified_line(&report));
            }
        }
        ReportCommand::Export {
            id,
            all: _,
            out,
            withhold,
            format,
        } => {
            if format == ExportFormat::Stix {
                let socket = home.control_socket_path();
                let (count, bundle) = if crate::control::is_running(&socket) {
                    match crate::control::ask(
                        &socket,
                        &crate::control::ControlRequest::ExportStix { report: id.clone() },
                    )? {
                        crate::control::ControlResponse::StixBundle { reports, bundle } => {
                            (reports, bundle)
                        }
                        _ => bail!("the running node answered something unexpected"),
                    }
                } else {
                    let store = home.open_store()?;
                    let config = home.config()?;
                    let us = home.organisation()?;
                    crate::stix_export::bundle_of(&store, &config, &us, id.as_deref())?
                };
                let mut text = serde_json::to_string_pretty(&bundle)?;
                text.push('\n');
                write_output(out.as_deref(), text.as_bytes())?;
                if let Some(path) = out {
                    eprintln!(
                        "Wrote {} report(s) as {} STIX object(s) to {}",
                        count,
                        bundle["objects"].as_array().map_or(0, Vec::len),
                        path.display()
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let Some(id) = id else {
                bail!("give a report id (--all exports a STIX bundle only)");
            };
            let (stored, _) = Reader::open(home)?.one(&id)?;
            let fields = parse_withhold(&withhold)?;
            let copy = stored.report.withhold(&fields);
            write_output(out.as_deref(), copy.envelope_bytes())?;
            if let Some(path) = out {
                eprintln!(
                    "Wrote report {} to {} ({} bytes, {} disclosure(s) withheld)",
                    copy.id(),
                    path.display(),
                    copy.envelope_bytes().len(),
                    copy.withheld()
                );
            }
        }
        ReportCommand::Import { files } => return import(home, &files),
        ReportCommand::Retract { id, reason } => {
            let reader = Reader::open(home)?;
            let signing = home.report_signing_key()?;
            let (target, _) = reader.one(&id)?;
            let tombstone =
                cairn_core::retract(&target.report, &reason, &signing, &mut rand::rngs::OsRng)?;
            match &reader {
                Reader::Store(store) => {
                    check_signer(store, &tombstone)?;
                    store_one(store, &tombstone, Provenance::Local)?;
                }
                // The running node checks the signer, stores and tells partners.
                Reader::Running(_) => hand_to_running_node(home, &tombstone)?,
            }
            println!(
                "Retracted report {} with retraction {}",
                target.report.id(),
                tombstone.id()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How `report export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// The signed report, exactly as stored (for Cairn nodes).
    Cairn,
    /// A STIX 2.1 bundle (for OpenCTI, MISP, SIEMs).
    Stix,
}

/// Signs a draft with this node's signing key and stores it durably.
pub fn publish(home: &Home, store: &Store, draft: &ReportDraft) -> Result<VerifiedReport> {
    let signing = home.report_signing_key()?;
    if let Some(previous) = draft.supersedes {
        let old = store.get(&previous)?.with_context(|| {
            format!("report {previous} (to be superseded) is not in this node's store")
        })?;
        if old.report.author() != signing.author() {
            bail!(
                "report {previous} was written by another organisation: only its author can publish a new version"
            );
        }
    }
    let report = sign_draft(draft, &signing)?;
    check_signer(store, &report)?;
    store_one(store, &report, Provenance::Local)?;
    Ok(report)
}

/// Signs a draft written on the command line; a refusal says which flag fixes it where one does.
fn sign_draft(
    draft: &ReportDraft,
    signing: &cairn_core::ReportSigningKey,
) -> Result<VerifiedReport> {
    draft
        .sign(signing, &mut rand::rngs::OsRng)
        .map_err(|e| {
            let hint = match e.field.as_str() {
                "recipients" => " (name each with --recipient ORG_KEY, its organisation key)",
                _ => "",
            };
            anyhow::anyhow!("{e}{hint}")
        })
        .context("the report is not valid")
}

/// Signs a draft and hands it to the node running from `home`, which stores and shares it.
pub fn publish_to_running_node(home: &Home, draft: &ReportDraft) -> Result<VerifiedReport> {
    let signing = home.report_signing_key()?;
    let report = sign_draft(draft, &signing)?;
    hand_to_running_node(home, &report)?;
    Ok(report)
}

/// Hands a report signed here to the node running from `home`, which checks, stores and
/// shares it.
pub(crate) fn hand_to_running_node(home: &Home, report: &VerifiedReport) -> Result<()> {
    use crate::control::{ControlRequest, ControlResponse, ask};
    let answer = ask(
        &home.control_socket_path(),
        &ControlRequest::Publish {
            envelopes: vec![crate::control::encode_envelope(report.envelope_bytes())],
            imported: false,
        },
    )
    .map_err(|e| match e.downcast_ref::<crate::control::NoAnswer>() {
        Some(_) => anyhow::anyhow!(
            "the node stopped before saying whether it stored report {}: once it runs again (`cairn run`), `cairn report show {}` says whether it did; publishing it again is harmless (a report is stored once)",
            report.id(),
            report.id().short()
        ),
        None => e,
    })?;
    match answer {
        ControlResponse::Published(outcomes) => match outcomes.first() {
            Some(o) if o.outcome == "stored" || o.outcome == "duplicate" => Ok(()),
            Some(o) => bail!(
                "not stored: {}",
                o.reason.as_deref().unwrap_or(o.outcome.as_str())
            ),
            None => bail!("not stored: the running node gave no outcome"),
        },
        _ => bail!("the running node answered something unexpected"),
    }
}

/// Whether the key that signed `report` may sign for its organisation at the time it signed,
/// as the statements kept in `store` say (a node key or a later organisation key within what
/// they allow; the first key until it was handed over or revoked): a stopped node checks here
/// what a running one checks when it is handed the report.
pub fn check_signer(store: &Store, report: &VerifiedReport) -> Result<()> {
    use cairn_core::Signers;
    let author = report.author();
    let logs = cairn_node::keylogs::KeyLogs::new([author], store.all_statements()?);
    match (report.signer_key(), report.signed_ms()) {
        (Some(signer), Some(signed_ms)) => logs.may_sign(&author, &signer, signed_ms).map_err(|reason| {
            anyhow::anyhow!(
                "the key this node signs with may not sign its organisation's reports: {reason}; authorise this node with `cairn org certify` where the organisation key is, then `cairn org add-statements`"
            )
        }),
        _ => logs
            .first_key_may_sign(&author, report.report().created_ms)
            .map_err(|reason| {
                anyhow::anyhow!(
                    "the organisation key in this node's home may not sign any more: {reason}; put the organisation's current key in keys/org.key, or authorise this node to sign with its own key (`cairn org certify`)"
                )
            }),
    }
}

pub(crate) fn store_one(
    store: &Store,
    report: &VerifiedReport,
    provenance: Provenance,
) -> Result<()> {
    match store.insert(vec![report.clone()], provenance)?.pop() {
        Some(IngestOutcome::Stored { .. } | IngestOutcome::Duplicate { .. }) => Ok(()),
        Some(IngestOutcome::Refused { reason, .. }) => bail!("not stored: {reason}"),
        Some(IngestOutcome::Rejected(e)) => bail!("not stored: {e}"),
        None => bail!("not stored"),
    }
}

/// "Published report ..." as printed after `report new`.
pub fn published_line(report: &VerifiedReport) -> String {
    let r = report.report();
    format!(
        "Published report {} ({}, {}, {}, {} indicator(s), {} disclosure(s))",
        report.id(),
        r.kind,
        r.tlp.official(),
        match r.distribution.scope {
            Scope::Community => format!("community ≤{} hops", r.distribution.hop_limit),
            scope => scope.to_string(),
        },
        r.indicators.len(),
        r.disclosure_digests.len()
    )
}

/// The one-line verdict of `report verify`.
pub fn verified_line(report: &VerifiedReport) -> String {
    format!(
        "Valid: report {} \"{}\" signed by organisation {}; {} {}; {} of {} disclosure(s) present, {} withheld",
        report.id(),
        report.report().title,
        report.author(),
        report.report().kind,
        report.report().tlp.official(),
        report.disclosures().len(),
        report.report().disclosure_digests.len(),
        report.withheld()
    )
}

/// Where the report commands read: the store of a stopped node, or a running node through its
/// control socket (it holds the store). Both give the same reports with the same statuses.
pub enum Reader {
    /// The node is stopped: its store, opened here.
    Store(Box<Store>),
    /// The node runs: its control socket.
    Running(std::path::PathBuf),
}

impl Reader {
    /// The running node of `home`, or else its store.
    pub fn open(home: &Home) -> Result<Reader> {
        let socket = home.control_socket_path();
        if crate::control::is_running(&socket) {
            return Ok(Reader::Running(socket));
        }
        Ok(Reader::Store(Box::new(home.open_store()?)))
    }

    fn ask(
        socket: &Path,
        wanted: crate::control::ReportsWanted,
    ) -> Result<Vec<(StoredReport, ReportStatus)>> {
        use crate::control::{ControlRequest, ControlResponse};
        match crate::control::ask(socket, &ControlRequest::Reports(wanted))? {
            ControlResponse::Reports(list) => list.iter().map(|r| r.read()).collect(),
            _ => bail!("the running node answered something unexpected"),
        }
    }

    /// The reports matching `args`, newest first.
    pub fn matching(&self, args: ListArgs) -> Result<Vec<(StoredReport, ReportStatus)>> {
        match self {
            Reader::Store(store) => with_status(store, store.query(&query_from_args(&args)?)?),
            Reader::Running(socket) => Reader::ask(
                socket,
                crate::control::ReportsWanted::Matching(Box::new(args)),
            ),
        }
    }

    /// One report, by its id or a prefix of it.
    pub fn one(&self, id: &str) -> Result<(StoredReport, ReportStatus)> {
        let list = match self {
            Reader::Store(store) => with_status(store, vec![load(store, id)?])?,
            Reader::Running(socket) => {
                Reader::ask(socket, crate::control::ReportsWanted::One(id.to_string()))?
            }
        };
        list.into_iter()
            .next()
            .with_context(|| format!("no report {id} in this node's store"))
    }

    /// The report with this id, if this node holds it.
    pub fn maybe_one(&self, id: &cairn_core::ReportId) -> Result<Option<StoredReport>> {
        Ok(match self {
            Reader::Store(store) => store.get(id)?,
            Reader::Running(socket) => {
                Reader::ask(socket, crate::control::ReportsWanted::IfHeld(*id))?
                    .into_iter()
                    .next()
                    .map(|(stored, _)| stored)
            }
        })
    }

    /// The sightings of a report (its id or a prefix of it), in arrival order.
    pub fn sightings_of(&self, id: &str) -> Result<Vec<(StoredReport, ReportStatus)>> {
        match self {
            Reader::Store(store) => with_status(store, store.sightings_of(&store.resolve(id)?)?),
            Reader::Running(socket) => Reader::ask(
                socket,
                crate::control::ReportsWanted::SightingsOf(id.to_string()),
            ),
        }
    }

    /// Every version of a report, oldest first.
    pub fn history(&self, id: &str) -> Result<Vec<(StoredReport, ReportStatus)>> {
        match self {
            Reader::Store(store) => with_status(store, store.history(&store.resolve(id)?)?),
            Reader::Running(socket) => Reader::ask(
                socket,
                crate::control::ReportsWanted::History(id.to_string()),
            ),
        }
    }
}

/// Each report with its status among its versions.
fn with_status(
    store: &Store,
    reports: Vec<StoredReport>,
) -> Result<Vec<(StoredReport, ReportStatus)>> {
    reports
        .into_iter()
        .map(|r| {
            let status = store.status(&r.report)?;
            Ok((r, status))
        })
        .collect()
}

/// Reports and their statuses, apart.
fn unzip(list: Vec<(StoredReport, ReportStatus)>) -> (Vec<StoredReport>, Vec<ReportStatus>) {
    list.into_iter().unzip()
}

/// Prints stored reports as a JSON array, each with its status among its versions.
fn print_list_json(reports: &[StoredReport], statuses: &[ReportStatus]) -> Result<()> {
    let json: Vec<_> = reports
        .iter()
        .zip(statuses)
        .map(|(s, status)| view::ReportJson::new(&s.report, Some((s, status))))
        .collect();
    print_json(&json)
}

fn load(store: &Store, id: &str) -> Result<StoredReport> {
    let id = store.resolve(id)?;
    store
        .get(&id)?
        .with_context(|| format!("no report {id} in this node's store"))
}

pub fn query_from_args(args: &ListArgs) -> Result<ReportQuery> {
    let now = now_ms();
    Ok(ReportQuery {
        author: args.author,
        kind: args.kind,
        tlp: args.tlp,
        tag: args.tag.clone(),
        sector: args.sector.clone(),
        region: args.region.clone(),
        principle: args.principle,
        since_ms: args
            .since
            .as_deref()
            .map(|t| view::parse_time(t, now, false))
            .transpose()
            .context("--since")?,
        until_ms: args
            .until
            .as_deref()
            .map(|t| view::parse_time(t, now, true))
            .transpose()
            .context("--until")?,
        indicator: args.indicator.clone(),
        inside: args
            .inside
            .as_deref()
            .map(cairn_core::search::Container::parse)
            .transpose()
            .context("--inside")?,
        text: args.text.clone(),
        include_history: args.all_versions,
        limit: args.limit,
        past: None,
        oldest_first: false,
    })
}

fn draft_from_args(args: NewArgs, store: Option<&Store>) -> Result<ReportDraft> {
    if let Some(path) = &args.file {
        return read_draft(path);
    }
    let indicators = args
        .indicators
        .iter()
        .enumerate()
        .map(|(i, text)| {
            Indicator::parse_typed(text)
                .map(IndicatorDraft::from)
                .with_context(|| format!("--indicator #{}", i + 1))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut indicators = indicators;
    for (n, hashes) in args.file_hashes.iter().enumerate() {
        let file = u32::try_from(n + 1).context("too many --file-hashes")?;
        for text in hashes.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let hash = Indicator::parse_typed(text)
                .with_context(|| format!("--file-hashes #{}", n + 1))?;
            if !cairn_core::correlation::is_hash(hash.kind) {
                bail!(
                    "--file-hashes #{}: {text:?} is not a hash: give md5, sha1, sha256 or sha512 values",
                    n + 1
                );
            }
            let mut draft = IndicatorDraft::from(hash);
            draft.file = file;
            indicators.push(draft);
        }
    }
    let created = args
        .created
        .as_deref()
        .map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .with_context(|| {
                    format!("--created {t:?} is not an RFC 3339 time (2026-11-01T09:00:00Z)")
                })
        })
        .transpose()?;
    let supersedes = args
        .supersedes
        .as_deref()
        .map(|id| match store {
            Some(store) => store.resolve(id).context("--supersedes"),
            None => id.parse::<cairn_core::ReportId>().map_err(|_| {
                anyhow::anyhow!(
                    "--supersedes {id:?}: with the node running, give the full report id (64 hex digits)"
                )
            }),
        })
        .transpose()?;
    Ok(ReportDraft {
        kind: args.kind,
        title: args.title.unwrap_or_default(),
        summary: args.summary,
        severity: args.severity,
        confidence: args.confidence,
        created,
        tlp: args.tlp,
        scope: args.scope,
        hop_limit: args.hops,
        community: args.community,
        recipients: args.recipients,
        tags: args.tags,
        sectors: args.sectors,
        regions: args.regions,
        paris_call_principles: args.principles,
        indicators,
        supersedes,
        victim: args.victim,
        internal_notes: args.notes,
        evidence: args.evidence,
        stix_objects: Vec::new(),
        misp_event: None,
        language: args.language,
        observance: None,
        coding: Some(cairn_core::coding::IncidentCoding {
            gge_norms: args.norms,
            countries: args.countries,
            operations: args.operations,
            impact: args.impact,
            impact_kinds: args.impact_kinds,
            attributions: args.attributions,
        })
        .filter(|c| !c.is_empty()),
        directory_entry: None,
        sighting: None,
    })
}

/// Reads a report draft from a TOML or JSON file (or "-" for standard input).
pub fn read_draft(path: &Path) -> Result<ReportDraft> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .take(limits::MAX_ENVELOPE_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        text
    } else {
        let bytes = read_limited(path)?;
        String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))?
    };
    if text.len() > limits::MAX_ENVELOPE_BYTES {
        bail!(
            "{} is larger than a report may be ({} bytes)",
            path.display(),
            limits::MAX_ENVELOPE_BYTES
        );
    }
    let is_json =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    if is_json {
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    } else {
        toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {}",
                path.display(),
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
    }
}

/// Reads a file after checking it is not larger than a report may be.
fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > limits::MAX_ENVELOPE_BYTES as u64 {
        bail!(
            "{} is {} bytes ({:.1} MB); a Cairn report is at most {} bytes (1 MiB)",
            path.display(),
            size,
            size as f64 / 1e6,
            limits::MAX_ENVELOPE_BYTES
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn read_report_file(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_limited(path)?;
    if bytes.is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(bytes)
}

fn import(home: &Home, files: &[PathBuf]) -> Result<ExitCode> {
    let mut envelopes = Vec::with_capacity(files.len());
    let mut failures = 0;
    let mut readable = Vec::with_capacity(files.len());
    for file in files {
        match read_report_file(file) {
            Ok(bytes) => {
                envelopes.push(bytes);
                readable.push(file);
            }
            Err(e) => {
                failures += 1;
                eprintln!("{}: not imported: {e:#}", file.display());
            }
        }
    }
    let outcomes: Vec<crate::control::PublishOutcome> = match Reader::open(home)? {
        // The running node verifies with its key logs, stores and shares.
        Reader::Running(socket) => {
            use crate::control::{ControlRequest, ControlResponse};
            let request = ControlRequest::Publish {
                envelopes: envelopes
                    .iter()
                    .map(|b| crate::control::encode_envelope(b))
                    .collect(),
                imported: true,
            };
            match crate::control::ask(&socket, &request)? {
                ControlResponse::Published(outcomes) => outcomes,
                _ => bail!("the running node answered something unexpected"),
            }
        }
        Reader::Store(store) => {
            // Verified as the running node verifies: with this organisation's and its
            // partners' key statements, so that a report signed by a node key or a later
            // organisation key is taken, and one a handed-over or revoked key signed is not.
            let orgs = std::iter::once(home.organisation()?).chain(
                home.config()?
                    .sharing()
                    .trust_list()
                    .into_iter()
                    .map(|p| p.partner.org),
            );
            let logs = cairn_node::keylogs::KeyLogs::new(orgs, store.all_statements()?);
            store
                .ingest_with(&envelopes, Provenance::Import, &logs)?
                .into_iter()
                .map(crate::control::PublishOutcome::new)
                .collect()
        }
    };
    let (mut stored, mut duplicates) = (0, 0);
    for (file, outcome) in readable.iter().zip(outcomes) {
        let id = outcome.id.as_deref().unwrap_or("?");
        let reason = outcome.reason.as_deref().unwrap_or("");
        match outcome.outcome.as_str() {
            "stored" => {
                stored += 1;
                match outcome.seq {
                    Some(seq) => println!("{}: stored report {id} as #{seq}", file.display()),
                    None => println!("{}: stored report {id}", file.display()),
                }
            }
            "duplicate" => {
                duplicates += 1;
                println!("{}: report {id} was already stored", file.display());
            }
            "refused" => {
                failures += 1;
                eprintln!("{}: report {id} not imported: {reason}", file.display());
            }
            _ => {
                failures += 1;
                eprintln!("{}: not imported: {reason}", file.display());
            }
        }
    }
    println!("{stored} stored, {duplicates} already present, {failures} failed");
    Ok(if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn parse_withhold(names: &[String]) -> Result<Vec<DisclosureField>> {
    let mut fields = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if name.eq_ignore_ascii_case("all") {
            return Ok(DisclosureField::ALL.to_vec());
        }
        fields.push(name.parse::<DisclosureField>().context("--withhold")?);
    }
    Ok(fields)
}

fn write_output(out: Option<&Path>, bytes: &[u8]) -> Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            if stdout.is_terminal() {
                bail!("a report file is binary: give --out FILE or redirect standard output");
            }
            stdout.write_all(bytes)?;
            Ok(stdout.flush()?)
        }
    }
}

pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}
