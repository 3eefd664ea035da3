//! `cairn demo`: three organisations (a national CERT, a bank, an NGO) run real nodes on
//! 127.0.0.1 with the example configurations of deploy/federation/, publish reports of every
//! TLP level and scope, and the demo shows per organisation what arrived, what was withheld
//! and why. It stops by itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use cairn_core::{
    IndicatorDraft, IndicatorType, OrgKey, OrgPublicKey, ReportDraft, ReportKind, Scope, Severity,
    Tlp, VerifiedReport,
};
use cairn_node::{NodeHandle, NodeSettings};
use cairn_policy::{Holding, OutboundDecision, decide_outbound};
use tokio_util::sync::CancellationToken;

use crate::config::NodeConfig;
use crate::home::{Home, now_ms};

/// An example organisation: its folder name, its configuration template, and the key, PeerId
/// and address the templates use for it (replaced by the real ones).
struct Example {
    short: &'static str,
    template: &'static str,
    org_key: &'static str,
    peer_id: &'static str,
    address: Option<&'static str>,
}

const EXAMPLES: [Example; 3] = [
    Example {
        short: "cert",
        template: include_str!("../../../deploy/federation/cert.toml"),
        org_key: "6a4f41b3cbf1c0581a199ac754959e33f845cf97039fe386a13ac974bc2ebb47",
        peer_id: "12D3KooWRqvQFJYngvkFTWYwZBMAuccX7Y38FXDu3RwmMNYpVmfN",
        address: Some("/ip4/192.0.2.10/tcp/7400"),
    },
    Example {
        short: "bank",
        template: include_str!("../../../deploy/federation/bank.toml"),
        org_key: "6b358a0a174b4804ae98dff3ecfec3dd076fbc8d5d37e7ed7ffa3cd1f9026d6e",
        peer_id: "12D3KooWDgYk4Lk47omVHLrs66WJ9Vz9ctTFJrBYBM3mQYEYFuqs",
        address: Some("/ip4/192.0.2.20/tcp/7400"),
    },
    Example {
        short: "ngo",
        template: include_str!("../../../deploy/federation/ngo.toml"),
        org_key: "9b2bbc69f8355a8dd7ce8a67c94d74ac8483c0e047c84c6eb33c48703ed82996",
        peer_id: "12D3KooWHrX8exo3v3Tq7j9XSRbTvWSAFQtZ1eMpCg3VLgrkfon1",
        address: None,
    },
];

/// One running member of the demo federation.
struct Member {
    name: String,
    org: OrgKey,
    settings: NodeSettings,
    node: NodeHandle,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Writes the example configurations with this run's keys, PeerIds and loopback ports.
fn prepare(root: &Path) -> Result<Vec<Home>> {
    let mut homes = Vec::new();
    let mut real = Vec::new();
    for example in &EXAMPLES {
        let home = Home::new(&root.join(example.short));
        let organisation = NodeConfig::organisation_in(example.template)?;
        let init = home.init(&organisation, &format!("{}-1", example.short), None, None)?;
        real.push((init.org.public().to_string(), init.peer_id, free_port()?));
        homes.push(home);
    }
    for (i, example) in EXAMPLES.iter().enumerate() {
        let mut text = example.template.to_string();
        for (j, other) in EXAMPLES.iter().enumerate() {
            let (key, peer, port) = &real[j];
            text = text
                .replace(other.org_key, key)
                .replace(other.peer_id, peer);
            if let Some(address) = other.address {
                text = text.replace(address, &format!("/ip4/127.0.0.1/tcp/{port}"));
            }
        }
        let listen = format!("listen = [\"/ip4/127.0.0.1/tcp/{}\"]", real[i].2);
        text = text
            .lines()
            .map(|l| {
                if l.starts_with("listen = ") {
                    listen.as_str()
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let path = homes[i].config_path();
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        NodeConfig::load(&path)?;
    }
    Ok(homes)
}

fn indicator(kind: IndicatorType, value: &str) -> IndicatorDraft {
    IndicatorDraft {
        kind,
        value: value.to_string(),
        description: String::new(),
        file: 0,
        valid_from: None,
        valid_until: None,
    }
}

struct Publication {
    author: usize,
    draft: ReportDraft,
}

fn draft(kind: ReportKind, tlp: Tlp, title: &str, summary: &str) -> ReportDraft {
    ReportDraft {
        kind: Some(kind),
        title: title.to_string(),
        summary: summary.to_string(),
        severity: Some(Severity::High),
        confidence: Some(80),
        tlp: Some(tlp),
        ..ReportDraft::default()
    }
}

/// What each organisation publishes: every TLP level and scope, and the cases that show the
/// sharing rules at work.
fn publications(bank: OrgPublicKey) -> Vec<Publication> {
    let mut list = Vec::new();
    let mut d = draft(
        ReportKind::Advisory,
        Tlp::Clear,
        "VPN appliances exploited by a ransomware group",
        "Patch the appliances now; the group moves to ransomware within 48 hours.",
    );
    d.scope = Some(Scope::Unrestricted);
    d.sectors = vec!["finance".into(), "health".into()];
    d.tags = vec!["ransomware".into()];
    list.push(Publication {
        author: 0,
        draft: d,
    });

    let mut d = draft(
        ReportKind::Indicator,
        Tlp::Green,
        "Phishing kit imitating Bank-A's login page",
        "Kit hosted on fresh domains, rotated daily.",
    );
    d.scope = Some(Scope::Community);
    d.hop_limit = Some(2);
    d.sectors = vec!["finance".into()];
    d.indicators = vec![
        indicator(IndicatorType::Domain, "login-bank-a.example"),
        indicator(IndicatorType::Ipv4, "198.51.100.7"),
    ];
    d.victim = Some("Customers of Bank-A".into());
    list.push(Publication {
        author: 0,
        draft: d,
    });

    let mut d = draft(
        ReportKind::Incident,
        Tlp::Amber,
        "Intrusion at a regional hospital",
        "Lateral movement from a contractor's account; backups intact.",
    );
    d.sectors = vec!["health".into()];
    d.victim = Some("Hôpital régional (name withheld)".into());
    list.push(Publication {
        author: 0,
        draft: d,
    });

    let mut d = draft(
        ReportKind::Indicator,
        Tlp::Red,
        "Mule accounts used in a wire-fraud case",
        "For Bank-A's fraud team only.",
    );
    d.recipients = vec![bank];
    d.sectors = vec!["finance".into()];
    d.indicators = vec![indicator(
        IndicatorType::Email,
        "payments@mule-example.example",
    )];
    list.push(Publication {
        author: 0,
        draft: d,
    });

    let mut d = draft(
        ReportKind::Indicator,
        Tlp::Green,
        "Command servers seized by the police",
        "Still answering; connections to them mean an infected host.",
    );
    d.sectors = vec!["finance".into()];
    d.tags = vec!["law-enforcement".into()];
    d.indicators = vec![indicator(IndicatorType::Ipv4, "203.0.113.50")];
    list.push(Publication {
        author: 0,
        draft: d,
    });

    let mut d = draft(
        ReportKind::Indicator,
        Tlp::Green,
        "Card-skimming malware on ATMs",
        "Sample hash and its drop server.",
    );
    d.scope = Some(Scope::Community);
    d.hop_limit = Some(2);
    d.sectors = vec!["finance".into()];
    d.indicators = vec![indicator(
        IndicatorType::Sha256,
        "5f2b8d1c9a3e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8",
    )];
    d.internal_notes = Some("Found by the branch network team".into());
    list.push(Publication {
        author: 1,
        draft: d,
    });

    let mut d = draft(
        ReportKind::Incident,
        Tlp::Amber,
        "Fraud by an insider",
        "For the CERT only: never relayed.",
    );
    d.sectors = vec!["finance".into()];
    list.push(Publication {
        author: 1,
        draft: d,
    });

    let mut d = draft(
        ReportKind::Indicator,
        Tlp::Green,
        "Payment-message credential theft",
        "Addressed to the financial sector's sharing group only.",
    );
    d.scope = Some(Scope::Community);
    d.community = Some("finance-isac".into());
    d.sectors = vec!["finance".into()];
    d.indicators = vec![indicator(IndicatorType::Domain, "swift-update.example")];
    list.push(Publication {
        author: 1,
        draft: d,
    });

    let mut d = draft(
        ReportKind::Incident,
        Tlp::Green,
        "Spyware sent to journalists",
        "Links in messages impersonating a press agency.",
    );
    d.scope = Some(Scope::Community);
    d.hop_limit = Some(2);
    d.sectors = vec!["civil-society".into()];
    d.paris_call_principles = vec![1];
    d.indicators = vec![indicator(
        IndicatorType::Domain,
        "press-agency-news.example",
    )];
    d.victim = Some("An investigative newsroom".into());
    list.push(Publication {
        author: 2,
        draft: d,
    });

    let mut d = draft(
        ReportKind::Indicator,
        Tlp::Amber,
        "Harassment campaign infrastructure",
        "Accounts and servers behind a harassment campaign.",
    );
    d.indicators = vec![indicator(IndicatorType::Ipv4, "192.0.2.99")];
    list.push(Publication {
        author: 2,
        draft: d,
    });
    list
}

/// Runs the demo in a temporary folder, or in `keep` (left in place afterwards).
pub fn run(keep: Option<&Path>) -> Result<ExitCode> {
    let temp;
    let root: PathBuf = match keep {
        Some(dir) => dir.to_path_buf(),
        None => {
            temp = tempfile::Builder::new().prefix("cairn-demo-").tempdir()?;
            temp.path().to_path_buf()
        }
    };
    println!(
        "Cairn demo: a national CERT, a bank and an NGO each run a node on this machine\n\
         (127.0.0.1) and share reports over libp2p, each under its own rules\n\
         (deploy/federation/*.toml). The bank and the NGO do not know each other: the CERT\n\
         relays between them when a report's marking allows it."
    );
    println!("\n[1/5] Creating the three organisations: keys, certified nodes, configurations");
    let homes = prepare(&root)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let shutdown = CancellationToken::new();
    let result = runtime.block_on(federation(&homes, shutdown.clone()));
    shutdown.cancel();
    if let Some(dir) = keep {
        println!(
            "\nThe three nodes' folders are in {} (run `cairn --home {}/cert run` to start one).",
            dir.display(),
            dir.display()
        );
    }
    result
}

async fn federation(homes: &[Home], shutdown: CancellationToken) -> Result<ExitCode> {
    let mut members = Vec::new();
    for home in homes {
        let settings = crate::run::settings(home)?;
        let node = cairn_node::start(settings.clone(), shutdown.clone())
            .await
            .context("a demo node did not start")?;
        println!(
            "    {:<16} node {}  listening on {}",
            settings.organisation,
            node.peer_id(),
            node.listen_addresses().join(", ")
        );
        members.push(Member {
            name: settings.organisation.clone(),
            org: home.org_key()?,
            settings,
            node,
        });
    }

    println!("\n[2/5] Connecting: each node proves its organisation with its node certificate");
    let start = Instant::now();
    loop {
        let mut all = true;
        for m in &members {
            let peers = m.node.peers().await?;
            all &= peers.iter().all(|p| p.connected);
        }
        if all {
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("the demo nodes did not connect within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    println!(
        "    cert <-> bank and cert <-> ngo connected in {} ms",
        start.elapsed().as_millis()
    );

    println!("\n[3/5] Publishing: every TLP level and scope, each report signed by its author");
    let bank_key = members[1].org.public();
    let mut published: Vec<(usize, VerifiedReport)> = Vec::new();
    for p in publications(bank_key) {
        let report = p
            .draft
            .sign(&members[p.author].org, &mut rand::rngs::OsRng)
            .context("a demo report is not valid")?;
        members[p.author].node.publish(vec![report.clone()]).await?;
        let r = report.report();
        println!(
            "    {:<16} {:<13} {:<10} {}",
            members[p.author].name,
            r.tlp.official(),
            r.kind.to_string(),
            r.title
        );
        published.push((p.author, report));
    }
    let settled = settle(&members, &published).await;
    println!(
        "    (every report was where it may be {} ms after the last publication: notified,\n     pulled, verified, stored durably, relayed)",
        settled.as_millis()
    );

    println!("\n[4/5] What each organisation received, and what it did not, and why");
    for (i, m) in members.iter().enumerate() {
        println!("\n  {} ({})", m.name, EXAMPLES[i].short);
        let mut received = Vec::new();
        let mut missing = Vec::new();
        for (author, report) in &published {
            if *author == i {
                continue;
            }
            match m.node.store().get(&report.id())? {
                Some(held) => received.push((author, report, held)),
                None => missing.push((author, report)),
            }
        }
        println!("    received:");
        for (author, report, held) in &received {
            let r = report.report();
            let via = match held.provenance {
                cairn_store::Provenance::Peer { org, hop } if org != report.author() => {
                    format!(
                        ", relayed by {} (hop {})",
                        members
                            .iter()
                            .find(|x| x.org.public() == org)
                            .map_or("?", |x| x.name.as_str()),
                        hop + 1
                    )
                }
                _ => String::new(),
            };
            let withheld = held.report.withheld();
            println!(
                "      + {:<13} {:<48} from {}{via}{}",
                r.tlp.official(),
                r.title,
                members[**author].name,
                if withheld > 0 {
                    format!("; {withheld} disclosure(s) withheld")
                } else {
                    String::new()
                }
            );
        }
        if received.is_empty() {
            println!("      (nothing)");
        }
        println!("    not received:");
        if missing.is_empty() {
            println!("      (nothing: everything the others published reached it)");
        }
        for (author, report) in &missing {
            println!(
                "      - {:<13} {:<48} from {}: {}",
                report.report().tlp.official(),
                report.report().title,
                members[**author].name,
                why_not(&members, i, report)?
            );
        }
    }

    println!("\n[5/5] The audit trail: who received the phishing-kit report from the CERT");
    let phishing = &published[1].1;
    for entry in members[0].node.audit(phishing.id()).await? {
        println!(
            "    {}  {:<10} node {}",
            crate::view::rfc3339(entry.at_ms),
            entry.partner,
            entry.peer_id
        );
    }
    println!("\n  The CERT's partners (`cairn peers`):");
    let table = crate::operate::peers_table(&members[0].node.peers().await?, now_ms());
    for line in table.lines() {
        println!("    {line}");
    }

    shutdown.cancel();
    for m in &members {
        m.node.stopped().await;
    }
    println!(
        "\nAll three nodes stopped cleanly. Next: deploy/OPERATOR-GUIDE.md sets up a real node."
    );
    Ok(ExitCode::SUCCESS)
}

/// Waits until every report is wherever the rules let it go (no partner holding it would still
/// share it with someone who lacks it) and nothing has arrived for a moment, at most 30 s;
/// returns when the last report arrived.
async fn settle(members: &[Member], published: &[(usize, VerifiedReport)]) -> Duration {
    let start = Instant::now();
    let mut last = Vec::new();
    let mut last_change = Duration::ZERO;
    while start.elapsed() < Duration::from_secs(30) {
        let mut counts = Vec::new();
        for m in members {
            counts.push(m.node.store().last_seq().unwrap_or(0));
        }
        if counts != last {
            last = counts;
            last_change = start.elapsed();
        } else if start.elapsed() - last_change > Duration::from_millis(300)
            && !pending(members, published)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    last_change
}

/// Whether some report may still go somewhere it has not reached.
fn pending(members: &[Member], published: &[(usize, VerifiedReport)]) -> bool {
    published.iter().any(|(author, report)| {
        members.iter().enumerate().any(|(i, m)| {
            i != *author
                && matches!(m.node.store().get(&report.id()), Ok(None))
                && why_not(members, i, report).is_ok_and(|why| why.contains(NOT_YET))
        })
    })
}

/// What `why_not` says of a report a partner may receive but has not yet.
const NOT_YET: &str = "allowed, not yet arrived";

/// Why member `i` did not receive `report`: the decision of each of its partners that holds
/// it, in their own words.
fn why_not(members: &[Member], i: usize, report: &VerifiedReport) -> Result<String> {
    let me = members[i].org.public();
    let mut reasons: BTreeMap<String, String> = BTreeMap::new();
    for holder in members.iter() {
        let Some(as_partner) = holder
            .settings
            .partners
            .iter()
            .find(|p| p.partner.org == me)
        else {
            continue;
        };
        let Some(held) = holder.node.store().get(&report.id())? else {
            continue;
        };
        let us = holder.org.public();
        let hop = cairn_node::exchange::holding_hop(&us, &held);
        let decision = decide_outbound(
            &us,
            report.report(),
            Holding {
                hop,
                now_ms: now_ms(),
                received_ms: held.received_ms,
            },
            &as_partner.partner,
            &holder.settings.communities,
        );
        let text = match decision {
            OutboundDecision::Withhold(rule) => rule.explain(),
            OutboundDecision::Share { .. } => NOT_YET.to_string(),
        };
        reasons.insert(holder.name.clone(), text);
    }
    Ok(match reasons.len() {
        0 => "none of its partners holds it".to_string(),
        _ => reasons
            .into_iter()
            .map(|(holder, why)| format!("{holder} says {why}"))
            .collect::<Vec<_>>()
            .join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_carry_the_placeholders_the_demo_replaces() {
        for e in &EXAMPLES {
            for other in &EXAMPLES {
                if other.short == e.short {
                    continue;
                }
                // Each template names its partners by these keys, PeerIds and addresses.
                if e.template.contains(other.org_key) {
                    assert!(e.template.contains(other.peer_id), "{}", e.short);
                }
            }
            assert!(e.template.lines().any(|l| l.starts_with("listen = ")));
        }
    }
}
