//! Observance trends over what a node holds: the counts of current incident reports by Paris
//! Call principle or UN GGE norm, region, sector and quarter (`cairn_core::observance`), read from the store
//! a page at a time, and their one JSON view, which `GET /api/v1/observance` and
//! `cairn observance --json` both give. Also an organisation's own figures made fit to publish
//! as a TLP:CLEAR report ([`figures_draft`]), and the federation's trends: the latest figures
//! each organisation published, merged ([`latest_figures`]).

use cairn_core::coding::GgeNorm;
use cairn_core::observance::{self, Aggregate, Counts, Measure, Publishing};
use cairn_core::{OrgPublicKey, ReportDraft, ReportId, ReportKind, Tlp};
use cairn_store::{ReportQuery, Store};
use serde::{Deserialize, Serialize};

/// Which reports are counted, and how the counts are shown.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObservanceQuery {
    /// Only reports this node's organisation wrote (what it may publish as its own figures).
    pub mine: bool,
    /// The federation's trends instead: the latest observance figures each organisation
    /// published (as this node holds them), merged.
    pub federation: bool,
    /// Cells under this count are left out (none unless set).
    pub min_count: Option<u64>,
    /// Only this region.
    pub region: Option<String>,
    /// Only this sector.
    pub sector: Option<String>,
    /// Only this principle.
    pub principle: Option<u8>,
    /// Only this UN GGE norm (a-k).
    pub norm: Option<String>,
    /// Only principles, or only norms (`principles`, `norms`; both unless set).
    pub measures: Option<String>,
    /// A regional cluster: only incident reports addressed to this community, or with
    /// `federation`, the figures published to it.
    pub community: Option<String>,
}

/// One cell of the trends as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservanceCell {
    /// `2026-Q4`.
    pub quarter: String,
    /// The Paris Call principle, 1-9 (in a principle's cell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principle: Option<u8>,
    /// The UN GGE norm, a-k (in a norm's cell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm: Option<String>,
    /// The principle's or norm's short name.
    pub name: String,
    /// The region, or `unspecified`.
    pub region: String,
    /// The sector, or `unspecified`.
    pub sector: String,
    /// How many reports.
    pub count: u64,
}

impl ObservanceCell {
    /// What the cell counts against, briefly: `principle 3`, `norm f`.
    pub fn measure(&self) -> String {
        match (&self.principle, &self.norm) {
            (Some(p), _) => format!("principle {p}"),
            (None, Some(n)) => format!("norm {n}"),
            (None, None) => String::new(),
        }
    }
}

/// The trends as JSON: the cells, in order of quarter, principle (then norm), region and sector, and what
/// was left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservanceView {
    /// Reports counted.
    pub reports: u64,
    /// Whether only this organisation's own reports were counted.
    pub mine: bool,
    /// For the federation's trends: how many organisations' figures were merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisations: Option<u64>,
    /// The smallest count shown.
    pub min_count: u64,
    /// Cells left out for being smaller.
    pub suppressed: usize,
    /// The cells.
    pub cells: Vec<ObservanceCell>,
}

/// The counts of each quarter summed by principle or norm, over every region and sector: one
/// bar chart per quarter (`Principle 3: …`, `Norm f: …`), quarters in the view's order.
pub fn quarter_bars(view: &ObservanceView) -> Vec<(String, Vec<crate::chart::Bar>)> {
    let mut quarters: Vec<(String, Vec<crate::chart::Bar>)> = Vec::new();
    for cell in &view.cells {
        if quarters.last().is_none_or(|(q, _)| *q != cell.quarter) {
            quarters.push((cell.quarter.clone(), Vec::new()));
        }
        let Some((_, bars)) = quarters.last_mut() else {
            continue;
        };
        let measure = cell.measure();
        let mut chars = measure.chars();
        let capitalised: String = match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        };
        let label = format!("{capitalised}: {}", cell.name);
        match bars.iter_mut().find(|b| b.label == label) {
            Some(bar) => bar.value += cell.count,
            None => bars.push(crate::chart::Bar {
                label,
                value: cell.count,
            }),
        }
    }
    quarters
}

/// Calls `each` with every current report `query` selects, newest first, a page at a time.
pub(crate) fn each_current(
    store: &Store,
    mut query: ReportQuery,
    mut each: impl FnMut(&cairn_store::StoredReport),
) -> Result<(), cairn_store::ReadError> {
    const PAGE: usize = 1000;
    query.limit = PAGE;
    loop {
        let page = store.query(&query)?;
        let Some(last) = page.last() else { break };
        query.past = Some((last.report.report().created_ms, last.seq));
        page.iter().for_each(&mut each);
        if page.len() < PAGE {
            break;
        }
    }
    Ok(())
}

/// Counts the current incident reports of `store` (those `author` wrote, if given; those
/// addressed to `community`, if given). Returns the counts and how many reports were counted.
pub fn held_counts(
    store: &Store,
    author: Option<OrgPublicKey>,
    community: Option<&str>,
) -> Result<(Counts, u64), cairn_store::ReadError> {
    let mut counts = Counts::new();
    let mut reports = 0u64;
    let query = ReportQuery {
        author,
        kind: Some(ReportKind::Incident),
        ..ReportQuery::default()
    };
    each_current(store, query, |stored| {
        let addressed = stored.report.report().distribution.community.as_deref();
        if community.is_some_and(|c| addressed != Some(c)) {
            return;
        }
        let cells = observance::cells_of(stored.report.report());
        if !cells.is_empty() {
            reports += 1;
        }
        for cell in cells {
            *counts.entry(cell).or_default() += 1;
        }
    })?;
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
    /// The query asks for something that cannot be given.
    #[error("{0}")]
    Query(String),
}

/// The observance figures an organisation published, as this node holds them.
#[derive(Debug, Clone)]
pub struct PublishedFigures {
    /// The organisation.
    pub author: OrgPublicKey,
    /// The report that carries them.
    pub report: ReportId,
    /// When they were published (ms since the Unix epoch).
    pub created_ms: i64,
    /// The figures.
    pub figures: Aggregate,
}

/// The latest current observance figures of each organisation this node holds (each
/// organisation's newest; a new version supersedes the one before, so each is counted once).
pub fn latest_figures(
    store: &Store,
    community: Option<&str>,
) -> Result<Vec<PublishedFigures>, cairn_store::ReadError> {
    let mut latest: std::collections::BTreeMap<OrgPublicKey, PublishedFigures> =
        std::collections::BTreeMap::new();
    let query = ReportQuery {
        kind: Some(ReportKind::Observance),
        ..ReportQuery::default()
    };
    each_current(store, query, |stored| {
        let r = stored.report.report();
        let Some(figures) = &r.observance else {
            return;
        };
        if r.distribution.community.as_deref() != community {
            return;
        }
        let author = stored.report.author();
        // Newest first: the first seen of each organisation is its latest.
        latest.entry(author).or_insert_with(|| PublishedFigures {
            author,
            report: stored.report.id(),
            created_ms: r.created_ms,
            figures: figures.clone(),
        });
    })?;
    Ok(latest.into_values().collect())
}

/// A draft of this organisation's (`us`, named `name`) observance figures, made fit to publish
/// with `publishing` from the current incident reports it wrote: TLP:CLEAR, a new version of
/// the figures it published before, if any.
pub fn figures_draft(
    store: &Store,
    us: OrgPublicKey,
    name: &str,
    publishing: Publishing,
    community: Option<&str>,
    rng: &mut impl rand::Rng,
) -> Result<ReportDraft, ObservanceError> {
    let (counts, reports) = held_counts(store, Some(us), community)?;
    let figures = observance::publishable(&counts, publishing, rng)?;
    let previous = latest_figures(store, community)?
        .into_iter()
        .find(|f| f.author == us)
        .map(|f| f.report);
    let noise = match figures.epsilon {
        Some(e) => format!(" Laplace noise of epsilon {e} was added to every count first."),
        None => String::new(),
    };
    let (title, addressed) = match community {
        Some(c) => (
            format!("Paris Call observance figures of {name} for the {c} community"),
            format!(" addressed to the {c} community"),
        ),
        None => (
            format!("Paris Call observance figures of {name}"),
            String::new(),
        ),
    };
    Ok(ReportDraft {
        kind: Some(ReportKind::Observance),
        title,
        community: community.map(str::to_string),
        summary: format!(
            "Counts of the {reports} current incident reports{addressed} {name} wrote, by Paris Call principle or UN GGE norm, region, sector and quarter. Cells under {} are left out ({} left out).{noise}",
            figures.min_count, figures.suppressed
        ),
        tlp: Some(Tlp::Clear),
        supersedes: previous,
        language: Some("en".into()),
        observance: Some(figures),
        ..ReportDraft::default()
    })
}

/// The trends of `store` as `query` asks for them.
pub fn view(
    store: &Store,
    us: OrgPublicKey,
    query: &ObservanceQuery,
) -> Result<ObservanceView, ObservanceError> {
    if query.federation && query.mine {
        return Err(ObservanceError::Query(
            "federation and mine ask for different counts: give one".into(),
        ));
    }
    let norm = query
        .norm
        .as_deref()
        .map(GgeNorm::from_term)
        .transpose()
        .map_err(|e| ObservanceError::Query(format!("norm: {e}")))?;
    let only_norms = match query.measures.as_deref() {
        None => None,
        Some("principles") => Some(false),
        Some("norms") => Some(true),
        Some(other) => {
            return Err(ObservanceError::Query(format!(
                "measures: {other:?} is not principles or norms"
            )));
        }
    };
    let (mut counts, reports, organisations) = if query.federation {
        let figures = latest_figures(store, query.community.as_deref())?;
        let organisations = figures.len() as u64;
        let merged = observance::merge(figures.iter().map(|f| &f.figures));
        (merged, 0, Some(organisations))
    } else {
        let (counts, reports) =
            held_counts(store, query.mine.then_some(us), query.community.as_deref())?;
        (counts, reports, None)
    };
    counts.retain(|cell, _| {
        query.region.as_ref().is_none_or(|r| *r == cell.region)
            && query.sector.as_ref().is_none_or(|s| *s == cell.sector)
            && query
                .principle
                .is_none_or(|p| cell.measure == Measure::Principle(p))
            && norm.is_none_or(|n| cell.measure == Measure::Norm(n))
            && only_norms.is_none_or(|norms| norms == matches!(cell.measure, Measure::Norm(_)))
    });
    let publishing = Publishing {
        min_count: query.min_count.unwrap_or(1),
        epsilon: None,
    };
    let aggregate = observance::publishable(&counts, publishing, &mut rand::rngs::OsRng)?;
    Ok(ObservanceView {
        reports,
        mine: query.mine,
        organisations,
        min_count: aggregate.min_count,
        suppressed: aggregate.suppressed,
        cells: aggregate
            .counts
            .into_iter()
            .map(|(cell, count)| ObservanceCell {
                quarter: cell.quarter.to_string(),
                principle: match cell.measure {
                    Measure::Principle(p) => Some(p),
                    Measure::Norm(_) => None,
                },
                norm: match cell.measure {
                    Measure::Principle(_) => None,
                    Measure::Norm(n) => Some(n.term().to_string()),
                },
                name: cell.measure.name().to_string(),
                region: cell.region,
                sector: cell.sector,
                count,
            })
            .collect(),
    })
}
