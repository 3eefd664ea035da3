//! Organisation and node identity: signing keys, public keys, key files and node certificates.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use cairn_proto::v1 as pb;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use prost::Message;
use rand::{CryptoRng, RngCore};

/// Context prefix of node-certificate signatures; keeps them apart from report signatures.
pub const NODE_CERT_CONTEXT: &[u8] = b"cairn/node-cert/v1\0";

/// An organisation's public key: who signed a report.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgPublicKey([u8; 32]);

/// Why bytes or text are not a usable public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicKeyError {
    /// Not 32 bytes.
    #[error("a public key is 32 bytes, found {0}")]
    Length(usize),
    /// Text that is not 64 hexadecimal digits.
    #[error("a public key is written as 64 hexadecimal digits")]
    Text,
    /// Not a point on the curve.
    #[error("not a valid ed25519 public key")]
    Invalid,
    /// A small-order point: anyone could forge signatures for it.
    #[error("a weak (small-order) ed25519 public key is never accepted")]
    Weak,
}

impl OrgPublicKey {
    /// Checks that `bytes` are a usable ed25519 public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<OrgPublicKey, PublicKeyError> {
        OrgPublicKey::parse(bytes).map(|(key, _)| key)
    }

    /// Checks a key and returns it with its decompressed form, decompressed once.
    pub(crate) fn parse(bytes: &[u8]) -> Result<(OrgPublicKey, VerifyingKey), PublicKeyError> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| PublicKeyError::Length(bytes.len()))?;
        let key = VerifyingKey::from_bytes(&array).map_err(|_| PublicKeyError::Invalid)?;
        if key.is_weak() {
            return Err(PublicKeyError::Weak);
        }
        Ok((OrgPublicKey(array), key))
    }

    /// A key this node checked before storing it: not checked again.
    pub(crate) fn from_checked(bytes: &[u8]) -> Result<OrgPublicKey, PublicKeyError> {
        bytes
            .try_into()
            .map(OrgPublicKey)
            .map_err(|_| PublicKeyError::Length(bytes.len()))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 12 hex digits: enough for people to tell keys apart in a table.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }

    pub(crate) fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }
}

impl fmt::Display for OrgPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for OrgPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgPublicKey({})", self.short())
    }
}

impl FromStr for OrgPublicKey {
    type Err = PublicKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != 64 {
            return Err(PublicKeyError::Text);
        }
        let bytes = hex::decode(s).map_err(|_| PublicKeyError::Text)?;
        OrgPublicKey::from_bytes(&bytes)
    }
}

impl serde::Serialize for OrgPublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for OrgPublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An organisation's secret signing key.
pub struct OrgKey(SigningKey);

impl OrgKey {
    /// A new random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> OrgKey {
        OrgKey(SigningKey::generate(rng))
    }

    /// The key from its 32 secret bytes.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> OrgKey {
        OrgKey(SigningKey::from_bytes(secret))
    }

    /// The public half.
    pub fn public(&self) -> OrgPublicKey {
        OrgPublicKey(self.0.verifying_key().to_bytes())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.0.sign(message)
    }

    /// 32 bytes only this key's holder can compute: SHA-256 of a context string, the secret
    /// key and `data`.
    pub(crate) fn derive_secret(&self, context: &[u8], data: &[u8]) -> [u8; 32] {
        derive_secret(self.0.as_bytes(), context, data)
    }

    /// Writes the key to a new file readable by its owner only; never overwrites.
    pub fn save(&self, path: &Path) -> Result<(), KeyFileError> {
        write_secret(path, ORG_KEY_LABEL, self.0.as_bytes())
    }

    /// Reads a key written by [`OrgKey::save`].
    pub fn load(path: &Path) -> Result<OrgKey, KeyFileError> {
        read_secret(path, ORG_KEY_LABEL).map(|s| OrgKey::from_secret_bytes(&s))
    }
}

impl fmt::Debug for OrgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgKey(public {})", self.public().short())
    }
}

/// A node's transport key (the libp2p ed25519 identity it is known by on the network).
pub struct NodeKey(SigningKey);

impl NodeKey {
    /// A new random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> NodeKey {
        NodeKey(SigningKey::generate(rng))
    }

    /// The key from its 32 secret bytes.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> NodeKey {
        NodeKey(SigningKey::from_bytes(secret))
    }

    /// The 32 secret bytes, for the network layer to build its keypair from.
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The 32-byte ed25519 public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.0.sign(message)
    }

    /// Writes the key to a new file readable by its owner only; never overwrites.
    pub fn save(&self, path: &Path) -> Result<(), KeyFileError> {
        write_secret(path, NODE_KEY_LABEL, self.0.as_bytes())
    }

    /// Reads a key written by [`NodeKey::save`].
    pub fn load(path: &Path) -> Result<NodeKey, KeyFileError> {
        read_secret(path, NODE_KEY_LABEL).map(|s| NodeKey(SigningKey::from_bytes(&s)))
    }
}

/// What signs a report for its author organisation: the organisation key itself (envelope
/// format 1), a node key the organisation's key statements authorise to sign reports, or a
/// later organisation key its first key handed over to (both format 2). Either way the
/// report's author, and so its id, is the organisation, named by its first key.
#[derive(Clone, Copy)]
pub enum ReportSigner<'a> {
    /// The organisation key.
    Organisation(&'a OrgKey),
    /// A node key, signing for `author`.
    Node {
        /// The organisation the node signs for.
        author: OrgPublicKey,
        /// The node's key.
        node: &'a NodeKey,
    },
    /// An organisation key that succeeded the organisation's first key (`author`).
    Successor {
        /// The organisation, by its first key.
        author: OrgPublicKey,
        /// The organisation's key of the time.
        key: &'a OrgKey,
    },
}

impl<'a> From<&'a OrgKey> for ReportSigner<'a> {
    fn from(org: &'a OrgKey) -> Self {
        ReportSigner::Organisation(org)
    }
}

impl ReportSigner<'_> {
    /// The organisation the report is by.
    pub fn author(&self) -> OrgPublicKey {
        match self {
            ReportSigner::Organisation(org) => org.public(),
            ReportSigner::Node { author, .. } | ReportSigner::Successor { author, .. } => *author,
        }
    }

    /// The key that signs when it is not the author's first key (envelope format 2).
    pub fn delegate_key(&self) -> Option<[u8; 32]> {
        match self {
            ReportSigner::Organisation(_) => None,
            ReportSigner::Node { node, .. } => Some(node.public_bytes()),
            ReportSigner::Successor { key, .. } => Some(*key.public().as_bytes()),
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        match self {
            ReportSigner::Organisation(org) | ReportSigner::Successor { key: org, .. } => {
                org.sign(message)
            }
            ReportSigner::Node { node, .. } => node.0.sign(message),
        }
    }

    /// 32 bytes only the signing key's holder can compute (see [`OrgKey`]'s own).
    pub(crate) fn derive_secret(&self, context: &[u8], data: &[u8]) -> [u8; 32] {
        match self {
            ReportSigner::Organisation(org) | ReportSigner::Successor { key: org, .. } => {
                org.derive_secret(context, data)
            }
            ReportSigner::Node { node, .. } => derive_secret(node.0.as_bytes(), context, data),
        }
    }
}

/// The key a node signs its organisation's reports with: the organisation key where the node
/// holds it (its first key, or the key it was handed over to), or else the node's own key,
/// which the organisation's key statements must authorise to sign reports.
pub enum ReportSigningKey {
    /// The organisation key.
    Organisation(OrgKey),
    /// The node's key, signing for `author`.
    Node {
        /// The organisation the node signs for.
        author: OrgPublicKey,
        /// The node's key.
        node: NodeKey,
    },
    /// An organisation key that succeeded the organisation's first key (`author`).
    Successor {
        /// The organisation, by its first key.
        author: OrgPublicKey,
        /// The organisation's key of the time.
        key: OrgKey,
    },
}

impl ReportSigningKey {
    /// The organisation its reports are by.
    pub fn author(&self) -> OrgPublicKey {
        ReportSigner::from(self).author()
    }
}

impl<'a> From<&'a ReportSigningKey> for ReportSigner<'a> {
    fn from(key: &'a ReportSigningKey) -> Self {
        match key {
            ReportSigningKey::Organisation(org) => ReportSigner::Organisation(org),
            ReportSigningKey::Node { author, node } => ReportSigner::Node {
                author: *author,
                node,
            },
            ReportSigningKey::Successor { author, key } => ReportSigner::Successor {
                author: *author,
                key,
            },
        }
    }
}

impl fmt::Debug for ReportSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportSigningKey::Organisation(org) => write!(f, "{org:?}"),
            ReportSigningKey::Node { author, node } => write!(
                f,
                "NodeKey(public {}, for {})",
                hex::encode(node.public_bytes()),
                author.short()
            ),
            ReportSigningKey::Successor { author, key } => {
                write!(f, "{key:?} (succeeding {})", author.short())
            }
        }
    }
}

/// SHA-256 of a context string, a secret key and `data`.
fn derive_secret(secret: &[u8; 32], context: &[u8], data: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(context);
    hash.update(secret);
    hash.update(data);
    hash.finalize().into()
}

const ORG_KEY_LABEL: &str = "cairn-org-secret-key-v1";
const NODE_KEY_LABEL: &str = "cairn-node-secret-key-v1";

/// Why a key file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Refusing to overwrite a key.
    #[error("{0} already exists: refusing to overwrite a key")]
    Exists(String),
    /// Other file-system errors.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a key of the expected kind.
    #[error("{path} is not a {expected} file: {reason}")]
    Format {
        /// The key file.
        path: String,
        /// The label a valid file carries.
        expected: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Others can read the secret key.
    #[error(
        "{path} can be read by other users (mode {mode:o}): run `chmod 600 {path}` after checking nobody copied it"
    )]
    Permissions {
        /// The key file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
}

fn write_secret(path: &Path, label: &str, secret: &[u8; 32]) -> Result<(), KeyFileError> {
    let shown = path.display().to_string();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists(shown.clone())
        } else {
            KeyFileError::Io {
                path: shown.clone(),
                source,
            }
        }
    })?;
    let text = format!(
        "# Cairn secret key. Keep it private: whoever holds it can act as its owner.\n{label} {}\n",
        hex::encode(secret)
    );
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|source| KeyFileError::Io {
            path: shown,
            source,
        })
}

fn read_secret(path: &Path, label: &'static str) -> Result<[u8; 32], KeyFileError> {
    let shown = path.display().to_string();
    let io = |source| KeyFileError::Io {
        path: shown.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions { path: shown, mode });
        }
    }
    if meta.len() > 4096 {
        return Err(KeyFileError::Format {
            path: shown,
            expected: label,
            reason: "too large for a key file".into(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let format = |reason: &str| KeyFileError::Format {
        path: shown.clone(),
        expected: label,
        reason: reason.to_string(),
    };
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| format("it holds no key"))?;
    let (found, hex_secret) = line
        .split_once(' ')
        .ok_or_else(|| format("expected a label and a key on one line"))?;
    if found != label {
        return Err(format(&format!("it is labelled {found:?}")));
    }
    let bytes = hex::decode(hex_secret.trim()).map_err(|_| format("the key is not hexadecimal"))?;
    bytes
        .try_into()
        .map_err(|_| format("the key is not 32 bytes"))
}

/// A verified statement that a node key acts for an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCertificate {
    /// The organisation the node belongs to, by its first key.
    pub org_key: OrgPublicKey,
    /// The organisation key that issued it: the first key, or a later one (which the
    /// organisation's key statements must show as its key when it issued the certificate).
    pub issuer: [u8; 32],
    /// The node's ed25519 public key.
    pub node_key: [u8; 32],
    /// When it was issued (milliseconds since the Unix epoch).
    pub issued_ms: i64,
    /// The node's name, as the organisation gave it.
    pub node_name: String,
    encoded: Vec<u8>,
}

/// Why a node certificate is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// Not a decodable certificate.
    #[error("not a Cairn node certificate: {0}")]
    Malformed(String),
    /// A key inside is not valid.
    #[error("node certificate: organisation key: {0}")]
    OrgKey(PublicKeyError),
    /// The node key is not 32 bytes.
    #[error("node certificate: the node key is not 32 bytes")]
    NodeKey,
    /// The signature does not match.
    #[error("node certificate: the organisation's signature does not verify")]
    Signature,
}

impl NodeCertificate {
    /// The organisation certifies `node_key` as one of its nodes, with its first key.
    pub fn issue(org: &OrgKey, node_key: [u8; 32], node_name: &str, issued_ms: i64) -> Self {
        NodeCertificate::issue_for(org.public(), org, node_key, node_name, issued_ms)
    }

    /// The organisation whose first key is `organisation` certifies `node_key` with `issuer`,
    /// its key of the time (the first key itself, or a later one).
    pub fn issue_for(
        organisation: OrgPublicKey,
        issuer: &OrgKey,
        node_key: [u8; 32],
        node_name: &str,
        issued_ms: i64,
    ) -> Self {
        let body = pb::NodeCertificateBody {
            org_key: issuer.public().as_bytes().to_vec(),
            node_key: node_key.to_vec(),
            issued_ms,
            node_name: node_name.to_string(),
            organisation: match organisation == issuer.public() {
                true => Vec::new(),
                false => organisation.as_bytes().to_vec(),
            },
        }
        .encode_to_vec();
        let mut message = NODE_CERT_CONTEXT.to_vec();
        message.extend_from_slice(&body);
        let signature = issuer.sign(&message).to_bytes().to_vec();
        let encoded = pb::NodeCertificate { body, signature }.encode_to_vec();
        NodeCertificate {
            org_key: organisation,
            issuer: *issuer.public().as_bytes(),
            node_key,
            issued_ms,
            node_name: node_name.to_string(),
            encoded,
        }
    }

    /// Decodes and verifies an encoded certificate: signed by its issuer. Whether the issuer
    /// was the organisation's key then is for the organisation's key statements to say.
    pub fn verify(bytes: &[u8]) -> Result<NodeCertificate, CertificateError> {
        let cert = pb::NodeCertificate::decode(bytes)
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        let body = pb::NodeCertificateBody::decode(cert.body.as_slice())
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        let issuer = OrgPublicKey::from_bytes(&body.org_key).map_err(CertificateError::OrgKey)?;
        let org_key = match body.organisation.is_empty() {
            true => issuer,
            false => {
                OrgPublicKey::from_bytes(&body.organisation).map_err(CertificateError::OrgKey)?
            }
        };
        let node_key: [u8; 32] = body
            .node_key
            .as_slice()
            .try_into()
            .map_err(|_| CertificateError::NodeKey)?;
        let signature =
            Signature::from_slice(&cert.signature).map_err(|_| CertificateError::Signature)?;
        let mut message = NODE_CERT_CONTEXT.to_vec();
        message.extend_from_slice(&cert.body);
        issuer
            .verifying_key()
            .ok_or(CertificateError::Signature)?
            .verify_strict(&message, &signature)
            .map_err(|_| CertificateError::Signature)?;
        Ok(NodeCertificate {
            org_key,
            issuer: *issuer.as_bytes(),
            node_key,
            issued_ms: body.issued_ms,
            node_name: body.node_name,
            encoded: bytes.to_vec(),
        })
    }

    /// Whether the organisation's first key issued it (as every certificate before rotations).
    pub fn issued_by_first_key(&self) -> bool {
        self.issuer == *self.org_key.as_bytes()
    }

    /// The encoded certificate, as stored and sent.
    pub fn to_bytes(&self) -> &[u8] {
        &self.encoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_are_private() {
        let dir = std::env::temp_dir().join(format!("cairn-key-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("org.key");
        let _ = std::fs::remove_file(&path);
        let key = OrgKey::generate(&mut rand::rngs::OsRng);
        key.save(&path).unwrap();
        assert_eq!(OrgKey::load(&path).unwrap().public(), key.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(matches!(key.save(&path), Err(KeyFileError::Exists(_))));
        assert!(matches!(
            NodeKey::load(&path),
            Err(KeyFileError::Format { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                OrgKey::load(&path),
                Err(KeyFileError::Permissions { .. })
            ));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn node_certificates_verify_and_detect_tampering() {
        let org = OrgKey::generate(&mut rand::rngs::OsRng);
        let node = NodeKey::generate(&mut rand::rngs::OsRng);
        let cert = NodeCertificate::issue(&org, node.public_bytes(), "node-1", 1_700_000_000_000);
        let back = NodeCertificate::verify(cert.to_bytes()).unwrap();
        assert_eq!(back.org_key, org.public());
        assert_eq!(back.node_key, node.public_bytes());
        let mut bytes = cert.to_bytes().to_vec();
        for i in 0..bytes.len() {
            bytes[i] ^= 0x01;
            assert!(NodeCertificate::verify(&bytes).is_err(), "flip at byte {i}");
            bytes[i] ^= 0x01;
        }
        assert!(back.issued_by_first_key());
    }

    #[test]
    fn a_certificate_issued_by_a_later_key_names_the_organisation_by_its_first_key() {
        let first = OrgKey::generate(&mut rand::rngs::OsRng);
        let later = OrgKey::generate(&mut rand::rngs::OsRng);
        let node = NodeKey::generate(&mut rand::rngs::OsRng);
        let cert =
            NodeCertificate::issue_for(first.public(), &later, node.public_bytes(), "node-2", 5);
        let back = NodeCertificate::verify(cert.to_bytes()).unwrap();
        assert_eq!(back.org_key, first.public());
        assert_eq!(back.issuer, *later.public().as_bytes());
        assert!(!back.issued_by_first_key());
        // Every byte is covered: the organisation named cannot be swapped.
        let mut bytes = cert.to_bytes().to_vec();
        for i in 0..bytes.len() {
            bytes[i] ^= 0x01;
            assert!(NodeCertificate::verify(&bytes).is_err(), "flip at byte {i}");
            bytes[i] ^= 0x01;
        }
    }

    #[test]
    fn public_keys_parse_from_hex_and_refuse_weak_keys() {
        let org = OrgKey::generate(&mut rand::rngs::OsRng);
        let text = org.public().to_string();
        assert_eq!(text.parse::<OrgPublicKey>().unwrap(), org.public());
        assert_eq!("abc".parse::<OrgPublicKey>(), Err(PublicKeyError::Text));
        // The identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            OrgPublicKey::from_bytes(&identity),
            Err(PublicKeyError::Weak)
        );
    }
}
