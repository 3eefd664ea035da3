//! Warning lists: values known to be benign or not attacker-controlled (reserved and private
//! address ranges, public DNS resolvers, documentation domains, and whatever lists an operator
//! adds: cloud ranges, the most visited domains), so that an indicator on one is flagged when
//! it is published or imported, with the list named. Lists are read in MISP's warninglist
//! format (`name`, `description`, `version`, `type`, `list`), so MISP's own lists can be used
//! as they are. Flags are warnings: nothing is refused because of them.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use crate::indicator::Indicator;
use crate::model::IndicatorType;
use crate::search::{Host, host_of, masked, network_of, split_cidr};

/// The lists Cairn carries, as data files in MISP's format (see docs/WARNING-LISTS.md for
/// where each comes from).
const BUILT_IN: [(&str, &str); 4] = [
    (
        "reserved-ipv4.json",
        include_str!("../warninglists/reserved-ipv4.json"),
    ),
    (
        "reserved-ipv6.json",
        include_str!("../warninglists/reserved-ipv6.json"),
    ),
    (
        "public-dns-resolvers.json",
        include_str!("../warninglists/public-dns-resolvers.json"),
    ),
    (
        "reserved-domains.json",
        include_str!("../warninglists/reserved-domains.json"),
    ),
];

/// Longest list file read.
pub const MAX_LIST_BYTES: usize = 64 * 1024 * 1024;

/// Why a warning list file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WarningListError {
    /// Not JSON of the warninglist shape.
    #[error("{file}: not a warning list ({reason})")]
    Format {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A kind of list Cairn does not match.
    #[error(
        "{file}: lists of type {kind:?} are not read (cidr, hostname, string and substring are)"
    )]
    UnsupportedType {
        /// The file.
        file: String,
        /// Its type.
        kind: String,
    },
    /// An entry of a cidr list that is not an address or range.
    #[error("{file}: list[{index}] {value:?} is not an address or CIDR range")]
    BadRange {
        /// The file.
        file: String,
        /// Where in the list.
        index: usize,
        /// The entry.
        value: String,
    },
    /// The file cannot be read.
    #[error("{file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_LIST_BYTES`].
    #[error("{file}: larger than {MAX_LIST_BYTES} bytes")]
    TooLarge {
        /// The file.
        file: String,
    },
}

/// A warninglist file as MISP writes it (fields Cairn does not use are ignored).
#[derive(Debug, serde::Deserialize)]
struct ListFile {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    version: serde_json::Value,
    #[serde(rename = "type", default = "default_type")]
    kind: String,
    list: Vec<String>,
}

fn default_type() -> String {
    "string".into()
}

/// How a list matches.
#[derive(Debug, Clone)]
enum Matcher {
    /// Addresses and networks inside these: by family (IPv4 or not) and prefix length, the
    /// networks of that length.
    Networks(BTreeMap<(bool, u8), HashSet<IpAddr>>),
    /// Hosts (of domains, URLs, email addresses) equal to or under these names.
    Hostnames(HashSet<String>),
    /// Values equal to these (any case).
    Exact(HashSet<String>),
    /// Values containing one of these (any case).
    Substrings(Vec<String>),
}

/// One warning list.
#[derive(Debug, Clone)]
pub struct WarningList {
    /// Its name, as flags name it.
    pub name: String,
    /// What it holds.
    pub description: String,
    /// Its version, as its file gives it.
    pub version: String,
    /// Where it was read from (`built-in` or a file).
    pub origin: String,
    /// How many entries it holds.
    pub entries: usize,
    matcher: Matcher,
}

impl WarningList {
    /// Reads a list in MISP's warninglist format; `file` names it in errors.
    pub fn from_json(file: &str, text: &str) -> Result<WarningList, WarningListError> {
        let read: ListFile = serde_json::from_str(text).map_err(|e| WarningListError::Format {
            file: file.to_string(),
            reason: e.to_string(),
        })?;
        if read.name.trim().is_empty() {
            return Err(WarningListError::Format {
                file: file.to_string(),
                reason: "its name is empty".into(),
            });
        }
        let values = read
            .list
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty() && !v.starts_with('#'));
        let matcher = match read.kind.as_str() {
            "cidr" => {
                let mut networks: BTreeMap<(bool, u8), HashSet<IpAddr>> = BTreeMap::new();
                for (index, value) in values.enumerate() {
                    let (address, prefix) =
                        network_entry(value).ok_or_else(|| WarningListError::BadRange {
                            file: file.to_string(),
                            index,
                            value: value.to_string(),
                        })?;
                    networks
                        .entry((address.is_ipv4(), prefix))
                        .or_default()
                        .insert(address);
                }
                Matcher::Networks(networks)
            }
            "hostname" => Matcher::Hostnames(
                values
                    .map(|v| {
                        v.trim_start_matches('.')
                            .trim_end_matches('.')
                            .to_lowercase()
                    })
                    .collect(),
            ),
            "string" => Matcher::Exact(values.map(str::to_lowercase).collect()),
            "substring" => Matcher::Substrings(values.map(str::to_lowercase).collect()),
            other => {
                return Err(WarningListError::UnsupportedType {
                    file: file.to_string(),
                    kind: other.to_string(),
                });
            }
        };
        let entries = match &matcher {
            Matcher::Networks(n) => n.values().map(HashSet::len).sum(),
            Matcher::Hostnames(h) => h.len(),
            Matcher::Exact(e) => e.len(),
            Matcher::Substrings(s) => s.len(),
        };
        Ok(WarningList {
            name: read.name.trim().to_string(),
            description: read.description.trim().to_string(),
            version: match read.version {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            },
            origin: file.to_string(),
            entries,
            matcher,
        })
    }

    /// Whether `indicator` is on this list.
    pub fn matches(&self, indicator: &Indicator) -> bool {
        match &self.matcher {
            Matcher::Networks(by_prefix) => {
                network_of(indicator).is_some_and(|(address, inner_prefix)| {
                    by_prefix.iter().any(|((v4, prefix), networks)| {
                        *v4 == address.is_ipv4()
                            && *prefix <= inner_prefix
                            && masked(address, *prefix).is_some_and(|n| networks.contains(&n))
                    })
                })
            }
            Matcher::Hostnames(names) => match host_of(indicator) {
                Some(Host::Name(host)) => {
                    let mut at = host.as_str();
                    loop {
                        if names.contains(at) {
                            return true;
                        }
                        match at.split_once('.') {
                            Some((_, parent)) => at = parent,
                            None => return false,
                        }
                    }
                }
                _ => false,
            },
            Matcher::Exact(values) => values.contains(&indicator.value.to_lowercase()),
            Matcher::Substrings(parts) => {
                let value = indicator.value.to_lowercase();
                parts.iter().any(|p| value.contains(p.as_str()))
            }
        }
    }
}

/// An address (as a /32 or /128) or a CIDR range, as its network and prefix length.
fn network_entry(value: &str) -> Option<(IpAddr, u8)> {
    if let Ok(address) = value.parse::<IpAddr>() {
        return Some((address, if address.is_ipv4() { 32 } else { 128 }));
    }
    let cidr = crate::indicator::canonical(IndicatorType::Cidr, value).ok()?;
    split_cidr(&cidr)
}

/// An indicator found on one or more lists.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Flag {
    /// The indicator, `type:value`.
    pub indicator: String,
    /// The lists it is on, by name.
    pub lists: Vec<String>,
}

impl Flag {
    /// What an operator reads: `ipv4:8.8.8.8 is on the warning list public-dns-resolvers`.
    pub fn describe(&self) -> String {
        format!(
            "{} is on the warning list{} {}",
            self.indicator,
            if self.lists.len() > 1 { "s" } else { "" },
            self.lists.join(", ")
        )
    }
}

/// The warning lists a node checks indicators against.
#[derive(Debug, Clone, Default)]
pub struct WarningLists {
    lists: Vec<WarningList>,
}

impl WarningLists {
    /// The lists Cairn carries.
    pub fn built_in() -> WarningLists {
        let lists = BUILT_IN
            .iter()
            .filter_map(|(file, text)| {
                // Checked by a test: every built-in list reads.
                WarningList::from_json(file, text).ok().map(|mut list| {
                    list.origin = format!("built-in {file}");
                    list
                })
            })
            .collect();
        WarningLists { lists }
    }

    /// The built-in lists and the `*.json` files of `folder` (if it exists); a file's list
    /// replaces a built-in one of the same name. Any file that cannot be read is an error.
    pub fn with_folder(folder: &std::path::Path) -> Result<WarningLists, WarningListError> {
        let mut all = WarningLists::built_in();
        let entries = match std::fs::read_dir(folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(all),
            Err(source) => {
                return Err(WarningListError::Read {
                    file: folder.display().to_string(),
                    source,
                });
            }
        };
        let mut files: Vec<std::path::PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            let file = path.display().to_string();
            let size = std::fs::metadata(&path)
                .map_err(|source| WarningListError::Read {
                    file: file.clone(),
                    source,
                })?
                .len();
            if size > MAX_LIST_BYTES as u64 {
                return Err(WarningListError::TooLarge { file });
            }
            let text = std::fs::read_to_string(&path).map_err(|source| WarningListError::Read {
                file: file.clone(),
                source,
            })?;
            let list = WarningList::from_json(&file, &text)?;
            all.lists.retain(|l| l.name != list.name);
            all.lists.push(list);
        }
        Ok(all)
    }

    /// The lists, in the order they are checked.
    pub fn lists(&self) -> &[WarningList] {
        &self.lists
    }

    /// The names of the lists `indicator` is on.
    pub fn lists_of(&self, indicator: &Indicator) -> Vec<String> {
        self.lists
            .iter()
            .filter(|l| l.matches(indicator))
            .map(|l| l.name.clone())
            .collect()
    }

    /// The indicators of `indicators` that are on some list, each with the lists.
    pub fn flags<'a>(&self, indicators: impl IntoIterator<Item = &'a Indicator>) -> Vec<Flag> {
        indicators
            .into_iter()
            .filter_map(|indicator| {
                let lists = self.lists_of(indicator);
                (!lists.is_empty()).then(|| Flag {
                    indicator: format!("{}:{}", indicator.kind.as_str(), indicator.value),
                    lists,
                })
            })
            .collect()
    }

    /// [`WarningLists::flags`] of a draft's indicators, each read in its canonical form (one
    /// that is not a valid observable is left out: the draft is refused with it when signed).
    pub fn draft_flags(&self, indicators: &[crate::draft::IndicatorDraft]) -> Vec<Flag> {
        let canonical: Vec<Indicator> = indicators
            .iter()
            .filter_map(|i| Indicator::new(i.kind, &i.value, "").ok())
            .collect();
        self.flags(&canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indicator(text: &str) -> Indicator {
        Indicator::parse_typed(text).unwrap()
    }

    #[test]
    fn every_built_in_list_reads() {
        for (file, text) in BUILT_IN {
            let list = WarningList::from_json(file, text).unwrap();
            assert!(list.entries > 0, "{file}");
        }
        assert_eq!(WarningLists::built_in().lists().len(), BUILT_IN.len());
    }

    #[test]
    fn reserved_ranges_resolvers_and_documentation_domains_are_flagged() {
        let lists = WarningLists::built_in();
        for (value, list) in [
            ("ipv4:10.1.2.3", "reserved-ipv4"),
            ("ipv4:192.168.0.1", "reserved-ipv4"),
            ("ipv4:172.31.255.255", "reserved-ipv4"),
            ("cidr:10.20.0.0/16", "reserved-ipv4"),
            ("ipv4:127.0.0.1", "reserved-ipv4"),
            ("ipv4:240.1.1.1", "reserved-ipv4"),
            ("ipv6:fe80::1", "reserved-ipv6"),
            ("ipv6:fd00::5", "reserved-ipv6"),
            ("ipv4:8.8.8.8", "public-dns-resolvers"),
            ("ipv6:2606:4700:4700::1111", "public-dns-resolvers"),
            ("url:http://1.1.1.1/dns-query", "public-dns-resolvers"),
            ("domain:example.com", "reserved-domains"),
            ("domain:www.example.org", "reserved-domains"),
            ("url:https://cdn.example.net/x.js", "reserved-domains"),
            ("email:a@mail.test", "reserved-domains"),
            ("domain:printer.local", "reserved-domains"),
        ] {
            let on = lists.lists_of(&indicator(value));
            assert!(on.contains(&list.to_string()), "{value}: {on:?}");
        }
        for value in [
            "ipv4:172.32.0.1",
            "ipv4:11.0.0.1",
            "cidr:8.0.0.0/8",
            "ipv4:8.8.8.9",
            "domain:notexample.com",
            "domain:example.com.evil.ru",
            "domain:testing.ru",
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ] {
            assert!(
                lists.lists_of(&indicator(value)).is_empty(),
                "{value} is flagged"
            );
        }
    }

    #[test]
    fn an_operators_list_is_read_in_mispformat_and_replaces_a_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("cloud.json"),
            r##"{"name": "cloud-example", "version": 20261201, "description": "A cloud's ranges",
               "matching_attributes": ["ip-dst"], "type": "cidr",
               "list": ["52.0.0.0/11", "2600:1f00::/24", "# a comment"]}"##,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("resolvers.json"),
            r#"{"name": "public-dns-resolvers", "type": "string", "list": ["9.9.9.9"]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a list").unwrap();
        let lists = WarningLists::with_folder(dir.path()).unwrap();
        assert_eq!(
            lists.lists_of(&indicator("ipv4:52.31.0.9")),
            vec!["cloud-example"]
        );
        assert_eq!(
            lists.lists_of(&indicator("ipv6:2600:1f18::1")),
            vec!["cloud-example"]
        );
        // The operator's resolvers list replaced Cairn's.
        assert!(lists.lists_of(&indicator("ipv4:8.8.8.8")).is_empty());
        assert_eq!(
            lists.lists_of(&indicator("ipv4:9.9.9.9")),
            vec!["public-dns-resolvers"]
        );
        let flags = lists.flags([&indicator("ipv4:9.9.9.9"), &indicator("ipv4:11.0.0.1")]);
        assert_eq!(flags.len(), 1);
        assert_eq!(
            flags[0].describe(),
            "ipv4:9.9.9.9 is on the warning list public-dns-resolvers"
        );
    }

    #[test]
    fn a_list_that_cannot_be_used_says_why() {
        for (text, said) in [
            ("[1, 2]", "not a warning list"),
            (r#"{"name": " ", "list": []}"#, "its name is empty"),
            (
                r#"{"name": "x", "type": "regex", "list": ["a.*"]}"#,
                "type \"regex\" are not read",
            ),
            (
                r#"{"name": "x", "type": "cidr", "list": ["10.0.0.0/8", "ten"]}"#,
                "list[1] \"ten\"",
            ),
        ] {
            let e = WarningList::from_json("x.json", text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(said), "{text}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.json"), "{").unwrap();
        let e = WarningLists::with_folder(dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.json"), "{e}");
    }
}
