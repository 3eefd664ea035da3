//! `POST /api/v1/psi`: ask a partner which of these values it holds that this organisation may
//! see there, by private set intersection (docs/PSI.md), as `cairn psi ask` does. The partner
//! learns only how many values were asked; its daily allowance counts them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_node::psi::PsiAskError;

use crate::{ApiError, AppState, Role, internal, json_body};

/// What `POST /api/v1/psi` takes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PsiRequest {
    /// The partner, by its name in the trust list or its organisation key.
    partner: String,
    /// Values: observables, or TYPE:VALUE (a value valid as several types is asked as each).
    values: Vec<String>,
}

/// `POST /api/v1/psi`.
pub(crate) async fn ask(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<PsiRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Publish)?;
    let request = json_body(body)?;
    let unprocessable =
        |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", message);
    let mut asked = Vec::with_capacity(request.values.len());
    for (i, text) in request.values.iter().enumerate() {
        let read = cairn_core::correlation::readings(text)
            .map_err(|e| unprocessable(format!("values[{i}]: {text:?}: {e}")))?;
        asked.extend(read);
    }
    let count = asked.len();
    match state.node.psi_ask(&request.partner, asked).await {
        Ok(held) => Ok(Json(serde_json::json!({
            "partner": request.partner,
            "asked": count,
            "held": held
                .iter()
                .map(|i| format!("{}:{}", i.kind, i.value))
                .collect::<Vec<_>>(),
        }))
        .into_response()),
        Err(e @ PsiAskError::UnknownPartner(_)) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            e.to_string(),
        )),
        Err(e @ PsiAskError::Query(_)) => Err(unprocessable(e.to_string())),
        Err(e @ (PsiAskError::NotConnected(_) | PsiAskError::Request { .. })) => {
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "partner_unreachable",
                e.to_string(),
            ))
        }
        Err(e @ PsiAskError::Refused { .. }) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "refused_by_partner",
            e.to_string(),
        )),
        Err(e @ PsiAskError::BadAnswer { .. }) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad_answer",
            e.to_string(),
        )),
        Err(e @ PsiAskError::Stopped) => Err(internal(e)),
    }
}
