//! The console's pages, rendered on the server as plain HTML (maud escapes every value): a
//! language, landmarks, a skip link, labelled form fields, headings in order, tables with
//! headers. Nothing here reads the store: handlers gather what a page shows and pass it in.

use std::collections::HashMap;

use cairn_node::exchange::SharingDecision;
use cairn_node::{AuditEntry, NodeStatus, PeerStatus};
use cairn_store::{Provenance, ReportStatus, StoredReport};
use maud::{DOCTYPE, Markup, html};

use crate::Role;

/// What the layout needs to know about who is signed in.
pub(crate) struct Viewer<'a> {
    pub(crate) role: Role,
    pub(crate) csrf: &'a str,
    pub(crate) organisation: &'a str,
}

/// The sections of the console, as the navigation lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Overview,
    Reports,
    Correlate,
    Publish,
    Import,
    Partners,
    Statistics,
    Tokens,
}

/// A whole page: the navigation for `viewer` (none on the sign-in page), then `main`.
pub(crate) fn layout(
    title: &str,
    viewer: Option<&Viewer<'_>>,
    current: Option<Section>,
    main: Markup,
) -> Markup {
    let aria = |section: Section| (current == Some(section)).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Cairn" }
                link rel="stylesheet" href="/ui/assets/console.css";
                link rel="icon" href="/ui/assets/icon.svg" type="image/svg+xml";
                @if viewer.is_some() {
                    script src="/ui/assets/live.js" defer {}
                }
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                @if let Some(viewer) = viewer {
                    header.bar {
                        p.brand { "Cairn · " (viewer.organisation) }
                        nav aria-label="Sections" {
                            ul {
                                li { a href="/ui/" aria-current=[aria(Section::Overview)] { "Overview" } }
                                li { a href="/ui/reports" aria-current=[aria(Section::Reports)] { "Reports" } }
                                li { a href="/ui/correlate" aria-current=[aria(Section::Correlate)] { "Correlate" } }
                                @if viewer.role >= Role::Publish {
                                    li { a href="/ui/publish" aria-current=[aria(Section::Publish)] { "Publish" } }
                                    li { a href="/ui/import" aria-current=[aria(Section::Import)] { "Import" } }
                                }
                                li { a href="/ui/partners" aria-current=[aria(Section::Partners)] { "Partners" } }
                                li { a href="/ui/statistics" aria-current=[aria(Section::Statistics)] { "Statistics" } }
                                @if viewer.role >= Role::Admin {
                                    li { a href="/ui/tokens" aria-current=[aria(Section::Tokens)] { "Tokens" } }
                                }
                            }
                        }
                        form.sign-out method="post" action="/ui/sign-out" {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            span.role { "Role: " (role_name(viewer.role)) }
                            " "
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    (main)
                }
            }
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Read => "read",
        Role::Publish => "publish",
        Role::Admin => "admin",
    }
}

/// The sign-in form; `problem` says why the last attempt failed.
pub(crate) fn sign_in(csrf: &str, problem: Option<&str>) -> Markup {
    let main = html! {
        h1 { "Sign in to this Cairn node" }
        @if let Some(problem) = problem {
            p.problem role="alert" { (problem) }
        }
        form method="post" action="/ui/sign-in" {
            input type="hidden" name="csrf" value=(csrf);
            p {
                label for="token" { "API token" }
                input #token type="password" name="token" required autocomplete="current-password"
                    aria-describedby="token-help";
            }
            p #token-help.help { "A token made with " code { "cairn token create --name NAME --role read|publish|admin" } ". What you may do here follows its role." }
            p { button type="submit" { "Sign in" } }
        }
    };
    layout("Sign in", None, None, main)
}

/// A page saying what went wrong, with a way back.
pub(crate) fn problem(viewer: Option<&Viewer<'_>>, title: &str, message: &str) -> Markup {
    let main = html! {
        h1 { (title) }
        p.problem role="alert" { (message) }
        p { a href="/ui/" { "Back to the overview" } }
    };
    layout(title, viewer, None, main)
}

/// Names of organisations as this node knows them (its partners and itself), by key.
pub(crate) type Names = HashMap<String, String>;

/// An organisation by name where this node knows it, else by the start of its key.
pub(crate) fn organisation(names: &Names, key: &str) -> String {
    names
        .get(key)
        .cloned()
        .unwrap_or_else(|| format!("{}…", key.get(..12).unwrap_or(key)))
}

/// The overview: the node's counts, its partners' state and problems, the last reports.
pub(crate) fn overview(
    viewer: &Viewer<'_>,
    status: &NodeStatus,
    peers: &[PeerStatus],
    recent: &[StoredReport],
    traffic: &Traffic,
    names: &Names,
) -> Markup {
    let problems: Vec<&PeerStatus> = peers.iter().filter(|p| p.last_error.is_some()).collect();
    let main = html! {
        h1 { "Overview" }
        section aria-labelledby="counts" {
            h2 #counts { "This node" }
            dl.counts {
                dt { "Reports held" } dd { (status.reports) }
                dt { "Received from partners since start" } dd { (status.received) }
                dt { "Served to partners since start" } dd { (status.served) }
                dt { "Refused from partners since start" } dd { (status.refused) }
                dt { "Partner nodes connected" } dd { (status.peers_connected) " of " (status.peers_trusted) }
                dt { "Waiting for the query index" } dd { (status.index_pending) }
            }
        }
        (traffic_section(traffic))
        section aria-labelledby="problems" {
            h2 #problems { "Problems" }
            @if problems.is_empty() {
                p { "No partner node reports a problem." }
            } @else {
                ul {
                    @for p in &problems {
                        li { strong { (p.partner) } ": " (p.last_error.as_deref().unwrap_or_default()) }
                    }
                }
            }
        }
        section aria-labelledby="partners" {
            h2 #partners { "Partners" }
            @if peers.is_empty() {
                p { "No partner yet: invite one with " code { "cairn partner invite" } "." }
            } @else {
                table {
                    caption { "Partner nodes in the trust list" }
                    thead { tr { th scope="col" { "Partner" } th scope="col" { "State" } th scope="col" { "Behind" } th scope="col" { "Received" } th scope="col" { "Served" } } }
                    tbody {
                        @for p in peers {
                            tr {
                                th scope="row" { (p.partner) }
                                td { @if p.connected { "connected" } @else { "not connected" } }
                                td { (p.behind()) }
                                td { (p.received) }
                                td { (p.served) }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="recent" {
            h2 #recent { "Latest reports" }
            (report_table(recent, names, "The newest reports held", true, None))
            p { a href="/ui/reports" { "All reports" } }
        }
    };
    layout("Overview", Some(viewer), Some(Section::Overview), main)
}

/// The invitation form as posted.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct InviteForm {
    pub(crate) csrf: String,
    pub(crate) expires: String,
    pub(crate) addresses: String,
    pub(crate) no_address: Option<String>,
    pub(crate) kind: String,
    pub(crate) sector: String,
    pub(crate) region: String,
}

/// The form adding a partner from its invitation, as posted: `action` is `check` (say what
/// the invitation introduces) or `add`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct AddPartnerForm {
    pub(crate) csrf: String,
    pub(crate) action: String,
    pub(crate) invitation: String,
    pub(crate) policy: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) sector: String,
    pub(crate) region: String,
}

/// What the partners page shows an admin about invitations: the forms as last posted, and
/// what the last one did or why it was refused.
#[derive(Debug, Default)]
pub(crate) struct InvitationPanel {
    /// The node offers partner actions to the console.
    pub(crate) offered: bool,
    /// node.toml's policy names.
    pub(crate) policies: Vec<String>,
    pub(crate) invite: InviteForm,
    pub(crate) add: AddPartnerForm,
    /// An invitation just made: shown this once.
    pub(crate) issued: Option<crate::partners::InvitationSummary>,
    /// What a pasted invitation says.
    pub(crate) checked: Option<crate::partners::InvitationSummary>,
    pub(crate) added: Option<crate::partners::PartnerAdded>,
    pub(crate) invite_problem: Option<String>,
    pub(crate) add_problem: Option<String>,
}

const ORG_KINDS: [&str; 6] = ["government", "cert", "company", "ngo", "academia", "other"];

/// The partners page: each partner's policy in words and its nodes' state; for an admin,
/// invitations (`panel`).
pub(crate) fn partners(
    viewer: &Viewer<'_>,
    trust_list: &[cairn_node::TrustedPartner],
    peers: &[PeerStatus],
    panel: Option<&InvitationPanel>,
) -> Markup {
    let main = html! {
        h1 { "Partners" }
        p.help { "Partners and what they may receive are set in node.toml; after changing it, run " code { "cairn config reload" } "." }
        @if trust_list.is_empty() {
            p { "No partner yet: send one an invitation (" code { "cairn invite" } ") and add theirs (" code { "cairn partner add" } ")." }
        }
        @for t in trust_list {
            @let p = &t.partner;
            @let key = p.org.to_string();
            section aria-labelledby={ "partner-" (key) } {
                h2 id={ "partner-" (key) } { (p.name) }
                dl {
                    dt { "Organisation key" } dd { code { (key) } }
                    dt { "Kind" } dd { (format!("{:?}", p.kind).to_lowercase()) }
                    @if let Some(sector) = &p.sector { dt { "Sector" } dd { (sector) } }
                    @if let Some(region) = &p.region { dt { "Region" } dd { (region) } }
                    dt { "May receive" } dd { (policy_text(&p.policy)) }
                }
                @let nodes: Vec<&PeerStatus> = peers.iter().filter(|s| s.org_key == key).collect();
                @if nodes.is_empty() {
                    p { "No node of this partner is known yet." }
                } @else {
                    table {
                        caption { "Nodes of " (p.name) }
                        thead { tr { th scope="col" { "Node" } th scope="col" { "State" } th scope="col" { "Last seen" } th scope="col" { "Behind" } th scope="col" { "Received" } th scope="col" { "Refused" } th scope="col" { "Served" } th scope="col" { "Last problem" } } }
                        tbody {
                            @for n in nodes {
                                tr {
                                    th scope="row" { code { (n.peer_id) } }
                                    td { @if n.connected { "connected" @if let Some(a) = &n.address { " (" (a) ")" } } @else { "not connected" } }
                                    td { @match n.last_seen_ms { Some(ms) => (crate::rfc3339(ms)), None => "never" } }
                                    td { (n.behind()) }
                                    td { (n.received) }
                                    td { (n.refused) }
                                    td { (n.served) }
                                    td { (n.last_error.as_deref().unwrap_or("none")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(panel) = panel {
            (invitation_panel(viewer, panel))
        }
    };
    layout("Partners", Some(viewer), Some(Section::Partners), main)
}

/// What an invitation says, as a definition list.
fn invitation_facts(summary: &crate::partners::InvitationSummary) -> Markup {
    html! {
        dl {
            dt { "Organisation" } dd { (summary.organisation) }
            dt { "Organisation key" } dd { code { (summary.org_key) } }
            @if !summary.kind.is_empty() { dt { "Kind" } dd { (summary.kind) } }
            @if !summary.sector.is_empty() { dt { "Sector" } dd { (summary.sector) } }
            @if !summary.region.is_empty() { dt { "Region" } dd { (summary.region) } }
            dt { "Valid until" } dd { (crate::rfc3339(summary.expires_ms)) }
            @for node in &summary.nodes {
                dt { "Node" }
                dd {
                    code { (node.peer_id) }
                    @if node.addresses.is_empty() { " (dials out)" } @else { " at " (node.addresses.join(", ")) }
                }
            }
        }
    }
}

/// A select of organisation kinds, `chosen` selected; `blank` names the empty choice.
fn kind_select(id: &str, chosen: &str, blank: &str) -> Markup {
    html! {
        select id=(id) name="kind" {
            option value="" selected[chosen.is_empty()] { (blank) }
            @for kind in ORG_KINDS {
                option value=(kind) selected[chosen == kind] { (kind) }
            }
        }
    }
}

/// An admin's invitations: make one for a partner, add a partner from theirs.
fn invitation_panel(viewer: &Viewer<'_>, panel: &InvitationPanel) -> Markup {
    let invite = &panel.invite;
    let add = &panel.add;
    html! {
        div.invitations {
        section aria-labelledby="invite" {
            h2 #invite { "Invite a partner" }
            @if !panel.offered {
                p { "On the node's machine: " code { "cairn invite --kind cert --region EU" } ". Send the line it prints to the partner." }
            } @else {
                @if let Some(issued) = &panel.issued {
                    section.created aria-labelledby="issued" {
                        h3 #issued { "Invitation made" }
                        p { "Send this line to the partner, by a channel you trust. On its node: " code { "cairn partner add INVITATION --policy NAME" } ", or this page of its console." }
                        p {
                            label for="invitation-line" { "Invitation" }
                            textarea #invitation-line readonly rows="4" { (issued.text) }
                        }
                        (invitation_facts(issued))
                    }
                }
                @if let Some(problem) = &panel.invite_problem {
                    p.problem role="alert" { "No invitation made: " (problem) }
                }
                form method="post" action="/ui/partners/invite#invite" aria-labelledby="invite" {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    p {
                        label for="expires" { "Valid for" }
                        input #expires name="expires" value=(if invite.expires.is_empty() { "7d" } else { invite.expires.as_str() }) required aria-describedby="expires-help";
                        span.help #expires-help { "A count and a unit: 7d, 12h, 30m." }
                    }
                    p {
                        label for="addresses" { "Where partners reach this node" }
                        textarea #addresses name="addresses" rows="2" aria-describedby="addresses-help" placeholder="/ip4/203.0.113.7/tcp/7400" { (invite.addresses) }
                        span.help #addresses-help { "One multiaddr a line. Empty: the addresses node.toml listens on." }
                    }
                    p { label { input type="checkbox" name="no_address" value="on" checked[invite.no_address.is_some()]; " This node only dials out (no address)" } }
                    p { label for="invite-kind" { "This organisation is" } (kind_select("invite-kind", &invite.kind, "not said")) }
                    p { label for="invite-sector" { "Its sector" } input #invite-sector name="sector" value=(invite.sector); }
                    p { label for="invite-region" { "Its region" } input #invite-region name="region" value=(invite.region); }
                    p { button type="submit" { "Make the invitation" } }
                }
            }
        }
        section aria-labelledby="add-partner" {
            h2 #add-partner { "Add a partner from its invitation" }
            @if !panel.offered {
                p { "On the node's machine: " code { "cairn partner add INVITATION --policy NAME" } "." }
            } @else {
                @if let Some(added) = &panel.added {
                    section.created aria-labelledby="added" role="status" {
                        h3 #added {
                            @if added.updated { (added.organisation) " was already a partner as " (added.name) ": its nodes are now the invitation's" }
                            @else { "Added partner " (added.name) " (" (added.organisation) ")" }
                        }
                        p { "Organisation key " code { (added.org_key) } ". Check this key with " (added.organisation) " by another channel (a call, a meeting) before sharing AMBER or RED." }
                        pre { (added.reloaded) }
                    }
                }
                @if let Some(checked) = &panel.checked {
                    section aria-labelledby="checked" role="status" {
                        h3 #checked { "What this invitation introduces" }
                        (invitation_facts(checked))
                        p { "Check the organisation key with " (checked.organisation) " by another channel before adding it." }
                    }
                }
                @if let Some(problem) = &panel.add_problem {
                    p.problem role="alert" { "No partner added: " (problem) }
                }
                form method="post" action="/ui/partners/add#add-partner" aria-labelledby="add-partner" {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    p {
                        label for="invitation" { "Invitation" }
                        textarea #invitation name="invitation" rows="4" required placeholder="cairn-invite-1.…" { (add.invitation) }
                    }
                    p {
                        label for="policy" { "Policy (what it may receive)" }
                        select #policy name="policy" aria-describedby="policy-help" {
                            option value="" selected[add.policy.is_empty()] { "choose a policy" }
                            @for policy in &panel.policies {
                                option value=(policy) selected[&add.policy == policy] { (policy) }
                            }
                        }
                        span.help #policy-help { "The policies of node.toml ([policies.NAME])." }
                    }
                    p { label for="add-name" { "Name in node.toml" } input #add-name name="name" value=(add.name) placeholder="from its organisation's name"; }
                    p { label for="add-kind" { "Kind" } (kind_select("add-kind", &add.kind, "as the invitation says")) }
                    p { label for="add-sector" { "Sector" } input #add-sector name="sector" value=(add.sector) placeholder="as the invitation says"; }
                    p { label for="add-region" { "Region" } input #add-region name="region" value=(add.region) placeholder="as the invitation says"; }
                    p.actions {
                        button type="submit" name="action" value="check" { "Check" }
                        " "
                        button type="submit" name="action" value="add" { "Add the partner" }
                    }
                }
            }
        }
        }
    }
}

/// A partner's outbound policy in words.
fn policy_text(policy: &cairn_policy::OutboundPolicy) -> String {
    let Some(max) = policy.max_tlp else {
        return "nothing (no TLP label allowed)".into();
    };
    let mut parts = vec![format!("up to {}", max.official())];
    let list = |set: &std::collections::BTreeSet<String>| {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    };
    if !policy.kinds.is_empty() {
        parts.push(format!(
            "only {}",
            policy
                .kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !policy.require_tags.is_empty() {
        parts.push(format!("only tagged {}", list(&policy.require_tags)));
    }
    if !policy.exclude_tags.is_empty() {
        parts.push(format!("never tagged {}", list(&policy.exclude_tags)));
    }
    if !policy.sectors.is_empty() {
        parts.push(format!("only about sectors {}", list(&policy.sectors)));
    }
    if !policy.regions.is_empty() {
        parts.push(format!("only about regions {}", list(&policy.regions)));
    }
    if !policy.withhold.is_empty() {
        parts.push(format!(
            "without {}",
            policy
                .withhold
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if policy.embargo_ms > 0 {
        parts.push(format!(
            "after an embargo of {} minutes",
            policy.embargo_ms / 60_000
        ));
    }
    parts.join("; ")
}

/// The tokens page (admin): every API token by name and role, a form to create one, and a
/// revoke button each. `created` is a token just made, shown this once; `problem` why the last
/// form was refused.
pub(crate) fn tokens(
    viewer: &Viewer<'_>,
    records: &[crate::tokens::TokenRecord],
    created: Option<(&str, &str)>,
    problem: Option<&str>,
) -> Markup {
    let main = html! {
        h1 { "API tokens" }
        @if let Some((name, token)) = created {
            section.created aria-labelledby="created" {
                h2 #created { "Token " (name) " created" }
                p { "Copy it now: it is shown this once, and the node keeps only its digest." }
                p { code #new-token { (token) } }
            }
        }
        @if let Some(problem) = problem {
            p.problem role="alert" { (problem) }
        }
        @if records.is_empty() {
            p { "No tokens." }
        } @else {
            table {
                caption { "Tokens that open the API, TAXII and this console" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Created" } th scope="col" { "Revoke" } } }
                tbody {
                    @for r in records {
                        tr {
                            th scope="row" { (r.name) }
                            td { (role_name(r.role)) }
                            td { (crate::rfc3339(r.created_ms)) }
                            td {
                                form method="post" action="/ui/tokens/revoke" {
                                    input type="hidden" name="csrf" value=(viewer.csrf);
                                    input type="hidden" name="name" value=(r.name);
                                    button type="submit" aria-label={ "Revoke " (r.name) } { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Create a token" }
        form method="post" action="/ui/tokens" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            p { label for="name" { "Name" } input #name name="name" required maxlength="64" placeholder="opencti"; }
            p { label for="role" { "Role" }
                select #role name="role" {
                    option value="read" { "read: reports, partners, TAXII reads" }
                    option value="publish" { "publish: also publish, retract, TAXII writes" }
                    option value="admin" { "admin: also tokens" }
                }
            }
            p { button type="submit" { "Create" } }
        }
    };
    layout("API tokens", Some(viewer), Some(Section::Tokens), main)
}

/// What the statistics page's form asks.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct StatisticsForm {
    /// Count the figures organisations published (merged) instead of the reports held.
    pub(crate) federation: Option<String>,
    /// Only this regional cluster.
    pub(crate) community: String,
}

/// The statistics page: observance trends as server-drawn charts, the numbers as a table.
pub(crate) fn statistics(
    viewer: &Viewer<'_>,
    form: &StatisticsForm,
    view: Option<&crate::observance::ObservanceView>,
    directory: Option<&DirectoryView>,
    problem: Option<&str>,
) -> Markup {
    let main = html! {
        h1 { "Statistics" }
        form.search method="get" action="/ui/statistics" aria-label="What to count" {
            p { label { input type="checkbox" name="federation" checked[form.federation.is_some()]; " The federation's published figures, merged (instead of the reports this node holds)" } }
            p { label for="community" { "Regional cluster (community)" } input #community name="community" value=(form.community); }
            p { button type="submit" { "Count" } }
        }
        @if let Some(problem) = problem {
            p.problem role="alert" { (problem) }
        }
        @if let Some(view) = view {
            h2 { "Paris Call observance" }
            p {
                (view.reports) " report(s) counted"
                @if let Some(orgs) = view.organisations { ", from the figures of " (orgs) " organisation(s)" }
                ". A report counts once in every combination of its principles and norms, regions and sectors."
                @if view.suppressed > 0 { " " (view.suppressed) " cell(s) under " (view.min_count) " left out." }
            }
            @if view.cells.is_empty() {
                p { "Nothing to count yet: incident reports coded with Paris Call principles or UN GGE norms are counted here." }
            } @else {
                @for (quarter, bars) in crate::observance::quarter_bars(view) {
                    figure {
                        (maud::PreEscaped(crate::chart::horizontal_bars(
                            &format!("chart-{quarter}"),
                            &format!("{quarter}: reports by Paris Call principle and UN GGE norm"),
                            "Horizontal bars, one per principle or norm; the count is written beside each bar and in the table below.",
                            &bars,
                        )))
                        figcaption { (quarter) ": reports by principle and norm, over all regions and sectors" }
                    }
                }
                table {
                    caption { "Every count" }
                    thead { tr { th scope="col" { "Quarter" } th scope="col" { "Principle or norm" } th scope="col" { "Region" } th scope="col" { "Sector" } th scope="col" { "Reports" } } }
                    tbody {
                        @for c in &view.cells {
                            tr { td { (c.quarter) } td { (c.measure()) ": " (c.name) } td { (c.region) } td { (c.sector) } td { (c.count) } }
                        }
                    }
                }
            }
        }
        @if let Some(directory) = directory {
            (directory_section(directory))
        }
    };
    layout("Statistics", Some(viewer), Some(Section::Statistics), main)
}

/// The filters of the reports page, as the form gives them back.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ReportSearch {
    pub(crate) text: String,
    pub(crate) indicator: String,
    pub(crate) inside: String,
    pub(crate) tlp: String,
    pub(crate) kind: String,
    pub(crate) tag: String,
    pub(crate) sector: String,
    pub(crate) region: String,
    pub(crate) principle: String,
    pub(crate) author: String,
    pub(crate) since: String,
    pub(crate) until: String,
    pub(crate) history: Option<String>,
    /// Only reports with an indicator still valid (active: valid, scoring at least the
    /// threshold).
    pub(crate) valid: Option<String>,
    pub(crate) cursor: String,
    /// `newest` (the default) or `oldest` first.
    pub(crate) order: String,
    /// Another column to sort by (`title`, `tlp`, `kind`, `author`, `indicators`; a leading
    /// `-` for the other way); empty: by creation time.
    pub(crate) sort: String,
    /// Where a page sorted by another column starts.
    pub(crate) offset: String,
}

/// A column of the reports table that sorts by something other than creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Title,
    Tlp,
    Kind,
    Author,
    Indicators,
}

impl Column {
    /// Each column, its name in `sort=`, and its heading.
    const ALL: [(Column, &'static str, &'static str); 5] = [
        (Column::Title, "title", "Title"),
        (Column::Tlp, "tlp", "TLP"),
        (Column::Kind, "kind", "Kind"),
        (Column::Author, "author", "Author"),
        (Column::Indicators, "indicators", "Indicators"),
    ];
}

/// The reports sorted by a column, one way or the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColumnSort {
    pub(crate) column: Column,
    pub(crate) descending: bool,
}

/// Sorts `found` by `sort`: titles, kinds and author names alphabetically (ignoring case),
/// TLP from CLEAR to RED, indicators by count; ties newest first.
pub(crate) fn sort_reports(found: &mut [StoredReport], sort: ColumnSort, names: &Names) {
    use std::cmp::Ordering;
    let by = |a: &StoredReport, b: &StoredReport| -> Ordering {
        let (ra, rb) = (a.report.report(), b.report.report());
        match sort.column {
            Column::Title => ra.title.to_lowercase().cmp(&rb.title.to_lowercase()),
            Column::Tlp => ra.tlp.cmp(&rb.tlp),
            Column::Kind => ra.kind.as_str().cmp(rb.kind.as_str()),
            Column::Author => organisation(names, &a.report.author().to_string())
                .to_lowercase()
                .cmp(&organisation(names, &b.report.author().to_string()).to_lowercase()),
            Column::Indicators => ra.indicators.len().cmp(&rb.indicators.len()),
        }
    };
    found.sort_by(|a, b| {
        let order = by(a, b);
        let order = if sort.descending {
            order.reverse()
        } else {
            order
        };
        order.then_with(|| {
            b.report
                .report()
                .created_ms
                .cmp(&a.report.report().created_ms)
        })
    });
}

impl ReportSearch {
    /// The text fields, by name, as the query string carries them.
    fn fields(&self) -> [(&'static str, &str); 16] {
        [
            ("order", &self.order),
            ("sort", &self.sort),
            ("offset", &self.offset),
            ("text", &self.text),
            ("indicator", &self.indicator),
            ("inside", &self.inside),
            ("tlp", &self.tlp),
            ("kind", &self.kind),
            ("tag", &self.tag),
            ("sector", &self.sector),
            ("region", &self.region),
            ("principle", &self.principle),
            ("author", &self.author),
            ("since", &self.since),
            ("until", &self.until),
            ("cursor", &self.cursor),
        ]
    }

    /// Whether this is the first page of every current report (new ones belong at its top).
    pub(crate) fn is_unfiltered(&self) -> bool {
        self.fields().iter().all(|(_, v)| v.trim().is_empty())
            && self.history.is_none()
            && self.valid.is_none()
    }

    /// Whether the oldest come first.
    pub(crate) fn oldest_first(&self) -> bool {
        self.order.trim() == "oldest"
    }

    /// The first page of the same search by creation time, in the other order (newest first
    /// when sorted by another column).
    pub(crate) fn reordered(&self) -> String {
        let sorted_by_column = !self.sort.trim().is_empty();
        let other = ReportSearch {
            order: if self.oldest_first() || sorted_by_column {
                String::new()
            } else {
                "oldest".into()
            },
            cursor: String::new(),
            sort: String::new(),
            offset: String::new(),
            ..self.clone()
        };
        other.next_page("")
    }

    /// The column sort asked, if any.
    pub(crate) fn column_sort(&self) -> Result<Option<ColumnSort>, String> {
        let text = self.sort.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let (descending, name) = match text.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, text),
        };
        Column::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|&(column, _, _)| Some(ColumnSort { column, descending }))
            .ok_or_else(|| {
                format!(
                    "sort: {text:?} is not a column to sort by: title, tlp, kind, author or indicators (a leading - for the other way)"
                )
            })
    }

    /// Where a column-sorted page starts.
    pub(crate) fn offset(&self) -> Result<usize, String> {
        match self.offset.trim() {
            "" => Ok(0),
            text => text
                .parse()
                .map_err(|_| format!("offset: {text:?} is not a position in the list")),
        }
    }

    /// The first page of the same search sorted by `column` (the other way if it is sorted
    /// by it already).
    fn sorted_by(&self, column: Column, name: &str) -> String {
        let now = self.column_sort().ok().flatten();
        let sort = match now {
            Some(s) if s.column == column && !s.descending => format!("-{name}"),
            _ => name.to_string(),
        };
        ReportSearch {
            sort,
            order: String::new(),
            cursor: String::new(),
            offset: String::new(),
            ..self.clone()
        }
        .next_page("")
    }

    /// The column-sorted page starting at `offset`.
    pub(crate) fn page_at(&self, offset: usize) -> String {
        ReportSearch {
            offset: offset.to_string(),
            cursor: String::new(),
            ..self.clone()
        }
        .next_page("")
    }

    /// The query string of the next page.
    pub(crate) fn next_page(&self, cursor: &str) -> String {
        let mut query: Vec<String> = self
            .fields()
            .iter()
            .map(|&(k, v)| (k, if k == "cursor" { cursor } else { v }))
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect();
        if self.history.is_some() {
            query.push("history=on".into());
        }
        if self.valid.is_some() {
            query.push("valid=on".into());
        }
        format!("/ui/reports?{}", query.join("&"))
    }
}

const TLPS: [&str; 5] = ["clear", "green", "amber", "amber+strict", "red"];

/// The reports page: the search form, the matching reports newest first, and the next page.
pub(crate) fn reports(
    viewer: &Viewer<'_>,
    search: &ReportSearch,
    found: &[StoredReport],
    next: Option<&str>,
    problem: Option<&str>,
    names: &Names,
) -> Markup {
    let column_sort = search.column_sort().ok().flatten();
    let caption = match (column_sort, search.oldest_first()) {
        (Some(s), _) => format!(
            "Reports matching the search, by {}{}",
            Column::ALL
                .iter()
                .find(|c| c.0 == s.column)
                .map_or("", |c| c.1),
            if s.descending { ", the other way" } else { "" }
        ),
        (None, true) => "Reports matching the search, oldest first".to_string(),
        (None, false) => "Reports matching the search, newest first".to_string(),
    };
    let main = html! {
        h1 { "Reports" }
        form.search method="get" action="/ui/reports" role="search" aria-label="Search reports" {
            p { label for="text" { "Words in the title or summary" } input #text name="text" value=(search.text) placeholder="wiper water"; }
            p { label for="indicator" { "Indicator" } input #indicator name="indicator" value=(search.indicator) placeholder="203.0.113.7, example.com, a hash"; }
            p { label for="inside" { "Indicators inside (a CIDR range, or a domain: its subdomains, URLs and email addresses too)" } input #inside name="inside" value=(search.inside) placeholder="203.0.113.0/24, example.org"; }
            p { label for="tlp" { "TLP" }
                select #tlp name="tlp" {
                    option value="" selected[search.tlp.is_empty()] { "any" }
                    @for t in TLPS { option value=(t) selected[search.tlp == t] { (t.to_uppercase()) } }
                }
            }
            p { label for="kind" { "Kind" } input #kind name="kind" value=(search.kind) placeholder="indicator, incident, advisory…"; }
            p { label for="tag" { "Tag" } input #tag name="tag" value=(search.tag); }
            p { label for="sector" { "Sector" } input #sector name="sector" value=(search.sector) placeholder="health, finance…"; }
            p { label for="region" { "Region" } input #region name="region" value=(search.region) placeholder="western-africa, EU…"; }
            p { label for="principle" { "Paris Call principle" }
                select #principle name="principle" {
                    option value="" selected[search.principle.is_empty()] { "any" }
                    @for (i, name) in cairn_core::model::PARIS_CALL_PRINCIPLES.iter().enumerate() {
                        @let n = (i + 1).to_string();
                        option value=(n) selected[search.principle.trim() == n] { (n) ". " (name) }
                    }
                }
            }
            p { label for="author" { "Author key" } input #author name="author" value=(search.author); }
            p { label for="since" { "Created since" } input #since name="since" value=(search.since) placeholder="2026-11-01 or 7d"; }
            p { label for="until" { "Created until" } input #until name="until" value=(search.until) placeholder="2026-11-30"; }
            p { label for="order" { "Order" }
                select #order name="order" {
                    option value="" selected[!search.oldest_first()] { "newest first" }
                    option value="oldest" selected[search.oldest_first()] { "oldest first" }
                }
            }
            p { label { input type="checkbox" name="history" checked[search.history.is_some()]; " Include older versions and retractions" } }
            p { label { input type="checkbox" name="valid" checked[search.valid.is_some()]; " Only reports with an indicator still valid (active, scoring at least the threshold)" } }
            @if column_sort.is_some() {
                input type="hidden" name="sort" value=(search.sort);
            }
            p { button type="submit" { "Search" } " " a href="/ui/reports" { "Clear" } }
        }
        @if let Some(problem) = problem {
            p.problem role="alert" { (problem) }
        }
        (report_table(
            found,
            names,
            &caption,
            search.is_unfiltered(),
            Some(Sorting { search, column: column_sort }),
        ))
        @if let Some(next) = next {
            p { a rel="next" href=(next) { @if column_sort.is_some() { "Next page" } @else if search.oldest_first() { "Newer reports" } @else { "Older reports" } } }
        }
    };
    layout("Reports", Some(viewer), Some(Section::Reports), main)
}

/// How a table of reports is sorted: by creation time, or by `column`; each heading links to
/// the same search sorted by it.
struct Sorting<'a> {
    search: &'a ReportSearch,
    column: Option<ColumnSort>,
}

impl Sorting<'_> {
    /// A column's heading: a link sorting by it, marked with the order when it is the one.
    fn heading(&self, column: Column, name: &str, label: &str) -> Markup {
        let current = self.column.filter(|s| s.column == column);
        let aria = current.map(|s| {
            if s.descending {
                "descending"
            } else {
                "ascending"
            }
        });
        html! {
            th scope="col" aria-sort=[aria] {
                a href=(self.search.sorted_by(column, name)) {
                    (label)
                    @match current {
                        Some(s) if s.descending => { " ↓" span.visually-hidden { " (sorted the other way: sort ascending instead)" } }
                        Some(_) => { " ↑" span.visually-hidden { " (sorted: sort the other way instead)" } }
                        None => span.visually-hidden { " (sort by it)" },
                    }
                }
            }
        }
    }

    /// The Created heading: a link to creation order, newest or oldest first.
    fn created(&self) -> Markup {
        let by_time = self.column.is_none();
        let oldest_first = self.search.oldest_first();
        let aria = by_time.then_some(if oldest_first {
            "ascending"
        } else {
            "descending"
        });
        html! {
            th scope="col" aria-sort=[aria] {
                a href=(self.search.reordered()) {
                    "Created"
                    @if !by_time { span.visually-hidden { " (sort by it, newest first)" } }
                    @else if oldest_first { " ↑" span.visually-hidden { " (oldest first: newest first instead)" } }
                    @else { " ↓" span.visually-hidden { " (newest first: oldest first instead)" } }
                }
            }
        }
    }
}

/// The table of reports; `live` lets the console's script add reports as they arrive;
/// `sorting` makes the headings links that sort the table.
fn report_table(
    found: &[StoredReport],
    names: &Names,
    caption: &str,
    live: bool,
    sorting: Option<Sorting<'_>>,
) -> Markup {
    let heading = |column: Column| {
        let (_, name, label) = Column::ALL
            .iter()
            .find(|c| c.0 == column)
            .copied()
            .unwrap_or((column, "", ""));
        match &sorting {
            Some(s) => s.heading(column, name, label),
            None => html! { th scope="col" { (label) } },
        }
    };
    html! {
        p #live-status.visually-hidden role="status" aria-live="polite" {}
        @if found.is_empty() && !live {
            p { "No reports." }
        } @else {
            table.reports data-live=[live.then_some("")] {
                caption { (caption) }
                thead { tr {
                    (heading(Column::Title)) (heading(Column::Tlp)) (heading(Column::Kind)) (heading(Column::Author))
                    @match &sorting {
                        Some(s) => (s.created()),
                        None => th scope="col" { "Created" },
                    }
                    (heading(Column::Indicators))
                } }
                tbody {
                    @for s in found {
                        @let r = s.report.report();
                        tr {
                            th scope="row" { a href={ "/ui/reports/" (s.report.id()) } { (r.title) } }
                            td { (tlp_badge(r.tlp)) }
                            td { (r.kind.as_str()) }
                            td { (organisation(names, &s.report.author().to_string())) }
                            td { time datetime=(crate::rfc3339(r.created_ms)) { (crate::rfc3339(r.created_ms)) } }
                            td { (r.indicators.len()) }
                        }
                    }
                }
            }
        }
    }
}

fn tlp_badge(tlp: cairn_core::Tlp) -> Markup {
    html! { span class={ "tlp " (tlp_class(tlp)) } { (tlp_label(tlp)) } }
}

/// The style class of a TLP badge.
pub(crate) fn tlp_class(tlp: cairn_core::Tlp) -> String {
    format!("tlp-{}", tlp.as_str().replace('+', "-"))
}

/// A TLP label as the badge writes it.
pub(crate) fn tlp_label(tlp: cairn_core::Tlp) -> String {
    format!("TLP:{}", tlp.as_str().to_uppercase())
}

/// What the report page shows besides the report itself.
pub(crate) struct ReportContext<'a> {
    pub(crate) status: ReportStatus,
    /// Every version held, oldest first.
    pub(crate) history: &'a [StoredReport],
    /// For each partner, whether it receives the report now and why.
    pub(crate) sharing: &'a [SharingDecision],
    /// Who received it from this node, and when.
    pub(crate) deliveries: &'a [AuditEntry],
    /// Whether the viewer may withdraw it here (a current report this organisation wrote, a
    /// token that may publish).
    pub(crate) can_retract: bool,
    /// For each distinct indicator, the other current reports related to it (the newest few).
    pub(crate) related: &'a [(cairn_core::Indicator, cairn_store::Correlation)],
    /// Each indicator's score and state now, in the report's order.
    pub(crate) standings: &'a [cairn_core::score::Standing],
    /// The current sightings of this report held here, oldest first.
    pub(crate) sightings: &'a [StoredReport],
    /// Whether the viewer may say something of it here (a current report of a kind that is
    /// sighted, a token that may publish, a key that may sign).
    pub(crate) can_sight: bool,
}

/// One report: its content, indicators, markings, where it came from, who receives it and
/// why, who received it, and its versions.
pub(crate) fn report(
    viewer: &Viewer<'_>,
    stored: &StoredReport,
    context: &ReportContext<'_>,
    names: &Names,
) -> Markup {
    let status = context.status;
    let history = context.history;
    let report = &stored.report;
    let r = report.report();
    let id = report.id().to_string();
    let main = html! {
        h1 { (r.title) }
        p { (tlp_badge(r.tlp)) " " span.kind { (r.kind.as_str()) }
            @match status {
                ReportStatus::Current => {},
                ReportStatus::SupersededBy(newer) => { " " strong.status { "Superseded by " a href={ "/ui/reports/" (newer) } { "a newer version" } } },
                ReportStatus::Retracted(by) => { " " strong.status { "Retracted by its author (" a href={ "/ui/reports/" (by) } { "the retraction" } ")" } },
            }
        }
        @if !r.summary.is_empty() {
            p.summary lang=[r.language.as_deref()] { (r.summary) }
        }
        h2 { "About this report" }
        dl {
            dt { "Id" } dd { code { (id) } }
            dt { "Author" } dd { (organisation(names, &report.author().to_string())) " " code { (report.author()) } }
            dt { "Created" } dd { (crate::rfc3339(r.created_ms)) }
            dt { "Received here" } dd { (crate::rfc3339(stored.received_ms)) }
            dt { "Came from" } dd { (provenance(&stored.provenance, names)) }
            @if let Some(severity) = r.severity { dt { "Severity" } dd { (severity.as_str()) } }
            dt { "Confidence" } dd { (r.confidence) }
            @if let Some(language) = &r.language { dt { "Language" } dd { (language) } }
            @if !r.tags.is_empty() { dt { "Tags" } dd { (r.tags.join(", ")) } }
            @if !r.sectors.is_empty() { dt { "Sectors" } dd { (r.sectors.join(", ")) } }
            @if !r.regions.is_empty() { dt { "Regions" } dd { (r.regions.join(", ")) } }
            @if !r.paris_call_principles.is_empty() {
                dt { "Paris Call principles" }
                dd { (r.paris_call_principles.iter().map(|p| cairn_core::model::paris_call_principle(*p).map_or_else(|| p.to_string(), |name| format!("{p} ({name})"))).collect::<Vec<_>>().join(", ")) }
            }
        }
        @if let Some(coding) = &r.coding {
            h2 { "Incident coding" }
            (worded(coding.in_words()))
        }
        @if let Some(entry) = &r.directory_entry {
            h2 { "Directory entry" }
            (worded(entry.in_words()))
        }
        @if let Some(s) = &r.sighting {
            h2 { "Sighting" }
            p { "About " a href={ "/ui/reports/" (s.concerns.report) } { "the report " code { (s.concerns.report.short()) } } " by " (organisation(names, &s.concerns.author.to_string())) "." }
            (worded(s.in_words()))
        }
        h2 { "Indicators" }
        @if r.indicators.is_empty() {
            p { "None." }
        } @else {
            table {
                caption { "Observables this report gives" }
                thead { tr { th scope="col" { "Type" } th scope="col" { "Value" } th scope="col" { "Description" } th scope="col" { "Valid" } th scope="col" { "Score" } } }
                tbody {
                    @for (n, i) in r.indicators.iter().enumerate() {
                        tr {
                            td { (i.kind.as_str()) @if i.file != 0 { " (file " (i.file) ")" } }
                            td { a href={ "/ui/correlate?value=" (correlate_value(i)) } title="Correlate this observable" { code { (i.value) } } }
                            td { (i.description) }
                            td {
                                @match (i.valid_from_ms, i.valid_until_ms) {
                                    (0, 0) => { "from creation" }
                                    (from, 0) => { "from " (crate::rfc3339(from)) }
                                    (0, until) => { "until " (crate::rfc3339(until)) }
                                    (from, until) => { (crate::rfc3339(from)) " to " (crate::rfc3339(until)) }
                                }
                            }
                            td {
                                @if let Some(standing) = context.standings.get(n) {
                                    span class={ "state-" (standing.state) } { (standing.score) " (" (standing.state) ")" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if context.related.iter().any(|(_, c)| !c.reports.is_empty()) {
            h2 { "Related reports" }
            p { "Other current reports with the same observables, another hash of the same file, a range or domain they lie in, or observables inside them." }
            @for (indicator, found) in context.related.iter().filter(|(_, c)| !c.reports.is_empty()) {
                h3 { code { (indicator.value) } }
                (related_table(found, names, &format!("Reports related to {}", indicator.value)))
                @if found.more {
                    p { a href={ "/ui/correlate?value=" (correlate_value(indicator)) } { "Every report related to " (indicator.value) } }
                }
            }
        }
        h2 { "Disclosures" }
        @if report.disclosures().is_empty() && report.withheld() == 0 {
            p { "None." }
        } @else {
            @if !report.disclosures().is_empty() {
                dl {
                    @for d in report.disclosures() { dt { (d.field) } dd { (d.value) } }
                }
            }
            @if report.withheld() > 0 {
                p { (report.withheld()) " disclosure(s) withheld: the partner that passed this report on was not to pass them." }
            }
        }
        @if !r.stix_objects.is_empty() {
            h2 { "STIX objects" }
            p { "This report carries " (r.stix_objects.len()) " STIX object(s), kept as their author sent them." }
            table.stix {
                caption {
                    "The objects, readably"
                    @if r.stix_objects.len() > STIX_ROWS { " (the first " (STIX_ROWS) ")" }
                }
                thead { tr { th scope="col" { "Type" } th scope="col" { "Name or value" } th scope="col" { "Details" } th scope="col" { "Id" } } }
                tbody {
                    @for object in r.stix_objects.iter().take(STIX_ROWS) {
                        @let shown = StixSummary::of(object);
                        tr {
                            th scope="row" { (shown.kind) }
                            td { (shown.name) }
                            td { (shown.details) }
                            td { code { (shown.id) } }
                        }
                    }
                }
            }
        }
        h2 { "Who receives it" }
        @if context.sharing.is_empty() {
            p { "No partner in the trust list: it goes to nobody." }
        } @else {
            (sharing_table(context.sharing, "What this node's sharing rules decide for each partner, now"))
        }
        h2 { "Delivered" }
        @if context.deliveries.is_empty() {
            p { "No partner has fetched it from this node yet." }
        } @else {
            table {
                caption { "Partner nodes that received it from this node" }
                thead { tr { th scope="col" { "Partner" } th scope="col" { "Node" } th scope="col" { "When" } } }
                tbody {
                    @for d in context.deliveries {
                        tr { th scope="row" { (d.partner) } td { code { (d.peer_id) } } td { (crate::rfc3339(d.at_ms)) } }
                    }
                }
            }
        }
        @if !context.sightings.is_empty() || context.can_sight {
            (sightings_section(viewer, &id, r, context, names))
        }
        @if context.can_retract {
            h2 { "Retract" }
            form.retract method="post" action={ "/ui/reports/" (id) "/retract" } {
                input type="hidden" name="csrf" value=(viewer.csrf);
                p {
                    label for="reason" { "Why it is withdrawn" }
                    input #reason name="reason" required maxlength="1000" aria-describedby="reason-help";
                }
                p #reason-help.help { "A signed retraction travels to every partner that received this report; it withdraws this version and every earlier one." }
                p { button type="submit" { "Retract this report" } }
            }
        }
        h2 { "Versions" }
        @if history.len() <= 1 {
            p { "This is the only version held." }
        } @else {
            ol.versions {
                @for v in history {
                    li {
                        @if v.report.id() == report.id() {
                            strong { (v.report.report().title) " (this version)" }
                        } @else {
                            a href={ "/ui/reports/" (v.report.id()) } { (v.report.report().title) }
                        }
                        " · " (crate::rfc3339(v.report.report().created_ms))
                        @if v.report.report().retracts.is_some() { " · retraction" }
                    }
                }
            }
        }
    };
    layout(&r.title, Some(viewer), Some(Section::Reports), main)
}

/// An indicator as the correlate page's `value` parameter: TYPE:VALUE, percent-encoded.
fn correlate_value(indicator: &cairn_core::Indicator) -> String {
    percent_encoding::utf8_percent_encode(
        &format!("{}:{}", indicator.kind.as_str(), indicator.value),
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string()
}

/// The reports a correlation found: each with its author, TLP, date and the indicators that
/// relate, in words.
/// What organisations said of a report (a tally per indicator and each sighting), and the form
/// to say something of it.
fn sightings_section(
    viewer: &Viewer<'_>,
    id: &str,
    r: &cairn_core::Report,
    context: &ReportContext<'_>,
    names: &Names,
) -> Markup {
    let tallies = cairn_core::sighting::tally(crate::sightings::said(context.sightings));
    html! {
        h2 #sightings { "Sightings and feedback" }
        @if context.sightings.is_empty() {
            p { "Nobody has said anything of this report on this node yet." }
        } @else {
            table {
                caption { "What organisations said, per indicator" }
                thead { tr {
                    th scope="col" { "Of" } th scope="col" { "Times seen" } th scope="col" { "Sightings" }
                    th scope="col" { "False positive" } th scope="col" { "Expired" } th scope="col" { "Confirmed" }
                    th scope="col" { "Organisations" } th scope="col" { "Last seen" }
                } }
                tbody {
                    @for t in &tallies {
                        tr {
                            th scope="row" { @if let Some(i) = &t.indicator { code { (i) } } @else { "the whole report" } }
                            td { (t.seen) } td { (t.seen_reports) } td { (t.false_positive) } td { (t.expired) }
                            td { (t.confirmed) } td { (t.organisations) }
                            td { @if let Some(ms) = t.last_seen_ms { (crate::rfc3339(ms)) } }
                        }
                    }
                }
            }
            table {
                caption { "Each sighting, oldest first" }
                thead { tr {
                    th scope="col" { "Written" } th scope="col" { "By" } th scope="col" { "Says" }
                    th scope="col" { "Of" } th scope="col" { "Times" } th scope="col" { "Where" }
                } }
                tbody {
                    @for (stored, sighting) in context.sightings.iter().filter_map(|s| s.report.report().sighting.as_ref().map(|sighting| (s, sighting))) {
                        tr {
                            td { a href={ "/ui/reports/" (stored.report.id()) } { (crate::rfc3339(stored.report.report().created_ms)) } }
                            td { (organisation(names, &stored.report.author().to_string())) }
                            td { (sighting.kind.as_str()) }
                            td { @if let Some(i) = &sighting.indicator { code { (i.value) } } @else { "the whole report" } }
                            td { @if sighting.count > 0 { (sighting.count) } }
                            td { (sighting.place.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        @if context.can_sight {
            form.sighting method="post" action={ "/ui/reports/" (id) "/sightings" } {
                input type="hidden" name="csrf" value=(viewer.csrf);
                p {
                    label for="sighting-kind" { "What you say" }
                    select #sighting-kind name="kind" {
                        @for kind in cairn_core::SightingKind::ALL {
                            option value=(kind.as_str()) { (kind.as_str()) }
                        }
                    }
                }
                p {
                    label for="sighting-indicator" { "Of" }
                    select #sighting-indicator name="indicator" {
                        option value="" { "the whole report" }
                        @for i in &r.indicators {
                            option value={ (i.kind.as_str()) ":" (i.value) } { (i.kind.as_str()) ": " (i.value) }
                        }
                    }
                }
                p { label for="sighting-count" { "Times seen" } input #sighting-count name="count" type="number" min="0" inputmode="numeric"; }
                p { label for="sighting-first" { "First seen" } input #sighting-first name="first_seen" placeholder="2026-11-30T08:00:00Z, 2026-11-30 or 6h"; }
                p { label for="sighting-last" { "Last seen" } input #sighting-last name="last_seen" placeholder="as first seen"; }
                p { label for="sighting-where" { "Where" } input #sighting-where name="where" maxlength="256"; }
                p { label for="sighting-observed" { "What was observed (one line each)" } textarea #sighting-observed name="observed" rows="3" {} }
                p { label for="sighting-comment" { "Comment for the author" } input #sighting-comment name="comment"; }
                p {
                    label for="sighting-tlp" { "TLP" }
                    select #sighting-tlp name="tlp" {
                        option value="" { "as the report (" (r.tlp.official()) ")" }
                        @for tlp in cairn_core::Tlp::ALL.iter().filter(|t| **t > r.tlp) {
                            option value=(tlp.as_str()) { (tlp.official()) }
                        }
                    }
                }
                p.help { "A sighting goes back to the report's author, and to partners that may receive the report from this node; never further." }
                p { button type="submit" { "Publish the sighting" } }
            }
        }
    }
}

fn related_table(found: &cairn_store::Correlation, names: &Names, caption: &str) -> Markup {
    html! {
        table.related {
            caption { (caption) }
            thead { tr {
                th scope="col" { "Report" } th scope="col" { "Author" } th scope="col" { "TLP" }
                th scope="col" { "Created" } th scope="col" { "How it relates" }
            } }
            tbody {
                @for c in &found.reports {
                    @let r = c.stored.report.report();
                    tr {
                        th scope="row" { a href={ "/ui/reports/" (c.stored.report.id()) } { (r.title) } }
                        td { (organisation(names, &c.stored.report.author().to_string())) }
                        td { (tlp_badge(r.tlp)) }
                        td { (crate::rfc3339(r.created_ms)) }
                        td {
                            ul.links {
                                @for link in &c.links {
                                    li { (link.relation.in_words()) ": " (link.indicator.kind.as_str()) " " code { (link.indicator.value) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The correlate page: a value to look up and, when one was given, the reports related to it.
pub(crate) fn correlate(
    viewer: &Viewer<'_>,
    value: &str,
    outcome: Option<&Result<(Vec<cairn_core::Indicator>, cairn_store::Correlation), String>>,
    names: &Names,
) -> Markup {
    let main = html! {
        h1 { "Correlate" }
        p { "Which current reports name an observable, another hash of the same file, a range or domain it lies in, or observables inside it (addresses in a range of /8 or narrower, /32 for IPv6; domains, URLs and email addresses under a domain)." }
        form.search method="get" action="/ui/correlate" role="search" {
            p {
                label for="value" { "Observable" }
                input #value name="value" value=(value) required maxlength="4096" aria-describedby="value-help";
            }
            p #value-help.help { "An address, range, domain, URL, email address, hash, CVE or AS number; TYPE:VALUE (md5:…) to say which type." }
            p { button type="submit" { "Correlate" } }
        }
        @match outcome {
            None => {},
            Some(Err(problem)) => { p.problem role="alert" { (problem) } },
            Some(Ok((readings, found))) => {
                p.count role="status" {
                    @if found.reports.is_empty() { "No current report relates to " } @else { (found.reports.len()) @if found.more { " (the newest; more relate)" } " report(s) relate to " }
                    (readings.iter().map(|r| format!("{} {}", r.kind.as_str(), r.value)).collect::<Vec<_>>().join(" or "))
                    "."
                }
                @if !found.reports.is_empty() {
                    (related_table(found, names, "Related reports, newest first"))
                }
            },
        }
    };
    layout("Correlate", Some(viewer), Some(Section::Correlate), main)
}

fn provenance(provenance: &Provenance, names: &Names) -> String {
    match provenance {
        Provenance::Local => "published on this node".into(),
        Provenance::Import => "imported from a file on this node".into(),
        Provenance::Peer { org, hop } => {
            let from = organisation(names, &org.to_string());
            match hop {
                0 => format!("{from}, its author"),
                n => format!("{from}, after {n} other node(s)"),
            }
        }
    }
}

/// Parts of a report given in words (`in_words`), as a definition list: one item as text,
/// several as a list.
fn worded(parts: Vec<(&'static str, Vec<String>)>) -> Markup {
    html! {
        dl {
            @for (label, items) in &parts {
                dt { (label) }
                dd {
                    @if let [item] = items.as_slice() { (item) }
                    @else { ul { @for item in items { li { (item) } } } }
                }
            }
        }
    }
}

/// For each partner, whether it receives a report and why, as a table.
fn sharing_table(decisions: &[SharingDecision], caption: &str) -> Markup {
    html! {
        table.sharing {
            caption { (caption) }
            thead { tr { th scope="col" { "Partner" } th scope="col" { "Receives it" } th scope="col" { "Why" } } }
            tbody {
                @for d in decisions {
                    tr {
                        th scope="row" { (d.partner) }
                        td {
                            @if d.receives {
                                "yes"
                                @if !d.withheld.is_empty() { " (without " (d.withheld.join(", ")) ")" }
                            } @else { "no" }
                        }
                        td { (d.reason) }
                    }
                }
            }
        }
    }
}

/// What the publish page shows under the form.
pub(crate) enum PublishPreview {
    /// Nothing asked yet.
    Empty,
    /// The draft cannot be signed as it is.
    Problem(crate::console::publish::FieldProblem),
    /// Who would receive it, and why; and its indicators on warning lists, in words.
    Decisions(Vec<SharingDecision>, Vec<String>),
}

/// The publish form, filled with `form`, with the preview under it.
pub(crate) fn publish(
    viewer: &Viewer<'_>,
    form: &crate::console::publish::PublishForm,
    preview: &PublishPreview,
) -> Markup {
    use crate::console::publish::FORM_KINDS;
    let selected = |current: &str, value: &str| current.trim().eq_ignore_ascii_case(value);
    let main = html! {
        h1 { "Publish a report" }
        p { "The node signs the report with the organisation's key and shares it under the sharing rules in node.toml. The preview shows who would receive it, and why, before anything is signed." }
        div.publish {
        form #publish-form method="post" action="/ui/publish" data-preview="/ui/publish/preview" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            fieldset {
                legend { "What it is" }
                p {
                    label for="kind" { "Kind" }
                    select #kind name="kind" required {
                        option value="" { "choose…" }
                        @for k in FORM_KINDS {
                            option value=(k.as_str()) selected[selected(&form.kind, k.as_str())] { (k.as_str()) }
                        }
                    }
                }
                p { label for="title" { "Title" } input #title name="title" required maxlength="300" value=(form.title); }
                p { label for="summary" { "Summary" } textarea #summary name="summary" rows="4" { (form.summary) } }
                p {
                    label for="severity" { "Severity" }
                    select #severity name="severity" {
                        option value="" { "not given" }
                        @for v in cairn_core::Severity::ALL {
                            option value=(v.as_str()) selected[selected(&form.severity, v.as_str())] { (v.as_str()) }
                        }
                    }
                }
                p { label for="confidence" { "Confidence (0-100; 50 when empty)" } input #confidence name="confidence" type="number" min="0" max="100" value=(form.confidence); }
                p { label for="language" { "Language of the title and summary (en, fr, pt-BR…)" } input #language name="language" value=(form.language); }
            }
            fieldset {
                legend { "Who may see it" }
                p {
                    label for="tlp" { "TLP" }
                    select #tlp name="tlp" required {
                        option value="" { "choose…" }
                        @for t in cairn_core::Tlp::ALL {
                            option value=(t.as_str()) selected[selected(&form.tlp, t.as_str())] { (tlp_label(*t)) }
                        }
                    }
                }
                p {
                    label for="scope" { "Distribution" }
                    select #scope name="scope" {
                        option value="" { "the default for its TLP" }
                        @for v in cairn_core::Scope::ALL {
                            option value=(v.as_str()) selected[selected(&form.scope, v.as_str())] { (v.as_str()) }
                        }
                    }
                }
                p { label for="hop_limit" { "Hop limit (community distribution; 2 when empty)" } input #hop_limit name="hop_limit" type="number" min="1" max="16" value=(form.hop_limit); }
                p { label for="community" { "Community (sharing group) it is addressed to" } input #community name="community" value=(form.community); }
                p { label for="recipients" { "Named recipients for TLP:RED (organisation keys, one per line)" } textarea #recipients name="recipients" rows="2" { (form.recipients) } }
            }
            fieldset {
                legend { "Indicators and context" }
                p {
                    label for="indicators" { "Indicators, one per line as TYPE:VALUE" }
                    textarea #indicators name="indicators" rows="5" aria-describedby="indicators-help" { (form.indicators) }
                    span #indicators-help.help { "For example ipv4:203.0.113.7, domain:bad.example, sha256:… or url:https://…" }
                }
                p { label for="tags" { "Tags (comma separated)" } input #tags name="tags" value=(form.tags); }
                p { label for="sectors" { "Sectors (comma separated)" } input #sectors name="sectors" value=(form.sectors); }
                p { label for="regions" { "Regions (comma separated)" } input #regions name="regions" value=(form.regions); }
                fieldset.principles {
                    legend { "Paris Call principles concerned" }
                    @for (i, name) in cairn_core::model::PARIS_CALL_PRINCIPLES.iter().enumerate() {
                        @let n = (i + 1).to_string();
                        label { input type="checkbox" name="principle" value=(n) checked[form.principles.contains(&n)]; " " (n) ". " (name) }
                    }
                }
                p { label for="supersedes" { "Replaces the report (its id), if this is a new version" } input #supersedes name="supersedes" value=(form.supersedes); }
            }
            fieldset.coding {
                legend { "Incident coding (incidents: what observance counts)" }
                fieldset.principles {
                    legend { "UN GGE norms concerned (A/70/174 §13)" }
                    @for n in cairn_core::coding::GgeNorm::ALL {
                        label { input type="checkbox" name="norm" value=(n.term()) checked[form.norms.iter().any(|v| v == n.term())]; " " (n.term()) ". " (n.title()) }
                    }
                }
                p { label for="countries" { "Countries affected (ISO codes, comma separated)" } input #countries name="countries" value=(form.countries) placeholder="FR, SN"; }
                fieldset.principles {
                    legend { "Kinds of operation" }
                    @for o in cairn_core::coding::Operation::ALL {
                        label { input type="checkbox" name="operation" value=(o.term()) checked[form.operations.iter().any(|v| v == o.term())]; " " (o.title()) }
                    }
                }
                p {
                    label for="impact" { "Impact" }
                    select #impact name="impact" {
                        option value="" { "not given" }
                        @for i in cairn_core::coding::ImpactLevel::ALL {
                            option value=(i.term()) selected[form.impact.trim() == i.term()] { (i.title()) }
                        }
                    }
                }
                fieldset.principles {
                    legend { "Kinds of harm" }
                    @for k in cairn_core::coding::ImpactKind::ALL {
                        label { input type="checkbox" name="impact_kind" value=(k.term()) checked[form.impact_kinds.iter().any(|v| v == k.term())]; " " (k.title()) }
                    }
                }
                p {
                    label for="attributions" { "Attribution claims, one per line" }
                    textarea #attributions name="attributions" rows="2" aria-describedby="attributions-help" { (form.attributions) }
                    span #attributions-help.help { "to=ACTOR; by=WHO CLAIMS IT; confidence=0-100, and if known actor-type=, claimant-type=, on=YYYY-MM-DD, source=; e.g. to=APT-X; by=CERT-FR; confidence=70; actor-type=nation-state; on=2026-11-30 (types: docs/VOCABULARIES.md)" }
                }
            }
            fieldset.directory {
                legend { "Directory entry (directory-entry reports: the liaison directory)" }
                p {
                    label for="entry_type" { "It offers or seeks" }
                    select #entry_type name="entry_type" {
                        option value="" { "not a directory entry" }
                        @for t in cairn_core::directory::EntryType::ALL {
                            option value=(t.term()) selected[form.entry_type.trim() == t.term()] { (t.title()) }
                        }
                    }
                }
                fieldset.principles {
                    legend { "Topics (GFCE themes)" }
                    @for t in cairn_core::directory::Topic::ALL {
                        label { input type="checkbox" name="topic" value=(t.term()) checked[form.topics.iter().any(|v| v == t.term())]; " " (t.title()) }
                    }
                }
                p { label for="entry_countries" { "Countries it concerns (ISO codes, comma separated)" } input #entry_countries name="entry_countries" value=(form.entry_countries) placeholder="SN, GH"; }
                p { label for="languages" { "Languages it works in (BCP 47, comma separated)" } input #languages name="languages" value=(form.languages) placeholder="fr, en"; }
                p { label for="contact" { "Contact" } input #contact name="contact" maxlength="512" value=(form.contact) placeholder="capacity@cert.example"; }
                p { label for="url" { "Where to read more (https://…)" } input #url name="url" type="url" maxlength="1024" value=(form.url); }
                p {
                    label for="valid_until" { "Valid until (a date; empty: until withdrawn)" }
                    input #valid_until name="valid_until" value=(form.valid_until) placeholder="2027-06-30";
                }
            }
            fieldset {
                legend { "Disclosures: each travels only to partners whose policy lets it" }
                p { label for="victim" { "Victim" } input #victim name="victim" value=(form.victim); }
                p { label for="internal_notes" { "Internal notes" } textarea #internal_notes name="internal_notes" rows="2" { (form.internal_notes) } }
                p { label for="evidence" { "Evidence (one item per line)" } textarea #evidence name="evidence" rows="3" { (form.evidence) } }
            }
            p.actions {
                button type="submit" name="action" value="preview" { "Preview who receives it" }
                " "
                button type="submit" name="action" value="publish" { "Sign and publish" }
            }
        }
        section #preview aria-live="polite" aria-labelledby="preview-heading" {
            h2 #preview-heading { "Who would receive it" }
            div #preview-body {
                @match preview {
                    PublishPreview::Empty => p { "Fill in the form: the preview follows as you type (or press Preview)." },
                    PublishPreview::Problem(problem) => p.problem role="alert" { (problem.field) ": " (problem.message) },
                    PublishPreview::Decisions(decisions, warnings) => {
                        @if !warnings.is_empty() {
                            div.warnings role="note" {
                                p { "On warning lists (known benign or reserved: is it what you meant?):" }
                                ul { @for w in warnings { li { (w) } } }
                            }
                        }
                        @if decisions.is_empty() {
                            p { "No partner in the trust list: it would go to nobody." }
                        } @else {
                            (sharing_table(decisions, "What this node's sharing rules would decide for each partner if it were published now"))
                        }
                    }
                }
            }
        }
        }
        script src="/ui/assets/publish.js" defer {}
    };
    layout("Publish", Some(viewer), Some(Section::Publish), main)
}

/// What an import did, as the import page shows it.
pub(crate) struct ImportView {
    /// The file's name as the browser sent it.
    pub(crate) file: String,
    /// STIX 2.1 or MISP.
    pub(crate) format: String,
    /// Objects (or events) the file held.
    pub(crate) objects: usize,
    /// Reports made from them.
    pub(crate) reports: usize,
    /// What became of each object.
    pub(crate) outcomes: Vec<cairn_interop::import::ObjectOutcome>,
    /// Notes on what was changed on the way in (a default TLP applied, a title shortened).
    pub(crate) notes: Vec<String>,
    /// Indicators on warning lists, in words, with the report that carries each.
    pub(crate) flagged: Vec<String>,
}

/// Rows of an import's objects shown at most; the counts cover them all.
const IMPORT_ROWS: usize = 1000;

/// The import form, and what the last import did.
pub(crate) fn import(
    viewer: &Viewer<'_>,
    default_tlp: cairn_core::Tlp,
    max_mib: usize,
    problem: Option<&str>,
    done: Option<&ImportView>,
) -> Markup {
    use cairn_interop::import::Outcome;
    let count = |wanted: Outcome| {
        done.map_or(0, |d| {
            d.outcomes.iter().filter(|o| o.outcome == wanted).count()
        })
    };
    let main = html! {
        h1 { "Import" }
        p { "A STIX 2.1 bundle or MISP event JSON (one event, a list, or a response), up to " (max_mib) " MiB (larger files with " code { "cairn import" } "). Each object becomes part of a report signed by the organisation and shared under the sharing rules, as " code { "cairn import" } " does; importing the same file again changes nothing." }
        form #import-form method="post" action="/ui/import" enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(viewer.csrf);
            p { label for="file" { "File" } input #file type="file" name="file" required accept=".json,application/json"; }
            p {
                label for="default_tlp" { "TLP for objects that carry no marking of their own" }
                select #default_tlp name="default_tlp" {
                    @for t in cairn_core::Tlp::ALL {
                        option value=(t.as_str()) selected[*t == default_tlp] { (tlp_label(*t)) }
                    }
                }
            }
            p { button type="submit" { "Import" } }
        }
        @if let Some(problem) = problem {
            p.problem role="alert" { (problem) }
        }
        @if let Some(done) = done {
            section aria-labelledby="import-result" {
                h2 #import-result { "What " (done.file) " gave" }
                dl.counts {
                    dt { "Format" } dd { (done.format) }
                    dt { "Objects read" } dd { (done.objects) }
                    dt { "Reports made" } dd { (done.reports) }
                    dt { "Imported" } dd { (count(Outcome::Imported)) }
                    dt { "New versions" } dd { (count(Outcome::Updated)) }
                    dt { "Already held" } dd { (count(Outcome::Duplicate)) }
                    dt { "Refused" } dd { (count(Outcome::Refused)) }
                }
                @if !done.notes.is_empty() {
                    h3 { "Changed on the way in" }
                    ul { @for note in &done.notes { li { (note) } } }
                }
                @if !done.flagged.is_empty() {
                    div.warnings role="note" {
                        h3 { (done.flagged.len()) " indicator(s) on warning lists" }
                        p { "Known benign or reserved values: check them before acting on them." }
                        ul {
                            @for flag in done.flagged.iter().take(IMPORT_ROWS) { li { (flag) } }
                        }
                        @if done.flagged.len() > IMPORT_ROWS { p { "… and " (done.flagged.len() - IMPORT_ROWS) " more." } }
                    }
                }
                @if !done.outcomes.is_empty() {
                    table.import {
                        caption {
                            "Each object and what became of it"
                            @if done.outcomes.len() > IMPORT_ROWS { " (the first " (IMPORT_ROWS) " of " (done.outcomes.len()) ")" }
                        }
                        thead { tr { th scope="col" { "Object" } th scope="col" { "Outcome" } th scope="col" { "What happened" } } }
                        tbody {
                            @for o in done.outcomes.iter().take(IMPORT_ROWS) {
                                tr {
                                    th scope="row" { code { (o.id) } @if let Some(v) = &o.version { br; small { (v) } } }
                                    td { (outcome_name(o.outcome)) }
                                    td {
                                        (o.message)
                                        @if let Some(report) = &o.report { " " a href={ "/ui/reports/" (report) } { "open the report" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout("Import", Some(viewer), Some(Section::Import), main)
}

fn outcome_name(outcome: cairn_interop::import::Outcome) -> &'static str {
    use cairn_interop::import::Outcome;
    match outcome {
        Outcome::Imported => "imported",
        Outcome::Updated => "new version",
        Outcome::Duplicate => "already held",
        Outcome::Refused => "refused",
    }
}

/// Objects listed readably on a report's page at most.
const STIX_ROWS: usize = 200;

/// What the report page shows of one carried STIX object.
struct StixSummary {
    kind: String,
    name: String,
    details: String,
    id: String,
}

impl StixSummary {
    /// The object's type, its name (or value, for an observable), the property that says
    /// most about it, and its id; an object that is not readable JSON is said to be so.
    fn of(text: &str) -> StixSummary {
        let Ok(object) = serde_json::from_str::<serde_json::Value>(text) else {
            return StixSummary {
                kind: "?".into(),
                name: "not readable as JSON".into(),
                details: String::new(),
                id: String::new(),
            };
        };
        let field = |name: &str| {
            object
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let kind = field("type");
        let name = ["name", "value", "key", "path", "body", "subject"]
            .iter()
            .map(|f| field(f))
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        let details = match kind.as_str() {
            "indicator" => field("pattern"),
            "relationship" => format!(
                "{} {} {}",
                field("source_ref"),
                field("relationship_type"),
                field("target_ref")
            ),
            "sighting" => format!("of {}", field("sighting_of_ref")),
            "vulnerability" | "malware" | "threat-actor" | "campaign" | "report"
            | "attack-pattern" | "tool" | "intrusion-set" | "course-of-action" | "identity"
            | "note" => {
                let mut text = field("description");
                if text.chars().count() > 200 {
                    text = text.chars().take(200).collect::<String>() + "…";
                }
                text
            }
            _ => String::new(),
        };
        StixSummary {
            kind,
            name,
            details,
            id: field("id"),
        }
    }
}

/// The liaison directory as the statistics page shows it: the current entries (of one
/// community when the page asks) and each capacity need with what matches it.
pub(crate) struct DirectoryView {
    pub(crate) entries: Vec<StoredReport>,
    pub(crate) needs: Vec<crate::directory::NeedMatches>,
}

/// Directory entries listed at most.
const DIRECTORY_ROWS: usize = 200;

fn directory_section(directory: &DirectoryView) -> Markup {
    let join = |items: &[String]| items.join(", ");
    html! {
        h2 { "Liaison directory" }
        @if directory.entries.is_empty() {
            p { "No current directory entry is held (initiatives, capacity offers and needs, donor programmes: " code { "cairn directory add" } ")." }
        } @else {
            table.directory {
                caption {
                    "Current entries, newest first"
                    @if directory.entries.len() > DIRECTORY_ROWS { " (the first " (DIRECTORY_ROWS) " of " (directory.entries.len()) ")" }
                }
                thead { tr { th scope="col" { "Entry" } th scope="col" { "Type" } th scope="col" { "Topics" } th scope="col" { "Where" } th scope="col" { "Languages" } th scope="col" { "Contact" } th scope="col" { "Valid until" } } }
                tbody {
                    @for stored in directory.entries.iter().take(DIRECTORY_ROWS) {
                        @let r = stored.report.report();
                        @if let Some(entry) = &r.directory_entry {
                            tr {
                                th scope="row" { a href={ "/ui/reports/" (stored.report.id()) } { (r.title) } }
                                td { (entry.entry_type) }
                                td { (entry.topics.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")) }
                                td { (join(&r.regions)) @if !entry.countries.is_empty() { " (" (join(&entry.countries)) ")" } }
                                td { (join(&entry.languages)) }
                                td { (entry.contact) }
                                td { @match entry.valid_until { Some(ms) => (crate::rfc3339(ms)), None => "open" } }
                            }
                        }
                    }
                }
            }
        }
        @if !directory.needs.is_empty() {
            h3 { "Capacity needs and what matches them" }
            @for need in &directory.needs {
                section.need {
                    h4 { a href={ "/ui/reports/" (need.need.report.id()) } { (need.need.report.report().title) } }
                    @if need.matches.is_empty() {
                        p { "Nothing held matches it yet." }
                    } @else {
                        ol {
                            @for m in &need.matches {
                                li {
                                    a href={ "/ui/reports/" (m.entry.report.id()) } { (m.entry.report.report().title) }
                                    " (score " (m.score) "): " (m.reasons.join("; "))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Reports in and out per day, as the overview shows them.
pub(crate) struct Traffic {
    /// The days, oldest first, as `YYYY-MM-DD`.
    pub(crate) days: Vec<String>,
    /// Per day: received from partners, published or imported here.
    pub(crate) arrived: Vec<[u64; 2]>,
    /// Per day: reports served to partners.
    pub(crate) served: Vec<u64>,
    /// Whether the oldest days count only part of their arrivals (too many to read here).
    pub(crate) cut_short: bool,
}

fn traffic_section(t: &Traffic) -> Markup {
    let bars = |values: &mut dyn Iterator<Item = u64>| -> Vec<crate::chart::Bar> {
        t.days
            .iter()
            .zip(values)
            .map(|(day, value)| crate::chart::Bar {
                label: day.clone(),
                value,
            })
            .collect()
    };
    let arrived = bars(&mut t.arrived.iter().map(|a| a[0] + a[1]));
    let served = bars(&mut t.served.iter().copied());
    html! {
        section aria-labelledby="traffic" {
            h2 #traffic { "Reports in and out, the last " (t.days.len()) " days" }
            figure {
                (maud::PreEscaped(crate::chart::horizontal_bars(
                    "chart-in",
                    "Reports stored per day",
                    "Horizontal bars, one per day, oldest first; the count is written beside each bar and in the table below.",
                    &arrived,
                )))
                figcaption { "In: reports stored per day (received from partners, published or imported here)" }
            }
            figure {
                (maud::PreEscaped(crate::chart::horizontal_bars(
                    "chart-out",
                    "Reports served to partners per day",
                    "Horizontal bars, one per day, oldest first; the count is written beside each bar and in the table below.",
                    &served,
                )))
                figcaption { "Out: reports served to partners per day" }
            }
            table {
                caption {
                    "Per day (UTC)"
                    @if t.cut_short { "; the earliest days count only the newest arrivals, too many to read here" }
                }
                thead { tr { th scope="col" { "Day" } th scope="col" { "From partners" } th scope="col" { "Published or imported here" } th scope="col" { "Served to partners" } } }
                tbody {
                    @for ((day, a), served) in t.days.iter().zip(&t.arrived).zip(&t.served) {
                        tr { th scope="row" { (day) } td { (a[0]) } td { (a[1]) } td { (served) } }
                    }
                }
            }
        }
    }
}
