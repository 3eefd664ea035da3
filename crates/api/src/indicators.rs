//! Indicator validity and scores in the API: `GET /api/v1/indicators` lists the indicators of
//! current reports with their validity window, score and state (`active`, `decayed`, ...), as
//! JSON, as plain values one a line (for a firewall or a SIEM) or as a STIX 2.1 bundle: with
//! `valid=true`, an export of what is still valid. The score filters (`valid`, `state`,
//! `min_score`) also narrow `GET /api/v1/reports` to reports with an indicator that passes.

use std::ops::ControlFlow;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_core::score::{ScoringConfig, Standing, Validity};
use cairn_core::{Indicator, IndicatorType};
use cairn_store::{ReadError, ReportQuery, Store, StoredReport};

use crate::{ApiError, AppState, ReportFilters, Role, bad_request, internal, rfc3339};

/// Reports read for one page at most: a filter few indicators pass ends a page early, with a
/// cursor to go on from.
const MAX_SCANNED: usize = 20_000;
/// Reports read from the store at a time while filling a page.
const BATCH: usize = 200;

/// Which indicators pass, by their standing now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScoreFilter {
    /// In one of these states (empty: any).
    states: Vec<Validity>,
    /// Scoring at least this.
    min_score: u8,
    /// Of this type.
    kind: Option<IndicatorType>,
}

impl ScoreFilter {
    /// The filter of the `valid`, `state`, `min_score` and `type` parameters; `None` when none
    /// is given.
    pub(crate) fn parse(
        valid: Option<bool>,
        state: Option<&str>,
        min_score: Option<&str>,
        kind: Option<&str>,
    ) -> Result<Option<ScoreFilter>, ApiError> {
        if valid.is_none() && state.is_none() && min_score.is_none() && kind.is_none() {
            return Ok(None);
        }
        let states = match (valid, state) {
            (Some(_), Some(_)) => {
                return Err(bad_request(
                    "give valid or state, not both (valid=true is state=active)",
                ));
            }
            (Some(true), None) => ScoreFilter::active().states,
            (Some(false), None) => vec![
                Validity::NotYetValid,
                Validity::Decayed,
                Validity::Expired,
                Validity::Withdrawn,
            ],
            (None, Some(text)) => text
                .split(',')
                .map(|s| s.trim().parse::<Validity>())
                .collect::<Result<_, _>>()
                .map_err(|e| bad_request(format!("state: {e}")))?,
            (None, None) => Vec::new(),
        };
        let min_score = match min_score {
            None => 0,
            Some(text) => text
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= 100)
                .ok_or_else(|| {
                    bad_request(format!(
                        "min_score={text:?}: a score is a number from 0 to 100"
                    ))
                })?,
        };
        let kind = kind
            .map(|k| k.parse().map_err(|e| bad_request(format!("type: {e}"))))
            .transpose()?;
        Ok(Some(ScoreFilter {
            states,
            min_score,
            kind,
        }))
    }

    /// Active indicators only: what `valid=true` asks.
    pub(crate) fn active() -> ScoreFilter {
        ScoreFilter {
            states: vec![Validity::Active],
            ..ScoreFilter::default()
        }
    }

    fn admits(&self, indicator: &Indicator, standing: &Standing) -> bool {
        (self.states.is_empty() || self.states.contains(&standing.state))
            && standing.score >= self.min_score
            && self.kind.is_none_or(|k| k == indicator.kind)
    }
}

/// Where a page of reports read with a score filter ends.
pub(crate) struct ScoredPage {
    /// The reports that passed, in the order asked.
    pub(crate) reports: Vec<StoredReport>,
    /// Where the next page starts, when there may be one.
    pub(crate) next: Option<(i64, u64)>,
}

/// Up to `query.limit` reports matching `query` with at least one indicator `filter` admits
/// now; stops early, with a cursor, after [`MAX_SCANNED`] reports.
pub(crate) fn scored_reports(
    store: &Store,
    query: &ReportQuery,
    filter: &ScoreFilter,
    scoring: &ScoringConfig,
    now_ms: i64,
) -> Result<ScoredPage, ReadError> {
    let mut reports = Vec::new();
    let end = scan(store, query, |stored| {
        let standings = store.standings(&stored.report, scoring, now_ms)?;
        let indicators = &stored.report.report().indicators;
        if indicators
            .iter()
            .zip(&standings)
            .any(|(i, s)| filter.admits(i, s))
        {
            reports.push(stored);
            if reports.len() == query.limit {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    })?;
    let next = match end {
        ScanEnd::Exhausted => None,
        ScanEnd::Stopped(last) | ScanEnd::Capped(last) => Some(last),
    };
    Ok(ScoredPage { reports, next })
}

/// Where [`scan`] ended.
enum ScanEnd {
    /// Every report the query selects was read.
    Exhausted,
    /// The visitor stopped at this report (its creation time and arrival number).
    Stopped((i64, u64)),
    /// [`MAX_SCANNED`] reports were read, the last this one.
    Capped((i64, u64)),
}

/// Hands the reports `query` selects to `visit`, in the order asked from `query.past`, read a
/// batch at a time, until `visit` breaks, they run out or [`MAX_SCANNED`] were read.
fn scan(
    store: &Store,
    query: &ReportQuery,
    mut visit: impl FnMut(StoredReport) -> Result<ControlFlow<()>, ReadError>,
) -> Result<ScanEnd, ReadError> {
    let mut past = query.past;
    let mut scanned = 0;
    loop {
        let batch = store.query(&ReportQuery {
            limit: BATCH,
            past,
            ..query.clone()
        })?;
        let full_batch = batch.len() == BATCH;
        for stored in batch {
            scanned += 1;
            let here = (stored.report.report().created_ms, stored.seq);
            past = Some(here);
            if visit(stored)?.is_break() {
                return Ok(ScanEnd::Stopped(here));
            }
        }
        match past {
            Some(last) if full_batch && scanned >= MAX_SCANNED => {
                return Ok(ScanEnd::Capped(last));
            }
            Some(_) if full_batch => {}
            _ => return Ok(ScanEnd::Exhausted),
        }
    }
}

/// Query parameters of `GET /api/v1/indicators`, and what `cairn indicators` asks.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorQuery {
    /// `true`: active only (valid and scoring at least the threshold); `false`: all others.
    pub valid: Option<bool>,
    /// States, comma-separated: not-yet-valid, active, decayed, expired, withdrawn.
    pub state: Option<String>,
    /// Scoring at least this (0-100).
    pub min_score: Option<String>,
    /// Of this indicator type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `json` (the default), `text` (values one a line) or `stix` (a STIX 2.1 bundle).
    pub format: Option<String>,
    /// Of reports with this TLP.
    pub tlp: Option<String>,
    /// Of reports by this organisation (its key).
    pub author: Option<String>,
    /// Of reports with this tag.
    pub tag: Option<String>,
    /// Of reports about this sector.
    pub sector: Option<String>,
    /// Of reports about this region.
    pub region: Option<String>,
    /// Of reports created at or after (RFC 3339, a date or an age such as `7d`).
    pub since: Option<String>,
    /// Of reports created at or before.
    pub until: Option<String>,
    /// At most this many indicators (1-10000, default 1000).
    pub limit: Option<usize>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// `newest` (the default) or `oldest` reports first.
    pub order: Option<String>,
}

/// Why indicators could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorQueryError {
    /// A filter that says nothing the node understands.
    #[error("{0}")]
    Bad(String),
    /// The store could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl From<IndicatorQueryError> for ApiError {
    fn from(e: IndicatorQueryError) -> ApiError {
        match e {
            IndicatorQueryError::Bad(message) => bad_request(message),
            IndicatorQueryError::Read(e) => internal(e),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Text,
    Stix,
}

/// One indicator of a page: its report, its place in it, and its standing.
struct Row {
    report: Arc<StoredReport>,
    index: usize,
    standing: Standing,
}

/// A row cursor: the creation time and arrival number of a report, and the position of the
/// next indicator of it to read.
fn row_cursor(stored: &StoredReport, next_index: usize) -> String {
    format!(
        "{}.{}.{next_index}",
        stored.report.report().created_ms,
        stored.seq
    )
}

fn parse_row_cursor(text: &str) -> Result<(i64, u64, usize), IndicatorQueryError> {
    let mut parts = text.split('.');
    let parsed = (|| {
        let created = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let index = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some((created, seq, index))
    })();
    parsed.ok_or_else(|| {
        IndicatorQueryError::Bad(format!(
            "cursor={text:?} is not a cursor this node gave (next_cursor of a page)"
        ))
    })
}

fn format_of(query: &IndicatorQuery) -> Result<Format, IndicatorQueryError> {
    match query.format.as_deref() {
        None | Some("json") => Ok(Format::Json),
        Some("text") => Ok(Format::Text),
        Some("stix") => Ok(Format::Stix),
        Some(other) => Err(IndicatorQueryError::Bad(format!(
            "format={other:?}: json (the default), text or stix"
        ))),
    }
}

/// A page of the indicators `query` selects, at `now_ms`, and the cursor of the next page.
fn rows_of(
    store: &Store,
    query: &IndicatorQuery,
    scoring: &ScoringConfig,
    now_ms: i64,
) -> Result<(Vec<Row>, Option<String>), IndicatorQueryError> {
    let limit = query.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(IndicatorQueryError::Bad(format!(
            "limit={limit}: from 1 to 10000"
        )));
    }
    let bad = |e: ApiError| IndicatorQueryError::Bad(e.message);
    let filter = ScoreFilter::parse(
        query.valid,
        query.state.as_deref(),
        query.min_score.as_deref(),
        query.kind.as_deref(),
    )
    .map_err(bad)?
    .unwrap_or_default();
    let resume = query.cursor.as_deref().map(parse_row_cursor).transpose()?;
    let oldest_first = query.order.as_deref() == Some("oldest");
    let mut reports = ReportFilters {
        tlp: query.tlp.clone(),
        author: query.author.clone(),
        tag: query.tag.clone(),
        sector: query.sector.clone(),
        region: query.region.clone(),
        since: query.since.clone(),
        until: query.until.clone(),
        order: query.order.clone(),
        ..ReportFilters::default()
    }
    .query()
    .map_err(bad)?;
    // Resuming inside a report: start just before it in the order asked (arrival numbers
    // are unique, so no other report sits between).
    reports.past = resume.map(|(created, seq, _)| {
        if oldest_first {
            (created, seq.saturating_sub(1))
        } else {
            (created, seq.saturating_add(1))
        }
    });
    Ok(page_of_rows(
        store, &reports, resume, &filter, scoring, now_ms, limit,
    )?)
}

/// The JSON of a page of indicators: `{"indicators": [...], "next_cursor": ...}`; what
/// `GET /api/v1/indicators` answers and `cairn indicators` prints.
pub fn indicators_view(
    store: &Store,
    query: &IndicatorQuery,
    scoring: &ScoringConfig,
    now_ms: i64,
) -> Result<serde_json::Value, IndicatorQueryError> {
    let (rows, next) = rows_of(store, query, scoring, now_ms)?;
    let list: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
    let mut body = serde_json::json!({ "indicators": list });
    if let Some(next) = next {
        body["next_cursor"] = serde_json::json!(next);
    }
    Ok(body)
}

/// A STIX 2.1 bundle of the reports of the indicators `query` selects, each keeping only those
/// indicators (the export of what is still valid with `valid`), and the cursor of the next
/// page: what `GET /api/v1/indicators?format=stix` answers and `cairn indicators --stix`
/// writes.
pub fn indicators_stix(
    store: &Store,
    query: &IndicatorQuery,
    scoring: &ScoringConfig,
    now_ms: i64,
) -> Result<(serde_json::Value, Option<String>), IndicatorQueryError> {
    let (rows, next) = rows_of(store, query, scoring, now_ms)?;
    Ok((stix_bundle(store, &rows)?, next))
}

/// `GET /api/v1/indicators`.
pub(crate) async fn indicators(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<IndicatorQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let Query(query) = query.map_err(|e| bad_request(e.body_text()))?;
    let format = format_of(&query)?;
    let store = state.node.store().clone();
    let scoring = state.scoring.clone();
    let now_ms = cairn_core::when::now_ms();
    let (rows, next) =
        tokio::task::spawn_blocking(move || rows_of(&store, &query, &scoring, now_ms))
            .await
            .map_err(internal)??;
    let mut response = match format {
        Format::Json => {
            let list: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
            let mut body = serde_json::json!({ "indicators": list });
            if let Some(next) = &next {
                body["next_cursor"] = serde_json::json!(next);
            }
            return Ok(Json(body).into_response());
        }
        Format::Text => {
            let mut text = String::new();
            let mut seen = std::collections::HashSet::new();
            for row in &rows {
                let value = &row.report.report.report().indicators[row.index].value;
                if seen.insert(value.clone()) {
                    text.push_str(value);
                    text.push('\n');
                }
            }
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        Format::Stix => {
            let bundle = stix_bundle(state.node.store(), &rows).map_err(internal)?;
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/stix+json;version=2.1")],
                bundle.to_string(),
            )
                .into_response()
        }
    };
    // Plain values and bundles have no room for a cursor: it comes in a header.
    if let Some(next) = next
        && let Ok(value) = next.parse()
    {
        response.headers_mut().insert("x-next-cursor", value);
    }
    Ok(response)
}

/// Up to `limit` indicators `filter` admits, from reports matching `query`, starting at
/// indicator `resume.2` of the first report when resuming; and the cursor of the next page.
fn page_of_rows(
    store: &Store,
    query: &ReportQuery,
    resume: Option<(i64, u64, usize)>,
    filter: &ScoreFilter,
    scoring: &ScoringConfig,
    now_ms: i64,
    limit: usize,
) -> Result<(Vec<Row>, Option<String>), ReadError> {
    let mut rows = Vec::new();
    let mut next = None;
    let end = scan(store, query, |stored| {
        let start = match resume {
            Some((created, seq, index))
                if stored.seq == seq && stored.report.report().created_ms == created =>
            {
                index
            }
            _ => 0,
        };
        let standings = store.standings(&stored.report, scoring, now_ms)?;
        let stored = Arc::new(stored);
        let indicators = &stored.report.report().indicators;
        for (index, standing) in standings.into_iter().enumerate().skip(start) {
            if !filter.admits(&indicators[index], &standing) {
                continue;
            }
            if rows.len() == limit {
                next = Some(row_cursor(&stored, index));
                return Ok(ControlFlow::Break(()));
            }
            rows.push(Row {
                report: stored.clone(),
                index,
                standing,
            });
        }
        Ok(ControlFlow::Continue(()))
    })?;
    if let ScanEnd::Capped((created, seq)) = end {
        // Past the whole of the last report read.
        next = Some(format!(
            "{created}.{seq}.{}",
            cairn_core::limits::MAX_INDICATORS
        ));
    }
    Ok((rows, next))
}

fn row_json(row: &Row) -> serde_json::Value {
    let r = row.report.report.report();
    let indicator = &r.indicators[row.index];
    let mut json = serde_json::json!({
        "report": row.report.report.id().to_string(),
        "author": row.report.report.author().to_string(),
        "tlp": r.tlp,
        "type": indicator.kind,
        "value": indicator.value,
        "valid_from": rfc3339(if indicator.valid_from_ms != 0 { indicator.valid_from_ms } else { r.created_ms }),
        "score": row.standing.score,
        "state": row.standing.state,
        "base_score": row.standing.base,
        "corroborating_organisations": row.standing.corroborating,
        "decays_from": rfc3339(row.standing.anchor_ms),
    });
    if indicator.valid_until_ms != 0 {
        json["valid_until"] = serde_json::json!(rfc3339(indicator.valid_until_ms));
    }
    if !indicator.description.is_empty() {
        json["description"] = serde_json::json!(indicator.description);
    }
    json
}

/// The STIX objects of the reports of `rows`, each report with only the indicators (or the
/// file units) some row names, and its report object referring to those.
fn stix_bundle(store: &Store, rows: &[Row]) -> Result<serde_json::Value, ReadError> {
    let mut objects = Vec::new();
    let mut at = 0;
    while at < rows.len() {
        let report = &rows[at].report;
        let mut named = Vec::new();
        while at < rows.len() && Arc::ptr_eq(&rows[at].report, report) {
            named.push(rows[at].index);
            at += 1;
        }
        let r = report.report.report();
        if cairn_interop::stix::carries_objects(&report.report) {
            objects.extend(carried_objects_of(&report.report, &named));
            continue;
        }
        let context = crate::stix_export_context(store, report, None)?;
        let all = cairn_interop::stix::report_objects(&report.report, &context);
        let shared = cairn_interop::stix::shared_count(&report.report);
        let units = cairn_interop::stix::export_units(&r.indicators);
        let kept_unit = |unit: &[&Indicator]| {
            unit.iter().any(|member| {
                named
                    .iter()
                    .any(|n| std::ptr::eq(*member, &r.indicators[*n]))
            })
        };
        let mut kept_ids = Vec::new();
        for (k, object) in all.into_iter().enumerate() {
            if k < shared {
                objects.push(object);
            } else if let Some((_, unit)) = units.get(k - shared) {
                if kept_unit(unit) {
                    kept_ids.push(object["id"].clone());
                    objects.push(object);
                }
            } else {
                // The report object, referring to what was kept.
                let mut object = object;
                if object["type"] == "report" && !kept_ids.is_empty() {
                    object["object_refs"] = serde_json::Value::Array(kept_ids.clone());
                }
                objects.push(object);
            }
        }
    }
    Ok(cairn_interop::stix::bundle(objects))
}

/// The STIX objects a report carries as its source sent them, without the indicator objects
/// whose pattern names none of the indicators at positions `named`.
fn carried_objects_of(
    report: &cairn_core::VerifiedReport,
    named: &[usize],
) -> Vec<serde_json::Value> {
    let r = report.report();
    let wanted: Vec<(IndicatorType, &str)> = named
        .iter()
        .map(|n| (r.indicators[*n].kind, r.indicators[*n].value.as_str()))
        .collect();
    r.stix_objects
        .iter()
        .filter_map(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .filter(|object| {
            if object["type"] != "indicator" {
                return true;
            }
            let pattern = object["pattern"].as_str().unwrap_or_default();
            cairn_interop::stix::indicators_in_pattern(pattern)
                .iter()
                .any(|i| wanted.contains(&(i.kind, i.value.as_str())))
        })
        .collect()
}
