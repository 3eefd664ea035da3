//! API tokens: random secrets shown once, kept only as SHA-256 digests in a file of the node's
//! folder (mode 0600), each with a role.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What a token may do. Each role includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read reports, status, peers and the stream.
    Read,
    /// Also publish and retract.
    Publish,
    /// Everything.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(Role::Read),
            "publish" => Ok(Role::Publish),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "{other:?} is not a role: use read, publish or admin"
            )),
        }
    }
}

/// One token as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRecord {
    /// A name for people ("siem", "opencti").
    pub name: String,
    /// Its role.
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// When it was created (ms since the Unix epoch).
    pub created_ms: i64,
}

/// Why the token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The file is not a token list.
    #[error("{path} is not a Cairn token file: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A token with this name exists.
    #[error("a token named {0:?} exists already")]
    NameTaken(String),
}

/// The node's tokens, in `tokens.json`.
#[derive(Debug, Clone)]
pub struct Tokens {
    path: PathBuf,
    records: Vec<TokenRecord>,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Tokens {
    /// Reads the token file (none yet: no tokens).
    pub fn load(path: &Path) -> Result<Tokens, TokenError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Tokens::from_text(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tokens::empty(path)),
            Err(source) => Err(TokenError::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Reads the text of a token file kept in `path`.
    pub fn from_text(path: &Path, text: &str) -> Result<Tokens, TokenError> {
        let records = serde_json::from_str(text).map_err(|e| TokenError::Format {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(Tokens {
            path: path.to_path_buf(),
            records,
        })
    }

    /// No tokens yet, to be kept in `path`.
    pub fn empty(path: &Path) -> Tokens {
        Tokens {
            path: path.to_path_buf(),
            records: Vec::new(),
        }
    }

    /// The tokens, without their secrets.
    pub fn records(&self) -> &[TokenRecord] {
        &self.records
    }

    /// Creates a token, saves its digest, and returns the token: the only time it is shown.
    pub fn create(&mut self, name: &str, role: Role, now_ms: i64) -> Result<String, TokenError> {
        if self.records.iter().any(|r| r.name == name) {
            return Err(TokenError::NameTaken(name.to_string()));
        }
        let secret: [u8; 32] = rand::random();
        let token = format!("cairn_{}", hex::encode(secret));
        self.records.push(TokenRecord {
            name: name.to_string(),
            role,
            sha256: digest(&token),
            created_ms: now_ms,
        });
        self.save()?;
        Ok(token)
    }

    /// Removes a token by name; whether it existed.
    pub fn revoke(&mut self, name: &str) -> Result<bool, TokenError> {
        let before = self.records.len();
        self.records.retain(|r| r.name != name);
        if self.records.len() == before {
            return Ok(false);
        }
        self.save()?;
        Ok(true)
    }

    /// The role of a presented token, if it is one of ours.
    pub fn role_of(&self, token: &str) -> Option<(Role, &str)> {
        let d = digest(token.trim());
        self.records
            .iter()
            .find(|r| r.sha256 == d)
            .map(|r| (r.role, r.name.as_str()))
    }

    fn save(&self) -> Result<(), TokenError> {
        let shown = self.path.display().to_string();
        let io = |source| TokenError::Io {
            path: shown.clone(),
            source,
        };
        let text = serde_json::to_string_pretty(&self.records).map_err(|e| TokenError::Format {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let temp = self.path.with_extension("json.new");
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&temp).map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&temp, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_hashed_and_recognised_by_role() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let mut tokens = Tokens::load(&path).unwrap();
        let read = tokens.create("siem", Role::Read, 1).unwrap();
        let admin = tokens.create("ops", Role::Admin, 2).unwrap();
        assert!(matches!(
            tokens.create("siem", Role::Read, 3),
            Err(TokenError::NameTaken(_))
        ));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&read) && !text.contains(&admin), "{text}");
        let again = Tokens::load(&path).unwrap();
        assert_eq!(again.role_of(&read), Some((Role::Read, "siem")));
        assert_eq!(again.role_of(&admin), Some((Role::Admin, "ops")));
        assert_eq!(again.role_of("cairn_nope"), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let mut again = again;
        assert!(again.revoke("siem").unwrap());
        assert_eq!(Tokens::load(&path).unwrap().role_of(&read), None);
    }
}
