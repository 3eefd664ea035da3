//! Writing reports: a draft an analyst fills in (from flags, TOML or JSON), signed into a
//! report; new versions; retractions.

use cairn_proto::v1 as pb;
use prost::Message;
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};

use crate::envelope::{RevealedDisclosure, VerifiedReport};
use crate::identity::{OrgPublicKey, ReportSigner};
use crate::indicator::Indicator;
use crate::model::{DisclosureField, IndicatorType, ReportKind, Scope, Severity, Tlp};
use crate::report::{
    Checks, InvalidReport, ReportId, limits, signed_message, validate_reading_objects,
};

/// A draft's disclosures, before they are salted: each field and its value.
type Disclosures<'a> = Vec<(DisclosureField, &'a str)>;

/// Hop limit given to community reports when the author does not choose one.
pub const DEFAULT_COMMUNITY_HOPS: u32 = 2;

/// What an analyst writes. Everything is checked when it is signed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportDraft {
    /// What the report is about.
    pub kind: Option<ReportKind>,
    /// One line.
    #[serde(default)]
    pub title: String,
    /// Free text.
    #[serde(default)]
    pub summary: String,
    /// How serious.
    pub severity: Option<Severity>,
    /// 0-100; 50 when not given.
    pub confidence: Option<u8>,
    /// Creation time; now when not given.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created: Option<time::OffsetDateTime>,
    /// TLP 2.0 label.
    pub tlp: Option<Tlp>,
    /// Distribution scope; when not given: unrestricted for CLEAR (community when addressed to
    /// one), community for GREEN, direct peers for AMBER, AMBER+STRICT and RED.
    pub scope: Option<Scope>,
    /// Hop limit for the community scope (1-16); 2 when not given.
    pub hop_limit: Option<u32>,
    /// The community (sharing group) the report is addressed to; it never leaves it.
    pub community: Option<String>,
    /// Organisations named as recipients (TLP:RED).
    #[serde(default)]
    pub recipients: Vec<OrgPublicKey>,
    /// Free labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Sectors concerned.
    #[serde(default)]
    pub sectors: Vec<String>,
    /// Regions concerned.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Paris Call principles concerned (1-9).
    #[serde(default)]
    pub paris_call_principles: Vec<u32>,
    /// Observables.
    #[serde(default)]
    pub indicators: Vec<IndicatorDraft>,
    /// The earlier report (by this organisation) that this one replaces.
    pub supersedes: Option<ReportId>,
    /// Who was attacked: travels as a selective disclosure.
    pub victim: Option<String>,
    /// Internal notes: travel as a selective disclosure.
    pub internal_notes: Option<String>,
    /// Raw evidence, one disclosure each.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// STIX 2.1 objects carried exactly as their source sent them (JSON texts); set by
    /// imports, never read from an analyst's draft file.
    #[serde(skip)]
    pub stix_objects: Vec<String>,
    /// A MISP event (or part of one) carried exactly as its source sent it; set by imports.
    #[serde(skip)]
    pub misp_event: Option<crate::misp::MispEventPart>,
    /// The language of the title and summary, as a BCP 47 tag (`en`, `fr`, `pt-BR`).
    pub language: Option<String>,
    /// For observance figures (kind `observance`): the counts, made fit to publish
    /// ([`crate::observance::publishable`]).
    #[serde(skip)]
    pub observance: Option<crate::observance::Aggregate>,
    /// For incidents: the norms concerned, countries, operation, impact and attribution
    /// claims (docs/VOCABULARIES.md).
    pub coding: Option<crate::coding::IncidentCoding>,
    /// For directory entries (kind `directory-entry`): the entry (docs/VOCABULARIES.md).
    pub directory_entry: Option<crate::directory::DirectoryEntry>,
    /// For sightings (kind `sighting`): what was seen of which report
    /// ([`crate::sighting::check_marking`] says how it may be marked).
    #[serde(skip)]
    pub sighting: Option<crate::sighting::Sighting>,
}

/// An observable as written in a draft.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorDraft {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    /// Its value, in any accepted spelling.
    pub value: String,
    /// Optional free text.
    #[serde(default)]
    pub description: String,
    /// For a hash, the number of the file it is a hash of (the draft's other hashes with this
    /// number are of the same file); 0 when not said.
    #[serde(default)]
    pub file: u32,
    /// From when its author holds it good for detection (RFC 3339); absent: from the report's
    /// creation.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub valid_from: Option<time::OffsetDateTime>,
    /// From when it is no longer to be used (RFC 3339); absent: not said.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub valid_until: Option<time::OffsetDateTime>,
}

impl IndicatorDraft {
    /// Its validity window in ms since the Unix epoch, 0 where not said.
    pub fn validity_ms(&self) -> (i64, i64) {
        let ms = |t: Option<time::OffsetDateTime>| {
            t.map_or(0, |t| {
                i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
            })
        };
        (ms(self.valid_from), ms(self.valid_until))
    }

    /// The same observable valid from `valid_from_ms` until `valid_until_ms` (0: not said).
    pub fn set_validity_ms(&mut self, valid_from_ms: i64, valid_until_ms: i64) {
        let time = |ms: i64| {
            (ms != 0)
                .then(|| crate::when::offset_date_time(ms))
                .flatten()
        };
        self.valid_from = time(valid_from_ms);
        self.valid_until = time(valid_until_ms);
    }
}

impl From<Indicator> for IndicatorDraft {
    fn from(i: Indicator) -> Self {
        let mut draft = IndicatorDraft {
            kind: i.kind,
            value: i.value,
            description: i.description,
            file: i.file,
            valid_from: None,
            valid_until: None,
        };
        draft.set_validity_ms(i.valid_from_ms, i.valid_until_ms);
        draft
    }
}

/// How far ahead of this node's clock a draft may be dated.
pub const MAX_CLOCK_AHEAD: time::Duration = time::Duration::hours(24);

fn missing(field: &str, hint: &str) -> InvalidReport {
    InvalidReport {
        field: field.to_string(),
        reason: format!("is required ({hint})"),
    }
}

impl ReportDraft {
    /// Validates the draft, signs it with the organisation key (or a node key it authorised),
    /// and returns the report.
    pub fn sign<'k, R: RngCore + CryptoRng>(
        &self,
        signer: impl Into<ReportSigner<'k>>,
        rng: &mut R,
    ) -> Result<VerifiedReport, InvalidReport> {
        self.sign_reading(signer.into(), rng, None)
    }

    /// [`ReportDraft::sign`], with what the caller already read of the objects the draft
    /// carries (`carried`: of exactly `stix_objects`, in order; read again when it is not).
    fn sign_reading<R: RngCore + CryptoRng>(
        &self,
        signer: ReportSigner<'_>,
        rng: &mut R,
        carried: Option<crate::stix::CarriedRead>,
    ) -> Result<VerifiedReport, InvalidReport> {
        let (body, disclosures) = self.body(rng)?;
        sign_body(body, &disclosures, signer, rng, carried)
    }

    /// The report this draft would become, checked as signing checks it (every field and
    /// disclosure), without signing it: what a publisher previews before deciding to sign.
    /// Only the signed envelope's size is left for signing to check.
    pub fn preview(&self) -> Result<crate::report::Report, InvalidReport> {
        let mut rng = rand::rngs::OsRng;
        let (mut body, disclosures) = self.body(&mut rng)?;
        reveal(&mut body, &disclosures, &mut rng)?;
        Ok(validate_reading_objects(body, Checks::All, None)?.0)
    }

    /// The report body this draft makes (its nonce drawn from `rng`), with the disclosures
    /// still to be salted and digested.
    fn body<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
    ) -> Result<(pb::ReportBody, Disclosures<'_>), InvalidReport> {
        let kind = self.kind.ok_or_else(|| {
            missing(
                "kind",
                "incident, indicator, advisory, vulnerability, threat-actor or campaign",
            )
        })?;
        if kind == ReportKind::Retraction {
            return Err(InvalidReport {
                field: "kind".into(),
                reason: "retractions are made with the retract command, not written as drafts"
                    .into(),
            });
        }
        let tlp = self
            .tlp
            .ok_or_else(|| missing("tlp", "clear, green, amber, amber+strict or red"))?;
        // A report addressed to a community stays in it: a CLEAR one travels in the community
        // unless its author says otherwise.
        let scope = self
            .scope
            .unwrap_or(match (&self.community, tlp.default_scope()) {
                (Some(_), Scope::Unrestricted) => Scope::Community,
                (_, scope) => scope,
            });
        let hop_limit = match (scope, self.hop_limit) {
            (Scope::Community, hops) => hops.unwrap_or(DEFAULT_COMMUNITY_HOPS),
            (_, None) => 0,
            (_, Some(hops)) => hops,
        };
        let now = time::OffsetDateTime::now_utc();
        let created = self.created.unwrap_or(now);
        // A report dated in the future would be held back from partners until then (an
        // embargo counts from creation), and everything after it with it.
        if created > now + MAX_CLOCK_AHEAD {
            return Err(InvalidReport {
                field: "created".into(),
                reason: format!(
                    "{created} is in the future: a report is dated when it was written (at most {} hours ahead, for clocks that differ)",
                    MAX_CLOCK_AHEAD.whole_hours()
                ),
            });
        }
        let created_ms = i64::try_from(created.unix_timestamp_nanos() / 1_000_000).unwrap_or(-1);
        let mut indicators = Vec::with_capacity(self.indicators.len());
        let mut seen = std::collections::HashSet::with_capacity(self.indicators.len());
        for (i, ind) in self.indicators.iter().enumerate() {
            let (valid_from_ms, valid_until_ms) = ind.validity_ms();
            crate::indicator::check_validity(valid_from_ms, valid_until_ms, created_ms).map_err(
                |(field, reason)| InvalidReport {
                    field: format!("indicators[{i}].{field}"),
                    reason,
                },
            )?;
            let mut checked = Indicator::new(ind.kind, &ind.value, &ind.description)
                .map_err(|e| InvalidReport {
                    field: format!("indicators[{i}].value"),
                    reason: e.to_string(),
                })?
                .of_file(ind.file);
            checked.valid_from_ms = valid_from_ms;
            checked.valid_until_ms = valid_until_ms;
            if seen.insert(checked.clone()) {
                indicators.push(checked);
            }
        }
        let mut disclosures: Vec<(DisclosureField, &str)> = Vec::new();
        if let Some(v) = &self.victim {
            disclosures.push((DisclosureField::Victim, v));
        }
        if let Some(v) = &self.internal_notes {
            disclosures.push((DisclosureField::InternalNotes, v));
        }
        for v in &self.evidence {
            disclosures.push((DisclosureField::Evidence, v));
        }
        let mut principles = self.paris_call_principles.clone();
        principles.sort_unstable();
        principles.dedup();
        let body = pb::ReportBody {
            nonce: random_bytes(rng).to_vec(),
            kind: kind.to_proto(),
            title: self.title.trim().to_string(),
            summary: self.summary.clone(),
            severity: self.severity.map_or(0, Severity::to_proto),
            confidence: u32::from(self.confidence.unwrap_or(50)),
            created_ms,
            tlp: tlp.to_proto(),
            distribution: Some(pb::Distribution {
                scope: scope.to_proto(),
                hop_limit,
                community: self.community.clone().unwrap_or_default(),
            }),
            recipients: self
                .recipients
                .iter()
                .map(|r| r.as_bytes().to_vec())
                .collect(),
            tags: self.tags.clone(),
            sectors: self.sectors.clone(),
            regions: self.regions.clone(),
            paris_call_principles: principles,
            indicators: indicators
                .iter()
                .map(|i| pb::Indicator {
                    r#type: i.kind.to_proto(),
                    value: i.value.clone(),
                    description: i.description.clone(),
                    file: i.file,
                    valid_from_ms: i.valid_from_ms,
                    valid_until_ms: i.valid_until_ms,
                })
                .collect(),
            supersedes: self
                .supersedes
                .map(|id| id.as_bytes().to_vec())
                .unwrap_or_default(),
            retracts: Vec::new(),
            disclosure_digests: Vec::new(),
            stix_objects: self.stix_objects.clone(),
            misp_event: self
                .misp_event
                .as_ref()
                .map(crate::misp::MispEventPart::to_proto),
            language: self.language.clone().unwrap_or_default(),
            observance: self
                .observance
                .as_ref()
                .map(crate::observance::Aggregate::to_proto),
            coding: self
                .coding
                .as_ref()
                .filter(|c| !c.is_empty())
                .map(|c| c.canonical().to_proto()),
            directory_entry: self
                .directory_entry
                .as_ref()
                .map(|e| e.canonical().to_proto()),
            sighting: self
                .sighting
                .as_ref()
                .map(crate::sighting::Sighting::to_proto),
        };
        Ok((body, disclosures))
    }

    /// Signs a draft imported from another platform. Its random parts (the nonce, disclosure
    /// salts) are drawn from a generator seeded by a hash of the organisation's secret key and
    /// `source` (the source object's id), so importing the same source object again gives the
    /// very same signed report, which the store then keeps once (provided the draft carries
    /// its source's time: a draft without `created` is signed with the current time). Outsiders,
    /// without the key, still cannot predict them.
    pub fn sign_imported<'k>(
        &self,
        signer: impl Into<ReportSigner<'k>>,
        source: &str,
    ) -> Result<VerifiedReport, InvalidReport> {
        self.sign_imported_read(signer, source, None)
    }

    /// [`ReportDraft::sign_imported`], with what the import read of the objects the draft
    /// carries (of exactly `stix_objects`, in order), so that they are not read again.
    pub fn sign_imported_read<'k>(
        &self,
        signer: impl Into<ReportSigner<'k>>,
        source: &str,
        carried: Option<crate::stix::CarriedRead>,
    ) -> Result<VerifiedReport, InvalidReport> {
        use rand::SeedableRng;
        let signer = signer.into();
        let seed =
            signer.derive_secret(b"cairn/imported-report-randomness/v1\0", source.as_bytes());
        self.sign_reading(signer, &mut rand::rngs::StdRng::from_seed(seed), carried)
    }

    /// A draft for a new version of `previous`, with its content as a starting point. The
    /// disclosures are not copied: say them again if the new version should carry them.
    pub fn new_version_of(previous: &VerifiedReport) -> ReportDraft {
        let r = previous.report();
        ReportDraft {
            kind: Some(r.kind),
            title: r.title.clone(),
            summary: r.summary.clone(),
            severity: r.severity,
            confidence: Some(r.confidence),
            created: None,
            tlp: Some(r.tlp),
            scope: Some(r.distribution.scope),
            hop_limit: Some(r.distribution.hop_limit),
            community: r.distribution.community.clone(),
            recipients: r.recipients.clone(),
            tags: r.tags.clone(),
            sectors: r.sectors.clone(),
            regions: r.regions.clone(),
            paris_call_principles: r
                .paris_call_principles
                .iter()
                .map(|p| u32::from(*p))
                .collect(),
            indicators: r
                .indicators
                .iter()
                .cloned()
                .map(IndicatorDraft::from)
                .collect(),
            supersedes: Some(previous.id()),
            victim: None,
            internal_notes: None,
            evidence: Vec::new(),
            stix_objects: r.stix_objects.clone(),
            misp_event: r.misp_event.clone(),
            language: r.language.clone(),
            observance: r.observance.clone(),
            coding: r.coding.clone(),
            directory_entry: r.directory_entry.clone(),
            sighting: r.sighting.clone(),
        }
    }
}

/// Why a retraction could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetractError {
    /// Only the author can withdraw a report.
    #[error(
        "report {id} was written by organisation {author}, not by this one: only its author can retract it"
    )]
    NotAuthor {
        /// The report.
        id: ReportId,
        /// Its author.
        author: OrgPublicKey,
    },
    /// A retraction cannot itself be retracted.
    #[error("report {0} is itself a retraction")]
    IsRetraction(ReportId),
    /// The retraction failed validation.
    #[error(transparent)]
    Invalid(#[from] InvalidReport),
}

/// Signs a tombstone withdrawing `target`. It carries the target's TLP, scope and recipients,
/// so it reaches exactly the organisations the target could reach.
pub fn retract<'k, R: RngCore + CryptoRng>(
    target: &VerifiedReport,
    reason: &str,
    signer: impl Into<ReportSigner<'k>>,
    rng: &mut R,
) -> Result<VerifiedReport, RetractError> {
    let signer = signer.into();
    if target.author() != signer.author() {
        return Err(RetractError::NotAuthor {
            id: target.id(),
            author: target.author(),
        });
    }
    let r = target.report();
    if r.kind == ReportKind::Retraction {
        return Err(RetractError::IsRetraction(target.id()));
    }
    let body = pb::ReportBody {
        nonce: random_bytes(rng).to_vec(),
        kind: ReportKind::Retraction.to_proto(),
        title: format!("Retraction of report {}", target.id().short()),
        summary: reason.to_string(),
        severity: 0,
        confidence: u32::from(r.confidence),
        created_ms: crate::when::now_ms(),
        tlp: r.tlp.to_proto(),
        distribution: Some(pb::Distribution {
            scope: r.distribution.scope.to_proto(),
            hop_limit: r.distribution.hop_limit,
            community: r.distribution.community.clone().unwrap_or_default(),
        }),
        recipients: r.recipients.iter().map(|k| k.as_bytes().to_vec()).collect(),
        tags: Vec::new(),
        sectors: r.sectors.clone(),
        regions: r.regions.clone(),
        paris_call_principles: Vec::new(),
        indicators: Vec::new(),
        supersedes: Vec::new(),
        retracts: target.id().as_bytes().to_vec(),
        disclosure_digests: Vec::new(),
        stix_objects: Vec::new(),
        misp_event: None,
        coding: None,
        directory_entry: None,
        language: String::new(),
        observance: None,
        sighting: None,
    };
    Ok(sign_body(body, &[], signer, rng, None)?)
}

fn random_bytes<R: RngCore>(rng: &mut R) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// Salts each disclosure, adds its digest to `body`, and returns them as revealed: each checked
/// for size and emptiness.
fn reveal<R: RngCore + CryptoRng>(
    body: &mut pb::ReportBody,
    disclosures: &[(DisclosureField, &str)],
    rng: &mut R,
) -> Result<Vec<RevealedDisclosure>, InvalidReport> {
    let mut revealed = Vec::with_capacity(disclosures.len());
    for (i, (field, value)) in disclosures.iter().enumerate() {
        if value.len() > limits::MAX_DISCLOSURE_BYTES {
            return Err(InvalidReport {
                field: format!("{field}"),
                reason: format!("longer than {} bytes", limits::MAX_DISCLOSURE_BYTES),
            });
        }
        if value.trim().is_empty() {
            return Err(InvalidReport {
                field: format!("{field}"),
                reason: format!("disclosure {i} is empty"),
            });
        }
        let encoded = pb::Disclosure {
            salt: random_bytes(rng).to_vec(),
            field: field.to_proto(),
            value: value.to_string(),
        }
        .encode_to_vec();
        body.disclosure_digests
            .push(Sha256::digest(&encoded).to_vec());
        revealed.push(RevealedDisclosure {
            field: *field,
            value: value.to_string(),
            encoded,
        });
    }
    Ok(revealed)
}

fn sign_body<R: RngCore + CryptoRng>(
    mut body: pb::ReportBody,
    disclosures: &[(DisclosureField, &str)],
    signer: ReportSigner<'_>,
    rng: &mut R,
    carried: Option<crate::stix::CarriedRead>,
) -> Result<VerifiedReport, InvalidReport> {
    let revealed = reveal(&mut body, disclosures, rng)?;
    let body_bytes = body.encode_to_vec();
    let validated = validate_reading_objects(body, Checks::All, carried)?;
    let author = signer.author();
    let node_signer = signer
        .delegate_key()
        .map(|key| (key, crate::when::now_ms()));
    let id = ReportId::compute(&author, &body_bytes);
    let message = signed_message(
        cairn_proto::FORMAT_ID_SIGNED,
        author.as_bytes(),
        crate::envelope::signed_by(node_signer.as_ref()),
        &id,
        &body_bytes,
    );
    let signature = signer.sign(&message);
    let body_len = body_bytes.len();
    let envelope = pb::ReportEnvelope {
        format_version: cairn_proto::FORMAT_ID_SIGNED,
        body: body_bytes,
        author_key: author.as_bytes().to_vec(),
        signature: signature.to_bytes().to_vec(),
        disclosures: revealed.iter().map(|d| d.encoded.clone()).collect(),
        signer_key: node_signer.map(|(k, _)| k.to_vec()).unwrap_or_default(),
        signed_ms: node_signer.map_or(0, |(_, at)| at),
    }
    .encode_to_vec();
    if envelope.len() > limits::MAX_ENVELOPE_BYTES {
        return Err(InvalidReport {
            field: "report".into(),
            reason: format!(
                "the signed report would be {} bytes; at most {} are allowed (split it into several reports)",
                envelope.len(),
                limits::MAX_ENVELOPE_BYTES
            ),
        });
    }
    Ok(VerifiedReport::from_parts(
        id,
        author,
        node_signer,
        validated,
        envelope,
        body_len,
        revealed,
    ))
}
