//! `cairn invite`, `cairn partner add|remove|list` and `cairn config reload`: partners added
//! from signed invitations instead of hand-typed keys, written into node.toml with its comments
//! and layout kept (toml_edit), checked before the file is replaced, and taken by the running
//! node at once.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use base64::Engine;
use cairn_core::invitation::{Invitation, InvitationContent, InvitedNode};
use cairn_core::{OrgPublicKey, when};
use clap::Subcommand;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use cairn_api::partners::InvitationRequest;

use crate::config::NodeConfig;
use crate::control::{ControlRequest, ControlResponse, ask, is_running};
use crate::home::{Home, now_ms};
use crate::view;

/// What every invitation's text starts with.
pub const INVITATION_PREFIX: &str = "cairn-invite-1.";

/// `cairn invite`'s options.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  cairn invite --address /ip4/203.0.113.7/tcp/7400 --kind cert --region EU\n  cairn invite --expires 2d > invitation.txt"
)]
pub struct InviteArgs {
    /// How long the invitation can be used: a count and a unit (7d, 12h, 30m).
    #[arg(long, default_value = "7d")]
    pub expires: String,
    /// Where partners reach this node (a multiaddr, /ip4/ADDRESS/tcp/PORT; repeat for more).
    /// Default: the addresses in [network] listen that name an address.
    #[arg(long = "address", value_name = "MULTIADDR")]
    pub addresses: Vec<String>,
    /// This node takes no connections: partners wait for it to dial them.
    #[arg(long, conflicts_with = "addresses")]
    pub no_address: bool,
    /// What this organisation is: government, cert, company, ngo, academia or other.
    #[arg(long)]
    pub kind: Option<String>,
    /// Its sector (finance, health, energy, ...).
    #[arg(long)]
    pub sector: Option<String>,
    /// Its region (EU, Africa, ...).
    #[arg(long)]
    pub region: Option<String>,
}

/// `cairn partner ...`.
#[derive(Debug, Subcommand)]
pub enum PartnerCommand {
    /// Add a partner from its invitation (`cairn invite` on its node), or update its nodes.
    #[command(
        after_help = "Examples:\n  cairn partner add cairn-invite-1.CiQK... --policy partners\n  cairn partner add invitation.txt --policy csirt-network --name cert-eu"
    )]
    Add {
        /// The invitation: its text, or a file holding it.
        invitation: String,
        /// The policy of node.toml deciding what the partner receives.
        #[arg(long)]
        policy: String,
        /// The name it goes by in node.toml and commands (default: from its organisation's
        /// name).
        #[arg(long)]
        name: Option<String>,
        /// What it is, when the invitation does not say or says otherwise: government, cert,
        /// company, ngo, academia or other.
        #[arg(long)]
        kind: Option<String>,
        /// Its sector (default: what the invitation says).
        #[arg(long)]
        sector: Option<String>,
        /// Its region (default: what the invitation says).
        #[arg(long)]
        region: Option<String>,
    },
    /// Take a partner out of the trust list (and out of the communities that name it).
    #[command(after_help = "Example:\n  cairn partner remove bank-a")]
    Remove {
        /// Its name in node.toml.
        name: String,
    },
    /// The partners in node.toml, and whether their nodes are connected.
    #[command(after_help = "Examples:\n  cairn partner list\n  cairn partner list --json")]
    List {
        /// JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

/// An invitation just signed.
#[derive(Debug, Clone)]
pub struct IssuedInvitation {
    /// The one line to send (`cairn-invite-1.` and the signed bytes).
    pub text: String,
    /// What it says.
    pub content: InvitationContent,
    /// The organisation key that vouches for it.
    pub org_key: OrgPublicKey,
}

/// Signs an invitation from this node's organisation, as `request` asks.
pub fn make_invitation(home: &Home, request: &InvitationRequest) -> Result<IssuedInvitation> {
    let config = home.config()?;
    let certificate = home.node_certificate()?;
    let node_key = home.node_key()?;
    let valid_ms = when::duration_ms(request.expires.trim())
        .filter(|ms| *ms > 0)
        .with_context(|| {
            format!(
                "--expires {:?} is not a length of time: write a count and a unit (7d, 12h, 30m)",
                request.expires
            )
        })?;
    let peer = cairn_net::peer_id_of(&certificate.node_key)?;
    let addresses = if request.no_address {
        Vec::new()
    } else if request.addresses.is_empty() {
        let named: Vec<String> = config
            .network
            .listen
            .iter()
            .filter(|a| !a.starts_with("/ip4/0.0.0.0/") && !a.starts_with("/ip6/::/"))
            .cloned()
            .collect();
        if named.is_empty() {
            bail!(
                "this node listens on {} (every address of the machine): say where partners reach it with --address /ip4/ADDRESS/tcp/PORT, or --no-address if it only dials out",
                config.network.listen.join(", ")
            );
        }
        named
    } else {
        request.addresses.clone()
    };
    for address in &addresses {
        cairn_net::check_dial_address(address, &peer)
            .with_context(|| format!("--address {address:?}"))?;
    }
    let kind = request.kind.as_deref().map(check_kind).transpose()?;
    // This node first, then the organisation's other nodes that node.toml lists.
    let mut nodes = vec![InvitedNode {
        peer_id: peer.to_string(),
        addresses,
    }];
    for other in &config.node.other_nodes {
        nodes.push(InvitedNode {
            peer_id: other.peer_id.get_ref().clone(),
            addresses: other
                .addresses
                .iter()
                .map(|a| a.get_ref().clone())
                .collect(),
        });
    }
    let now = now_ms();
    let said = |text: &Option<String>| {
        text.as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string()
    };
    let content = InvitationContent {
        organisation: config.node.organisation.clone(),
        nodes,
        issued_ms: now,
        expires_ms: now.saturating_add(valid_ms),
        kind: kind.unwrap_or_default(),
        sector: said(&request.sector),
        region: said(&request.region),
    };
    let signed = content.sign(&node_key, &certificate)?;
    Ok(IssuedInvitation {
        text: invitation_text(&signed),
        content,
        org_key: certificate.org_key,
    })
}

/// `cairn invite`: prints the invitation on standard output, what it says on standard error.
pub fn invite(home: &Home, args: InviteArgs) -> Result<ExitCode> {
    let issued = make_invitation(
        home,
        &InvitationRequest {
            expires: args.expires,
            addresses: args.addresses,
            no_address: args.no_address,
            kind: args.kind,
            sector: args.sector,
            region: args.region,
        },
    )?;
    let draft = &issued.content;
    println!("{}", issued.text);
    eprintln!(
        "Invitation from {} (organisation key {}), {} node(s), valid until {}.",
        draft.organisation,
        issued.org_key,
        draft.nodes.len(),
        view::rfc3339(draft.expires_ms)
    );
    for node in &draft.nodes {
        let at = match node.addresses.is_empty() {
            true => "dials out".to_string(),
            false => node.addresses.join(", "),
        };
        eprintln!("  node {}  {at}", node.peer_id);
    }
    eprintln!(
        "Send the line above to the partner; on its node: cairn partner add INVITATION --policy NAME"
    );
    Ok(ExitCode::SUCCESS)
}

/// An encoded invitation as the one line people send each other.
pub fn invitation_text(encoded: &[u8]) -> String {
    format!(
        "{INVITATION_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(encoded)
    )
}

/// Verifies an invitation given as its text only (the console never reads a file it names).
fn read_pasted_invitation(given: &str) -> Result<Invitation> {
    // A mail client may have wrapped the line.
    let text: String = given.split_whitespace().collect();
    if text.is_empty() {
        bail!("paste the invitation: the line that starts with {INVITATION_PREFIX}");
    }
    if !text.starts_with(INVITATION_PREFIX) {
        bail!(
            "this is not an invitation: an invitation is one line that starts with {INVITATION_PREFIX}"
        );
    }
    read_invitation(&text)
}

/// Reads an invitation from its text or from a file holding it, and verifies it.
pub fn read_invitation(given: &str) -> Result<Invitation> {
    let text = if given.trim().starts_with(INVITATION_PREFIX) {
        given.trim().to_string()
    } else if Path::new(given).is_file() {
        let read = std::fs::read_to_string(given)
            .with_context(|| format!("cannot read the invitation file {given}"))?;
        read.trim().to_string()
    } else {
        bail!(
            "{:?} is not an invitation: an invitation starts with {INVITATION_PREFIX} (or give the file holding one)",
            crate::one_line(given).chars().take(40).collect::<String>()
        );
    };
    let Some(encoded) = text.strip_prefix(INVITATION_PREFIX) else {
        bail!("the file {given} does not hold an invitation (it starts with {INVITATION_PREFIX})");
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim())
        .map_err(|e| {
            anyhow::anyhow!(
                "the invitation is damaged ({e}): copy the whole line, or ask for it again"
            )
        })?;
    let invitation = Invitation::verify(&bytes, now_ms())
        .map_err(|e| anyhow::anyhow!("the invitation was refused: {e}"))?;
    // The node that signed it is one of the nodes it lists.
    let signer = cairn_net::peer_id_of(&invitation.certificate.node_key)?;
    if !invitation
        .content
        .nodes
        .iter()
        .any(|n| n.peer_id == signer.to_string())
    {
        bail!(
            "the invitation was refused: the node that signed it ({signer}) is not among the nodes it lists"
        );
    }
    Ok(invitation)
}

fn check_kind(kind: &str) -> Result<String> {
    let kind = kind.trim().to_ascii_lowercase();
    serde_json::from_value::<cairn_policy::OrgKind>(serde_json::Value::String(kind.clone()))
        .map_err(|_| {
            anyhow::anyhow!(
                "{kind:?} is not a kind of organisation: government, cert, company, ngo, academia or other"
            )
        })?;
    Ok(kind)
}

/// A name for node.toml from an organisation's display name: lower case letters, digits and
/// dashes.
fn name_from(organisation: &str) -> String {
    let mut name = String::new();
    for c in organisation.trim().chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        "partner".to_string()
    } else {
        name
    }
}

/// `cairn partner ...`.
pub fn partner(home: &Home, command: PartnerCommand) -> Result<ExitCode> {
    match command {
        PartnerCommand::Add {
            invitation,
            policy,
            name,
            kind,
            sector,
            region,
        } => {
            let invitation = read_invitation(&invitation)?;
            let (entry, outcome) = add_from_invitation(
                home,
                &invitation,
                &PartnerChoices {
                    policy,
                    name,
                    kind,
                    sector,
                    region,
                },
            )?;
            match &outcome {
                AddOutcome::Added => println!(
                    "Added partner {} ({}): {} node(s), policy {}.",
                    entry.name,
                    invitation.content.organisation,
                    entry.nodes.len(),
                    entry.policy
                ),
                AddOutcome::Updated { name } => println!(
                    "{} was already a partner as {name}: its nodes and addresses are now those of the invitation.",
                    invitation.content.organisation
                ),
            }
            println!("  organisation key  {}", invitation.org_key);
            println!(
                "Check this key with {} by another channel (a call, a meeting) before sharing AMBER or RED.",
                invitation.content.organisation
            );
            reload_if_running(home)?;
            Ok(ExitCode::SUCCESS)
        }
        PartnerCommand::Remove { name } => {
            let path = home.config_path();
            let text = read_config_text(&path)?;
            let (edited, communities) = remove_partner(&text, &name)?;
            replace_config(home, &path, &edited)?;
            println!("Removed partner {name} from {}.", path.display());
            if !communities.is_empty() {
                println!(
                    "  also taken out of the communities {}",
                    communities.join(", ")
                );
            }
            reload_if_running(home)?;
            Ok(ExitCode::SUCCESS)
        }
        PartnerCommand::List { json } => list(home, json),
    }
}

/// What the operator decides when adding a partner from its invitation; what is not given
/// comes from the invitation.
#[derive(Debug, Clone, Default)]
pub struct PartnerChoices {
    /// The policy of node.toml deciding what the partner receives.
    pub policy: String,
    /// Its name in node.toml (default: from its organisation's name).
    pub name: Option<String>,
    /// Its kind, when the invitation does not say or says otherwise.
    pub kind: Option<String>,
    /// Its sector.
    pub sector: Option<String>,
    /// Its region.
    pub region: Option<String>,
}

/// Writes the partner `invitation` introduces into node.toml (or updates its nodes if it is
/// listed already), checked as a start would check the file: a refused change leaves node.toml
/// as it was. The running node takes it on reload.
pub fn add_from_invitation(
    home: &Home,
    invitation: &Invitation,
    choices: &PartnerChoices,
) -> Result<(NewPartner, AddOutcome)> {
    if Some(invitation.org_key) == home.organisation_if_known() {
        bail!(
            "this invitation is from this node's own organisation: list its nodes under [node] other_nodes instead"
        );
    }
    let given = |text: &Option<String>| {
        text.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let from_invitation = |text: &str| Some(text.to_string()).filter(|t| !t.is_empty());
    let kind = match given(&choices.kind).or_else(|| from_invitation(&invitation.content.kind)) {
        Some(kind) => check_kind(&kind)?,
        None => bail!(
            "the invitation does not say what kind of organisation {} is: add --kind government, cert, company, ngo, academia or other",
            invitation.content.organisation
        ),
    };
    let entry = NewPartner {
        name: given(&choices.name).unwrap_or_else(|| name_from(&invitation.content.organisation)),
        org_key: invitation.org_key,
        kind,
        sector: given(&choices.sector).or_else(|| from_invitation(&invitation.content.sector)),
        region: given(&choices.region).or_else(|| from_invitation(&invitation.content.region)),
        policy: choices.policy.trim().to_string(),
        nodes: invitation.content.nodes.clone(),
    };
    let path = home.config_path();
    let text = read_config_text(&path)?;
    let (edited, outcome) = add_partner(&text, &entry)?;
    replace_config(home, &path, &edited)?;
    Ok((entry, outcome))
}

/// `cairn config reload`.
pub fn reload(home: &Home) -> Result<ExitCode> {
    let socket = home.control_socket_path();
    if !is_running(&socket) {
        // Checked as a start would read it, so the operator learns of problems now.
        home.config()?;
        println!(
            "No node is running from {}: node.toml is valid and is read when the node starts (`cairn run`).",
            home.root().display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let ControlResponse::ConfigReloaded(reloaded) = ask(&socket, &ControlRequest::ReloadConfig)?
    else {
        bail!("the running node answered something unexpected");
    };
    print!("{}", reloaded.describe());
    Ok(ExitCode::SUCCESS)
}

fn reload_if_running(home: &Home) -> Result<()> {
    let socket = home.control_socket_path();
    if !is_running(&socket) {
        println!("The node takes it when it starts (`cairn run`).");
        return Ok(());
    }
    match ask(&socket, &ControlRequest::ReloadConfig)? {
        ControlResponse::ConfigReloaded(reloaded) => {
            print!("The running node took it. {}", reloaded.describe());
            Ok(())
        }
        _ => bail!("the running node answered something unexpected"),
    }
}

fn read_config_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Checks the edited node.toml as a start would, then puts it in place of the old one in one
/// step (a new file renamed over it): a refused edit leaves the file as it was.
fn replace_config(home: &Home, path: &Path, text: &str) -> Result<()> {
    let (_, issues) = NodeConfig::from_text_for(path, text, home.organisation_if_known().as_ref())?;
    if !issues.is_empty() {
        let mut message = format!(
            "{} was left as it was: the change would make it invalid",
            path.display()
        );
        for issue in &issues {
            message.push_str(&format!(
                "\n  line {}: {}: {}",
                issue.line, issue.field, issue.message
            ));
        }
        bail!(message);
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| format!("cannot write in {}", folder.display()))?;
    {
        use std::io::Write;
        file.write_all(text.as_bytes())?;
        file.as_file().sync_all()?;
    }
    if let Ok(metadata) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(file.path(), metadata.permissions());
    }
    file.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// A partner to write into node.toml.
#[derive(Debug, Clone)]
pub struct NewPartner {
    /// Its name in node.toml.
    pub name: String,
    /// Its organisation key.
    pub org_key: OrgPublicKey,
    /// Its kind (lower case, as node.toml writes it).
    pub kind: String,
    /// Its sector.
    pub sector: Option<String>,
    /// Its region.
    pub region: Option<String>,
    /// The policy deciding what it receives.
    pub policy: String,
    /// Its nodes.
    pub nodes: Vec<InvitedNode>,
}

/// What `add_partner` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    /// A new `[[partners]]` entry.
    Added,
    /// The organisation was already listed (under `name`): its nodes were replaced.
    Updated {
        /// Its name in node.toml.
        name: String,
    },
}

fn nodes_array(nodes: &[InvitedNode]) -> ArrayOfTables {
    let mut array = ArrayOfTables::new();
    for n in nodes {
        let mut t = Table::new();
        t.insert("peer_id", value(n.peer_id.clone()));
        if !n.addresses.is_empty() {
            let mut list = toml_edit::Array::new();
            for a in &n.addresses {
                list.push(a.clone());
            }
            t.insert("addresses", value(list));
        }
        array.push(t);
    }
    array
}

/// node.toml's text with `entry` in its trust list: a new `[[partners]]` table at the end, or,
/// when the organisation key is already listed, that entry's nodes replaced. Everything else in
/// the file (comments, order, layout) is kept.
pub fn add_partner(text: &str, entry: &NewPartner) -> Result<(String, AddOutcome)> {
    let mut doc: DocumentMut = text
        .parse()
        .context("node.toml cannot be read as TOML: fix it first (`cairn config check`)")?;
    let partners = doc
        .entry("partners")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    let Some(partners) = partners.as_array_of_tables_mut() else {
        bail!("`partners` in node.toml is not a list of [[partners]] tables");
    };
    let mut updated = None;
    let mut name_taken = false;
    for table in partners.iter_mut() {
        let listed = table
            .get("org_key")
            .and_then(Item::as_str)
            .and_then(|k| k.parse::<OrgPublicKey>().ok());
        if listed == Some(entry.org_key) {
            let name = table
                .get("name")
                .and_then(Item::as_str)
                .unwrap_or("?")
                .to_string();
            table.insert("nodes", Item::ArrayOfTables(nodes_array(&entry.nodes)));
            updated = Some(name);
            break;
        }
        name_taken |= table.get("name").and_then(Item::as_str) == Some(entry.name.as_str());
    }
    if let Some(name) = updated {
        return Ok((doc.to_string(), AddOutcome::Updated { name }));
    }
    if name_taken {
        bail!(
            "a partner is already named {:?}: choose another name with --name",
            entry.name
        );
    }
    let mut table = Table::new();
    table.insert("name", value(entry.name.clone()));
    table.insert("org_key", value(entry.org_key.to_string()));
    table.insert("kind", value(entry.kind.clone()));
    if let Some(sector) = &entry.sector {
        table.insert("sector", value(sector.clone()));
    }
    if let Some(region) = &entry.region {
        table.insert("region", value(region.clone()));
    }
    table.insert("policy", value(entry.policy.clone()));
    table.insert("nodes", Item::ArrayOfTables(nodes_array(&entry.nodes)));
    partners.push(table);
    Ok((doc.to_string(), AddOutcome::Added))
}

/// node.toml's text without the partner `name`, and without it in any community; returns the
/// communities it was taken out of.
pub fn remove_partner(text: &str, name: &str) -> Result<(String, Vec<String>)> {
    let mut doc: DocumentMut = text
        .parse()
        .context("node.toml cannot be read as TOML: fix it first (`cairn config check`)")?;
    let names: Vec<String> = doc
        .get("partners")
        .and_then(Item::as_array_of_tables)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get("name").and_then(Item::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let Some(index) = names.iter().position(|n| n == name) else {
        bail!(
            "no partner is named {name:?} in node.toml (partners: {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        );
    };
    if let Some(partners) = doc
        .get_mut("partners")
        .and_then(Item::as_array_of_tables_mut)
    {
        partners.remove(index);
        if partners.is_empty() {
            doc.remove("partners");
        }
    }
    let mut taken_out = Vec::new();
    if let Some(communities) = doc.get_mut("communities").and_then(Item::as_table_like_mut) {
        for (community, members) in communities.iter_mut() {
            if let Some(list) = members.as_array_mut() {
                let before = list.len();
                list.retain(|m| m.as_str() != Some(name));
                if list.len() != before {
                    taken_out.push(community.get().to_string());
                }
            }
        }
    }
    Ok((doc.to_string(), taken_out))
}

/// One partner as `cairn partner list` shows it.
#[derive(Debug, serde::Serialize)]
struct ListedPartner {
    name: String,
    org_key: String,
    kind: String,
    policy: Option<String>,
    nodes: Vec<ListedNode>,
}

#[derive(Debug, serde::Serialize)]
struct ListedNode {
    peer_id: String,
    addresses: Vec<String>,
    /// Whether it is connected now; none when the node is not running.
    connected: Option<bool>,
}

fn list(home: &Home, json: bool) -> Result<ExitCode> {
    let config = home.config()?;
    let socket = home.control_socket_path();
    let peers = if is_running(&socket) {
        match ask(&socket, &ControlRequest::Peers)? {
            ControlResponse::Peers(peers) => Some(peers),
            _ => bail!("the running node answered something unexpected"),
        }
    } else {
        None
    };
    let listed: Vec<ListedPartner> = config
        .partners
        .iter()
        .map(|p| ListedPartner {
            name: p.name.get_ref().clone(),
            org_key: p.org_key.get_ref().clone(),
            kind: serde_json::to_value(p.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            policy: p.policy.as_ref().map(|s| s.get_ref().clone()),
            nodes: p
                .nodes
                .iter()
                .map(|n| ListedNode {
                    peer_id: n.peer_id.get_ref().clone(),
                    addresses: n.addresses.iter().map(|a| a.get_ref().clone()).collect(),
                    connected: peers.as_ref().map(|peers| {
                        peers
                            .iter()
                            .any(|s| s.peer_id == *n.peer_id.get_ref() && s.connected)
                    }),
                })
                .collect(),
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(ExitCode::SUCCESS);
    }
    if listed.is_empty() {
        println!(
            "No partners in node.toml: add one with `cairn partner add INVITATION --policy NAME`."
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<18} {:<10} {:<18} {:<18} NODES",
        "NAME", "KIND", "POLICY", "ORGANISATION KEY"
    );
    for p in &listed {
        let nodes = if p.nodes.is_empty() {
            "none (cannot connect)".to_string()
        } else {
            let connected = p.nodes.iter().filter(|n| n.connected == Some(true)).count();
            match peers {
                Some(_) => format!("{} ({connected} connected)", p.nodes.len()),
                None => format!("{} (node not running)", p.nodes.len()),
            }
        };
        println!(
            "{:<18} {:<10} {:<18} {:<18} {nodes}",
            p.name,
            p.kind,
            p.policy.as_deref().unwrap_or("(none: receives nothing)"),
            p.org_key.get(..16).unwrap_or(&p.org_key),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The partner actions the console offers an admin on a running node: the same as
/// `cairn invite` and `cairn partner add`, followed by a reload of node.toml.
pub struct ConsolePartnerActions {
    daemon: crate::control::Daemon,
    node: cairn_node::NodeHandle,
}

impl ConsolePartnerActions {
    /// Actions on the node `daemon` runs from.
    pub fn new(daemon: crate::control::Daemon, node: cairn_node::NodeHandle) -> Self {
        ConsolePartnerActions { daemon, node }
    }
}

/// An anyhow error as the console shows it: every cause, on one line.
fn action_error(e: anyhow::Error) -> cairn_api::partners::PartnerActionError {
    cairn_api::partners::PartnerActionError(crate::one_line(&format!("{e:#}")))
}

/// What an invitation says, for the console.
fn summary(
    text: String,
    org_key: &OrgPublicKey,
    content: &InvitationContent,
) -> cairn_api::partners::InvitationSummary {
    cairn_api::partners::InvitationSummary {
        text,
        organisation: content.organisation.clone(),
        org_key: org_key.to_string(),
        kind: content.kind.clone(),
        sector: content.sector.clone(),
        region: content.region.clone(),
        nodes: content
            .nodes
            .iter()
            .map(|n| cairn_api::partners::InvitationNode {
                peer_id: n.peer_id.clone(),
                addresses: n.addresses.clone(),
            })
            .collect(),
        expires_ms: content.expires_ms,
    }
}

impl cairn_api::partners::PartnerActions for ConsolePartnerActions {
    fn policies(&self) -> Result<Vec<String>, cairn_api::partners::PartnerActionError> {
        let config = self.daemon.home.config().map_err(action_error)?;
        Ok(config.policies.keys().cloned().collect())
    }

    fn invite(
        &self,
        request: cairn_api::partners::InvitationRequest,
    ) -> Result<cairn_api::partners::InvitationSummary, cairn_api::partners::PartnerActionError>
    {
        let issued = make_invitation(&self.daemon.home, &request).map_err(action_error)?;
        Ok(summary(issued.text, &issued.org_key, &issued.content))
    }

    fn read_invitation(
        &self,
        text: &str,
    ) -> Result<cairn_api::partners::InvitationSummary, cairn_api::partners::PartnerActionError>
    {
        let invitation = read_pasted_invitation(text).map_err(action_error)?;
        Ok(summary(
            text.split_whitespace().collect(),
            &invitation.org_key,
            &invitation.content,
        ))
    }

    fn add(
        &self,
        request: cairn_api::partners::AddPartnerRequest,
    ) -> cairn_api::partners::PartnerFuture<'_, cairn_api::partners::PartnerAdded> {
        Box::pin(async move {
            // Reading the keys and rewriting node.toml is file work: off the runtime's threads.
            let home = self.daemon.home.clone();
            let (invitation, entry, outcome) = tokio::task::spawn_blocking(move || {
                let invitation = read_pasted_invitation(&request.invitation)?;
                let (entry, outcome) = add_from_invitation(
                    &home,
                    &invitation,
                    &PartnerChoices {
                        policy: request.policy,
                        name: request.name,
                        kind: request.kind,
                        sector: request.sector,
                        region: request.region,
                    },
                )?;
                Ok::<_, anyhow::Error>((invitation, entry, outcome))
            })
            .await
            .map_err(|e| action_error(anyhow::anyhow!("adding the partner stopped: {e}")))?
            .map_err(action_error)?;
            let reloaded = crate::run::reload_config(&self.daemon, &self.node)
                .await
                .map_err(|e| {
                    action_error(e.context(
                        "node.toml now lists the partner, but the running node did not take it",
                    ))
                })?;
            Ok(cairn_api::partners::PartnerAdded {
                name: match &outcome {
                    AddOutcome::Added => entry.name.clone(),
                    AddOutcome::Updated { name } => name.clone(),
                },
                organisation: invitation.content.organisation.clone(),
                org_key: invitation.org_key.to_string(),
                updated: matches!(outcome, AddOutcome::Updated { .. }),
                reloaded: reloaded.describe(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"# The CERT's node.
[node]
organisation = "CERT"   # shown to partners

[policies.partners]
max_tlp = "green"

# Partners we trust.
[[partners]]
name = "bank-a"   # the first bank
org_key = "1111111111111111111111111111111111111111111111111111111111111111"
kind = "company"
policy = "partners"

[communities]
finance = ["self", "bank-a"]
"#;

    fn entry(key: &str) -> NewPartner {
        NewPartner {
            name: "ngo".into(),
            org_key: key.parse().expect("a key"),
            kind: "ngo".into(),
            sector: None,
            region: Some("Africa".into()),
            policy: "partners".into(),
            nodes: vec![InvitedNode {
                peer_id: "12D3KooWPeer".into(),
                addresses: vec!["/ip4/127.0.0.1/tcp/7400".into()],
            }],
        }
    }

    fn some_key(seed: u64) -> String {
        use rand::SeedableRng;
        cairn_core::OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(seed))
            .public()
            .to_string()
    }

    #[test]
    fn adding_keeps_comments_and_layout() {
        let key = some_key(1);
        let config = CONFIG.replace(&"1".repeat(64), &some_key(2));
        let (text, outcome) = add_partner(&config, &entry(&key)).expect("added");
        assert_eq!(outcome, AddOutcome::Added);
        assert!(text.starts_with(&config[..config.find("[communities]").expect("communities")]));
        for kept in [
            "# The CERT's node.",
            "# shown to partners",
            "# the first bank",
            "# Partners we trust.",
        ] {
            assert!(text.contains(kept), "{kept} lost:\n{text}");
        }
        let parsed: toml::Value = toml::from_str(&text).expect("TOML");
        let partners = parsed["partners"].as_array().expect("partners");
        assert_eq!(partners.len(), 2);
        assert_eq!(partners[1]["org_key"].as_str(), Some(key.as_str()));
        assert_eq!(partners[1]["region"].as_str(), Some("Africa"));
        assert_eq!(
            partners[1]["nodes"][0]["addresses"][0].as_str(),
            Some("/ip4/127.0.0.1/tcp/7400")
        );
    }

    #[test]
    fn adding_a_listed_organisation_replaces_its_nodes() {
        let key = some_key(2);
        let config = CONFIG.replace(&"1".repeat(64), &key);
        let (text, outcome) = add_partner(&config, &entry(&key)).expect("updated");
        assert_eq!(
            outcome,
            AddOutcome::Updated {
                name: "bank-a".into()
            }
        );
        let parsed: toml::Value = toml::from_str(&text).expect("TOML");
        assert_eq!(parsed["partners"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            parsed["partners"][0]["nodes"][0]["peer_id"].as_str(),
            Some("12D3KooWPeer")
        );
    }

    #[test]
    fn a_name_taken_is_refused() {
        let mut e = entry(&some_key(3));
        e.name = "bank-a".into();
        let config = CONFIG.replace(&"1".repeat(64), &some_key(2));
        let error = add_partner(&config, &e).expect_err("refused");
        assert!(error.to_string().contains("--name"), "{error}");
    }

    #[test]
    fn removing_takes_the_partner_out_of_communities() {
        let (text, communities) = remove_partner(CONFIG, "bank-a").expect("removed");
        assert_eq!(communities, vec!["finance".to_string()]);
        assert!(!text.contains("bank-a"), "{text}");
        assert!(text.contains("# The CERT's node."));
        let parsed: toml::Value = toml::from_str(&text).expect("TOML");
        assert_eq!(
            parsed["communities"]["finance"].as_array().map(Vec::len),
            Some(1)
        );
        let error = remove_partner(CONFIG, "bank-b").expect_err("unknown");
        assert!(error.to_string().contains("bank-a"), "{error}");
    }

    #[test]
    fn names_come_from_organisation_names() {
        assert_eq!(name_from("CERT-EU"), "cert-eu");
        assert_eq!(
            name_from("  Banque de France (SOC) "),
            "banque-de-france-soc"
        );
        assert_eq!(name_from("ÉÉÉ"), "partner");
    }
}
