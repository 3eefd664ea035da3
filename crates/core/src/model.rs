//! Cairn's domain vocabulary: TLP labels, report kinds, severities, scopes, indicator types and
//! disclosure fields, with their names for people and their numbers on the wire.

use std::fmt;
use std::str::FromStr;

use cairn_proto::v1 as pb;

/// A label that is not one of the names a domain enum accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}: expected one of {expected}")]
pub struct UnknownLabel {
    /// What was being named ("TLP label", "report kind", ...).
    pub what: &'static str,
    /// What the user wrote.
    pub given: String,
    /// The accepted names, comma separated.
    pub expected: String,
}

macro_rules! domain_enum {
    (
        $(#[$meta:meta])*
        $name:ident ($what:literal, $proto:ty) {
            $( $(#[$vmeta:meta])* $variant:ident = $pvariant:ident, $label:literal $(| $alias:literal)* ; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name people read and write.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $label,)+ }
            }

            /// The wire number of this value.
            pub fn to_proto(self) -> i32 {
                match self { $($name::$variant => <$proto>::$pvariant as i32,)+ }
            }

            /// The value for a wire number; `None` for 0 (unspecified) and unknown numbers.
            pub fn from_proto(value: i32) -> Option<Self> {
                match <$proto>::try_from(value).ok()? {
                    $(<$proto>::$pvariant => Some($name::$variant),)+
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            fn expected() -> String {
                [$($label),+].join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownLabel;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim().to_ascii_lowercase().replace(['_', ' '], "-");
                let wanted = wanted.strip_prefix("tlp:").unwrap_or(&wanted);
                $(
                    if wanted == $label $(|| wanted == $alias)* {
                        return Ok($name::$variant);
                    }
                )+
                Err(UnknownLabel { what: $what, given: s.to_string(), expected: Self::expected() })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

domain_enum! {
    /// FIRST Traffic Light Protocol 2.0 label: how far a report may be shared.
    Tlp ("TLP label", pb::Tlp) {
        /// Anyone may see it.
        Clear = Clear, "clear" | "white";
        /// The community: trusted peers, relayable within the author's scope.
        Green = Green, "green";
        /// The recipient organisation (and its clients on a need-to-know basis); never relayed.
        Amber = Amber, "amber";
        /// The recipient organisation only; never relayed.
        AmberStrict = AmberStrict, "amber+strict" | "amber-strict" | "amberstrict";
        /// Only the named recipients; never relayed.
        Red = Red, "red";
    }
}

impl Tlp {
    /// TLP 2.0 label as FIRST writes it, e.g. `TLP:AMBER+STRICT`.
    pub fn official(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// Whether a report with this label may ever be passed on beyond its first recipient.
    pub fn relayable(self) -> bool {
        matches!(self, Tlp::Clear | Tlp::Green)
    }
}

domain_enum! {
    /// What a report is about.
    ReportKind ("report kind", pb::ReportKind) {
        /// An attack seen and handled.
        Incident = Incident, "incident";
        /// A set of observables to watch for.
        Indicator = Indicator, "indicator" | "ioc";
        /// Guidance for defenders.
        Advisory = Advisory, "advisory";
        /// A weakness in a product.
        Vulnerability = Vulnerability, "vulnerability" | "vuln";
        /// A group behind attacks.
        ThreatActor = ThreatActor, "threat-actor" | "actor";
        /// A series of related attacks.
        Campaign = Campaign, "campaign";
        /// A signed tombstone withdrawing an earlier report.
        Retraction = Retraction, "retraction";
        /// An organisation's own Paris Call observance figures (counts of the incident reports
        /// it wrote), published as TLP:CLEAR for anyone to merge.
        Observance = Observance, "observance" | "observance-figures";
        /// An entry of the liaison directory: an initiative, project, capacity offer or need,
        /// or donor programme.
        DirectoryEntry = DirectoryEntry, "directory-entry" | "directory";
        /// A sighting of, or feedback about, another organisation's report or one of its
        /// indicators; it goes back to that report's author.
        Sighting = Sighting, "sighting" | "feedback";
    }
}

domain_enum! {
    /// What a sighting says of the report or indicator it concerns.
    SightingKind ("sighting kind", pb::SightingKind) {
        /// Seen in the sighting organisation's networks or systems (MISP sighting type 0).
        Seen = Seen, "seen" | "sighting" | "sighted";
        /// Found to be a false positive (MISP sighting type 1).
        FalsePositive = FalsePositive, "false-positive" | "fp";
        /// No longer valid (MISP sighting type 2, expiration).
        Expired = Expired, "expired" | "expiration";
        /// Confirmed malicious by the sighting organisation's own analysis.
        Confirmed = Confirmed, "confirmed";
    }
}

domain_enum! {
    /// How serious the author judges the matter.
    Severity ("severity", pb::Severity) {
        /// For information only.
        Info = Info, "info" | "informational";
        /// Low.
        Low = Low, "low";
        /// Medium.
        Medium = Medium, "medium";
        /// High.
        High = High, "high";
        /// Critical.
        Critical = Critical, "critical";
    }
}

domain_enum! {
    /// How far the author lets a report travel, whatever its TLP allows.
    Scope ("distribution scope", pb::Scope) {
        /// Stays among the author organisation's own nodes.
        Organisation = Organisation, "organisation" | "organization" | "org";
        /// The author's direct trusted peers; never relayed.
        DirectPeers = DirectPeers, "direct-peers" | "direct";
        /// Relayed within the community up to a hop limit.
        Community = Community, "community";
        /// No limit set by the author (the TLP still applies).
        Unrestricted = Unrestricted, "unrestricted";
    }
}

impl Tlp {
    /// How far a report of this TLP travels when its author sets no scope: unrestricted for
    /// CLEAR, the community for GREEN, direct peers for AMBER, AMBER+STRICT and RED.
    pub fn default_scope(self) -> Scope {
        match self {
            Tlp::Clear => Scope::Unrestricted,
            Tlp::Green => Scope::Community,
            Tlp::Amber | Tlp::AmberStrict | Tlp::Red => Scope::DirectPeers,
        }
    }
}

domain_enum! {
    /// The type of an observable.
    IndicatorType ("indicator type", pb::IndicatorType) {
        /// An IPv4 address.
        Ipv4 = Ipv4, "ipv4" | "ip";
        /// An IPv6 address.
        Ipv6 = Ipv6, "ipv6";
        /// An IPv4 or IPv6 network in CIDR notation.
        Cidr = Cidr, "cidr" | "network";
        /// A domain name.
        Domain = Domain, "domain" | "hostname";
        /// A URL.
        Url = Url, "url";
        /// An email address.
        Email = Email, "email";
        /// An MD5 file hash.
        Md5 = Md5, "md5";
        /// A SHA-1 file hash.
        Sha1 = Sha1, "sha1" | "sha-1";
        /// A SHA-256 file hash.
        Sha256 = Sha256, "sha256" | "sha-256";
        /// A SHA-512 file hash.
        Sha512 = Sha512, "sha512" | "sha-512";
        /// A CVE identifier.
        Cve = Cve, "cve";
        /// An autonomous system number.
        Asn = Asn, "asn" | "as";
    }
}

domain_enum! {
    /// A sensitive field carried as a selective disclosure.
    DisclosureField ("disclosure field", pb::DisclosureField) {
        /// Who was attacked.
        Victim = Victim, "victim";
        /// The author's internal notes.
        InternalNotes = InternalNotes, "internal-notes" | "notes";
        /// Raw evidence.
        Evidence = Evidence, "evidence";
    }
}

/// The author's distribution rule, signed in the report.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Distribution {
    /// How far the report may travel.
    pub scope: Scope,
    /// For [`Scope::Community`]: relays allowed past the first recipient (1-16); 0 otherwise.
    pub hop_limit: u32,
    /// The community (sharing group) the report is addressed to, if any.
    pub community: Option<String>,
}

/// Longest community name, in characters.
pub const MAX_COMMUNITY_CHARS: usize = 64;

/// Checks a community name: 1-64 lower-case letters, digits, '-', '_' or '.'.
pub fn check_community_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_COMMUNITY_CHARS {
        return Err(format!(
            "a community name is 1 to {MAX_COMMUNITY_CHARS} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
    {
        return Err(format!(
            "community name {name:?} may only hold lower-case letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// The nine principles of the Paris Call for Trust and Security in Cyberspace, by number.
pub const PARIS_CALL_PRINCIPLES: [&str; 9] = [
    "Protect individuals and infrastructure",
    "Protect the Internet",
    "Defend electoral processes",
    "Defend intellectual property",
    "Non-proliferation",
    "Lifecycle security",
    "Cyber hygiene",
    "No private hack back",
    "International norms",
];

/// The name of Paris Call principle `n` (1-9).
pub fn paris_call_principle(n: u8) -> Option<&'static str> {
    PARIS_CALL_PRINCIPLES
        .get(usize::from(n).checked_sub(1)?)
        .copied()
}

/// Largest hop limit a report may carry.
pub const MAX_HOP_LIMIT: u32 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_text_and_wire() {
        for tlp in Tlp::ALL {
            assert_eq!(tlp.as_str().parse::<Tlp>().unwrap(), *tlp);
            assert_eq!(Tlp::from_proto(tlp.to_proto()), Some(*tlp));
        }
        for kind in ReportKind::ALL {
            assert_eq!(kind.as_str().parse::<ReportKind>().unwrap(), *kind);
            assert_eq!(ReportKind::from_proto(kind.to_proto()), Some(*kind));
        }
        for t in IndicatorType::ALL {
            assert_eq!(IndicatorType::from_proto(t.to_proto()), Some(*t));
        }
    }

    #[test]
    fn tlp_accepts_official_spellings() {
        assert_eq!("TLP:AMBER+STRICT".parse::<Tlp>().unwrap(), Tlp::AmberStrict);
        assert_eq!("amber_strict".parse::<Tlp>().unwrap(), Tlp::AmberStrict);
        assert_eq!("TLP:WHITE".parse::<Tlp>().unwrap(), Tlp::Clear);
    }

    #[test]
    fn unknown_label_names_what_was_wrong() {
        let err = "purple".parse::<Tlp>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown TLP label \"purple\""), "{text}");
        assert!(text.contains("amber+strict"), "{text}");
    }

    #[test]
    fn unspecified_and_unknown_wire_numbers_are_refused() {
        assert_eq!(Tlp::from_proto(0), None);
        assert_eq!(Tlp::from_proto(99), None);
        assert_eq!(Scope::from_proto(-1), None);
    }
}
