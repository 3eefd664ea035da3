//! Correlation: how an observable relates to the indicators of other reports (the same
//! observable; a range or domain it lies in; observables that lie inside it), and which index
//! keys find each of them. Pure functions: the store files indicators under the keys given
//! here, reads the postings of a probe's keys, and keeps a candidate only when [`relation`]
//! says how it relates.

use crate::indicator::Indicator;
use crate::model::IndicatorType;
use crate::search::{self, Container, Host};

/// How another report's indicator relates to the value looked up.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// The same observable.
    Same,
    /// Another hash of the same file: both are hashes of one file in some report.
    SameFile,
    /// A range or domain the value lies in: a CIDR range holding the address or network, a
    /// parent domain of the domain, or the domain (or a parent) of a URL's or email address's
    /// host.
    Covers,
    /// An observable inside the value: an address or network in the range, a domain under the
    /// domain, a URL or email address on it (or a URL on the address).
    Inside,
}

impl Relation {
    /// The relation in words, as the console and the CLI show it.
    pub fn in_words(self) -> &'static str {
        match self {
            Relation::Same => "the same observable",
            Relation::SameFile => "another hash of the same file",
            Relation::Covers => "a range or domain it lies in",
            Relation::Inside => "an observable inside it",
        }
    }

    /// The relation's name in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Relation::Same => "same",
            Relation::SameFile => "same-file",
            Relation::Covers => "covers",
            Relation::Inside => "inside",
        }
    }
}

/// Why a value cannot be correlated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Empty, or only white space.
    #[error(
        "give a value to correlate: an address, range, domain, URL, email address, hash, CVE or AS number"
    )]
    Empty,
    /// Not valid as any type of observable.
    #[error(
        "{0:?} is not an observable Cairn carries (an IPv4 or IPv6 address, a CIDR range, a domain, a URL, an email address, an MD5, SHA-1, SHA-256 or SHA-512 hash, a CVE or an AS number); write TYPE:VALUE to say which"
    )]
    NotAnObservable(String),
    /// Written as TYPE:VALUE, and wrong.
    #[error(transparent)]
    Typed(#[from] crate::indicator::ParseTypedError),
}

/// The observables a value stands for: `TYPE:VALUE` is that one; a bare value is read as every
/// type it is valid for (most values are valid for one).
pub fn readings(value: &str) -> Result<Vec<Indicator>, ProbeError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ProbeError::Empty);
    }
    if let Some((prefix, _)) = value.split_once(':')
        && prefix.parse::<IndicatorType>().is_ok()
    {
        return Ok(vec![Indicator::parse_typed(value)?]);
    }
    let found: Vec<Indicator> = IndicatorType::ALL
        .iter()
        .filter_map(|kind| Indicator::new(*kind, value, "").ok())
        .collect();
    if found.is_empty() {
        return Err(ProbeError::NotAnObservable(
            value.chars().take(200).collect(),
        ));
    }
    Ok(found)
}

/// How `other` relates to `probe`, if at all. [`Relation::SameFile`] is not decided here: it
/// needs the reports that name both hashes of one file.
pub fn relation(probe: &Indicator, other: &Indicator) -> Option<Relation> {
    Probe::new(probe.clone()).relation(other)
}

/// A value looked up against many indicators: [`relation`] with the range or domain it stands
/// for worked out once.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The value.
    pub indicator: Indicator,
    container: Option<Container>,
}

impl Probe {
    /// The probe of `indicator`.
    pub fn new(indicator: Indicator) -> Probe {
        let container = container_of(&indicator);
        Probe {
            indicator,
            container,
        }
    }

    /// How `other` relates to this value, as [`relation`] says.
    pub fn relation(&self, other: &Indicator) -> Option<Relation> {
        let probe = &self.indicator;
        if probe.kind == other.kind && probe.value == other.value {
            return Some(Relation::Same);
        }
        if covers(other, probe) {
            return Some(Relation::Covers);
        }
        if self.container.as_ref().is_some_and(|c| c.contains(other)) {
            return Some(Relation::Inside);
        }
        None
    }
}

/// Whether `outer` (a CIDR range or a domain) holds `inner` and is not the same observable.
fn covers(outer: &Indicator, inner: &Indicator) -> bool {
    match outer.kind {
        IndicatorType::Cidr => {
            let Some((network, prefix)) = search::split_cidr(&outer.value) else {
                return false;
            };
            Container::Network { network, prefix }.contains(inner)
        }
        IndicatorType::Domain => match search::host_of(inner) {
            Some(Host::Name(host)) => {
                let under = host
                    .strip_suffix(outer.value.as_str())
                    .is_some_and(|rest| rest.ends_with('.'));
                // A domain is not its own cover; a URL's or email's host is covered by itself.
                under || (inner.kind != IndicatorType::Domain && host == outer.value)
            }
            _ => false,
        },
        _ => false,
    }
}

/// The range or domain a probe stands for when observables inside it are looked up: an
/// address (URLs on it), a CIDR range no wider than the store files (/8 for IPv4, /32 for
/// IPv6), or a domain of two labels or more.
pub fn container_of(probe: &Indicator) -> Option<Container> {
    match probe.kind {
        IndicatorType::Ipv4 | IndicatorType::Ipv6 | IndicatorType::Cidr => {
            Container::parse(&probe.value).ok()
        }
        IndicatorType::Domain if probe.value.contains('.') => {
            Some(Container::Domain(probe.value.clone()))
        }
        _ => None,
    }
}

/// What the store reads to correlate one probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookups {
    /// Indicator values filed as they are: the probe's own, and the domains that may cover it
    /// (its host's parents of two labels or more, and a URL's or email's host itself).
    pub values: Vec<String>,
    /// The containment key under which what lies inside the probe is filed.
    pub inside: Option<String>,
    /// The cover keys under which ranges that may hold the probe are filed.
    pub covers: Vec<String>,
}

/// The keys to read for `probe`.
pub fn lookups(probe: &Indicator) -> Lookups {
    let mut values = vec![probe.value.clone()];
    if let Some(Host::Name(host)) = search::host_of(probe) {
        let labels: Vec<&str> = host.split('.').collect();
        let first = usize::from(probe.kind == IndicatorType::Domain);
        for skip in first..labels.len().saturating_sub(1) {
            values.push(labels[skip..].join("."));
        }
    }
    values.dedup();
    let covers = match search::network_of(probe) {
        Some((address, prefix)) => search::cover_lookup_keys(address, prefix),
        None => Vec::new(),
    };
    Lookups {
        values,
        inside: container_of(probe).map(|c| c.lookup_key()),
        covers,
    }
}

/// The cover key a CIDR indicator is filed under, so that the addresses and networks it holds
/// find it (none for other types).
pub fn cover_key(indicator: &Indicator) -> Option<String> {
    if indicator.kind != IndicatorType::Cidr {
        return None;
    }
    let (network, prefix) = search::split_cidr(&indicator.value)?;
    Some(search::cover_key(network, prefix))
}

/// Whether a hash type: hashes of one file are correlated with one another.
pub fn is_hash(kind: IndicatorType) -> bool {
    matches!(
        kind,
        IndicatorType::Md5 | IndicatorType::Sha1 | IndicatorType::Sha256 | IndicatorType::Sha512
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(kind: IndicatorType, value: &str) -> Indicator {
        Indicator::new(kind, value, "").unwrap()
    }

    #[test]
    fn values_are_read_as_every_type_they_are_valid_for() {
        let read = readings("203.0.113.7").unwrap();
        assert_eq!(read, vec![ind(IndicatorType::Ipv4, "203.0.113.7")]);
        let read = readings("ipv4:203.0.113.7").unwrap();
        assert_eq!(read, vec![ind(IndicatorType::Ipv4, "203.0.113.7")]);
        let read = readings("https://evil.example/x").unwrap();
        assert_eq!(read[0].kind, IndicatorType::Url);
        assert!(matches!(readings("  "), Err(ProbeError::Empty)));
        assert!(matches!(
            readings("not a thing at all"),
            Err(ProbeError::NotAnObservable(_))
        ));
        assert!(matches!(
            readings("ipv4:evil.example"),
            Err(ProbeError::Typed(_))
        ));
    }

    #[test]
    fn relations_are_named_from_the_other_indicator() {
        let ip = ind(IndicatorType::Ipv4, "203.0.113.7");
        let cases = [
            (
                ip.clone(),
                ind(IndicatorType::Ipv4, "203.0.113.7"),
                Some(Relation::Same),
            ),
            (
                ip.clone(),
                ind(IndicatorType::Cidr, "203.0.113.0/24"),
                Some(Relation::Covers),
            ),
            (
                ip.clone(),
                ind(IndicatorType::Cidr, "0.0.0.0/0"),
                Some(Relation::Covers),
            ),
            (ip.clone(), ind(IndicatorType::Cidr, "203.0.114.0/24"), None),
            (
                ip.clone(),
                ind(IndicatorType::Url, "http://203.0.113.7/a"),
                Some(Relation::Inside),
            ),
            (
                ind(IndicatorType::Cidr, "203.0.0.0/16"),
                ind(IndicatorType::Ipv4, "203.0.113.7"),
                Some(Relation::Inside),
            ),
            (
                ind(IndicatorType::Domain, "a.evil.example"),
                ind(IndicatorType::Domain, "evil.example"),
                Some(Relation::Covers),
            ),
            (
                ind(IndicatorType::Domain, "evil.example"),
                ind(IndicatorType::Domain, "a.evil.example"),
                Some(Relation::Inside),
            ),
            (
                ind(IndicatorType::Url, "https://evil.example/p"),
                ind(IndicatorType::Domain, "evil.example"),
                Some(Relation::Covers),
            ),
            (
                ind(IndicatorType::Domain, "evil.example"),
                ind(IndicatorType::Email, "x@mail.evil.example"),
                Some(Relation::Inside),
            ),
            (
                ind(IndicatorType::Domain, "evil.example"),
                ind(IndicatorType::Domain, "notevil.example"),
                None,
            ),
        ];
        for (probe, other, want) in cases {
            assert_eq!(relation(&probe, &other), want, "{probe:?} / {other:?}");
        }
    }

    #[test]
    fn what_covers_a_probe_is_filed_under_one_of_its_lookup_keys() {
        let ranges = [
            "0.0.0.0/0",
            "203.0.0.0/8",
            "203.0.112.0/20",
            "203.0.113.0/24",
            "203.0.113.4/30",
            "203.0.113.7/32",
        ];
        let probe = ind(IndicatorType::Ipv4, "203.0.113.7");
        let keys = lookups(&probe).covers;
        for range in ranges {
            let cidr = ind(IndicatorType::Cidr, range);
            assert_eq!(relation(&probe, &cidr), Some(Relation::Covers), "{range}");
            let key = cover_key(&cidr).unwrap();
            assert!(keys.contains(&key), "{range}: {key} not in {keys:?}");
        }
        let url = ind(IndicatorType::Url, "https://a.b.evil.example/x");
        assert_eq!(
            lookups(&url).values,
            vec![
                "https://a.b.evil.example/x".to_string(),
                "a.b.evil.example".into(),
                "b.evil.example".into(),
                "evil.example".into()
            ]
        );
        let domain = ind(IndicatorType::Domain, "a.evil.example");
        assert_eq!(
            lookups(&domain).values,
            vec!["a.evil.example".to_string(), "evil.example".into()]
        );
    }
}
