//! `cairn report export --format stix`: stored reports as a STIX 2.1 bundle, with their
//! authors named as this node's configuration names them; made by the running node (through
//! its control socket) or from a stopped node's store, alike.

use std::collections::BTreeMap;

use anyhow::Result;
use cairn_core::OrgPublicKey;
use cairn_store::{Store, StoredReport};

use crate::config::NodeConfig;

/// Names of organisations as this node knows them.
pub(crate) fn names(config: &NodeConfig, us: &OrgPublicKey) -> BTreeMap<OrgPublicKey, String> {
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
        let context = cairn_api::stix_export_context(
            store,
            stored,
            names.get(&stored.report.author()).cloned(),
        )?;
        objects.extend(cairn_interop::stix::report_objects(
            &stored.report,
            &context,
        ));
    }
    Ok(cairn_interop::stix::bundle(objects))
}

/// The bundle of one report (an id or a prefix) or of every report, read from `store`.
pub fn bundle_of(
    store: &Store,
    config: &NodeConfig,
    us: &OrgPublicKey,
    report: Option<&str>,
) -> Result<(usize, serde_json::Value)> {
    let reports = match report {
        Some(id) => {
            let id = store.resolve(id)?;
            vec![
                store
                    .get(&id)?
                    .ok_or_else(|| anyhow::anyhow!("no report {id} in this node's store"))?,
            ]
        }
        None => store.after(0, usize::MAX)?,
    };
    Ok((reports.len(), bundle(store, config, us, &reports)?))
}
