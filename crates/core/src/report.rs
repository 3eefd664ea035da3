//! The report: its id, its validated content, and the rules every report must follow whether
//! it was written here or received from a peer.

use std::fmt;
use std::str::FromStr;

use cairn_proto::v1 as pb;
use sha2::{Digest, Sha256};

use crate::identity::OrgPublicKey;
use crate::indicator::Indicator;
use crate::model::{Distribution, IndicatorType, MAX_HOP_LIMIT, ReportKind, Scope, Severity, Tlp};

/// Context prefix of report signatures and ids; keeps them apart from every other signature.
pub const REPORT_CONTEXT: &[u8] = b"cairn/report/v1\0";

/// Context prefix of the signatures of reports signed by a node key (envelope format 2).
pub const NODE_REPORT_CONTEXT: &[u8] = b"cairn/report/v2\0";

/// Context prefix of the signatures of envelope format 3, which cover the report's id.
pub const ID_REPORT_CONTEXT: &[u8] = b"cairn/report/v3\0";

/// Which key signed a report, as its signature says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignedBy<'k> {
    /// The author organisation's first key.
    Author,
    /// A node key or later organisation key, at `signed_ms`.
    Delegate {
        /// The signing key.
        key: &'k [u8; 32],
        /// When it signed, in milliseconds since the Unix epoch.
        signed_ms: i64,
    },
}

/// The bytes a report's signature covers, in each envelope format: formats 1 and 2 cover the
/// body, format 3 the report id (which is the SHA-256 of author and body), so that signing and
/// verifying hash the body once, with SHA-256, instead of twice with SHA-512.
pub(crate) fn signed_message(
    format: u32,
    author: &[u8; 32],
    signer: SignedBy<'_>,
    id: &ReportId,
    body: &[u8],
) -> Vec<u8> {
    match (format, signer) {
        (cairn_proto::FORMAT_ID_SIGNED, signer) => {
            let (kind, key, signed_ms) = match signer {
                SignedBy::Author => (1u8, author, 0),
                SignedBy::Delegate { key, signed_ms } => (2u8, key, signed_ms),
            };
            let mut message = Vec::with_capacity(ID_REPORT_CONTEXT.len() + 1 + 32 + 32 + 8 + 32);
            message.extend_from_slice(ID_REPORT_CONTEXT);
            message.push(kind);
            message.extend_from_slice(author);
            message.extend_from_slice(key);
            message.extend_from_slice(&signed_ms.to_be_bytes());
            message.extend_from_slice(id.as_bytes());
            message
        }
        (_, SignedBy::Author) => {
            let mut message = Vec::with_capacity(REPORT_CONTEXT.len() + 32 + body.len());
            message.extend_from_slice(REPORT_CONTEXT);
            message.extend_from_slice(author);
            message.extend_from_slice(body);
            message
        }
        (_, SignedBy::Delegate { key, signed_ms }) => {
            let mut message = Vec::with_capacity(NODE_REPORT_CONTEXT.len() + 72 + body.len());
            message.extend_from_slice(NODE_REPORT_CONTEXT);
            message.extend_from_slice(author);
            message.extend_from_slice(key);
            message.extend_from_slice(&signed_ms.to_be_bytes());
            message.extend_from_slice(body);
            message
        }
    }
}

/// Limits every report must respect (a sender cannot make a node store more).
pub mod limits {
    /// Largest encoded envelope a node reads, writes or accepts: 1 MiB.
    pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;
    /// Longest title, in characters.
    pub const MAX_TITLE_CHARS: usize = 256;
    /// Longest summary, in bytes.
    pub const MAX_SUMMARY_BYTES: usize = 64 * 1024;
    /// Most tags, sectors or regions a report may carry (each list).
    pub const MAX_LABELS: usize = 64;
    /// Longest tag, sector or region, in characters.
    pub const MAX_LABEL_CHARS: usize = 64;
    /// Most indicators in one report.
    pub const MAX_INDICATORS: usize = 10_000;
    /// Most named recipients.
    pub const MAX_RECIPIENTS: usize = 256;
    /// Most selective disclosures.
    pub const MAX_DISCLOSURES: usize = 64;
    /// Longest disclosed value, in bytes.
    pub const MAX_DISCLOSURE_BYTES: usize = 64 * 1024;
}

/// A report's id: SHA-256 over exactly what its author signed
/// (`REPORT_CONTEXT || author key || body bytes`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportId([u8; 32]);

impl ReportId {
    /// The id of a body signed by `author`.
    pub fn compute(author: &OrgPublicKey, body: &[u8]) -> ReportId {
        let mut hasher = Sha256::new();
        hasher.update(REPORT_CONTEXT);
        hasher.update(author.as_bytes());
        hasher.update(body);
        ReportId(hasher.finalize().into())
    }

    /// An id from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> ReportId {
        ReportId(bytes)
    }

    /// An id from a slice that must be 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Option<ReportId> {
        bytes.try_into().ok().map(ReportId)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 12 hex digits, for tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0u8; 64];
        match hex::encode_to_slice(self.0, &mut text) {
            Ok(()) => f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl fmt::Debug for ReportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReportId({})", self.short())
    }
}

/// Text that is not a report id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a report id (64 hexadecimal digits)")]
pub struct BadReportId(pub String);

impl FromStr for ReportId {
    type Err = BadReportId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadReportId(s.to_string());
        if s.len() != 64 {
            return Err(bad());
        }
        let bytes = hex::decode(s).map_err(|_| bad())?;
        ReportId::from_slice(&bytes).ok_or_else(bad)
    }
}

impl serde::Serialize for ReportId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for ReportId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A report's content, validated. Built from signed bytes or from a draft; never on its own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// What the report is about.
    pub kind: ReportKind,
    /// One line.
    pub title: String,
    /// Free text.
    pub summary: String,
    /// `None` when the author did not say.
    pub severity: Option<Severity>,
    /// 0-100.
    pub confidence: u8,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// TLP 2.0 label.
    pub tlp: Tlp,
    /// The author's distribution rule.
    #[serde(serialize_with = "serialize_distribution")]
    pub distribution: Distribution,
    /// Named recipients (TLP:RED).
    pub recipients: Vec<OrgPublicKey>,
    /// Free labels, lower case.
    pub tags: Vec<String>,
    /// Sectors concerned, lower case.
    pub sectors: Vec<String>,
    /// Regions concerned, lower case.
    pub regions: Vec<String>,
    /// Paris Call principles concerned (1-9).
    pub paris_call_principles: Vec<u8>,
    /// Observables, canonical.
    pub indicators: Vec<Indicator>,
    /// The earlier report by the same author that this one replaces.
    pub supersedes: Option<ReportId>,
    /// For retractions: the report withdrawn.
    pub retracts: Option<ReportId>,
    /// Digests of the selective disclosures that belong to this report.
    #[serde(skip)]
    pub disclosure_digests: Vec<[u8; 32]>,
    /// STIX 2.1 objects carried exactly as their source sent them (JSON texts).
    #[serde(skip)]
    pub stix_objects: Vec<String>,
    /// A MISP event (or a part of one) carried exactly as its source sent it.
    #[serde(skip)]
    pub misp_event: Option<crate::misp::MispEventPart>,
    /// The language of the title and summary (a BCP 47 tag: `en`, `fr`, `pt-BR`), when the
    /// author said.
    pub language: Option<String>,
    /// For observance figures: the counts.
    #[serde(skip)]
    pub observance: Option<crate::observance::Aggregate>,
    /// For incidents: what observance of the norms needs to know of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coding: Option<crate::coding::IncidentCoding>,
    /// For directory entries: the entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory_entry: Option<crate::directory::DirectoryEntry>,
    /// For sightings: the report concerned (also read from a marking alone, for the sharing
    /// rule that keeps a sighting within its report's reach).
    #[serde(skip)]
    pub concerns: Option<crate::sighting::Concerns>,
    /// For sightings: the sighting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sighting: Option<crate::sighting::Sighting>,
}

fn serialize_distribution<S: serde::Serializer>(
    d: &Distribution,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut s = serializer.serialize_struct("Distribution", 3)?;
    s.serialize_field("scope", &d.scope)?;
    s.serialize_field("hop_limit", &d.hop_limit)?;
    s.serialize_field("community", &d.community)?;
    s.end()
}

/// A report field that breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidReport {
    /// The field, as named in the schema (`indicators[3].value`, `tlp`, ...).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> InvalidReport {
    InvalidReport {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The file numbers of a report's indicators: only hashes name a file, and a file has at
/// most one hash of each algorithm.
fn check_files(indicators: &[Indicator]) -> Result<(), InvalidReport> {
    let mut named: std::collections::HashSet<(u32, IndicatorType)> =
        std::collections::HashSet::new();
    for (i, indicator) in indicators.iter().enumerate() {
        if indicator.file == 0 {
            continue;
        }
        if !crate::correlation::is_hash(indicator.kind) {
            return Err(invalid(
                format!("indicators[{i}].file"),
                format!(
                    "a {} indicator names file {}: only hashes (MD5, SHA-1, SHA-256, SHA-512) are of a file",
                    indicator.kind, indicator.file
                ),
            ));
        }
        if !named.insert((indicator.file, indicator.kind)) {
            return Err(invalid(
                format!("indicators[{i}].file"),
                format!(
                    "file {} has two {} hashes: a file has one hash of each algorithm",
                    indicator.file, indicator.kind
                ),
            ));
        }
    }
    Ok(())
}

/// How much of a body to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checks {
    /// Everything: a report written here or received.
    All,
    /// A body this node checked when it stored it: the costly indicator checks are skipped.
    StoredHere,
}

/// Checks a decoded body against every rule and returns its validated content.
pub fn validate_body(body: &pb::ReportBody) -> Result<Report, InvalidReport> {
    validate(body.clone(), Checks::All)
}

pub(crate) fn validate(body: pb::ReportBody, checks: Checks) -> Result<Report, InvalidReport> {
    validate_reading_objects(body, checks, None).map(|(report, _)| report)
}

/// [`validate`], with the type, id and version of each carried object when the checks read
/// them (`Checks::All` of a report that carries objects), so that nothing reads them again.
///
/// `carried`, when given, is what the caller read of exactly the objects the body carries (an
/// import, signing what it made); they are then not read again.
pub(crate) fn validate_reading_objects(
    body: pb::ReportBody,
    checks: Checks,
    carried: Option<crate::stix::CarriedRead>,
) -> Result<(Report, Option<Vec<crate::stix::ObjectVersion>>), InvalidReport> {
    if body.nonce.len() != 16 {
        return Err(invalid(
            "nonce",
            format!("must be 16 random bytes, found {}", body.nonce.len()),
        ));
    }
    let kind = ReportKind::from_proto(body.kind)
        .ok_or_else(|| invalid("kind", unknown_number("report kind", body.kind)))?;
    let title = body.title.trim();
    if title.is_empty() {
        return Err(invalid("title", "must not be empty"));
    }
    if title.chars().count() > limits::MAX_TITLE_CHARS {
        return Err(invalid(
            "title",
            format!("longer than {} characters", limits::MAX_TITLE_CHARS),
        ));
    }
    if title.chars().any(char::is_control) {
        return Err(invalid("title", "holds a control character"));
    }
    if body.summary.len() > limits::MAX_SUMMARY_BYTES {
        return Err(invalid(
            "summary",
            format!("longer than {} bytes", limits::MAX_SUMMARY_BYTES),
        ));
    }
    let severity = match body.severity {
        0 => None,
        n => Some(
            Severity::from_proto(n)
                .ok_or_else(|| invalid("severity", unknown_number("severity", n)))?,
        ),
    };
    let confidence = u8::try_from(body.confidence)
        .ok()
        .filter(|c| *c <= 100)
        .ok_or_else(|| {
            invalid(
                "confidence",
                format!("{} is not from 0 to 100", body.confidence),
            )
        })?;
    if body.created_ms <= 0 {
        return Err(invalid("created", "must be a time after 1970-01-01"));
    }
    let tlp = Tlp::from_proto(body.tlp)
        .ok_or_else(|| invalid("tlp", unknown_number("TLP label", body.tlp)))?;
    let distribution = validate_distribution(body.distribution.as_ref(), tlp)?;
    let recipients = body
        .recipients
        .iter()
        .enumerate()
        .map(|(i, r)| {
            OrgPublicKey::from_bytes(r)
                .map_err(|e| invalid(format!("recipients[{i}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if recipients.len() > limits::MAX_RECIPIENTS {
        return Err(invalid(
            "recipients",
            format!("more than {} recipients", limits::MAX_RECIPIENTS),
        ));
    }
    if tlp == Tlp::Red && recipients.is_empty() {
        return Err(invalid(
            "recipients",
            "a TLP:RED report must name its recipients",
        ));
    }
    if tlp != Tlp::Red && !recipients.is_empty() {
        return Err(invalid(
            "recipients",
            format!(
                "named recipients are only used with TLP:RED, not {}",
                tlp.official()
            ),
        ));
    }
    let tags = validate_labels("tags", &body.tags)?;
    let sectors = validate_labels("sectors", &body.sectors)?;
    let regions = validate_labels("regions", &body.regions)?;
    let language = validate_language(&body.language)?;
    let mut principles = Vec::with_capacity(body.paris_call_principles.len());
    for (i, p) in body.paris_call_principles.iter().enumerate() {
        if !(1..=9).contains(p) {
            return Err(invalid(
                format!("paris_call_principles[{i}]"),
                format!("{p} is not a Paris Call principle (1-9)"),
            ));
        }
        if principles.contains(&(*p as u8)) {
            return Err(invalid(
                format!("paris_call_principles[{i}]"),
                format!("principle {p} is listed twice"),
            ));
        }
        principles.push(*p as u8);
    }
    if body.indicators.len() > limits::MAX_INDICATORS {
        return Err(invalid(
            "indicators",
            format!("more than {} indicators", limits::MAX_INDICATORS),
        ));
    }
    let indicators = body
        .indicators
        .into_iter()
        .enumerate()
        .map(|(i, ind)| {
            let kind = IndicatorType::from_proto(ind.r#type).ok_or_else(|| {
                invalid(
                    format!("indicators[{i}].type"),
                    unknown_number("indicator type", ind.r#type),
                )
            })?;
            if checks == Checks::StoredHere {
                // Checked, and found canonical, when this node stored it.
                return Ok(Indicator {
                    kind,
                    value: ind.value,
                    description: ind.description,
                    file: ind.file,
                    valid_from_ms: ind.valid_from_ms,
                    valid_until_ms: ind.valid_until_ms,
                });
            }
            crate::indicator::check_validity(
                ind.valid_from_ms,
                ind.valid_until_ms,
                body.created_ms,
            )
            .map_err(|(field, reason)| invalid(format!("indicators[{i}].{field}"), reason))?;
            let mut checked = Indicator::new(kind, &ind.value, &ind.description)
                .map_err(|e| invalid(format!("indicators[{i}].value"), e.to_string()))?
                .of_file(ind.file);
            checked.valid_from_ms = ind.valid_from_ms;
            checked.valid_until_ms = ind.valid_until_ms;
            if checked.value != ind.value {
                return Err(invalid(
                    format!("indicators[{i}].value"),
                    format!(
                        "{kind} value {:?} is not in canonical form (signed reports carry {:?})",
                        ind.value, checked.value
                    ),
                ));
            }
            Ok(checked)
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_files(&indicators)?;
    if body.stix_objects.len() > crate::stix::MAX_OBJECTS {
        return Err(invalid(
            "stix_objects",
            format!("more than {} STIX objects", crate::stix::MAX_OBJECTS),
        ));
    }
    let mut object_versions = None;
    if checks == Checks::All && !body.stix_objects.is_empty() {
        let (carried, versions) = match carried.filter(|c| c.len() == body.stix_objects.len()) {
            Some(read) => {
                debug_assert_eq!(
                    crate::stix::read_carried(&body.stix_objects).ok(),
                    Some(read.clone().into_parts()),
                    "what the caller read is what the report carries"
                );
                read.into_parts()
            }
            None => crate::stix::read_carried(&body.stix_objects)
                .map_err(|(i, reason)| invalid(format!("stix_objects[{i}]"), reason))?,
        };
        object_versions = Some(versions);
        if let Some(carried) = carried.filter(|c| *c > tlp) {
            return Err(invalid(
                "tlp",
                format!(
                    "{} is weaker than the {} marking of an object the report carries",
                    tlp.official(),
                    carried.official()
                ),
            ));
        }
    }
    let observance = match (kind, body.observance.as_ref()) {
        (ReportKind::Observance, Some(figures)) => {
            if tlp != Tlp::Clear {
                return Err(invalid(
                    "tlp",
                    format!(
                        "observance figures are published for anyone: TLP:CLEAR, not {}",
                        tlp.official()
                    ),
                ));
            }
            if !indicators.is_empty() || !body.stix_objects.is_empty() {
                return Err(invalid(
                    "indicators",
                    "observance figures carry counts only: no indicators or STIX objects",
                ));
            }
            Some(
                crate::observance::Aggregate::from_proto(figures)
                    .map_err(|(field, reason)| invalid(format!("observance.{field}"), reason))?,
            )
        }
        (ReportKind::Observance, None) => {
            return Err(invalid(
                "observance",
                "observance figures must carry their counts",
            ));
        }
        (_, Some(_)) => {
            return Err(invalid(
                "observance",
                format!("only observance figures carry counts, not a {kind} report"),
            ));
        }
        (_, None) => None,
    };
    let coding = match (kind, body.coding.as_ref()) {
        (_, None) => None,
        (ReportKind::Incident, Some(coding)) => Some(
            crate::coding::IncidentCoding::from_proto(coding)
                .map_err(|(field, reason)| invalid(format!("coding.{field}"), reason))?,
        )
        .filter(|c| !c.is_empty()),
        (_, Some(_)) => {
            return Err(invalid(
                "coding",
                format!(
                    "only incident reports are coded for norms observance, not a {kind} report"
                ),
            ));
        }
    };
    let directory_entry = match (kind, body.directory_entry.as_ref()) {
        (ReportKind::DirectoryEntry, Some(entry)) => {
            if !indicators.is_empty() || body.misp_event.is_some() || body.coding.is_some() {
                return Err(invalid(
                    "directory_entry",
                    "a directory entry carries no indicators, MISP event or incident coding",
                ));
            }
            Some(
                crate::directory::DirectoryEntry::from_proto(entry, body.created_ms).map_err(
                    |(field, reason)| invalid(format!("directory_entry.{field}"), reason),
                )?,
            )
        }
        (ReportKind::DirectoryEntry, None) => {
            return Err(invalid(
                "directory_entry",
                "a directory entry report must carry its entry (`cairn directory add` writes one)",
            ));
        }
        (_, Some(_)) => {
            return Err(invalid(
                "directory_entry",
                format!("only directory entry reports carry an entry, not a {kind} report"),
            ));
        }
        (_, None) => None,
    };
    let sighting = match (kind, body.sighting.as_ref()) {
        (ReportKind::Sighting, Some(sighting)) => {
            if !indicators.is_empty()
                || !body.stix_objects.is_empty()
                || body.misp_event.is_some()
                || body.coding.is_some()
            {
                return Err(invalid(
                    "sighting",
                    "a sighting carries no indicators, STIX objects, MISP event or incident coding of its own",
                ));
            }
            Some(
                crate::sighting::Sighting::from_proto(sighting, body.created_ms)
                    .map_err(|(field, reason)| invalid(format!("sighting.{field}"), reason))?,
            )
        }
        (ReportKind::Sighting, None) => {
            return Err(invalid(
                "sighting",
                "a sighting report must say what was seen of which report",
            ));
        }
        (_, Some(_)) => {
            return Err(invalid(
                "sighting",
                format!("only sighting reports carry a sighting, not a {kind} report"),
            ));
        }
        (_, None) => None,
    };
    let misp_event = body
        .misp_event
        .as_ref()
        .map(crate::misp::MispEventPart::from_proto)
        .transpose()
        .map_err(|reason| invalid("misp_event", reason))?;
    let supersedes = optional_id("supersedes", &body.supersedes)?;
    let retracts = optional_id("retracts", &body.retracts)?;
    match (kind, retracts) {
        (ReportKind::Retraction, None) => {
            return Err(invalid(
                "retracts",
                "a retraction must name the report it withdraws",
            ));
        }
        (ReportKind::Retraction, Some(_)) => {
            if !indicators.is_empty() {
                return Err(invalid("indicators", "a retraction carries no indicators"));
            }
            if !body.stix_objects.is_empty() {
                return Err(invalid(
                    "stix_objects",
                    "a retraction carries no STIX objects",
                ));
            }
            if body.misp_event.is_some() {
                return Err(invalid("misp_event", "a retraction carries no MISP event"));
            }
            if supersedes.is_some() {
                return Err(invalid(
                    "supersedes",
                    "a retraction cannot supersede a report",
                ));
            }
        }
        (_, Some(_)) => {
            return Err(invalid(
                "retracts",
                format!("only a retraction may withdraw a report, not a {kind} report"),
            ));
        }
        (_, None) => {}
    }
    if body.disclosure_digests.len() > limits::MAX_DISCLOSURES {
        return Err(invalid(
            "disclosure_digests",
            format!("more than {} disclosures", limits::MAX_DISCLOSURES),
        ));
    }
    let mut disclosure_digests: Vec<[u8; 32]> = Vec::with_capacity(body.disclosure_digests.len());
    for (i, d) in body.disclosure_digests.iter().enumerate() {
        let digest: [u8; 32] = d.as_slice().try_into().map_err(|_| {
            invalid(
                format!("disclosure_digests[{i}]"),
                "a digest is 32 bytes (SHA-256)",
            )
        })?;
        if disclosure_digests.contains(&digest) {
            return Err(invalid(format!("disclosure_digests[{i}]"), "listed twice"));
        }
        disclosure_digests.push(digest);
    }
    let title = if title.len() == body.title.len() {
        body.title
    } else {
        title.to_string()
    };
    let report = Report {
        kind,
        title,
        summary: body.summary,
        severity,
        confidence,
        created_ms: body.created_ms,
        tlp,
        distribution,
        recipients,
        tags,
        sectors,
        regions,
        paris_call_principles: principles,
        indicators,
        supersedes,
        retracts,
        disclosure_digests,
        stix_objects: body.stix_objects,
        misp_event,
        language,
        observance,
        coding,
        directory_entry,
        concerns: sighting.as_ref().map(|s| s.concerns),
        sighting,
    };
    Ok((report, object_versions))
}

/// A report holding only its marking, from a body this node checked when it stored it.
pub(crate) fn marking(view: pb::ReportMarking) -> Result<Report, InvalidReport> {
    let kind = ReportKind::from_proto(view.kind)
        .ok_or_else(|| invalid("kind", unknown_number("report kind", view.kind)))?;
    let tlp = Tlp::from_proto(view.tlp)
        .ok_or_else(|| invalid("tlp", unknown_number("TLP label", view.tlp)))?;
    let distribution = validate_distribution(view.distribution.as_ref(), tlp)?;
    let recipients = view
        .recipients
        .iter()
        .enumerate()
        .map(|(i, r)| {
            OrgPublicKey::from_checked(r)
                .map_err(|e| invalid(format!("recipients[{i}]"), e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Report {
        kind,
        title: String::new(),
        summary: String::new(),
        severity: None,
        confidence: 0,
        created_ms: view.created_ms,
        tlp,
        distribution,
        recipients,
        tags: validate_labels("tags", &view.tags)?,
        sectors: validate_labels("sectors", &view.sectors)?,
        regions: validate_labels("regions", &view.regions)?,
        paris_call_principles: Vec::new(),
        indicators: Vec::new(),
        supersedes: None,
        retracts: optional_id("retracts", &view.retracts)?,
        disclosure_digests: Vec::new(),
        stix_objects: Vec::new(),
        misp_event: None,
        language: None,
        observance: None,
        coding: None,
        directory_entry: None,
        concerns: view
            .sighting
            .map(|s| crate::sighting::concerns_of(&s.report, &s.report_author))
            .transpose()
            .map_err(|(field, reason)| invalid(format!("sighting.{field}"), reason))?,
        sighting: None,
    })
}

/// Longest language tag taken (RFC 5646 asks implementations to take at least 35 characters).
pub const MAX_LANGUAGE_TAG: usize = 35;

/// A report's language: empty for none, otherwise a well-formed BCP 47 tag (RFC 5646).
pub fn validate_language(text: &str) -> Result<Option<String>, InvalidReport> {
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_LANGUAGE_TAG {
        return Err(invalid(
            "language",
            format!("longer than {MAX_LANGUAGE_TAG} characters"),
        ));
    }
    oxilangtag::LanguageTag::parse(text).map_err(|e| {
        invalid(
            "language",
            format!("{text:?} is not a BCP 47 language tag ({e}): write it as en, fr or pt-BR"),
        )
    })?;
    Ok(Some(text.to_string()))
}

fn unknown_number(what: &str, n: i32) -> String {
    if n == 0 {
        format!("no {what} given")
    } else {
        format!("unknown {what} (wire value {n}); this node may be older than the author's")
    }
}

fn validate_distribution(
    distribution: Option<&pb::Distribution>,
    tlp: Tlp,
) -> Result<Distribution, InvalidReport> {
    let d = distribution.ok_or_else(|| invalid("distribution", "no distribution scope given"))?;
    let scope = Scope::from_proto(d.scope).ok_or_else(|| {
        invalid(
            "distribution.scope",
            unknown_number("distribution scope", d.scope),
        )
    })?;
    match scope {
        Scope::Community if !(1..=MAX_HOP_LIMIT).contains(&d.hop_limit) => {
            return Err(invalid(
                "distribution.hop_limit",
                format!(
                    "a community report needs a hop limit from 1 to {MAX_HOP_LIMIT}, found {}",
                    d.hop_limit
                ),
            ));
        }
        Scope::Community => {}
        _ if d.hop_limit != 0 => {
            return Err(invalid(
                "distribution.hop_limit",
                format!("a hop limit only applies to the community scope, not {scope}"),
            ));
        }
        _ => {}
    }
    if !tlp.relayable() && matches!(scope, Scope::Community | Scope::Unrestricted) {
        return Err(invalid(
            "distribution.scope",
            format!(
                "{} reports are never relayed, so the {scope} scope contradicts the label (use direct-peers or organisation)",
                tlp.official()
            ),
        ));
    }
    let community = match d.community.as_str() {
        "" => None,
        name => {
            crate::model::check_community_name(name)
                .map_err(|reason| invalid("distribution.community", reason))?;
            if !matches!(scope, Scope::DirectPeers | Scope::Community) {
                return Err(invalid(
                    "distribution.community",
                    format!(
                        "a report addressed to a community needs the direct-peers or community scope, not {scope}"
                    ),
                ));
            }
            Some(name.to_string())
        }
    };
    Ok(Distribution {
        scope,
        hop_limit: d.hop_limit,
        community,
    })
}

fn validate_labels(field: &str, labels: &[String]) -> Result<Vec<String>, InvalidReport> {
    if labels.len() > limits::MAX_LABELS {
        return Err(invalid(
            field,
            format!("more than {} entries", limits::MAX_LABELS),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(labels.len());
    for (i, label) in labels.iter().enumerate() {
        let normal = normalise_label(label);
        let name = || format!("{field}[{i}]");
        if normal.is_empty() {
            return Err(invalid(name(), "must not be empty"));
        }
        if normal.chars().count() > limits::MAX_LABEL_CHARS {
            return Err(invalid(
                name(),
                format!("longer than {} characters", limits::MAX_LABEL_CHARS),
            ));
        }
        if normal.chars().any(char::is_control) {
            return Err(invalid(name(), "holds a control character"));
        }
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    Ok(out)
}

/// The form in which tags, sectors and regions are compared and indexed.
pub fn normalise_label(label: &str) -> String {
    label.trim().to_lowercase()
}

fn optional_id(field: &str, bytes: &[u8]) -> Result<Option<ReportId>, InvalidReport> {
    if bytes.is_empty() {
        return Ok(None);
    }
    ReportId::from_slice(bytes).map(Some).ok_or_else(|| {
        invalid(
            field,
            format!("a report id is 32 bytes, found {}", bytes.len()),
        )
    })
}

impl Report {
    /// Whether `org` may read the report because it is named as a recipient.
    pub fn names_recipient(&self, org: &OrgPublicKey) -> bool {
        self.recipients.contains(org)
    }

    /// The other hashes this report names as of the same file as `hash` (none when it does
    /// not carry `hash`, or carries it without a file number).
    pub fn same_file_as<'a>(&'a self, hash: &'a Indicator) -> impl Iterator<Item = &'a Indicator> {
        let file = self
            .indicators
            .iter()
            .find(|i| i.file != 0 && i.kind == hash.kind && i.value == hash.value)
            .map(|i| i.file);
        self.indicators.iter().filter(move |i| {
            file.is_some_and(|f| i.file == f) && !(i.kind == hash.kind && i.value == hash.value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> pb::ReportBody {
        pb::ReportBody {
            nonce: vec![7; 16],
            kind: ReportKind::Indicator.to_proto(),
            title: "Phishing wave".into(),
            created_ms: 1_700_000_000_000,
            tlp: Tlp::Green.to_proto(),
            distribution: Some(pb::Distribution {
                scope: Scope::Community.to_proto(),
                hop_limit: 2,
                community: String::new(),
            }),
            confidence: 80,
            ..Default::default()
        }
    }

    fn field_of(b: pb::ReportBody) -> String {
        validate_body(&b).unwrap_err().field
    }

    #[test]
    fn a_sighting_is_carried_only_by_a_sighting_report_and_its_marking_names_the_report() {
        use rand::SeedableRng;
        let author = crate::OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(5)).public();
        let sighting = pb::Sighting {
            report: vec![9; 32],
            report_author: author.as_bytes().to_vec(),
            kind: crate::SightingKind::FalsePositive.to_proto(),
            ..Default::default()
        };
        let sighting_body = pb::ReportBody {
            kind: ReportKind::Sighting.to_proto(),
            sighting: Some(sighting.clone()),
            ..body()
        };
        let read = validate_body(&sighting_body).unwrap();
        let concerns = read.concerns.unwrap();
        assert_eq!(concerns.report, ReportId::from_bytes([9; 32]));
        assert_eq!(concerns.author, author);
        assert_eq!(read.sighting.unwrap().concerns, concerns);
        let marking_only = marking(pb::ReportMarking {
            kind: ReportKind::Sighting.to_proto(),
            created_ms: 1_700_000_000_000,
            tlp: Tlp::Green.to_proto(),
            distribution: sighting_body.distribution.clone(),
            sighting: Some(pb::SightingMarking {
                report: vec![9; 32],
                report_author: author.as_bytes().to_vec(),
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(marking_only.concerns, Some(concerns));
        assert_eq!(
            field_of(pb::ReportBody {
                kind: ReportKind::Sighting.to_proto(),
                ..body()
            }),
            "sighting"
        );
        assert_eq!(
            field_of(pb::ReportBody {
                sighting: Some(sighting.clone()),
                ..body()
            }),
            "sighting"
        );
        assert_eq!(
            field_of(pb::ReportBody {
                indicators: vec![pb::Indicator {
                    r#type: crate::IndicatorType::Ipv4.to_proto(),
                    value: "203.0.113.7".into(),
                    ..Default::default()
                }],
                ..sighting_body.clone()
            }),
            "sighting"
        );
        assert_eq!(
            field_of(pb::ReportBody {
                sighting: Some(pb::Sighting {
                    kind: 0,
                    ..sighting
                }),
                ..sighting_body
            }),
            "sighting.kind"
        );
    }

    #[test]
    fn a_minimal_body_is_valid() {
        let r = validate_body(&body()).unwrap();
        assert_eq!(r.tlp, Tlp::Green);
        assert_eq!(r.severity, None);
    }

    #[test]
    fn each_rule_names_its_field() {
        assert_eq!(
            field_of(pb::ReportBody {
                nonce: vec![],
                ..body()
            }),
            "nonce"
        );
        assert_eq!(field_of(pb::ReportBody { kind: 0, ..body() }), "kind");
        assert_eq!(
            field_of(pb::ReportBody {
                title: " ".into(),
                ..body()
            }),
            "title"
        );
        assert_eq!(field_of(pb::ReportBody { tlp: 42, ..body() }), "tlp");
        assert_eq!(
            field_of(pb::ReportBody {
                confidence: 101,
                ..body()
            }),
            "confidence"
        );
        assert_eq!(
            field_of(pb::ReportBody {
                severity: 9,
                ..body()
            }),
            "severity"
        );
        assert_eq!(
            field_of(pb::ReportBody {
                created_ms: 0,
                ..body()
            }),
            "created"
        );
        assert_eq!(
            field_of(pb::ReportBody {
                paris_call_principles: vec![10],
                ..body()
            }),
            "paris_call_principles[0]"
        );
        assert_eq!(
            field_of(pb::ReportBody {
                tags: vec!["ok".into(), "".into()],
                ..body()
            }),
            "tags[1]"
        );
        assert_eq!(
            field_of(pb::ReportBody {
                supersedes: vec![1, 2, 3],
                ..body()
            }),
            "supersedes"
        );
        assert_eq!(
            field_of(pb::ReportBody {
                retracts: vec![1; 32],
                ..body()
            }),
            "retracts"
        );
        assert_eq!(
            field_of(pb::ReportBody {
                distribution: None,
                ..body()
            }),
            "distribution"
        );
    }

    #[test]
    fn indicator_errors_name_index_and_value() {
        let b = pb::ReportBody {
            indicators: vec![
                pb::Indicator {
                    r#type: IndicatorType::Domain.to_proto(),
                    value: "ok.example".into(),
                    ..Default::default()
                },
                pb::Indicator {
                    r#type: IndicatorType::Ipv4.to_proto(),
                    value: "999.1.1.1".into(),
                    ..Default::default()
                },
            ],
            ..body()
        };
        let err = validate_body(&b).unwrap_err();
        assert_eq!(err.field, "indicators[1].value");
        assert!(err.reason.contains("999.1.1.1"), "{err}");
    }

    #[test]
    fn only_hashes_name_a_file_and_a_file_has_one_hash_of_each_algorithm() {
        let hash = |kind: IndicatorType, fill: &str, file: u32| pb::Indicator {
            r#type: kind.to_proto(),
            value: fill.repeat(match kind {
                IndicatorType::Md5 => 32,
                IndicatorType::Sha1 => 40,
                _ => 64,
            }),
            file,
            ..Default::default()
        };
        let good = pb::ReportBody {
            indicators: vec![
                hash(IndicatorType::Md5, "a", 1),
                hash(IndicatorType::Sha256, "b", 1),
                hash(IndicatorType::Md5, "c", 2),
                hash(IndicatorType::Sha1, "d", 0),
            ],
            ..body()
        };
        let report = validate_body(&good).unwrap();
        let md5 = &report.indicators[0];
        let others: Vec<&Indicator> = report.same_file_as(md5).collect();
        assert_eq!(others, vec![&report.indicators[1]]);
        assert_eq!(report.same_file_as(&report.indicators[3]).count(), 0);
        let twice = pb::ReportBody {
            indicators: vec![
                hash(IndicatorType::Md5, "a", 1),
                hash(IndicatorType::Md5, "c", 1),
            ],
            ..body()
        };
        let err = validate_body(&twice).unwrap_err();
        assert_eq!(err.field, "indicators[1].file");
        assert!(err.reason.contains("two md5 hashes"), "{err}");
        let domain = pb::ReportBody {
            indicators: vec![pb::Indicator {
                r#type: IndicatorType::Domain.to_proto(),
                value: "evil.example".into(),
                file: 3,
                ..Default::default()
            }],
            ..body()
        };
        let err = validate_body(&domain).unwrap_err();
        assert_eq!(err.field, "indicators[0].file");
    }

    #[test]
    fn indicators_must_be_signed_in_canonical_form() {
        let b = pb::ReportBody {
            indicators: vec![pb::Indicator {
                r#type: IndicatorType::Domain.to_proto(),
                value: "Evil.Example".into(),
                ..Default::default()
            }],
            ..body()
        };
        let err = validate_body(&b).unwrap_err();
        assert_eq!(err.field, "indicators[0].value");
        assert!(
            err.reason.contains("not in canonical form") && err.reason.contains("evil.example"),
            "{err}"
        );
        // A body this node stored is trusted to be canonical already.
        assert!(validate(b.clone(), Checks::StoredHere).is_ok());
    }

    #[test]
    fn tlp_and_scope_must_agree() {
        let amber_community = pb::ReportBody {
            tlp: Tlp::Amber.to_proto(),
            ..body()
        };
        let err = validate_body(&amber_community).unwrap_err();
        assert_eq!(err.field, "distribution.scope");
        assert!(err.reason.contains("TLP:AMBER reports are never relayed"));
        let red_without_recipients = pb::ReportBody {
            tlp: Tlp::Red.to_proto(),
            distribution: Some(pb::Distribution {
                scope: Scope::DirectPeers.to_proto(),
                hop_limit: 0,
                community: String::new(),
            }),
            ..body()
        };
        assert_eq!(field_of(red_without_recipients), "recipients");
        let no_hops = pb::ReportBody {
            distribution: Some(pb::Distribution {
                scope: Scope::Community.to_proto(),
                hop_limit: 0,
                community: String::new(),
            }),
            ..body()
        };
        assert_eq!(field_of(no_hops), "distribution.hop_limit");
    }

    #[test]
    fn communities_are_named_and_need_a_sharing_scope() {
        let with = |scope: Scope, hops: u32, community: &str| pb::ReportBody {
            distribution: Some(pb::Distribution {
                scope: scope.to_proto(),
                hop_limit: hops,
                community: community.into(),
            }),
            ..body()
        };
        let ok = validate_body(&with(Scope::Community, 2, "finance-isac")).unwrap();
        assert_eq!(ok.distribution.community.as_deref(), Some("finance-isac"));
        assert_eq!(
            field_of(with(Scope::Community, 2, "Finance ISAC")),
            "distribution.community"
        );
        assert_eq!(
            field_of(with(Scope::Unrestricted, 0, "finance-isac")),
            "distribution.community"
        );
        assert_eq!(
            validate_body(&with(Scope::Community, 2, ""))
                .unwrap()
                .distribution
                .community,
            None
        );
    }

    #[test]
    fn labels_are_normalised_and_deduplicated() {
        let b = pb::ReportBody {
            tags: vec!["Ransomware".into(), "ransomware ".into()],
            ..body()
        };
        assert_eq!(validate_body(&b).unwrap().tags, vec!["ransomware"]);
    }

    #[test]
    fn report_ids_parse_and_print_as_hex() {
        let id = ReportId::from_bytes([0xab; 32]);
        assert_eq!(id.to_string().parse::<ReportId>().unwrap(), id);
        assert!("xyz".parse::<ReportId>().is_err());
    }
}
