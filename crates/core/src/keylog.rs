//! Organisation identity that outlives its keys: the signed statements an organisation makes
//! about its keys (genesis, node authorisations, successions, revocations) and the key log
//! built from them, which answers "may this key act for the organisation, for this purpose,
//! at this time". Plain code with no I/O; the formats are in proto/cairn/v1/identity.proto.
//!
//! An organisation is named by its [`OrgId`], the digest of its genesis statement, so that the
//! name stays when its keys change. Its first key signs the genesis and may name a recovery key
//! kept offline. Each organisation key hands over to the next by a succession it signs (with
//! the new key, which proves it is held); a revoked organisation key is replaced by a
//! succession the recovery key signs. Node keys act for the organisation within the period and
//! for the purposes of an authorisation signed by the organisation key of the time, until
//! revoked.

use std::collections::{BTreeMap, BTreeSet};

use cairn_proto::v1 as pb;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::identity::OrgKey;

/// Context of every key statement signature.
const STATEMENT_CONTEXT: &[u8] = b"cairn/key-statement/v1\0";
/// Context of an organisation id.
const ORG_ID_CONTEXT: &[u8] = b"cairn/org-id/v1\0";

/// An ed25519 public key, as statements name them.
pub type PublicKey = [u8; 32];

/// Largest encoded statement accepted: a statement names keys, a period and a short text.
pub const MAX_STATEMENT_BYTES: usize = 2048;

/// An organisation's stable name: the SHA-256 of its genesis statement.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId([u8; 32]);

impl OrgId {
    /// An id from its 32 bytes (as stored).
    pub fn from_bytes(bytes: [u8; 32]) -> OrgId {
        OrgId(bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OrgId({})", &hex::encode(self.0)[..16])
    }
}

/// What a node key may do for its organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// Sign reports on the organisation's behalf.
    SignReports,
    /// Connect to partners and serve them.
    ServePartners,
}

impl Purpose {
    fn to_proto(self) -> i32 {
        match self {
            Purpose::SignReports => pb::NodePurpose::SignReports as i32,
            Purpose::ServePartners => pb::NodePurpose::ServePartners as i32,
        }
    }

    fn from_proto(value: i32) -> Option<Purpose> {
        match pb::NodePurpose::try_from(value).ok()? {
            pb::NodePurpose::SignReports => Some(Purpose::SignReports),
            pb::NodePurpose::ServePartners => Some(Purpose::ServePartners),
            pb::NodePurpose::Unspecified => None,
        }
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Purpose::SignReports => "sign reports",
            Purpose::ServePartners => "serve partners",
        })
    }
}

/// What a statement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The organisation begins; its signer is its first key.
    Genesis {
        /// Its name.
        name: String,
        /// The key that may revoke an organisation key and name its successor.
        recovery_key: Option<PublicKey>,
    },
    /// A node key acts for the organisation.
    Node {
        /// The node's key.
        node_key: PublicKey,
        /// Its name.
        node_name: String,
        /// What it may do.
        purposes: BTreeSet<Purpose>,
        /// From then (ms since the Unix epoch).
        not_before_ms: i64,
        /// Until then, exclusive.
        not_after_ms: i64,
    },
    /// The organisation key `old_key` hands over to `new_key` from the statement's time on.
    Succession {
        /// The key handed over from.
        old_key: PublicKey,
        /// The key handed over to.
        new_key: PublicKey,
    },
    /// `key` may not be used from `from_ms` on.
    Revocation {
        /// A node key or an organisation key.
        key: PublicKey,
        /// From then (ms since the Unix epoch).
        from_ms: i64,
        /// Why, in words.
        reason: String,
    },
}

/// A verified statement: its signatures match the keys it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatement {
    /// The organisation (none in a genesis, which defines it).
    pub org_id: Option<OrgId>,
    /// The key that signed it.
    pub signer: PublicKey,
    /// When it was made (ms since the Unix epoch).
    pub issued_ms: i64,
    /// What it says.
    pub claim: Claim,
    body: Vec<u8>,
    encoded: Vec<u8>,
}

/// Why a statement cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Not a decodable statement.
    #[error("not a Cairn key statement: {0}")]
    Malformed(String),
    /// A key or id inside is not 32 bytes.
    #[error("key statement: {0} is not 32 bytes")]
    Length(&'static str),
    /// It says nothing.
    #[error("key statement: it makes no claim")]
    Empty,
    /// A node authorisation with no purpose it knows, or a period that ends before it starts.
    #[error("key statement: {0}")]
    Invalid(String),
    /// The signer's signature does not verify.
    #[error("key statement: the signer's signature does not verify")]
    Signature,
    /// A succession without the new key's signature.
    #[error("key statement: the succession is not signed by its new key")]
    NewKeySignature,
}

fn key32(bytes: &[u8], what: &'static str) -> Result<PublicKey, StatementError> {
    bytes.try_into().map_err(|_| StatementError::Length(what))
}

fn verify_by(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(key) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    key.verify(message, &signature).is_ok() && key.verify_strict(message, &signature).is_ok()
}

impl KeyStatement {
    fn make(
        org_id: Option<OrgId>,
        signer: &OrgKey,
        new_key: Option<&OrgKey>,
        issued_ms: i64,
        statement: pb::key_statement_body::Statement,
    ) -> Result<KeyStatement, StatementError> {
        let body = pb::KeyStatementBody {
            org_id: org_id.map(|id| id.0.to_vec()).unwrap_or_default(),
            signer: signer.public().as_bytes().to_vec(),
            issued_ms,
            statement: Some(statement),
        }
        .encode_to_vec();
        let mut message = STATEMENT_CONTEXT.to_vec();
        message.extend_from_slice(&body);
        let encoded = pb::KeyStatement {
            body,
            signature: signer.sign(&message).to_bytes().to_vec(),
            new_key_signature: new_key
                .map(|k| k.sign(&message).to_bytes().to_vec())
                .unwrap_or_default(),
        }
        .encode_to_vec();
        // Read back as any receiver will: what cannot be read is never handed out.
        KeyStatement::verify(&encoded)
    }

    /// The genesis of an organisation whose first key is `org`.
    pub fn genesis(
        org: &OrgKey,
        name: &str,
        recovery_key: Option<PublicKey>,
        issued_ms: i64,
    ) -> Result<KeyStatement, StatementError> {
        KeyStatement::make(
            None,
            org,
            None,
            issued_ms,
            pb::key_statement_body::Statement::Genesis(pb::Genesis {
                name: name.to_string(),
                recovery_key: recovery_key.map(|k| k.to_vec()).unwrap_or_default(),
            }),
        )
    }

    /// The genesis of an organisation that began before key statements: no name, no recovery
    /// key, issued at time 0. Ed25519 signatures are deterministic, so every node holding the
    /// organisation key writes the same statement and the organisation keeps one id, which
    /// depends on its first key alone.
    pub fn implicit_genesis(org: &OrgKey) -> Result<KeyStatement, StatementError> {
        KeyStatement::genesis(org, "", None, 0)
    }

    /// `org` (the organisation key of the time) authorises `node_key` for `purposes` from
    /// `not_before_ms` until `not_after_ms`.
    #[allow(clippy::too_many_arguments)]
    pub fn authorise_node(
        org_id: OrgId,
        org: &OrgKey,
        node_key: PublicKey,
        node_name: &str,
        purposes: &[Purpose],
        not_before_ms: i64,
        not_after_ms: i64,
        issued_ms: i64,
    ) -> Result<KeyStatement, StatementError> {
        KeyStatement::make(
            Some(org_id),
            org,
            None,
            issued_ms,
            pb::key_statement_body::Statement::Node(pb::NodeAuthorisation {
                node_key: node_key.to_vec(),
                node_name: node_name.to_string(),
                purposes: purposes.iter().map(|p| p.to_proto()).collect(),
                not_before_ms,
                not_after_ms,
            }),
        )
    }

    /// `signer` (the old key itself, or the recovery key) hands the organisation key `old_key`
    /// over to `new_key` from `issued_ms` on.
    pub fn succession(
        org_id: OrgId,
        signer: &OrgKey,
        old_key: PublicKey,
        new_key: &OrgKey,
        issued_ms: i64,
    ) -> Result<KeyStatement, StatementError> {
        KeyStatement::make(
            Some(org_id),
            signer,
            Some(new_key),
            issued_ms,
            pb::key_statement_body::Statement::Succession(pb::Succession {
                old_key: old_key.to_vec(),
                new_key: new_key.public().as_bytes().to_vec(),
            }),
        )
    }

    /// `signer` revokes `key` from `from_ms` on.
    pub fn revocation(
        org_id: OrgId,
        signer: &OrgKey,
        key: PublicKey,
        from_ms: i64,
        reason: &str,
        issued_ms: i64,
    ) -> Result<KeyStatement, StatementError> {
        KeyStatement::make(
            Some(org_id),
            signer,
            None,
            issued_ms,
            pb::key_statement_body::Statement::Revocation(pb::Revocation {
                key: key.to_vec(),
                from_ms,
                reason: reason.to_string(),
            }),
        )
    }

    /// Decodes a statement and checks its signatures.
    pub fn verify(bytes: &[u8]) -> Result<KeyStatement, StatementError> {
        use pb::key_statement_body::Statement as S;
        if bytes.len() > MAX_STATEMENT_BYTES {
            return Err(StatementError::Malformed(format!(
                "{} bytes, more than the {MAX_STATEMENT_BYTES} a statement may take",
                bytes.len()
            )));
        }
        let outer = pb::KeyStatement::decode(bytes)
            .map_err(|e| StatementError::Malformed(e.to_string()))?;
        let body = pb::KeyStatementBody::decode(outer.body.as_slice())
            .map_err(|e| StatementError::Malformed(e.to_string()))?;
        let signer = key32(&body.signer, "the signer")?;
        let org_id = match body.org_id.len() {
            0 => None,
            _ => Some(OrgId(key32(&body.org_id, "the organisation id")?)),
        };
        let claim = match body.statement.ok_or(StatementError::Empty)? {
            S::Genesis(g) => Claim::Genesis {
                name: g.name,
                recovery_key: match g.recovery_key.len() {
                    0 => None,
                    _ => Some(key32(&g.recovery_key, "the recovery key")?),
                },
            },
            S::Node(n) => {
                let purposes: BTreeSet<Purpose> = n
                    .purposes
                    .iter()
                    .filter_map(|p| Purpose::from_proto(*p))
                    .collect();
                if purposes.is_empty() {
                    return Err(StatementError::Invalid(
                        "a node authorisation with no purpose this node knows".into(),
                    ));
                }
                if n.not_after_ms <= n.not_before_ms {
                    return Err(StatementError::Invalid(
                        "a node authorisation that ends before it starts".into(),
                    ));
                }
                Claim::Node {
                    node_key: key32(&n.node_key, "the node key")?,
                    node_name: n.node_name,
                    purposes,
                    not_before_ms: n.not_before_ms,
                    not_after_ms: n.not_after_ms,
                }
            }
            S::Succession(s) => Claim::Succession {
                old_key: key32(&s.old_key, "the old key")?,
                new_key: key32(&s.new_key, "the new key")?,
            },
            S::Revocation(r) => Claim::Revocation {
                key: key32(&r.key, "the revoked key")?,
                from_ms: r.from_ms,
                reason: r.reason,
            },
        };
        if matches!(claim, Claim::Genesis { .. }) != org_id.is_none() {
            return Err(StatementError::Invalid(
                "only a genesis has no organisation id".into(),
            ));
        }
        let mut message = STATEMENT_CONTEXT.to_vec();
        message.extend_from_slice(&outer.body);
        if !verify_by(&signer, &message, &outer.signature) {
            return Err(StatementError::Signature);
        }
        if let Claim::Succession { new_key, .. } = &claim
            && !verify_by(new_key, &message, &outer.new_key_signature)
        {
            return Err(StatementError::NewKeySignature);
        }
        Ok(KeyStatement {
            org_id,
            signer,
            issued_ms: body.issued_ms,
            claim,
            body: outer.body,
            encoded: bytes.to_vec(),
        })
    }

    /// The statement as stored and sent.
    pub fn to_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// The SHA-256 of the statement as stored and sent: the same statement twice is one.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(&self.encoded).into()
    }

    /// The organisation the statement is about: the one a genesis defines, or the one named.
    pub fn organisation(&self) -> OrgId {
        // Only a genesis has no organisation id (`verify` makes sure of it).
        self.org_id.unwrap_or_else(|| self.body_id())
    }

    fn body_id(&self) -> OrgId {
        let mut hash = Sha256::new();
        hash.update(ORG_ID_CONTEXT);
        hash.update(&self.body);
        OrgId(hash.finalize().into())
    }

    /// The id of the organisation a genesis defines (none for other statements).
    pub fn defines(&self) -> Option<OrgId> {
        matches!(self.claim, Claim::Genesis { .. }).then(|| self.body_id())
    }
}

/// Why a key log cannot be built at all: the organisation's identity is not determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLogError {
    /// No genesis among the statements.
    #[error("no genesis statement: the organisation's first key is unknown")]
    NoGenesis,
    /// Two different geneses.
    #[error("two different genesis statements")]
    TwoGeneses,
    /// Two successions from the same key, neither by the recovery key: the key was used twice.
    #[error("organisation key {0} was handed over twice, to different keys")]
    Fork(String),
    /// A succession back to a key that was already the organisation's.
    #[error("organisation key {0} is handed back to: successions may not loop")]
    Loop(String),
}

/// Why a key may not act for the organisation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Neither an organisation key nor an authorised node key.
    #[error("the key is not one of the organisation's")]
    UnknownKey,
    /// Its authorisation starts later.
    #[error("the key is not valid before {0} ms")]
    NotYetValid(i64),
    /// Its authorisation ended.
    #[error("the key's authorisation ended at {0} ms")]
    Expired(i64),
    /// It was revoked.
    #[error("the key was revoked from {0} ms")]
    Revoked(i64),
    /// Its authorisations do not cover this purpose.
    #[error("the key is not authorised to {0}")]
    WrongPurpose(Purpose),
    /// An organisation key that was handed over to the next.
    #[error("the organisation key was handed over at {0} ms")]
    Succeeded(i64),
}

/// A statement left out of a key log, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    /// Its place in the list given.
    pub index: usize,
    /// Why, in words.
    pub reason: String,
}

/// One organisation key and when it was the organisation's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgKeyPeriod {
    /// The key.
    pub key: PublicKey,
    /// From then.
    pub from_ms: i64,
    /// Until then (exclusive; none: still current).
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone)]
struct Grant {
    purposes: BTreeSet<Purpose>,
    not_before_ms: i64,
    not_after_ms: i64,
}

/// What an organisation's statements establish.
#[derive(Debug, Clone)]
pub struct KeyLog {
    org_id: OrgId,
    name: String,
    recovery_key: Option<PublicKey>,
    org_keys: Vec<OrgKeyPeriod>,
    revoked: BTreeMap<PublicKey, i64>,
    grants: BTreeMap<PublicKey, Vec<Grant>>,
    left_out: Vec<LeftOut>,
}

impl KeyLog {
    /// Builds the log of the organisation whose genesis is among `statements`. Statements that
    /// do not hold (another organisation's, signed by a key that was not the organisation's at
    /// the time, a succession from a key that was not current) are left out and listed.
    pub fn build(statements: &[KeyStatement]) -> Result<KeyLog, KeyLogError> {
        let mut geneses = statements
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.claim, Claim::Genesis { .. }));
        let (genesis_at, genesis) = geneses.next().ok_or(KeyLogError::NoGenesis)?;
        if geneses.any(|(_, g)| g.body != genesis.body) {
            return Err(KeyLogError::TwoGeneses);
        }
        let Claim::Genesis { name, recovery_key } = &genesis.claim else {
            return Err(KeyLogError::NoGenesis);
        };
        let org_id = genesis.defines().ok_or(KeyLogError::NoGenesis)?;
        let mut log = KeyLog {
            org_id,
            name: name.clone(),
            recovery_key: *recovery_key,
            org_keys: Vec::new(),
            revoked: BTreeMap::new(),
            grants: BTreeMap::new(),
            left_out: Vec::new(),
        };
        let mut mine = Vec::new();
        for (index, s) in statements.iter().enumerate() {
            if index == genesis_at || matches!(s.claim, Claim::Genesis { .. }) {
                continue;
            }
            if s.org_id != Some(org_id) {
                log.leave_out(index, "it belongs to another organisation");
            } else {
                mine.push((index, s));
            }
        }
        // Revocations of organisation keys by the recovery key come first: they decide which
        // successions the revoked key could still sign.
        for &(_, s) in &mine {
            if let Claim::Revocation { key, from_ms, .. } = &s.claim
                && Some(s.signer) == log.recovery_key
            {
                log.revoke(*key, *from_ms);
            }
        }
        log.chain(genesis, &mine)?;
        for &(index, s) in &mine {
            match &s.claim {
                Claim::Genesis { .. } | Claim::Succession { .. } => {}
                Claim::Revocation { key, from_ms, .. } => {
                    if Some(s.signer) == log.recovery_key {
                        continue;
                    }
                    if let Err(refusal) = log.org_key_may_sign(&s.signer, s.issued_ms) {
                        log.leave_out(
                            index,
                            &format!(
                                "a revocation signed by a key that could not sign then: {refusal}"
                            ),
                        );
                    } else if log.is_org_key(key) && !log.earlier_org_key(key, &s.signer) {
                        log.leave_out(
                            index,
                            "an organisation key is revoked only by the recovery key or a later organisation key",
                        );
                    } else {
                        log.revoke(*key, *from_ms);
                    }
                }
                Claim::Node {
                    node_key,
                    purposes,
                    not_before_ms,
                    not_after_ms,
                    ..
                } => {
                    if let Err(refusal) = log.org_key_may_sign(&s.signer, s.issued_ms) {
                        log.leave_out(
                            index,
                            &format!("a node authorisation signed by a key that could not sign then: {refusal}"),
                        );
                    } else if log.is_org_key(node_key) {
                        log.leave_out(index, "an organisation key is not a node key");
                    } else {
                        log.grants.entry(*node_key).or_default().push(Grant {
                            purposes: purposes.clone(),
                            not_before_ms: *not_before_ms,
                            not_after_ms: *not_after_ms,
                        });
                    }
                }
            }
        }
        Ok(log)
    }

    fn leave_out(&mut self, index: usize, reason: &str) {
        self.left_out.push(LeftOut {
            index,
            reason: reason.to_string(),
        });
    }

    fn revoke(&mut self, key: PublicKey, from_ms: i64) {
        let at = self.revoked.entry(key).or_insert(from_ms);
        *at = (*at).min(from_ms);
    }

    /// Follows the successions from the genesis key: one successor per key (the recovery
    /// key's choice wins over the old key's), never back to an earlier key.
    fn chain(
        &mut self,
        genesis: &KeyStatement,
        mine: &[(usize, &KeyStatement)],
    ) -> Result<(), KeyLogError> {
        let mut current = OrgKeyPeriod {
            key: genesis.signer,
            from_ms: genesis.issued_ms,
            until_ms: None,
        };
        let mut used = BTreeSet::new();
        let mut seen = BTreeSet::from([current.key]);
        loop {
            // Successions from the current key that its signer could sign.
            let candidates: Vec<(usize, &KeyStatement, PublicKey)> = mine
                .iter()
                .filter_map(|&(index, s)| match s.claim {
                    Claim::Succession { old_key, new_key } if old_key == current.key => {
                        Some((index, s, new_key))
                    }
                    _ => None,
                })
                .filter(|(_, s, _)| s.issued_ms >= current.from_ms)
                .filter(|(_, s, _)| {
                    let by_recovery = Some(s.signer) == self.recovery_key;
                    let by_old_key = s.signer == current.key
                        && self
                            .revoked
                            .get(&current.key)
                            .is_none_or(|from| s.issued_ms < *from);
                    by_recovery || by_old_key
                })
                .collect();
            let by_recovery: Vec<_> = candidates
                .iter()
                .filter(|(_, s, _)| Some(s.signer) == self.recovery_key)
                .collect();
            let pool: Vec<_> = if by_recovery.is_empty() {
                candidates.iter().collect()
            } else {
                by_recovery
            };
            let successors: BTreeSet<PublicKey> = pool.iter().map(|(_, _, new)| *new).collect();
            if successors.len() > 1 {
                return Err(KeyLogError::Fork(hex::encode(current.key)));
            }
            let Some(&&(index, chosen, new_key)) = pool.iter().min_by_key(|(_, s, _)| s.issued_ms)
            else {
                break;
            };
            if !seen.insert(new_key) {
                return Err(KeyLogError::Loop(hex::encode(new_key)));
            }
            used.insert(index);
            // The same succession given twice counts once.
            for (other, s, _) in &candidates {
                if s.body == chosen.body {
                    used.insert(*other);
                }
            }
            current.until_ms = Some(chosen.issued_ms);
            self.org_keys.push(current);
            current = OrgKeyPeriod {
                key: new_key,
                from_ms: chosen.issued_ms,
                until_ms: None,
            };
        }
        self.org_keys.push(current);
        for &(index, s) in mine {
            if matches!(s.claim, Claim::Succession { .. }) && !used.contains(&index) {
                self.leave_out(
                    index,
                    "a succession from a key that was not the organisation's current key, or not signed by it or the recovery key",
                );
            }
        }
        Ok(())
    }

    fn is_org_key(&self, key: &PublicKey) -> bool {
        self.org_keys.iter().any(|p| p.key == *key)
    }

    /// Whether `earlier` was the organisation's key before `later`.
    fn earlier_org_key(&self, earlier: &PublicKey, later: &PublicKey) -> bool {
        let at = |key: &PublicKey| self.org_keys.iter().position(|p| p.key == *key);
        matches!((at(earlier), at(later)), (Some(e), Some(l)) if e < l)
    }

    /// Whether the organisation key `key` could sign at `at_ms`.
    fn org_key_may_sign(&self, key: &PublicKey, at_ms: i64) -> Result<(), Refusal> {
        let period = self
            .org_keys
            .iter()
            .find(|p| p.key == *key)
            .ok_or(Refusal::UnknownKey)?;
        if let Some(from) = self.revoked.get(key)
            && at_ms >= *from
        {
            return Err(Refusal::Revoked(*from));
        }
        if at_ms < period.from_ms {
            return Err(Refusal::NotYetValid(period.from_ms));
        }
        if let Some(until) = period.until_ms
            && at_ms >= until
        {
            return Err(Refusal::Succeeded(until));
        }
        Ok(())
    }

    /// The organisation.
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }

    /// Its name, as its genesis gives it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key its genesis named to revoke an organisation key and name its successor.
    pub fn recovery_key(&self) -> Option<PublicKey> {
        self.recovery_key
    }

    /// Its organisation keys, oldest first.
    pub fn org_keys(&self) -> &[OrgKeyPeriod] {
        &self.org_keys
    }

    /// The organisation key at `at_ms`, if one was current and not revoked then.
    pub fn org_key_at(&self, at_ms: i64) -> Option<PublicKey> {
        self.org_keys
            .iter()
            .map(|p| p.key)
            .find(|k| self.org_key_may_sign(k, at_ms).is_ok())
    }

    /// From when `key` is revoked, if it is.
    pub fn revoked_from(&self, key: &PublicKey) -> Option<i64> {
        self.revoked.get(key).copied()
    }

    /// The node keys the organisation authorised, with the end of their latest authorisation.
    pub fn node_keys(&self) -> Vec<(PublicKey, i64)> {
        self.grants
            .iter()
            .map(|(key, grants)| {
                (
                    *key,
                    grants.iter().map(|g| g.not_after_ms).max().unwrap_or(0),
                )
            })
            .collect()
    }

    /// Every key the organisation revoked, with the time from which it is revoked.
    pub fn revocations(&self) -> Vec<(PublicKey, i64)> {
        self.revoked.iter().map(|(k, at)| (*k, *at)).collect()
    }

    /// Statements left out, and why.
    pub fn left_out(&self) -> &[LeftOut] {
        &self.left_out
    }

    /// Whether `key` may act for the organisation for `purpose` at `at_ms`: an organisation key
    /// while it is current and not revoked (for any purpose), or a node key within an
    /// authorisation for that purpose, and not revoked.
    pub fn check(&self, key: &PublicKey, purpose: Purpose, at_ms: i64) -> Result<(), Refusal> {
        if self.is_org_key(key) {
            return self.org_key_may_sign(key, at_ms);
        }
        if let Some(from) = self.revoked.get(key)
            && at_ms >= *from
        {
            return Err(Refusal::Revoked(*from));
        }
        let grants = self.grants.get(key).ok_or(Refusal::UnknownKey)?;
        let in_period: Vec<&Grant> = grants
            .iter()
            .filter(|g| g.not_before_ms <= at_ms && at_ms < g.not_after_ms)
            .collect();
        if in_period.iter().any(|g| g.purposes.contains(&purpose)) {
            return Ok(());
        }
        if !in_period.is_empty() {
            return Err(Refusal::WrongPurpose(purpose));
        }
        match grants
            .iter()
            .map(|g| g.not_after_ms)
            .filter(|end| *end <= at_ms)
            .max()
        {
            Some(end) => Err(Refusal::Expired(end)),
            None => Err(Refusal::NotYetValid(
                grants
                    .iter()
                    .map(|g| g.not_before_ms)
                    .min()
                    .unwrap_or(at_ms),
            )),
        }
    }
}
