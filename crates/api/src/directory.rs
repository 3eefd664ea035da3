//! The liaison directory over what a node holds: the current directory entries a search
//! selects, and the offers and donor programmes that match capacity needs
//! (`cairn_core::directory`), each entry in the API's one JSON view of a report. `GET
//! /api/v1/directory`, `GET /api/v1/directory/matches` and `cairn directory` give the same.

use cairn_core::directory::{DirectorySearch, Listing, matches};
use cairn_core::{OrgPublicKey, ReportId, ReportKind};
use cairn_store::{ReportQuery, ReportStatus, Store, StoredReport};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Which needs to match.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchQuery {
    /// Only this need (its report id, 64 hex digits).
    pub need: Option<String>,
    /// Only the needs this organisation published.
    pub mine: bool,
    /// Only entries addressed to this community (a regional cluster): needs and candidates.
    pub community: Option<String>,
    /// At most this many matches per need (10 unless given).
    pub limit: Option<usize>,
}

/// Why the directory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The store could not be read.
    #[error("reading the store: {0}")]
    Read(#[from] cairn_store::ReadError),
    /// The query asks for something that cannot be.
    #[error("{0}")]
    Query(String),
}

/// The current directory entries held, newest first.
pub fn held_entries(store: &Store) -> Result<Vec<StoredReport>, cairn_store::ReadError> {
    let mut held = Vec::new();
    let query = ReportQuery {
        kind: Some(ReportKind::DirectoryEntry),
        ..ReportQuery::default()
    };
    crate::observance::each_current(store, query, |stored| held.push(stored.clone()))?;
    Ok(held)
}

fn listing(stored: &StoredReport) -> Option<Listing<'_>> {
    let r = stored.report.report();
    Some(Listing {
        id: stored.report.id(),
        author: stored.report.author(),
        title: &r.title,
        summary: &r.summary,
        regions: &r.regions,
        community: r.distribution.community.as_deref(),
        entry: r.directory_entry.as_ref()?,
    })
}

fn view(stored: &StoredReport) -> Value {
    serde_json::to_value(crate::api_report(stored, Some(ReportStatus::Current))).unwrap_or_default()
}

/// The entries `search` selects at `now_ms`, as `{"entries": [report, ...]}`, newest first.
pub fn search_view(
    store: &Store,
    search: &DirectorySearch,
    now_ms: i64,
) -> Result<Value, DirectoryError> {
    let held = held_entries(store)?;
    let entries: Vec<Value> = held
        .iter()
        .filter(|s| listing(s).is_some_and(|l| search.selects(&l, now_ms)))
        .map(view)
        .collect();
    Ok(json!({ "entries": entries }))
}

/// The needs `query` asks for, each with the offers and donor programmes that match it, best
/// first: `{"needs": [{"need": report, "matches": [{"score", "reasons", "entry": report}]}]}`.
pub fn matches_view(
    store: &Store,
    us: OrgPublicKey,
    query: &MatchQuery,
    now_ms: i64,
) -> Result<Value, DirectoryError> {
    let needs: Vec<Value> = matched(store, us, query, now_ms)?
        .iter()
        .map(|n| {
            let found: Vec<Value> = n
                .matches
                .iter()
                .map(|m| json!({"score": m.score, "reasons": m.reasons, "entry": view(&m.entry)}))
                .collect();
            json!({"need": view(&n.need), "matches": found})
        })
        .collect();
    Ok(json!({ "needs": needs }))
}

/// A capacity need and what matches it, best first.
pub(crate) struct NeedMatches {
    pub(crate) need: StoredReport,
    pub(crate) matches: Vec<EntryMatch>,
}

/// One offer or donor programme matching a need.
pub(crate) struct EntryMatch {
    pub(crate) score: u32,
    pub(crate) reasons: Vec<String>,
    pub(crate) entry: StoredReport,
}

/// The needs `query` asks for, each with what matches it (the one matchmaking the JSON view,
/// `cairn directory` and the console show).
pub(crate) fn matched(
    store: &Store,
    us: OrgPublicKey,
    query: &MatchQuery,
    now_ms: i64,
) -> Result<Vec<NeedMatches>, DirectoryError> {
    let need_id = query
        .need
        .as_deref()
        .map(|text| {
            text.parse::<ReportId>().map_err(|_| {
                DirectoryError::Query(format!("need: {text:?} is not a report id (64 hex digits)"))
            })
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(10);
    let held = held_entries(store)?;
    let in_community = |l: &Listing<'_>| {
        query
            .community
            .as_deref()
            .is_none_or(|c| l.community == Some(c))
    };
    let listings: Vec<(&StoredReport, Listing<'_>)> = held
        .iter()
        .filter_map(|s| listing(s).map(|l| (s, l)))
        .filter(|(_, l)| in_community(l))
        .collect();
    let candidates: Vec<Listing<'_>> = listings.iter().map(|(_, l)| *l).collect();
    if let Some(id) = need_id {
        match listings.iter().find(|(_, l)| l.id == id) {
            None => {
                return Err(DirectoryError::Query(format!(
                    "need: no current directory entry {id} is held here"
                )));
            }
            Some((_, l))
                if l.entry.entry_type != cairn_core::directory::EntryType::CapacityNeed =>
            {
                return Err(DirectoryError::Query(format!(
                    "need: {id} is a {}, not a capacity-need",
                    l.entry.entry_type
                )));
            }
            Some(_) => {}
        }
    }
    let mut needs = Vec::new();
    for (stored, need) in &listings {
        if need.entry.entry_type != cairn_core::directory::EntryType::CapacityNeed
            || need_id.is_some_and(|id| id != need.id)
            || (query.mine && need.author != us)
            || !need.entry.is_valid_at(now_ms)
        {
            continue;
        }
        let found: Vec<EntryMatch> = matches(need, &candidates, now_ms)
            .into_iter()
            .take(limit)
            .filter_map(|m| {
                let (candidate, _) = listings.iter().find(|(_, l)| l.id == m.candidate)?;
                Some(EntryMatch {
                    score: m.score,
                    reasons: m.reasons,
                    entry: (*candidate).clone(),
                })
            })
            .collect();
        needs.push(NeedMatches {
            need: (*stored).clone(),
            matches: found,
        });
    }
    Ok(needs)
}
