//! `cairn demo`: a guided walk-through on a temporary node, showing what Cairn does for a CERT.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_core::{
    DisclosureField, IndicatorDraft, IndicatorType, OrgKey, ReportDraft, ReportKind, Severity, Tlp,
    sample,
};
use cairn_store::{ReportQuery, ReportStatus};

use crate::home::Home;
use crate::reports::{publish, published_line, verified_line};
use crate::view;

fn step(n: usize, text: &str) {
    println!("\n[{n}/8] {text}");
}

fn indent(text: &str) {
    for line in text.lines() {
        println!("    {line}");
    }
}

/// Runs the demo in a temporary folder, or in `keep` (left in place afterwards).
pub fn run(keep: Option<&Path>) -> Result<ExitCode> {
    let temp;
    let root = match keep {
        Some(dir) => dir.to_path_buf(),
        None => {
            temp = tempfile::Builder::new().prefix("cairn-demo-").tempdir()?;
            temp.path().join("cert-demo")
        }
    };
    println!("Cairn demo: one node of a national CERT publishes, checks and shares reports.");
    let home = Home::new(&root);

    step(
        1,
        "Creating the node: an organisation signing key and a certified node key",
    );
    let init = home.init("CERT-Demo", "node-1", None, None)?;
    indent(&format!(
        "home folder       {}\norganisation key  {}\nnode PeerId       {}",
        root.display(),
        init.org.public(),
        init.peer_id
    ));
    let store = home.open_store()?;
    let us = init.org.public();
    // A partner ministry, named as the recipient of a TLP:RED report.
    let ministry = OrgKey::generate(&mut rand::rngs::OsRng).public();

    step(
        2,
        "Publishing reports of several kinds and TLP levels (each signed, stored durably)",
    );
    let mut rng = rand::rngs::OsRng;
    let advisory = publish(&home, &store, &ReportDraft {
        kind: Some(ReportKind::Advisory),
        title: "Patch internet-facing VPN gateways now".into(),
        summary: "Mass exploitation of a VPN gateway flaw is under way. Patch, then hunt for web shells.".into(),
        severity: Some(Severity::High),
        tlp: Some(Tlp::Clear),
        tags: vec!["vpn".into(), "patching".into()],
        paris_call_principles: vec![6, 7],
        indicators: vec![IndicatorDraft { kind: IndicatorType::Cve, value: "CVE-2024-3400".into(), description: String::new(), file: 0, valid_from: None, valid_until: None }],
        ..ReportDraft::default()
    })?;
    indent(&published_line(&advisory));
    let phishing = publish(&home, &store, &sample::indicator_report(&mut rng, 1))?;
    indent(&published_line(&phishing));
    let incident = publish(&home, &store, &ReportDraft {
        kind: Some(ReportKind::Incident),
        title: "Ransomware intrusion at a regional hospital".into(),
        summary: "Initial access through the VPN flaw, lateral movement over RDP, encryption of the imaging servers.".into(),
        severity: Some(Severity::Critical),
        confidence: Some(90),
        tlp: Some(Tlp::Amber),
        tags: vec!["ransomware".into()],
        sectors: vec!["health".into()],
        regions: vec!["fr".into()],
        paris_call_principles: vec![1],
        indicators: vec![
            IndicatorDraft { kind: IndicatorType::Ipv4, value: "203.0.113.77".into(), description: "C2 server".into(), file: 0, valid_from: None, valid_until: None },
            IndicatorDraft { kind: IndicatorType::Sha256, value: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(), description: "encryptor".into(), file: 0, valid_from: None, valid_until: None },
        ],
        victim: Some("Centre Hospitalier Exemple, imaging department".into()),
        internal_notes: Some("Ransom note matches last month's case 2026-114.".into()),
        ..ReportDraft::default()
    })?;
    indent(&published_line(&incident));
    let vulnerability = publish(
        &home,
        &store,
        &ReportDraft {
            kind: Some(ReportKind::Vulnerability),
            title: "Unpatched flaw in a ministry's mail gateway".into(),
            severity: Some(Severity::Critical),
            tlp: Some(Tlp::Red),
            recipients: vec![ministry],
            ..ReportDraft::default()
        },
    )?;
    indent(&published_line(&vulnerability));
    indent(&format!(
        "(TLP:RED: only the named recipient {} may ever receive it)",
        ministry.short()
    ));

    step(3, "Listing what the node holds (cairn report list)");
    indent(&view::table(&store.query(&ReportQuery::default())?, &us));

    step(
        4,
        "Searching by indicator (cairn report list --indicator 203.0.113.77)",
    );
    let hits = store.query(&ReportQuery {
        indicator: Some("203.0.113.77".into()),
        ..ReportQuery::default()
    })?;
    indent(&view::table(&hits, &us));

    step(
        5,
        "Who may receive each report: the sharing rules for three partners (cairn policy explain)",
    );
    let partners = demo_partners(ministry);
    indent(
        "bank-a: up to TLP:AMBER, never the victim or internal notes; ngo-watch: up to TLP:GREEN, no disclosures; ministry: everything its marking allows",
    );
    for report in [&advisory, &phishing, &incident, &vulnerability] {
        let r = report.report();
        indent(&format!("{} ({}, {}):", r.title, r.kind, r.tlp.official()));
        for partner in &partners {
            let decision = cairn_policy::decide_outbound(
                &us,
                r,
                cairn_policy::Holding {
                    hop: 0,
                    now_ms: crate::home::now_ms(),
                    received_ms: crate::home::now_ms(),
                },
                partner,
                &cairn_policy::Communities::default(),
            );
            let line = match &decision {
                cairn_policy::OutboundDecision::Share { withhold, rule } => {
                    let present: Vec<&str> = report
                        .disclosures()
                        .iter()
                        .filter(|d| withhold.contains(&d.field))
                        .map(|d| d.field.as_str())
                        .collect();
                    let without = if present.is_empty() {
                        String::new()
                    } else {
                        format!(" without {}", present.join(", "))
                    };
                    format!("receives it{without}: {}", rule.explain())
                }
                cairn_policy::OutboundDecision::Withhold(rule) => {
                    format!("does not: {}", rule.explain())
                }
            };
            indent(&format!("  {:<10} {line}", partner.name));
        }
    }

    step(
        6,
        "Sharing the incident without the victim's name, then verifying the copy",
    );
    let copy = incident.withhold(&[DisclosureField::Victim]);
    let file = root.join("incident-for-partners.cairn");
    std::fs::write(&file, copy.envelope_bytes())
        .with_context(|| format!("cannot write {}", file.display()))?;
    indent(&format!(
        "cairn report export {} --withhold victim --out {}",
        incident.id().short(),
        file.display()
    ));
    let checked = cairn_core::verify(&std::fs::read(&file)?)?;
    indent(&verified_line(&checked));
    for d in checked.disclosures() {
        indent(&format!(
            "  disclosed  {:<15} {}",
            d.field.as_str(),
            d.value
        ));
    }
    indent(&format!(
        "  withheld   {} disclosure(s): the recipient sees that something was withheld, not what",
        checked.withheld()
    ));
    let mut tampered = copy.envelope_bytes().to_vec();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    match cairn_core::verify(&tampered) {
        Ok(_) => anyhow::bail!("a tampered copy verified: this must never happen"),
        Err(e) => indent(&format!("One flipped bit in the copy: refused ({e})")),
    }

    step(7, "Publishing a new version and retracting the advisory");
    let mut update = ReportDraft::new_version_of(&phishing);
    update.title = format!("{} - updated with new domains", phishing.report().title);
    update.indicators.push(IndicatorDraft {
        kind: IndicatorType::Domain,
        value: "secure-login-portal.example".into(),
        description: String::new(),
        file: 0,
        valid_from: None,
        valid_until: None,
    });
    let v2 = publish(&home, &store, &update)?;
    indent(&format!(
        "{}\n  supersedes {}",
        published_line(&v2),
        phishing.id()
    ));
    let tombstone = cairn_core::retract(
        &advisory,
        "Issued for the wrong product line",
        &init.org,
        &mut rng,
    )?;
    store.insert(vec![tombstone.clone()], cairn_store::Provenance::Local)?;
    indent(&format!(
        "Retracted report {} with signed retraction {}",
        advisory.id().short(),
        tombstone.id().short()
    ));
    indent("The list now shows the latest version only, and no retracted report:");
    indent(&view::table(&store.query(&ReportQuery::default())?, &us));
    indent(&format!(
        "History of {} (cairn report history):",
        phishing.id().short()
    ));
    for version in store.history(&v2.id())? {
        let status = match store.status(&version.report)? {
            ReportStatus::Current => "current".to_string(),
            ReportStatus::SupersededBy(id) => format!("superseded by {}", id.short()),
            ReportStatus::Retracted(id) => format!("retracted by {}", id.short()),
        };
        indent(&format!(
            "  {}  {}  ({status})",
            version.report.id().short(),
            version.report.report().title
        ));
    }

    step(8, "Done");
    indent(&format!(
        "{} reports stored, highest arrival number #{}.",
        store.len()?,
        store.last_seq()?
    ));
    match keep {
        Some(dir) => indent(&format!(
            "The demo node stays in {}: try `cairn --home {} report list`.",
            dir.display(),
            dir.display()
        )),
        None => indent(
            "The temporary node is removed. Run `cairn demo --keep DIR` to keep it and explore.",
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// The partners of the demo's CERT, with the policies of deploy/node.example.toml.
fn demo_partners(ministry: cairn_core::OrgPublicKey) -> Vec<cairn_policy::Partner> {
    use cairn_policy::{OrgKind, OutboundPolicy, Partner};
    use std::collections::BTreeSet;
    let mut rng = rand::rngs::OsRng;
    let partner = |name: &str, org, kind, policy| Partner {
        org,
        name: name.to_string(),
        kind,
        sector: None,
        region: None,
        policy,
    };
    vec![
        partner(
            "bank-a",
            OrgKey::generate(&mut rng).public(),
            OrgKind::Company,
            OutboundPolicy {
                max_tlp: Some(Tlp::Amber),
                withhold: BTreeSet::from([DisclosureField::Victim, DisclosureField::InternalNotes]),
                ..OutboundPolicy::default()
            },
        ),
        partner(
            "ngo-watch",
            OrgKey::generate(&mut rng).public(),
            OrgKind::Ngo,
            OutboundPolicy {
                max_tlp: Some(Tlp::Green),
                withhold: DisclosureField::ALL.iter().copied().collect(),
                ..OutboundPolicy::default()
            },
        ),
        partner(
            "ministry",
            ministry,
            OrgKind::Government,
            OutboundPolicy {
                max_tlp: Some(Tlp::Red),
                ..OutboundPolicy::default()
            },
        ),
    ]
}
