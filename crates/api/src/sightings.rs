//! Sightings in the API: `GET /api/v1/reports/{id}/sightings` (what organisations that hold a
//! report said of it and of each of its indicators, with a tally per indicator) and `POST
//! /api/v1/reports/{id}/sightings` (say it: seen, false positive, expired, confirmed). The
//! sighting is drafted and checked against the report by `cairn_core::sighting::draft_about`,
//! signed, stored and shared like any report; the sharing rule for sightings keeps it within
//! the report's reach.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_core::sighting::{DraftSightingError, SightingRequest, draft_about, tally};
use cairn_store::{ReportStatus, StoredReport};

use crate::{
    ApiError, AppState, Role, api_report, held_report, internal, json_body, report_not_found,
    signer, store_signed, stored_by_id,
};

/// The JSON of a report's current sightings (a sighting replaced by a newer version of it, or
/// withdrawn, is left out), oldest first, and their tally per indicator.
pub(crate) fn sightings_json(report: &StoredReport, current: &[StoredReport]) -> serde_json::Value {
    serde_json::json!({
        "report": report.report.id().to_string(),
        "sightings": current
            .iter()
            .map(|s| api_report(s, Some(ReportStatus::Current)))
            .collect::<Vec<_>>(),
        "by_indicator": tally(said(current)),
    })
}

/// What each of `sightings` says, with its author and creation time, as `tally` reads it.
pub(crate) fn said(
    sightings: &[StoredReport],
) -> impl Iterator<
    Item = (
        cairn_core::OrgPublicKey,
        &cairn_core::sighting::Sighting,
        i64,
    ),
> {
    sightings.iter().filter_map(|s| {
        let r = s.report.report();
        r.sighting
            .as_ref()
            .map(|sighting| (s.report.author(), sighting, r.created_ms))
    })
}

/// `GET /api/v1/reports/{id}/sightings`.
pub(crate) async fn report_sightings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let store = state.node.store().clone();
    let shown = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ApiError> {
        let report = stored_by_id(&store, &id)?.ok_or_else(report_not_found)?;
        let sightings = store
            .current_sightings_of(&report.report.id())
            .map_err(internal)?;
        Ok(sightings_json(&report, &sightings))
    })
    .await
    .map_err(internal)??;
    Ok(Json(shown).into_response())
}

/// `POST /api/v1/reports/{id}/sightings`: a sighting of, or feedback about, a report this node
/// holds, signed by this node's organisation, stored and shared back to its author.
pub(crate) async fn add_sighting(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<SightingRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Publish)?;
    let org = signer(&state)?;
    let request = json_body(body)?;
    let concerned = held_report(&state, id).await?;
    let draft = draft_about(
        concerned.report.report(),
        concerned.report.id(),
        concerned.report.author(),
        &request,
        cairn_core::when::now_ms(),
    )
    .map_err(|e| {
        let code = match e {
            DraftSightingError::Sighting(_) => "sighting_too_wide",
            DraftSightingError::Field { .. } | DraftSightingError::Invalid(_) => "invalid_report",
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
    })?;
    let report = draft.sign(&*org, &mut rand::rngs::OsRng).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_report",
            e.to_string(),
        )
    })?;
    store_signed(&state, report).await
}
