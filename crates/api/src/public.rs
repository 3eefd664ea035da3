//! The node's public face, without a token: the current TLP:CLEAR advisories whose authors left
//! them unrestricted (`cairn_policy::is_public`), newest first, in one view
//! ([`PublicAdvisory`]: title, summary, author, severity, sectors, regions, Paris Call
//! principles; never a disclosure or an indicator), served as Atom at
//! `GET /public/advisories.atom` and written as a static site by `cairn site build`.

use atom_syndication::{Category, Entry, Feed, FixedDateTime, Person, Text};
use cairn_core::{OrgPublicKey, ReportKind, Tlp};
use cairn_store::{ReportQuery, Store, StoredReport};

/// Advisories shown at most.
pub const MAX_ENTRIES: usize = 50;

/// What the public sees of one advisory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublicAdvisory {
    /// The report id (hex).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its summary.
    pub summary: String,
    /// Its author, by name when this node knows it, by key otherwise.
    pub author: String,
    /// When it was written (ms since the Unix epoch).
    pub created_ms: i64,
    /// Its severity, when the author said.
    pub severity: Option<String>,
    /// Sectors concerned.
    pub sectors: Vec<String>,
    /// Regions concerned.
    pub regions: Vec<String>,
    /// Paris Call principles concerned (1-9).
    pub principles: Vec<u8>,
    /// The language of its title and summary (a BCP 47 tag), when the author said.
    #[serde(default)]
    pub language: Option<String>,
}

/// The current public advisories in `store`, newest first (at most [`MAX_ENTRIES`]), named as
/// `name_of` names their authors.
pub fn public_advisories(
    store: &Store,
    name_of: &dyn Fn(&OrgPublicKey) -> Option<String>,
) -> Result<Vec<PublicAdvisory>, cairn_store::ReadError> {
    let mut found: Vec<StoredReport> = Vec::new();
    let mut past = None;
    // Pages of the query, until enough public ones or none left: a CLEAR advisory may be kept
    // from the public by its scope.
    loop {
        let page = store.query(&ReportQuery {
            kind: Some(ReportKind::Advisory),
            tlp: Some(Tlp::Clear),
            limit: 200,
            past,
            ..ReportQuery::default()
        })?;
        let Some(last) = page.last() else { break };
        past = Some((last.report.report().created_ms, last.seq));
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
    Ok(found
        .iter()
        .map(|stored| {
            let r = stored.report.report();
            let author = stored.report.author();
            PublicAdvisory {
                id: stored.report.id().to_string(),
                title: r.title.clone(),
                summary: r.summary.clone(),
                author: name_of(&author)
                    .unwrap_or_else(|| format!("organisation {}", author.short())),
                created_ms: r.created_ms,
                severity: r.severity.map(|s| s.to_string()),
                sectors: r.sectors.clone(),
                regions: r.regions.clone(),
                principles: r.paris_call_principles.clone(),
                language: r.language.clone(),
            }
        })
        .collect())
}

fn time(ms: i64) -> FixedDateTime {
    FixedDateTime::parse_from_rfc3339(&cairn_core::when::rfc3339(ms)).unwrap_or_default()
}

/// The Atom text of the feed of `advisories` from the node of organisation `us`, named
/// `organisation`.
pub fn feed(
    advisories: &[PublicAdvisory],
    us: &OrgPublicKey,
    organisation: &str,
    now_ms: i64,
) -> String {
    let entries: Vec<Entry> = advisories
        .iter()
        .map(|a| {
            let mut entry = Entry::default();
            entry.set_id(format!("urn:cairn:report:{}", a.id));
            // xml:lang on the title and summary: the advisory's language, when said.
            let in_language = |value: &str| Text {
                lang: a.language.clone(),
                ..Text::plain(value)
            };
            entry.set_title(in_language(&a.title));
            entry.set_updated(time(a.created_ms));
            entry.set_published(Some(time(a.created_ms)));
            entry.set_summary(Some(in_language(&a.summary)));
            entry.set_authors(vec![Person {
                name: a.author.clone(),
                ..Person::default()
            }]);
            let mut categories = vec![Category {
                term: "tlp:clear".into(),
                label: Some("TLP:CLEAR".into()),
                ..Category::default()
            }];
            let terms = a
                .severity
                .iter()
                .map(|s| format!("severity:{s}"))
                .chain(a.sectors.iter().map(|s| format!("sector:{s}")))
                .chain(a.regions.iter().map(|r| format!("region:{r}")))
                .chain(
                    a.principles
                        .iter()
                        .map(|p| format!("paris-call-principle:{p}")),
                );
            categories.extend(terms.map(|term| Category {
                term,
                ..Category::default()
            }));
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
        advisories
            .iter()
            .map(|a| a.created_ms)
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
