//! `GET /public/advisories.atom`: the node's public awareness feed, without a token. It lists
//! the current TLP:CLEAR advisories the node holds that their authors left unrestricted
//! (`cairn_policy::is_public`), newest first, as Atom: title, summary, author, severity,
//! sectors, regions and the Paris Call principles concerned. Selective disclosures and
//! indicators are never in it.

use std::collections::BTreeMap;

use atom_syndication::{Category, Entry, Feed, FixedDateTime, Person, Text};
use cairn_core::{OrgPublicKey, ReportKind, Tlp};
use cairn_store::{ReportQuery, Store, StoredReport};

/// Entries in the feed at most.
pub(crate) const MAX_ENTRIES: usize = 50;

fn time(ms: i64) -> FixedDateTime {
    FixedDateTime::parse_from_rfc3339(&cairn_core::when::rfc3339(ms))
        .unwrap_or_else(|_| atom_syndication::FixedDateTime::default())
}

/// The current public advisories in `store`, newest first (at most [`MAX_ENTRIES`]).
pub(crate) fn public_advisories(
    store: &Store,
) -> Result<Vec<StoredReport>, cairn_store::ReadError> {
    let mut found = Vec::new();
    let mut before = None;
    // Pages of the query, until enough public ones or none left: a CLEAR advisory may be kept
    // from the public by its scope.
    loop {
        let page = store.query(&ReportQuery {
            kind: Some(ReportKind::Advisory),
            tlp: Some(Tlp::Clear),
            limit: 200,
            before,
            ..ReportQuery::default()
        })?;
        let Some(last) = page.last() else { break };
        before = Some((last.report.report().created_ms, last.seq));
        let full = page.len() == 200;
        found.extend(
            page.into_iter()
                .filter(|s| cairn_policy::is_public(s.report.report())),
        );
        if found.len() >= MAX_ENTRIES || !full {
            break;
        }
    }
    found.truncate(MAX_ENTRIES);
    Ok(found)
}

/// The Atom text of the feed of `reports`, from the node of organisation `us` named
/// `organisation` (other authors are named by their key).
pub(crate) fn feed(
    reports: &[StoredReport],
    us: &OrgPublicKey,
    organisation: &str,
    now_ms: i64,
) -> String {
    let names: BTreeMap<OrgPublicKey, String> = [(*us, organisation.to_string())].into();
    let entries: Vec<Entry> = reports
        .iter()
        .map(|stored| {
            let r = stored.report.report();
            let author = stored.report.author();
            let mut entry = Entry::default();
            entry.set_id(format!("urn:cairn:report:{}", stored.report.id()));
            entry.set_title(Text::plain(r.title.clone()));
            entry.set_updated(time(r.created_ms));
            entry.set_published(Some(time(r.created_ms)));
            entry.set_summary(Some(Text::plain(r.summary.clone())));
            entry.set_authors(vec![Person {
                name: names
                    .get(&author)
                    .cloned()
                    .unwrap_or_else(|| format!("organisation {}", author.short())),
                ..Person::default()
            }]);
            let mut categories = vec![Category {
                term: "tlp:clear".into(),
                label: Some("TLP:CLEAR".into()),
                ..Category::default()
            }];
            if let Some(severity) = r.severity {
                categories.push(Category {
                    term: format!("severity:{severity}"),
                    ..Category::default()
                });
            }
            for (prefix, values) in [("sector", &r.sectors), ("region", &r.regions)] {
                for v in values {
                    categories.push(Category {
                        term: format!("{prefix}:{v}"),
                        ..Category::default()
                    });
                }
            }
            for p in &r.paris_call_principles {
                categories.push(Category {
                    term: format!("paris-call-principle:{p}"),
                    ..Category::default()
                });
            }
            entry.set_categories(categories);
            entry
        })
        .collect();
    let mut feed = Feed::default();
    feed.set_id(format!("urn:cairn:organisation:{us}:advisories"));
    feed.set_title(Text::plain(format!("{organisation}: public advisories")));
    feed.set_subtitle(Some(Text::plain(
        "TLP:CLEAR advisories shared through Cairn, for anyone to read and pass on",
    )));
    feed.set_updated(time(
        reports
            .iter()
            .map(|s| s.report.report().created_ms)
            .max()
            .unwrap_or(now_ms),
    ));
    feed.set_authors(vec![Person {
        name: organisation.to_string(),
        ..Person::default()
    }]);
    feed.set_entries(entries);
    feed.to_string()
}
