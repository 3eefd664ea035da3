//! TAXII 2.1 (OASIS) read access at `/taxii2/`: discovery, the API root, collections, objects
//! (with `limit`, `next`, `added_after` and `match[id|type|version|spec_version]`), one object,
//! its versions, the manifest, and adding objects. One collection holds every report this node
//! may show its user, and one per community of node.toml the reports addressed to it, exported
//! as STIX 2.1 objects, each added when its report was stored. Clients
//! authenticate with HTTP Basic (any user name, a token as password) or a bearer token;
//! errors are TAXII error objects.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use cairn_core::stix::StixTime;
use cairn_interop::import::{Fate, Held, ImportOptions, Outcome, ReportFate, settle};

use crate::stix_index::{Entry, Filters, Scope, VersionWanted, parse_time_us, write_objects};
use crate::{AppState, Role};

/// The TAXII 2.1 media type.
pub const TAXII: &str = "application/taxii+json;version=2.1";
/// The STIX 2.1 media type.
pub const STIX: &str = "application/stix+json;version=2.1";

/// The one collection: everything this node may show its user (a UUIDv4, as TAXII asks).
pub const ALL_COLLECTION: &str = "365fed99-08fa-4dcd-a1b3-fb247eb41d01";

/// A TAXII timestamp: microseconds, UTC.
fn stamp_us(us: i64) -> String {
    StixTime::from_micros(us).to_string()
}

/// Most objects per page.
const MAX_PAGE: usize = 1000;

/// How long each TAXII request asks the store's background indexer to wait: a client paging
/// through a collection, or adding objects envelope after envelope, is served first and the
/// query index catches up when it pauses (queries stay exact meanwhile).
const INDEXING_HOLD: std::time::Duration = std::time::Duration::from_millis(250);

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

/// The answer of a node whose TAXII server is turned off.
pub(crate) fn turned_off() -> TaxiiError {
    error(
        StatusCode::NOT_FOUND,
        "TAXII is turned off",
        "this node serves neither TAXII nor the MISP feed ([api] taxii = false in its node.toml); its REST API at /api/v1/ is on",
    )
}

/// A TAXII JSON answer already written out.
fn taxii_bytes(text: axum::body::Bytes) -> Response {
    let mut response = (StatusCode::OK, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII));
    response
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
fn admit(state: &AppState, headers: &HeaderMap) -> Result<Role, TaxiiError> {
    admit_as(state, headers, Role::Read)
}

fn admit_as(state: &AppState, headers: &HeaderMap, needed: Role) -> Result<Role, TaxiiError> {
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

/// Standard base64 (RFC 4648) decoding, for HTTP Basic credentials; padding may be left out,
/// as some clients do.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

pub(crate) async fn discovery(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    admit(&state, &headers)?;
    let status = state.node.status().await.map_err(internal)?;
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

/// The collection of everything; writable for a token that may publish, on a node that holds
/// the organisation key.
fn collection(state: &AppState, role: Role) -> Value {
    json!({
        "id": ALL_COLLECTION,
        "title": "Everything this node may show you",
        "description": "Every report this node holds (its own, received from partners, imported), as STIX 2.1 objects. Objects added here are carried as sent, in reports signed by this node's organisation.",
        "can_read": true,
        "can_write": state.signer.get().is_some() && role >= Role::Publish,
        "media_types": [STIX]
    })
}

pub(crate) async fn collections(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let role = admit(&state, &headers)?;
    let mut list = vec![collection(&state, role)];
    list.extend(
        state
            .communities
            .iter()
            .map(|c| community_collection_object(c)),
    );
    Ok(taxii_json(json!({ "collections": list }), vec![]))
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
    let role = admit(&state, &headers)?;
    Ok(taxii_json(
        match check_collection(&state, &id)? {
            Scope::All => collection(&state, role),
            Scope::Community(name) => community_collection_object(&name),
        },
        vec![],
    ))
}

fn filters(query: Option<String>) -> Result<Filters, TaxiiError> {
    let mut f = Filters::default();
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
                    parse_time_us(&value)
                        .ok_or_else(|| bad(format!("added_after={value:?} is not a timestamp")))?,
                );
            }
            "match[id]" => f.ids = Some(list()),
            "match[type]" => f.types = Some(list()),
            "match[version]" => {
                f.versions = list()
                    .iter()
                    .map(|v| match v.as_str() {
                        "all" => Ok(VersionWanted::All),
                        "first" => Ok(VersionWanted::First),
                        "last" => Ok(VersionWanted::Last),
                        named => StixTime::parse(named).map(VersionWanted::At).ok_or_else(|| {
                            bad(format!(
                                "match[version]={named:?}: \"first\", \"last\", \"all\" or a timestamp"
                            ))
                        }),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "match[spec_version]" => f.spec_versions = Some(list()),
            other => return Err(bad(format!("unknown parameter {other:?}"))),
        }
    }
    Ok(f)
}

/// A query string part decoded as HTML forms encode it (`+` for a space, then `%XX` bytes);
/// bytes that are not UTF-8 read as U+FFFD and so match nothing.
fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Reads a TAXII query string (what follows `?`) as the server does; the error says what is
/// wrong with it, as a 400 answer would. For the fuzzer and for tools that check a query.
pub fn check_query(query: &str) -> Result<(), String> {
    filters(Some(query.to_string()))
        .map(|_| ())
        .map_err(|e| e.description)
}

fn internal(e: impl std::fmt::Display) -> TaxiiError {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error",
        e.to_string(),
    )
}

/// What a request asks of the selected object versions.
#[derive(Clone, Copy, PartialEq)]
enum Wanted {
    /// The objects, in an envelope.
    Objects,
    /// Their manifest entries.
    Manifest,
    /// Their versions.
    Versions,
}

/// The TAXII date headers of a page.
fn date_headers(items: &[Entry]) -> Vec<(&'static str, String)> {
    match (
        items.iter().map(|e| e.added_us).min(),
        items.iter().map(|e| e.added_us).max(),
    ) {
        (Some(first), Some(last)) => vec![
            ("x-taxii-date-added-first", stamp_us(first)),
            ("x-taxii-date-added-last", stamp_us(last)),
        ],
        _ => vec![],
    }
}

/// Selects a page of object versions of a collection and writes the answer: an envelope of
/// objects (encoded from the store), manifest entries or versions. `None` when nothing matched
/// and `empty_is_missing`.
async fn answer(
    state: Arc<AppState>,
    scope: Scope,
    f: Filters,
    wanted: Wanted,
    empty_is_missing: bool,
) -> Result<Option<Response>, TaxiiError> {
    let work = move || -> Result<Option<Response>, TaxiiError> {
        let store = state.node.store();
        store.hold_indexing(INDEXING_HOLD);
        let t0 = std::time::Instant::now();
        let (selection, ids) = {
            let mut index = state.taxii.lock().unwrap_or_else(|e| e.into_inner());
            index.refresh(store, &|| true).map_err(internal)?;
            let selection = index.select(&scope, &f);
            let ids: Vec<String> = if wanted == Wanted::Manifest {
                selection.items.iter().map(|e| index.id(e)).collect()
            } else {
                Vec::new()
            };
            (selection, ids)
        };
        let t1 = t0.elapsed();
        if selection.items.is_empty() && empty_is_missing {
            return Ok(None);
        }
        let mut body = Vec::with_capacity(256 + selection.items.len() * 1024);
        body.extend_from_slice(b"{\"more\":");
        body.extend_from_slice(if selection.next.is_some() {
            b"true"
        } else {
            b"false"
        });
        if let Some(next) = selection.next {
            body.extend_from_slice(format!(",\"next\":\"{next}\"").as_bytes());
        }
        // No empty lists: a page without objects leaves the key out.
        let none = selection.items.is_empty();
        match wanted {
            Wanted::Objects if none => {}
            Wanted::Objects => {
                body.extend_from_slice(b",\"objects\":[");
                write_objects(store, &state.recent_reports, &selection.items, &mut body)
                    .map_err(internal)?;
                body.push(b']');
            }
            Wanted::Manifest | Wanted::Versions if none => {}
            Wanted::Manifest => {
                let entries: Vec<Value> = selection
                    .items
                    .iter()
                    .zip(&ids)
                    .map(|(e, id)| {
                        json!({
                            "id": id,
                            "date_added": stamp_us(e.added_us),
                            "version": e.version.to_string(),
                            "media_type": STIX
                        })
                    })
                    .collect();
                body.extend_from_slice(b",\"objects\":");
                body.extend_from_slice(Value::from(entries).to_string().as_bytes());
            }
            Wanted::Versions => {
                let versions: Vec<Value> = selection
                    .items
                    .iter()
                    .map(|e| json!(e.version.to_string()))
                    .collect();
                body.extend_from_slice(b",\"versions\":");
                body.extend_from_slice(Value::from(versions).to_string().as_bytes());
            }
        }
        body.push(b'}');
        tracing::debug!(
            items = selection.items.len(),
            select_us = t1.as_micros() as u64,
            total_us = t0.elapsed().as_micros() as u64,
            "taxii page"
        );
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(TAXII));
        for (name, value) in date_headers(&selection.items) {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
        Ok(Some(response))
    };
    tokio::task::spawn_blocking(work).await.map_err(internal)?
}

/// A page of a collection's objects or manifest entries.
async fn collection_page(
    state: Arc<AppState>,
    headers: &HeaderMap,
    collection: &str,
    query: Option<String>,
    wanted: Wanted,
) -> Result<Response, TaxiiError> {
    admit(&state, headers)?;
    let scope = check_collection(&state, collection)?;
    let f = filters(query)?;
    answer(state, scope, f, wanted, false)
        .await?
        .ok_or_else(|| internal("no page"))
}

pub(crate) async fn objects(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    collection_page(state, &headers, &collection, query, Wanted::Objects).await
}

pub(crate) async fn manifest(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(collection): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    collection_page(state, &headers, &collection, query, Wanted::Manifest).await
}

fn object_missing(id: &str) -> TaxiiError {
    error(
        StatusCode::NOT_FOUND,
        "Object not found",
        format!("no object {id:?} in this collection"),
    )
}

/// One object of a collection (its versions the filters select), or the list of its versions.
async fn one_object(
    state: Arc<AppState>,
    headers: &HeaderMap,
    collection: &str,
    id: String,
    query: Option<String>,
    wanted: Wanted,
) -> Result<Response, TaxiiError> {
    admit(&state, headers)?;
    let scope = check_collection(&state, collection)?;
    let mut f = filters(query)?;
    f.ids = Some(vec![id.clone()]);
    if wanted == Wanted::Versions {
        f.versions = vec![VersionWanted::All];
    }
    answer(state, scope, f, wanted, true)
        .await?
        .ok_or_else(|| object_missing(&id))
}

pub(crate) async fn object(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((collection, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    one_object(state, &headers, &collection, id, query, Wanted::Objects).await
}

pub(crate) async fn versions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((collection, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    one_object(state, &headers, &collection, id, query, Wanted::Versions).await
}

/// Largest envelope accepted by `POST .../objects/`.
pub const MAX_CONTENT_LENGTH: usize = 10 * 1024 * 1024;

/// What an envelope became: its objects, and per report made from them, what happened.
struct AddedEnvelope {
    /// Objects in the envelope.
    total: usize,
    /// Per source object: what became of it.
    successes: Vec<StatusDetail>,
    /// Per source object that could not be added: why.
    failures: Vec<StatusDetail>,
    /// How long reading and mapping, signing, and storing took.
    timings: [std::time::Duration; 3],
}

/// Reads an envelope (`{"objects": [...]}`), maps its objects to reports as `cairn import`
/// does (leaving out what the collection already holds), signs them (on every core when there
/// are many) and stores them, on the calling (blocking) thread: one step, with no hand-over
/// between threads. Every object of the envelope is accounted for once, with its version.
fn add_envelope(
    body: &[u8],
    org: &cairn_core::ReportSigningKey,
    state: &AppState,
) -> Result<AddedEnvelope, TaxiiError> {
    let start = std::time::Instant::now();
    let node = &state.node;
    let store = node.store();
    // The index is brought up to date, then asked object by object: it is not held while the
    // envelope is mapped, so that readers are served meanwhile.
    state
        .taxii
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .refresh(store, &|| true)
        .map_err(internal)?;
    let held = |id: &str, version: Option<StixTime>| -> Held {
        state
            .taxii
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .held(id, version)
    };
    let exported_by = |id: &str| {
        state
            .taxii
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .newest_report_of(id)
    };
    // TAXII adds STIX: no MISP event is asked for.
    let sighted = |wanted: &cairn_interop::import::SightedRef<'_>| {
        crate::sighted_in(store, &exported_by, &|_| None, wanted)
    };
    let options = ImportOptions {
        default_tlp: state.import.default_tlp,
        held: &held,
        sighted: &sighted,
    };
    // An envelope reads like a bundle: only its "objects" matter.
    let imported =
        cairn_interop::stix::import_bundle(body, &org.author(), &options).map_err(|e| match e {
            cairn_interop::import::ImportError::NotJson(why) => error(
                StatusCode::BAD_REQUEST,
                "Bad request",
                format!("the body is not JSON: {why}"),
            ),
            cairn_interop::import::ImportError::Malformed { place, .. } if place == "bundle" => {
                error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Unprocessable",
                    "an envelope is an object with an \"objects\" list",
                )
            }
            other => error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unprocessable",
                other.to_string(),
            ),
        })?;
    let total = imported.objects;
    let mapped = start.elapsed();
    let (fates, signed_in) = store_imported(node, &imported.reports, org).map_err(internal)?;
    let signed_at = mapped + signed_in;
    // Objects without a version of their own are listed under the time they were added.
    let versionless: Vec<&str> = imported
        .accounts
        .iter()
        .filter(|a| a.version.is_none() && !matches!(a.fate, Fate::Refused(_)))
        .map(|a| a.id.as_str())
        .collect();
    let added_versions: std::collections::HashMap<&str, String> = if versionless.is_empty() {
        Default::default()
    } else {
        let mut index = state.taxii.lock().unwrap_or_else(|e| e.into_inner());
        index.refresh(store, &|| true).map_err(internal)?;
        versionless
            .into_iter()
            .filter_map(|id| index.version_of(id).map(|v| (id, v.to_string())))
            .collect()
    };
    let flagged = flagged_objects(state, &imported);
    let mut successes = Vec::new();
    let mut failures = Vec::new();
    for (n, object) in settle(&imported.accounts, &fates).into_iter().enumerate() {
        let version = object
            .version
            .or_else(|| added_versions.get(object.id.as_str()).cloned());
        let message = match flagged.get(&n) {
            Some(flags) if object.outcome != Outcome::Refused => {
                format!("{}; {flags}", object.message)
            }
            _ => object.message,
        };
        let entry = StatusDetail {
            id: object.id,
            version,
            message,
        };
        match object.outcome {
            Outcome::Refused => failures.push(entry),
            Outcome::Imported | Outcome::Updated | Outcome::Duplicate => successes.push(entry),
        }
    }
    Ok(AddedEnvelope {
        total,
        successes,
        failures,
        timings: [mapped, signed_at - mapped, start.elapsed() - signed_at],
    })
}

/// The warning-list flags of an import, said once per report made: on the STIX `report` object
/// it carries, or else on the first object it carries (the position in `imported.accounts`,
/// and what to add to that object's status message).
fn flagged_objects(
    state: &AppState,
    imported: &cairn_interop::import::Imported,
) -> std::collections::HashMap<usize, String> {
    let mut carrier: std::collections::HashMap<usize, usize> = Default::default();
    for (n, account) in imported.accounts.iter().enumerate() {
        if let Fate::Carried { report, .. } = account.fate {
            let first = *carrier.entry(report).or_insert(n);
            if account.id.starts_with("report--")
                && !imported.accounts[first].id.starts_with("report--")
            {
                carrier.insert(report, n);
            }
        }
    }
    carrier
        .into_iter()
        .filter_map(|(report, n)| {
            let flags = state
                .warning_lists
                .draft_flags(&imported.reports.get(report)?.draft.indicators);
            (!flags.is_empty()).then(|| {
                let said: Vec<String> = flags.iter().map(|f| f.describe()).collect();
                (n, format!("known benign: {}", said.join("; ")))
            })
        })
        .collect()
}

/// Signs the reports of an import and stores them through the node (blocking: call it off
/// the runtime); what became of each report, and how long signing took.
pub(crate) fn store_imported(
    node: &cairn_node::NodeHandle,
    reports: &[cairn_interop::import::ImportedReport],
    org: &cairn_core::ReportSigningKey,
) -> Result<(Vec<ReportFate>, std::time::Duration), cairn_node::NodeError> {
    let started = std::time::Instant::now();
    let signed = sign_all(reports, org);
    let signing = started.elapsed();
    // What became of each report: stored (or already stored) as which Cairn report, or why not.
    let mut fates: Vec<ReportFate> = Vec::with_capacity(signed.len());
    let mut to_store = Vec::new();
    let mut stored_at = Vec::new();
    for (k, outcome) in signed.into_iter().enumerate() {
        match outcome {
            Ok(verified) => {
                fates.push(ReportFate::Stored(verified.id()));
                stored_at.push(k);
                to_store.push(verified);
            }
            Err(e) => fates.push(ReportFate::Failed(format!("not a valid report: {e}"))),
        }
    }
    if !to_store.is_empty() {
        let outcomes = node.import_blocking(to_store)?;
        for (k, outcome) in stored_at.into_iter().zip(outcomes) {
            fates[k] = match outcome {
                cairn_store::IngestOutcome::Stored { id, .. } => ReportFate::Stored(id),
                cairn_store::IngestOutcome::Duplicate { id, .. } => ReportFate::AlreadyStored(id),
                cairn_store::IngestOutcome::Rejected(e) => ReportFate::Failed(e.to_string()),
                cairn_store::IngestOutcome::Refused { reason, .. } => ReportFate::Failed(reason),
            };
        }
    }
    Ok((fates, signing))
}

/// Signs imported drafts, spread over the cores when there are many.
fn sign_all(
    reports: &[cairn_interop::import::ImportedReport],
    org: &cairn_core::ReportSigningKey,
) -> Vec<Result<cairn_core::VerifiedReport, cairn_core::InvalidReport>> {
    let sign = |report: &cairn_interop::import::ImportedReport| report.sign(org);
    // Below this many reports per thread, starting a thread costs more than it saves.
    const MIN_PER_THREAD: usize = 16;
    if reports.len() <= MIN_PER_THREAD {
        return reports.iter().map(sign).collect();
    }
    let threads = cairn_core::available_cores().min(4);
    let chunk = reports.len().div_ceil(threads).max(MIN_PER_THREAD);
    std::thread::scope(|scope| {
        let workers: Vec<_> = reports
            .chunks(chunk)
            .skip(1)
            .map(|part| scope.spawn(move || part.iter().map(sign).collect::<Vec<_>>()))
            .collect();
        let mut outcomes: Vec<_> = reports.iter().take(chunk).map(sign).collect();
        for worker in workers {
            match worker.join() {
                Ok(part) => outcomes.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        outcomes
    })
}

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
    let Some(org) = state.signer.get() else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "this node does not hold the organisation key, so it cannot sign what is added",
        ));
    };
    state.node.store().hold_indexing(INDEXING_HOLD);
    let added = tokio::task::spawn_blocking({
        let state = state.clone();
        move || add_envelope(&body, &org, &state)
    })
    .await
    .map_err(internal)??;
    let [mapped, signed, stored] = added.timings;
    tracing::debug!(
        objects = added.total,
        import_us = mapped.as_micros() as u64,
        sign_us = signed.as_micros() as u64,
        store_us = stored.as_micros() as u64,
        "taxii objects added"
    );
    // The index takes in what was stored while the client reads the answer.
    state.stix_index_due.notify_one();
    // A random (version 4) UUID.
    let status_id = uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string();
    let request_timestamp = stamp_us(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
    );
    // Counts that add up, and no empty lists.
    let status = StatusResource {
        id: &status_id,
        status: "complete",
        request_timestamp,
        total_count: added.total,
        success_count: added.successes.len(),
        failure_count: added.failures.len(),
        pending_count: 0,
        successes: &added.successes,
        failures: &added.failures,
    };
    let text: axum::body::Bytes = serde_json::to_vec(&status).map_err(internal)?.into();
    state
        .statuses
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keep(status_id, text.clone());
    let mut response = taxii_bytes(text);
    *response.status_mut() = StatusCode::ACCEPTED;
    Ok(response)
}

/// A TAXII status resource, as `POST .../objects/` answers it and `GET .../status/{id}/`
/// serves it again.
#[derive(serde::Serialize)]
struct StatusResource<'a> {
    id: &'a str,
    status: &'static str,
    request_timestamp: String,
    total_count: usize,
    success_count: usize,
    failure_count: usize,
    pending_count: usize,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    successes: &'a [StatusDetail],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    failures: &'a [StatusDetail],
}

/// What became of one posted object: its id, its version, and a message.
#[derive(serde::Serialize)]
struct StatusDetail {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    message: String,
}

/// The status resources of this run, as served, the oldest dropped first past
/// [`Statuses::KEEP`].
#[derive(Default)]
pub(crate) struct Statuses {
    order: std::collections::VecDeque<String>,
    by_id: std::collections::HashMap<String, axum::body::Bytes>,
}

impl Statuses {
    /// How many are kept while the node runs.
    const KEEP: usize = 10_000;

    fn keep(&mut self, id: String, text: axum::body::Bytes) {
        while self.order.len() >= Self::KEEP {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, text);
    }

    fn get(&self, id: &str) -> Option<axum::body::Bytes> {
        self.by_id.get(id).cloned()
    }
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
        .get(&id);
    match found {
        Some(status) => Ok(taxii_bytes(status)),
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
        assert_eq!(
            base64_decode("dXNlcjpjYWlybl9hYmM").unwrap(),
            b"user:cairn_abc".to_vec(),
            "without its padding"
        );
        assert!(base64_decode("not base64!").is_none());
        assert_eq!(percent_decode("match%5Bid%5D"), "match[id]");
        assert_eq!(percent_decode("a%2Cb"), "a,b");
        assert_eq!(percent_decode("a+b%2Bc"), "a b+c");
        assert_eq!(percent_decode("100%"), "100%", "a lone % stays");
        assert_eq!(percent_decode("%zz%4"), "%zz%4", "so do broken escapes");
    }

    #[test]
    fn query_strings_read_as_the_server_reads_them() {
        assert_eq!(
            check_query("match%5Btype%5D=indicator,malware&limit=10&match[version]=all"),
            Ok(())
        );
        assert_eq!(check_query(""), Ok(()));
        let unknown = check_query("colour=red").unwrap_err();
        assert!(
            unknown.contains("unknown parameter \"colour\""),
            "{unknown}"
        );
        let limit = check_query("limit=0").unwrap_err();
        assert!(limit.contains("a positive number"), "{limit}");
        let version = check_query("match%5Bversion%5D=yesterday").unwrap_err();
        assert!(version.contains("yesterday"), "{version}");
        let after = check_query("added_after=%FF").unwrap_err();
        assert!(after.contains("not a timestamp"), "{after}");
    }
}
