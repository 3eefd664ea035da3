//! Observance trends without a centre: how many incident reports concern each Paris Call
//! principle and each UN GGE norm, by region, sector and quarter. An organisation counts only the reports it wrote
//! ([`count`]), publishes its counts with small cells suppressed and, if it chooses, noise
//! added ([`publishable`]); anyone merges the published counts of many organisations
//! ([`merge`]). Pure functions: no store, no clock, randomness passed in.

use std::collections::BTreeMap;

use cairn_proto::v1 as pb;
use rand::Rng;

use crate::coding::GgeNorm;
use crate::model::ReportKind;
use crate::report::Report;

/// What a region or sector cell is called when the report does not say.
pub const UNSPECIFIED: &str = "unspecified";

/// The smallest count a published cell may have unless the publisher says otherwise: a cell
/// of fewer reports could point at one victim.
pub const DEFAULT_MIN_COUNT: u64 = 5;

/// Most cells one report may count in ((principles + norms) × regions × sectors). Bounding it bounds
/// what one report can change in an aggregate, which the noise is scaled to.
pub const MAX_CELLS_PER_REPORT: usize = 27;

/// A year and quarter, `2026-Q4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    /// The year.
    pub year: i32,
    /// 1 to 4.
    pub quarter: u8,
}

impl Quarter {
    /// The quarter a time (milliseconds since 1970, UTC) falls in; `None` outside the years a
    /// timestamp can write.
    pub fn of_millis(ms: i64) -> Option<Quarter> {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
        Some(Quarter {
            year: t.year(),
            quarter: (u8::from(t.month()) - 1) / 3 + 1,
        })
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-Q{}", self.year, self.quarter)
    }
}

/// Why a quarter could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a quarter: write it as 2026-Q4")]
pub struct BadQuarter(String);

impl std::str::FromStr for Quarter {
    type Err = BadQuarter;
    fn from_str(text: &str) -> Result<Quarter, BadQuarter> {
        let bad = || BadQuarter(text.to_string());
        let (year, quarter) = text.split_once("-Q").ok_or_else(bad)?;
        let year: i32 = year.parse().map_err(|_| bad())?;
        let quarter: u8 = quarter.parse().map_err(|_| bad())?;
        if !(0..=9999).contains(&year) || !(1..=4).contains(&quarter) {
            return Err(bad());
        }
        Ok(Quarter { year, quarter })
    }
}

/// What a cell counts reports against: a Paris Call principle or a UN GGE norm (principles
/// first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measure {
    /// A Paris Call principle, 1-9.
    Principle(u8),
    /// A UN GGE 2015 norm.
    Norm(GgeNorm),
}

impl Measure {
    /// Its short name ("Protect individuals and infrastructure", "Protect critical
    /// infrastructure from ICT threats").
    pub fn name(self) -> &'static str {
        match self {
            Measure::Principle(p) => crate::model::paris_call_principle(p).unwrap_or_default(),
            Measure::Norm(n) => n.title(),
        }
    }
}

impl std::fmt::Display for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Measure::Principle(p) => write!(f, "principle {p}"),
            Measure::Norm(n) => write!(f, "norm {n}"),
        }
    }
}

/// One cell of the trends: a quarter, a principle or norm, a region and a sector (ordered so).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    /// When the report was written.
    pub quarter: Quarter,
    /// The Paris Call principle or UN GGE norm.
    pub measure: Measure,
    /// The region, as the report writes it, or [`UNSPECIFIED`].
    pub region: String,
    /// The sector, as the report writes it, or [`UNSPECIFIED`].
    pub sector: String,
}

/// Counts per cell.
pub type Counts = BTreeMap<Cell, u64>;

/// The cells one report counts in: every principle and every UN GGE norm it names, in every
/// region and sector it names (or [`UNSPECIFIED`]), in the quarter it was written. Only
/// incident reports count, and only those that name a principle or a norm. At most
/// [`MAX_CELLS_PER_REPORT`] cells, principles first, then norms, each in order.
pub fn cells_of(report: &Report) -> Vec<Cell> {
    let norms: &[GgeNorm] = report.coding.as_ref().map_or(&[], |c| &c.gge_norms);
    if report.kind != ReportKind::Incident
        || (report.paris_call_principles.is_empty() && norms.is_empty())
    {
        return Vec::new();
    }
    let Some(quarter) = Quarter::of_millis(report.created_ms) else {
        return Vec::new();
    };
    let or_unspecified = |labels: &[String]| -> Vec<String> {
        let mut labels: Vec<String> = labels.to_vec();
        labels.sort();
        labels.dedup();
        if labels.is_empty() {
            labels.push(UNSPECIFIED.to_string());
        }
        labels
    };
    let regions = or_unspecified(&report.regions);
    let sectors = or_unspecified(&report.sectors);
    let mut measures: Vec<Measure> = report
        .paris_call_principles
        .iter()
        .map(|p| Measure::Principle(*p))
        .chain(norms.iter().map(|n| Measure::Norm(*n)))
        .collect();
    measures.sort_unstable();
    measures.dedup();
    let mut cells = Vec::new();
    for measure in measures {
        for region in &regions {
            for sector in &sectors {
                if cells.len() == MAX_CELLS_PER_REPORT {
                    return cells;
                }
                cells.push(Cell {
                    measure,
                    region: region.clone(),
                    sector: sector.clone(),
                    quarter,
                });
            }
        }
    }
    cells
}

/// Counts the reports given (the caller chooses which: an organisation's own, current ones).
pub fn count<'r>(reports: impl IntoIterator<Item = &'r Report>) -> Counts {
    let mut counts = Counts::new();
    for report in reports {
        for cell in cells_of(report) {
            *counts.entry(cell).or_default() += 1;
        }
    }
    counts
}

/// How counts are made fit to publish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Publishing {
    /// Cells below this count are left out ([`DEFAULT_MIN_COUNT`] unless set; at least 1).
    pub min_count: u64,
    /// Differential privacy: Laplace noise of scale `MAX_CELLS_PER_REPORT / epsilon` is added
    /// to every cell before the smallest are left out, so that the published counts are
    /// `epsilon`-differentially private with respect to any one report. `None`: exact counts.
    pub epsilon: Option<f64>,
}

impl Default for Publishing {
    fn default() -> Self {
        Publishing {
            min_count: DEFAULT_MIN_COUNT,
            epsilon: None,
        }
    }
}

/// Why counts could not be made fit to publish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PublishError {
    /// Epsilon must be a positive, finite number.
    #[error("epsilon {0} is not a positive number (try 1.0: smaller adds more noise)")]
    BadEpsilon(f64),
}

/// Most cells one published aggregate may hold.
pub const MAX_PUBLISHED_CELLS: usize = 20_000;

/// Longest region or sector name in a published cell.
pub const MAX_LABEL: usize = 64;

/// What an organisation publishes: its counts, the cells below the threshold left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Aggregate {
    /// The cells published.
    pub counts: Counts,
    /// How many cells were left out.
    pub suppressed: usize,
    /// The threshold applied.
    pub min_count: u64,
    /// The noise added, if any.
    pub epsilon: Option<f64>,
}

// Epsilon is never NaN (it is checked when made and when read), so equality is an
// equivalence.
impl Eq for Aggregate {}

impl Aggregate {
    /// Its wire form.
    pub fn to_proto(&self) -> pb::ObservanceFigures {
        pb::ObservanceFigures {
            min_count: self.min_count,
            epsilon: self.epsilon.unwrap_or(0.0),
            suppressed: self.suppressed as u64,
            cells: self
                .counts
                .iter()
                .map(|(cell, &count)| pb::ObservanceCell {
                    quarter: cell.quarter.to_string(),
                    principle: match cell.measure {
                        Measure::Principle(p) => u32::from(p),
                        Measure::Norm(_) => 0,
                    },
                    norm: match cell.measure {
                        Measure::Principle(_) => String::new(),
                        Measure::Norm(n) => n.term().to_string(),
                    },
                    region: cell.region.clone(),
                    sector: cell.sector.clone(),
                    count,
                })
                .collect(),
        }
    }

    /// Reads published figures, checking every cell: a quarter, a principle 1-9 or a norm a-k, a region
    /// and a sector of 1-64 characters, a count no smaller than the threshold, each cell once.
    /// On error, the field (`cells[3].count`) and what is wrong with it.
    pub fn from_proto(figures: &pb::ObservanceFigures) -> Result<Aggregate, (String, String)> {
        let bad = |field: String, reason: String| Err((field, reason));
        if figures.min_count == 0 {
            return bad("min_count".into(), "must be at least 1".into());
        }
        let epsilon = match figures.epsilon {
            0.0 => None,
            e if e.is_finite() && e > 0.0 => Some(e),
            e => return bad("epsilon".into(), format!("{e} is not a positive number")),
        };
        if figures.cells.len() > MAX_PUBLISHED_CELLS {
            return bad(
                "cells".into(),
                format!(
                    "{} cells; at most {MAX_PUBLISHED_CELLS}",
                    figures.cells.len()
                ),
            );
        }
        let mut counts = Counts::new();
        for (i, c) in figures.cells.iter().enumerate() {
            let at = |what: &str| format!("cells[{i}].{what}");
            let quarter: Quarter = match c.quarter.parse() {
                Ok(q) => q,
                Err(e) => return bad(at("quarter"), format!("{e}")),
            };
            let measure = match (u8::try_from(c.principle), c.norm.as_str()) {
                (Ok(0), "") => {
                    return bad(
                        at("principle"),
                        "a cell counts a principle (1-9) or a norm (a-k): it gives neither".into(),
                    );
                }
                (Ok(0), norm) => match GgeNorm::from_term(norm) {
                    Ok(n) => Measure::Norm(n),
                    Err(e) => return bad(at("norm"), e.to_string()),
                },
                (Ok(p), "") if (1..=9).contains(&p) => Measure::Principle(p),
                (_, "") => {
                    return bad(
                        at("principle"),
                        format!("{} is not a Paris Call principle (1-9)", c.principle),
                    );
                }
                (_, _) => {
                    return bad(
                        at("norm"),
                        "a cell counts a principle or a norm, not both".into(),
                    );
                }
            };
            for (what, label) in [("region", &c.region), ("sector", &c.sector)] {
                let length = label.chars().count();
                if length == 0 || length > MAX_LABEL || label.chars().any(char::is_control) {
                    return bad(
                        at(what),
                        format!(
                            "{label:?} is not a {what}: 1-{MAX_LABEL} characters, no control characters"
                        ),
                    );
                }
            }
            if c.count < figures.min_count {
                return bad(
                    at("count"),
                    format!(
                        "{} is under the threshold of {} the figures say they keep",
                        c.count, figures.min_count
                    ),
                );
            }
            let cell = Cell {
                quarter,
                measure,
                region: c.region.clone(),
                sector: c.sector.clone(),
            };
            if counts.insert(cell, c.count).is_some() {
                return bad(at("quarter"), "the same cell is given twice".into());
            }
        }
        Ok(Aggregate {
            counts,
            suppressed: usize::try_from(figures.suppressed).unwrap_or(usize::MAX),
            min_count: figures.min_count,
            epsilon,
        })
    }
}

/// Makes counts fit to publish: noise added if asked, then every cell under the threshold left
/// out. No published cell is ever below `min_count`.
pub fn publishable(
    counts: &Counts,
    publishing: Publishing,
    rng: &mut impl Rng,
) -> Result<Aggregate, PublishError> {
    if let Some(epsilon) = publishing.epsilon
        && !(epsilon.is_finite() && epsilon > 0.0)
    {
        return Err(PublishError::BadEpsilon(epsilon));
    }
    let min_count = publishing.min_count.max(1);
    let mut aggregate = Aggregate {
        min_count,
        epsilon: publishing.epsilon,
        ..Aggregate::default()
    };
    for (cell, &n) in counts {
        let published = match publishing.epsilon {
            None => n,
            Some(epsilon) => {
                let noisy = n as f64 + laplace(MAX_CELLS_PER_REPORT as f64 / epsilon, rng);
                noisy.round().max(0.0) as u64
            }
        };
        if published >= min_count {
            aggregate.counts.insert(cell.clone(), published);
        } else {
            aggregate.suppressed += 1;
        }
    }
    Ok(aggregate)
}

/// A draw from the Laplace distribution centred on 0 with scale `b`.
fn laplace(b: f64, rng: &mut impl Rng) -> f64 {
    // u is uniform in (-1/2, 1/2), never exactly -1/2.
    let u: f64 = rng.r#gen::<f64>() - 0.5;
    let magnitude = (1.0 - 2.0 * u.abs()).max(f64::MIN_POSITIVE).ln();
    -b * u.signum() * magnitude
}

/// Federation-wide trends: the sum of the aggregates of several organisations, each counted
/// once (the caller passes one aggregate per organisation, its latest).
pub fn merge<'a>(aggregates: impl IntoIterator<Item = &'a Aggregate>) -> Counts {
    let mut merged = Counts::new();
    for aggregate in aggregates {
        for (cell, n) in &aggregate.counts {
            *merged.entry(cell.clone()).or_default() += n;
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn incident(principles: &[u8], regions: &[&str], sectors: &[&str], ms: i64) -> Report {
        let mut rng = rand::rngs::StdRng::seed_from_u64(ms as u64);
        let key = crate::OrgKey::generate(&mut rng);
        let draft = crate::ReportDraft {
            kind: Some(ReportKind::Incident),
            title: "incident".into(),
            tlp: Some(crate::Tlp::Clear),
            created: time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .ok(),
            paris_call_principles: principles.iter().map(|p| u32::from(*p)).collect(),
            regions: regions.iter().map(|r| r.to_string()).collect(),
            sectors: sectors.iter().map(|s| s.to_string()).collect(),
            ..crate::ReportDraft::default()
        };
        draft.sign(&key, &mut rng).unwrap().report().clone()
    }

    #[test]
    fn quarters_read_and_write_alike() {
        let q = Quarter::of_millis(1_790_000_000_000).unwrap();
        assert_eq!(q.to_string(), "2026-Q3");
        assert_eq!("2026-Q3".parse::<Quarter>(), Ok(q));
        for bad in ["2026", "2026-Q5", "2026-Q0", "x-Q1", "2026-q1"] {
            assert!(bad.parse::<Quarter>().is_err(), "{bad}");
        }
        assert_eq!(Quarter::of_millis(0).unwrap().to_string(), "1970-Q1");
    }

    #[test]
    fn a_report_counts_in_each_combination_once() {
        let r = incident(&[3, 1, 3], &["africa", "europe"], &[], 1_790_000_000_000);
        let cells = cells_of(&r);
        assert_eq!(cells.len(), 4);
        assert!(cells.iter().all(|c| c.sector == UNSPECIFIED));
        let many = incident(
            &[1, 2, 3, 4, 5, 6, 7, 8, 9],
            &["a", "b", "c", "d"],
            &["x", "y"],
            1_700_000_000_000,
        );
        assert_eq!(cells_of(&many).len(), MAX_CELLS_PER_REPORT);
        let mut advisory = r.clone();
        advisory.kind = ReportKind::Advisory;
        assert!(cells_of(&advisory).is_empty());
    }

    #[test]
    fn no_published_cell_is_below_the_threshold_and_noise_is_checked() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let reports: Vec<Report> = (0..40)
            .map(|i| {
                incident(
                    &[1 + (i % 3) as u8],
                    &["europe"],
                    &["health"],
                    1_700_000_000_000 + i * 86_400_000,
                )
            })
            .collect();
        let counts = count(&reports);
        for epsilon in [None, Some(0.5), Some(5.0)] {
            for min_count in [1, 5, 14] {
                let a = publishable(&counts, Publishing { min_count, epsilon }, &mut rng).unwrap();
                assert!(a.counts.values().all(|n| *n >= min_count));
                assert_eq!(a.counts.len() + a.suppressed, counts.len());
            }
        }
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let refused = publishable(
                &counts,
                Publishing {
                    min_count: 5,
                    epsilon: Some(bad),
                },
                &mut rng,
            );
            assert!(
                refused
                    .map(|_| ())
                    .unwrap_err()
                    .to_string()
                    .contains("not a positive number")
            );
        }
    }

    #[test]
    fn norms_count_beside_principles_and_cells_say_one_or_the_other() {
        let mut r = incident(&[3], &["western-africa"], &["health"], 1_790_000_000_000);
        r.coding = Some(crate::coding::IncidentCoding {
            gge_norms: vec![GgeNorm::K, GgeNorm::F],
            ..Default::default()
        });
        let measures: Vec<Measure> = cells_of(&r).iter().map(|c| c.measure).collect();
        assert_eq!(
            measures,
            [
                Measure::Principle(3),
                Measure::Norm(GgeNorm::F),
                Measure::Norm(GgeNorm::K)
            ]
        );
        r.paris_call_principles.clear();
        assert_eq!(cells_of(&r).len(), 2, "norms alone count");
        let counts = count([&r]);
        let figures = publishable(
            &counts,
            Publishing {
                min_count: 1,
                epsilon: None,
            },
            &mut rand::rngs::StdRng::seed_from_u64(3),
        )
        .unwrap();
        let proto = figures.to_proto();
        assert_eq!(proto.cells[0].principle, 0);
        assert_eq!(proto.cells[0].norm, "f");
        assert_eq!(Aggregate::from_proto(&proto).unwrap(), figures);
        for (principle, norm, field, reason) in [
            (0, "", "cells[0].principle", "gives neither"),
            (0, "z", "cells[0].norm", "not a UN GGE norm"),
            (2, "f", "cells[0].norm", "not both"),
            (10, "", "cells[0].principle", "not a Paris Call principle"),
        ] {
            let mut bad = proto.clone();
            bad.cells[0].principle = principle;
            bad.cells[0].norm = norm.into();
            let (f, r) = Aggregate::from_proto(&bad).unwrap_err();
            assert_eq!(f, field);
            assert!(r.contains(reason), "{r}");
        }
    }

    #[test]
    fn laplace_noise_is_centred_with_its_scale() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let draws: Vec<f64> = (0..200_000).map(|_| laplace(2.0, &mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let mean_abs = draws.iter().map(|d| d.abs()).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        // The mean absolute value of Laplace(b) is b.
        assert!((mean_abs - 2.0).abs() < 0.05, "mean |x| {mean_abs}");
    }
}
