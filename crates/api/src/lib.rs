//! The node's local HTTP API (axum), on 127.0.0.1 by default: status, partners, reports
//! (filtered queries, one by id, publish, retract) and a live stream of reports as they are stored
//! (Server-Sent Events, resumable from an arrival number). Callers authenticate with tokens
//! that carry a role (`tokens`); errors are JSON objects of one shape:
//! `{"error": {"code": "...", "message": "..."}}`. The OpenAPI description is served at
//! `/api/v1/openapi.json` and kept in `crates/api/openapi.json`.

pub mod chart;
mod console;
pub mod correlations;
pub mod directory;
pub mod indicators;
mod metrics;
mod misp_feed;
pub mod observance;
pub mod partners;
mod psi;
pub mod public;
mod sightings;
mod stix_index;
pub mod taxii;
pub mod tls;
pub mod tokens;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use cairn_node::NodeHandle;
use cairn_store::{Provenance, ReportQuery, ReportStatus, StoredReport};
use tokio_util::sync::CancellationToken;

pub use tokens::{Role, TokenError, Tokens};

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Settings of the API (the `[api]` table of node.toml).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Serve the API.
    pub enabled: bool,
    /// Where (host:port). Plain HTTP is only served on a loopback address: anywhere else
    /// needs `tls_certificate` and `tls_key`.
    pub listen: String,
    /// PEM certificate chain (this node's certificate first) for HTTPS. Relative paths are
    /// read from the node folder. With `tls_key`, the API and TAXII are served over HTTPS only.
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key of that certificate (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// Serve TAXII 2.1 and the MISP feed. Their index of every STIX object version is kept in
    /// memory (about 250 bytes each); a small node whose partners and analysts only use the
    /// API and the console may turn them off.
    pub taxii: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            listen: "127.0.0.1:7401".into(),
            tls_certificate: None,
            tls_key: None,
            taxii: true,
        }
    }
}

/// Why the API did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address is not host:port.
    #[error("api.listen {0:?} is not an address and port (127.0.0.1:7401)")]
    Address(String),
    /// Plain HTTP on an address other machines can reach.
    #[error(
        "api.listen {0:?} is not a loopback address: API tokens and reports would cross the network unencrypted. Set api.tls_certificate and api.tls_key to serve HTTPS, or listen on 127.0.0.1 behind a TLS proxy on this host"
    )]
    PlainHttpOutsideLoopback(String),
    /// The certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Binding failed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

pub(crate) struct AppState {
    pub(crate) node: NodeHandle,
    /// The key this node signs reports published over the API with (the organisation key, or
    /// a node key its organisation authorised), if any.
    pub(crate) signer: SignerSlot,
    /// The communities this node defines: a TAXII collection each.
    pub(crate) communities: Vec<String>,
    /// How objects added over TAXII are imported.
    pub(crate) import: cairn_interop::import::ImportConfig,
    /// The STIX objects TAXII serves, built once and extended as reports arrive.
    pub(crate) taxii: Mutex<stix_index::StixIndex>,
    /// The reports that carry STIX objects read last for a TAXII page.
    pub(crate) recent_reports: Mutex<stix_index::RecentReports>,
    /// The events the MISP feed serves, extended as reports arrive.
    pub(crate) misp_feed: Mutex<misp_feed::FeedIndex>,
    /// TAXII status resources of this run, by id.
    pub(crate) statuses: Mutex<taxii::Statuses>,
    /// Asks the task that keeps the TAXII index up to take in what was just stored, without
    /// waiting for writes to pause (a TAXII client added objects and will read them back).
    pub(crate) stix_index_due: tokio::sync::Notify,
    tokens_path: PathBuf,
    tokens: Mutex<(Option<TokenFileStamp>, Tokens)>,
    /// Invitations and adding partners, when the binary offers them.
    pub(crate) partner_actions: Option<Arc<dyn partners::PartnerActions>>,
    /// What indicators are flagged against when published or imported in the console.
    pub(crate) warning_lists: Arc<cairn_core::warninglist::WarningLists>,
    /// How indicators are scored and when they stop being valid.
    pub(crate) scoring: cairn_core::score::ScoringConfig,
    /// The console's signed-in sessions.
    pub(crate) console: console::Sessions,
    /// The console overview's counts of reports in and out per day, kept from one view to
    /// the next.
    pub(crate) console_traffic: Mutex<console::TrafficCounts>,
    /// Whether the API is served over HTTPS (the console's cookies are then Secure).
    pub(crate) https: bool,
    shutdown: CancellationToken,
}

/// An error as the API answers it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({
            "error": {"code": self.code, "message": self.message}
        }));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cairn\""),
            );
        }
        response
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("api: {e}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the node could not answer; see its log",
    )
}

impl AppState {
    /// Checks the bearer token against the token file (re-read when it changes).
    fn authorize(&self, headers: &HeaderMap, needed: Role) -> Result<(), ApiError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "send a token: Authorization: Bearer TOKEN (create one with `cairn token create`)",
                )
            })?;
        self.check_token(presented, needed)
            .map(|_| ())
            .map_err(|(status, message)| {
                let code = if status == StatusCode::FORBIDDEN {
                    "forbidden"
                } else {
                    "unauthorized"
                };
                ApiError::new(status, code, message)
            })
    }

    /// Whether a presented token is one of this node's with at least the role `needed`; if
    /// not, the status to answer and why.
    pub(crate) fn check_token(
        &self,
        presented: &str,
        needed: Role,
    ) -> Result<Role, (StatusCode, String)> {
        let mut cached = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let modified = TokenFileStamp::of(&self.tokens_path);
        if modified.is_none() || modified != cached.0 {
            match Tokens::load(&self.tokens_path) {
                Ok(tokens) => *cached = (modified, tokens),
                Err(e) => {
                    tracing::error!("api tokens: {e}");
                    return Err((
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the node cannot read its token file; see its log".into(),
                    ));
                }
            }
        }
        match cached.1.role_of(presented) {
            None => Err((
                StatusCode::UNAUTHORIZED,
                "this token is not valid on this node".into(),
            )),
            Some((role, name)) if role < needed => Err((
                StatusCode::FORBIDDEN,
                format!("token {name:?} has role {role:?}; this needs {needed:?}").to_lowercase(),
            )),
            Some((role, _)) => Ok(role),
        }
    }
}

/// What tells one version of the token file from another. A modification time alone is not
/// enough: two writes within the file system's clock tick share one, and a token created then
/// would be refused until the next change. Creating or revoking a token changes the length,
/// and every save renames a new file into place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TokenFileStamp {
    modified: SystemTime,
    len: u64,
    file: u64,
}

impl TokenFileStamp {
    fn of(path: &std::path::Path) -> Option<TokenFileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let file = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let file = 0;
        Some(TokenFileStamp {
            modified: meta.modified().ok()?,
            len: meta.len(),
            file,
        })
    }
}

/// A report as the API shows it.
#[derive(Debug, serde::Serialize)]
pub struct ApiReport {
    /// Report id (64 hex digits).
    pub id: String,
    /// Author organisation key.
    pub author: String,
    /// Arrival number on this node (the stream's cursor).
    pub seq: u64,
    /// When this node stored it (RFC 3339).
    pub received: String,
    /// How it came here: local, import, or peer.
    pub source: &'static str,
    /// For reports from partners: the partner's organisation key and the hop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_from: Option<serde_json::Value>,
    /// current, superseded or retracted.
    pub status: &'static str,
    /// The newer version or the retraction, when not current.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_by: Option<String>,
    /// Creation time (RFC 3339).
    pub created: String,
    /// The signed content.
    #[serde(flatten)]
    pub report: serde_json::Value,
    /// Disclosures present.
    pub disclosures: Vec<serde_json::Value>,
    /// Disclosures withheld by whoever passed it on.
    pub withheld_disclosures: usize,
}

fn rfc3339(ms: i64) -> String {
    // Always with milliseconds, so that times sort as text too.
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

pub(crate) fn api_report(stored: &StoredReport, status: Option<ReportStatus>) -> ApiReport {
    let (source, received_from) = match stored.provenance {
        Provenance::Local => ("local", None),
        Provenance::Import => ("import", None),
        Provenance::Peer { org, hop } => (
            "peer",
            Some(serde_json::json!({"org_key": org.to_string(), "hop": hop})),
        ),
    };
    let (status, status_by) = match status {
        None | Some(ReportStatus::Current) => ("current", None),
        Some(ReportStatus::SupersededBy(id)) => ("superseded", Some(id.to_string())),
        Some(ReportStatus::Retracted(id)) => ("retracted", Some(id.to_string())),
    };
    let r = &stored.report;
    ApiReport {
        id: r.id().to_string(),
        author: r.author().to_string(),
        seq: stored.seq,
        received: rfc3339(stored.received_ms),
        source,
        received_from,
        status,
        status_by,
        created: rfc3339(r.report().created_ms),
        report: serde_json::to_value(r.report()).unwrap_or_default(),
        disclosures: r
            .disclosures()
            .iter()
            .map(|d| serde_json::json!({"field": d.field, "value": d.value}))
            .collect(),
        withheld_disclosures: r.withheld(),
    }
}

/// Filters of `GET /api/v1/reports`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportFilters {
    kind: Option<String>,
    tlp: Option<String>,
    tag: Option<String>,
    sector: Option<String>,
    region: Option<String>,
    /// A Paris Call principle, 1-9.
    principle: Option<String>,
    since: Option<String>,
    until: Option<String>,
    indicator: Option<String>,
    /// A CIDR range or domain: reports with an indicator inside it.
    inside: Option<String>,
    /// Words that must all be in the title or summary.
    text: Option<String>,
    author: Option<String>,
    history: Option<bool>,
    limit: Option<usize>,
    /// Where the previous page ended (its `next_cursor`).
    cursor: Option<String>,
    /// `newest` (the default) or `oldest` first.
    order: Option<String>,
    /// `true`: reports with an active indicator (valid, scoring at least the threshold).
    valid: Option<bool>,
    /// Reports with an indicator in one of these states (comma-separated).
    state: Option<String>,
    /// Reports with an indicator scoring at least this.
    min_score: Option<String>,
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// A time filter, as the command line takes it: RFC 3339, a date or an age (`7d`).
fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    let now = cairn_core::when::now_ms();
    let end_of_day = field == "until";
    cairn_core::when::parse(text, now, end_of_day).map_err(|e| bad_request(format!("{field}: {e}")))
}

/// A page cursor: the creation time and arrival number of the last report of a page.
fn page_cursor(stored: &StoredReport) -> String {
    format!("{}.{}", stored.report.report().created_ms, stored.seq)
}

fn parse_cursor(text: &str) -> Result<(i64, u64), ApiError> {
    text.split_once('.')
        .and_then(|(created, seq)| Some((created.parse().ok()?, seq.parse().ok()?)))
        .ok_or_else(|| {
            bad_request(format!(
                "cursor={text:?} is not a cursor this node gave (next_cursor of a page)"
            ))
        })
}

impl ReportFilters {
    fn query(&self) -> Result<ReportQuery, ApiError> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(bad_request(format!("limit={limit}: from 1 to 1000")));
        }
        Ok(ReportQuery {
            author: self
                .author
                .as_deref()
                .map(|a| a.parse().map_err(|e| bad_request(format!("author: {e}"))))
                .transpose()?,
            kind: self
                .kind
                .as_deref()
                .map(|k| k.parse().map_err(|e| bad_request(format!("kind: {e}"))))
                .transpose()?,
            tlp: self
                .tlp
                .as_deref()
                .map(|t| t.parse().map_err(|e| bad_request(format!("tlp: {e}"))))
                .transpose()?,
            tag: self.tag.clone(),
            sector: self.sector.clone().filter(|s| !s.trim().is_empty()),
            region: self.region.clone().filter(|s| !s.trim().is_empty()),
            principle: self
                .principle
                .as_deref()
                .map(|p| {
                    p.trim()
                        .parse::<u8>()
                        .ok()
                        .filter(|n| (1..=9).contains(n))
                        .ok_or_else(|| {
                            bad_request(format!(
                                "principle={p:?}: a Paris Call principle is a number from 1 to 9"
                            ))
                        })
                })
                .transpose()?,
            since_ms: self
                .since
                .as_deref()
                .map(|t| parse_time("since", t))
                .transpose()?,
            until_ms: self
                .until
                .as_deref()
                .map(|t| parse_time("until", t))
                .transpose()?,
            indicator: self.indicator.clone(),
            inside: self
                .inside
                .as_deref()
                .map(|v| {
                    cairn_core::search::Container::parse(v)
                        .map_err(|e| bad_request(format!("inside: {e}")))
                })
                .transpose()?,
            text: self.text.clone().filter(|t| !t.trim().is_empty()),
            include_history: self.history.unwrap_or(false),
            limit,
            past: self.cursor.as_deref().map(parse_cursor).transpose()?,
            oldest_first: match self.order.as_deref() {
                None | Some("newest") => false,
                Some("oldest") => true,
                Some(other) => {
                    return Err(bad_request(format!(
                        "order={other:?}: newest (the default) or oldest"
                    )));
                }
            },
        })
    }
}

async fn status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    Ok(Json(state.node.status().await.map_err(internal)?).into_response())
}

async fn peers(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    Ok(Json(state.node.peers().await.map_err(internal)?).into_response())
}

/// `GET /api/v1/observance`: the observance trends over what the node holds.
async fn observance_trends(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<observance::ObservanceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let Query(query) = query.map_err(|e| bad_request(e.body_text()))?;
    let store = state.node.store().clone();
    let us = state.node.org();
    let view = tokio::task::spawn_blocking(move || observance::view(&store, us, &query))
        .await
        .map_err(internal)?
        .map_err(|e| match e {
            observance::ObservanceError::Query(why) => bad_request(why),
            other => internal(other),
        })?;
    Ok(Json(view).into_response())
}

/// `GET /api/v1/directory`: the current directory entries a search selects.
async fn directory_search(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<
        Query<cairn_core::directory::DirectorySearch>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let Query(search) = query.map_err(|e| bad_request(e.body_text()))?;
    let store = state.node.store().clone();
    let now = cairn_core::when::now_ms();
    let view = tokio::task::spawn_blocking(move || directory::search_view(&store, &search, now))
        .await
        .map_err(internal)?
        .map_err(directory_error)?;
    Ok(Json(view).into_response())
}

/// `GET /api/v1/directory/matches`: capacity needs and the offers and donor programmes that
/// match them, ranked, with reasons.
async fn directory_matches(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<directory::MatchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let Query(query) = query.map_err(|e| bad_request(e.body_text()))?;
    let store = state.node.store().clone();
    let us = state.node.org();
    let now = cairn_core::when::now_ms();
    let view =
        tokio::task::spawn_blocking(move || directory::matches_view(&store, us, &query, now))
            .await
            .map_err(internal)?
            .map_err(directory_error)?;
    Ok(Json(view).into_response())
}

fn directory_error(e: directory::DirectoryError) -> ApiError {
    match e {
        directory::DirectoryError::Query(why) => bad_request(why),
        other => internal(other),
    }
}

/// What `POST /api/v1/observance/publish` takes.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PublishFigures {
    /// Cells under this count are left out (5 unless given).
    min_count: Option<u64>,
    /// Laplace noise of scale 27 / epsilon added to every count first (none unless given).
    epsilon: Option<f64>,
    /// A regional cluster: count only the incident reports addressed to this community, and
    /// address the figures to it.
    community: Option<String>,
}

/// `POST /api/v1/observance/publish`: this organisation's own observance figures (the
/// incident reports it wrote, counted), made fit to publish, signed as a TLP:CLEAR report that
/// supersedes the figures it published before.
async fn publish_figures(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<PublishFigures>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Publish)?;
    let org = signer(&state)?;
    let asked = json_body(body)?;
    let publishing = cairn_core::observance::Publishing {
        min_count: asked
            .min_count
            .unwrap_or(cairn_core::observance::DEFAULT_MIN_COUNT),
        epsilon: asked.epsilon,
    };
    if publishing.min_count == 0 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_report",
            "min_count must be at least 1",
        ));
    }
    let name = state.node.status().await.map_err(internal)?.organisation;
    let store = state.node.store().clone();
    let us = state.node.org();
    let community = asked.community;
    let draft = tokio::task::spawn_blocking(move || {
        observance::figures_draft(
            &store,
            us,
            &name,
            publishing,
            community.as_deref(),
            &mut rand::rngs::OsRng,
        )
    })
    .await
    .map_err(internal)?
    .map_err(|e| match e {
        observance::ObservanceError::Publish(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_report",
            e.to_string(),
        ),
        other => internal(other),
    })?;
    sign_and_store(&state, &org, &draft).await
}

async fn reports(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    filters: Result<Query<ReportFilters>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let Query(filters) = filters.map_err(|e| bad_request(e.body_text()))?;
    let mut query = filters.query()?;
    let score_filter = indicators::ScoreFilter::parse(
        filters.valid,
        filters.state.as_deref(),
        filters.min_score.as_deref(),
        None,
    )?;
    let limit = query.limit;
    let store = state.node.store().clone();
    let scoring = state.scoring.clone();
    let (list, next) = tokio::task::spawn_blocking(
        move || -> Result<(Vec<ApiReport>, Option<String>), cairn_store::ReadError> {
            let (found, next) = match score_filter {
                Some(filter) => {
                    let now_ms = cairn_core::when::now_ms();
                    let page =
                        indicators::scored_reports(&store, &query, &filter, &scoring, now_ms)?;
                    let next = page
                        .next
                        .map(|(created, seq)| Some(format!("{created}.{seq}")));
                    (page.reports, next)
                }
                None => {
                    // One more than asked, to know whether there is a next page.
                    query.limit += 1;
                    let mut found = store.query(&query)?;
                    let next = (found.len() > limit).then(|| {
                        found.truncate(limit);
                        found.last().map(page_cursor)
                    });
                    (found, next)
                }
            };
            let list = found
                .iter()
                .map(|s| Ok(api_report(s, Some(store.status(&s.report)?))))
                .collect::<Result<_, cairn_store::ReadError>>()?;
            Ok((list, next.flatten()))
        },
    )
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let mut body = serde_json::json!({ "reports": list });
    if let Some(next) = next {
        body["next_cursor"] = serde_json::json!(next);
    }
    Ok(Json(body).into_response())
}

async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let store = state.node.store().clone();
    let found = tokio::task::spawn_blocking(move || -> Result<Option<ApiReport>, ApiError> {
        let Some(stored) = stored_by_id(&store, &id)? else {
            return Ok(None);
        };
        let status = store.status(&stored.report).map_err(internal)?;
        Ok(Some(api_report(&stored, Some(status))))
    })
    .await
    .map_err(internal)??;
    match found {
        Some(r) => Ok(Json(r).into_response()),
        None => Err(report_not_found()),
    }
}

/// How `stored` exports to STIX on this node: with the first version of its chain and, for a
/// sighting, the STIX id of what it is a sighting of as this node exports the report it
/// concerns (`cairn_interop::stix::sighting_of_ref`). The API's TAXII objects and `cairn report
/// export --format stix` both use it.
pub fn stix_export_context(
    store: &cairn_store::Store,
    stored: &StoredReport,
    author_name: Option<String>,
) -> Result<cairn_interop::stix::ExportContext, cairn_store::ReadError> {
    let first = store.first_version(&stored.report)?;
    let sighting_of = match &stored.report.report().sighting {
        None => None,
        Some(sighting) => {
            let held = store.get(&sighting.concerns.report)?;
            let concerned = match &held {
                Some(h) => Some((&h.report, store.first_version(&h.report)?.0)),
                None => None,
            };
            Some(cairn_interop::stix::sighting_of_ref(sighting, concerned))
        }
    };
    Ok(cairn_interop::stix::ExportContext {
        author_name,
        first,
        sighting_of,
    })
}

/// The report `store` holds that a sighting is a sighting of (for
/// `ImportOptions::sighted`): for a STIX sighting the one a sighting exported by Cairn names,
/// else the newest report that exports an object with its `sighting_of_ref` id, as
/// `exported_by` finds it (the TAXII index, or [`stix_ids`]); for a MISP event, the report
/// `misp_event` finds ([`misp_events`]).
pub fn sighted_in(
    store: &cairn_store::Store,
    exported_by: &dyn Fn(&str) -> Option<u64>,
    misp_event: &dyn Fn(&str) -> Option<u64>,
    wanted: &cairn_interop::import::SightedRef<'_>,
) -> Option<cairn_core::VerifiedReport> {
    use cairn_interop::import::SightedRef;
    let (held, what) = match wanted {
        SightedRef::Stix {
            report: Some(id), ..
        } => (store.get(id), id.to_string()),
        SightedRef::Stix { stix_id, .. } => {
            (store.get_seq(exported_by(stix_id)?), stix_id.to_string())
        }
        SightedRef::MispEvent(uuid) => (store.get_seq(misp_event(uuid)?), uuid.to_string()),
    };
    match held {
        Ok(found) => found.map(|s| s.report),
        Err(e) => {
            tracing::warn!(error = %e, sighting_of = %what, "the report a sighting is of could not be read: the sighting is carried as it came");
            None
        }
    }
}

/// Which stored report each MISP event of this node's feed is, read from the whole store the
/// first time it is asked.
pub fn misp_events(store: &cairn_store::Store) -> impl Fn(&str) -> Option<u64> + '_ {
    let index: std::cell::OnceCell<misp_feed::FeedIndex> = std::cell::OnceCell::new();
    move |uuid| {
        index
            .get_or_init(|| {
                let mut built = misp_feed::FeedIndex::default();
                if let Err(e) = built.refresh(store) {
                    tracing::warn!(error = %e, "the MISP events of stored reports could not all be read");
                }
                built
            })
            .report_of(uuid)
    }
}

/// Which stored report exports each STIX id, read from the whole store the first time it is
/// asked (for imports outside TAXII, which keeps its own index).
pub fn stix_ids(store: &cairn_store::Store) -> impl Fn(&str) -> Option<u64> + '_ {
    let index: std::cell::OnceCell<stix_index::StixIndex> = std::cell::OnceCell::new();
    move |id| {
        index
            .get_or_init(|| {
                let mut built = stix_index::StixIndex::default();
                if let Err(e) = built.refresh(store, &|| true) {
                    tracing::warn!(error = %e, "the STIX ids of stored reports could not all be read");
                }
                built
            })
            .newest_report_of(id)
    }
}

/// 404 for a report this node does not hold.
pub(crate) fn report_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such report on this node",
    )
}

/// The report `id` (its id or a unique prefix) names, read on a blocking thread: 404 when
/// this node holds none.
pub(crate) async fn held_report(state: &AppState, id: String) -> Result<StoredReport, ApiError> {
    let store = state.node.store().clone();
    tokio::task::spawn_blocking(move || stored_by_id(&store, &id))
        .await
        .map_err(internal)??
        .ok_or_else(report_not_found)
}

/// A stored report by id or unique prefix; `None` when there is none, 400 when the prefix is
/// ambiguous or not hexadecimal.
fn stored_by_id(store: &cairn_store::Store, id: &str) -> Result<Option<StoredReport>, ApiError> {
    let id = match store.resolve(id) {
        Ok(id) => id,
        Err(cairn_store::ResolveError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(bad_request(e.to_string())),
    };
    store.get(&id).map_err(internal)
}

/// `GET /api/v1/stream`: reports as they are stored, from `after` (or the Last-Event-ID
/// header) on; each event's id is its arrival number.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamParams {
    after: Option<u64>,
}

async fn stream(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    params: Result<Query<StreamParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let Query(params) = params.map_err(|e| bad_request(e.body_text()))?;
    let last_event = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let cursor = last_event.or(params.after).unwrap_or(0);
    use futures::StreamExt;
    let events = arrivals(&state, cursor).map(|s| {
        let body = serde_json::to_string(&api_report(&s, None)).unwrap_or_default();
        Ok::<_, std::convert::Infallible>(
            Event::default()
                .id(s.seq.to_string())
                .event("report")
                .data(body),
        )
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Reports as this node stores them after arrival number `cursor`, in arrival order, until
/// the API stops: what the stream and the console's live updates send.
pub(crate) fn arrivals(
    state: &AppState,
    cursor: u64,
) -> impl futures::Stream<Item = StoredReport> + Send + 'static {
    use futures::StreamExt;
    let store = state.node.store().clone();
    let shutdown = state.shutdown.clone();
    futures::stream::unfold((store, cursor), move |(store, cursor)| {
        let shutdown = shutdown.clone();
        async move {
            loop {
                let reader = store.clone();
                let page = tokio::task::spawn_blocking(move || reader.after(cursor, 256))
                    .await
                    .ok()?
                    .ok()?;
                if let Some(last) = page.last() {
                    let next = last.seq;
                    return Some((futures::stream::iter(page), (store, next)));
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    })
    .flatten()
}

/// The key that signs reports published over the API, replaced while the API runs when the
/// organisation hands its key over to a new one (`cairn org rotate`).
#[derive(Clone, Default)]
pub struct SignerSlot(Arc<std::sync::RwLock<Option<Arc<cairn_core::ReportSigningKey>>>>);

impl SignerSlot {
    /// A slot holding `key` (none: publishing is refused).
    pub fn new(key: Option<cairn_core::ReportSigningKey>) -> SignerSlot {
        SignerSlot(Arc::new(std::sync::RwLock::new(key.map(Arc::new))))
    }

    /// Signs with `key` from now on; publications already signing finish with the former.
    pub fn replace(&self, key: Option<cairn_core::ReportSigningKey>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = key.map(Arc::new);
    }

    /// The key now.
    pub fn get(&self) -> Option<Arc<cairn_core::ReportSigningKey>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl From<Option<cairn_core::ReportSigningKey>> for SignerSlot {
    fn from(key: Option<cairn_core::ReportSigningKey>) -> SignerSlot {
        SignerSlot::new(key)
    }
}

fn signer(state: &AppState) -> Result<Arc<cairn_core::ReportSigningKey>, ApiError> {
    state.signer.get().ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this node holds neither the organisation key nor a node key authorised to sign reports, so it cannot sign reports",
        )
    })
}

/// The JSON body of a request: 415 without the JSON content type, 400 when it is not JSON, and
/// 422 `invalid_report` when it is JSON that is not a valid request (a field of the wrong
/// type, an unknown value), naming the field as a report rule would.
fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    use axum::extract::rejection::JsonRejection;
    match body {
        Ok(Json(value)) => Ok(value),
        Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON, with Content-Type: application/json",
        )),
        Err(JsonRejection::JsonDataError(e)) => {
            // The framework's text begins with what it was doing; the rest names the field.
            let text = e.body_text();
            let what = text
                .split_once("target type: ")
                .map_or(text.as_str(), |(_, rest)| rest);
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_report",
                what.to_string(),
            ))
        }
        Err(JsonRejection::JsonSyntaxError(e)) => {
            let text = e.body_text();
            let what = text
                .split_once(": ")
                .map_or(text.as_str(), |(_, rest)| rest);
            Err(bad_request(format!("the body is not JSON: {what}")))
        }
        Err(e) => Err(bad_request(format!(
            "the body is not a valid request: {}",
            e.body_text()
        ))),
    }
}

/// Stores a report this node signed and answers with it (201), or says why not.
/// Signs a draft with this node's signing key (422 `invalid_report` when it breaks a rule)
/// and stores it as [`store_signed`] does.
async fn sign_and_store(
    state: &AppState,
    org: &cairn_core::ReportSigningKey,
    draft: &cairn_core::ReportDraft,
) -> Result<Response, ApiError> {
    let report = draft.sign(org, &mut rand::rngs::OsRng).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_report",
            e.to_string(),
        )
    })?;
    store_signed(state, report).await
}

async fn store_signed(
    state: &AppState,
    report: cairn_core::VerifiedReport,
) -> Result<Response, ApiError> {
    let id = report.id();
    // Known-benign values named in it: published all the same, and said in the answer.
    let flags = state.warning_lists.flags(&report.report().indicators);
    let outcome = state
        .node
        .publish(vec![report])
        .await
        .map_err(internal)?
        .pop();
    match outcome {
        Some(
            cairn_store::IngestOutcome::Stored { .. }
            | cairn_store::IngestOutcome::Duplicate { .. },
        ) => {}
        Some(cairn_store::IngestOutcome::Refused { reason, .. }) => {
            return Err(ApiError::new(StatusCode::CONFLICT, "conflict", reason));
        }
        Some(cairn_store::IngestOutcome::Rejected(e)) => return Err(internal(e)),
        None => return Err(internal("no outcome")),
    }
    let store = state.node.store().clone();
    let shown = tokio::task::spawn_blocking(
        move || -> Result<Option<ApiReport>, cairn_store::ReadError> {
            let Some(stored) = store.get(&id)? else {
                return Ok(None);
            };
            let status = store.status(&stored.report)?;
            Ok(Some(api_report(&stored, Some(status))))
        },
    )
    .await
    .map_err(internal)?
    .map_err(internal)?
    .ok_or_else(|| internal("a report just stored is not found"))?;
    let mut shown = serde_json::to_value(shown).map_err(internal)?;
    if !flags.is_empty() {
        shown["warning_list_flags"] = serde_json::json!(
            flags
                .iter()
                .map(|f| serde_json::json!({
                    "indicator": f.indicator,
                    "lists": f.lists,
                    "message": f.describe(),
                }))
                .collect::<Vec<_>>()
        );
    }
    Ok((StatusCode::CREATED, Json(shown)).into_response())
}

/// `POST /api/v1/reports`: a report draft (the same JSON `cairn report new --file` reads),
/// signed by this node's organisation, stored and shared.
async fn publish(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Json<cairn_core::ReportDraft>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Publish)?;
    let org = signer(&state)?;
    let draft = json_body(body)?;
    sign_and_store(&state, &org, &draft).await
}

/// What `POST /api/v1/reports/{id}/retract` takes.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Retraction {
    reason: String,
}

/// `POST /api/v1/reports/{id}/retract`: a signed retraction of one of this organisation's
/// reports.
async fn retract(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<Retraction>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Publish)?;
    let org = signer(&state)?;
    let Retraction { reason } = json_body(body)?;
    let target = held_report(&state, id).await?;
    let tombstone = cairn_core::retract(&target.report, &reason, &*org, &mut rand::rngs::OsRng)
        .map_err(|e| match e {
            cairn_core::RetractError::NotAuthor { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            other => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_report",
                other.to_string(),
            ),
        })?;
    store_signed(&state, tombstone).await
}

/// `GET /metrics`: the node's figures for Prometheus (role read).
async fn metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Read)?;
    let status = state.node.status().await.map_err(internal)?;
    let peers = state.node.peers().await.map_err(internal)?;
    let store = state.node.store().clone();
    let store_bytes = tokio::task::spawn_blocking(move || store.size_on_disk())
        .await
        .map_err(internal)?
        .map_err(internal)?;
    let text =
        metrics::encode(&status, &peers, store_bytes, state.node.metrics()).map_err(internal)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// `GET /public/advisories.atom`: the public awareness feed (no token): current TLP:CLEAR
/// advisories left unrestricted by their authors, as Atom.
async fn public_advisories(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let status = state.node.status().await.map_err(internal)?;
    let store = state.node.store().clone();
    let us = state.node.org();
    let organisation = status.organisation.clone();
    let advisories = tokio::task::spawn_blocking(move || {
        public::public_advisories(&store, &|org| (*org == us).then(|| organisation.clone()))
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let now = cairn_core::when::now_ms();
    let text = public::feed(&advisories, &us, &status.organisation, now);
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        text,
    )
        .into_response())
}

/// `GET /healthz`: the API answers (for a load balancer or a supervisor; no token).
async fn healthz() -> Response {
    Json(serde_json::json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: the node behind the API answers in time, so requests can be sent here (no
/// token); 503 otherwise, saying why.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let asked = tokio::time::timeout(std::time::Duration::from_secs(2), state.node.status()).await;
    let reason = match asked {
        Ok(Ok(_)) => return Json(serde_json::json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "the node did not answer within 2 s".to_string(),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({"status": "not ready", "reason": reason})),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint: see /api/v1/openapi.json",
    )
}

/// What `/taxii2/` and `/misp/` answer on a node that serves neither.
async fn taxii_off() -> taxii::TaxiiError {
    taxii::turned_off()
}

/// The API's routes; TAXII and the MISP feed only with `taxii_on`.
fn router(state: Arc<AppState>, taxii_on: bool) -> Router {
    let routes = if taxii_on {
        taxii_routes()
    } else {
        Router::new()
            .route("/taxii2/", any(taxii_off))
            .route("/taxii2/{*rest}", any(taxii_off))
            .route("/misp/{*rest}", any(taxii_off))
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .route("/public/advisories.atom", get(public_advisories))
        .route("/api/v1/status", get(status))
        .route("/api/v1/peers", get(peers))
        .route("/api/v1/observance", get(observance_trends))
        .route("/api/v1/observance/publish", post(publish_figures))
        .route("/api/v1/directory", get(directory_search))
        .route("/api/v1/directory/matches", get(directory_matches))
        .route("/api/v1/reports", get(reports).post(publish))
        .route("/api/v1/reports/{id}", get(report))
        .route("/api/v1/reports/{id}/retract", post(retract))
        .route(
            "/api/v1/reports/{id}/sightings",
            get(sightings::report_sightings).post(sightings::add_sighting),
        )
        .route(
            "/api/v1/reports/{id}/correlations",
            get(correlations::report_correlations),
        )
        .route("/api/v1/correlations", get(correlations::correlations))
        .route("/api/v1/indicators", get(indicators::indicators))
        .route("/api/v1/psi", post(psi::ask))
        .route("/api/v1/stream", get(stream))
        .route("/api/v1/openapi.json", get(openapi))
        .merge(routes)
        .merge(console::routes())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            taxii::MAX_CONTENT_LENGTH + 1024 * 1024,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            time_request,
        ))
        .with_state(state)
}

/// TAXII 2.1 and the MISP feed.
fn taxii_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/misp/feed/manifest.json", get(misp_feed::manifest))
        .route("/misp/feed/hashes.csv", get(misp_feed::hashes))
        .route("/misp/feed/{file}", get(misp_feed::event))
        .route("/taxii2/", get(taxii::discovery))
        .route("/taxii2/api/", get(taxii::api_root))
        .route("/taxii2/api/collections/", get(taxii::collections))
        .route("/taxii2/api/collections/{id}/", get(taxii::one_collection))
        .route(
            "/taxii2/api/collections/{id}/objects/",
            get(taxii::objects).post(taxii::add_objects),
        )
        .route("/taxii2/api/status/{id}/", get(taxii::status))
        .route(
            "/taxii2/api/collections/{id}/manifest/",
            get(taxii::manifest),
        )
        .route(
            "/taxii2/api/collections/{id}/objects/{object}/",
            get(taxii::object),
        )
        .route(
            "/taxii2/api/collections/{id}/objects/{object}/versions/",
            get(taxii::versions),
        )
}

/// Times each request into the node's latency histograms, by protocol (`api`, `taxii`,
/// `misp_feed`) and method; health checks and scrapes are left out.
async fn time_request(
    State(state): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_string();
    let protocol = if path.starts_with("/taxii2/") {
        Some("taxii")
    } else if path.starts_with("/public/") {
        Some("public")
    } else if path.starts_with("/misp/") {
        Some("misp_feed")
    } else if path.starts_with("/api/") {
        Some("api")
    } else {
        None
    };
    let method = request.method().as_str().to_ascii_lowercase();
    let span = tracing::info_span!(
        "request",
        protocol = protocol.unwrap_or("http"),
        method = %method,
        path = %path
    );
    let started = std::time::Instant::now();
    let response = tracing::Instrument::instrument(next.run(request), span).await;
    if let Some(protocol) = protocol {
        state
            .node
            .metrics()
            .request(protocol, &method, started.elapsed().as_secs_f64());
    }
    response
}

/// The TAXII index is brought up to date in the background once writes have paused this long.
const STIX_INDEX_QUIET: Duration = Duration::from_millis(200);

/// ... or once it is this many stored reports behind, writes or not.
const STIX_INDEX_MAX_BEHIND: u64 = 20_000;

/// Keeps the STIX index up with the store: the reports already stored when the API starts,
/// then those stored since, a moment after they arrive (at once when a TAXII client added
/// them), so that TAXII requests rarely have more than a few to add themselves. Ends with
/// `shutdown`.
async fn keep_stix_index(state: Arc<AppState>, shutdown: CancellationToken) {
    let mut asked = false;
    loop {
        // Never wait for the lock here, on the runtime: if a request holds it, it is bringing
        // the index up to date itself.
        let read_up_to = match state.taxii.try_lock() {
            Ok(index) => Some(index.read_up_to()),
            Err(std::sync::TryLockError::Poisoned(index)) => Some(index.into_inner().read_up_to()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        let store = state.node.store();
        let behind = match (read_up_to, store.last_seq()) {
            (Some(at), Ok(last)) => last.saturating_sub(at),
            _ => 0,
        };
        // While reports are being written (a TAXII client adding objects, a partner's
        // catch-up), wait for a pause rather than take a core from the writers: a TAXII read
        // adds what is missing itself. Far behind, catch up anyway, so that no read has much
        // to add.
        let writing = store.writes_idle_for() < STIX_INDEX_QUIET;
        if behind > 0 && (asked || !writing || behind >= STIX_INDEX_MAX_BEHIND) {
            let state = state.clone();
            let stop = shutdown.clone();
            let done = tokio::task::spawn_blocking(move || {
                let mut index = state.taxii.lock().unwrap_or_else(|e| e.into_inner());
                index.refresh(state.node.store(), &|| !stop.is_cancelled())
            })
            .await;
            if let Ok(Err(e)) = done {
                tracing::warn!("taxii: indexing stored reports failed: {e}");
            }
        }
        asked = tokio::select! {
            () = shutdown.cancelled() => return,
            () = state.stix_index_due.notified() => true,
            () = tokio::time::sleep(Duration::from_millis(100)) => false,
        };
    }
}

/// Serves `app` on `listener` until `stop`, letting requests in progress finish.
async fn serve_until<L>(listener: L, app: Router, stop: CancellationToken)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::error!("api stopped: {e}");
    }
}

/// What the node gives its API besides its handle.
pub struct ApiParts {
    /// The key that signs reports published over the API (none: publishing is refused).
    pub signer: SignerSlot,
    /// The community names of node.toml, a TAXII collection each.
    pub communities: Vec<String>,
    /// How imported STIX and MISP files (TAXII POST, the console's import page) are read.
    pub import: cairn_interop::import::ImportConfig,
    /// The token file.
    pub tokens_path: PathBuf,
    /// Invitations and adding partners from the console (none: the console shows the
    /// commands instead).
    pub partner_actions: Option<Arc<dyn partners::PartnerActions>>,
    /// The warning lists the console flags indicators against when publishing and importing.
    pub warning_lists: Arc<cairn_core::warninglist::WarningLists>,
    /// How indicators are scored: node.toml's `[scoring]`.
    pub scoring: cairn_core::score::ScoringConfig,
}

impl ApiParts {
    /// Tokens read from `tokens_path`; no signer, no communities, the default import settings,
    /// no partner actions.
    pub fn new(tokens_path: PathBuf) -> ApiParts {
        ApiParts {
            signer: SignerSlot::new(None),
            communities: Vec::new(),
            import: cairn_interop::import::ImportConfig::default(),
            tokens_path,
            partner_actions: None,
            warning_lists: Arc::new(cairn_core::warninglist::WarningLists::built_in()),
            scoring: cairn_core::score::ScoringConfig::default(),
        }
    }
}

/// Starts the API on `config.listen`; it runs until `shutdown` is cancelled.
/// Returns the address it listens on (with the port chosen for `:0`).
pub async fn serve(
    config: &ApiConfig,
    node: NodeHandle,
    parts: ApiParts,
    shutdown: CancellationToken,
) -> Result<SocketAddr, StartError> {
    let ApiParts {
        signer,
        communities,
        import,
        tokens_path,
        partner_actions,
        warning_lists,
        scoring,
    } = parts;
    let address: SocketAddr = config
        .listen
        .parse()
        .map_err(|_| StartError::Address(config.listen.clone()))?;
    let tls = match (&config.tls_certificate, &config.tls_key) {
        (Some(certificate), Some(key)) => Some(tls::server_config(certificate, key)?),
        (None, None) => None,
        _ => return Err(tls::TlsError::Incomplete.into()),
    };
    if tls.is_none() && !address.ip().is_loopback() {
        return Err(StartError::PlainHttpOutsideLoopback(config.listen.clone()));
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind {
            address: config.listen.clone(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| StartError::Bind {
        address: config.listen.clone(),
        source,
    })?;
    // Read on the first request, and again whenever the file changes.
    let tokens = Tokens::empty(&tokens_path);
    let state = Arc::new(AppState {
        node,
        signer,
        communities,
        import,
        taxii: Mutex::new(stix_index::StixIndex::default()),
        statuses: Mutex::new(taxii::Statuses::default()),
        stix_index_due: tokio::sync::Notify::new(),
        misp_feed: Mutex::new(misp_feed::FeedIndex::default()),
        recent_reports: Mutex::new(stix_index::RecentReports::default()),
        tokens_path,
        tokens: Mutex::new((None, tokens)),
        partner_actions,
        warning_lists,
        scoring,
        console: console::Sessions::default(),
        console_traffic: Mutex::new(console::TrafficCounts::default()),
        https: tls.is_some(),
        shutdown: shutdown.clone(),
    });
    if config.taxii {
        tokio::spawn(keep_stix_index(state.clone(), shutdown.clone()));
    }
    let app = router(state, config.taxii);
    let stop = shutdown.clone();
    match tls {
        Some(config) => {
            let listener =
                tls::TlsListener::start(listener, config, shutdown.clone()).map_err(|source| {
                    StartError::Bind {
                        address: address.to_string(),
                        source,
                    }
                })?;
            tokio::spawn(serve_until(listener, app, stop));
        }
        None => {
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|stream| {
                let _ = stream.set_nodelay(true);
            });
            tokio::spawn(serve_until(listener, app, stop));
        }
    }
    Ok(bound)
}
