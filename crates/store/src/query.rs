//! Queries: the query index's postings, newest first, for the indexed part of the store, a
//! direct read of the reports that arrived after the index marker, merged newest first.

use std::collections::HashSet;

use cairn_core::ReportKind;
use cairn_core::indicator::search_forms;
use cairn_core::report::normalise_label;

use crate::error::ReadError;
use crate::keys;
use crate::store::{ReportStatus, Store, StoredReport};

/// Filters for [`Store::query`]. Every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportQuery {
    /// Written by this organisation.
    pub author: Option<cairn_core::OrgPublicKey>,
    /// Of this kind.
    pub kind: Option<ReportKind>,
    /// With this TLP label.
    pub tlp: Option<cairn_core::Tlp>,
    /// Carrying this tag.
    pub tag: Option<String>,
    /// About this sector.
    pub sector: Option<String>,
    /// About this region.
    pub region: Option<String>,
    /// Concerning this Paris Call principle (1-9).
    pub principle: Option<u8>,
    /// Created at or after (ms).
    pub since_ms: Option<i64>,
    /// Created at or before (ms).
    pub until_ms: Option<i64>,
    /// Mentioning an indicator with this value (any type it is valid for).
    pub indicator: Option<String>,
    /// Mentioning an indicator inside this range or domain (an address in a CIDR range, a
    /// domain under a domain, a URL or email address on it).
    pub inside: Option<cairn_core::search::Container>,
    /// With every one of these words in its title or summary (any case).
    pub text: Option<String>,
    /// Also list superseded and retracted versions, and retractions themselves.
    pub include_history: bool,
    /// At most this many results (newest first); 0 means 100.
    pub limit: usize,
    /// Only reports that come after this one in the order asked: its creation time (ms) and
    /// arrival number, as the last report of the previous page gives them.
    pub past: Option<(i64, u64)>,
    /// Oldest first instead of newest first.
    pub oldest_first: bool,
}

impl Store {
    /// Reports matching every filter, newest first (or oldest first). Without `include_history`, only current
    /// versions are listed: superseded versions, retracted reports and retractions are not.
    pub fn query(&self, query: &ReportQuery) -> Result<Vec<StoredReport>, ReadError> {
        self.query_as_of(query, self.indexed_up_to())
    }

    /// Which of these tags some indexed report (any version, retracted or not) carries: one
    /// index lookup per tag. Reports not indexed yet are not looked at. Answers with the tags
    /// as given.
    pub fn indexed_tags_present(&self, tags: &[String]) -> Result<HashSet<String>, ReadError> {
        let index = self.trees.index.snapshot();
        let mut wanted: std::collections::HashMap<String, Vec<&String>> =
            std::collections::HashMap::new();
        for tag in tags {
            wanted.entry(normalise_label(tag)).or_default().push(tag);
        }
        let mut present = HashSet::new();
        for (normalised, originals) in &wanted {
            let term = keys::term_hash(keys::BY_TAG, normalised.as_bytes());
            for posting in index
                .in_order(&[term], i64::MIN, i64::MAX, None, false)
                .map_err(ReadError::Index)?
            {
                let (_, seq) = posting.map_err(ReadError::Index)?;
                // Tags are indexed by hash: make sure this report really carries the tag.
                let carries = self.get_seq(seq)?.is_some_and(|stored| {
                    stored
                        .report
                        .report()
                        .tags
                        .iter()
                        .any(|t| normalise_label(t) == *normalised)
                });
                if carries {
                    present.extend(originals.iter().map(|t| (*t).clone()));
                    break;
                }
            }
        }
        Ok(present)
    }

    /// The query, trusting the index only up to arrival number `indexed` (at most what the
    /// index covers; less in tests).
    fn query_as_of(
        &self,
        query: &ReportQuery,
        indexed: u64,
    ) -> Result<Vec<StoredReport>, ReadError> {
        let index = self.trees.index.snapshot();
        let indexed = indexed.min(index.indexed_up_to);
        let limit = if query.limit == 0 { 100 } else { query.limit };
        let indicator_forms = query.indicator.as_deref().map(search_forms);
        let tag = query.tag.as_deref().map(normalise_label);
        let sector = query.sector.as_deref().map(normalise_label);
        let region = query.region.as_deref().map(normalise_label);
        let filter = Filter {
            query,
            indicator_forms: indicator_forms.as_deref(),
            tag: tag.as_deref(),
            sector: sector.as_deref(),
            region: region.as_deref(),
        };
        let mut found: Vec<StoredReport> = Vec::new();
        let mut seen = HashSet::new();
        let terms = term_hashes(&filter, &index)?;
        let postings = index
            .in_order(
                &terms,
                query.since_ms.unwrap_or(i64::MIN),
                query.until_ms.unwrap_or(i64::MAX),
                query.past,
                query.oldest_first,
            )
            .map_err(ReadError::Index)?;
        for posting in postings {
            let (_, seq) = posting.map_err(ReadError::Index)?;
            // Reports past the marker are read below, whatever the index holds for them.
            if seq > indexed {
                continue;
            }
            let stored = self
                .get_seq(seq)?
                .ok_or_else(|| ReadError::Corrupt(format!("index names missing arrival {seq}")))?;
            if !seen.insert(stored.report.id()) || !self.keep(&filter, &stored)? {
                continue;
            }
            found.push(stored);
            if found.len() >= limit {
                break;
            }
        }
        for item in self.records_after(indexed) {
            let (_, bytes) = item?;
            let stored = self.trees.stored_report(&bytes)?;
            if seen.insert(stored.report.id()) && self.keep(&filter, &stored)? {
                found.push(stored);
            }
        }
        found.sort_by(|a, b| {
            let order =
                (b.report.report().created_ms, b.seq).cmp(&(a.report.report().created_ms, a.seq));
            if query.oldest_first {
                order.reverse()
            } else {
                order
            }
        });
        found.truncate(limit);
        Ok(found)
    }

    fn keep(&self, filter: &Filter<'_>, stored: &StoredReport) -> Result<bool, ReadError> {
        if !filter.matches(stored) {
            return Ok(false);
        }
        let q = filter.query;
        if q.include_history {
            return Ok(true);
        }
        if stored.report.report().kind == ReportKind::Retraction
            && q.kind != Some(ReportKind::Retraction)
        {
            return Ok(false);
        }
        Ok(self.status(&stored.report)? == ReportStatus::Current)
    }
}

/// The terms whose postings to read: those of the filter with the fewest postings in the
/// index, among a range or domain, an indicator's search forms, each filed word of the text,
/// a tag, a sector, a region, a principle and an author; else every (kind, TLP) pair the query
/// allows. When one filter alone is given, it is read without counting. The filter then
/// checks every other condition on the reports themselves.
fn term_hashes(filter: &Filter<'_>, index: &crate::runs::RunSet) -> Result<Vec<u64>, ReadError> {
    let q = filter.query;
    let mut candidates: Vec<Vec<u64>> = Vec::new();
    if let Some(container) = &q.inside {
        candidates.push(vec![keys::term_hash(
            keys::BY_CONTAINED,
            container.lookup_key().as_bytes(),
        )]);
    }
    if let Some(forms) = filter.indicator_forms {
        candidates.push(
            forms
                .iter()
                .map(|f| keys::term_hash(keys::BY_INDICATOR, f.as_bytes()))
                .collect(),
        );
    }
    if let Some(text) = q.text.as_deref() {
        candidates.extend(
            cairn_core::search::filed_words(text)
                .iter()
                .map(|w| vec![keys::term_hash(keys::BY_WORD, w.as_bytes())]),
        );
    }
    for (index, value) in [
        (keys::BY_TAG, filter.tag),
        (keys::BY_SECTOR, filter.sector),
        (keys::BY_REGION, filter.region),
    ] {
        if let Some(value) = value {
            candidates.push(vec![keys::term_hash(index, value.as_bytes())]);
        }
    }
    if let Some(principle) = q.principle {
        candidates.push(vec![keys::term_hash(
            keys::BY_PRINCIPLE,
            &principle.to_be_bytes(),
        )]);
    }
    if let Some(author) = &q.author {
        candidates.push(vec![keys::term_hash(keys::BY_AUTHOR, author.as_bytes())]);
    }
    if candidates.len() > 1 {
        let mut fewest: Option<(u64, Vec<u64>)> = None;
        for terms in candidates {
            let count = index.count(&terms).map_err(ReadError::Index)?;
            if fewest.as_ref().is_none_or(|(least, _)| count < *least) {
                fewest = Some((count, terms));
            }
        }
        return Ok(fewest.map(|(_, terms)| terms).unwrap_or_default());
    }
    if let Some(terms) = candidates.pop() {
        return Ok(terms);
    }
    let kinds: Vec<ReportKind> = q.kind.map_or_else(|| ReportKind::ALL.to_vec(), |k| vec![k]);
    let tlps: Vec<cairn_core::Tlp> = q
        .tlp
        .map_or_else(|| cairn_core::Tlp::ALL.to_vec(), |t| vec![t]);
    Ok(kinds
        .iter()
        .flat_map(|k| {
            tlps.iter().map(move |t| {
                keys::term_hash(keys::BY_KIND_TLP, &[k.to_proto() as u8, t.to_proto() as u8])
            })
        })
        .collect())
}

struct Filter<'a> {
    query: &'a ReportQuery,
    indicator_forms: Option<&'a [String]>,
    tag: Option<&'a str>,
    sector: Option<&'a str>,
    region: Option<&'a str>,
}

impl Filter<'_> {
    fn matches(&self, stored: &StoredReport) -> bool {
        let q = self.query;
        let r = stored.report.report();
        q.author.is_none_or(|a| a == stored.report.author())
            && q.kind.is_none_or(|k| k == r.kind)
            && q.tlp.is_none_or(|t| t == r.tlp)
            && q.since_ms.is_none_or(|s| r.created_ms >= s)
            && q.until_ms.is_none_or(|u| r.created_ms <= u)
            && q.past.is_none_or(|b| {
                let here = (r.created_ms, stored.seq);
                if q.oldest_first { here > b } else { here < b }
            })
            && self.tag.is_none_or(|t| r.tags.iter().any(|x| x == t))
            && self.sector.is_none_or(|s| r.sectors.iter().any(|x| x == s))
            && self.region.is_none_or(|g| r.regions.iter().any(|x| x == g))
            && q.principle
                .is_none_or(|p| r.paris_call_principles.contains(&p))
            && self
                .indicator_forms
                .is_none_or(|forms| r.indicators.iter().any(|i| forms.contains(&i.value)))
            && q.inside
                .as_ref()
                .is_none_or(|c| r.indicators.iter().any(|i| c.contains(i)))
            && q.text
                .as_deref()
                .is_none_or(|t| cairn_core::search::text_matches(t, &r.title, &r.summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Provenance;
    use rand::SeedableRng;

    #[test]
    fn postings_written_after_the_marker_was_read_are_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_without_indexer(dir.path());
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let org = cairn_core::OrgKey::generate(&mut rng);
        let reports: Vec<_> = (0..10)
            .map(|n| {
                cairn_core::sample::indicator_report(&mut rng, n)
                    .sign(&org, &mut rng)
                    .unwrap()
            })
            .collect();
        store.insert(reports.clone(), Provenance::Local).unwrap();
        store.index_pending(100).unwrap();
        let all = ReportQuery::default();
        let shared = reports[7].report().indicators[0].value.clone();
        let by_indicator = ReportQuery {
            indicator: Some(shared),
            ..ReportQuery::default()
        };
        // The marker said 6 when the query began; the index already holds all ten.
        for seen_marker in [0, 6, 10] {
            assert_eq!(store.query_as_of(&all, seen_marker).unwrap().len(), 10);
            assert_eq!(
                store.query_as_of(&by_indicator, seen_marker).unwrap().len(),
                1
            );
        }
    }

    #[test]
    fn tags_present_are_those_of_indexed_reports_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_without_indexer(dir.path());
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let org = cairn_core::OrgKey::generate(&mut rng);
        let tagged = |n: u64, tag: &str, rng: &mut rand::rngs::StdRng| {
            let mut d = cairn_core::sample::indicator_report(rng, n);
            d.tags = vec![tag.to_string()];
            d.sign(&org, rng).unwrap()
        };
        let first = tagged(1, "stix:indicator--a", &mut rng);
        store.insert(vec![first], Provenance::Import).unwrap();
        store.index_pending(100).unwrap();
        let second = tagged(2, "stix:indicator--b", &mut rng);
        store.insert(vec![second], Provenance::Import).unwrap();
        let asked: Vec<String> = [
            "STIX:indicator--a",
            "stix:indicator--b",
            "stix:indicator--c",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        // Case does not matter; a report not indexed yet is not looked at.
        let present = store.indexed_tags_present(&asked).unwrap();
        assert_eq!(present, HashSet::from(["STIX:indicator--a".to_string()]));
        store.index_pending(100).unwrap();
        let present = store.indexed_tags_present(&asked).unwrap();
        assert_eq!(present.len(), 2);
        assert!(!present.contains("stix:indicator--c"));
    }
}
