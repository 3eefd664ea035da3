//! Observance trends over what a node holds: the counts of current incident reports by Paris
//! Call principle, region, sector and quarter (`cairn_core::observance`), read from the store
//! a page at a time, and their one JSON view, which `GET /api/v1/observance` and
//! `cairn observance --json` both give.

use cairn_core::observance::{self, Counts, Publishing};
use cairn_core::{OrgPublicKey, ReportKind};
use cairn_store::{ReportQuery, Store};
use serde::{Deserialize, Serialize};

/// Which reports are counted, and how the counts are shown.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObservanceQuery {
    /// Only reports this node's organisation wrote (what it may publish as its own figures).
    pub mine: bool,
    /// Cells under this count are left out (none unless set).
    pub min_count: Option<u64>,
    /// Only this region.
    pub region: Option<String>,
    /// Only this sector.
    pub sector: Option<String>,
    /// Only this principle.
    pub principle: Option<u8>,
}

/// One cell of the trends as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservanceCell {
    /// `2026-Q4`.
    pub quarter: String,
    /// The Paris Call principle, 1-9.
    pub principle: u8,
    /// Its short name.
    pub principle_name: String,
    /// The region, or `unspecified`.
    pub region: String,
    /// The sector, or `unspecified`.
    pub sector: String,
    /// How many reports.
    pub count: u64,
}

/// The trends as JSON: the cells, in order of quarter, principle, region and sector, and what
/// was left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservanceView {
    /// Reports counted.
    pub reports: u64,
    /// Whether only this organisation's own reports were counted.
    pub mine: bool,
    /// The smallest count shown.
    pub min_count: u64,
    /// Cells left out for being smaller.
    pub suppressed: usize,
    /// The cells.
    pub cells: Vec<ObservanceCell>,
}

/// Counts the current incident reports of `store` (those `author` wrote, if given). Returns the
/// counts and how many reports were counted.
pub fn held_counts(
    store: &Store,
    author: Option<OrgPublicKey>,
) -> Result<(Counts, u64), cairn_store::ReadError> {
    const PAGE: usize = 1000;
    let mut counts = Counts::new();
    let mut reports = 0u64;
    let mut before = None;
    loop {
        let page = store.query(&ReportQuery {
            author,
            kind: Some(ReportKind::Incident),
            limit: PAGE,
            before,
            ..ReportQuery::default()
        })?;
        let Some(last) = page.last() else { break };
        before = Some((last.report.report().created_ms, last.seq));
        for stored in &page {
            let cells = observance::cells_of(stored.report.report());
            if !cells.is_empty() {
                reports += 1;
            }
            for cell in cells {
                *counts.entry(cell).or_default() += 1;
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    Ok((counts, reports))
}

/// Why the trends could not be given.
#[derive(Debug, thiserror::Error)]
pub enum ObservanceError {
    /// The store could not be read.
    #[error("reading the store: {0}")]
    Read(#[from] cairn_store::ReadError),
    /// The counts could not be made fit to show.
    #[error(transparent)]
    Publish(#[from] observance::PublishError),
}

/// The trends of `store` as `query` asks for them.
pub fn view(
    store: &Store,
    us: OrgPublicKey,
    query: &ObservanceQuery,
) -> Result<ObservanceView, ObservanceError> {
    let (mut counts, reports) = held_counts(store, query.mine.then_some(us))?;
    counts.retain(|cell, _| {
        query.region.as_ref().is_none_or(|r| *r == cell.region)
            && query.sector.as_ref().is_none_or(|s| *s == cell.sector)
            && query.principle.is_none_or(|p| p == cell.principle)
    });
    let publishing = Publishing {
        min_count: query.min_count.unwrap_or(1),
        epsilon: None,
    };
    let aggregate = observance::publishable(&counts, publishing, &mut rand::rngs::OsRng)?;
    Ok(ObservanceView {
        reports,
        mine: query.mine,
        min_count: aggregate.min_count,
        suppressed: aggregate.suppressed,
        cells: aggregate
            .counts
            .into_iter()
            .map(|(cell, count)| ObservanceCell {
                quarter: cell.quarter.to_string(),
                principle: cell.principle,
                principle_name: cairn_core::model::paris_call_principle(cell.principle)
                    .unwrap_or_default()
                    .to_string(),
                region: cell.region,
                sector: cell.sector,
                count,
            })
            .collect(),
    })
}
