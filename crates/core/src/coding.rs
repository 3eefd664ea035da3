//! Incidents coded for norms observance: the UN GGE 2015 norms an incident concerns, the
//! countries affected, the kind of operation, its impact and the attribution claims made about
//! it. Every vocabulary is closed and listed in docs/VOCABULARIES.md; [`IncidentCoding`] is
//! the one validated form, read from signed bytes ([`IncidentCoding::from_proto`]) and written
//! into them ([`IncidentCoding::to_proto`]).

use cairn_proto::v1 as pb;

/// A term that is not in its vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{term:?} is not {what}: one of {known}")]
pub struct UnknownTerm {
    /// What was given.
    pub term: String,
    /// What it should have been ("a UN GGE norm").
    pub what: &'static str,
    /// The terms known, comma separated.
    pub known: String,
}

/// A closed vocabulary: an enum whose values are written as short lower-case terms.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $($(#[$vmeta:meta])* $variant:ident = $term:literal, $title:literal;)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every term, in the vocabulary's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// What a value of this vocabulary is, for messages.
            pub const WHAT: &'static str = $what;

            /// How it is written.
            pub fn term(self) -> &'static str {
                match self {
                    $($name::$variant => $term,)+
                }
            }

            /// What it means, in a few words.
            pub fn title(self) -> &'static str {
                match self {
                    $($name::$variant => $title,)+
                }
            }

            /// Reads a term, exactly as it is written.
            pub fn from_term(term: &str) -> Result<$name, UnknownTerm> {
                match term {
                    $($term => Ok($name::$variant),)+
                    _ => Err(UnknownTerm {
                        term: term.to_string(),
                        what: $what,
                        known: [$($term),+].join(", "),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.term())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownTerm;
            fn from_str(text: &str) -> Result<$name, UnknownTerm> {
                $name::from_term(text.trim())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.term())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let text = String::deserialize(d)?;
                $name::from_term(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use vocabulary;

vocabulary! {
    /// The eleven voluntary norms of responsible state behaviour of the 2015 report of the UN
    /// Group of Governmental Experts (A/70/174, paragraph 13), by their letter.
    GgeNorm, "a UN GGE norm (A/70/174 §13)" {
        A = "a", "Cooperate to increase stability and security in the use of ICTs";
        B = "b", "Consider all relevant information when ICT incidents occur";
        C = "c", "Do not knowingly allow territory to be used for wrongful acts using ICTs";
        D = "d", "Cooperate to exchange information and prosecute criminal and terrorist use of ICTs";
        E = "e", "Respect human rights, including privacy, in the use of ICTs";
        F = "f", "Do not conduct or support ICT activity that damages critical infrastructure";
        G = "g", "Protect critical infrastructure from ICT threats";
        H = "h", "Respond to requests for assistance from states whose critical infrastructure is attacked";
        I = "i", "Ensure the integrity of the supply chain";
        J = "j", "Encourage responsible reporting of ICT vulnerabilities";
        K = "k", "Do not harm emergency response teams (CERTs/CSIRTs)";
    }
}

vocabulary! {
    /// What kind of operation an incident was.
    Operation, "a kind of operation" {
        Espionage = "espionage", "Access to information kept for intelligence";
        DataTheft = "data-theft", "Data taken for gain (not intelligence)";
        HackAndLeak = "hack-and-leak", "Data taken and published";
        Disruption = "disruption", "Services or systems made unavailable for a time";
        Destruction = "destruction", "Data or systems destroyed (wipers, physical damage)";
        Ransomware = "ransomware", "Data encrypted or taken for a ransom";
        Extortion = "extortion", "Threats to leak or disrupt unless paid";
        DenialOfService = "denial-of-service", "Services flooded";
        Defacement = "defacement", "Public content replaced";
        InfluenceOperation = "influence-operation", "Information manipulated to sway opinion";
        FinancialTheft = "financial-theft", "Money or assets stolen";
        Surveillance = "surveillance", "People watched (spyware, intercepts)";
        SupplyChainCompromise = "supply-chain-compromise", "A supplier compromised to reach its customers";
        PrePositioning = "pre-positioning", "Access gained and kept for later use";
    }
}

vocabulary! {
    /// How severe an incident's consequences were, least first.
    ImpactLevel, "an impact level" {
        None = "none", "No consequence observed";
        Minor = "minor", "Limited to a few systems or people, quickly recovered";
        Moderate = "moderate", "One organisation's operations affected";
        Significant = "significant", "Several organisations or an essential service affected";
        Severe = "severe", "A sector or a country affected, or lives at risk";
    }
}

vocabulary! {
    /// What kind of harm an incident did.
    ImpactKind, "a kind of impact" {
        Confidentiality = "confidentiality", "Information disclosed";
        Integrity = "integrity", "Information or systems altered";
        Availability = "availability", "Services or information unavailable";
        PhysicalDamage = "physical-damage", "Equipment or infrastructure damaged";
        FinancialLoss = "financial-loss", "Money lost";
        HumanHarm = "human-harm", "People's health or safety harmed";
        HumanRights = "human-rights", "Rights infringed (privacy, expression, assembly)";
        Political = "political", "Institutions or elections affected";
    }
}

vocabulary! {
    /// What kind of actor an attribution names (STIX 2.1 threat-actor-type-ov).
    ActorType, "an actor type (STIX threat-actor-type-ov)" {
        Activist = "activist", "Activist or hacktivist";
        Competitor = "competitor", "Competitor";
        CrimeSyndicate = "crime-syndicate", "Organised crime";
        Criminal = "criminal", "Criminal";
        Hacker = "hacker", "Hacker";
        InsiderAccidental = "insider-accidental", "Insider, by accident";
        InsiderDisgruntled = "insider-disgruntled", "Insider, on purpose";
        NationState = "nation-state", "A state or its agencies";
        Sensationalist = "sensationalist", "Sensationalist";
        Spy = "spy", "Spy";
        Terrorist = "terrorist", "Terrorist";
        Unknown = "unknown", "Unknown";
    }
}

vocabulary! {
    /// Who makes an attribution claim.
    ClaimantType, "a claimant type" {
        Government = "government", "A government or its agencies";
        InternationalOrganisation = "international-organisation", "An international organisation";
        PrivateSector = "private-sector", "A company (security vendor, victim)";
        CivilSociety = "civil-society", "An NGO or civil-society group";
        Academia = "academia", "Researchers";
        Media = "media", "A news organisation";
        OwnClaim = "self", "The actor itself claims it";
    }
}

/// One claim of attribution.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionClaim {
    /// The actor named.
    pub attributed_to: String,
    /// What kind of actor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_type: Option<ActorType>,
    /// Who makes the claim.
    pub claimed_by: String,
    /// What kind of claimant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimant_type: Option<ClaimantType>,
    /// The claimant's confidence, 0-100.
    pub confidence: u8,
    /// The day the claim was made, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_on: Option<String>,
    /// Where the claim can be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// What observance of the norms needs to know of an incident, validated. Drafts (TOML, JSON)
/// and the JSON view of a report use this form; lists are kept in the author's order.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentCoding {
    /// The UN GGE norms concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gge_norms: Vec<GgeNorm>,
    /// The countries affected, ISO 3166-1 alpha-2, upper case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<String>,
    /// The kinds of operation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
    /// How severe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<ImpactLevel>,
    /// What harm.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub impact_kinds: Vec<ImpactKind>,
    /// Who is said to be behind it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributions: Vec<AttributionClaim>,
}

impl IncidentCoding {
    /// The coding in words, as `cairn report show` and the console show it: a label and its
    /// items for each part given (countries with their names, norms and kinds with their
    /// titles, one item per attribution claim).
    pub fn in_words(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut out = Vec::new();
        if !self.gge_norms.is_empty() {
            out.push((
                "UN GGE norms",
                self.gge_norms
                    .iter()
                    .map(|n| format!("{n}. {}", n.title()))
                    .collect(),
            ));
        }
        if !self.countries.is_empty() {
            out.push((
                "Countries",
                self.countries.iter().map(|c| country_in_words(c)).collect(),
            ));
        }
        if !self.operations.is_empty() {
            out.push((
                "Operation",
                self.operations
                    .iter()
                    .map(|o| o.title().to_string())
                    .collect(),
            ));
        }
        if let Some(level) = self.impact {
            out.push(("Impact", vec![format!("{level}: {}", level.title())]));
        }
        if !self.impact_kinds.is_empty() {
            out.push((
                "Harm",
                self.impact_kinds
                    .iter()
                    .map(|k| k.title().to_string())
                    .collect(),
            ));
        }
        if !self.attributions.is_empty() {
            out.push((
                "Attributed",
                self.attributions
                    .iter()
                    .map(AttributionClaim::in_words)
                    .collect(),
            ));
        }
        out
    }
}

/// A country code with its name: `SN (Senegal)`.
pub fn country_in_words(code: &str) -> String {
    match country_name(code) {
        Some(name) => format!("{code} ({name})"),
        None => code.to_string(),
    }
}

impl AttributionClaim {
    /// The claim in one sentence: whom, according to whom, how sure, when, where to read it.
    pub fn in_words(&self) -> String {
        let mut text = format!(
            "{}{} according to {}{}, confidence {}/100",
            self.attributed_to,
            self.actor_type
                .map(|t| format!(" ({t})"))
                .unwrap_or_default(),
            self.claimed_by,
            self.claimant_type
                .map(|t| format!(" ({t})"))
                .unwrap_or_default(),
            self.confidence
        );
        if let Some(day) = &self.claimed_on {
            text.push_str(&format!(", on {day}"));
        }
        if let Some(source) = &self.source {
            text.push_str(&format!("; {source}"));
        }
        text
    }
}

/// Most countries one incident may name.
pub const MAX_COUNTRIES: usize = 64;
/// Most attribution claims one incident may carry.
pub const MAX_ATTRIBUTIONS: usize = 32;
/// Longest actor or claimant name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest source reference, in characters.
pub const MAX_SOURCE_CHARS: usize = 1024;

/// The ISO 3166-1 alpha-2 code of a country, upper case, when `text` is one (any case).
pub fn country_code(text: &str) -> Option<String> {
    let text = text.trim();
    if text.len() != 2 {
        return None;
    }
    celes::Country::from_alpha2(text)
        .ok()
        .map(|c| c.alpha2.to_ascii_uppercase())
}

/// The English short name of a country code, when it is one.
pub fn country_name(code: &str) -> Option<&'static str> {
    celes::Country::from_alpha2(code).ok().map(|c| c.long_name)
}

/// The items in their first order, each once (what a draft's lists become when signed).
pub(crate) fn unique<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Checks a signed list of country codes: each an upper-case ISO 3166-1 alpha-2 code, given
/// once. On error, the field (`countries[2]`) and what is wrong with it.
pub(crate) fn checked_countries(given: &[String]) -> Result<Vec<String>, (String, String)> {
    let mut countries: Vec<String> = Vec::with_capacity(given.len());
    for (i, code) in given.iter().enumerate() {
        let field = format!("countries[{i}]");
        match country_code(code) {
            Some(canonical) if canonical == *code => {}
            Some(canonical) => {
                return Err((
                    field,
                    format!(
                        "{code:?} is not in canonical form (signed reports carry {canonical:?})"
                    ),
                ));
            }
            None => {
                return Err((
                    field,
                    format!("{code:?} is not an ISO 3166-1 alpha-2 country code (EE, SN, BR)"),
                ));
            }
        }
        if countries.contains(code) {
            return Err((field, format!("{code:?} is listed twice")));
        }
        countries.push(code.clone());
    }
    Ok(countries)
}

impl IncidentCoding {
    /// Whether it says nothing.
    pub fn is_empty(&self) -> bool {
        *self == IncidentCoding::default()
    }

    /// The same coding in canonical form, as a draft writer means it: country codes upper
    /// case, texts trimmed, every list without repeats. Values are checked when signed.
    pub fn canonical(&self) -> IncidentCoding {
        let countries: Vec<String> = self
            .countries
            .iter()
            .map(|c| country_code(c).unwrap_or_else(|| c.trim().to_string()))
            .collect();
        IncidentCoding {
            gge_norms: unique(self.gge_norms.iter().copied()),
            countries: unique(countries),
            operations: unique(self.operations.iter().copied()),
            impact: self.impact,
            impact_kinds: unique(self.impact_kinds.iter().copied()),
            attributions: self
                .attributions
                .iter()
                .map(|a| AttributionClaim {
                    attributed_to: a.attributed_to.trim().to_string(),
                    actor_type: a.actor_type,
                    claimed_by: a.claimed_by.trim().to_string(),
                    claimant_type: a.claimant_type,
                    confidence: a.confidence,
                    claimed_on: a.claimed_on.as_ref().map(|d| d.trim().to_string()),
                    source: a.source.as_ref().map(|s| s.trim().to_string()),
                })
                .collect(),
        }
    }

    /// Its wire form.
    pub fn to_proto(&self) -> pb::IncidentCoding {
        pb::IncidentCoding {
            gge_norms: self.gge_norms.iter().map(|n| n.term().into()).collect(),
            countries: self.countries.clone(),
            operations: self.operations.iter().map(|o| o.term().into()).collect(),
            impact: self.impact.map(|i| i.term().into()).unwrap_or_default(),
            impact_kinds: self.impact_kinds.iter().map(|k| k.term().into()).collect(),
            attributions: self
                .attributions
                .iter()
                .map(|a| pb::AttributionClaim {
                    attributed_to: a.attributed_to.clone(),
                    actor_type: a.actor_type.map(|t| t.term().into()).unwrap_or_default(),
                    claimed_by: a.claimed_by.clone(),
                    claimant_type: a.claimant_type.map(|t| t.term().into()).unwrap_or_default(),
                    confidence: u32::from(a.confidence),
                    claimed_on: a.claimed_on.clone().unwrap_or_default(),
                    source: a.source.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Reads a coding from signed bytes, checking every value: each term in its vocabulary and
    /// given once, countries as upper-case ISO 3166-1 alpha-2 codes, names and sources of the
    /// right length without control characters, confidence 0-100, dates as `YYYY-MM-DD`.
    /// On error, the field (`attributions[2].confidence`) and what is wrong with it.
    pub fn from_proto(coding: &pb::IncidentCoding) -> Result<IncidentCoding, (String, String)> {
        fn terms<T: PartialEq>(
            field: &str,
            given: &[String],
            read: impl Fn(&str) -> Result<T, UnknownTerm>,
        ) -> Result<Vec<T>, (String, String)> {
            let mut out = Vec::with_capacity(given.len());
            for (i, term) in given.iter().enumerate() {
                let value = read(term).map_err(|e| (format!("{field}[{i}]"), e.to_string()))?;
                if out.contains(&value) {
                    return Err((format!("{field}[{i}]"), format!("{term:?} is listed twice")));
                }
                out.push(value);
            }
            Ok(out)
        }
        fn optional<T>(
            field: String,
            term: &str,
            read: impl Fn(&str) -> Result<T, UnknownTerm>,
        ) -> Result<Option<T>, (String, String)> {
            if term.is_empty() {
                return Ok(None);
            }
            read(term).map(Some).map_err(|e| (field, e.to_string()))
        }
        fn text(
            field: String,
            value: &str,
            max: usize,
            required: bool,
        ) -> Result<Option<String>, (String, String)> {
            let length = value.chars().count();
            if length == 0 {
                return if required {
                    Err((field, "is required".into()))
                } else {
                    Ok(None)
                };
            }
            if length > max {
                return Err((field, format!("{length} characters; at most {max}")));
            }
            if value.chars().any(char::is_control) || value.trim() != value {
                return Err((
                    field,
                    format!(
                        "{value:?} has control characters or spaces at its ends; write it as {:?}",
                        value.trim().replace(char::is_control, " ")
                    ),
                ));
            }
            Ok(Some(value.to_string()))
        }

        let gge_norms = terms("gge_norms", &coding.gge_norms, GgeNorm::from_term)?;
        if coding.countries.len() > MAX_COUNTRIES {
            return Err((
                "countries".into(),
                format!(
                    "{} countries; at most {MAX_COUNTRIES}",
                    coding.countries.len()
                ),
            ));
        }
        let countries = checked_countries(&coding.countries)?;
        let operations = terms("operations", &coding.operations, Operation::from_term)?;
        let impact = optional("impact".into(), &coding.impact, ImpactLevel::from_term)?;
        let impact_kinds = terms("impact_kinds", &coding.impact_kinds, ImpactKind::from_term)?;
        if coding.attributions.len() > MAX_ATTRIBUTIONS {
            return Err((
                "attributions".into(),
                format!(
                    "{} attribution claims; at most {MAX_ATTRIBUTIONS}",
                    coding.attributions.len()
                ),
            ));
        }
        let mut attributions = Vec::with_capacity(coding.attributions.len());
        for (i, a) in coding.attributions.iter().enumerate() {
            let at = |what: &str| format!("attributions[{i}].{what}");
            let confidence = match u8::try_from(a.confidence) {
                Ok(c) if c <= 100 => c,
                _ => {
                    return Err((
                        at("confidence"),
                        format!("{} is not a confidence (0-100)", a.confidence),
                    ));
                }
            };
            let claimed_on = if a.claimed_on.is_empty() {
                None
            } else {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                time::Date::parse(&a.claimed_on, format).map_err(|_| {
                    (
                        at("claimed_on"),
                        format!("{:?} is not a day written YYYY-MM-DD", a.claimed_on),
                    )
                })?;
                Some(a.claimed_on.clone())
            };
            attributions.push(AttributionClaim {
                attributed_to: text(at("attributed_to"), &a.attributed_to, MAX_NAME_CHARS, true)?
                    .unwrap_or_default(),
                actor_type: optional(at("actor_type"), &a.actor_type, ActorType::from_term)?,
                claimed_by: text(at("claimed_by"), &a.claimed_by, MAX_NAME_CHARS, true)?
                    .unwrap_or_default(),
                claimant_type: optional(
                    at("claimant_type"),
                    &a.claimant_type,
                    ClaimantType::from_term,
                )?,
                confidence,
                claimed_on,
                source: text(at("source"), &a.source, MAX_SOURCE_CHARS, false)?,
            });
        }
        Ok(IncidentCoding {
            gge_norms,
            countries,
            operations,
            impact,
            impact_kinds,
            attributions,
        })
    }
}

/// Reads an attribution claim written on one line, as the command line takes it:
/// `to=NAME;by=NAME;confidence=N` and optionally `actor-type=T`, `claimant-type=T`,
/// `on=YYYY-MM-DD`, `source=TEXT`, in any order. Values are checked when the report is signed.
pub fn parse_attribution(line: &str) -> Result<AttributionClaim, String> {
    let mut claim = AttributionClaim {
        attributed_to: String::new(),
        actor_type: None,
        claimed_by: String::new(),
        claimant_type: None,
        confidence: 0,
        claimed_on: None,
        source: None,
    };
    let mut confidence = None;
    for part in line.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not KEY=VALUE"))?;
        let value = value.trim();
        match key.trim() {
            "to" => claim.attributed_to = value.to_string(),
            "by" => claim.claimed_by = value.to_string(),
            "confidence" => {
                confidence = Some(
                    value
                        .parse::<u8>()
                        .ok()
                        .filter(|c| *c <= 100)
                        .ok_or_else(|| format!("confidence {value:?} is not 0-100"))?,
                )
            }
            "actor-type" => claim.actor_type = Some(value.parse().map_err(|e| format!("{e}"))?),
            "claimant-type" => {
                claim.claimant_type = Some(value.parse().map_err(|e| format!("{e}"))?)
            }
            "on" => claim.claimed_on = Some(value.to_string()),
            "source" => claim.source = Some(value.to_string()),
            other => {
                return Err(format!(
                    "unknown key {other:?}: to, by, confidence, actor-type, claimant-type, on, source"
                ));
            }
        }
    }
    if claim.attributed_to.is_empty() || claim.claimed_by.is_empty() {
        return Err("an attribution names whom (to=...) and who says so (by=...)".into());
    }
    claim.confidence =
        confidence.ok_or("an attribution gives its confidence (confidence=0-100)")?;
    Ok(claim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim() -> pb::AttributionClaim {
        pb::AttributionClaim {
            attributed_to: "Sandworm".into(),
            actor_type: "nation-state".into(),
            claimed_by: "A national CERT".into(),
            claimant_type: "government".into(),
            confidence: 80,
            claimed_on: "2026-11-02".into(),
            source: "https://cert.example/advisory/42".into(),
        }
    }

    fn coding() -> pb::IncidentCoding {
        pb::IncidentCoding {
            gge_norms: vec!["f".into(), "g".into()],
            countries: vec!["EE".into(), "SN".into()],
            operations: vec!["disruption".into()],
            impact: "significant".into(),
            impact_kinds: vec!["availability".into(), "physical-damage".into()],
            attributions: vec![claim()],
        }
    }

    #[test]
    fn a_coding_reads_back_as_written() {
        let read = IncidentCoding::from_proto(&coding()).unwrap();
        assert_eq!(read.gge_norms, [GgeNorm::F, GgeNorm::G]);
        assert_eq!(read.impact, Some(ImpactLevel::Significant));
        assert_eq!(
            read.attributions[0].actor_type,
            Some(ActorType::NationState)
        );
        assert_eq!(read.to_proto(), coding());
        let json = serde_json::to_value(&read).unwrap();
        assert_eq!(json["gge_norms"], serde_json::json!(["f", "g"]));
        let back: IncidentCoding = serde_json::from_value(json).unwrap();
        assert_eq!(back, read);
    }

    #[test]
    fn every_bad_value_is_refused_naming_its_field() {
        type Change = fn(&mut pb::IncidentCoding);
        let cases: Vec<(Change, &str, &str)> = vec![
            (
                |c| c.gge_norms.push("l".into()),
                "gge_norms[2]",
                "not a UN GGE norm",
            ),
            (
                |c| c.gge_norms.push("f".into()),
                "gge_norms[2]",
                "listed twice",
            ),
            (
                |c| c.countries.push("ee".into()),
                "countries[2]",
                "canonical",
            ),
            (
                |c| c.countries.push("XX".into()),
                "countries[2]",
                "not an ISO 3166-1",
            ),
            (
                |c| c.countries.push("EST".into()),
                "countries[2]",
                "not an ISO 3166-1",
            ),
            (
                |c| c.countries.push("EE".into()),
                "countries[2]",
                "listed twice",
            ),
            (
                |c| c.operations.push("hacking".into()),
                "operations[1]",
                "kind of operation",
            ),
            (|c| c.impact = "huge".into(), "impact", "impact level"),
            (
                |c| c.impact_kinds.push("x".into()),
                "impact_kinds[2]",
                "kind of impact",
            ),
            (
                |c| c.attributions[0].confidence = 101,
                "attributions[0].confidence",
                "0-100",
            ),
            (
                |c| c.attributions[0].attributed_to.clear(),
                "attributions[0].attributed_to",
                "required",
            ),
            (
                |c| c.attributions[0].claimed_by = " x".into(),
                "attributions[0].claimed_by",
                "spaces",
            ),
            (
                |c| c.attributions[0].claimed_by = "a\u{0}b".into(),
                "attributions[0].claimed_by",
                "control",
            ),
            (
                |c| c.attributions[0].actor_type = "state".into(),
                "attributions[0].actor_type",
                "actor type",
            ),
            (
                |c| c.attributions[0].claimant_type = "us".into(),
                "attributions[0].claimant_type",
                "claimant",
            ),
            (
                |c| c.attributions[0].claimed_on = "2026-13-01".into(),
                "attributions[0].claimed_on",
                "YYYY-MM-DD",
            ),
            (
                |c| c.attributions[0].source = "x".repeat(1025),
                "attributions[0].source",
                "at most 1024",
            ),
            (
                |c| c.countries = vec!["EE".into(); MAX_COUNTRIES + 1],
                "countries",
                "at most",
            ),
            (
                |c| c.attributions = vec![claim(); MAX_ATTRIBUTIONS + 1],
                "attributions",
                "at most",
            ),
        ];
        for (change, field, reason) in cases {
            let mut c = coding();
            change(&mut c);
            let (f, r) = IncidentCoding::from_proto(&c).unwrap_err();
            assert_eq!(f, field, "{r}");
            assert!(r.contains(reason), "{field}: {r}");
        }
    }

    #[test]
    fn drafts_are_made_canonical_and_lines_read() {
        let draft = IncidentCoding {
            countries: vec!["ee".into(), " SN".into(), "EE".into()],
            gge_norms: vec![GgeNorm::F, GgeNorm::F],
            ..IncidentCoding::default()
        };
        let canonical = draft.canonical();
        assert_eq!(canonical.countries, ["EE", "SN"]);
        assert_eq!(canonical.gge_norms, [GgeNorm::F]);
        assert!(IncidentCoding::from_proto(&canonical.to_proto()).is_ok());
        let a = parse_attribution(
            "to=Sandworm; by=CERT-EE; confidence=70; actor-type=nation-state; on=2026-11-02",
        )
        .unwrap();
        assert_eq!(a.attributed_to, "Sandworm");
        assert_eq!(a.actor_type, Some(ActorType::NationState));
        assert_eq!(a.confidence, 70);
        for bad in [
            "to=x;by=y",
            "to=x;confidence=5",
            "to=x;by=y;confidence=200",
            "to=x;by=y;confidence=5;colour=red",
            "nonsense",
        ] {
            assert!(parse_attribution(bad).is_err(), "{bad}");
        }
        assert_eq!(country_name("SN"), Some("Senegal"));
    }

    #[test]
    fn an_incident_carries_its_coding_signed_and_other_kinds_cannot() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(23);
        let key = crate::OrgKey::generate(&mut rng);
        let written = IncidentCoding::from_proto(&coding()).unwrap();
        let mut draft = crate::ReportDraft {
            kind: Some(crate::ReportKind::Incident),
            title: "Water utility SCADA disrupted".into(),
            tlp: Some(crate::Tlp::Green),
            coding: Some(written.clone()),
            ..crate::ReportDraft::default()
        };
        let signed = draft.sign(&key, &mut rng).unwrap();
        let read = crate::verify(signed.envelope_bytes()).unwrap();
        assert_eq!(read.report().coding.as_ref(), Some(&written));
        let json = serde_json::to_value(read.report()).unwrap();
        assert_eq!(json["coding"]["countries"], serde_json::json!(["EE", "SN"]));
        // An empty coding is no coding.
        draft.coding = Some(IncidentCoding::default());
        let plain = draft.sign(&key, &mut rng).unwrap();
        assert_eq!(plain.report().coding, None);
        assert!(
            serde_json::to_value(plain.report())
                .unwrap()
                .get("coding")
                .is_none()
        );
        draft.coding = Some(written);
        draft.kind = Some(crate::ReportKind::Advisory);
        let e = draft.sign(&key, &mut rng).unwrap_err();
        assert_eq!(e.field, "coding");
        assert!(e.reason.contains("only incident reports"), "{e}");
        draft.kind = Some(crate::ReportKind::Incident);
        draft.coding.as_mut().unwrap().countries.push("ZZ".into());
        let e = draft.sign(&key, &mut rng).unwrap_err();
        assert_eq!(e.field, "coding.countries[2]", "{e}");
        // A draft file says what it means in words.
        let from_file: crate::ReportDraft = draft_from_json(
            r#"{"kind": "incident", "title": "t", "tlp": "clear",
                "coding": {"gge_norms": ["f"], "countries": ["sn"], "operations": ["ransomware"],
                "impact": "severe", "attributions": [{"attributed_to": "X", "claimed_by": "Y",
                "confidence": 40}]}}"#,
        );
        let signed = from_file.sign(&key, &mut rng).unwrap();
        let c = signed.report().coding.as_ref().unwrap();
        assert_eq!(c.countries, ["SN"]);
        assert_eq!(c.impact, Some(ImpactLevel::Severe));
        let unknown = serde_json::from_str::<crate::ReportDraft>(
            r#"{"kind": "incident", "coding": {"operations": ["hacking"]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(unknown.contains("not a kind of operation"), "{unknown}");
    }

    fn draft_from_json(json: &str) -> crate::ReportDraft {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_term_reads_back_and_unknown_ones_list_the_vocabulary() {
        for n in GgeNorm::ALL {
            assert_eq!(GgeNorm::from_term(n.term()), Ok(*n));
        }
        assert_eq!(GgeNorm::ALL.len(), 11);
        for o in Operation::ALL {
            assert_eq!(o.term().parse::<Operation>(), Ok(*o));
        }
        let e = "wiper".parse::<Operation>().unwrap_err().to_string();
        assert!(e.contains("espionage, data-theft"), "{e}");
    }
}
