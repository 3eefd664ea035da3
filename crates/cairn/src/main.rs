//! `cairn`: the Cairn node's command line for operators and analysts.

mod allocator;
mod backup_cmd;
mod bundle_cmd;
mod control;
mod correlate_cmd;
mod demo;
mod directory_cmd;
mod federation_demo;
mod home;
mod import_cmd;
mod indicators_cmd;
mod observance_cmd;
mod operate;
mod org_cmd;
mod partner_cmd;
mod policy_cmd;
mod psi_cmd;
mod reports;
mod run;
mod sighting_cmd;
mod site_cmd;

mod stix_export;
mod view;

use cairn::{config, sharing};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// The version, with the commit the binary was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CAIRN_COMMIT"),
    ")"
);

const AFTER_HELP: &str = "\
Examples:
  cairn init --organisation \"CERT-Example\"
  cairn report new --kind indicator --tlp green --title \"Phishing kit\" \\
      --indicator domain:login-bank.example --indicator ipv4:198.51.100.7 \\
      --tag phishing
  cairn report list --tlp green --since 7d
  cairn report show 3f2a9c01
  cairn demo";

/// Cairn: share signed threat and incident reports with trusted organisations.
#[derive(Debug, Parser)]
#[command(name = "cairn", version = VERSION, about, after_help = AFTER_HELP)]
struct Cli {
    /// The node's home folder (configuration, keys, store).
    #[arg(long, global = true, env = "CAIRN_HOME", default_value_os_t = default_home())]
    home: PathBuf,

    /// How log lines are written to standard error: text (coloured only on a terminal) or
    /// json (one object per line, for log collectors). Which lines: CAIRN_LOG (e.g. `info`,
    /// `warn,cairn_node=debug`); `cairn run` logs at info unless set.
    #[arg(long, global = true, env = "CAIRN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Plain text, coloured only when standard error is a terminal.
    Text,
    /// One JSON object per line.
    Json,
}

/// Starts logging to standard error: CAIRN_LOG chooses the lines (`default` unless set).
fn start_logging(format: LogFormat, default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().with_current_span(false).init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

fn default_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".cairn")
}

/// `cairn site ...`.
#[derive(Debug, Subcommand)]
enum SiteCommand {
    /// Write the site into a folder (index.html, a page per advisory, advisories.atom).
    #[command(
        after_help = "Examples:\n  cairn site build /var/www/advisories\n  cairn site build /var/www/advisories --observance --min-count 10"
    )]
    Build {
        /// The folder (created if missing; the files it writes are replaced).
        dir: PathBuf,
        /// Also publish this organisation's own observance figures (observance.html: incident
        /// reports it wrote, counted by principle, region, sector and quarter), as charts and
        /// a table. Counts of reports of every TLP are made public: only cells of at least
        /// --min-count reports are shown.
        #[arg(long)]
        observance: bool,
        /// With --observance, the smallest count shown (at least 1).
        #[arg(long, value_name = "K", default_value_t = cairn_core::observance::DEFAULT_MIN_COUNT, requires = "observance")]
        min_count: u64,
    },
}

#[derive(Debug, Subcommand)]
enum BundleCommand {
    /// Write what a partner may see into a signed bundle file, under the same sharing rules as
    /// the network (withheld disclosures, embargoes), recorded in the audit trail. By default
    /// it starts where the last bundle for that partner ended.
    #[command(
        after_help = "Examples:\n  cairn bundle export --for ngo-accra --out /media/usb/to-ngo-accra-2026-12-03.cairn\n  cairn bundle export --for ngo-accra --after 0 --out everything.cairn"
    )]
    Export {
        /// The partner, by its name in the trust list.
        #[arg(long = "for", value_name = "PARTNER")]
        partner: String,
        /// Start after this arrival number of this node (0: everything the partner may see).
        #[arg(long, value_name = "N")]
        after: Option<u64>,
        /// The file to write (it must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read a bundle a partner wrote for this organisation: its reports are checked and stored
    /// as if the partner's node had sent them, and passed on to the partners that may see them.
    #[command(
        after_help = "Examples:\n  cairn bundle import /media/usb/from-cert-gh-2026-12-03.cairn"
    )]
    Import {
        /// The bundle file.
        file: PathBuf,
        /// JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a node: an organisation signing key, a node key certified by it, node.toml.
    #[command(
        after_help = "Examples:\n  cairn --home /var/lib/cairn init --organisation \"CERT-Example\"\n  cairn --home /var/lib/cairn init --organisation \"CERT-Example\" \\\n      --recovery-key /media/usb/recovery.key\n  cairn --home /var/lib/cairn init --organisation \"CERT-Example\" \\\n      --node-name cert-3 --offline-org-key\n  cairn --home ./node2 init --organisation \"CERT-Example\" \\\n      --node-name node-2 --org-key /var/lib/cairn/keys/org.key\n\nWith --recovery-key, the organisation is founded with a recovery key, written to that file:\nkeep it offline. It can later revoke a leaked organisation key and name its successor\n(`cairn org recover`, deploy/OPERATOR-GUIDE.md). An organisation founded without one cannot add\none later."
    )]
    Init {
        /// The organisation's display name.
        #[arg(long)]
        organisation: String,
        /// This node's name within the organisation.
        #[arg(long, default_value = "node-1")]
        node_name: String,
        /// Use this existing organisation key (for a second node of the same organisation).
        #[arg(long, value_name = "FILE")]
        org_key: Option<PathBuf>,
        /// Found the organisation with a recovery key, written to this new file (keep it
        /// offline, away from the organisation key).
        #[arg(long, value_name = "FILE", conflicts_with = "org_key")]
        recovery_key: Option<PathBuf>,
        /// The organisation key stays on an offline machine: create only this node's key and
        /// configuration, to certify there with `cairn org certify PEER_ID --out FILE` and
        /// load here with `cairn org add-statements FILE`.
        #[arg(long, conflicts_with_all = ["org_key", "recovery_key"])]
        offline_org_key: bool,
    },
    /// Show this node's organisation key and PeerId (what partners put in their trust lists).
    Identity,
    /// Write, read, verify, export, import and retract reports.
    #[command(subcommand)]
    Report(reports::ReportCommand),
    /// The current reports related to a value (the same observable, another hash of the same
    /// file, a range or domain it lies in, an observable inside it), or to each indicator of a
    /// report.
    Correlate(correlate_cmd::CorrelateArgs),
    /// The indicators of current reports with their validity, score and state: what is still
    /// valid, as a table, JSON or values one a line.
    Indicators(indicators_cmd::IndicatorArgs),
    /// Private set intersection: ask a partner which of your values it holds, without
    /// showing it your list.
    #[command(subcommand)]
    Psi(psi_cmd::PsiCommand),
    /// Sightings and feedback: say what was seen of a partner's report (or that it is a false
    /// positive, expired or confirmed), and read what was said of a report.
    #[command(subcommand)]
    Sighting(sighting_cmd::SightingCommand),
    /// Make an invitation for a partner: this organisation's name and key and its nodes'
    /// PeerIds and addresses, signed, on one line.
    Invite(partner_cmd::InviteArgs),
    /// The warning lists indicators are checked against when published or imported (Cairn's
    /// and the MISP warninglist files in the home's warninglists/ folder), or which of them
    /// hold the given indicators.
    #[command(
        name = "warning-lists",
        after_help = "Examples:\n  cairn warning-lists\n  cairn warning-lists --check ipv4:8.8.8.8 --check domain:cdn.example.com"
    )]
    WarningLists {
        /// An indicator to look up, as TYPE:VALUE (repeat for more).
        #[arg(long = "check", value_name = "TYPE:VALUE")]
        check: Vec<String>,
    },
    /// Add partners from their invitations, remove them, list them.
    #[command(subcommand)]
    Partner(partner_cmd::PartnerCommand),
    /// Back the node up into a new folder: a consistent copy of its store (taken by the
    /// running node while it serves, or from a stopped one), node.toml, keys and API tokens.
    #[command(
        after_help = "Examples:\n  cairn backup /var/backups/cairn-2026-12-02\n  cairn --home /var/lib/cairn backup /mnt/backup/cairn-$(date +%F)"
    )]
    Backup {
        /// The folder to create (it must not exist).
        dir: PathBuf,
    },
    /// Bring a backup back into a home without a store (the node stopped): every report is
    /// verified; the node then resumes with its partners where the backup left off.
    #[command(
        after_help = "Examples:\n  cairn --home /var/lib/cairn restore /var/backups/cairn-2026-12-02"
    )]
    Restore {
        /// The backup folder (`cairn backup` made it).
        dir: PathBuf,
    },
    /// Shell completions (bash, zsh, fish, elvish, powershell), written to standard output.
    #[command(
        after_help = "Examples:\n  cairn completions bash > /usr/share/bash-completion/completions/cairn\n  cairn completions zsh > /usr/local/share/zsh/site-functions/_cairn\n  cairn completions fish > ~/.config/fish/completions/cairn.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Manual pages: cairn(1) and one page per command (cairn-partner-add(1), ...), written
    /// into a folder.
    #[command(after_help = "Examples:\n  cairn man /usr/local/share/man/man1")]
    Man {
        /// The folder to write them into (created if missing).
        dir: PathBuf,
    },
    /// Paris Call observance trends: current incident reports by principle, region, sector and
    /// quarter, over what the node holds (a report counts in every combination of its
    /// principles, regions and sectors, at most 27).
    #[command(
        after_help = "Examples:\n  cairn observance\n  cairn observance --mine --min-count 5\n  cairn observance --region west-africa --json"
    )]
    Observance(observance_cmd::ObservanceArgs),
    /// The liaison directory: publish initiatives, projects, capacity offers and needs, and
    /// donor programmes; search what the node holds; match needs with offers and donors.
    #[command(subcommand)]
    Directory(directory_cmd::DirectoryCommand),
    /// Store-and-forward bundles, for partners that exchange files instead of connecting (the
    /// node must be running).
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// The public web site: the node's current TLP:CLEAR advisories left unrestricted by their
    /// authors, as static pages and an Atom feed.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Check the node's configuration, or make the running node read it again.
    #[command(subcommand)]
    Config(policy_cmd::ConfigCommand),
    /// See what the sharing rules decide.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Import STIX 2.1 and MISP event JSON from other tools as this organisation's reports
    /// (through the running node when there is one, which shares them).
    #[command(
        after_help = "Examples:\n  cairn import opencti-export.json\n  cairn import misp-event.json stix-bundle.json\n  cairn import --json enterprise-attack.json\n  cairn import ./misp-feed/\n\nEach file is STIX 2.1 (a bundle, a list of objects or one object) or MISP event JSON (one event, a list, or a `response` collection);\na MISP feed folder imports every event its manifest.json lists. MISP events are carried as sent and in their STIX 2.1 form.\nSTIX objects are carried exactly as sent, under their own ids and versions, in reports of their own TLP marking\n(no marking: [import] default_tlp of node.toml, TLP:AMBER unless set; TLP:RED stays inside this organisation).\nEvery object is listed as imported, a new version, a duplicate or refused with why; importing a file twice stores it once."
    )]
    Import {
        /// The files (STIX 2.1, MISP event JSON), or MISP feed folders (with manifest.json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The TLP of objects without a TLP marking (instead of [import] default_tlp).
        #[arg(long, value_name = "TLP")]
        default_tlp: Option<cairn_core::Tlp>,
        /// Print what became of every object as JSON, one document per file.
        #[arg(long)]
        json: bool,
    },
    /// The organisation's key statements: show them, revoke a node's key.
    #[command(subcommand)]
    Org(org_cmd::OrgCommand),
    /// Tokens for the local HTTP API.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Run the node: share with partners until Ctrl-C or SIGTERM.
    #[command(
        after_help = "Examples:\n  cairn --home /var/lib/cairn run\n  cairn run --config /etc/cairn/node.toml\n  CAIRN_LOG=info cairn run"
    )]
    Run {
        /// The node's configuration file; its folder is the node's home (keys/, store/).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Whether the node runs; its organisation, addresses and report counts (a stopped node's
    /// read from its home). `--json` gives {"running": true|false, "node": {...}}.
    #[command(after_help = "Examples:\n  cairn status\n  cairn status --json")]
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The partner nodes of the trust list: connected or not, last seen, how far behind (on a
    /// stopped node: where it will resume with each).
    #[command(
        after_help = "Examples:\n  cairn peers\n  cairn peers --json\n  cairn peers catch-up-again 12D3KooW..."
    )]
    Peers {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<PeersCommand>,
    },
    /// Who has received a report from this node, and when.
    #[command(after_help = "Examples:\n  cairn audit 3f2a9c01\n  cairn audit 3f2a9c01 --json")]
    Audit {
        /// The report id (or a unique prefix of it).
        report: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The federation demo: a CERT, a bank and an NGO share reports on this machine, then stop.
    Demo {
        /// Keep the demo nodes' folders in DIR instead of a temporary folder.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// The walk-through on a single node instead: publish, list, verify, withhold, retract.
        #[arg(long)]
        one_node: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PeersCommand {
    /// Catch up with a partner node again from its first report: when our position in its
    /// arrivals is wrong (its store was restored, or it answered with numbers beyond what it
    /// holds). What this node already holds is recognised and kept once.
    CatchUpAgain {
        /// The partner node's PeerId (as `cairn peers` lists it).
        node: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it (the only time it is shown; only its digest is kept).
    #[command(
        after_help = "Examples:\n  cairn token create --role read --name siem\n  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:7401/api/v1/status"
    )]
    Create {
        /// read, publish or admin.
        #[arg(long)]
        role: cairn_api::Role,
        /// A name for people (the tool using it).
        #[arg(long)]
        name: String,
    },
    /// List the tokens (names and roles; never the tokens).
    List,
    /// Revoke a token by name.
    Revoke {
        /// Its name.
        name: String,
    },
}

fn main() -> ExitCode {
    allocator::tune();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version: print them as clap lays them out.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err)
            if err.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            // `cairn report` alone: show what can follow.
            let _ = err.print();
            return ExitCode::from(2);
        }
        Err(err) => {
            // Usage errors: the one line that says what was wrong (exit code 2).
            let text = err.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let reason = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {reason} (see cairn --help)");
            return ExitCode::from(2);
        }
    };
    // The daemon says what it does (connections, reports published, received and served);
    // other commands only what went wrong.
    let default = match cli.command {
        Command::Run { .. } => {
            "warn,cairn=info,cairn_node=info,cairn_net=info,cairn_api=info,cairn_store=info"
        }
        _ => "warn",
    };
    start_logging(cli.log_format, default);
    // A command whose output goes into `head` or a pager that quits stops quietly, as other
    // Unix tools do, instead of panicking on the broken pipe. The daemon and the demo keep
    // SIGPIPE ignored: a client that hangs up on the control socket must not stop a node.
    if !matches!(cli.command, Command::Run { .. } | Command::Demo { .. }) {
        stop_quietly_on_broken_pipe();
    }
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", one_line(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

/// Restores SIGPIPE's default action (the process ends when what reads its output has gone).
fn stop_quietly_on_broken_pipe() {
    // SAFETY: `signal` only sets how SIGPIPE is handled; no other thread has started yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn token(home: &home::Home, command: TokenCommand) -> anyhow::Result<ExitCode> {
    home.config()?;
    let mut tokens = cairn_api::Tokens::load(&home.tokens_path())?;
    match command {
        TokenCommand::Create { role, name } => {
            let name = name.trim();
            if name.is_empty() {
                anyhow::bail!("--name must not be empty");
            }
            let token = tokens.create(name, role, home::now_ms())?;
            println!("{token}");
            eprintln!(
                "Token {name:?} ({role:?}) created. It is shown once: store it where the tool using it can read it.",
            );
        }
        TokenCommand::List => {
            if tokens.records().is_empty() {
                println!(
                    "No API tokens: create one with `cairn token create --role read --name NAME`."
                );
            }
            for r in tokens.records() {
                println!(
                    "{:<20} {:<8} created {}",
                    r.name,
                    format!("{:?}", r.role).to_lowercase(),
                    view::rfc3339(r.created_ms)
                );
            }
        }
        TokenCommand::Revoke { name } => {
            if !tokens.revoke(&name)? {
                anyhow::bail!("no token named {name:?}");
            }
            println!("Revoked token {name:?}.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let home = match &cli.command {
        Command::Run {
            config: Some(config),
        } => home::Home::with_config(config),
        _ => home::Home::new(&cli.home),
    };
    match cli.command {
        Command::Init {
            organisation,
            node_name,
            org_key,
            recovery_key,
            offline_org_key: true,
        } => {
            let peer_id = home.init_without_org_key(&organisation, &node_name)?;
            println!(
                "Initialised a Cairn node for {organisation} in {}, without the organisation key",
                home.root().display()
            );
            println!("  node PeerId       {peer_id}");
            println!("  configuration     {}", home.config_path().display());
            println!(
                "Next, where the organisation key is:\n  cairn --home /media/org-key org certify {peer_id} --name {node_name} --out {node_name}.statements\nthen here:\n  cairn --home {} org add-statements {node_name}.statements",
                home.root().display()
            );
            let _ = (org_key, recovery_key);
            Ok(ExitCode::SUCCESS)
        }
        Command::Init {
            organisation,
            node_name,
            org_key,
            recovery_key,
            offline_org_key: false,
        } => {
            let done = home.init(
                &organisation,
                &node_name,
                org_key.as_deref(),
                recovery_key.as_deref(),
            )?;
            println!(
                "Initialised a Cairn node for {organisation} in {}",
                home.root().display()
            );
            println!(
                "  organisation key  {}{}",
                done.org.public(),
                if done.imported_org_key {
                    "  (imported)"
                } else {
                    ""
                }
            );
            println!("  node PeerId       {}", done.peer_id);
            println!("  configuration     {}", home.config_path().display());
            if let (Some(recovery), Some(path)) = (done.recovery_key, &recovery_key) {
                println!(
                    "  recovery key      {recovery}  (secret in {}: move it offline now, away from the organisation key)",
                    path.display()
                );
            }
            println!(
                "Give the organisation key and PeerId to partners so they can add you to their trust lists.\nKeep {} secret and backed up: it signs your organisation's reports.",
                home.org_key_path().display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Identity => {
            let config = home.config()?;
            println!("organisation      {}", config.node.organisation);
            if home.awaits_certificate() {
                let peer = cairn_net::peer_id_of(&home.node_key()?.public_bytes())?;
                println!("organisation key  not known yet: this node has no certificate");
                println!("node              {}", config.node.node_name);
                println!("node PeerId       {peer}");
                println!(
                    "certified         not yet: where the organisation key is, run `cairn org certify {peer} --out node.statements`, then here `cairn org add-statements node.statements`"
                );
                return Ok(ExitCode::SUCCESS);
            }
            let cert = home.node_certificate()?;
            println!("organisation key  {}", cert.org_key);
            println!("node              {}", cert.node_name);
            println!(
                "node PeerId       {}",
                cairn_net::peer_id_of(&cert.node_key)?
            );
            println!("certified         {}", view::rfc3339(cert.issued_ms));
            // What partners dial: the listen addresses, with this machine's address in place of
            // an unspecified one.
            for address in &config.network.listen {
                let unspecified = ["/ip4/0.0.0.0/", "/ip6/::/"]
                    .iter()
                    .find(|prefix| address.starts_with(*prefix));
                match unspecified {
                    Some(prefix) => {
                        let rest = &address[prefix.len()..];
                        let family = if prefix.starts_with("/ip4") {
                            "ip4"
                        } else {
                            "ip6"
                        };
                        println!(
                            "listening on      {address}: give partners /{family}/THIS_MACHINE'S_ADDRESS/{rest}"
                        );
                    }
                    None => println!("listening on      {address}: give partners this address"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(command) => reports::run(&home, command),
        Command::Correlate(args) => correlate_cmd::run(&home, args),
        Command::Sighting(command) => sighting_cmd::run(&home, command),
        Command::Indicators(args) => indicators_cmd::run(&home, args),
        Command::Psi(command) => psi_cmd::run(&home, command),
        Command::Config(policy_cmd::ConfigCommand::Reload) => partner_cmd::reload(&home),
        Command::Config(command) => policy_cmd::config(&home, command),
        Command::Invite(args) => partner_cmd::invite(&home, args),
        Command::WarningLists { check } => warning_lists(&home, &check),
        Command::Site(SiteCommand::Build {
            dir,
            observance,
            min_count,
        }) => site_cmd::build(&home, &dir, observance.then_some(min_count)),
        Command::Bundle(BundleCommand::Export {
            partner,
            after,
            out,
            json,
        }) => bundle_cmd::export(&home, &partner, after, &out, json),
        Command::Bundle(BundleCommand::Import { file, json }) => {
            bundle_cmd::import(&home, &file, json)
        }
        Command::Observance(args) => observance_cmd::show(&home, args),
        Command::Directory(command) => directory_cmd::run(&home, command),
        Command::Backup { dir } => backup_cmd::backup(&home, &dir),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "cairn", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let command = <Cli as clap::CommandFactory>::command();
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
            let mut pages: Vec<String> = std::fs::read_dir(&dir)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|name| name.starts_with("cairn") && name.ends_with(".1"))
                .collect();
            pages.sort();
            println!(
                "Wrote {} manual pages into {} (cairn.1, {}, ...): `man cairn` once the folder is in MANPATH.",
                pages.len(),
                dir.display(),
                pages
                    .iter()
                    .find(|p| *p != "cairn.1")
                    .map_or("", String::as_str)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { dir } => backup_cmd::restore(&home, &dir),
        Command::Partner(command) => partner_cmd::partner(&home, command),
        Command::Policy(command) => policy_cmd::policy(&home, command),
        Command::Demo {
            keep,
            one_node: false,
        } => federation_demo::run(keep.as_deref()),
        Command::Demo {
            keep,
            one_node: true,
        } => demo::run(keep.as_deref()),
        Command::Run { .. } => run::run(&home),
        Command::Import {
            files,
            default_tlp,
            json,
        } => import_cmd::run(&home, &files, default_tlp, json),
        Command::Token(command) => token(&home, command),
        Command::Org(command) => org_cmd::run(&home, command),
        Command::Status { json } => operate::status(&home, json),
        Command::Peers { json, action } => match action {
            None => operate::peers(&home, json),
            Some(PeersCommand::CatchUpAgain { node }) => {
                operate::catch_up_again(&home, &node, json)
            }
        },
        Command::Audit { report, json } => operate::audit(&home, &report, json),
    }
}

/// `cairn warning-lists`: every list with its size and origin, or the lists each indicator
/// given is on.
fn warning_lists(home: &home::Home, check: &[String]) -> anyhow::Result<ExitCode> {
    let lists = home.warning_lists()?;
    if check.is_empty() {
        for list in lists.lists() {
            println!(
                "{:<24} {:>8} entries  {}",
                list.name, list.entries, list.origin
            );
            println!("    {}", list.description);
        }
        println!(
            "Add or replace lists with MISP warninglist files in {}.",
            home.warning_lists_dir().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for given in check {
        let indicator = cairn_core::indicator::Indicator::parse_typed(given)
            .with_context(|| format!("--check {given:?}"))?;
        let on = lists.lists_of(&indicator);
        if on.is_empty() {
            println!("{given}: on no warning list");
        } else {
            println!("{given}: on {}", on.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}
