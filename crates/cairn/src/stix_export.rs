//! `cairn report export --format stix`: stored reports as a STIX 2.1 bundle, with their
//! authors named as this node's configuration names them.

use std::collections::BTreeMap;

use anyhow::Result;
use cairn_core::{OrgPublicKey, ReportId, VerifiedReport};
use cairn_interop::stix::ExportContext;
use cairn_store::{Store, StoredReport};

use crate::config::NodeConfig;

/// Longest version chain followed back to its first report.
const MAX_CHAIN: usize = 256;

/// The first report of the version chain `report` belongs to (for a retraction: of the report
/// it retracts), and its creation time. Stops at a report this node does not hold.
fn first_of(store: &Store, report: &VerifiedReport) -> Result<(ReportId, i64)> {
    let author = report.author();
    let mut current = match report.report().retracts {
        Some(target) => match store.get(&target)? {
            Some(t) => t.report,
            None => return Ok((target, report.report().created_ms)),
        },
        None => report.clone(),
    };
    for _ in 0..MAX_CHAIN {
        let Some(previous) = current.report().supersedes else {
            break;
        };
        match store.get(&previous)? {
            Some(p) if p.report.author() == author => current = p.report,
            _ => break,
        }
    }
    Ok((current.id(), current.report().created_ms))
}

/// Names of organisations as this node knows them.
fn names(config: &NodeConfig, us: &OrgPublicKey) -> BTreeMap<OrgPublicKey, String> {
    let mut names: BTreeMap<OrgPublicKey, String> = config
        .sharing()
        .partners()
        .into_iter()
        .map(|p| (p.org, p.name))
        .collect();
    names.insert(*us, config.node.organisation.clone());
    names
}

/// A STIX 2.1 bundle of these stored reports.
pub fn bundle(
    store: &Store,
    config: &NodeConfig,
    us: &OrgPublicKey,
    reports: &[StoredReport],
) -> Result<serde_json::Value> {
    let names = names(config, us);
    let mut objects = Vec::new();
    for stored in reports {
        let context = ExportContext {
            author_name: names.get(&stored.report.author()).cloned(),
            first: first_of(store, &stored.report)?,
        };
        objects.extend(cairn_interop::stix::report_objects(
            &stored.report,
            &context,
        ));
    }
    Ok(cairn_interop::stix::bundle(objects))
}
