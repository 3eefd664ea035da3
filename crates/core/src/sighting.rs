//! Sightings and feedback: what an organisation holding a report says back about it or about
//! one of its indicators (seen, false positive, expired, confirmed), carried by a report of kind
//! `sighting`, checked in one place ([`Sighting::from_proto`]), and the rule that a sighting is
//! never marked wider than the report it concerns ([`check_marking`]).

use cairn_proto::v1 as pb;

use crate::identity::OrgPublicKey;
use crate::indicator::Indicator;
use crate::model::{IndicatorType, Scope, SightingKind, Tlp};
use crate::report::{Report, ReportId};

/// Most lines of observed data one sighting carries.
pub const MAX_OBSERVED: usize = 32;
/// Longest line of observed data, in bytes.
pub const MAX_OBSERVED_LEN: usize = 2048;
/// Longest `where` and `source`, in characters.
pub const MAX_PLACE_CHARS: usize = 256;
/// How far after its signing a sighting may say it was last seen (clocks differ).
pub const MAX_SEEN_AHEAD_MS: i64 = 24 * 3600 * 1000;

/// The report a sighting concerns: its id and its author, to whom the sighting may always go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Concerns {
    /// The report's id.
    pub report: ReportId,
    /// Its author organisation.
    pub author: OrgPublicKey,
}

/// A sighting of, or feedback about, a report or one of its indicators.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sighting {
    /// The report concerned.
    pub concerns: Concerns,
    /// What the sighting says.
    pub kind: SightingKind,
    /// The indicator concerned (type and canonical value); `None`: the whole report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indicator: Option<Indicator>,
    /// How many times it was seen (0: not counted).
    pub count: u32,
    /// When it was first seen (ms since the Unix epoch), if said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen_ms: Option<i64>,
    /// When it was last seen (ms since the Unix epoch), if said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen_ms: Option<i64>,
    /// Where it was seen, in words.
    #[serde(rename = "where", skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// What was observed, as the sighting organisation shows it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<String>,
    /// Who first reported it, when it came from another tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A field of a sighting that breaks the rules: the field (`count`, `observed[2]`) and why.
pub type FieldError = (String, String);

fn field_error(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
    (field.into(), reason.into())
}

impl Sighting {
    /// Checks a sighting as written in a report created at `created_ms`.
    pub fn from_proto(sighting: &pb::Sighting, created_ms: i64) -> Result<Sighting, FieldError> {
        let concerns = concerns_of(&sighting.report, &sighting.report_author)?;
        let kind = SightingKind::from_proto(sighting.kind).ok_or_else(|| {
            field_error(
                "kind",
                format!(
                    "{} is not a sighting kind (1 seen, 2 false positive, 3 expired, 4 confirmed)",
                    sighting.kind
                ),
            )
        })?;
        let indicator = match &sighting.indicator {
            None => None,
            Some(ind) => {
                let indicator_type = IndicatorType::from_proto(ind.r#type).ok_or_else(|| {
                    field_error(
                        "indicator.type",
                        format!("{} is not an indicator type", ind.r#type),
                    )
                })?;
                let checked = Indicator::new(indicator_type, &ind.value, "")
                    .map_err(|e| field_error("indicator.value", e.to_string()))?;
                if checked.value != ind.value {
                    return Err(field_error(
                        "indicator.value",
                        format!(
                            "{:?} is not in canonical form (expected {:?})",
                            ind.value, checked.value
                        ),
                    ));
                }
                if !ind.description.is_empty()
                    || ind.file != 0
                    || ind.valid_from_ms != 0
                    || ind.valid_until_ms != 0
                {
                    return Err(field_error(
                        "indicator",
                        "names an indicator by its type and value only",
                    ));
                }
                Some(checked)
            }
        };
        if kind == SightingKind::Seen && sighting.count == 0 {
            return Err(field_error(
                "count",
                "a sighting of kind seen counts at least one sighting",
            ));
        }
        let seen = |field: &str, ms: i64| -> Result<Option<i64>, FieldError> {
            match ms {
                0 => Ok(None),
                ms if ms < 0 => Err(field_error(field, "a time before 1970")),
                ms if ms > created_ms.saturating_add(MAX_SEEN_AHEAD_MS) => Err(field_error(
                    field,
                    "later than the sighting itself was written",
                )),
                ms => Ok(Some(ms)),
            }
        };
        let first_seen_ms = seen("first_seen_ms", sighting.first_seen_ms)?;
        let last_seen_ms = seen("last_seen_ms", sighting.last_seen_ms)?;
        if let (Some(first), Some(last)) = (first_seen_ms, last_seen_ms)
            && first > last
        {
            return Err(field_error(
                "first_seen_ms",
                "first seen is later than last seen",
            ));
        }
        let place = short_text("where", &sighting.r#where)?;
        let source = short_text("source", &sighting.source)?;
        if sighting.observed.len() > MAX_OBSERVED {
            return Err(field_error(
                "observed",
                format!(
                    "{} lines given; at most {MAX_OBSERVED}",
                    sighting.observed.len()
                ),
            ));
        }
        for (i, line) in sighting.observed.iter().enumerate() {
            if line.len() > MAX_OBSERVED_LEN {
                return Err(field_error(
                    format!("observed[{i}]"),
                    format!("longer than {MAX_OBSERVED_LEN} bytes"),
                ));
            }
            if line.trim().is_empty() {
                return Err(field_error(format!("observed[{i}]"), "an empty line"));
            }
        }
        Ok(Sighting {
            concerns,
            kind,
            indicator,
            count: sighting.count,
            first_seen_ms,
            last_seen_ms,
            place,
            observed: sighting.observed.clone(),
            source,
        })
    }

    /// The sighting in words, label by label, as the command line and the console show it
    /// (the report concerned first).
    pub fn in_words(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut out = vec![
            (
                "Concerns",
                vec![format!(
                    "report {} by {}",
                    self.concerns.report, self.concerns.author
                )],
            ),
            ("Says", vec![self.kind.to_string()]),
            (
                "Of",
                vec![self.indicator.as_ref().map_or_else(
                    || "the whole report".to_string(),
                    |i| format!("{}:{}", i.kind, i.value),
                )],
            ),
        ];
        if self.count > 0 {
            out.push(("Times seen", vec![self.count.to_string()]));
        }
        if let Some(ms) = self.first_seen_ms {
            out.push(("First seen", vec![crate::when::rfc3339(ms)]));
        }
        if let Some(ms) = self.last_seen_ms {
            out.push(("Last seen", vec![crate::when::rfc3339(ms)]));
        }
        if let Some(place) = &self.place {
            out.push(("Where", vec![place.clone()]));
        }
        if let Some(source) = &self.source {
            out.push(("Source", vec![source.clone()]));
        }
        if !self.observed.is_empty() {
            out.push(("Observed", self.observed.clone()));
        }
        out
    }

    /// The wire form.
    pub fn to_proto(&self) -> pb::Sighting {
        pb::Sighting {
            report: self.concerns.report.as_bytes().to_vec(),
            report_author: self.concerns.author.as_bytes().to_vec(),
            kind: self.kind.to_proto(),
            indicator: self.indicator.as_ref().map(|i| pb::Indicator {
                r#type: i.kind.to_proto(),
                value: i.value.clone(),
                description: String::new(),
                file: 0,
                valid_from_ms: 0,
                valid_until_ms: 0,
            }),
            count: self.count,
            first_seen_ms: self.first_seen_ms.unwrap_or(0),
            last_seen_ms: self.last_seen_ms.unwrap_or(0),
            r#where: self.place.clone().unwrap_or_default(),
            observed: self.observed.clone(),
            source: self.source.clone().unwrap_or_default(),
        }
    }
}

/// The report a sighting (or its marking) names, checked.
pub(crate) fn concerns_of(report: &[u8], author: &[u8]) -> Result<Concerns, FieldError> {
    let report = ReportId::from_slice(report).ok_or_else(|| {
        field_error(
            "report",
            format!("a report id is 32 bytes, found {}", report.len()),
        )
    })?;
    let author = OrgPublicKey::from_checked(author)
        .map_err(|e| field_error("report_author", e.to_string()))?;
    Ok(Concerns { report, author })
}

fn short_text(field: &str, text: &str) -> Result<Option<String>, FieldError> {
    let trimmed = text.trim();
    if trimmed.chars().count() > MAX_PLACE_CHARS {
        return Err(field_error(
            field,
            format!("longer than {MAX_PLACE_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(field_error(field, "holds control characters"));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

/// Why a sighting may not be written about a report as drafted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SightingError {
    /// The sighting's marking lets it go further than the report.
    #[error("the sighting would go further than the report it concerns: {0}")]
    Wider(String),
    /// The indicator named is not one of the report's.
    #[error("report {report} has no indicator {indicator}")]
    NotAnIndicator {
        /// The report.
        report: String,
        /// The indicator, as `type:value`.
        indicator: String,
    },
    /// A sighting about a sighting, a retraction or figures.
    #[error("a {0} report is not sighted: sightings concern reports that carry intelligence")]
    NotSightable(crate::model::ReportKind),
}

fn scope_rank(scope: Scope) -> u8 {
    match scope {
        Scope::Organisation => 0,
        Scope::DirectPeers => 1,
        Scope::Community => 2,
        Scope::Unrestricted => 3,
    }
}

/// Whether reports of this kind may be sighted: those that carry intelligence, not sightings,
/// retractions, observance figures or directory entries.
pub fn sightable(kind: crate::model::ReportKind) -> bool {
    use crate::model::ReportKind;
    !matches!(
        kind,
        ReportKind::Sighting
            | ReportKind::Retraction
            | ReportKind::Observance
            | ReportKind::DirectoryEntry
    )
}

/// Whether `sighting` (the marking of a sighting report about `concerned`, by `author`) stays
/// within where `concerned` may go: a TLP at least as strict, a scope no wider (the same
/// community, no more relays), and for TLP:RED only the report's author and recipients.
/// Checked when a sighting is written; every node also applies the sharing rule for
/// sightings (a sighting goes only to the report's author and to partners that may receive
/// the report) whenever it serves one.
pub fn check_marking(
    sighting: &Report,
    concerned: &Report,
    author: &OrgPublicKey,
) -> Result<(), SightingError> {
    if !sightable(concerned.kind) {
        return Err(SightingError::NotSightable(concerned.kind));
    }
    if sighting.tlp < concerned.tlp {
        return Err(SightingError::Wider(format!(
            "the report is {}, the sighting must be at least as strict, not {}",
            concerned.tlp.official(),
            sighting.tlp.official()
        )));
    }
    if concerned.tlp == Tlp::Red
        && let Some(other) = sighting
            .recipients
            .iter()
            .find(|r| *r != author && !concerned.recipients.contains(r))
    {
        return Err(SightingError::Wider(format!(
            "recipient {} is neither the report's author nor one of its recipients",
            other.short()
        )));
    }
    let (s, c) = (&sighting.distribution, &concerned.distribution);
    if scope_rank(s.scope) > scope_rank(c.scope) {
        return Err(SightingError::Wider(format!(
            "the report's scope is {}, the sighting's may not be wider than that, not {}",
            c.scope, s.scope
        )));
    }
    if let Some(community) = &c.community
        && s.community.as_ref() != Some(community)
    {
        return Err(SightingError::Wider(format!(
            "the report is for community {community}: the sighting must be too"
        )));
    }
    if s.scope == Scope::Community && c.scope == Scope::Community && s.hop_limit > c.hop_limit {
        return Err(SightingError::Wider(format!(
            "the report allows {} relay(s); the sighting may allow no more, not {}",
            c.hop_limit, s.hop_limit
        )));
    }
    if let Some(sighting) = &sighting.sighting
        && let Some(indicator) = &sighting.indicator
        && !concerned
            .indicators
            .iter()
            .any(|i| i.kind == indicator.kind && i.value == indicator.value)
    {
        return Err(SightingError::NotAnIndicator {
            report: sighting.concerns.report.short(),
            indicator: format!("{}:{}", indicator.kind, indicator.value),
        });
    }
    Ok(())
}

/// What a person says about a report this node holds: the API's `POST
/// /api/v1/reports/{id}/sightings` body and what `cairn sighting add` reads. Everything but
/// `kind` is optional; [`draft_about`] fills in the rest from the report.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SightingRequest {
    /// What is said: `seen`, `false-positive`, `expired` or `confirmed`.
    pub kind: SightingKind,
    /// The indicator concerned, as `TYPE:VALUE` or the value alone; none: the whole report.
    pub indicator: Option<String>,
    /// How many times (1 for `seen` when not given).
    pub count: Option<u32>,
    /// When first seen: RFC 3339, a date or an age (`2h`).
    pub first_seen: Option<String>,
    /// When last seen, as `first_seen`.
    pub last_seen: Option<String>,
    /// Where it was seen, in words.
    #[serde(rename = "where")]
    pub place: Option<String>,
    /// What was observed (log lines, the full URL requested).
    #[serde(default)]
    pub observed: Vec<String>,
    /// Who first reported it, when it comes from another tool.
    pub source: Option<String>,
    /// Free text for the report's author.
    pub comment: Option<String>,
    /// The sighting's TLP: the report's when not given (never less strict).
    pub tlp: Option<Tlp>,
    /// Its scope: the narrower of the report's and the TLP's default when not given.
    pub scope: Option<Scope>,
    /// For TLP:RED: who may read it besides the report's author (among the report's
    /// recipients).
    #[serde(default)]
    pub recipients: Vec<OrgPublicKey>,
}

impl SightingRequest {
    /// A request saying only `kind`, of the whole report, marked like it.
    pub fn of(kind: SightingKind) -> SightingRequest {
        SightingRequest {
            kind,
            indicator: None,
            count: None,
            first_seen: None,
            last_seen: None,
            place: None,
            observed: Vec::new(),
            source: None,
            comment: None,
            tlp: None,
            scope: None,
            recipients: Vec::new(),
        }
    }
}

/// Why a sighting could not be drafted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftSightingError {
    /// A field of the request is wrong.
    #[error("{field}: {reason}")]
    Field {
        /// The request's field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The sighting breaks a rule about its report.
    #[error(transparent)]
    Sighting(#[from] SightingError),
    /// The draft is not a valid report.
    #[error(transparent)]
    Invalid(#[from] crate::report::InvalidReport),
}

/// The indicator of `concerned` that `text` names: `TYPE:VALUE`, or a value alone that
/// exactly one of its indicators has.
pub fn indicator_named(concerned: &Report, text: &str) -> Result<Indicator, DraftSightingError> {
    let text = text.trim();
    let field = |reason: String| DraftSightingError::Field {
        field: "indicator",
        reason,
    };
    let wanted: Vec<&Indicator> = match Indicator::parse_typed(text) {
        Ok(typed) => concerned
            .indicators
            .iter()
            .filter(|i| i.kind == typed.kind && i.value == typed.value)
            .collect(),
        Err(_) => concerned
            .indicators
            .iter()
            .filter(|i| {
                i.value == text
                    || crate::indicator::canonical(i.kind, text).is_ok_and(|c| c == i.value)
            })
            .collect(),
    };
    match wanted.as_slice() {
        [one] => Ok(one.bare()),
        [] => Err(field(format!(
            "the report has no indicator {text:?} (it has {})",
            if concerned.indicators.is_empty() {
                "none".to_string()
            } else {
                concerned
                    .indicators
                    .iter()
                    .take(5)
                    .map(|i| format!("{}:{}", i.kind, i.value))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if concerned.indicators.len() > 5 {
                        ", ..."
                    } else {
                        ""
                    }
            }
        ))),
        _ => Err(field(format!(
            "{text:?} is the value of several indicators of the report: write it as TYPE:VALUE"
        ))),
    }
}

fn narrower(a: Scope, b: Scope) -> Scope {
    if scope_rank(a) <= scope_rank(b) { a } else { b }
}

/// The report draft saying `request` about `concerned` (id `id`, by `author`), at `now_ms`:
/// marked like the report unless the request narrows it, carrying the report's tags, sectors
/// and regions (so that partners' filters treat it as they treat the report), and checked
/// against the report ([`check_marking`]).
pub fn draft_about(
    concerned: &Report,
    id: ReportId,
    author: OrgPublicKey,
    request: &SightingRequest,
    now_ms: i64,
) -> Result<crate::ReportDraft, DraftSightingError> {
    let indicator = request
        .indicator
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(|t| indicator_named(concerned, t))
        .transpose()?;
    let time = |field: &'static str, text: &Option<String>| -> Result<i64, DraftSightingError> {
        match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(0),
            Some(t) => {
                crate::when::parse(t, now_ms, false).map_err(|e| DraftSightingError::Field {
                    field,
                    reason: e.to_string(),
                })
            }
        }
    };
    let count = request
        .count
        .unwrap_or(u32::from(request.kind == SightingKind::Seen));
    let sighting = pb::Sighting {
        report: id.as_bytes().to_vec(),
        report_author: author.as_bytes().to_vec(),
        kind: request.kind.to_proto(),
        indicator: indicator.as_ref().map(|i| pb::Indicator {
            r#type: i.kind.to_proto(),
            value: i.value.clone(),
            description: String::new(),
            file: 0,
            valid_from_ms: 0,
            valid_until_ms: 0,
        }),
        count,
        first_seen_ms: time("first_seen", &request.first_seen)?,
        last_seen_ms: time("last_seen", &request.last_seen)?,
        r#where: request.place.clone().unwrap_or_default(),
        observed: request.observed.clone(),
        source: request.source.clone().unwrap_or_default(),
    };
    let sighting = Sighting::from_proto(&sighting, now_ms).map_err(|(field, reason)| {
        DraftSightingError::Invalid(crate::report::InvalidReport {
            field: format!("sighting.{field}"),
            reason,
        })
    })?;
    let tlp = request.tlp.unwrap_or(concerned.tlp);
    let scope = request
        .scope
        .unwrap_or_else(|| narrower(tlp.default_scope(), concerned.distribution.scope));
    let recipients = if tlp == Tlp::Red {
        let mut named = vec![author];
        named.extend(request.recipients.iter().filter(|r| **r != author).copied());
        named
    } else {
        request.recipients.clone()
    };
    let about: String = match &indicator {
        Some(i) => format!("{}:{}", i.kind, i.value),
        None => format!("\u{201c}{}\u{201d}", concerned.title),
    };
    let title: String = format!("{} {about}", title_word(request.kind))
        .chars()
        .take(crate::limits::MAX_TITLE_CHARS)
        .collect();
    let draft = crate::ReportDraft {
        kind: Some(crate::model::ReportKind::Sighting),
        title,
        summary: request.comment.clone().unwrap_or_default(),
        created: crate::when::offset_date_time(now_ms),
        tlp: Some(tlp),
        scope: Some(scope),
        hop_limit: (scope == Scope::Community).then_some(
            if concerned.distribution.scope == Scope::Community {
                concerned.distribution.hop_limit
            } else {
                crate::draft::DEFAULT_COMMUNITY_HOPS
            },
        ),
        community: concerned.distribution.community.clone(),
        recipients,
        tags: concerned.tags.clone(),
        sectors: concerned.sectors.clone(),
        regions: concerned.regions.clone(),
        sighting: Some(sighting),
        ..Default::default()
    };
    let preview = draft.preview()?;
    check_marking(&preview, concerned, &author)?;
    Ok(draft)
}

fn title_word(kind: SightingKind) -> &'static str {
    match kind {
        SightingKind::Seen => "Seen:",
        SightingKind::FalsePositive => "False positive:",
        SightingKind::Expired => "Expired:",
        SightingKind::Confirmed => "Confirmed:",
    }
}

/// What the sightings of one report say of one of its indicators (or of the whole report):
/// what its author reads per indicator.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// The indicator, as `TYPE:VALUE`; none: the report as a whole.
    pub indicator: Option<String>,
    /// Times seen, summed over the sightings of kind `seen`.
    pub seen: u64,
    /// Sightings of kind `seen`.
    pub seen_reports: u32,
    /// Sightings saying false positive.
    pub false_positive: u32,
    /// Sightings saying expired.
    pub expired: u32,
    /// Sightings confirming it.
    pub confirmed: u32,
    /// Organisations that said anything of it.
    pub organisations: u32,
    /// The latest time it was seen (ms since the Unix epoch): a sighting's last seen, else
    /// its first seen, else when it was written.
    pub last_seen_ms: Option<i64>,
}

/// The tallies of `sightings` (each with its author and creation time), one per indicator
/// named and one for the report as a whole when a sighting names none, in the order first
/// named.
pub fn tally<'a>(
    sightings: impl IntoIterator<Item = (OrgPublicKey, &'a Sighting, i64)>,
) -> Vec<Tally> {
    let mut out: Vec<(Tally, Vec<OrgPublicKey>)> = Vec::new();
    for (author, sighting, created_ms) in sightings {
        let key = sighting
            .indicator
            .as_ref()
            .map(|i| format!("{}:{}", i.kind, i.value));
        let at = match out.iter().position(|(t, _)| t.indicator == key) {
            Some(at) => at,
            None => {
                out.push((
                    Tally {
                        indicator: key,
                        ..Tally::default()
                    },
                    Vec::new(),
                ));
                out.len() - 1
            }
        };
        let (t, orgs) = &mut out[at];
        match sighting.kind {
            SightingKind::Seen => {
                t.seen += u64::from(sighting.count);
                t.seen_reports += 1;
                let when = sighting
                    .last_seen_ms
                    .or(sighting.first_seen_ms)
                    .unwrap_or(created_ms);
                t.last_seen_ms = Some(t.last_seen_ms.map_or(when, |l| l.max(when)));
            }
            SightingKind::FalsePositive => t.false_positive += 1,
            SightingKind::Expired => t.expired += 1,
            SightingKind::Confirmed => t.confirmed += 1,
        }
        if !orgs.contains(&author) {
            orgs.push(author);
            t.organisations += 1;
        }
    }
    out.into_iter().map(|(t, _)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ReportKind;

    /// The organisation key numbered `n` (the same key for the same number within a run).
    fn key(n: u8) -> OrgPublicKey {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(n));
        crate::OrgKey::generate(&mut rng).public()
    }

    fn proto(kind: SightingKind) -> pb::Sighting {
        pb::Sighting {
            report: vec![7; 32],
            report_author: key(1).as_bytes().to_vec(),
            kind: kind.to_proto(),
            indicator: Some(pb::Indicator {
                r#type: IndicatorType::Ipv4.to_proto(),
                value: "203.0.113.7".into(),
                description: String::new(),
                file: 0,
                valid_from_ms: 0,
                valid_until_ms: 0,
            }),
            count: 3,
            first_seen_ms: 1_000,
            last_seen_ms: 2_000,
            r#where: " mail gateway ".into(),
            observed: vec!["GET /x from 203.0.113.7".into()],
            source: String::new(),
        }
    }

    #[test]
    fn a_sighting_reads_back_as_written() {
        let read = Sighting::from_proto(&proto(SightingKind::Seen), 10_000).unwrap();
        assert_eq!(read.place.as_deref(), Some("mail gateway"));
        assert_eq!(read.source, None);
        assert_eq!(read.first_seen_ms, Some(1_000));
        let again = Sighting::from_proto(&read.to_proto(), 10_000).unwrap();
        assert_eq!(again, read);
    }

    #[test]
    fn each_broken_field_is_named() {
        type Breaks = Box<dyn Fn(&mut pb::Sighting)>;
        let cases: Vec<(&str, Breaks)> = vec![
            ("report", Box::new(|s| s.report = vec![1; 31])),
            ("report_author", Box::new(|s| s.report_author = vec![1; 3])),
            ("kind", Box::new(|s| s.kind = 99)),
            ("count", Box::new(|s| s.count = 0)),
            (
                "indicator.value",
                Box::new(|s| s.indicator.as_mut().unwrap().value = "203.0.113.700".into()),
            ),
            (
                "indicator.value",
                Box::new(|s| {
                    s.indicator.as_mut().unwrap().value = "EXAMPLE.org".into();
                    s.indicator.as_mut().unwrap().r#type = IndicatorType::Domain.to_proto();
                }),
            ),
            (
                "indicator",
                Box::new(|s| s.indicator.as_mut().unwrap().file = 2),
            ),
            ("first_seen_ms", Box::new(|s| s.first_seen_ms = 3_000)),
            ("first_seen_ms", Box::new(|s| s.first_seen_ms = -5)),
            (
                "last_seen_ms",
                Box::new(|s| s.last_seen_ms = 10_000 + MAX_SEEN_AHEAD_MS + 1),
            ),
            (
                "where",
                Box::new(|s| s.r#where = "x".repeat(MAX_PLACE_CHARS + 1)),
            ),
            ("source", Box::new(|s| s.source = "a\u{7}b".into())),
            (
                "observed",
                Box::new(|s| s.observed = vec!["l".into(); MAX_OBSERVED + 1]),
            ),
            ("observed[0]", Box::new(|s| s.observed = vec![" ".into()])),
            (
                "observed[0]",
                Box::new(|s| s.observed = vec!["x".repeat(MAX_OBSERVED_LEN + 1)]),
            ),
        ];
        for (field, breaks) in cases {
            let mut s = proto(SightingKind::Seen);
            breaks(&mut s);
            let (got, reason) = Sighting::from_proto(&s, 10_000).unwrap_err();
            assert_eq!(got, field, "{reason}");
        }
        let mut fp = proto(SightingKind::FalsePositive);
        fp.count = 0;
        assert!(
            Sighting::from_proto(&fp, 10_000).is_ok(),
            "feedback needs no count"
        );
    }

    fn report(tlp: Tlp, scope: Scope) -> Report {
        let recipients = if tlp == Tlp::Red {
            vec![key(3).as_bytes().to_vec()]
        } else {
            vec![]
        };
        crate::report::marking(pb::ReportMarking {
            kind: ReportKind::Indicator.to_proto(),
            created_ms: 1_700_000_000_000,
            tlp: tlp.to_proto(),
            distribution: Some(pb::Distribution {
                scope: scope.to_proto(),
                hop_limit: if scope == Scope::Community { 2 } else { 0 },
                community: String::new(),
            }),
            recipients,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_sighting_is_never_marked_wider_than_its_report() {
        let author = key(1);
        for concerned_tlp in Tlp::ALL {
            for sighting_tlp in Tlp::ALL {
                let concerned = report(*concerned_tlp, Scope::DirectPeers);
                let sighting = report(*sighting_tlp, Scope::DirectPeers);
                let verdict = check_marking(&sighting, &concerned, &author);
                assert_eq!(
                    verdict.is_ok(),
                    sighting_tlp >= concerned_tlp,
                    "{concerned_tlp} report, {sighting_tlp} sighting: {verdict:?}"
                );
            }
        }
        let concerned = report(Tlp::Green, Scope::DirectPeers);
        let wider = report(Tlp::Green, Scope::Community);
        assert!(matches!(
            check_marking(&wider, &concerned, &author),
            Err(SightingError::Wider(_))
        ));
        let mut red = report(Tlp::Red, Scope::DirectPeers);
        red.recipients = vec![author, key(9)];
        assert!(check_marking(&red, &report(Tlp::Red, Scope::DirectPeers), &author).is_err());
        red.recipients = vec![author, key(3)];
        assert!(check_marking(&red, &report(Tlp::Red, Scope::DirectPeers), &author).is_ok());
        let mut about_retraction = report(Tlp::Green, Scope::DirectPeers);
        about_retraction.kind = ReportKind::Retraction;
        assert!(matches!(
            check_marking(&concerned, &about_retraction, &author),
            Err(SightingError::NotSightable(_))
        ));
    }

    #[test]
    fn a_drafted_sighting_is_marked_like_its_report_and_signs() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let cert = crate::OrgKey::generate(&mut rng);
        let bank = crate::OrgKey::generate(&mut rng);
        let report = crate::ReportDraft {
            kind: Some(ReportKind::Indicator),
            title: "Phishing wave".into(),
            tlp: Some(Tlp::Amber),
            sectors: vec!["finance".into()],
            indicators: vec![
                crate::IndicatorDraft::from(
                    Indicator::new(IndicatorType::Ipv4, "203.0.113.7", "").unwrap(),
                ),
                crate::IndicatorDraft::from(
                    Indicator::new(IndicatorType::Domain, "evil.example", "").unwrap(),
                ),
            ],
            ..Default::default()
        }
        .sign(&cert, &mut rng)
        .unwrap();
        let now = report.report().created_ms + 1000;
        let mut seen = SightingRequest::of(SightingKind::Seen);
        seen.indicator = Some("Evil.Example".into());
        seen.first_seen = Some("2h".into());
        let draft = draft_about(report.report(), report.id(), cert.public(), &seen, now).unwrap();
        let signed = draft.sign(&bank, &mut rng).unwrap();
        let marking = signed.report();
        assert_eq!(marking.kind, ReportKind::Sighting);
        assert_eq!(marking.tlp, Tlp::Amber);
        assert_eq!(marking.distribution.scope, Scope::DirectPeers);
        assert_eq!(marking.sectors, vec!["finance".to_string()]);
        let sighting = marking.sighting.as_ref().unwrap();
        assert_eq!(
            sighting.concerns,
            Concerns {
                report: report.id(),
                author: cert.public()
            }
        );
        assert_eq!(sighting.count, 1);
        assert_eq!(sighting.first_seen_ms, Some(now - 2 * 3600 * 1000));
        assert_eq!(sighting.indicator.as_ref().unwrap().value, "evil.example");
        assert_eq!(marking.concerns, Some(sighting.concerns));

        let mut wider = SightingRequest::of(SightingKind::FalsePositive);
        wider.tlp = Some(Tlp::Green);
        assert!(matches!(
            draft_about(report.report(), report.id(), cert.public(), &wider, now),
            Err(DraftSightingError::Sighting(SightingError::Wider(_)))
        ));
        let mut unknown = SightingRequest::of(SightingKind::Seen);
        unknown.indicator = Some("ipv4:198.51.100.1".into());
        assert!(matches!(
            draft_about(report.report(), report.id(), cert.public(), &unknown, now),
            Err(DraftSightingError::Field {
                field: "indicator",
                ..
            })
        ));
        let mut late = SightingRequest::of(SightingKind::Seen);
        late.last_seen = Some("not a time".into());
        assert!(matches!(
            draft_about(report.report(), report.id(), cert.public(), &late, now),
            Err(DraftSightingError::Field {
                field: "last_seen",
                ..
            })
        ));
    }

    #[test]
    fn tallies_sum_each_indicator_and_the_whole_report_apart() {
        let ip = Indicator::new(IndicatorType::Ipv4, "203.0.113.7", "").unwrap();
        let sighting = |kind, indicator: Option<&Indicator>, count, last| Sighting {
            concerns: Concerns {
                report: ReportId::from_bytes([1; 32]),
                author: key(1),
            },
            kind,
            indicator: indicator.cloned(),
            count,
            first_seen_ms: None,
            last_seen_ms: last,
            place: None,
            observed: Vec::new(),
            source: None,
        };
        let (a, b) = (key(2), key(3));
        let s1 = sighting(SightingKind::Seen, Some(&ip), 3, Some(50));
        let s2 = sighting(SightingKind::Seen, Some(&ip), 2, None);
        let s3 = sighting(SightingKind::FalsePositive, Some(&ip), 0, None);
        let s4 = sighting(SightingKind::Expired, None, 0, None);
        let tallies = tally([(a, &s1, 10), (a, &s2, 70), (b, &s3, 80), (b, &s4, 90)]);
        assert_eq!(
            tallies,
            vec![
                Tally {
                    indicator: Some("ipv4:203.0.113.7".into()),
                    seen: 5,
                    seen_reports: 2,
                    false_positive: 1,
                    expired: 0,
                    confirmed: 0,
                    organisations: 2,
                    last_seen_ms: Some(70),
                },
                Tally {
                    indicator: None,
                    expired: 1,
                    organisations: 1,
                    ..Tally::default()
                },
            ]
        );
    }
}
