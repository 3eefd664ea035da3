//! Correlation in the API: `GET /api/v1/correlations?value=` (the current reports related to
//! one value) and `GET /api/v1/reports/{id}/correlations` (for each indicator of a report, the
//! other current reports related to it). The store decides what relates
//! (`Store::correlate`); this module reads the parameters and writes the JSON.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cairn_core::Indicator;
use cairn_store::{Correlation, ReportStatus, Store};

use crate::{ApiError, AppState, Role, api_report, bad_request, internal, stored_by_id};

/// Most reports asked for one value.
pub const MAX_LIMIT: usize = 1000;
/// Reports listed for one value when no limit is given.
pub const DEFAULT_LIMIT: usize = 25;
/// Reports listed for each indicator of a report when no limit is given.
pub const DEFAULT_PER_INDICATOR: usize = 10;

/// Parameters of `GET /api/v1/correlations`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrelationParams {
    /// The value: an observable, or TYPE:VALUE.
    value: Option<String>,
    /// At most this many reports (1-1000).
    limit: Option<String>,
}

/// Parameters of `GET /api/v1/reports/{id}/correlations`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportCorrelationParams {
    /// At most this many reports for each indicator (1-1000).
    limit: Option<String>,
}

/// Reads a limit parameter: a number from 1 to [`MAX_LIMIT`], or `default` when absent.
pub(crate) fn read_limit(text: Option<&str>, default: usize) -> Result<usize, String> {
    match text {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| format!("limit: {text:?} is not a number from 1 to {MAX_LIMIT}")),
    }
}

/// The JSON of what the store found: each report as the API shows reports, with its
/// indicators that relate and how.
pub(crate) fn correlation_json(found: &Correlation) -> serde_json::Value {
    let reports: Vec<serde_json::Value> = found
        .reports
        .iter()
        .map(|c| {
            let links: Vec<serde_json::Value> = c
                .links
                .iter()
                .map(|l| {
                    serde_json::json!({
                        "relation": l.relation,
                        "indicator": {"type": l.indicator.kind, "value": l.indicator.value},
                        "reading": {"type": l.probe.kind, "value": l.probe.value},
                    })
                })
                .collect();
            serde_json::json!({
                "report": api_report(&c.stored, Some(ReportStatus::Current)),
                "links": links,
            })
        })
        .collect();
    serde_json::json!({ "reports": reports, "more": found.more })
}

/// `GET /api/v1/correlations?value=...&limit=...`.
pub(crate) async fn correlations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Result<Query<CorrelationParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let Query(params) = params.map_err(|e| bad_request(e.body_text()))?;
    let value = params.value.ok_or_else(|| {
        bad_request("value: give the observable to correlate (value=203.0.113.7, value=sha256:...)")
    })?;
    let limit = read_limit(params.limit.as_deref(), DEFAULT_LIMIT).map_err(bad_request)?;
    let probes = cairn_core::correlation::readings(&value)
        .map_err(|e| bad_request(format!("value: {e}")))?;
    let store = state.node.store().clone();
    let body = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ApiError> {
        let found = store.correlate(&probes, limit, None).map_err(internal)?;
        let mut body = correlation_json(&found);
        body["value"] = serde_json::json!(value);
        body["readings"] = serde_json::json!(
            probes
                .iter()
                .map(|p| serde_json::json!({"type": p.kind, "value": p.value}))
                .collect::<Vec<_>>()
        );
        Ok(body)
    })
    .await
    .map_err(internal)??;
    Ok(Json(body).into_response())
}

/// For each distinct indicator of `report`, the other current reports related to it.
pub(crate) fn of_report(
    store: &Store,
    report: &cairn_core::VerifiedReport,
    per_indicator: usize,
) -> Result<Vec<(Indicator, Correlation)>, cairn_store::ReadError> {
    let mut out: Vec<(Indicator, Correlation)> = Vec::new();
    for indicator in &report.report().indicators {
        if out
            .iter()
            .any(|(i, _)| i.kind == indicator.kind && i.value == indicator.value)
        {
            continue;
        }
        let probe = indicator.bare();
        let found = store.correlate(
            std::slice::from_ref(&probe),
            per_indicator,
            Some(&report.id()),
        )?;
        out.push((probe, found));
    }
    Ok(out)
}

/// `GET /api/v1/reports/{id}/correlations?limit=...`.
pub(crate) async fn report_correlations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Result<Query<ReportCorrelationParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let Query(params) = params.map_err(|e| bad_request(e.body_text()))?;
    let limit = read_limit(params.limit.as_deref(), DEFAULT_PER_INDICATOR).map_err(bad_request)?;
    let store = state.node.store().clone();
    let body =
        tokio::task::spawn_blocking(move || -> Result<Option<serde_json::Value>, ApiError> {
            let Some(stored) = stored_by_id(&store, &id)? else {
                return Ok(None);
            };
            let found = of_report(&store, &stored.report, limit).map_err(internal)?;
            let indicators: Vec<serde_json::Value> = found
                .iter()
                .map(|(indicator, correlation)| {
                    let mut one = correlation_json(correlation);
                    one["indicator"] =
                        serde_json::json!({"type": indicator.kind, "value": indicator.value});
                    one
                })
                .collect();
            Ok(Some(serde_json::json!({
                "id": stored.report.id().to_string(),
                "indicators": indicators,
            })))
        })
        .await
        .map_err(internal)??;
    match body {
        Some(body) => Ok(Json(body).into_response()),
        None => Err(crate::report_not_found()),
    }
}
