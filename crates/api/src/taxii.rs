//! TAXII 2.1 (OASIS) read access at `/taxii2/`: discovery, the API root, collections, objects
//! (with `limit`, `next`, `added_after` and `match[id|type|version|spec_version]`), one object,
//! its versions, the manifest, and adding objects. One collection holds every report this node
//! may show its user, and one per community of node.toml the reports addressed to it, exported
//! as STIX 2.1 objects, each added when its report was stored. Clients
//! authenticate with HTTP Basic (any user name, a token as password) or a bearer token;
//! errors are TAXII error objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{AppState, Role};

/// The TAXII 2.1 media type.
pub const TAXII: &str = "application/taxii+json;version=2.1";
/// The STIX 2.1 media type.
pub const STIX: &str = "application/stix+json;version=2.1";

/// The one collection: everything this node may show its user.
pub const ALL_COLLECTION: &str = "365fed99-08fa-fdcd-a1b3-fb247eb41d01";

/// Most objects per page.
const MAX_PAGE: usize = 1000;

/// A TAXII error.
pub struct TaxiiError {
    status: StatusCode,
    title: &'static str,
    description: String,
}

fn error(status: StatusCode, title: &'static str, description: impl Into<String>) -> TaxiiError {
    TaxiiError {
        status,
        title,
        description: description.into(),
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"cairn\""),
            );
        }
        response
    }
}

fn taxii_json(value: Value, extra: Vec<(&'static str, String)>) -> Response {
    let mut response = (StatusCode::OK, value.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII));
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    response
}

/// Checks the Accept header (406 if it asks for something else than TAXII 2.1 JSON) and the
/// credentials (Basic with a token as password, or Bearer).
fn admit(state: &AppState, headers: &HeaderMap) -> Result<(), TaxiiError> {
    admit_as(state, headers, Role::Read)
}

fn admit_as(state: &AppState, headers: &HeaderMap, needed: Role) -> Result<(), TaxiiError> {
    if let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        let ok = accept.split(',').any(|part| {
            let part = part.trim().to_ascii_lowercase().replace(' ', "");
            part.starts_with("*/*")
                || part.starts_with("application/*")
                || part == "application/taxii+json"
                || part.starts_with("application/taxii+json;version=2.1")
        });
        if !ok {
            return Err(error(
                StatusCode::NOT_ACCEPTABLE,
                "Not acceptable",
                format!("this server answers {TAXII}; the request accepts {accept:?}"),
            ));
        }
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            if let Some(basic) = v.strip_prefix("Basic ") {
                let decoded = base64_decode(basic.trim())?;
                let text = String::from_utf8(decoded).ok()?;
                text.split_once(':')
                    .map(|(_, password)| password.to_string())
            } else {
                v.strip_prefix("Bearer ").map(str::to_string)
            }
        });
    let Some(token) = token else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "send HTTP Basic credentials with a Cairn API token as the password",
        ));
    };
    state
        .check_token(&token, needed)
        .map_err(|(status, message)| {
            let title = if status == StatusCode::FORBIDDEN {
                "Forbidden"
            } else {
                "Unauthorized"
            };
            error(status, title, message)
        })
}

/// Standard base64 (RFC 4648) decoding, for HTTP Basic credentials.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

pub(crate) async fn discovery(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    admit(&state, &headers)?;
    let status = state.node.status().await.map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            e.to_string(),
        )
    })?;
    Ok(taxii_json(
        json!({
            "title": format!("Cairn node of {}", status.organisation),
            "description": "Threat and incident reports shared through Cairn",
            "default": "/taxii2/api/",
            "api_roots": ["/taxii2/api/"]
        }),
        vec![],
    ))
}

pub(crate) async fn api_root(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    admit(&state, &headers)?;
    Ok(taxii_json(
        json!({
            "title": "Cairn",
            "description": "The reports this node holds, as STIX 2.1",
            "versions": [TAXII],
            "max_content_length": MAX_CONTENT_LENGTH
        }),
        vec![],
    ))
}

/// The TAXII collection id of a community.
pub fn community_collection(name: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("cairn/taxii/community/{name}").as_bytes());
    let h = hex::encode(&d[..16]);
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn community_collection_object(name: &str) -> Value {
    json!({
        "id": community_collection(name),
        "title": format!("Community {name}"),
        "description": format!("Reports addressed to the community {name}, as STIX 2.1 objects"),
        "can_read": true,
        "can_write": false,
        "media_types": [STIX]
    })
}

fn collection(state: &AppState) -> Value {
    json!({
        "id": ALL_COLLECTION,
        "title": "Everything this node may show you",
        "description": "Every report this node holds (its own, received from partners, imported), as STIX 2.1 objects. Objects added here are imported as reports signed by this node's organisation.",
        "can_read": true,
        "can_write": state.signer.is_some(),
        "media_types": [STIX]
    })
}

pub(crate) async fn collections(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    admit(&state, &headers)?;
    let mut list = vec![collection(&state)];
    list.extend(
        state
            .communities
            .iter()
            .map(|c| community_collection_object(c)),
    );
    Ok(taxii_json(json!({ "collections": list }), vec![]))
}

/// Which reports a collection holds: all of them, or those addressed to one community.
#[derive(Clone)]
enum Scope {
    All,
    Community(String),
}

fn check_collection(state: &AppState, id: &str) -> Result<Scope, TaxiiError> {
    if id == ALL_COLLECTION {
        return Ok(Scope::All);
    }
    state
        .communities
        .iter()
        .find(|c| community_collection(c) == id)
        .map(|c| Scope::Community(c.clone()))
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "Collection not found",
                format!("no collection {id:?} on this server"),
            )
        })
}

pub(crate) async fn one_collection(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, TaxiiError> {
    admit(&state, &headers)?;
    Ok(taxii_json(
        match check_collection(&state, &id)? {
            Scope::All => collection(&state),
            Scope::Community(name) => community_collection_object(&name),
        },
        vec![],
    ))
}

/// One STIX object version in the collection.
#[derive(Clone)]
struct Entry {
    object: Value,
    id: String,
    kind: String,
    version: String,
    added_ms: i64,
    /// The community the report carrying it is addressed to.
    community: Option<String>,
}

/// The STIX objects of every stored report, in arrival order, kept between requests and
/// extended with the reports stored since (objects never change: a new version is a new
/// entry).
#[derive(Default)]
pub(crate) struct TaxiiCache {
    cursor: u64,
    entries: Vec<Entry>,
}

/// Every object version of the collection, in the order they were added (an object version
/// that several reports carry, such as an identity, counts once, when first added).
fn entries(state: &AppState, scope: &Scope) -> Result<Vec<Entry>, TaxiiError> {
    let store = state.node.store();
    let internal = |e: cairn_store::ReadError| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            e.to_string(),
        )
    };
    let mut cache = state.taxii.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let page = store.after(cache.cursor, 1024).map_err(internal)?;
        let Some(last) = page.last() else { break };
        cache.cursor = last.seq;
        for stored in &page {
            let context = cairn_interop::stix::ExportContext {
                author_name: None,
                first: store.first_version(&stored.report).map_err(internal)?,
            };
            let community = stored.report.report().distribution.community.clone();
            for object in cairn_interop::stix::report_objects(&stored.report, &context) {
                let version = object["modified"]
                    .as_str()
                    .or(object["created"].as_str())
                    .unwrap_or_default()
                    .to_string();
                cache.entries.push(Entry {
                    id: object["id"].as_str().unwrap_or_default().to_string(),
                    kind: object["type"].as_str().unwrap_or_default().to_string(),
                    object,
                    version,
                    added_ms: stored.received_ms,
                    community: community.clone(),
                });
            }
        }
    }
    let mut seen: std::collections::HashSet<(&str, &str)> = std::collections::HashSet::new();
    Ok(cache
        .entries
        .iter()
        .filter(|e| match scope {
            Scope::All => true,
            Scope::Community(name) => e.community.as_deref() == Some(name.as_str()),
        })
        .filter(|e| seen.insert((e.id.as_str(), e.version.as_str())))
        .cloned()
        .collect())
}

/// The filters of an objects or manifest request.
struct Filters {
    limit: usize,
    next: usize,
    added_after: Option<i64>,
    ids: Option<Vec<String>>,
    types: Option<Vec<String>>,
    versions: Vec<String>,
    spec_versions: Option<Vec<String>>,
}

fn parse_time(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn filters(query: Option<String>) -> Result<Filters, TaxiiError> {
    let mut f = Filters {
        limit: 100,
        next: 0,
        added_after: None,
        ids: None,
        types: None,
        versions: vec!["last".into()],
        spec_versions: None,
    };
    let bad = |what: String| error(StatusCode::BAD_REQUEST, "Bad request", what);
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key);
        let value = percent_decode(value);
        let list = || value.split(',').map(str::to_string).collect::<Vec<_>>();
        match key.as_str() {
            "limit" => {
                f.limit = value
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| bad(format!("limit={value:?}: a positive number")))?;
                f.limit = f.limit.min(MAX_PAGE);
            }
            "next" => {
                f.next = value
                    .parse()
                    .map_err(|_| bad(format!("next={value:?} is not a value this server gave")))?;
            }
            "added_after" => {
                f.added_after = Some(
                    parse_time(&value)
                        .ok_or_else(|| bad(format!("added_after={value:?} is not a timestamp")))?,
                );
            }
            "match[id]" => f.ids = Some(list()),
            "match[type]" => f.types = Some(list()),
            "match[version]" => f.versions = list(),
            "match[spec_version]" => f.spec_versions = Some(list()),
            other => return Err(bad(format!("unknown parameter {other:?}"))),
        }
    }
    Ok(f)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The object versions a request selects, before paging.
fn select(all: &[Entry], f: &Filters) -> Vec<Entry> {
    let mut chosen: Vec<Entry> = all
        .iter()
        .filter(|e| f.added_after.is_none_or(|t| e.added_ms > t))
        .filter(|e| f.ids.as_ref().is_none_or(|ids| ids.contains(&e.id)))
        .filter(|e| f.types.as_ref().is_none_or(|t| t.contains(&e.kind)))
        .filter(|e| {
            f.spec_versions.as_ref().is_none_or(|wanted| {
                let spec = e.object["spec_version"].as_str().unwrap_or("2.1");
                wanted.iter().any(|w| w == spec)
            })
        })
        .cloned()
        .collect();
    if f.versions.iter().any(|v| v == "all") {
        return chosen;
    }
    // Per object id: its first and last versions, and any named ones.
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for e in &chosen {
        let f_entry = first
            .entry(e.id.clone())
            .or_insert_with(|| e.version.clone());
        if e.version < *f_entry {
            *f_entry = e.version.clone();
        }
        let l_entry = last
            .entry(e.id.clone())
            .or_insert_with(|| e.version.clone());
        if e.version > *l_entry {
            *l_entry = e.version.clone();
        }
    }
    chosen.retain(|e| {
        f.versions.iter().any(|v| match v.as_str() {
            "last" => last.get(&e.id) == Some(&e.version),
            "first" => first.get(&e.id) == Some(&e.version),
            named => parse_time(named).is_some() && parse_time(named) == parse_time(&e.version),
        })
    });
    chosen
}

fn page(selected: Vec<Entry>, f: &Filters) -> (Vec<Entry>, bool, usize) {
    let end = (f.next + f.limit).min(selected.len());
    let more = end < selected.len();
    let items = selected.into_iter().skip(f.next).take(f.limit).collect();
    (items, more, end)
}

fn date_headers(items: &[Entry]) -> Vec<(&'static str, String)> {
    let stamp = |ms: i64| cairn_interop::stix::timestamp(ms);
    match (
        items.iter().map(|e| e.added_ms).min(),
        items.iter().map(|e| e.added_ms).max(),
    ) {
        (Some(first), Some(last)) => vec![
            ("x-taxii-date-added-first", stamp(first)),
            ("x-taxii-date-added-last", stamp(last)),
        ],
        _ => vec![],
    }
}

async fn selected(
    state: Arc<AppState>,
    scope: Scope,
    query: Option<String>,
) -> Result<(Vec<Entry>, bool, usize), TaxiiError> {
    let f = filters(query)?;
    let all = tokio::task::spawn_blocking(move || entries(&state, &scope))
        .await
        .map_err(|e| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                e.to_string(),
            )
        })??;
    Ok(page(select(&all, &f), &f))
}

/// A TAXII page: `more`, `next` when there is more, and the items under `key`.
fn paged(key: &str, items: Vec<Value>, more: bool, end: usize) -> Value {
    let mut body = json!({ "more": more, key: items });
    if more {
        body["next"] = json!(end.to_string());
    }
    body
}

fn envelope(items: &[Entry], more: bool, end: usize) -> Value {
    paged(
        "objects",
        items.iter().map(|e| e.object.clone()).collect(),
        more,
        end,
    )
}

pub(crate) async fn objects(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    admit(&state, &headers)?;
    let scope = check_collection(&state, &collection)?;
    let (items, more, end) = selected(state, scope, query).await?;
    Ok(taxii_json(
        envelope(&items, more, end),
        date_headers(&items),
    ))
}

pub(crate) async fn manifest(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    admit(&state, &headers)?;
    let scope = check_collection(&state, &collection)?;
    let (items, more, end) = selected(state, scope, query).await?;
    let entries = items
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "date_added": cairn_interop::stix::timestamp(e.added_ms),
                "version": e.version,
                "media_type": STIX
            })
        })
        .collect();
    Ok(taxii_json(
        paged("objects", entries, more, end),
        date_headers(&items),
    ))
}

fn with_id(query: Option<String>, id: &str) -> Option<String> {
    let extra = format!("match[id]={id}");
    Some(match query {
        Some(q) if !q.is_empty() => format!("{q}&{extra}"),
        _ => extra,
    })
}

pub(crate) async fn object(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((collection, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    admit(&state, &headers)?;
    let scope = check_collection(&state, &collection)?;
    let (items, more, end) = selected(state, scope, with_id(query, &id)).await?;
    if items.is_empty() {
        return Err(error(
            StatusCode::NOT_FOUND,
            "Object not found",
            format!("no object {id:?} in this collection"),
        ));
    }
    Ok(taxii_json(
        envelope(&items, more, end),
        date_headers(&items),
    ))
}

pub(crate) async fn versions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((collection, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    admit(&state, &headers)?;
    let scope = check_collection(&state, &collection)?;
    let query = with_id(query, &id).map(|q| format!("{q}&match[version]=all"));
    let (items, more, end) = selected(state, scope, query).await?;
    if items.is_empty() {
        return Err(error(
            StatusCode::NOT_FOUND,
            "Object not found",
            format!("no object {id:?} in this collection"),
        ));
    }
    let versions = items.iter().map(|e| json!(e.version)).collect();
    Ok(taxii_json(
        paged("versions", versions, more, end),
        date_headers(&items),
    ))
}

/// Largest envelope accepted by `POST .../objects/`.
pub const MAX_CONTENT_LENGTH: usize = 10 * 1024 * 1024;

/// `POST .../objects/`: an envelope of STIX objects, imported as reports signed by this node's
/// organisation (as `cairn import` does), answered with a status resource (202).
pub(crate) async fn add_objects(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, TaxiiError> {
    admit_as(&state, &headers, Role::Publish)?;
    if !matches!(check_collection(&state, &collection)?, Scope::All) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "community collections are read-only: add objects to the collection of everything",
        ));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
        .replace(' ', "");
    if !content_type.starts_with("application/taxii+json") {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            format!("send an envelope as {TAXII}"),
        ));
    }
    if body.len() > MAX_CONTENT_LENGTH {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            format!("at most {MAX_CONTENT_LENGTH} bytes per request"),
        ));
    }
    let Some(org) = state.signer.clone() else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "this node does not hold the organisation key, so it cannot sign what is added",
        ));
    };
    let envelope: Value = serde_json::from_slice(&body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "Bad request",
            format!("the body is not JSON: {e}"),
        )
    })?;
    let Some(objects) = envelope.get("objects").and_then(Value::as_array) else {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable",
            "an envelope is an object with an \"objects\" list",
        ));
    };
    let total = objects.len();
    let bundle = json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects});
    let imported = cairn_interop::stix::import_bundle(&bundle, &org.public()).map_err(|e| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable",
            e.to_string(),
        )
    })?;
    let mut successes = Vec::new();
    let mut failures: Vec<Value> = imported
        .skipped
        .iter()
        .map(|s| json!({"id": s.what, "message": s.why}))
        .collect();
    let mut signed = Vec::new();
    for report in imported.reports {
        let tag = report.draft.tags.first().cloned().unwrap_or_default();
        let store = state.node.store().clone();
        let known = tokio::task::spawn_blocking(move || {
            store.query(&cairn_store::ReportQuery {
                tag: Some(tag),
                include_history: true,
                limit: 1,
                ..cairn_store::ReportQuery::default()
            })
        })
        .await
        .ok()
        .and_then(Result::ok)
        .is_some_and(|found| !found.is_empty());
        if known {
            successes.push(json!({"id": report.source_id, "message": "already imported"}));
            continue;
        }
        match report.draft.sign(&org, &mut rand::rngs::OsRng) {
            Ok(verified) => {
                signed.push((report.source_id, verified));
            }
            Err(e) => failures.push(json!({"id": report.source_id, "message": e.to_string()})),
        }
    }
    if !signed.is_empty() {
        let (ids, reports): (Vec<String>, Vec<_>) = signed.into_iter().unzip();
        let outcomes = state.node.publish(reports).await.map_err(|e| {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                e.to_string(),
            )
        })?;
        for (id, outcome) in ids.into_iter().zip(outcomes) {
            match outcome {
                cairn_store::IngestOutcome::Stored { id: report, .. } => successes
                    .push(json!({"id": id, "message": format!("stored as Cairn report {report}")})),
                cairn_store::IngestOutcome::Duplicate { .. } => {
                    successes.push(json!({"id": id, "message": "already stored"}))
                }
                other => failures.push(json!({"id": id, "message": format!("{other:?}")})),
            }
        }
    }
    let status_id = format!("{:032x}", rand::random::<u128>());
    let status_id = format!(
        "{}-{}-4{}-8{}-{}",
        &status_id[..8],
        &status_id[8..12],
        &status_id[13..16],
        &status_id[17..20],
        &status_id[20..32]
    );
    let now = cairn_interop::stix::timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    );
    let status = json!({
        "id": status_id,
        "status": "complete",
        "request_timestamp": now,
        "total_count": total,
        "success_count": successes.len(),
        "successes": successes,
        "failure_count": failures.len(),
        "failures": failures,
        "pending_count": 0,
        "pendings": []
    });
    {
        let mut statuses = state.statuses.lock().unwrap_or_else(|e| e.into_inner());
        // Kept while the node runs, at most this many.
        if statuses.len() >= 10_000
            && let Some(old) = statuses.keys().next().cloned()
        {
            statuses.remove(&old);
        }
        statuses.insert(status_id, status.clone());
    }
    let mut response = taxii_json(status, vec![]);
    *response.status_mut() = StatusCode::ACCEPTED;
    Ok(response)
}

/// `GET /taxii2/api/status/{id}/`: what became of an earlier `POST` (kept while the node runs).
pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, TaxiiError> {
    admit(&state, &headers)?;
    let found = state
        .statuses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned();
    match found {
        Some(status) => Ok(taxii_json(status, vec![])),
        None => Err(error(
            StatusCode::NOT_FOUND,
            "Status not found",
            format!("no status {id:?} on this server"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        // "user:cairn_abc" in base64.
        assert_eq!(
            base64_decode("dXNlcjpjYWlybl9hYmM=").unwrap(),
            b"user:cairn_abc".to_vec()
        );
        assert!(base64_decode("not base64!").is_none());
        assert_eq!(percent_decode("match%5Bid%5D"), "match[id]");
        assert_eq!(percent_decode("a%2Cb"), "a,b");
    }
}
