//! The node's configuration file (node.toml): one TOML file, one section per subsystem.

use std::path::Path;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use cairn_core::OrgPublicKey;
use cairn_store::StoreConfig;
use toml::Spanned;

use crate::sharing::{ConfigIssue, InboundSection, PartnerSection, PolicySection, SharingSections};

/// Everything a node reads from node.toml.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Who runs this node.
    pub node: NodeSection,
    /// Storage settings.
    #[serde(default)]
    pub store: StoreConfig,
    /// How the node listens and dials.
    #[serde(default)]
    pub network: cairn_net::NetConfig,
    /// Catch-up settings.
    #[serde(default)]
    pub sync: cairn_node::SyncSettings,
    /// The local HTTP API.
    #[serde(default)]
    pub api: cairn_api::ApiConfig,
    /// What this node accepts from partners.
    #[serde(default)]
    pub inbound: InboundSection,
    /// How STIX and MISP imports are mapped.
    #[serde(default)]
    pub import: cairn_interop::import::ImportConfig,
    /// How indicators age: lifetimes, decay speed, the threshold of what is still valid.
    #[serde(default, skip_serializing_if = "is_default_scoring")]
    pub scoring: cairn_core::score::ScoringConfig,
    /// Named outbound policies, assigned to partners.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, PolicySection>,
    /// Communities (sharing groups): name = [partner names, or "self"].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub communities: BTreeMap<String, Vec<Spanned<String>>>,
    /// The trust list: partner organisations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partners: Vec<PartnerSection>,
}

fn is_default_scoring(scoring: &cairn_core::score::ScoringConfig) -> bool {
    *scoring == cairn_core::score::ScoringConfig::default()
}

/// The `[node]` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// The organisation's display name, e.g. "CERT-EU".
    pub organisation: String,
    /// This node's name within the organisation.
    #[serde(default = "default_node_name")]
    pub node_name: String,
    /// The organisation's other nodes: this node shares everything it holds with them and takes
    /// everything they hold, so that any of them serves the same reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_nodes: Vec<crate::sharing::PartnerNodeSection>,
    /// Memory arenas the C library's allocator may keep (glibc's `M_ARENA_MAX`); 0 leaves its
    /// default, eight per core. On a small machine 2 keeps a node's peak memory far lower (a
    /// thread that allocates while another does then shares an arena instead of taking its
    /// own), for somewhat less throughput under load.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub malloc_arenas: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn default_node_name() -> String {
    "node-1".to_string()
}

/// Most allocator arenas `[node] malloc_arenas` may ask for.
pub const MAX_MALLOC_ARENAS: u32 = 256;

/// Largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

impl NodeConfig {
    /// A new configuration for an organisation.
    pub fn new(organisation: &str, node_name: &str) -> NodeConfig {
        NodeConfig {
            node: NodeSection {
                organisation: organisation.to_string(),
                node_name: node_name.to_string(),
                other_nodes: Vec::new(),
                malloc_arenas: 0,
            },
            store: StoreConfig::default(),
            network: cairn_net::NetConfig::default(),
            sync: cairn_node::SyncSettings::default(),
            api: cairn_api::ApiConfig::default(),
            inbound: InboundSection::default(),
            import: cairn_interop::import::ImportConfig::default(),
            scoring: cairn_core::score::ScoringConfig::default(),
            policies: BTreeMap::new(),
            communities: BTreeMap::new(),
            partners: Vec::new(),
        }
    }

    /// The sharing sections, for the policy engine.
    pub fn sharing(&self) -> SharingSections<'_> {
        SharingSections {
            inbound: &self.inbound,
            policies: &self.policies,
            communities: &self.communities,
            partners: &self.partners,
            other_nodes: &self.node.other_nodes,
        }
    }

    /// Reads and validates node.toml; an error names the file, line and field.
    pub fn load(path: &Path) -> Result<NodeConfig> {
        NodeConfig::load_for(path, None)
    }

    /// [`NodeConfig::load`] for the node of organisation `us`, when known: a partner listed
    /// with the organisation's own key is a problem too.
    pub fn load_for(path: &Path, us: Option<&OrgPublicKey>) -> Result<NodeConfig> {
        let (config, issues) = NodeConfig::load_with_issues_for(path, us)?;
        if let Some(first) = issues.first() {
            anyhow::bail!(
                "{}:{}: {}: {}{}",
                path.display(),
                first.line,
                first.field,
                first.message,
                match issues.len() {
                    1 => String::new(),
                    n => format!(" ({} more problems: run `cairn config check`)", n - 1),
                }
            );
        }
        Ok(config)
    }

    /// Reads node.toml; syntax and type errors fail, and the other problems (unknown policy,
    /// partner listed twice, ...) are all returned.
    pub fn load_with_issues(path: &Path) -> Result<(NodeConfig, Vec<ConfigIssue>)> {
        NodeConfig::load_with_issues_for(path, None)
    }

    /// [`NodeConfig::load_with_issues`] for the node of organisation `us`, when known.
    pub fn load_with_issues_for(
        path: &Path,
        us: Option<&OrgPublicKey>,
    ) -> Result<(NodeConfig, Vec<ConfigIssue>)> {
        let size = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        if size > MAX_CONFIG_BYTES {
            anyhow::bail!(
                "{} is {size} bytes: too large for a configuration file",
                path.display()
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        NodeConfig::from_text_for(path, &text, us)
    }

    /// [`NodeConfig::from_text`] for the node of organisation `us`, when known: a partner
    /// listed with the organisation's own key is a problem too.
    pub fn from_text_for(
        path: &Path,
        text: &str,
        us: Option<&OrgPublicKey>,
    ) -> Result<(NodeConfig, Vec<ConfigIssue>)> {
        let (config, mut issues) = NodeConfig::from_text(path, text)?;
        if let Some(us) = us {
            issues.extend(config.sharing().own_key_issues(text, us));
        }
        Ok((config, issues))
    }

    /// Reads the text of node.toml kept at `path` (certificate paths are relative to its
    /// folder); syntax and type errors fail, and the other problems are all returned.
    pub fn from_text(path: &Path, text: &str) -> Result<(NodeConfig, Vec<ConfigIssue>)> {
        let text = text.to_string();
        let mut config: NodeConfig = toml::from_str(&text).map_err(|e| {
            // file:line:column: what is wrong, as compilers say it (the parser's own text
            // draws the line, which does not survive one line).
            match e.span() {
                Some(span) => {
                    let before = text.get(..span.start).unwrap_or(&text);
                    let line = before.matches('\n').count() + 1;
                    let start = before.rfind('\n').map_or(0, |at| at + 1);
                    let column = before.len() - start + 1;
                    let written = text
                        .get(start..)
                        .and_then(|rest| rest.lines().next())
                        .unwrap_or("")
                        .trim();
                    anyhow::anyhow!(
                        "{}:{line}:{column}: {} (in `{written}`)",
                        path.display(),
                        one_line(e.message())
                    )
                }
                None => anyhow::anyhow!("{}: {}", path.display(), one_line(e.message())),
            }
        })?;
        // Certificate paths are relative to the folder of node.toml.
        let folder = path.parent().unwrap_or(Path::new("."));
        for file in [&mut config.api.tls_certificate, &mut config.api.tls_key]
            .into_iter()
            .flatten()
        {
            if file.is_relative() {
                *file = folder.join(&*file);
            }
        }
        let mut issues = Vec::new();
        if config.node.organisation.trim().is_empty() {
            issues.push(ConfigIssue {
                line: 1,
                field: "node.organisation".into(),
                message: "must not be empty".into(),
            });
        }
        if config.node.malloc_arenas > MAX_MALLOC_ARENAS {
            issues.push(ConfigIssue {
                line: text
                    .find("malloc_arenas")
                    .map_or(1, |at| text[..at].matches('\n').count() + 1),
                field: "node.malloc_arenas".into(),
                message: format!(
                    "{} is more than {MAX_MALLOC_ARENAS}: give 0 (the C library's default) or a small number such as 2",
                    config.node.malloc_arenas
                ),
            });
        }
        for (i, problem) in config.network.check() {
            issues.push(ConfigIssue {
                line: text
                    .find("[network]")
                    .map_or(1, |at| text[..at].matches('\n').count() + 1),
                field: format!("network.listen[{i}]"),
                message: problem,
            });
        }
        if let Some(problem) = config.network.check_rate_limit() {
            issues.push(ConfigIssue {
                line: text
                    .find("rate_limit")
                    .or_else(|| text.find("[network]"))
                    .map_or(1, |at| text[..at].matches('\n').count() + 1),
                field: "network.rate_limit".into(),
                message: problem,
            });
        }
        if let Err(problem) = config.scoring.check() {
            issues.push(ConfigIssue {
                line: text
                    .find("[scoring")
                    .map_or(1, |at| text[..at].matches('\n').count() + 1),
                field: "scoring".into(),
                message: problem.to_string(),
            });
        }
        if config.api.listen.parse::<std::net::SocketAddr>().is_err() {
            issues.push(ConfigIssue {
                line: text
                    .find("[api]")
                    .map_or(1, |at| text[..at].matches('\n').count() + 1),
                field: "api.listen".into(),
                message: format!(
                    "{:?} is not an address and port (127.0.0.1:7401)",
                    config.api.listen
                ),
            });
        }
        if let Some(problem) = api_tls_problem(&config.api) {
            issues.push(ConfigIssue {
                line: text
                    .find("[api]")
                    .map_or(1, |at| text[..at].matches('\n').count() + 1),
                field: "api".into(),
                message: problem,
            });
        }
        if !(1..=cairn_net::wire::MAX_PAGE_REPORTS).contains(&config.sync.page_size) {
            issues.push(ConfigIssue {
                line: text
                    .find("[sync]")
                    .map_or(1, |at| text[..at].matches('\n').count() + 1),
                field: "sync.page_size".into(),
                message: format!(
                    "must be between 1 and {}",
                    cairn_net::wire::MAX_PAGE_REPORTS
                ),
            });
        }
        issues.extend(config.sharing().check(&text));
        Ok((config, issues))
    }

    /// The organisation named in a configuration's text.
    pub fn organisation_in(text: &str) -> Result<String> {
        let config: NodeConfig =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", one_line(&e.to_string())))?;
        Ok(config.node.organisation)
    }

    /// The file as written by `cairn init`, with comments.
    pub fn to_toml(&self) -> Result<String> {
        Ok(format!(
            "# Cairn node configuration.\n# Paths are relative to the folder holding this file.\n\n{}",
            toml::to_string(self)?
        ))
    }
}

/// TOML errors span several lines (with a caret under the culprit); keep them on one.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What is wrong with the API's HTTPS settings, if anything: plain HTTP on an address other
/// machines can reach, half a certificate setting, or files rustls cannot use.
fn api_tls_problem(api: &cairn_api::ApiConfig) -> Option<String> {
    if !api.enabled {
        return None;
    }
    match (&api.tls_certificate, &api.tls_key) {
        (Some(certificate), Some(key)) => cairn_api::tls::server_config(certificate, key)
            .err()
            .map(|e| e.to_string()),
        (None, None) => {
            let address = api.listen.parse::<std::net::SocketAddr>().ok()?;
            (!address.ip().is_loopback()).then(|| {
                cairn_api::StartError::PlainHttpOutsideLoopback(api.listen.clone()).to_string()
            })
        }
        _ => Some(cairn_api::tls::TlsError::Incomplete.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_config_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let config = NodeConfig::new("CERT-Example", "n1");
        std::fs::write(&path, config.to_toml().unwrap()).unwrap();
        assert_eq!(NodeConfig::load(&path).unwrap(), config);
    }

    #[test]
    fn the_deployment_example_is_valid_and_shows_the_defaults() {
        let example =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/node.example.toml");
        let config = NodeConfig::load(&example).unwrap();
        assert_eq!(config.store, StoreConfig::default());
        assert_eq!(config.node.node_name, default_node_name());
        assert_eq!(config.node.malloc_arenas, 0);
        assert_eq!(config.api, cairn_api::ApiConfig::default());
    }

    #[test]
    fn the_federation_examples_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/federation");
        for name in ["cert.toml", "bank.toml", "ngo.toml"] {
            let config = NodeConfig::load(&dir.join(name)).unwrap();
            assert!(!config.partners.is_empty(), "{name}");
            assert!(
                config.partners.iter().all(|p| !p.nodes.is_empty()),
                "{name}: every partner names its nodes"
            );
        }
    }

    #[test]
    fn bad_partner_nodes_and_listen_addresses_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "[node]\norganisation = \"X\"\n\n[network]\nlisten = [\"127.0.0.1:7400\"]\n\n[[partners]]\nname = \"a\"\norg_key = \"6b358a0a174b4804ae98dff3ecfec3dd076fbc8d5d37e7ed7ffa3cd1f9026d6e\"\nkind = \"cert\"\nnodes = [{ peer_id = \"nope\" }, { peer_id = \"12D3KooWDgYk4Lk47omVHLrs66WJ9Vz9ctTFJrBYBM3mQYEYFuqs\", addresses = [\"/dns4/a.example/tcp/1\"] }]\n",
        )
        .unwrap();
        let (_, issues) = NodeConfig::load_with_issues(&path).unwrap();
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert!(fields.contains(&"network.listen[0]"), "{issues:?}");
        assert!(
            fields.contains(&"partners[0].nodes[0].peer_id"),
            "{issues:?}"
        );
        assert!(
            fields.contains(&"partners[0].nodes[1].addresses[0]"),
            "{issues:?}"
        );
        assert!(issues.iter().all(|i| i.line > 1), "{issues:?}");
    }

    #[test]
    fn malloc_arenas_are_read_and_an_absurd_count_is_named_with_its_line() {
        let path = std::path::Path::new("node.toml");
        let (config, issues) =
            NodeConfig::from_text(path, "[node]\norganisation = \"X\"\nmalloc_arenas = 2\n")
                .unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(config.node.malloc_arenas, 2);
        let (_, issues) = NodeConfig::from_text(
            path,
            "[node]\norganisation = \"X\"\n\nmalloc_arenas = 100000\n",
        )
        .unwrap();
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].field, "node.malloc_arenas");
        assert_eq!(issues[0].line, 4);
        let negative =
            NodeConfig::from_text(path, "[node]\norganisation = \"X\"\nmalloc_arenas = -1\n");
        assert!(negative.unwrap_err().to_string().contains("malloc_arenas"));
    }

    #[test]
    fn rate_limits_are_read_and_a_zero_is_named_with_its_line() {
        let path = std::path::Path::new("node.toml");
        let text =
            "[node]\norganisation = \"X\"\n\n[network.rate_limit]\nburst = 50\nper_second = 0\n";
        let (config, issues) = NodeConfig::from_text(path, text).unwrap();
        assert_eq!(config.network.rate_limit.burst, 50);
        assert_eq!(config.network.rate_limit.window_secs, 10, "the default");
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].field, "network.rate_limit");
        assert_eq!(issues[0].line, 4);
        assert!(issues[0].message.contains("per_second"), "{issues:?}");
        let unknown = NodeConfig::from_text(
            path,
            "[node]\norganisation = \"X\"\n[network.rate_limit]\nburts = 5\n",
        );
        assert!(
            unknown.unwrap_err().to_string().contains("burts"),
            "a misspelt limit is named"
        );
    }

    #[test]
    fn the_api_is_https_or_loopback_and_certificate_paths_are_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let write = |api: &str| {
            std::fs::write(
                &path,
                format!("[node]\norganisation = \"X\"\n\n[api]\n{api}"),
            )
            .unwrap();
            NodeConfig::load_with_issues(&path).unwrap()
        };
        let (_, issues) = write("listen = \"0.0.0.0:7401\"\n");
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert_eq!(issues[0].field, "api");
        assert!(
            issues[0].message.contains("not a loopback address"),
            "{issues:?}"
        );
        assert!(issues[0].line >= 4, "{issues:?}");

        let (_, issues) = write("listen = \"0.0.0.0:7401\"\ntls_key = \"tls/node.key\"\n");
        assert!(issues[0].message.contains("go together"), "{issues:?}");

        let (_, issues) = write(
            "listen = \"0.0.0.0:7401\"\ntls_certificate = \"tls/node.pem\"\ntls_key = \"tls/node.key\"\n",
        );
        assert!(issues[0].message.contains("cannot read"), "{issues:?}");

        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/tests/tls");
        std::fs::create_dir(dir.path().join("tls")).unwrap();
        std::fs::copy(
            fixtures.join("localhost.pem"),
            dir.path().join("tls/node.pem"),
        )
        .unwrap();
        std::fs::copy(
            fixtures.join("localhost.key"),
            dir.path().join("tls/node.key"),
        )
        .unwrap();
        let (config, issues) = write(
            "listen = \"0.0.0.0:7401\"\ntls_certificate = \"tls/node.pem\"\ntls_key = \"tls/node.key\"\n",
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(
            config.api.tls_certificate,
            Some(dir.path().join("tls/node.pem"))
        );
    }

    #[test]
    fn unknown_fields_are_named_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "[node]\norganisation = \"X\"\ncolour = \"blue\"\n").unwrap();
        let err = format!("{:#}", NodeConfig::load(&path).unwrap_err());
        assert!(
            err.contains("node.toml:3:1: unknown field `colour`")
                && err.contains("(in `colour = \"blue\"`)"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        // A syntax error: where, what, and the line as written.
        std::fs::write(&path, "[node]\norganisation = \"X\n").unwrap();
        let err = format!("{:#}", NodeConfig::load(&path).unwrap_err());
        assert!(err.contains("node.toml:2:"), "{err}");
        assert!(err.contains("(in `organisation = \"X`)"), "{err}");
        assert!(!err.contains('\n') && !err.contains(" | "), "{err}");
    }
}
