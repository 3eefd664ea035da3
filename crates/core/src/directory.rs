//! The liaison directory without a centre: signed entries for initiatives, projects, capacity
//! offers, capacity needs and donor programmes, carried by reports of kind `directory-entry`
//! (so they are shared, updated, withdrawn and kept like any report), each entry valid until
//! a date of its author's choosing. Search ([`DirectorySearch`]) and matchmaking ([`matches`]:
//! a need against offers and donor programmes, ranked, each match with its reasons) are pure
//! functions over entries the caller reads from wherever it keeps them.

use std::collections::BTreeSet;

use cairn_proto::v1 as pb;

use crate::coding::{UnknownTerm, country_code, unique, vocabulary};
use crate::identity::OrgPublicKey;
use crate::report::ReportId;

vocabulary! {
    /// What a directory entry offers or seeks.
    EntryType, "a directory entry type" {
        Initiative = "initiative", "An initiative or community under way";
        Project = "project", "A project with a start and an end";
        CapacityOffer = "capacity-offer", "Help, training, tools or people offered";
        CapacityNeed = "capacity-need", "Help sought";
        DonorProgramme = "donor-programme", "Funding available for projects";
    }
}

vocabulary! {
    /// The five themes of the Global Forum on Cyber Expertise's capacity-building agenda.
    Theme, "a GFCE theme" {
        PolicyAndStrategy = "policy-and-strategy", "Cyber security policy and strategy";
        IncidentManagement = "incident-management", "Cyber incident management and critical infrastructure protection";
        Cybercrime = "cybercrime", "Cybercrime";
        CultureAndSkills = "culture-and-skills", "Cyber security culture and skills";
        Standards = "standards", "Cyber security standards";
    }
}

vocabulary! {
    /// What an entry is about: topics within the GFCE themes ([`Topic::theme`]).
    Topic, "a directory topic" {
        NationalStrategy = "national-strategy", "National cyber security strategy and governance";
        InternationalCooperation = "international-cooperation", "Cyber diplomacy, norms and confidence-building";
        IncidentResponse = "incident-response", "CERT/CSIRT development and incident management";
        CriticalInfrastructure = "critical-infrastructure", "Critical (information) infrastructure protection";
        ThreatIntelligence = "threat-intelligence", "Threat intelligence sharing";
        CybercrimeLegislation = "cybercrime-legislation", "Cybercrime policy and legislation";
        CybercrimeCapacity = "cybercrime-capacity", "Law enforcement, prosecution and judicial capacity";
        Awareness = "awareness", "Public awareness";
        Workforce = "workforce", "Education, training and workforce development";
        CivilSocietySupport = "civil-society-support", "Security help for NGOs and people at risk";
        SecurityStandards = "security-standards", "Standards and good practice";
        InternetInfrastructure = "internet-infrastructure", "Internet infrastructure security (routing, DNS)";
        ProductSecurity = "product-security", "Secure products, supply chain and vulnerability disclosure";
    }
}

impl Topic {
    /// The GFCE theme the topic belongs to.
    pub fn theme(self) -> Theme {
        match self {
            Topic::NationalStrategy | Topic::InternationalCooperation => Theme::PolicyAndStrategy,
            Topic::IncidentResponse | Topic::CriticalInfrastructure | Topic::ThreatIntelligence => {
                Theme::IncidentManagement
            }
            Topic::CybercrimeLegislation | Topic::CybercrimeCapacity => Theme::Cybercrime,
            Topic::Awareness | Topic::Workforce | Topic::CivilSocietySupport => {
                Theme::CultureAndSkills
            }
            Topic::SecurityStandards | Topic::InternetInfrastructure | Topic::ProductSecurity => {
                Theme::Standards
            }
        }
    }
}

/// Most topics, countries or languages one entry may list (each).
pub const MAX_ITEMS: usize = 32;
/// Longest contact, in characters.
pub const MAX_CONTACT_CHARS: usize = 512;
/// Longest URL, in characters.
pub const MAX_URL_CHARS: usize = 1024;

/// A directory entry, validated. Its title, description, regions and TLP are the carrying
/// report's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntry {
    /// What it offers or seeks.
    #[serde(rename = "type")]
    pub entry_type: EntryType,
    /// What it is about (at least one).
    pub topics: Vec<Topic>,
    /// Countries it concerns, ISO 3166-1 alpha-2 (none: not tied to countries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// Languages it works in, BCP 47 tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// How to reach whoever runs it: an address, a URL, a name.
    pub contact: String,
    /// Where to read more, an http or https URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The end of its validity, milliseconds since the Unix epoch (none: until withdrawn).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "valid_until_text"
    )]
    pub valid_until: Option<i64>,
}

impl DirectoryEntry {
    /// The entry in words, as `cairn report show` and the console show it: a label and its
    /// items for each part given.
    pub fn in_words(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut out = vec![(
            "Entry type",
            vec![format!("{} ({})", self.entry_type, self.entry_type.title())],
        )];
        out.push((
            "Topics",
            self.topics
                .iter()
                .map(|t| format!("{t} ({})", t.theme().title()))
                .collect(),
        ));
        if !self.countries.is_empty() {
            out.push((
                "Countries",
                self.countries
                    .iter()
                    .map(|c| crate::coding::country_in_words(c))
                    .collect(),
            ));
        }
        if !self.languages.is_empty() {
            out.push(("Languages", self.languages.clone()));
        }
        out.push(("Contact", vec![self.contact.clone()]));
        if let Some(url) = &self.url {
            out.push(("URL", vec![url.clone()]));
        }
        out.push((
            "Valid until",
            vec![
                self.valid_until
                    .map_or("until withdrawn".to_string(), crate::when::rfc3339),
            ],
        ));
        out
    }

    /// Whether it is still valid at `now_ms` (its last valid millisecond included).
    pub fn is_valid_at(&self, now_ms: i64) -> bool {
        self.valid_until.is_none_or(|until| now_ms <= until)
    }

    /// The same entry as a draft writer means it: country codes upper case, repeats dropped,
    /// texts trimmed. Values are checked when signed.
    pub fn canonical(&self) -> DirectoryEntry {
        DirectoryEntry {
            entry_type: self.entry_type,
            topics: unique(self.topics.iter().copied()),
            countries: unique(
                self.countries
                    .iter()
                    .map(|c| country_code(c).unwrap_or_else(|| c.trim().to_string())),
            ),
            languages: unique(self.languages.iter().map(|l| l.trim().to_string())),
            contact: self.contact.trim().to_string(),
            url: self.url.as_ref().map(|u| u.trim().to_string()),
            valid_until: self.valid_until,
        }
    }

    /// Its wire form.
    pub fn to_proto(&self) -> pb::DirectoryEntry {
        pb::DirectoryEntry {
            entry_type: self.entry_type.term().into(),
            topics: self.topics.iter().map(|t| t.term().into()).collect(),
            countries: self.countries.clone(),
            languages: self.languages.clone(),
            contact: self.contact.clone(),
            url: self.url.clone().unwrap_or_default(),
            valid_until_ms: self.valid_until.unwrap_or(0),
        }
    }

    /// Reads an entry from signed bytes, checking every value: its type and topics (at least
    /// one, each once) from their vocabularies, countries as upper-case ISO 3166-1 codes,
    /// languages as BCP 47 tags, a contact of 1-512 characters, an http(s) URL, and an end of
    /// validity after `created_ms`. On error, the field and what is wrong with it.
    pub fn from_proto(
        entry: &pb::DirectoryEntry,
        created_ms: i64,
    ) -> Result<DirectoryEntry, (String, String)> {
        let entry_type = EntryType::from_term(&entry.entry_type)
            .map_err(|e| ("type".to_string(), e.to_string()))?;
        for (field, n) in [
            ("topics", entry.topics.len()),
            ("countries", entry.countries.len()),
            ("languages", entry.languages.len()),
        ] {
            if n > MAX_ITEMS {
                return Err((field.into(), format!("{n} given; at most {MAX_ITEMS}")));
            }
        }
        if entry.topics.is_empty() {
            return Err((
                "topics".into(),
                "an entry names at least one topic (see docs/VOCABULARIES.md)".into(),
            ));
        }
        let mut topics = Vec::with_capacity(entry.topics.len());
        for (i, term) in entry.topics.iter().enumerate() {
            let topic =
                Topic::from_term(term).map_err(|e| (format!("topics[{i}]"), e.to_string()))?;
            if topics.contains(&topic) {
                return Err((format!("topics[{i}]"), format!("{term:?} is listed twice")));
            }
            topics.push(topic);
        }
        let countries = crate::coding::checked_countries(&entry.countries)?;
        let mut languages: Vec<String> = Vec::with_capacity(entry.languages.len());
        for (i, tag) in entry.languages.iter().enumerate() {
            let field = format!("languages[{i}]");
            match crate::report::validate_language(tag) {
                Ok(Some(_)) => {}
                Ok(None) => return Err((field, "is empty".into())),
                Err(e) => return Err((field, e.reason)),
            }
            if languages.iter().any(|l| l.eq_ignore_ascii_case(tag)) {
                return Err((field, format!("{tag:?} is listed twice")));
            }
            languages.push(tag.clone());
        }
        let contact_chars = entry.contact.chars().count();
        if contact_chars == 0 {
            return Err((
                "contact".into(),
                "is required: how partners reach whoever runs it".into(),
            ));
        }
        if contact_chars > MAX_CONTACT_CHARS
            || entry.contact.chars().any(char::is_control)
            || entry.contact.trim() != entry.contact
        {
            return Err((
                "contact".into(),
                format!(
                    "1-{MAX_CONTACT_CHARS} characters without control characters or spaces at its ends"
                ),
            ));
        }
        let url = if entry.url.is_empty() {
            None
        } else {
            let parsed = url::Url::parse(&entry.url).map_err(|e| {
                (
                    "url".to_string(),
                    format!("{:?} is not a URL: {e}", entry.url),
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https")
                || entry.url.chars().count() > MAX_URL_CHARS
            {
                return Err((
                    "url".into(),
                    format!(
                        "{:?} is not an http(s) URL of at most {MAX_URL_CHARS} characters",
                        entry.url
                    ),
                ));
            }
            Some(entry.url.clone())
        };
        let valid_until = match entry.valid_until_ms {
            0 => None,
            until if until <= created_ms => {
                return Err((
                    "valid_until".into(),
                    "ends before the entry was written".into(),
                ));
            }
            until => Some(until),
        };
        Ok(DirectoryEntry {
            entry_type,
            topics,
            countries,
            languages,
            contact: entry.contact.clone(),
            url,
            valid_until,
        })
    }
}

/// The end of an entry's validity as text: RFC 3339 written, RFC 3339 or a date read (a date
/// means to the end of that day, UTC).
/// Reads the end of an entry's validity as people write it: a date (2027-06-30, its last
/// millisecond) or an RFC 3339 time; an age (30d) is refused, as it would be read against the
/// wrong moment.
pub fn parse_valid_until(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if crate::when::duration_ms(text).is_some() {
        return Err(format!(
            "{text:?}: give a date (2027-06-30) or an RFC 3339 time, not an age"
        ));
    }
    crate::when::parse(text, 0, true).map_err(|e| e.to_string())
}

mod valid_until_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(until: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match until {
            Some(ms) => s.serialize_str(&crate::when::rfc3339(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        super::parse_valid_until(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("valid_until: {e}")))
    }
}

/// What [`matches`] and [`DirectorySearch`] read of an entry held: its report's id, author,
/// title, description and regions, and the entry.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    /// The carrying report.
    pub id: ReportId,
    /// Who published it.
    pub author: OrgPublicKey,
    /// Its title.
    pub title: &'a str,
    /// Its description.
    pub summary: &'a str,
    /// The regions it concerns (the report's).
    pub regions: &'a [String],
    /// The community it is addressed to, if any.
    pub community: Option<&'a str>,
    /// The entry.
    pub entry: &'a DirectoryEntry,
}

/// Which entries a search selects. Every field given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectorySearch {
    /// Words that must all appear in the title, description or contact (any case).
    pub text: Option<String>,
    /// Of this type.
    #[serde(rename = "type")]
    pub entry_type: Option<EntryType>,
    /// About this topic.
    pub topic: Option<Topic>,
    /// About a topic of this GFCE theme.
    pub theme: Option<Theme>,
    /// Concerning this region (the report's regions).
    pub region: Option<String>,
    /// Concerning this country.
    pub country: Option<String>,
    /// Working in this language (its primary subtag: `fr` finds `fr-SN`).
    pub language: Option<String>,
    /// Addressed to this community (a regional cluster).
    pub community: Option<String>,
    /// Also entries past their end of validity.
    pub include_expired: bool,
}

/// A language tag's primary subtag, lower case: `fr` of `fr-SN`.
fn primary_language(tag: &str) -> String {
    tag.split('-').next().unwrap_or(tag).to_ascii_lowercase()
}

impl DirectorySearch {
    /// Whether the search selects `listing` at `now_ms`.
    pub fn selects(&self, listing: &Listing<'_>, now_ms: i64) -> bool {
        let entry = listing.entry;
        if !self.include_expired && !entry.is_valid_at(now_ms) {
            return false;
        }
        if let Some(text) = &self.text {
            let haystack =
                format!("{}\n{}\n{}", listing.title, listing.summary, entry.contact).to_lowercase();
            if !text
                .split_whitespace()
                .all(|word| haystack.contains(&word.to_lowercase()))
            {
                return false;
            }
        }
        self.entry_type.is_none_or(|t| entry.entry_type == t)
            && self.topic.is_none_or(|t| entry.topics.contains(&t))
            && self
                .theme
                .is_none_or(|theme| entry.topics.iter().any(|t| t.theme() == theme))
            && self.region.as_ref().is_none_or(|r| {
                let r = crate::report::normalise_label(r);
                listing.regions.contains(&r)
            })
            && self
                .country
                .as_ref()
                .is_none_or(|c| country_code(c).is_some_and(|code| entry.countries.contains(&code)))
            && self.language.as_ref().is_none_or(|l| {
                let wanted = primary_language(l);
                entry
                    .languages
                    .iter()
                    .any(|have| primary_language(have) == wanted)
            })
            && self
                .community
                .as_ref()
                .is_none_or(|c| listing.community == Some(c.as_str()))
    }
}

/// One candidate for a need: how well it fits and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Match {
    /// The offer or donor programme.
    pub candidate: ReportId,
    /// Higher is better.
    pub score: u32,
    /// Why it matches, one line each: topics, theme, place, language.
    pub reasons: Vec<String>,
}

/// Points for each topic a need and a candidate share.
pub const TOPIC_POINTS: u32 = 10;
/// Points for each GFCE theme they share without sharing one of its topics.
pub const THEME_POINTS: u32 = 3;
/// Points for each country they share.
pub const COUNTRY_POINTS: u32 = 5;
/// Points for each region they share.
pub const REGION_POINTS: u32 = 4;
/// Points for a candidate that names no region or country (offered anywhere).
pub const ANYWHERE_POINTS: u32 = 1;
/// Points for a language they share (by primary subtag); none when either names no language.
pub const LANGUAGE_POINTS: u32 = 3;

/// The offers and donor programmes among `candidates` that fit `need` (a capacity need),
/// best first: each shares at least one topic or GFCE theme with the need, is valid at
/// `now_ms` and published by another organisation. The score adds [`TOPIC_POINTS`] per
/// shared topic, [`THEME_POINTS`] per theme shared only through other topics,
/// [`COUNTRY_POINTS`] and [`REGION_POINTS`] per shared country and region (or
/// [`ANYWHERE_POINTS`] for a candidate tied to no place), and [`LANGUAGE_POINTS`] for a shared
/// language; when both name languages and share none, the candidate is kept, last among equals,
/// with the reason said. Ties go to the candidate valid longest, then by id.
pub fn matches(need: &Listing<'_>, candidates: &[Listing<'_>], now_ms: i64) -> Vec<Match> {
    if need.entry.entry_type != EntryType::CapacityNeed {
        return Vec::new();
    }
    let need_topics: BTreeSet<Topic> = need.entry.topics.iter().copied().collect();
    let need_themes: BTreeSet<Theme> = need_topics.iter().map(|t| t.theme()).collect();
    let mut found: Vec<(Match, bool, i64)> = Vec::new();
    for c in candidates {
        let entry = c.entry;
        if !matches!(
            entry.entry_type,
            EntryType::CapacityOffer | EntryType::DonorProgramme
        ) || c.author == need.author
            || !entry.is_valid_at(now_ms)
        {
            continue;
        }
        let topics: Vec<Topic> = entry
            .topics
            .iter()
            .copied()
            .filter(|t| need_topics.contains(t))
            .collect();
        let shared_topic_themes: BTreeSet<Theme> = topics.iter().map(|t| t.theme()).collect();
        let themes: BTreeSet<Theme> = entry
            .topics
            .iter()
            .map(|t| t.theme())
            .filter(|th| need_themes.contains(th) && !shared_topic_themes.contains(th))
            .collect();
        if topics.is_empty() && themes.is_empty() {
            continue;
        }
        let mut score = 0;
        let mut reasons = Vec::new();
        if !topics.is_empty() {
            score += TOPIC_POINTS * topics.len() as u32;
            reasons.push(format!("topic: {}", join(&topics)));
        }
        if !themes.is_empty() {
            score += THEME_POINTS * themes.len() as u32;
            let names: Vec<&str> = themes.iter().map(|t| t.title()).collect();
            reasons.push(format!("same GFCE theme: {}", names.join(", ")));
        }
        let countries: Vec<&String> = entry
            .countries
            .iter()
            .filter(|c| need.entry.countries.contains(c))
            .collect();
        let regions: Vec<&String> = c
            .regions
            .iter()
            .filter(|r| need.regions.contains(r))
            .collect();
        if !countries.is_empty() {
            score += COUNTRY_POINTS * countries.len() as u32;
            reasons.push(format!("country: {}", join(&countries)));
        }
        if !regions.is_empty() {
            score += REGION_POINTS * regions.len() as u32;
            reasons.push(format!("region: {}", join(&regions)));
        }
        if entry.countries.is_empty() && c.regions.is_empty() {
            score += ANYWHERE_POINTS;
            reasons.push("offered anywhere".into());
        }
        let mut no_common_language = false;
        if !entry.languages.is_empty() && !need.entry.languages.is_empty() {
            let theirs: BTreeSet<String> = entry
                .languages
                .iter()
                .map(|l| primary_language(l))
                .collect();
            let shared: Vec<String> = need
                .entry
                .languages
                .iter()
                .map(|l| primary_language(l))
                .filter(|l| theirs.contains(l))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if shared.is_empty() {
                no_common_language = true;
                reasons.push(format!(
                    "no common language (offered in {})",
                    entry.languages.join(", ")
                ));
            } else {
                score += LANGUAGE_POINTS;
                reasons.push(format!("language: {}", shared.join(", ")));
            }
        }
        found.push((
            Match {
                candidate: c.id,
                score,
                reasons,
            },
            no_common_language,
            entry.valid_until.unwrap_or(i64::MAX),
        ));
    }
    found.sort_by(|(a, a_lang, a_until), (b, b_lang, b_until)| {
        b.score
            .cmp(&a.score)
            .then(a_lang.cmp(b_lang))
            .then(b_until.cmp(a_until))
            .then(a.candidate.cmp(&b.candidate))
    });
    found.into_iter().map(|(m, _, _)| m).collect()
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, seq::SliceRandom};

    fn proto() -> pb::DirectoryEntry {
        pb::DirectoryEntry {
            entry_type: "capacity-need".into(),
            topics: vec!["incident-response".into(), "workforce".into()],
            countries: vec!["SN".into()],
            languages: vec!["fr".into(), "wo".into()],
            contact: "cert@example.sn".into(),
            url: "https://cert.example.sn/needs".into(),
            valid_until_ms: 2_000_000_000_000,
        }
    }

    #[test]
    fn an_entry_reads_back_as_written_and_bad_values_name_their_field() {
        let read = DirectoryEntry::from_proto(&proto(), 1_700_000_000_000).unwrap();
        assert_eq!(read.entry_type, EntryType::CapacityNeed);
        assert_eq!(read.to_proto(), proto());
        let json = serde_json::to_value(&read).unwrap();
        assert_eq!(json["type"], "capacity-need");
        assert_eq!(json["valid_until"], "2033-05-18T03:33:20Z");
        let back: DirectoryEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, read);
        type Change = fn(&mut pb::DirectoryEntry);
        let cases: Vec<(Change, &str, &str)> = vec![
            (
                |e| e.entry_type = "grant".into(),
                "type",
                "directory entry type",
            ),
            (|e| e.topics.clear(), "topics", "at least one topic"),
            (
                |e| e.topics.push("cooking".into()),
                "topics[2]",
                "directory topic",
            ),
            (
                |e| e.topics.push("workforce".into()),
                "topics[2]",
                "listed twice",
            ),
            (
                |e| e.countries.push("sn".into()),
                "countries[1]",
                "canonical",
            ),
            (
                |e| e.languages.push("french!".into()),
                "languages[2]",
                "BCP 47",
            ),
            (
                |e| e.languages.push("FR".into()),
                "languages[2]",
                "listed twice",
            ),
            (|e| e.contact.clear(), "contact", "required"),
            (|e| e.contact = "a\nb".into(), "contact", "control"),
            (|e| e.url = "ftp://x.example".into(), "url", "http(s)"),
            (|e| e.url = "not a url".into(), "url", "not a URL"),
            (
                |e| e.valid_until_ms = 1_600_000_000_000,
                "valid_until",
                "before the entry was written",
            ),
            (
                |e| e.topics = vec!["workforce".into(); MAX_ITEMS + 1],
                "topics",
                "at most",
            ),
        ];
        for (change, field, reason) in cases {
            let mut e = proto();
            change(&mut e);
            let (f, r) = DirectoryEntry::from_proto(&e, 1_700_000_000_000).unwrap_err();
            assert_eq!(f, field, "{r}");
            assert!(r.contains(reason), "{field}: {r}");
        }
        // A date means to the end of that day; an age is refused.
        let draft: DirectoryEntry = serde_json::from_str(
            r#"{"type": "capacity-offer", "topics": ["awareness"], "contact": "x", "valid_until": "2027-06-30"}"#,
        )
        .unwrap();
        assert_eq!(
            draft.valid_until,
            Some(crate::when::parse("2027-07-01", 0, false).unwrap() - 1)
        );
        assert!(draft.is_valid_at(draft.valid_until.unwrap()));
        assert!(!draft.is_valid_at(draft.valid_until.unwrap() + 1));
        let age = serde_json::from_str::<DirectoryEntry>(
            r#"{"type": "capacity-offer", "topics": ["awareness"], "contact": "x", "valid_until": "30d"}"#,
        )
        .unwrap_err();
        assert!(age.to_string().contains("not an age"), "{age}");
    }

    #[test]
    fn every_topic_has_a_theme_and_every_theme_a_topic() {
        for theme in Theme::ALL {
            assert!(Topic::ALL.iter().any(|t| t.theme() == *theme), "{theme}");
        }
    }

    /// Entries made at random, to match and search.
    struct Held {
        id: ReportId,
        author: OrgPublicKey,
        regions: Vec<String>,
        entry: DirectoryEntry,
    }

    fn random_held(rng: &mut rand::rngs::StdRng, authors: &[OrgPublicKey]) -> Held {
        let mut id = [0u8; 32];
        rng.fill(&mut id);
        let pick = |all: &[&str], rng: &mut rand::rngs::StdRng| -> Vec<String> {
            let n = rng.gen_range(0..=2);
            all.choose_multiple(rng, n).map(|s| s.to_string()).collect()
        };
        let n = rng.gen_range(1..=3);
        let topics: Vec<Topic> = Topic::ALL.choose_multiple(rng, n).copied().collect();
        Held {
            id: ReportId::from_bytes(id),
            author: *authors.choose(rng).unwrap(),
            regions: pick(
                &["western-africa", "northern-europe", "south-eastern-asia"],
                rng,
            ),
            entry: DirectoryEntry {
                entry_type: *EntryType::ALL.choose(rng).unwrap(),
                topics,
                countries: pick(&["SN", "GH", "EE", "LV", "VN"], rng),
                languages: pick(&["fr", "en", "fr-SN", "et", "vi"], rng),
                contact: "contact".into(),
                url: None,
                valid_until: [None, Some(1_000), Some(5_000)][rng.gen_range(0..3)],
            },
        }
    }

    fn listing(h: &Held) -> Listing<'_> {
        Listing {
            id: h.id,
            author: h.author,
            title: "title",
            summary: "summary",
            regions: &h.regions,
            community: None,
            entry: &h.entry,
        }
    }

    /// The score the documentation states, computed plainly from sets.
    fn oracle_score(need: &Held, c: &Held) -> Option<(u32, bool)> {
        use std::collections::HashSet;
        let nt: HashSet<Topic> = need.entry.topics.iter().copied().collect();
        let ct: HashSet<Topic> = c.entry.topics.iter().copied().collect();
        let shared: HashSet<Topic> = nt.intersection(&ct).copied().collect();
        let shared_themes: HashSet<Theme> = shared.iter().map(|t| t.theme()).collect();
        let nth: HashSet<Theme> = nt.iter().map(|t| t.theme()).collect();
        let cth: HashSet<Theme> = ct.iter().map(|t| t.theme()).collect();
        let themes = nth
            .intersection(&cth)
            .filter(|t| !shared_themes.contains(t))
            .count() as u32;
        if shared.is_empty() && themes == 0 {
            return None;
        }
        let countries = c
            .entry
            .countries
            .iter()
            .filter(|x| need.entry.countries.contains(x))
            .count() as u32;
        let regions = c
            .regions
            .iter()
            .filter(|x| need.regions.contains(x))
            .count() as u32;
        let anywhere = c.entry.countries.is_empty() && c.regions.is_empty();
        let primary = |l: &String| l.split('-').next().unwrap().to_string();
        let nl: HashSet<String> = need.entry.languages.iter().map(primary).collect();
        let cl: HashSet<String> = c.entry.languages.iter().map(primary).collect();
        let both = !nl.is_empty() && !cl.is_empty();
        let common = nl.intersection(&cl).count() > 0;
        let score = 10 * shared.len() as u32
            + 3 * themes
            + 5 * countries
            + 4 * regions
            + u32::from(anywhere)
            + if both && common { 3 } else { 0 };
        Some((score, both && !common))
    }

    #[test]
    fn matches_agree_with_a_plain_computation_and_are_ranked() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(24);
        let authors: Vec<OrgPublicKey> = (0..4)
            .map(|_| crate::OrgKey::generate(&mut rng).public())
            .collect();
        for _ in 0..300 {
            let held: Vec<Held> = (0..20).map(|_| random_held(&mut rng, &authors)).collect();
            let listings: Vec<Listing<'_>> = held.iter().map(listing).collect();
            let now = 2_000;
            for need in &held {
                let found = matches(&listing(need), &listings, now);
                if need.entry.entry_type != EntryType::CapacityNeed {
                    assert!(found.is_empty());
                    continue;
                }
                let expected: Vec<(ReportId, u32)> = held
                    .iter()
                    .filter(|c| {
                        matches!(
                            c.entry.entry_type,
                            EntryType::CapacityOffer | EntryType::DonorProgramme
                        ) && c.author != need.author
                            && c.entry.valid_until.is_none_or(|u| now <= u)
                    })
                    .filter_map(|c| oracle_score(need, c).map(|(s, _)| (c.id, s)))
                    .collect();
                assert_eq!(found.len(), expected.len());
                for m in &found {
                    let c = held.iter().find(|c| c.id == m.candidate).unwrap();
                    let (score, no_language) = oracle_score(need, c).unwrap();
                    assert_eq!(m.score, score, "{:?}", m.reasons);
                    assert_eq!(
                        no_language,
                        m.reasons
                            .iter()
                            .any(|r| r.starts_with("no common language"))
                    );
                    assert!(
                        m.reasons
                            .iter()
                            .any(|r| r.starts_with("topic:") || r.starts_with("same GFCE theme"))
                    );
                }
                assert!(found.windows(2).all(|w| w[0].score >= w[1].score));
            }
        }
    }

    #[test]
    fn search_selects_by_every_field_given() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(25);
        let author = crate::OrgKey::generate(&mut rng).public();
        let held = Held {
            id: ReportId::from_bytes([7; 32]),
            author,
            regions: vec!["western-africa".into()],
            entry: DirectoryEntry::from_proto(&proto(), 0).unwrap(),
        };
        let mut l = listing(&held);
        l.title = "CSIRT training for Sahel NGOs";
        l.community = Some("west-africa-cluster");
        let now = 1_800_000_000_000;
        let yes = |s: DirectorySearch| assert!(s.selects(&l, now), "{s:?}");
        let no = |s: DirectorySearch| assert!(!s.selects(&l, now), "{s:?}");
        yes(DirectorySearch::default());
        yes(DirectorySearch {
            text: Some("sahel csirt".into()),
            ..Default::default()
        });
        no(DirectorySearch {
            text: Some("sahel banks".into()),
            ..Default::default()
        });
        yes(DirectorySearch {
            entry_type: Some(EntryType::CapacityNeed),
            ..Default::default()
        });
        no(DirectorySearch {
            entry_type: Some(EntryType::CapacityOffer),
            ..Default::default()
        });
        yes(DirectorySearch {
            topic: Some(Topic::Workforce),
            ..Default::default()
        });
        yes(DirectorySearch {
            theme: Some(Theme::IncidentManagement),
            ..Default::default()
        });
        no(DirectorySearch {
            theme: Some(Theme::Cybercrime),
            ..Default::default()
        });
        yes(DirectorySearch {
            region: Some("Western-Africa".into()),
            ..Default::default()
        });
        yes(DirectorySearch {
            country: Some("sn".into()),
            ..Default::default()
        });
        no(DirectorySearch {
            country: Some("GH".into()),
            ..Default::default()
        });
        yes(DirectorySearch {
            language: Some("fr-FR".into()),
            ..Default::default()
        });
        no(DirectorySearch {
            language: Some("en".into()),
            ..Default::default()
        });
        yes(DirectorySearch {
            community: Some("west-africa-cluster".into()),
            ..Default::default()
        });
        no(DirectorySearch {
            community: Some("baltic".into()),
            ..Default::default()
        });
        // Past its end: only when asked.
        let later = 2_100_000_000_000;
        assert!(!DirectorySearch::default().selects(&l, later));
        assert!(
            DirectorySearch {
                include_expired: true,
                ..Default::default()
            }
            .selects(&l, later)
        );
    }
}
