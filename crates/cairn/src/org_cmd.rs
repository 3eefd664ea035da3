//! `cairn org`: the organisation's key statements. `show` prints what they establish (its id,
//! its keys, its authorised and revoked node keys); `certify`, `revoke-node` and `rotate` sign
//! a node authorisation, a revocation or a succession to a new organisation key with the
//! organisation key and hand it to the running node, which sends it to every connected partner
//! at once (or keep it in the store of a stopped node, sent on its next connections), or write
//! it to a file that `add-statements` loads on the node (the organisation key kept on an
//! offline machine, whose home keeps the statements it signed in `keys/org.statements`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_core::keylog::{KeyLog, KeyStatement, OrgId, Purpose};
use clap::Subcommand;

use crate::control::{self, ControlRequest, ControlResponse};
use crate::home::{Home, now_ms};
use crate::view;

/// What `cairn org` does.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// The organisation's id, keys and revoked node keys, from its key statements.
    #[command(
        after_help = "Examples:\n  cairn org show\n  cairn org show --json\n  cairn org show --out org.statements\n\nWith --out, the statements are written to a file that `cairn org add-statements` loads\nwhere the organisation key or the recovery key is kept offline, or on a new node."
    )]
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also write the organisation's statements to this file, one in base64 per line.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Revoke a node's key: partners cut the node off within seconds and refuse it from then
    /// on, even after restarts (a stolen or retired node).
    #[command(
        after_help = "Examples:\n  cairn org revoke-node 12D3KooW... --reason \"laptop stolen\"\n  cairn org revoke-node 12D3KooW... --from 2026-11-30T22:00:00Z \\\n      --reason \"server compromised\"\n\nRevoke from the time the node may have been taken, not the time it was noticed.\nRun it on a node that holds the organisation key (keys/org.key), not on the node revoked:\nits partners learn it from the nodes of the organisation they are connected to."
    )]
    RevokeNode {
        /// The node's PeerId (as `cairn identity` or `cairn peers` shows it).
        node: String,
        /// Why, in words (kept in the statement partners receive).
        #[arg(long)]
        reason: String,
        /// From when the key is revoked: RFC 3339, a date, or an age (`2h`: two hours ago).
        /// Now unless given.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Write the organisation's statements, the revocation included, to this file instead
        /// of handing it to this home's node (where this home holds only the organisation key).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Authorise a node's key for a period: once an organisation authorises node keys, its
    /// partners let only authorised nodes in, and only within their periods.
    #[command(
        after_help = "Examples:\n  cairn org certify 12D3KooW... --name node-2 --days 90\n  cairn org certify 12D3KooW... --until 2027-06-30 --out node-2.statements\n\nRun it where the organisation key is (keys/org.key). Without --out, this home's node\nkeeps the authorisation and sends it to its partners. With --out, the file is carried to\nany node of the organisation and loaded there with `cairn org add-statements FILE`.\nAuthorise every node of the organisation, this one included: from the first\nauthorisation on, partners refuse the nodes that have none. Renew before the end."
    )]
    Certify {
        /// The node's PeerId (as `cairn identity` shows it on that node).
        node: String,
        /// The node's name, as the organisation calls it.
        #[arg(long, default_value = "")]
        name: String,
        /// From when: RFC 3339, a date, or an age (`2h`: two hours ago). Now unless given.
        #[arg(long, value_name = "TIME")]
        from: Option<String>,
        /// Until when (exclusive): RFC 3339 or a date (its end). Instead of --days.
        #[arg(long, value_name = "TIME", conflicts_with = "days")]
        until: Option<String>,
        /// For how many days from --from.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// What the node may do: `sign` (sign reports), `serve` (connect to partners and serve
        /// them), or both.
        #[arg(long, value_delimiter = ',', default_value = "sign,serve")]
        may: Vec<String>,
        /// Write the organisation's statements, the authorisation included, to this file
        /// instead of handing it to this home's node (to load on the node authorised, or where
        /// this home holds only the organisation key).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hand the organisation key over to a new one: the old key signs the succession, the new
    /// key replaces it in keys/org.key, and partners accept reports signed by the new key as
    /// the organisation's, with no change to their configuration.
    #[command(
        after_help = "Examples:\n  cairn org rotate\n  cairn --home /media/org-key org rotate --out rotation.statements\n\nRun it where the organisation key is (keys/org.key). The organisation keeps its id and its\nfirst key keeps naming it in partners' trust lists; reports, versions and retractions signed\nbefore and after are by the same author. Reports signed by the old key and dated after the\nsuccession are refused everywhere. Nodes whose certificate the old key issued keep serving.\nWithout --out, this home's node keeps the succession and sends it to its partners; with --out,\nload the file on a node with `cairn org add-statements FILE`."
    )]
    Rotate {
        /// Also write the organisation's statements, the succession included, to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The organisation key leaked: revoke it with the recovery key (from `cairn init
    /// --recovery-key`) from when it may have been copied, and hand over to a new key.
    #[command(
        after_help = "Examples:\n  cairn org recover --recovery-key /media/usb/recovery.key \\\n      --from 2026-11-30T22:00:00Z --reason \"key copied from a backup\"\n  cairn --home /media/recovery org recover \\\n      --recovery-key /media/recovery/recovery.key --from 2026-11-30 \\\n      --reason \"laptop stolen\" --out recovery.statements\n\nRun it where the organisation's statements are: on a node (running or stopped), or on an\noffline home that holds them (`cairn org show --out FILE` on a node, then `cairn org\nadd-statements FILE` there). Everything the leaked key signed dated from --from on is refused\nby partners: reports, node authorisations and certificates. The recovery key's succession\nwins over any the thief made. Then authorise every node again with the new key."
    )]
    Recover {
        /// The recovery key file.
        #[arg(long, value_name = "FILE")]
        recovery_key: PathBuf,
        /// From when the leaked key is refused: RFC 3339, a date, or an age (`2d`: two days
        /// ago). The earliest time it may have been copied, not when that was noticed.
        #[arg(long, value_name = "TIME")]
        from: String,
        /// Why, in words (kept in the statement partners receive).
        #[arg(long)]
        reason: String,
        /// Also write the organisation's statements, the new ones included, to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Load key statements written by `cairn org certify --out` (or any file of this
    /// organisation's statements, one in base64 per line) into this node, which sends them
    /// to its partners.
    #[command(after_help = "Examples:\n  cairn org add-statements node-2.statements")]
    AddStatements {
        /// The file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `cairn org` command.
pub fn run(home: &Home, command: OrgCommand) -> Result<ExitCode> {
    match command {
        OrgCommand::Show { json, out } => show(home, json, out.as_deref()),
        OrgCommand::RevokeNode {
            node,
            reason,
            from,
            out,
            json,
        } => revoke_node(home, &node, &reason, from.as_deref(), out.as_deref(), json),
        OrgCommand::Certify {
            node,
            name,
            from,
            until,
            days,
            may,
            out,
            json,
        } => {
            let period = Period {
                from: from.as_deref(),
                until: until.as_deref(),
                days,
            };
            certify(home, &node, &name, &period, &may, out.as_deref(), json)
        }
        OrgCommand::AddStatements { file, json } => add_statements(home, &file, json),
        OrgCommand::Rotate { out, json } => rotate(home, out.as_deref(), json),
        OrgCommand::Recover {
            recovery_key,
            from,
            reason,
            out,
            json,
        } => recover(home, &recovery_key, &from, &reason, out.as_deref(), json),
    }
}

/// The period a node is authorised for, as given on the command line.
struct Period<'a> {
    from: Option<&'a str>,
    until: Option<&'a str>,
    days: u32,
}

/// What `--may` names.
fn purposes(may: &[String]) -> Result<Vec<Purpose>> {
    let mut list = Vec::new();
    for word in may {
        let purpose = match word.trim() {
            "sign" => Purpose::SignReports,
            "serve" => Purpose::ServePartners,
            other => bail!("--may {other:?}: say sign, serve or sign,serve"),
        };
        if !list.contains(&purpose) {
            list.push(purpose);
        }
    }
    if list.is_empty() {
        bail!("--may must name sign, serve or both");
    }
    Ok(list)
}

fn certify(
    home: &Home,
    node: &str,
    name: &str,
    period: &Period,
    may: &[String],
    out: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    let node_key = node_key_of(node)?;
    let purposes = purposes(may)?;
    let signing = signing(home, "certify on the machine that does")?;
    let now = now_ms();
    let from_ms = match period.from {
        Some(text) => view::parse_time(text, now, false)?,
        None => now,
    };
    let until_ms = match period.until {
        Some(text) => view::parse_time(text, now, true)?.saturating_add(1),
        None => from_ms.saturating_add(i64::from(period.days).saturating_mul(86_400_000)),
    };
    if until_ms <= from_ms {
        bail!(
            "the authorisation would end ({}) before it starts ({})",
            view::rfc3339(until_ms),
            view::rfc3339(from_ms)
        );
    }
    if until_ms <= now {
        bail!(
            "the authorisation would end at {}, which is past",
            view::rfc3339(until_ms)
        );
    }
    let log = &signing.log;
    if log.org_keys().iter().any(|p| p.key == node_key) {
        bail!("{node} is an organisation key, not a node key");
    }
    if let Some(at) = log.revoked_from(&node_key) {
        bail!(
            "{node} was revoked from {}: a revoked key is never authorised again; give the node a new key",
            view::rfc3339(at)
        );
    }
    let statement = KeyStatement::authorise_node(
        log.org_id(),
        &signing.org,
        node_key,
        name.trim(),
        &purposes,
        from_ms,
        until_ms,
        now,
    )?;
    let may_text = purposes
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(" and ");
    let first_authorisation = log.node_keys().is_empty();
    let what = format!("the authorisation of node {node}");
    let handed = signing.hand_on(home, statement, out, &what)?;
    // The file carries the node's certificate too: a node created without the organisation
    // key (`cairn init --offline-org-key`) installs it when it loads the file.
    if let Some(path) = out {
        let first = log
            .org_keys()
            .first()
            .map(|p| cairn_core::OrgPublicKey::from_bytes(&p.key))
            .context("the organisation has no first key")??;
        let cert =
            cairn_core::NodeCertificate::issue_for(first, &signing.org, node_key, name.trim(), now);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        use std::io::Write;
        writeln!(
            file,
            "{}{}",
            crate::home::CERTIFICATE_LINE,
            control::encode_envelope(cert.to_bytes())
        )
        .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "authorised": node,
                "name": name.trim(),
                "from": view::rfc3339(from_ms),
                "until": view::rfc3339(until_ms),
                "may": purposes.iter().map(|p| match p {
                    Purpose::SignReports => "sign",
                    Purpose::ServePartners => "serve",
                }).collect::<Vec<_>>(),
                "file": handed.file(),
                "sent_to_partners": handed.reached_running_node(),
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Authorised node {node} to {may_text} from {} until {}.",
        view::rfc3339(from_ms),
        view::rfc3339(until_ms)
    );
    handed.tell("the authorisation");
    if first_authorisation {
        println!(
            "This is the organisation's first node authorisation: from now on partners let in only\nthe nodes it authorises. Authorise every other node of the organisation too."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Where a new statement went.
enum Handed {
    /// To the running node, which sent it to its partners.
    Running,
    /// Into the store of this stopped node.
    Stored,
    /// Into a file.
    File(String),
    /// Into a file, and to this home's node.
    FileAnd(String, Box<Handed>),
}

impl Handed {
    /// Whether the running node has it (and sent it to its partners).
    fn reached_running_node(&self) -> bool {
        match self {
            Handed::Running => true,
            Handed::FileAnd(_, then) => then.reached_running_node(),
            Handed::Stored | Handed::File(_) => false,
        }
    }

    /// The file it was written to, if any.
    fn file(&self) -> Option<String> {
        match self {
            Handed::File(path) | Handed::FileAnd(path, _) => Some(path.clone()),
            Handed::Running | Handed::Stored => None,
        }
    }

    /// Says where `what` went.
    fn tell(&self, what: &str) {
        match self {
            Handed::File(path) => println!(
                "Written to {path}: load it on a node of the organisation with `cairn org add-statements {path}`."
            ),
            Handed::FileAnd(path, then) => {
                println!("Written to {path} too.");
                then.tell(what);
            }
            Handed::Running => {
                println!("The running node sent {what} to its connected partners.")
            }
            Handed::Stored => println!(
                "Kept in this node's store: partners learn {what} when this node next connects to them (`cairn run`)."
            ),
        }
    }
}

/// Where the organisation signs a statement: its key of the time, its statements as known
/// here, and what they establish.
struct Signing {
    org: cairn_core::OrgKey,
    statements: Vec<KeyStatement>,
    log: KeyLog,
}

impl Signing {
    /// Hands a statement it signed to this home's node, or instead to the file `out`.
    fn hand_on(
        &self,
        home: &Home,
        statement: KeyStatement,
        out: Option<&Path>,
        what: &str,
    ) -> Result<Handed> {
        let delivery = out.map_or(Delivery::Node, Delivery::File);
        deliver(
            home,
            &self.statements,
            self.log.org_id(),
            vec![statement],
            delivery,
            what,
        )
    }
}

/// The organisation key in this home, checked against the organisation's statements: it must
/// be the organisation's current key. `elsewhere` says what to do where the key is not.
fn signing(home: &Home, elsewhere: &str) -> Result<Signing> {
    let org = org_key_here(home, elsewhere)?;
    let statements = statements(home)?;
    let log = KeyLog::build(&statements)
        .context("this organisation's key statements do not determine who it is")?;
    let current = log.org_key_at(now_ms());
    if current != Some(*org.public().as_bytes()) {
        bail!(
            "{} holds key {}, which is not the organisation's current key{}: it signs nothing more",
            home.org_key_path().display(),
            hex::encode(org.public().as_bytes()),
            match current {
                Some(key) => format!(" ({} is)", hex::encode(key)),
                None => " (the organisation has no current key: see `cairn org show`)".into(),
            }
        );
    }
    Ok(Signing {
        org,
        statements,
        log,
    })
}

/// Where a new statement goes besides this home's node.
#[derive(Clone, Copy)]
enum Delivery<'a> {
    /// To this home's node only.
    Node,
    /// To a file instead (to load on another node of the organisation).
    File(&'a Path),
    /// To a file and to this home's node, where there is one.
    FileAndNode(&'a Path),
}

/// Hands a new statement on: to this home's running node, or into the store of the stopped
/// one, or to a file, as `delivery` says. A home that holds only the organisation key keeps it
/// with the organisation's other statements, and needs a file to carry it to a node. `what`
/// names it in the file's header.
fn deliver(
    home: &Home,
    before: &[KeyStatement],
    org_id: OrgId,
    new: Vec<KeyStatement>,
    delivery: Delivery,
    what: &str,
) -> Result<Handed> {
    let out = match delivery {
        Delivery::Node => None,
        Delivery::File(path) | Delivery::FileAndNode(path) => Some(path),
    };
    let offline = !home.node_cert_path().exists();
    if offline && out.is_none() {
        bail!(
            "this home holds no node ({} is missing): write the statement to a file with --out and load it on a node of the organisation with `cairn org add-statements FILE`",
            home.node_cert_path().display()
        );
    }
    let mut all = before.to_vec();
    all.extend(new.iter().cloned());
    if offline {
        home.keep_offline_statements(&all)?;
    }
    if let Some(path) = out {
        write_statements(
            path,
            &all,
            org_id,
            &format!("{what}, with the statements before it"),
        )?;
        if offline || matches!(delivery, Delivery::File(_)) {
            return Ok(Handed::File(path.display().to_string()));
        }
    }
    let socket = home.control_socket_path();
    let handed = if control::is_running(&socket) {
        let request = ControlRequest::AddStatements {
            statements: new
                .iter()
                .map(|s| control::encode_envelope(s.to_bytes()))
                .collect(),
        };
        match control::ask(&socket, &request)? {
            ControlResponse::StatementsAdded { .. } => Handed::Running,
            ControlResponse::Error(e) => bail!("the node refused the statement: {e}"),
            _ => bail!("the running node answered something unexpected"),
        }
    } else {
        // With the statements before it, so that the store holds the organisation's log whole.
        home.open_store()?.keep_statements(&all)?;
        Handed::Stored
    };
    Ok(match out {
        Some(path) => Handed::FileAnd(path.display().to_string(), Box::new(handed)),
        None => handed,
    })
}

/// Writes an organisation's statements to a file `cairn org add-statements` loads; `what`
/// says what they are in its header.
fn write_statements(path: &Path, list: &[KeyStatement], org_id: OrgId, what: &str) -> Result<()> {
    let mut text = format!(
        "# Key statements of organisation {org_id}: {what}.\n# Load them with `cairn org add-statements {}`.\n",
        path.display()
    );
    for s in list {
        text.push_str(&control::encode_envelope(s.to_bytes()));
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Hands the organisation key over to a new one.
fn rotate(home: &Home, out: Option<&Path>, json: bool) -> Result<ExitCode> {
    let signing = signing(home, "rotate on the machine that does")?;
    let now = now_ms();
    let new = cairn_core::OrgKey::generate(&mut rand::rngs::OsRng);
    let old = *signing.org.public().as_bytes();
    let statement = KeyStatement::succession(signing.log.org_id(), &signing.org, old, &new, now)?;
    let done = hand_over(
        home,
        &signing.statements,
        vec![statement],
        &new,
        out,
        "the succession to a new organisation key",
    )?;
    done.print(json, old, None)
}

/// Revokes the organisation's current key with the recovery key, from when it may have
/// leaked, and hands over to a new key.
fn recover(
    home: &Home,
    recovery_key: &Path,
    from: &str,
    reason: &str,
    out: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    let reason = reason.trim();
    if reason.is_empty() {
        bail!("--reason must say why the organisation key is revoked");
    }
    let recovery = cairn_core::OrgKey::load(recovery_key)
        .with_context(|| format!("cannot read the recovery key {}", recovery_key.display()))?;
    let before = statements(home)?;
    let log = KeyLog::build(&before)
        .context("this organisation's key statements do not determine who it is")?;
    match log.recovery_key() {
        None => bail!(
            "organisation {} was founded without a recovery key: if you still hold its current key, hand it over with `cairn org rotate`",
            log.org_id()
        ),
        Some(key) if key != *recovery.public().as_bytes() => bail!(
            "{} is not the recovery key organisation {} was founded with ({})",
            recovery_key.display(),
            log.org_id(),
            hex::encode(key)
        ),
        Some(_) => {}
    }
    let now = now_ms();
    let from_ms = view::parse_time(from, now, false)?;
    if from_ms > now {
        bail!("--from {from:?} is in the future: revoke from when the key may have been copied");
    }
    // The key that was the organisation's when it may have been copied: successions it
    // signed from then on (a thief's) give way to the recovery key's.
    let keys = log.org_keys();
    let Some(leaked) = keys
        .iter()
        .rev()
        .find(|p| p.from_ms <= from_ms)
        .or(keys.first())
        .map(|p| p.key)
    else {
        bail!("organisation {} has no organisation key", log.org_id());
    };
    let new = cairn_core::OrgKey::generate(&mut rand::rngs::OsRng);
    let revocation =
        KeyStatement::revocation(log.org_id(), &recovery, leaked, from_ms, reason, now)?;
    let succession = KeyStatement::succession(log.org_id(), &recovery, leaked, &new, now)?;
    let mut statements = vec![revocation, succession];
    // The node recovering is the one the organisation trusts now: the new key authorises it
    // (the certificate the leaked key issued may date from after the leak), for a year.
    if home.node_cert_path().exists() {
        let cert = home.node_certificate()?;
        statements.push(KeyStatement::authorise_node(
            log.org_id(),
            &new,
            cert.node_key,
            &cert.node_name,
            &[Purpose::SignReports, Purpose::ServePartners],
            now,
            now.saturating_add(365 * 86_400_000),
            now,
        )?);
    }
    let authorised_here = statements.len() > 2;
    let done = hand_over(
        home,
        &before,
        statements,
        &new,
        out,
        "the revocation of a leaked organisation key and the succession to a new one",
    )?;
    done.print(
        json,
        leaked,
        Some(Recovered {
            from_ms,
            authorised_here,
        }),
    )
}

/// What a recovery did besides the hand-over.
struct Recovered {
    /// From when the leaked key is revoked.
    from_ms: i64,
    /// Whether the new key authorised this home's node.
    authorised_here: bool,
}

/// What came of handing the organisation key over.
struct HandedOver {
    org_id: OrgId,
    new_key: [u8; 32],
    at_ms: i64,
    handed: Handed,
    reloaded: Result<()>,
    key_path: PathBuf,
}

/// Checks that `statements` (a succession, after a revocation if the recovery key makes
/// them) make `new` the organisation's current key, then hands them on (to this home's node,
/// and to `out`) and puts `new` in this home's keys/org.key.
fn hand_over(
    home: &Home,
    before: &[KeyStatement],
    statements: Vec<KeyStatement>,
    new: &cairn_core::OrgKey,
    out: Option<&Path>,
    what: &str,
) -> Result<HandedOver> {
    let mut after = before.to_vec();
    after.extend(statements.iter().cloned());
    let log = KeyLog::build(&after)
        .context("the succession would break the organisation's key statements")?;
    let now = now_ms();
    if log.org_key_at(now) != Some(*new.public().as_bytes()) {
        let why: Vec<String> = log.left_out().iter().map(|l| l.reason.clone()).collect();
        bail!(
            "the succession does not make the new key current: {}",
            why.join("; ")
        );
    }
    // The new key is written beside the old one before anything is handed on, so that a
    // failure leaves the old key in place and nothing signed by the new one.
    home.ensure_keys_dir()?;
    let staged = home.org_key_path().with_extension("key.new");
    if staged.exists() {
        std::fs::remove_file(&staged)
            .with_context(|| format!("cannot remove the unfinished {}", staged.display()))?;
    }
    new.save(&staged)?;
    // The node in this home gets the statements whatever else: it signs with the new key.
    let delivery = out.map_or(Delivery::Node, Delivery::FileAndNode);
    let handed = deliver(home, before, log.org_id(), statements, delivery, what)?;
    std::fs::rename(&staged, home.org_key_path()).with_context(|| {
        format!(
            "the succession is made, but {} could not replace {}: move it there by hand",
            staged.display(),
            home.org_key_path().display()
        )
    })?;
    let reloaded = match handed.reached_running_node() {
        true => reload_signing_key(home),
        false => Ok(()),
    };
    Ok(HandedOver {
        org_id: log.org_id(),
        new_key: *new.public().as_bytes(),
        at_ms: now,
        handed,
        reloaded,
        key_path: home.org_key_path(),
    })
}

impl HandedOver {
    /// Says what was done; `recovered` for a leaked key revoked by the recovery key.
    fn print(&self, json: bool, old: [u8; 32], recovered: Option<Recovered>) -> Result<ExitCode> {
        let revoked_from = recovered.as_ref().map(|r| r.from_ms);
        let running = self.handed.reached_running_node();
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "org_id": self.org_id.to_string(),
                    "old_key": hex::encode(old),
                    "new_key": hex::encode(self.new_key),
                    "at": view::rfc3339(self.at_ms),
                    "old_key_revoked_from": revoked_from.map(view::rfc3339),
                    "file": self.handed.file(),
                    "sent_to_partners": running,
                    "running_node_signs_with_new_key": running && self.reloaded.is_ok(),
                }))?
            );
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(from) = revoked_from {
            println!(
                "Organisation key {} revoked from {} with the recovery key.",
                hex::encode(old),
                view::rfc3339(from)
            );
        }
        println!(
            "Organisation key {} handed over to {} at {}.",
            hex::encode(old),
            hex::encode(self.new_key),
            view::rfc3339(self.at_ms)
        );
        println!("{} holds the new key.", self.key_path.display());
        self.handed.tell("the statements");
        if let Err(e) = &self.reloaded {
            println!(
                "warning: the running node still signs with the old key, which partners now refuse: {}; restart it",
                crate::one_line(&format!("{e:#}"))
            );
        }
        match recovered {
            None => println!(
                "Destroy every other copy of the old key: partners refuse what it signs from now on."
            ),
            Some(Recovered {
                authorised_here, ..
            }) => {
                if authorised_here {
                    println!("The new key authorised this node for a year.");
                }
                println!(
                    "Authorise every {}node of the organisation with the new key now (`cairn org certify`):\npartners refuse what the leaked key signed from the revocation time on, its certificates included.",
                    if authorised_here { "other " } else { "" }
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Tells the running node to sign with the organisation key now in this home.
fn reload_signing_key(home: &Home) -> Result<()> {
    match control::ask(
        &home.control_socket_path(),
        &ControlRequest::ReloadSigningKey,
    )? {
        ControlResponse::SigningKeyReloaded => Ok(()),
        ControlResponse::Error(e) => bail!("{e}"),
        _ => bail!("the running node answered something unexpected"),
    }
}

fn add_statements(home: &Home, file: &Path, json: bool) -> Result<ExitCode> {
    let new = crate::home::read_statements_file(file)?;
    if new.is_empty() {
        bail!("{} holds no key statements", file.display());
    }
    // A node created without the organisation key takes its certificate from the file; it is
    // removed again if the statements are refused.
    let installed = match home.awaits_certificate() {
        true => {
            let key = home.node_key()?.public_bytes();
            let Some(cert) = crate::home::read_certificates_file(file)?
                .into_iter()
                .find(|c| c.node_key == key)
            else {
                bail!(
                    "{} holds no certificate for this node, which has none yet: where the organisation key is, run `cairn org certify {} --out FILE` and load that file",
                    file.display(),
                    cairn_net::peer_id_of(&key)?
                );
            };
            home.install_certificate(&cert)?;
            true
        }
        false => false,
    };
    let added = add_statements_to(home, file, &new, json);
    if installed && added.is_err() {
        let _ = std::fs::remove_file(home.node_cert_path());
    }
    if installed && added.is_ok() && !json {
        println!(
            "Certificate installed in {}: start the node with `cairn run`.",
            home.node_cert_path().display()
        );
    }
    added
}

fn add_statements_to(
    home: &Home,
    file: &Path,
    new: &[KeyStatement],
    json: bool,
) -> Result<ExitCode> {
    let offline = !home.node_cert_path().exists();
    let socket = home.control_socket_path();
    let running = !offline && control::is_running(&socket);
    let added = if running {
        let request = ControlRequest::AddStatements {
            statements: new
                .iter()
                .map(|s| control::encode_envelope(s.to_bytes()))
                .collect(),
        };
        match control::ask(&socket, &request)? {
            ControlResponse::StatementsAdded { new } => new,
            ControlResponse::Error(e) => bail!("the node refused the statements: {e}"),
            _ => bail!("the running node answered something unexpected"),
        }
    } else {
        // A file with the organisation's genesis replaces the implicit one this home would
        // otherwise assume (a node of an organisation founded with a recovery key).
        let held = statements_held(home, !new.iter().any(|s| s.defines().is_some()))?;
        let mut all = held.clone();
        for statement in new {
            if !all.contains(statement) {
                all.push(statement.clone());
            }
        }
        let log = KeyLog::build(&all).context(
            "with these statements, the organisation's key statements do not determine who it is",
        )?;
        let ours = match offline {
            // The key here must be one of the organisation's.
            // The key here, if any, must be one of the organisation's (statements held
            // already name the organisation: another genesis does not build).
            true => match home.org_key_path().exists() {
                true => {
                    let key = *home.org_key()?.public().as_bytes();
                    log.org_keys().iter().any(|p| p.key == key)
                }
                false => true,
            },
            false => {
                let first = home.node_certificate()?.org_key;
                log.org_keys().first().map(|p| p.key) == Some(*first.as_bytes())
            }
        };
        if !ours {
            bail!(
                "these statements are not about this home's organisation (its {} is not among their keys)",
                if offline {
                    "organisation key"
                } else {
                    "first key"
                }
            );
        }
        if let Some(left) = log.left_out().iter().find(|l| l.index >= held.len()) {
            bail!(
                "statement {} of {} does not hold: {}",
                left.index - held.len() + 1,
                file.display(),
                left.reason
            );
        }
        match offline {
            true => {
                let added = all.len() - held.len();
                home.keep_offline_statements(&all)?;
                added
            }
            false => home.open_store()?.keep_statements(&all)?.len(),
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "statements": new.len(),
                "new": added,
                "sent_to_partners": running,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} key statements read from {}, {added} new.",
        new.len(),
        file.display()
    );
    if running {
        println!("The running node sent the new ones to its connected partners.");
    } else if offline {
        println!(
            "Kept in {}: the organisation key here signs on top of them.",
            home.org_statements_path().display()
        );
    } else {
        println!(
            "Kept in this node's store: partners learn them when this node next connects to them (`cairn run`)."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The organisation's statements: from the running node, the store and the organisation key
/// of a stopped one, or a home holding only the organisation key.
fn statements(home: &Home) -> Result<Vec<KeyStatement>> {
    statements_held(home, true)
}

/// The organisation's statements held here: from the running node, the store of a stopped
/// one, or what a home holding only the organisation key keeps. With `implicit`, a home whose
/// statements hold no genesis adds the implicit one of its first key (a node that has not run
/// since key statements came; an offline key that has signed nothing yet).
fn statements_held(home: &Home, implicit: bool) -> Result<Vec<KeyStatement>> {
    let socket = home.control_socket_path();
    let mut list = if !home.node_cert_path().exists() {
        // A home holding only the organisation key, or only its statements (where the
        // recovery key is used).
        home.offline_statements()?
    } else if control::is_running(&socket) {
        let ControlResponse::Statements(encoded) =
            control::ask(&socket, &ControlRequest::OrganisationStatements)?
        else {
            bail!("the running node answered something unexpected");
        };
        encoded
            .iter()
            .map(|text| {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
                Ok(KeyStatement::verify(&bytes)?)
            })
            .collect::<Result<Vec<_>>>()
            .context("the running node sent a key statement that does not verify")?
    } else {
        let org = home.node_certificate()?.org_key;
        let store = home.open_store()?;
        cairn_node::own_statements(&store, &org)?
    };
    if implicit
        && !list.iter().any(|s| s.defines().is_some())
        && let Some(first) = home.first_org_key()?
    {
        list.push(KeyStatement::implicit_genesis(&first)?);
    }
    Ok(list)
}

/// The node key of a PeerId given on the command line.
fn node_key_of(node: &str) -> Result<[u8; 32]> {
    let address: cairn_net::NodeAddress = node.parse()?;
    cairn_net::node_key_of(&address)
        .with_context(|| format!("{node} is not the PeerId of a Cairn node (an ed25519 key)"))
}

/// The organisation key in this home; `elsewhere` says what to do where it is not.
fn org_key_here(home: &Home, elsewhere: &str) -> Result<cairn_core::OrgKey> {
    if !home.org_key_path().exists() {
        bail!(
            "this home does not hold the organisation key ({}): {elsewhere}",
            home.org_key_path().display()
        );
    }
    home.org_key()
}

fn node_label(key: &[u8; 32]) -> String {
    match cairn_net::peer_id_of(key) {
        Ok(peer) => peer.to_string(),
        Err(_) => hex::encode(key),
    }
}

fn show(home: &Home, json: bool, out: Option<&Path>) -> Result<ExitCode> {
    let list = statements(home)?;
    let log = KeyLog::build(&list)
        .context("this organisation's key statements do not determine who it is")?;
    if let Some(path) = out {
        write_statements(path, &list, log.org_id(), "all of its statements")?;
    }
    if json {
        let value = serde_json::json!({
            "org_id": log.org_id().to_string(),
            "name": log.name(),
            "recovery_key": log.recovery_key().map(hex::encode),
            "org_keys": log.org_keys().iter().map(|p| serde_json::json!({
                "key": hex::encode(p.key),
                "from": view::rfc3339(p.from_ms),
                "until": p.until_ms.map(view::rfc3339),
            })).collect::<Vec<_>>(),
            "authorised_nodes": log.node_keys().iter().map(|(key, until)| serde_json::json!({
                "key": hex::encode(key),
                "node": cairn_net::peer_id_of(key).ok().map(|p| p.to_string()),
                "until": view::rfc3339(*until),
            })).collect::<Vec<_>>(),
            "revoked": log.revocations().iter().map(|(key, from)| serde_json::json!({
                "key": hex::encode(key),
                "node": cairn_net::peer_id_of(key).ok().map(|p| p.to_string()),
                "from": view::rfc3339(*from),
            })).collect::<Vec<_>>(),
            "statements": list.len(),
            "left_out": log.left_out().iter().map(|l| l.reason.clone()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("organisation id   {}", log.org_id());
    if !log.name().is_empty() {
        println!("name              {}", log.name());
    }
    println!(
        "recovery key      {}",
        log.recovery_key()
            .map_or_else(|| "none".to_string(), hex::encode)
    );
    for period in log.org_keys() {
        let until = period
            .until_ms
            .map_or_else(|| "now".to_string(), view::rfc3339);
        println!(
            "organisation key  {} (from {} until {until})",
            hex::encode(period.key),
            if period.from_ms == 0 {
                "the start".to_string()
            } else {
                view::rfc3339(period.from_ms)
            }
        );
    }
    let authorised = log.node_keys();
    if authorised.is_empty() {
        println!("authorised nodes  none: every node its certificate names serves partners");
    }
    for (key, until) in authorised {
        println!(
            "authorised node   {} until {}",
            node_label(&key),
            view::rfc3339(until)
        );
    }
    let revoked = log.revocations();
    if revoked.is_empty() {
        println!("revoked keys      none");
    }
    for (key, from) in revoked {
        let label = match log.org_keys().iter().any(|p| p.key == key) {
            true => format!("organisation key {}", hex::encode(key)),
            false => node_label(&key),
        };
        println!("revoked           {label} from {}", view::rfc3339(from));
    }
    println!("key statements    {}", list.len());
    for left in log.left_out() {
        println!("left out          {}", left.reason);
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke_node(
    home: &Home,
    node: &str,
    reason: &str,
    from: Option<&str>,
    out: Option<&Path>,
    json: bool,
) -> Result<ExitCode> {
    let reason = reason.trim();
    if reason.is_empty() {
        bail!("--reason must say why the node is revoked");
    }
    let node_key = node_key_of(node)?;
    let signing = signing(home, "revoke from a node or machine that does")?;
    let now = now_ms();
    let from_ms = match from {
        Some(text) => view::parse_time(text, now, false)?,
        None => now,
    };
    if from_ms > now {
        bail!("--from {from:?} is in the future: a revocation takes effect from now or earlier");
    }
    let log = &signing.log;
    if log.org_keys().iter().any(|p| p.key == node_key) {
        bail!("{node} is an organisation key, not a node key");
    }
    if let Some(at) = log.revoked_from(&node_key)
        && at <= from_ms
    {
        bail!("{node} is already revoked from {}", view::rfc3339(at));
    }
    let statement =
        KeyStatement::revocation(log.org_id(), &signing.org, node_key, from_ms, reason, now)?;
    let this_node = home.node_cert_path().exists() && home.node_certificate()?.node_key == node_key;
    let handed = signing.hand_on(
        home,
        statement,
        out,
        &format!("the revocation of node {node}"),
    )?;
    let running = handed.reached_running_node();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "revoked": node,
                "from": view::rfc3339(from_ms),
                "reason": reason,
                "sent_to_partners": running,
                "file": handed.file(),
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Revoked node {node} from {}: {reason}",
        view::rfc3339(from_ms)
    );
    handed.tell("the revocation");
    if this_node {
        println!("This is this node's own key: it will not start again.");
    }
    Ok(ExitCode::SUCCESS)
}
