//! Store-and-forward bundles: what one node may pass a partner organisation, as one signed
//! file, for sites that exchange files instead of connecting. A bundle is a page of a pull
//! written down ([`BundleBody`]: after, through, head and the reports with their hops), with
//! the writing node's certificate and its organisation's key statements, signed by the node
//! key ([`seal`]); [`open`] checks the signature and the certificate before anything else is
//! read. Which reports go in, and what the reader does with them, is the node's business.

use ed25519_dalek::{Signature, VerifyingKey};
use prost::Message;

use cairn_proto::v1 as pb;

use crate::identity::{CertificateError, NodeCertificate, NodeKey, OrgPublicKey};

/// The version of the bundle this build writes and reads.
pub const BUNDLE_VERSION: u32 = 1;

/// Largest bundle read, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 256 << 20;

/// Most reports in one bundle.
pub const MAX_BUNDLE_REPORTS: usize = 1 << 20;

/// Most key statements in one bundle.
pub const MAX_BUNDLE_STATEMENTS: usize = 4096;

/// What the signature covers before the body.
const CONTEXT: &[u8] = b"cairn bundle v1\0";

/// One report in a bundle, as a page of a pull carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledReport {
    /// The encoded envelope (disclosures withheld as for the recipient).
    pub envelope: Vec<u8>,
    /// Relays before the writer held it (0: the writer's organisation wrote it).
    pub hop: u32,
}

/// What a bundle says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleBody {
    /// The writing node's encoded certificate.
    pub certificate: Vec<u8>,
    /// The writing organisation's encoded key statements.
    pub statements: Vec<Vec<u8>>,
    /// The organisation it is for.
    pub recipient: OrgPublicKey,
    /// When it was written (ms since the Unix epoch).
    pub created_ms: i64,
    /// The writer's arrival numbers after this one are accounted for...
    pub after: u64,
    /// ...up to this one.
    pub through: u64,
    /// The writer's newest arrival number when it wrote the bundle.
    pub head: u64,
    /// Whether the writer had more after `through` that did not fit.
    pub more: bool,
    /// The reports, in the writer's arrival order.
    pub reports: Vec<BundledReport>,
}

/// A bundle whose signature and certificate hold.
#[derive(Debug, Clone)]
pub struct OpenedBundle {
    /// What it says.
    pub body: BundleBody,
    /// The certificate of the node that wrote it (its signature checked; whether its
    /// organisation is a partner, and whether the node still stands for it, is the reader's
    /// to check).
    pub certificate: NodeCertificate,
}

/// Why a bundle could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Larger than a bundle may be.
    #[error("the file is {size} bytes; a bundle is at most {max} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The largest read.
        max: usize,
    },
    /// Not a bundle at all.
    #[error("not a Cairn bundle (the bytes do not decode as one: {0})")]
    Malformed(String),
    /// Written by a newer Cairn.
    #[error(
        "bundle version {found} is newer than this node understands (version {BUNDLE_VERSION}); upgrade Cairn to read it"
    )]
    UnsupportedVersion {
        /// The version in the bundle.
        found: u32,
    },
    /// Too many of something.
    #[error("the bundle holds {count} {what}; at most {max}")]
    TooMany {
        /// What.
        what: &'static str,
        /// How many.
        count: usize,
        /// The most read.
        max: usize,
    },
    /// Its arrival numbers do not hold together.
    #[error(
        "the bundle's arrival numbers do not hold together: after {after}, through {through}, head {head} (after ≤ through ≤ head)"
    )]
    Range {
        /// Where it starts.
        after: u64,
        /// Where it ends.
        through: u64,
        /// The writer's newest.
        head: u64,
    },
    /// The recipient is not an organisation key.
    #[error("the bundle's recipient is not an organisation key: {0}")]
    Recipient(String),
    /// The writing node's certificate does not verify.
    #[error("the certificate of the node that wrote the bundle does not verify: {0}")]
    Certificate(#[from] CertificateError),
    /// The signature does not match the body and the certificate's node key.
    #[error(
        "the bundle's signature does not verify: it was changed after it was written, or not written by the node its certificate names"
    )]
    BadSignature,
}

/// Encodes a bundle and signs it with the writing node's key (the key its certificate names).
pub fn seal(body: &BundleBody, node: &NodeKey) -> Vec<u8> {
    let encoded = pb::BundleBody {
        version: BUNDLE_VERSION,
        certificate: body.certificate.clone(),
        statements: body.statements.clone(),
        recipient: body.recipient.as_bytes().to_vec(),
        created_ms: body.created_ms,
        after: body.after,
        through: body.through,
        head: body.head,
        more: body.more,
        reports: body
            .reports
            .iter()
            .map(|r| pb::PassedReport {
                envelope: r.envelope.clone(),
                hop: r.hop,
            })
            .collect(),
    }
    .encode_to_vec();
    seal_encoded(encoded, node)
}

/// Signs an encoded `BundleBody` as it is, with the writing node's key. [`seal`] encodes a
/// body and calls it; fuzzing calls it to reach what [`open`] reads after the signature.
pub fn seal_encoded(encoded: Vec<u8>, node: &NodeKey) -> Vec<u8> {
    let mut message = CONTEXT.to_vec();
    message.extend_from_slice(&encoded);
    let signature = node.sign(&message);
    pb::Bundle {
        body: encoded,
        signature: signature.to_bytes().to_vec(),
    }
    .encode_to_vec()
}

/// Reads a bundle: its size, its encoding, the writing node's certificate and the signature,
/// in that order, before anything it carries is looked at.
pub fn open(bytes: &[u8]) -> Result<OpenedBundle, BundleError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge {
            size: bytes.len(),
            max: MAX_BUNDLE_BYTES,
        });
    }
    let sealed = pb::Bundle::decode(bytes).map_err(|e| BundleError::Malformed(e.to_string()))?;
    let body = pb::BundleBody::decode(sealed.body.as_slice())
        .map_err(|e| BundleError::Malformed(e.to_string()))?;
    match body.version {
        0 => return Err(BundleError::Malformed("no bundle version".into())),
        BUNDLE_VERSION => {}
        found => return Err(BundleError::UnsupportedVersion { found }),
    }
    let certificate = NodeCertificate::verify(&body.certificate)?;
    let signature =
        Signature::from_slice(&sealed.signature).map_err(|_| BundleError::BadSignature)?;
    let key =
        VerifyingKey::from_bytes(&certificate.node_key).map_err(|_| BundleError::BadSignature)?;
    let mut message = CONTEXT.to_vec();
    message.extend_from_slice(&sealed.body);
    key.verify_strict(&message, &signature)
        .map_err(|_| BundleError::BadSignature)?;
    for (what, count, max) in [
        ("reports", body.reports.len(), MAX_BUNDLE_REPORTS),
        (
            "key statements",
            body.statements.len(),
            MAX_BUNDLE_STATEMENTS,
        ),
    ] {
        if count > max {
            return Err(BundleError::TooMany { what, count, max });
        }
    }
    if !(body.after <= body.through && body.through <= body.head) {
        return Err(BundleError::Range {
            after: body.after,
            through: body.through,
            head: body.head,
        });
    }
    let recipient = OrgPublicKey::from_bytes(&body.recipient)
        .map_err(|e| BundleError::Recipient(e.to_string()))?;
    Ok(OpenedBundle {
        body: BundleBody {
            certificate: body.certificate,
            statements: body.statements,
            recipient,
            created_ms: body.created_ms,
            after: body.after,
            through: body.through,
            head: body.head,
            more: body.more,
            reports: body
                .reports
                .into_iter()
                .map(|r| BundledReport {
                    envelope: r.envelope,
                    hop: r.hop,
                })
                .collect(),
        },
        certificate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::OrgKey;
    use rand::{SeedableRng, rngs::StdRng};

    fn sample() -> (BundleBody, NodeKey) {
        let mut rng = StdRng::seed_from_u64(7);
        let org = OrgKey::generate(&mut rng);
        let node = NodeKey::generate(&mut rng);
        let certificate = NodeCertificate::issue(&org, node.public_bytes(), "cert-1", 1_000)
            .to_bytes()
            .to_vec();
        let recipient = OrgKey::generate(&mut rng).public();
        let body = BundleBody {
            certificate,
            statements: vec![vec![1, 2, 3]],
            recipient,
            created_ms: 2_000,
            after: 4,
            through: 9,
            head: 12,
            more: true,
            reports: vec![
                BundledReport {
                    envelope: vec![9; 40],
                    hop: 0,
                },
                BundledReport {
                    envelope: vec![8; 10],
                    hop: 2,
                },
            ],
        };
        (body, node)
    }

    #[test]
    fn a_sealed_bundle_opens_to_what_was_written() {
        let (body, node) = sample();
        let opened = open(&seal(&body, &node)).unwrap();
        assert_eq!(opened.body, body);
        assert_eq!(opened.certificate.node_key, node.public_bytes());
    }

    #[test]
    fn a_changed_or_foreign_bundle_is_refused_saying_why() {
        let (body, node) = sample();
        let sealed = seal(&body, &node);
        // Every single-byte change is refused (or, in the signature's padding, still verifies
        // nothing different).
        for i in 0..sealed.len() {
            let mut changed = sealed.clone();
            changed[i] ^= 0x41;
            if let Ok(opened) = open(&changed) {
                assert_eq!(opened.body, body, "byte {i} changed what the bundle says");
            }
        }
        // Arrival numbers that do not hold together (a position moved past the writer's newest).
        let past = BundleBody {
            through: body.head + 1_000_000,
            ..body.clone()
        };
        assert!(matches!(
            open(&seal(&past, &node)),
            Err(BundleError::Range { .. })
        ));
        let backwards = BundleBody {
            after: body.through + 1,
            ..body.clone()
        };
        assert!(matches!(
            open(&seal(&backwards, &node)),
            Err(BundleError::Range { .. })
        ));
        // Signed by another node than its certificate names.
        let other = NodeKey::generate(&mut StdRng::seed_from_u64(99));
        let forged = seal(&body, &other);
        assert!(matches!(open(&forged), Err(BundleError::BadSignature)));
        // Not a bundle, too large, from a newer Cairn.
        assert!(matches!(
            open(b"hello, world"),
            Err(BundleError::Malformed(_))
        ));
        let big = vec![0u8; MAX_BUNDLE_BYTES + 1];
        assert!(
            open(&big)
                .unwrap_err()
                .to_string()
                .contains("a bundle is at most")
        );
        let newer = pb::Bundle {
            body: pb::BundleBody {
                version: 2,
                ..pb::BundleBody::default()
            }
            .encode_to_vec(),
            signature: vec![0; 64],
        }
        .encode_to_vec();
        assert_eq!(
            open(&newer).unwrap_err().to_string(),
            "bundle version 2 is newer than this node understands (version 1); upgrade Cairn to read it"
        );
    }
}
