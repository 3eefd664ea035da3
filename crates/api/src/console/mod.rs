//! The analyst console at `/ui/`: pages rendered on the server from the node's own data,
//! readable without JavaScript, for people signed in with an API token. A session lives in an
//! HttpOnly, SameSite=Strict cookie (Secure over HTTPS); every form carries a CSRF token; every
//! answer carries a strict Content-Security-Policy. Roles are the API's: what a page offers
//! follows the token's role, and the token is checked again on every request.

mod pages;
mod publish;
mod session;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cairn_store::StoredReport;
use maud::Markup;

use crate::{AppState, ReportFilters, Role};
pub(crate) use session::Sessions;
use session::{SESSION_COOKIE, SIGN_IN_COOKIE, cookie, cookie_value, random_token, same_secret};

/// The console's style sheet, embedded in the binary.
const STYLE: &str = include_str!("console.css");
/// The script that adds reports to the open list as they arrive.
const LIVE_SCRIPT: &str = include_str!("live.js");
/// The script that previews, as the analyst types, who would receive a report.
const PUBLISH_SCRIPT: &str = include_str!("publish.js");

/// Reports listed on a page of the reports list.
const PAGE_SIZE: usize = 50;
/// Most reports the reports table sorts by a column other than creation time.
const MAX_SORTED: usize = 1_000;
/// Reports on the overview.
const RECENT: usize = 10;
/// Days the overview counts reports in and out for.
const TRAFFIC_DAYS: usize = 14;
/// Arrivals the overview reads at most when it first counts them per day (later counts read
/// only what arrived since).
const TRAFFIC_RECORDS: usize = 200_000;

/// Reports in and out per day, counted once and then from where the last count stopped.
#[derive(Debug, Default)]
pub(crate) struct TrafficCounts {
    /// Arrivals counted up to this arrival number.
    arrived_up_to: u64,
    arrived: std::collections::BTreeMap<i64, [u64; 2]>,
    /// The day of the first count when it stopped at `TRAFFIC_RECORDS`: that day and those
    /// before it are counted in part.
    partial_until: Option<i64>,
    /// Audit records counted up to this key.
    served_up_to: Option<u64>,
    served: std::collections::BTreeMap<i64, u64>,
}

impl TrafficCounts {
    /// Counts what arrived and left since the last call, and the last `TRAFFIC_DAYS` days.
    fn refresh(
        &mut self,
        store: &cairn_store::Store,
        now_ms: i64,
    ) -> Result<pages::Traffic, cairn_store::ReadError> {
        let today = cairn_core::when::utc_day(now_ms);
        let first_day = today - TRAFFIC_DAYS as i64 + 1;
        let (up_to, cut) = store.count_arrivals(
            self.arrived_up_to,
            first_day,
            TRAFFIC_RECORDS,
            &mut self.arrived,
        )?;
        if cut {
            self.partial_until = Some(today);
        }
        self.arrived_up_to = up_to;
        self.served_up_to = store.count_served(self.served_up_to, first_day, &mut self.served)?;
        self.arrived.retain(|day, _| *day >= first_day);
        self.served.retain(|day, _| *day >= first_day);
        let days: Vec<i64> = (first_day..=today).collect();
        Ok(pages::Traffic {
            days: days
                .iter()
                .map(|d| crate::rfc3339(d * 86_400_000).chars().take(10).collect())
                .collect(),
            arrived: days
                .iter()
                .map(|d| self.arrived.get(d).copied().unwrap_or_default())
                .collect(),
            served: days
                .iter()
                .map(|d| self.served.get(d).copied().unwrap_or_default())
                .collect(),
            cut_short: self.partial_until.is_some_and(|d| d >= first_day),
        })
    }
}

/// What every console answer carries: nothing but this node's own style sheet and forms,
/// never framed, no referrer, nothing cached.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's routes.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview))
        .route("/ui/sign-in", get(sign_in_form).post(sign_in))
        .route("/ui/sign-out", post(sign_out))
        .route("/ui/reports", get(reports))
        .route("/ui/reports/{id}", get(report))
        .route("/ui/correlate", get(correlate))
        .route("/ui/reports/{id}/retract", post(retract))
        .route("/ui/reports/{id}/sightings", post(add_sighting))
        .route("/ui/publish", get(publish_page).post(publish_form))
        .route("/ui/publish/preview", post(publish_preview))
        .route(
            "/ui/import",
            get(import_page)
                .post(import_file)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .route("/ui/partners", get(partners))
        .route("/ui/partners/invite", post(invite_partner))
        .route("/ui/partners/add", post(add_partner))
        .route("/ui/statistics", get(statistics))
        .route("/ui/tokens", get(tokens_page).post(create_token))
        .route("/ui/tokens/revoke", post(revoke_token))
        .route("/ui/assets/console.css", get(style))
        .route("/ui/assets/live.js", get(live_script))
        .route("/ui/assets/publish.js", get(publish_script))
        .route("/ui/assets/icon.svg", get(icon))
        .route("/ui/live", get(live))
        .layer(axum::middleware::from_fn(secure_headers))
}

async fn secure_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// The console's icon: a cairn of four stones.
const ICON: &str = include_str!("icon.svg");

async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        ICON,
    )
        .into_response()
}

async fn publish_script() -> Response {
    script(PUBLISH_SCRIPT)
}

async fn live_script() -> Response {
    script(LIVE_SCRIPT)
}

/// One of the console's scripts, as JavaScript.
fn script(text: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        text,
    )
        .into_response()
}

/// How often a live stream with nothing to send checks that its session still lasts.
const LIVE_SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// One report as the live list shows it.
#[derive(Debug, serde::Serialize)]
struct LiveReport {
    id: String,
    title: String,
    tlp: String,
    tlp_class: String,
    kind: &'static str,
    author: String,
    created: String,
    indicators: usize,
}

/// `GET /ui/live`: current reports as the node stores them, from now (or the Last-Event-ID
/// the browser sends when it reconnects), while the session lasts.
async fn live(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    use futures::StreamExt;
    if let Err(refused) = signed(&state, &headers, Role::Read).await {
        return refused;
    }
    let session = cookie_value(&headers, SESSION_COOKIE)
        .unwrap_or_default()
        .to_string();
    let from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let cursor = match from {
        Some(seq) => seq,
        None => state.node.store().last_seq().unwrap_or(0),
    };
    let names = names(&state).await;
    let keeps = state.clone();
    // A tick now and then, so that a quiet stream also ends with its session.
    let shutdown = state.shutdown.clone();
    let ticks = futures::stream::unfold(shutdown, |shutdown| async move {
        tokio::select! {
            () = shutdown.cancelled() => None,
            () = tokio::time::sleep(LIVE_SESSION_CHECK) => Some((None, shutdown)),
        }
    });
    let events = futures::stream::select(crate::arrivals(&state, cursor).map(Some), ticks)
        // Only while the session lasts and its token is valid.
        .take_while(move |_| {
            let alive = keeps
                .console
                .peek(&session, Instant::now())
                .is_some_and(|s| keeps.check_token(&s.token, Role::Read).is_ok());
            std::future::ready(alive)
        })
        // Current reports only, as the list shows them; ticks carry none.
        .filter_map(|item| {
            std::future::ready(item.filter(|s: &StoredReport| s.report.report().retracts.is_none()))
        })
        .map(move |s| {
            let r = s.report.report();
            let shown = LiveReport {
                id: s.report.id().to_string(),
                title: r.title.clone(),
                tlp: pages::tlp_label(r.tlp),
                tlp_class: pages::tlp_class(r.tlp),
                kind: r.kind.as_str(),
                author: pages::organisation(&names, &s.report.author().to_string()),
                created: crate::rfc3339(r.created_ms),
                indicators: r.indicators.len(),
            };
            Ok::<_, std::convert::Infallible>(
                axum::response::sse::Event::default()
                    .id(s.seq.to_string())
                    .event("report")
                    .data(serde_json::to_string(&shown).unwrap_or_default()),
            )
        });
    axum::response::sse::Sse::new(events)
        .keep_alive(axum::response::sse::KeepAlive::default())
        .into_response()
}

fn page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// Who is signed in: the session's token, still valid, and its role.
struct Signed {
    role: Role,
    csrf: String,
    organisation: String,
}

impl Signed {
    fn viewer(&self) -> pages::Viewer<'_> {
        pages::Viewer {
            role: self.role,
            csrf: &self.csrf,
            organisation: &self.organisation,
        }
    }
}

/// The signed-in viewer, or the answer to give instead: to the sign-in page when there is no
/// live session (or its token was revoked), 403 when its role is below `needed`.
async fn signed(state: &AppState, headers: &HeaderMap, needed: Role) -> Result<Signed, Response> {
    let to_sign_in = || Redirect::to("/ui/sign-in").into_response();
    let id = cookie_value(headers, SESSION_COOKIE).ok_or_else(to_sign_in)?;
    let session = state
        .console
        .find(id, Instant::now())
        .ok_or_else(to_sign_in)?;
    let role = match state.check_token(&session.token, Role::Read) {
        Ok(role) => role,
        Err(_) => {
            state.console.close(id);
            return Err(to_sign_in());
        }
    };
    let organisation = match state.node.status().await {
        Ok(status) => status.organisation,
        Err(e) => return Err(failed(e)),
    };
    let signed = Signed {
        role,
        csrf: session.csrf,
        organisation,
    };
    if role < needed {
        return Err(page(
            StatusCode::FORBIDDEN,
            pages::problem(
                Some(&signed.viewer()),
                "Not allowed",
                "Your token's role does not allow this page.",
            ),
        ));
    }
    Ok(signed)
}

fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!("console: {e}");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        pages::problem(
            None,
            "The node could not answer",
            "See the node's log for why.",
        ),
    )
}

#[derive(Debug, serde::Deserialize)]
struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

/// The sign-in page, with a fresh CSRF token in a short-lived cookie and in the form.
fn sign_in_page(state: &AppState, status: StatusCode, problem: Option<&str>) -> Response {
    let csrf = random_token();
    let mut response = page(status, pages::sign_in(&csrf, problem));
    if let Ok(value) = HeaderValue::from_str(&cookie(SIGN_IN_COOKIE, &csrf, Some(600), state.https))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn sign_in_form(State(state): State<Arc<AppState>>) -> Response {
    sign_in_page(&state, StatusCode::OK, None)
}

async fn sign_in(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return sign_in_page(
            &state,
            StatusCode::BAD_REQUEST,
            Some("The form was not sent whole: sign in again."),
        );
    };
    let expected = cookie_value(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(expected, &form.csrf) {
        return sign_in_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("This form expired or did not come from this page: sign in again."),
        );
    }
    let token = form.token.trim();
    if token.is_empty() {
        return sign_in_page(&state, StatusCode::BAD_REQUEST, Some("Give an API token."));
    }
    if let Err((status, message)) = state.check_token(token, Role::Read) {
        let status = if status == StatusCode::INTERNAL_SERVER_ERROR {
            status
        } else {
            StatusCode::UNAUTHORIZED
        };
        return sign_in_page(&state, status, Some(&message));
    }
    let id = state.console.open(token, Instant::now());
    let mut response = Redirect::to("/ui/").into_response();
    for value in [
        cookie(SESSION_COOKIE, &id, None, state.https),
        cookie(SIGN_IN_COOKIE, "", Some(0), state.https),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[derive(Debug, serde::Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Some(id) = cookie_value(&headers, SESSION_COOKIE) else {
        return Redirect::to("/ui/sign-in").into_response();
    };
    let Some(session) = state.console.find(id, Instant::now()) else {
        return Redirect::to("/ui/sign-in").into_response();
    };
    let posted = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if !same_secret(&session.csrf, &posted) {
        return page(
            StatusCode::FORBIDDEN,
            pages::problem(
                None,
                "Not signed out",
                "This form did not come from this console: use its Sign out button.",
            ),
        );
    }
    state.console.close(id);
    let mut response = Redirect::to("/ui/sign-in").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie(SESSION_COOKIE, "", Some(0), state.https)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// [`signed`] for a form: also refused when the form's CSRF token is not this session's.
async fn signed_form(
    state: &AppState,
    headers: &HeaderMap,
    needed: Role,
    posted_csrf: &str,
) -> Result<Signed, Response> {
    let signed = signed(state, headers, needed).await?;
    match csrf_refusal(&signed, posted_csrf) {
        Some(refused) => Err(refused),
        None => Ok(signed),
    }
}

/// The answer to a form whose CSRF token is not this session's; `None` when it is.
fn csrf_refusal(signed: &Signed, posted: &str) -> Option<Response> {
    if same_secret(&signed.csrf, posted) {
        return None;
    }
    Some(page(
        StatusCode::FORBIDDEN,
        pages::problem(
            Some(&signed.viewer()),
            "Nothing was done",
            "This form did not come from this console session (or the session changed): open the page again and resend it.",
        ),
    ))
}

/// The current directory entries held (of the community `matching` names, if any) and each
/// capacity need with what matches it.
fn directory_view(
    store: &cairn_store::Store,
    us: cairn_core::OrgPublicKey,
    matching: &crate::directory::MatchQuery,
) -> Result<pages::DirectoryView, crate::directory::DirectoryError> {
    let now = cairn_core::when::now_ms();
    let entries = crate::directory::held_entries(store)?
        .into_iter()
        .filter(|s| {
            let r = s.report.report();
            r.directory_entry
                .as_ref()
                .is_some_and(|e| e.is_valid_at(now))
                && matching
                    .community
                    .as_deref()
                    .is_none_or(|c| r.distribution.community.as_deref() == Some(c))
        })
        .collect();
    let needs = crate::directory::matched(store, us, matching, now)?;
    Ok(pages::DirectoryView { entries, needs })
}

/// `GET /ui/publish`: the empty publish form.
async fn publish_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match signed(&state, &headers, Role::Publish).await {
        Ok(signed) => page(
            StatusCode::OK,
            pages::publish(
                &signed.viewer(),
                &publish::PublishForm::default(),
                &pages::PublishPreview::Empty,
            ),
        ),
        Err(r) => r,
    }
}

/// The posted form's pairs and the CSRF token among them (none when the body is not a form).
fn posted_pairs(
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> (Vec<(String, String)>, String) {
    let pairs = form.map(|Form(p)| p).unwrap_or_default();
    let csrf = pairs
        .iter()
        .rev()
        .find(|(name, _)| name == "csrf")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    (pairs, csrf)
}

/// The draft the form describes and who would receive it, or the first field it cannot take.
async fn preview_of(
    state: &AppState,
    form: &publish::PublishForm,
) -> Result<
    (
        cairn_core::ReportDraft,
        Vec<cairn_node::exchange::SharingDecision>,
        Vec<String>,
    ),
    publish::FieldProblem,
> {
    let draft = form.draft()?;
    let report = draft.preview().map_err(|e| publish::FieldProblem {
        field: e.field,
        message: e.reason,
    })?;
    let flags = state
        .warning_lists
        .flags(&report.indicators)
        .iter()
        .map(cairn_core::warninglist::Flag::describe)
        .collect();
    let decisions = state
        .node
        .explain_draft(report)
        .await
        .map_err(|e| publish::FieldProblem {
            field: "node".into(),
            message: e.to_string(),
        })?;
    Ok((draft, decisions, flags))
}

/// `POST /ui/publish`: previews (`action=preview`) or signs and publishes (`action=publish`)
/// the report the form describes. A form that cannot be signed comes back filled, with what
/// is wrong, and nothing is stored.
async fn publish_form(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (pairs, csrf) = posted_pairs(form);
    let signed = match signed_form(&state, &headers, Role::Publish, &csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = match publish::PublishForm::from_pairs(pairs) {
        Ok(f) => f,
        Err(problem) => {
            return page(
                StatusCode::BAD_REQUEST,
                pages::publish(
                    &signed.viewer(),
                    &publish::PublishForm::default(),
                    &pages::PublishPreview::Problem(problem),
                ),
            );
        }
    };
    let show = |status: StatusCode, preview: pages::PublishPreview| {
        page(status, pages::publish(&signed.viewer(), &form, &preview))
    };
    let problem = |field: &str, message: String| {
        pages::PublishPreview::Problem(publish::FieldProblem {
            field: field.to_string(),
            message,
        })
    };
    let (draft, decisions, flags) = match preview_of(&state, &form).await {
        Ok(previewed) => previewed,
        Err(p) => return show(StatusCode::BAD_REQUEST, pages::PublishPreview::Problem(p)),
    };
    if form.action != "publish" {
        return show(
            StatusCode::OK,
            pages::PublishPreview::Decisions(decisions, flags),
        );
    }
    let Some(key) = state.signer.get() else {
        return show(
            StatusCode::FORBIDDEN,
            problem(
                "report",
                "This node holds no key that may sign reports, so it cannot publish.".into(),
            ),
        );
    };
    let report = match draft.sign(&*key, &mut rand::rngs::OsRng) {
        Ok(r) => r,
        Err(e) => return show(StatusCode::BAD_REQUEST, problem(&e.field, e.reason)),
    };
    let then = format!("/ui/reports/{}", report.id());
    publish_then(&state, report, &then, "report", |status, reason| {
        show(status, problem("report", reason.to_string()))
    })
    .await
}

/// Publishes one report signed here and sends the analyst to `then`; a refusal by the store is
/// shown by `refuse`, and anything else that keeps it from being stored says `what` was not.
async fn publish_then(
    state: &AppState,
    report: cairn_core::VerifiedReport,
    then: &str,
    what: &str,
    refuse: impl Fn(StatusCode, &str) -> Response,
) -> Response {
    match state.node.publish(vec![report]).await.map(|mut o| o.pop()) {
        Ok(Some(
            cairn_store::IngestOutcome::Stored { .. }
            | cairn_store::IngestOutcome::Duplicate { .. },
        )) => Redirect::to(then).into_response(),
        Ok(Some(cairn_store::IngestOutcome::Refused { reason, .. })) => {
            refuse(StatusCode::CONFLICT, &reason)
        }
        Ok(other) => failed(format!("{what} not stored: {other:?}")),
        Err(e) => failed(e),
    }
}

/// The report a form acts on (its id or a unique prefix), read on a blocking thread, or the
/// page `refuse` makes of why not.
async fn form_target(
    state: &AppState,
    id: String,
    refuse: impl Fn(StatusCode, &str) -> Response,
) -> Result<StoredReport, Response> {
    let store = state.node.store().clone();
    match tokio::task::spawn_blocking(move || crate::stored_by_id(&store, &id)).await {
        Ok(Ok(Some(target))) => Ok(target),
        Ok(Ok(None)) => Err(refuse(
            StatusCode::NOT_FOUND,
            "This node holds no report with that id.",
        )),
        Ok(Err(e)) => Err(refuse(e.status, &e.message)),
        Err(e) => Err(failed(e)),
    }
}

/// `POST /ui/publish/preview`: the live preview, as JSON: `{"decisions": [...]}` (partner,
/// receives, withheld, reason) or `{"problem": {"field", "message"}}` for a draft not yet
/// complete (answered 200: an unfinished form is not an error).
async fn publish_preview(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let (pairs, csrf) = posted_pairs(form);
    if let Err(r) = signed_form(&state, &headers, Role::Publish, &csrf).await {
        return r;
    }
    let answer = match publish::PublishForm::from_pairs(pairs) {
        Err(p) => Err(p),
        Ok(form) => preview_of(&state, &form).await.map(|(_, d, f)| (d, f)),
    };
    let body = match answer {
        Ok((decisions, warnings)) => {
            serde_json::json!({ "decisions": decisions, "warnings": warnings })
        }
        Err(p) => serde_json::json!({ "problem": { "field": p.field, "message": p.message } }),
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Largest file the import page takes (the form's other fields aside).
const MAX_IMPORT_BYTES: usize = 32 << 20;

/// The import page with `problem` or what an import did.
fn import_view(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    problem: Option<&str>,
    done: Option<&pages::ImportView>,
) -> Response {
    page(
        status,
        pages::import(
            &signed.viewer(),
            state.import.default_tlp,
            MAX_IMPORT_BYTES >> 20,
            problem,
            done,
        ),
    )
}

/// `GET /ui/import`: the upload form.
async fn import_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match signed(&state, &headers, Role::Publish).await {
        Ok(signed) => import_view(&state, &signed, StatusCode::OK, None, None),
        Err(r) => r,
    }
}

/// The fields of the import form, read whole (the file at most `MAX_IMPORT_BYTES`).
#[derive(Debug, Default)]
struct ImportUpload {
    csrf: String,
    default_tlp: String,
    file_name: String,
    file: Vec<u8>,
}

async fn read_upload(mut multipart: axum::extract::Multipart) -> Result<ImportUpload, String> {
    let mut upload = ImportUpload::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
        match field.name().unwrap_or_default() {
            "csrf" => upload.csrf = field.text().await.map_err(|e| e.body_text())?,
            "default_tlp" => upload.default_tlp = field.text().await.map_err(|e| e.body_text())?,
            "file" => {
                upload.file_name = field.file_name().unwrap_or("the file").to_string();
                upload.file = field.bytes().await.map_err(|e| e.body_text())?.to_vec();
            }
            other => return Err(format!("{other:?} is not a field of the import form")),
        }
    }
    Ok(upload)
}

/// `POST /ui/import`: imports the uploaded STIX bundle or MISP events as `cairn import`
/// does, and shows what became of each object. A file that cannot be read is refused whole
/// with why, and nothing of it is stored.
async fn import_file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let upload = match multipart {
        Ok(m) => read_upload(m).await,
        Err(e) => Err(e.body_text()),
    };
    // The session and its CSRF token first: nothing is said about the file to a forged form.
    let csrf = upload.as_ref().map(|u| u.csrf.clone()).unwrap_or_default();
    let signed = match signed_form(&state, &headers, Role::Publish, &csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let refuse = |status: StatusCode, message: &str| {
        import_view(&state, &signed, status, Some(message), None)
    };
    let upload = match upload {
        Ok(u) => u,
        Err(why) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!(
                    "The upload was not read ({why}). Files up to {} MiB are taken here; use cairn import for larger ones.",
                    MAX_IMPORT_BYTES >> 20
                ),
            );
        }
    };
    if upload.file.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Choose a file to import: it was empty or not sent.",
        );
    }
    let default_tlp = match upload.default_tlp.trim() {
        "" => state.import.default_tlp,
        text => match text.parse::<cairn_core::Tlp>() {
            Ok(t) => t,
            Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
        },
    };
    let Some(key) = state.signer.get() else {
        return refuse(
            StatusCode::FORBIDDEN,
            "This node holds no key that may sign reports, so it cannot import.",
        );
    };
    let Ok(text) = String::from_utf8(upload.file) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!(
                "{} is not UTF-8 text: a STIX bundle or MISP JSON is.",
                upload.file_name
            ),
        );
    };
    let node = state.node.clone();
    let warning_lists = state.warning_lists.clone();
    let file = upload.file_name.clone();
    let done =
        tokio::task::spawn_blocking(move || -> Result<pages::ImportView, (StatusCode, String)> {
            let store = node.store();
            let exported_by = crate::stix_ids(store);
            let misp_event = crate::misp_events(store);
            let sighted = |wanted: &cairn_interop::import::SightedRef<'_>| {
                crate::sighted_in(store, &exported_by, &misp_event, wanted)
            };
            let options = cairn_interop::import::ImportOptions {
                default_tlp,
                sighted: &sighted,
                ..Default::default()
            };
            let imported =
                cairn_interop::import::import(&text, &key.author(), &options).map_err(|e| {
                    (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("{file} was not imported: {e}"),
                    )
                })?;
            let notes = imported
                .reports
                .iter()
                .flat_map(|r| r.notes.iter().map(move |n| format!("{}: {n}", r.what())))
                .collect();
            // Each indicator on a warning list, with the report that carries it (one that is
            // not a valid observable is refused with its report, and not looked at here).
            let flagged = imported
                .reports
                .iter()
                .flat_map(|r| {
                    warning_lists
                        .draft_flags(&r.draft.indicators)
                        .into_iter()
                        .map(move |f| format!("{} (in {})", f.describe(), r.what()))
                        .collect::<Vec<_>>()
                })
                .collect();
            let (fates, _) = crate::taxii::store_imported(&node, &imported.reports, &key)
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            Ok(pages::ImportView {
                flagged,
                file,
                format: imported.format.to_string(),
                objects: imported.objects,
                reports: imported.reports.len(),
                outcomes: cairn_interop::import::settle(&imported.accounts, &fates),
                notes,
            })
        })
        .await;
    match done {
        Ok(Ok(view)) => import_view(&state, &signed, StatusCode::OK, None, Some(&view)),
        Ok(Err((status, message))) if status != StatusCode::INTERNAL_SERVER_ERROR => {
            refuse(status, &message)
        }
        Ok(Err((_, message))) => failed(message),
        Err(e) => failed(e),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct RetractForm {
    csrf: String,
    reason: String,
}

/// `POST /ui/reports/{id}/retract`: signs a retraction of one of this organisation's reports
/// and publishes it, then shows the report, now retracted.
async fn retract(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<RetractForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let signed = match signed_form(&state, &headers, Role::Publish, &form.csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let refuse = |status: StatusCode, message: &str| {
        page(
            status,
            pages::problem(Some(&signed.viewer()), "Not retracted", message),
        )
    };
    let reason = form.reason.trim();
    if reason.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Say why the report is withdrawn: partners see the reason.",
        );
    }
    let Some(key) = state.signer.get() else {
        return refuse(
            StatusCode::FORBIDDEN,
            "This node holds no key that may sign reports, so it cannot sign a retraction.",
        );
    };
    let target = match form_target(&state, id, refuse).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let tombstone = match cairn_core::retract(&target.report, reason, &*key, &mut rand::rngs::OsRng)
    {
        Ok(t) => t,
        Err(e) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    };
    let then = format!("/ui/reports/{}", target.report.id());
    publish_then(&state, tombstone, &then, "retraction", refuse).await
}

/// The sighting form of a report's page, as posted.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct SightingForm {
    csrf: String,
    kind: String,
    indicator: String,
    count: String,
    first_seen: String,
    last_seen: String,
    #[serde(rename = "where")]
    place: String,
    observed: String,
    comment: String,
    tlp: String,
}

impl SightingForm {
    /// The request the form says, or what is wrong with it, naming the field.
    fn request(&self) -> Result<cairn_core::sighting::SightingRequest, String> {
        let text = |t: &str| Some(t.trim().to_string()).filter(|t| !t.is_empty());
        let kind = self
            .kind
            .parse()
            .map_err(|e: cairn_core::model::UnknownLabel| e.to_string())?;
        let count = match text(&self.count) {
            None => None,
            Some(n) => Some(
                n.parse::<u32>()
                    .map_err(|_| format!("Times seen: {n:?} is not a whole number"))?,
            ),
        };
        let tlp = match text(&self.tlp) {
            None => None,
            Some(t) => Some(
                t.parse()
                    .map_err(|e: cairn_core::model::UnknownLabel| e.to_string())?,
            ),
        };
        Ok(cairn_core::sighting::SightingRequest {
            indicator: text(&self.indicator),
            count,
            first_seen: text(&self.first_seen),
            last_seen: text(&self.last_seen),
            place: text(&self.place),
            observed: self
                .observed
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            comment: text(&self.comment),
            tlp,
            ..cairn_core::sighting::SightingRequest::of(kind)
        })
    }
}

/// `POST /ui/reports/{id}/sightings`: signs a sighting of, or feedback about, a report this
/// node holds and publishes it, then shows the report with it.
async fn add_sighting(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<SightingForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let signed = match signed_form(&state, &headers, Role::Publish, &form.csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let refuse = |status: StatusCode, message: &str| {
        page(
            status,
            pages::problem(Some(&signed.viewer()), "Sighting not published", message),
        )
    };
    let request = match form.request() {
        Ok(r) => r,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, &message),
    };
    let Some(key) = state.signer.get() else {
        return refuse(
            StatusCode::FORBIDDEN,
            "This node holds no key that may sign reports, so it cannot sign a sighting.",
        );
    };
    let target = match form_target(&state, id, refuse).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let signed_sighting = cairn_core::sighting::draft_about(
        target.report.report(),
        target.report.id(),
        target.report.author(),
        &request,
        cairn_core::when::now_ms(),
    )
    .map_err(|e| e.to_string())
    .and_then(|draft| {
        draft
            .sign(&*key, &mut rand::rngs::OsRng)
            .map_err(|e| e.to_string())
    });
    let sighting = match signed_sighting {
        Ok(s) => s,
        Err(message) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, &message),
    };
    let then = format!("/ui/reports/{}#sightings", target.report.id());
    publish_then(&state, sighting, &then, "sighting", refuse).await
}

/// The tokens page as the token file reads now.
fn tokens_view(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    created: Option<(&str, &str)>,
    problem: Option<&str>,
) -> Response {
    match crate::Tokens::load(&state.tokens_path) {
        Ok(tokens) => page(
            status,
            pages::tokens(&signed.viewer(), tokens.records(), created, problem),
        ),
        Err(e) => failed(e),
    }
}

async fn tokens_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match signed(&state, &headers, Role::Admin).await {
        Ok(signed) => tokens_view(&state, &signed, StatusCode::OK, None, None),
        Err(r) => r,
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct TokenForm {
    csrf: String,
    name: String,
    role: String,
}

/// Longest token name.
const MAX_TOKEN_NAME: usize = 64;

async fn create_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let signed = match signed_form(&state, &headers, Role::Admin, &form.csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bad = |message: &str| {
        tokens_view(
            &state,
            &signed,
            StatusCode::BAD_REQUEST,
            None,
            Some(message),
        )
    };
    let name = form.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_TOKEN_NAME
        || name.chars().any(char::is_control)
    {
        return bad(
            "Give the token a name of 1 to 64 characters, such as the tool that will use it.",
        );
    }
    let role: Role = match form.role.parse() {
        Ok(role) => role,
        Err(e) => return bad(&format!("role: {e}")),
    };
    let created = crate::Tokens::load(&state.tokens_path)
        .and_then(|mut tokens| tokens.create(name, role, cairn_core::when::now_ms()));
    match created {
        Ok(token) => tokens_view(&state, &signed, StatusCode::OK, Some((name, &token)), None),
        Err(e @ crate::TokenError::NameTaken(_)) => bad(&e.to_string()),
        Err(e) => failed(e),
    }
}

async fn revoke_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let signed = match signed_form(&state, &headers, Role::Admin, &form.csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let revoked =
        crate::Tokens::load(&state.tokens_path).and_then(|mut tokens| tokens.revoke(&form.name));
    match revoked {
        // The viewer's own token may be gone: the next page asks to sign in again.
        Ok(true) => Redirect::to("/ui/tokens").into_response(),
        Ok(false) => tokens_view(
            &state,
            &signed,
            StatusCode::NOT_FOUND,
            None,
            Some(&format!("No token named {:?}.", form.name)),
        ),
        Err(e) => failed(e),
    }
}

/// The API's filters for what the search form gives (empty fields are no filter).
fn filters(search: &pages::ReportSearch) -> ReportFilters {
    let given = said;
    ReportFilters {
        kind: given(&search.kind),
        tlp: given(&search.tlp),
        tag: given(&search.tag),
        sector: given(&search.sector),
        region: given(&search.region),
        principle: given(&search.principle),
        since: given(&search.since),
        until: given(&search.until),
        indicator: given(&search.indicator),
        inside: given(&search.inside),
        text: given(&search.text),
        author: given(&search.author),
        history: Some(search.history.is_some()),
        limit: Some(PAGE_SIZE),
        cursor: given(&search.cursor),
        order: given(&search.order),
        ..ReportFilters::default()
    }
}

/// Names of this organisation and its partners, by key.
async fn names(state: &AppState) -> pages::Names {
    match (state.node.status().await, state.node.peers().await) {
        (Ok(status), Ok(peers)) => names_of(&status, &peers),
        (Ok(status), Err(_)) => names_of(&status, &[]),
        _ => pages::Names::new(),
    }
}

/// Names of this organisation and its partners, by key, from what the node said.
fn names_of(status: &cairn_node::NodeStatus, peers: &[cairn_node::PeerStatus]) -> pages::Names {
    let mut names: pages::Names = peers
        .iter()
        .map(|p| (p.org_key.clone(), p.partner.clone()))
        .collect();
    names.insert(status.org_key.clone(), status.organisation.clone());
    names
}

async fn overview(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let signed = match signed(&state, &headers, Role::Read).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (status, peers) = match (state.node.status().await, state.node.peers().await) {
        (Ok(s), Ok(p)) => (s, p),
        (Err(e), _) | (_, Err(e)) => return failed(e),
    };
    let store = state.node.store().clone();
    let app = state.clone();
    let gathered = tokio::task::spawn_blocking(move || {
        let recent = store.query(&cairn_store::ReportQuery {
            limit: RECENT,
            ..Default::default()
        })?;
        let traffic = app
            .console_traffic
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .refresh(&store, cairn_core::when::now_ms())?;
        Ok::<_, cairn_store::ReadError>((recent, traffic))
    })
    .await;
    let (recent, traffic) = match gathered {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return failed(e),
        Err(e) => return failed(e),
    };
    let names = names_of(&status, &peers);
    page(
        StatusCode::OK,
        pages::overview(&signed.viewer(), &status, &peers, &recent, &traffic, &names),
    )
}

/// The partners page as the node sees its partners now; for an admin, `panel` filled in with
/// node.toml's policies.
async fn partners_view(
    state: &AppState,
    signed: &Signed,
    status: StatusCode,
    mut panel: pages::InvitationPanel,
) -> Response {
    let peers = match state.node.peers().await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    let trust_list = state.node.trust_list();
    let panel = match (signed.role >= Role::Admin, &state.partner_actions) {
        (false, _) => None,
        (true, None) => Some(panel),
        (true, Some(actions)) => {
            panel.offered = true;
            let actions = actions.clone();
            match tokio::task::spawn_blocking(move || actions.policies()).await {
                Ok(Ok(policies)) => panel.policies = policies,
                Ok(Err(e)) => {
                    panel.add_problem.get_or_insert(e.to_string());
                }
                Err(e) => return failed(e),
            }
            Some(panel)
        }
    };
    page(
        status,
        pages::partners(&signed.viewer(), &trust_list, &peers, panel.as_ref()),
    )
}

async fn partners(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match signed(&state, &headers, Role::Read).await {
        Ok(signed) => partners_view(&state, &signed, StatusCode::OK, Default::default()).await,
        Err(r) => r,
    }
}

/// [`signed_form`] for the partner forms (admin), with the partner actions the binary offers;
/// a page saying they are not offered when it offers none.
async fn partner_form(
    state: &AppState,
    headers: &HeaderMap,
    posted_csrf: &str,
) -> Result<(Signed, Arc<dyn crate::partners::PartnerActions>), Response> {
    let signed = signed_form(state, headers, Role::Admin, posted_csrf).await?;
    match state.partner_actions.clone() {
        Some(actions) => Ok((signed, actions)),
        None => Err(page(
            StatusCode::NOT_FOUND,
            pages::problem(
                Some(&signed.viewer()),
                "Not offered here",
                "This node's console does not make invitations or add partners: use cairn invite and cairn partner add on its machine.",
            ),
        )),
    }
}

/// A text field as the partner actions take it: trimmed, empty meaning not said.
fn said(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// `POST /ui/partners/invite` (admin): signs an invitation and shows it once.
async fn invite_partner(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<pages::InviteForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (signed, actions) = match partner_form(&state, &headers, &form.csrf).await {
        Ok(signed) => signed,
        Err(r) => return r,
    };
    let request = crate::partners::InvitationRequest {
        expires: said(&form.expires).unwrap_or_else(|| "7d".into()),
        addresses: form
            .addresses
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        no_address: form.no_address.is_some(),
        kind: said(&form.kind),
        sector: said(&form.sector),
        region: said(&form.region),
    };
    let mut panel = pages::InvitationPanel {
        invite: form,
        ..Default::default()
    };
    let status = if panel.invite.no_address.is_some() && !panel.invite.addresses.trim().is_empty() {
        panel.invite_problem =
            Some("give addresses or say that this node only dials out, not both".into());
        StatusCode::BAD_REQUEST
    } else {
        match tokio::task::spawn_blocking(move || actions.invite(request)).await {
            Ok(Ok(issued)) => {
                panel.issued = Some(issued);
                panel.invite = Default::default();
                StatusCode::OK
            }
            Ok(Err(e)) => {
                panel.invite_problem = Some(e.to_string());
                StatusCode::BAD_REQUEST
            }
            Err(e) => return failed(e),
        }
    };
    partners_view(&state, &signed, status, panel).await
}

/// `POST /ui/partners/add` (admin): says what a pasted invitation introduces (`check`), or
/// adds its organisation to node.toml under the chosen policy and has the node take it.
async fn add_partner(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<pages::AddPartnerForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (signed, actions) = match partner_form(&state, &headers, &form.csrf).await {
        Ok(signed) => signed,
        Err(r) => return r,
    };
    let mut panel = pages::InvitationPanel {
        add: form,
        ..Default::default()
    };
    let text = panel.add.invitation.clone();
    let reader = actions.clone();
    let checked = match tokio::task::spawn_blocking(move || reader.read_invitation(&text)).await {
        Ok(checked) => checked,
        Err(e) => return failed(e),
    };
    let form = &panel.add;
    let done = match (checked, form.action.as_str()) {
        (Err(e), _) => Err((e.to_string(), None)),
        (Ok(checked), "check") => Ok((None, Some(checked))),
        (Ok(checked), "add") if form.policy.trim().is_empty() => Err((
            "choose the policy that decides what this partner may receive".to_string(),
            Some(checked),
        )),
        (Ok(checked), "add") => {
            let request = crate::partners::AddPartnerRequest {
                invitation: form.invitation.clone(),
                policy: form.policy.trim().to_string(),
                name: said(&form.name),
                kind: said(&form.kind),
                sector: said(&form.sector),
                region: said(&form.region),
            };
            match actions.add(request).await {
                Ok(added) => Ok((Some(added), None)),
                Err(e) => Err((e.to_string(), Some(checked))),
            }
        }
        (Ok(checked), other) => Err((
            format!("{other:?} is not something this form does: press Check or Add the partner"),
            Some(checked),
        )),
    };
    let status = match done {
        Ok((added, checked)) => {
            if added.is_some() {
                panel.add = Default::default();
            }
            panel.added = added;
            panel.checked = checked;
            StatusCode::OK
        }
        Err((problem, checked)) => {
            panel.add_problem = Some(problem);
            panel.checked = checked;
            StatusCode::BAD_REQUEST
        }
    };
    partners_view(&state, &signed, status, panel).await
}

async fn statistics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Query<pages::StatisticsForm>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed = match signed(&state, &headers, Role::Read).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form = match form {
        Ok(Query(f)) => f,
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                pages::statistics(
                    &signed.viewer(),
                    &Default::default(),
                    None,
                    None,
                    Some(&e.body_text()),
                ),
            );
        }
    };
    let community = form.community.trim();
    let query = crate::observance::ObservanceQuery {
        federation: form.federation.is_some(),
        community: (!community.is_empty()).then(|| community.to_string()),
        ..Default::default()
    };
    let store = state.node.store().clone();
    let us = state.node.org();
    let matching = crate::directory::MatchQuery {
        community: query.community.clone(),
        ..Default::default()
    };
    let view = tokio::task::spawn_blocking(move || {
        let view = crate::observance::view(&store, us, &query)?;
        let directory = directory_view(&store, us, &matching).map_err(|e| {
            crate::observance::ObservanceError::Query(format!("the directory: {e}"))
        })?;
        Ok::<_, crate::observance::ObservanceError>((view, directory))
    })
    .await;
    match view {
        Ok(Ok((view, directory))) => page(
            StatusCode::OK,
            pages::statistics(&signed.viewer(), &form, Some(&view), Some(&directory), None),
        ),
        Ok(Err(crate::observance::ObservanceError::Query(why))) => page(
            StatusCode::BAD_REQUEST,
            pages::statistics(&signed.viewer(), &form, None, None, Some(&why)),
        ),
        Ok(Err(e)) => failed(e),
        Err(e) => failed(e),
    }
}

async fn reports(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    search: Result<Query<pages::ReportSearch>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed = match signed(&state, &headers, Role::Read).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let names = names(&state).await;
    let search = match search {
        Ok(Query(s)) => s,
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                pages::reports(
                    &signed.viewer(),
                    &Default::default(),
                    &[],
                    None,
                    Some(&e.body_text()),
                    &names,
                ),
            );
        }
    };
    let refused = |problem: &str| {
        page(
            StatusCode::BAD_REQUEST,
            pages::reports(&signed.viewer(), &search, &[], None, Some(problem), &names),
        )
    };
    let (column_sort, offset) = match (search.column_sort(), search.offset()) {
        (Ok(sort), Ok(offset)) => (sort, offset),
        (Err(e), _) | (_, Err(e)) => return refused(&e),
    };
    let mut filters = filters(&search);
    if column_sort.is_some() {
        // A column sort reads every match at once and pages by position.
        filters.cursor = None;
        filters.limit = None;
    }
    let mut query = match filters.query() {
        Ok(q) => q,
        Err(e) => return refused(&e.message),
    };
    query.limit = match column_sort {
        Some(_) => MAX_SORTED + 1,
        // The still-valid filter says where its page ends.
        None if search.valid.is_some() => PAGE_SIZE,
        None => PAGE_SIZE + 1,
    };
    let store = state.node.store().clone();
    let still_valid = search
        .valid
        .is_some()
        .then(crate::indicators::ScoreFilter::active);
    let scoring = state.scoring.clone();
    let found = tokio::task::spawn_blocking(move || match still_valid {
        // Reports with an active indicator: read past those without one, a page at a time.
        Some(filter) => crate::indicators::scored_reports(
            &store,
            &query,
            &filter,
            &scoring,
            cairn_core::when::now_ms(),
        )
        .map(|page| (page.reports, page.next)),
        None => store.query(&query).map(|found| (found, None)),
    })
    .await;
    let (mut found, scored_next) = match found {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return failed(e),
        Err(e) => return failed(e),
    };
    let (found, next) = match column_sort {
        None if search.valid.is_some() => {
            let next =
                scored_next.map(|(created, seq)| search.next_page(&format!("{created}.{seq}")));
            (found, next)
        }
        Some(_) if scored_next.is_some() && found.len() <= MAX_SORTED => {
            let problem = "Too many reports to look through for still-valid indicators to sort them by another column than their creation time. Narrow the search (words, TLP, kind, author, dates) or sort by Created.";
            return page(
                StatusCode::OK,
                pages::reports(&signed.viewer(), &search, &[], None, Some(problem), &names),
            );
        }
        None => {
            let next = (found.len() > PAGE_SIZE)
                .then(|| {
                    found.truncate(PAGE_SIZE);
                    found
                        .last()
                        .map(|last| search.next_page(&crate::page_cursor(last)))
                })
                .flatten();
            (found, next)
        }
        Some(_) if found.len() > MAX_SORTED => {
            let problem = format!(
                "More than {MAX_SORTED} reports match: the table sorts at most {MAX_SORTED} by another column than their creation time. Narrow the search (words, TLP, kind, author, dates) or sort by Created."
            );
            return page(
                StatusCode::OK,
                pages::reports(&signed.viewer(), &search, &[], None, Some(&problem), &names),
            );
        }
        Some(sort) => {
            pages::sort_reports(&mut found, sort, &names);
            let next =
                (found.len() > offset + PAGE_SIZE).then(|| search.page_at(offset + PAGE_SIZE));
            let shown: Vec<StoredReport> = found.into_iter().skip(offset).take(PAGE_SIZE).collect();
            (shown, next)
        }
    };
    page(
        StatusCode::OK,
        pages::reports(
            &signed.viewer(),
            &search,
            &found,
            next.as_deref(),
            None,
            &names,
        ),
    )
}

/// Related reports shown for each indicator on a report's page.
const RELATED_PER_INDICATOR: usize = 5;

/// The correlate page's query.
#[derive(Debug, Default, serde::Deserialize)]
struct CorrelateForm {
    #[serde(default)]
    value: String,
}

async fn correlate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Query<CorrelateForm>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let signed = match signed(&state, &headers, Role::Read).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let names = names(&state).await;
    let value = match form {
        Ok(Query(form)) => form.value,
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                pages::correlate(&signed.viewer(), "", Some(&Err(e.body_text())), &names),
            );
        }
    };
    if value.trim().is_empty() {
        return page(
            StatusCode::OK,
            pages::correlate(&signed.viewer(), &value, None, &names),
        );
    }
    let probes = match cairn_core::correlation::readings(&value) {
        Ok(probes) => probes,
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                pages::correlate(&signed.viewer(), &value, Some(&Err(e.to_string())), &names),
            );
        }
    };
    let store = state.node.store().clone();
    let asked = probes.clone();
    let found = tokio::task::spawn_blocking(move || {
        store.correlate(&asked, crate::correlations::DEFAULT_LIMIT, None)
    })
    .await;
    match found {
        Ok(Ok(found)) => page(
            StatusCode::OK,
            pages::correlate(&signed.viewer(), &value, Some(&Ok((probes, found))), &names),
        ),
        Ok(Err(e)) => failed(e),
        Err(e) => failed(e),
    }
}

async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let signed = match signed(&state, &headers, Role::Read).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let store = state.node.store().clone();
    type Found = Option<(
        StoredReport,
        cairn_store::ReportStatus,
        Vec<StoredReport>,
        Vec<(cairn_core::Indicator, cairn_store::Correlation)>,
        Vec<StoredReport>,
    )>;
    let found = tokio::task::spawn_blocking(move || -> Result<Found, crate::ApiError> {
        let Some(stored) = crate::stored_by_id(&store, &id)? else {
            return Ok(None);
        };
        let status = store.status(&stored.report).map_err(crate::internal)?;
        let history = store
            .history(&stored.report.id())
            .map_err(crate::internal)?;
        let related = crate::correlations::of_report(&store, &stored.report, RELATED_PER_INDICATOR)
            .map_err(crate::internal)?;
        let sightings = store
            .current_sightings_of(&stored.report.id())
            .map_err(crate::internal)?;
        Ok(Some((stored, status, history, related, sightings)))
    })
    .await;
    let names = names(&state).await;
    match found {
        Ok(Ok(Some((stored, status, history, related, sightings)))) => {
            let id = stored.report.id();
            let sharing = match state.node.explain_sharing(stored.clone()).await {
                Ok(decisions) => decisions,
                Err(e) => return failed(e),
            };
            let deliveries = match state.node.audit(id).await {
                Ok(entries) => entries,
                Err(e) => return failed(e),
            };
            let can_retract = signed.role >= Role::Publish
                && stored.report.author() == state.node.org()
                && status == cairn_store::ReportStatus::Current
                && stored.report.report().retracts.is_none()
                && state.signer.get().is_some();
            let can_sight = signed.role >= Role::Publish
                && status == cairn_store::ReportStatus::Current
                && cairn_core::sighting::sightable(stored.report.report().kind)
                && state.signer.get().is_some();
            let r = stored.report.report();
            let now_ms = cairn_core::when::now_ms();
            let standings: Vec<cairn_core::score::Standing> = r
                .indicators
                .iter()
                .map(|i| {
                    cairn_core::score::standing(
                        &state.scoring,
                        i,
                        &stored.report.author(),
                        r.confidence,
                        r.created_ms,
                        crate::sightings::said(&sightings),
                        now_ms,
                    )
                })
                .collect();
            let context = pages::ReportContext {
                status,
                history: &history,
                standings: &standings,
                sharing: &sharing,
                deliveries: &deliveries,
                can_retract,
                related: &related,
                sightings: &sightings,
                can_sight,
            };
            page(
                StatusCode::OK,
                pages::report(&signed.viewer(), &stored, &context, &names),
            )
        }
        Ok(Ok(None)) => page(
            StatusCode::NOT_FOUND,
            pages::problem(
                Some(&signed.viewer()),
                "No such report",
                "This node holds no report with that id.",
            ),
        ),
        Ok(Err(e)) if e.status == StatusCode::BAD_REQUEST => page(
            StatusCode::BAD_REQUEST,
            pages::problem(Some(&signed.viewer()), "Not a report id", &e.message),
        ),
        Ok(Err(e)) => failed(e.message),
        Err(e) => failed(e),
    }
}
