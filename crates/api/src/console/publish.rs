//! The console's publish form: what an analyst types, read into a report draft field by
//! field, each mistake named by its field. The draft is then checked as signing checks it
//! (`ReportDraft::preview`), so the preview and the signed report agree.

use cairn_core::coding::{GgeNorm, ImpactKind, ImpactLevel, IncidentCoding, Operation};
use cairn_core::directory::{DirectoryEntry, EntryType, Topic, parse_valid_until};
use cairn_core::indicator::Indicator;
use cairn_core::{
    IndicatorDraft, OrgPublicKey, ReportDraft, ReportId, ReportKind, Scope, Severity, Tlp,
};

/// The kinds an analyst writes in the form (retractions come from a report's page; observance
/// figures are computed by `cairn observance publish`).
pub(crate) const FORM_KINDS: [ReportKind; 7] = [
    ReportKind::Indicator,
    ReportKind::Incident,
    ReportKind::Advisory,
    ReportKind::Vulnerability,
    ReportKind::ThreatActor,
    ReportKind::Campaign,
    ReportKind::DirectoryEntry,
];

/// The form as posted: every field as text (checkboxes as the values sent).
#[derive(Debug, Clone, Default)]
pub(crate) struct PublishForm {
    pub(crate) csrf: String,
    pub(crate) action: String,
    pub(crate) kind: String,
    pub(crate) title: String,
    pub(crate) summary: String,
    pub(crate) severity: String,
    pub(crate) confidence: String,
    pub(crate) tlp: String,
    pub(crate) scope: String,
    pub(crate) hop_limit: String,
    pub(crate) community: String,
    pub(crate) recipients: String,
    pub(crate) tags: String,
    pub(crate) sectors: String,
    pub(crate) regions: String,
    pub(crate) principles: Vec<String>,
    pub(crate) indicators: String,
    pub(crate) victim: String,
    pub(crate) internal_notes: String,
    pub(crate) evidence: String,
    pub(crate) language: String,
    pub(crate) supersedes: String,
    /// Incident coding: UN GGE norms, countries, operations, impact, attribution claims.
    pub(crate) norms: Vec<String>,
    pub(crate) countries: String,
    pub(crate) operations: Vec<String>,
    pub(crate) impact: String,
    pub(crate) impact_kinds: Vec<String>,
    pub(crate) attributions: String,
    /// Directory entry: what it offers or seeks, topics, countries, languages, contact, URL,
    /// end of validity.
    pub(crate) entry_type: String,
    pub(crate) topics: Vec<String>,
    pub(crate) entry_countries: String,
    pub(crate) languages: String,
    pub(crate) contact: String,
    pub(crate) url: String,
    pub(crate) valid_until: String,
}

/// A field the form could not take, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldProblem {
    /// The field, as the form names it.
    pub(crate) field: String,
    pub(crate) message: String,
}

impl FieldProblem {
    fn new(field: &str, message: impl Into<String>) -> FieldProblem {
        FieldProblem {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl PublishForm {
    /// Reads the posted pairs; a field given twice (other than a principle) keeps its last
    /// value, and unknown fields are refused by name.
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Result<PublishForm, FieldProblem> {
        let mut form = PublishForm::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "csrf" => &mut form.csrf,
                "action" => &mut form.action,
                "kind" => &mut form.kind,
                "title" => &mut form.title,
                "summary" => &mut form.summary,
                "severity" => &mut form.severity,
                "confidence" => &mut form.confidence,
                "tlp" => &mut form.tlp,
                "scope" => &mut form.scope,
                "hop_limit" => &mut form.hop_limit,
                "community" => &mut form.community,
                "recipients" => &mut form.recipients,
                "tags" => &mut form.tags,
                "sectors" => &mut form.sectors,
                "regions" => &mut form.regions,
                "indicators" => &mut form.indicators,
                "victim" => &mut form.victim,
                "internal_notes" => &mut form.internal_notes,
                "evidence" => &mut form.evidence,
                "language" => &mut form.language,
                "supersedes" => &mut form.supersedes,
                "countries" => &mut form.countries,
                "impact" => &mut form.impact,
                "attributions" => &mut form.attributions,
                "entry_type" => &mut form.entry_type,
                "entry_countries" => &mut form.entry_countries,
                "languages" => &mut form.languages,
                "contact" => &mut form.contact,
                "url" => &mut form.url,
                "valid_until" => &mut form.valid_until,
                "topic" => {
                    form.topics.push(value);
                    continue;
                }
                "principle" => {
                    form.principles.push(value);
                    continue;
                }
                "norm" => {
                    form.norms.push(value);
                    continue;
                }
                "operation" => {
                    form.operations.push(value);
                    continue;
                }
                "impact_kind" => {
                    form.impact_kinds.push(value);
                    continue;
                }
                other => {
                    return Err(FieldProblem::new(
                        other,
                        "is not a field of the publish form",
                    ));
                }
            };
            *slot = value;
        }
        Ok(form)
    }

    /// The draft the form describes, or the first field it cannot take.
    pub(crate) fn draft(&self) -> Result<ReportDraft, FieldProblem> {
        let kind = match self.kind.trim() {
            "" => None,
            text => Some(
                text.parse::<ReportKind>()
                    .ok()
                    .filter(|k| FORM_KINDS.contains(k))
                    .ok_or_else(|| {
                        FieldProblem::new(
                            "kind",
                            format!("{text:?} is not a kind this form writes"),
                        )
                    })?,
            ),
        };
        let severity = optional(&self.severity, "severity", |t| {
            t.parse::<Severity>().map_err(|e| e.to_string())
        })?;
        let confidence = optional(&self.confidence, "confidence", |t| {
            t.parse::<u8>()
                .ok()
                .filter(|c| *c <= 100)
                .ok_or_else(|| format!("{t:?} is not a number from 0 to 100"))
        })?;
        let tlp = optional(&self.tlp, "tlp", |t| {
            t.parse::<Tlp>().map_err(|e| e.to_string())
        })?;
        let scope = optional(&self.scope, "scope", |t| {
            t.parse::<Scope>().map_err(|e| e.to_string())
        })?;
        let hop_limit = optional(&self.hop_limit, "hop_limit", |t| {
            t.parse::<u32>()
                .map_err(|_| format!("{t:?} is not a whole number of hops"))
        })?;
        let recipients = lines(&self.recipients)
            .map(|line| {
                line.parse::<OrgPublicKey>().map_err(|e| {
                    FieldProblem::new(
                        "recipients",
                        format!("{line:?} is not an organisation key: {e}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut principles = Vec::with_capacity(self.principles.len());
        for p in &self.principles {
            let n = p
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=9).contains(n))
                .ok_or_else(|| {
                    FieldProblem::new(
                        "principle",
                        format!("{p:?} is not a Paris Call principle (1 to 9)"),
                    )
                })?;
            principles.push(n);
        }
        let indicators = lines(&self.indicators)
            .map(|line| {
                Indicator::parse_typed(line)
                    .map(IndicatorDraft::from)
                    .map_err(|e| FieldProblem::new("indicators", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let supersedes = optional(&self.supersedes, "supersedes", |t| {
            t.parse::<ReportId>()
                .map_err(|_| format!("{t:?} is not a report id (64 hexadecimal digits)"))
        })?;
        let text = |value: &str| Some(value.trim().to_string()).filter(|v| !v.is_empty());
        let coding = self.coding()?;
        let directory_entry = self.directory_entry(kind)?;
        Ok(ReportDraft {
            kind,
            title: self.title.trim().to_string(),
            summary: self.summary.trim().to_string(),
            severity,
            confidence,
            created: None,
            tlp,
            scope,
            hop_limit,
            community: text(&self.community),
            recipients,
            tags: list(&self.tags),
            sectors: list(&self.sectors),
            regions: list(&self.regions),
            paris_call_principles: principles,
            indicators,
            supersedes,
            victim: text(&self.victim),
            internal_notes: text(&self.internal_notes),
            evidence: lines(&self.evidence).map(str::to_string).collect(),
            language: text(&self.language),
            coding,
            directory_entry,
            ..ReportDraft::default()
        })
    }

    /// The directory entry the form gives: for a directory-entry report, or when any of its
    /// fields is filled (signing then says that only directory entries carry one).
    fn directory_entry(
        &self,
        kind: Option<ReportKind>,
    ) -> Result<Option<DirectoryEntry>, FieldProblem> {
        let filled = !self.entry_type.trim().is_empty()
            || !self.topics.is_empty()
            || [
                &self.entry_countries,
                &self.languages,
                &self.contact,
                &self.url,
                &self.valid_until,
            ]
            .iter()
            .any(|f| !f.trim().is_empty());
        if kind != Some(ReportKind::DirectoryEntry) && !filled {
            return Ok(None);
        }
        let entry_type = match self.entry_type.trim() {
            "" => {
                return Err(FieldProblem::new(
                    "entry_type",
                    "say what the entry offers or seeks",
                ));
            }
            term => EntryType::from_term(term)
                .map_err(|e| FieldProblem::new("entry_type", e.to_string()))?,
        };
        let topics = self
            .topics
            .iter()
            .map(|t| {
                Topic::from_term(t.trim()).map_err(|e| FieldProblem::new("topic", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(DirectoryEntry {
            entry_type,
            topics,
            countries: list(&self.entry_countries),
            languages: list(&self.languages),
            contact: self.contact.trim().to_string(),
            url: Some(self.url.trim().to_string()).filter(|u| !u.is_empty()),
            valid_until: optional(&self.valid_until, "valid_until", parse_valid_until)?,
        }))
    }

    /// The incident coding the form gives, if any field of it is filled.
    fn coding(&self) -> Result<Option<IncidentCoding>, FieldProblem> {
        fn terms<T>(
            values: &[String],
            field: &str,
            read: impl Fn(&str) -> Result<T, cairn_core::coding::UnknownTerm>,
        ) -> Result<Vec<T>, FieldProblem> {
            values
                .iter()
                .map(|v| read(v.trim()).map_err(|e| FieldProblem::new(field, e.to_string())))
                .collect()
        }
        let attributions = lines(&self.attributions)
            .map(|line| {
                cairn_core::coding::parse_attribution(line)
                    .map_err(|e| FieldProblem::new("attributions", format!("{line:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let coding = IncidentCoding {
            gge_norms: terms(&self.norms, "norm", GgeNorm::from_term)?,
            countries: list(&self.countries),
            operations: terms(&self.operations, "operation", Operation::from_term)?,
            impact: optional(&self.impact, "impact", |t| {
                ImpactLevel::from_term(t).map_err(|e| e.to_string())
            })?,
            impact_kinds: terms(&self.impact_kinds, "impact_kind", ImpactKind::from_term)?,
            attributions,
        };
        Ok((coding != IncidentCoding::default()).then_some(coding))
    }
}

/// A field that may be left empty, read by `parse` otherwise.
fn optional<T>(
    value: &str,
    field: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, FieldProblem> {
    match value.trim() {
        "" => Ok(None),
        text => parse(text)
            .map(Some)
            .map_err(|m| FieldProblem::new(field, m)),
    }
}

/// The non-empty lines of a text area, trimmed.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// A comma-separated list, trimmed, empty items left out.
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_filled_form_becomes_the_draft_it_describes() {
        let form = PublishForm::from_pairs(pairs(&[
            ("kind", "incident"),
            ("title", "  Wiper at a water utility "),
            ("tlp", "amber"),
            ("severity", "high"),
            ("confidence", "70"),
            ("tags", "wiper, ,ot"),
            ("principle", "1"),
            ("principle", "6"),
            ("indicators", "ipv4:203.0.113.7\n\n sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 "),
            ("victim", "Example Water"),
            ("evidence", "log line one\nlog line two"),
        ]))
        .unwrap();
        let draft = form.draft().unwrap();
        assert_eq!(draft.kind, Some(ReportKind::Incident));
        assert_eq!(draft.title, "Wiper at a water utility");
        assert_eq!(draft.tlp, Some(Tlp::Amber));
        assert_eq!(draft.tags, vec!["wiper", "ot"]);
        assert_eq!(draft.paris_call_principles, vec![1, 6]);
        assert_eq!(draft.indicators.len(), 2);
        assert_eq!(draft.evidence.len(), 2);
        assert!(draft.preview().is_ok(), "{:?}", draft.preview());
        assert_eq!(draft.coding, None, "no coding field filled");
        let coded = PublishForm::from_pairs(pairs(&[
            ("kind", "incident"),
            ("title", "Wiper"),
            ("tlp", "amber"),
            ("norm", "f"),
            ("norm", "g"),
            ("countries", "fr, sn"),
            ("operation", GgeNorm::ALL[0].term()),
            (
                "attributions",
                "to=APT-X; by=CERT-FR; confidence=70; source=https://cert.example/advisory",
            ),
        ]));
        // An operation term that is not one is named; the real terms pass.
        let problem = coded
            .unwrap()
            .draft()
            .expect_err("a norm letter is not an operation");
        assert_eq!(problem.field, "operation");
        let coded = PublishForm::from_pairs(pairs(&[
            ("kind", "incident"),
            ("title", "Wiper"),
            ("tlp", "amber"),
            ("norm", "f"),
            ("countries", "fr, sn"),
            ("operation", Operation::ALL[0].term()),
            ("impact", ImpactLevel::ALL[1].term()),
            ("impact_kind", ImpactKind::ALL[0].term()),
            (
                "attributions",
                "to=APT-X; by=CERT-FR; confidence=70; actor-type=crime-syndicate; claimant-type=government; on=2026-11-30; source=https://cert.example/advisory",
            ),
        ]))
        .unwrap()
        .draft()
        .unwrap();
        let report = coded.preview().expect("a coded incident previews");
        let coding = report.coding.expect("coded");
        assert_eq!(coding.gge_norms, vec![GgeNorm::F]);
        assert_eq!(coding.countries, vec!["FR", "SN"]);
        assert_eq!(coding.attributions[0].confidence, 70);
        assert_eq!(
            coding.attributions[0].claimed_on.as_deref(),
            Some("2026-11-30")
        );
        assert!(coding.attributions[0].actor_type.is_some());
    }

    #[test]
    fn a_directory_entry_is_written_in_the_form() {
        let draft = PublishForm::from_pairs(pairs(&[
            ("kind", "directory-entry"),
            ("title", "CSIRT mentoring for West African CERTs"),
            ("tlp", "clear"),
            ("entry_type", "capacity-offer"),
            ("topic", "incident-response"),
            ("topic", "workforce"),
            ("entry_countries", "sn, gh"),
            ("languages", "fr, en"),
            ("contact", "capacity@cert.example"),
            ("url", "https://cert.example/mentoring"),
            ("valid_until", "2027-06-30"),
        ]))
        .unwrap()
        .draft()
        .unwrap();
        let report = draft.preview().expect("a directory entry previews");
        let entry = report.directory_entry.expect("an entry");
        assert_eq!(entry.entry_type, EntryType::CapacityOffer);
        assert_eq!(
            entry.topics,
            vec![Topic::IncidentResponse, Topic::Workforce]
        );
        assert_eq!(entry.countries, vec!["SN", "GH"]);
        assert_eq!(
            entry.valid_until,
            Some(cairn_core::when::parse("2027-06-30", 0, true).unwrap())
        );
        // A directory entry without saying what it offers or seeks, and entry fields on
        // another kind, are refused by name.
        let untyped = PublishForm::from_pairs(pairs(&[("kind", "directory-entry")]))
            .unwrap()
            .draft()
            .expect_err("no entry type");
        assert_eq!(untyped.field, "entry_type");
        let misplaced = PublishForm::from_pairs(pairs(&[
            ("kind", "advisory"),
            ("title", "Patch now"),
            ("tlp", "clear"),
            ("entry_type", "capacity-need"),
            ("topic", "awareness"),
            ("contact", "x@example.org"),
        ]))
        .unwrap()
        .draft()
        .unwrap()
        .preview()
        .expect_err("only directory entries carry one");
        assert!(
            misplaced.to_string().contains("directory_entry"),
            "{misplaced}"
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        for (field, value) in [
            ("kind", "retraction"),
            ("severity", "apocalyptic"),
            ("confidence", "101"),
            ("tlp", "purple"),
            ("scope", "everyone"),
            ("hop_limit", "-1"),
            ("recipients", "not-a-key"),
            ("principle", "10"),
            ("indicators", "203.0.113.7"),
            ("supersedes", "abc"),
        ] {
            let problem = PublishForm::from_pairs(pairs(&[(field, value)]))
                .unwrap()
                .draft()
                .expect_err(field);
            assert_eq!(problem.field, field, "{problem:?}");
            assert!(!problem.message.is_empty());
        }
        for (field, value) in [
            ("norm", "z"),
            ("operation", "teleportation"),
            ("impact", "apocalyptic"),
            ("impact_kind", "cosmic"),
            ("attributions", "to=APT-X; by=CERT-FR"),
            ("attributions", "to=APT-X; by=CERT-FR; confidence=150"),
            (
                "attributions",
                "to=APT-X; by=CERT-FR; confidence=50; actor-type=wizard",
            ),
            ("entry_type", "free-lunch"),
        ] {
            let problem = PublishForm::from_pairs(pairs(&[(field, value)]))
                .unwrap()
                .draft()
                .expect_err(field);
            assert_eq!(problem.field, field, "{problem:?}");
        }
        for (field, value) in [
            ("topic", "astrology"),
            ("valid_until", "30d"),
            ("valid_until", "next tuesday"),
        ] {
            let problem = PublishForm::from_pairs(pairs(&[
                ("kind", "directory-entry"),
                ("entry_type", "capacity-offer"),
                (field, value),
            ]))
            .unwrap()
            .draft()
            .expect_err(field);
            assert_eq!(problem.field, field, "{problem:?}");
        }
        let unknown = PublishForm::from_pairs(pairs(&[("colour", "red")])).unwrap_err();
        assert_eq!(unknown.field, "colour");
    }
}
