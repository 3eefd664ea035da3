//! What searches match beyond exact values: the words of a report's title and summary, and
//! observables that lie inside another (an address or network inside a CIDR range; a domain,
//! or a URL or email address on it, under a domain). Pure functions: the store files reports
//! under the keys given here and checks every candidate with the same rules.

use std::net::IpAddr;

use crate::indicator::Indicator;
use crate::model::IndicatorType;

/// Shortest word filed for text search; shorter ones are still matched, not looked up.
pub const MIN_INDEXED_WORD: usize = 3;
/// Longest word filed for text search.
pub const MAX_INDEXED_WORD: usize = 40;

/// The words of `text`, lower-cased: runs of letters and digits.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The distinct words of a report's title and summary that are filed for text search.
pub fn indexed_words(title: &str, summary: &str) -> Vec<String> {
    let mut all: Vec<String> = words(title)
        .chain(words(summary))
        .filter(|w| (MIN_INDEXED_WORD..=MAX_INDEXED_WORD).contains(&w.chars().count()))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Whether every word of `wanted` appears among the words of the title and summary.
pub fn text_matches(wanted: &str, title: &str, summary: &str) -> bool {
    let have: std::collections::HashSet<String> = words(title).chain(words(summary)).collect();
    words(wanted).all(|w| have.contains(&w))
}

/// The distinct words of `wanted` that are filed for text search: a search reads the postings
/// of the rarest of them.
pub fn filed_words(wanted: &str) -> Vec<String> {
    let mut filed: Vec<String> = words(wanted)
        .filter(|w| (MIN_INDEXED_WORD..=MAX_INDEXED_WORD).contains(&w.chars().count()))
        .collect();
    filed.sort_unstable();
    filed.dedup();
    filed
}

/// Network prefix lengths under which IPv4 observables are filed.
const V4_LEVELS: [u8; 4] = [8, 16, 24, 32];
/// Network prefix lengths under which IPv6 observables are filed.
const V6_LEVELS: [u8; 4] = [32, 48, 64, 128];

/// A range or domain that observables may lie inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    /// A network: its first address and prefix length.
    Network { network: IpAddr, prefix: u8 },
    /// A domain (canonical, at least two labels): itself and everything under it.
    Domain(String),
}

/// Why a value cannot be searched inside.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    /// Neither a CIDR range nor a domain.
    #[error(
        "{0:?} is neither a CIDR range (203.0.113.0/24, 2001:db8::/32) nor a domain (example.org)"
    )]
    NotARangeOrDomain(String),
    /// Written as a range, but not a valid one.
    #[error("{0}")]
    BadRange(String),
    /// Wider than what is filed.
    #[error(
        "{0} is too wide to search inside: give a range of /8 or narrower for IPv4, /32 or narrower for IPv6"
    )]
    TooWide(String),
    /// A top-level domain alone.
    #[error("{0:?} is a top-level domain: give a domain of two labels or more (example.org)")]
    TopLevel(String),
}

impl Container {
    /// Reads a CIDR range or a domain, in any spelling its indicator type accepts.
    pub fn parse(value: &str) -> Result<Container, ContainerError> {
        let value = value.trim();
        if value.contains('/') {
            let cidr = crate::indicator::canonical(IndicatorType::Cidr, value)
                .map_err(|e| ContainerError::BadRange(e.to_string()))?;
            let (network, prefix) = split_cidr(&cidr)
                .ok_or_else(|| ContainerError::NotARangeOrDomain(value.to_string()))?;
            let narrowest = if network.is_ipv4() {
                V4_LEVELS[0]
            } else {
                V6_LEVELS[0]
            };
            if prefix < narrowest {
                return Err(ContainerError::TooWide(cidr));
            }
            return Ok(Container::Network { network, prefix });
        }
        if let Ok(address) = value.parse::<IpAddr>() {
            let prefix = if address.is_ipv4() { 32 } else { 128 };
            return Ok(Container::Network {
                network: address,
                prefix,
            });
        }
        let bare = value.trim_end_matches('.');
        if !bare.is_empty()
            && !bare.contains('.')
            && bare.chars().all(|c| c.is_alphanumeric() || c == '-')
        {
            return Err(ContainerError::TopLevel(bare.to_lowercase()));
        }
        match crate::indicator::canonical(IndicatorType::Domain, value) {
            Ok(domain) if domain.contains('.') => Ok(Container::Domain(domain)),
            Ok(domain) => Err(ContainerError::TopLevel(domain)),
            Err(_) => Err(ContainerError::NotARangeOrDomain(value.to_string())),
        }
    }

    /// The key whose filed observables include everything inside (and some that are not,
    /// which [`Container::contains`] then drops).
    pub fn lookup_key(&self) -> String {
        match self {
            Container::Network { network, prefix } => {
                let levels = if network.is_ipv4() {
                    V4_LEVELS
                } else {
                    V6_LEVELS
                };
                // The longest filed level the range covers whole.
                let level = levels
                    .iter()
                    .copied()
                    .filter(|l| l <= prefix)
                    .max()
                    .unwrap_or(levels[0]);
                network_key(*network, level)
            }
            Container::Domain(domain) => domain_key(domain),
        }
    }

    /// Whether `indicator` lies inside: an address or network in the range, a domain equal
    /// to or under the domain, a URL or email address on such a host.
    pub fn contains(&self, indicator: &Indicator) -> bool {
        match self {
            Container::Network { network, prefix } => {
                network_of(indicator).is_some_and(|(inner, inner_prefix)| {
                    inner_prefix >= *prefix && masked(inner, *prefix) == Some(*network)
                })
            }
            Container::Domain(domain) => host_of(indicator).is_some_and(|host| match host {
                Host::Name(name) => {
                    name == *domain
                        || name
                            .strip_suffix(domain.as_str())
                            .is_some_and(|rest| rest.ends_with('.'))
                }
                Host::Address(_) => false,
            }),
        }
    }
}

/// The keys under which `indicator` is filed for searches inside ranges and domains (none for
/// hashes, CVEs and ASNs).
pub fn containment_keys(indicator: &Indicator) -> Vec<String> {
    if let Some((address, prefix)) = network_of(indicator) {
        let levels = if address.is_ipv4() {
            V4_LEVELS
        } else {
            V6_LEVELS
        };
        return levels
            .iter()
            .filter(|l| **l <= prefix)
            .map(|l| network_key(address, *l))
            .collect();
    }
    match host_of(indicator) {
        Some(Host::Name(name)) => {
            // The domain and each parent of two labels or more.
            let labels: Vec<&str> = name.split('.').collect();
            (0..labels.len().saturating_sub(1))
                .map(|skip| domain_key(&labels[skip..].join(".")))
                .collect()
        }
        _ => Vec::new(),
    }
}

fn network_key(address: IpAddr, level: u8) -> String {
    match masked(address, level) {
        Some(network) => format!("net/{network}/{level}"),
        None => format!("net/?/{level}"),
    }
}

/// The cover key of a network (a CIDR range's first address and prefix length): its network
/// at the longest filed level no longer than its prefix, or the family's wide key when it is
/// wider than every level.
pub(crate) fn cover_key(network: IpAddr, prefix: u8) -> String {
    let levels = if network.is_ipv4() {
        V4_LEVELS
    } else {
        V6_LEVELS
    };
    match levels.iter().copied().filter(|l| *l <= prefix).max() {
        Some(level) => network_key(network, level),
        None => wide_key(network),
    }
}

/// The cover keys under which every range holding `address/prefix` is filed: one per level
/// no longer than the prefix, and the wide key.
pub(crate) fn cover_lookup_keys(address: IpAddr, prefix: u8) -> Vec<String> {
    let levels = if address.is_ipv4() {
        V4_LEVELS
    } else {
        V6_LEVELS
    };
    let mut keys: Vec<String> = levels
        .iter()
        .filter(|l| **l <= prefix)
        .map(|l| network_key(address, *l))
        .collect();
    keys.push(wide_key(address));
    keys
}

fn wide_key(address: IpAddr) -> String {
    if address.is_ipv4() {
        "net/wide/4".to_string()
    } else {
        "net/wide/6".to_string()
    }
}

fn domain_key(domain: &str) -> String {
    format!("dns/{domain}")
}

/// `address` with only its first `prefix` bits.
pub(crate) fn masked(address: IpAddr, prefix: u8) -> Option<IpAddr> {
    match address {
        IpAddr::V4(a) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            Some(IpAddr::V4((u32::from(a) & mask).into()))
        }
        IpAddr::V6(a) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            Some(IpAddr::V6((u128::from(a) & mask).into()))
        }
        _ => None,
    }
}

pub(crate) fn split_cidr(cidr: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = cidr.split_once('/')?;
    Some((address.parse().ok()?, prefix.parse().ok()?))
}

/// The address or network an indicator names (a URL's host when it is an address), with its
/// prefix length (32 or 128 for one address).
pub(crate) fn network_of(indicator: &Indicator) -> Option<(IpAddr, u8)> {
    match indicator.kind {
        IndicatorType::Ipv4 | IndicatorType::Ipv6 => {
            let address: IpAddr = indicator.value.parse().ok()?;
            Some((address, if address.is_ipv4() { 32 } else { 128 }))
        }
        IndicatorType::Cidr => split_cidr(&indicator.value),
        IndicatorType::Url => match host_of(indicator)? {
            Host::Address(address) => Some((address, if address.is_ipv4() { 32 } else { 128 })),
            Host::Name(_) => None,
        },
        _ => None,
    }
}

pub(crate) enum Host {
    Name(String),
    Address(IpAddr),
}

/// The host a domain, URL or email address names.
pub(crate) fn host_of(indicator: &Indicator) -> Option<Host> {
    match indicator.kind {
        IndicatorType::Domain => Some(Host::Name(indicator.value.clone())),
        IndicatorType::Email => indicator
            .value
            .rsplit_once('@')
            .map(|(_, domain)| Host::Name(domain.to_ascii_lowercase())),
        IndicatorType::Url => {
            let url = url::Url::parse(&indicator.value).ok()?;
            match url.host()? {
                url::Host::Domain(name) => Some(Host::Name(name.to_ascii_lowercase())),
                url::Host::Ipv4(a) => Some(Host::Address(IpAddr::V4(a))),
                url::Host::Ipv6(a) => Some(Host::Address(IpAddr::V6(a))),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(kind: IndicatorType, value: &str) -> Indicator {
        Indicator::new(kind, value, "").unwrap()
    }

    #[test]
    fn words_are_lower_cased_runs_of_letters_and_digits() {
        assert_eq!(
            indexed_words(
                "Wiper at a Water-Utility",
                "Le réseau d'eau; CVE-2026-1234 hit"
            ),
            vec![
                "1234", "2026", "cve", "eau", "hit", "réseau", "utility", "water", "wiper"
            ]
        );
        assert!(text_matches("water WIPER", "Wiper at a Water-Utility", ""));
        assert!(!text_matches("water bank", "Wiper at a Water-Utility", ""));
        assert_eq!(
            filed_words("a Wiper at utility wiper"),
            vec!["utility".to_string(), "wiper".to_string()]
        );
        assert!(filed_words("at a").is_empty());
    }

    #[test]
    fn what_lies_inside_a_range_or_domain_is_found_under_its_key() {
        let cases = [
            (
                "203.0.113.0/24",
                ind(IndicatorType::Ipv4, "203.0.113.77"),
                true,
            ),
            (
                "203.0.113.0/24",
                ind(IndicatorType::Ipv4, "203.0.114.77"),
                false,
            ),
            (
                "203.0.112.0/20",
                ind(IndicatorType::Ipv4, "203.0.127.1"),
                true,
            ),
            (
                "203.0.112.0/20",
                ind(IndicatorType::Ipv4, "203.0.128.1"),
                false,
            ),
            (
                "203.0.0.0/16",
                ind(IndicatorType::Cidr, "203.0.113.0/24"),
                true,
            ),
            (
                "203.0.113.0/24",
                ind(IndicatorType::Cidr, "203.0.0.0/16"),
                false,
            ),
            (
                "10.0.0.0/8",
                ind(IndicatorType::Url, "http://10.1.2.3/x"),
                true,
            ),
            (
                "2001:db8::/32",
                ind(IndicatorType::Ipv6, "2001:db8:1::5"),
                true,
            ),
            (
                "2001:db8::/32",
                ind(IndicatorType::Ipv6, "2001:db9::5"),
                false,
            ),
            (
                "example.org",
                ind(IndicatorType::Domain, "a.b.example.org"),
                true,
            ),
            (
                "example.org",
                ind(IndicatorType::Domain, "example.org"),
                true,
            ),
            (
                "example.org",
                ind(IndicatorType::Domain, "badexample.org"),
                false,
            ),
            (
                "Example.ORG",
                ind(IndicatorType::Url, "https://cdn.example.org/p.bin"),
                true,
            ),
            (
                "example.org",
                ind(IndicatorType::Email, "billing@mail.example.org"),
                true,
            ),
            (
                "example.org",
                ind(IndicatorType::Sha256, &"a".repeat(64)),
                false,
            ),
        ];
        for (range, indicator, inside) in cases {
            let container = Container::parse(range).unwrap();
            assert_eq!(
                container.contains(&indicator),
                inside,
                "{range} ∋ {indicator:?}"
            );
            if inside {
                assert!(
                    containment_keys(&indicator).contains(&container.lookup_key()),
                    "{range}: {:?} not filed under {}",
                    containment_keys(&indicator),
                    container.lookup_key()
                );
            }
        }
    }

    #[test]
    fn ranges_too_wide_and_bare_top_level_domains_are_refused() {
        assert!(matches!(
            Container::parse("0.0.0.0/4"),
            Err(ContainerError::TooWide(_))
        ));
        let Err(ContainerError::BadRange(why)) = Container::parse("10.0.0.1/24") else {
            panic!("host bits set");
        };
        assert!(why.contains("10.0.0.0/24"), "{why}");
        assert!(matches!(
            Container::parse("2001::/16"),
            Err(ContainerError::TooWide(_))
        ));
        assert!(matches!(
            Container::parse("org"),
            Err(ContainerError::TopLevel(_))
        ));
        assert!(matches!(
            Container::parse("not a thing"),
            Err(ContainerError::NotARangeOrDomain(_))
        ));
    }
}
