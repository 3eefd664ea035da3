//! Signed envelopes: verification (one at a time or in batches), selective disclosures, and
//! copies with disclosures withheld.

use cairn_proto::v1 as pb;
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, VerifyingKey};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::identity::{OrgPublicKey, PublicKeyError};
use crate::model::DisclosureField;
use crate::report::{
    Checks, InvalidReport, Report, ReportId, SignedBy, limits, signed_message,
    validate_reading_objects,
};

/// A report whose signature, content and disclosures have been checked.
///
/// Only verification, signing and [`VerifiedReport::from_stored`] make one, so holding one means
/// the bytes inside were verified on this node. Copies share one verified content (a clone
/// costs a reference count, whatever the report's size), so handing a report to the store, the
/// network task and the indexes copies nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReport(std::sync::Arc<Verified>);

/// What a [`VerifiedReport`] holds.
#[derive(Debug, PartialEq, Eq)]
struct Verified {
    id: ReportId,
    author: OrgPublicKey,
    /// The node key that signed for the author, and when (format 2), if not the author's own
    /// key.
    signer: Option<([u8; 32], i64)>,
    report: Report,
    envelope: Vec<u8>,
    body_len: usize,
    disclosures: Vec<RevealedDisclosure>,
    /// The type, id and version of each carried object, read when they were checked (else
    /// on first use).
    object_versions: ObjectVersions,
}

/// The type, id and version of each object a report carries, read once. Derived from the
/// report's content, so it never makes two reports differ.
#[derive(Debug, Default)]
struct ObjectVersions(std::sync::OnceLock<Vec<crate::stix::ObjectVersion>>);

impl ObjectVersions {
    fn known(versions: Option<Vec<crate::stix::ObjectVersion>>) -> ObjectVersions {
        let cell = std::sync::OnceLock::new();
        if let Some(versions) = versions {
            let _ = cell.set(versions);
        }
        ObjectVersions(cell)
    }
}

impl PartialEq for ObjectVersions {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for ObjectVersions {}

/// A selective disclosure present in this copy of a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RevealedDisclosure {
    /// Which sensitive field.
    pub field: DisclosureField,
    /// Its value.
    pub value: String,
    #[serde(skip)]
    pub(crate) encoded: Vec<u8>,
}

/// Why bytes are not a report this node accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Over the size limit.
    #[error("{size} bytes is larger than a report may be ({max} bytes)")]
    TooLarge {
        /// Size given.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not a protobuf report envelope at all.
    #[error("not a Cairn report (the bytes do not decode as a report envelope: {0})")]
    Malformed(String),
    /// No format version: not something Cairn wrote.
    #[error("not a Cairn report (no format version)")]
    MissingVersion,
    /// Written by a newer Cairn.
    #[error(
        "report format version {found} is newer than this node understands (version {supported}); upgrade Cairn to read it"
    )]
    UnsupportedVersion {
        /// Version in the envelope.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The author key is unusable.
    #[error("author key: {0}")]
    AuthorKey(PublicKeyError),
    /// The signature is not 64 bytes.
    #[error("signature: expected 64 bytes, found {0}")]
    SignatureLength(usize),
    /// The signature does not match the author key and body.
    #[error(
        "the signature does not verify: the report was changed after signing or was not signed by its stated author"
    )]
    BadSignature,
    /// The signer key of a format 2 envelope is missing or unusable, or a format 1 envelope
    /// names one.
    #[error("signer key: {0}")]
    SignerKey(String),
    /// Signed by a key that may not sign for the author at the time it signed: a node key or
    /// later organisation key the author's statements do not let sign then, or the author's
    /// first key after it was handed over or revoked.
    #[error("signed by key {key}, which may not sign its author's reports then: {reason}")]
    Signer {
        /// The author the report names (whose statements were asked).
        author: OrgPublicKey,
        /// The signing key, in hexadecimal.
        key: String,
        /// Why, as the author organisation's key statements say.
        reason: String,
    },
    /// The body does not decode.
    #[error("report body does not decode: {0}")]
    MalformedBody(String),
    /// The body breaks a rule.
    #[error("invalid report: {0}")]
    Invalid(#[from] InvalidReport),
    /// A disclosure is not one of the report's.
    #[error("disclosure {index}: {reason}")]
    Disclosure {
        /// Position in the envelope.
        index: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Which keys may sign reports for an organisation, as the organisation's key statements say:
/// node keys and later organisation keys (envelope format 2), and the organisation's first
/// key itself (format 1) until it is handed over or revoked.
pub trait Signers: Sync {
    /// Whether `signer` may sign reports for `author` at `signed_ms`; a refusal says why.
    fn may_sign(
        &self,
        author: &OrgPublicKey,
        signer: &[u8; 32],
        signed_ms: i64,
    ) -> Result<(), String>;

    /// Whether the organisation's first key `author` may still sign a report created at
    /// `created_ms` (format 1): not after it was handed over to another key or revoked. With
    /// no statements of the organisation known, it may.
    fn first_key_may_sign(&self, author: &OrgPublicKey, created_ms: i64) -> Result<(), String>;
}

/// No organisation's key statements: only reports signed by their organisation key verify.
pub struct OrganisationKeysOnly;

impl Signers for OrganisationKeysOnly {
    fn may_sign(&self, _: &OrgPublicKey, _: &[u8; 32], _: i64) -> Result<(), String> {
        Err("the author organisation's key statements are not known here".into())
    }

    fn first_key_may_sign(&self, _: &OrgPublicKey, _: i64) -> Result<(), String> {
        Ok(())
    }
}

/// Everything about an envelope that is checked before its signature.
struct Prepared {
    id: ReportId,
    author: OrgPublicKey,
    signer: Option<([u8; 32], i64)>,
    /// Decompressed key of the signer (the author, or its node for format 2); `None` for
    /// bytes read back from this node's store.
    verifying_key: Option<VerifyingKey>,
    signature: Signature,
    message: Vec<u8>,
    report: Report,
    object_versions: Option<Vec<crate::stix::ObjectVersion>>,
    disclosures: Vec<RevealedDisclosure>,
    body_len: usize,
    envelope: Vec<u8>,
}

impl Prepared {
    fn into_verified(self) -> VerifiedReport {
        VerifiedReport(std::sync::Arc::new(Verified {
            id: self.id,
            author: self.author,
            signer: self.signer,
            report: self.report,
            envelope: self.envelope,
            body_len: self.body_len,
            disclosures: self.disclosures,
            object_versions: ObjectVersions::known(self.object_versions),
        }))
    }

    fn verify_strict(&self) -> Result<(), VerifyError> {
        self.verifying_key
            .ok_or(VerifyError::BadSignature)?
            .verify_strict(&self.message, &self.signature)
            .map_err(|_| VerifyError::BadSignature)
    }

    /// Whether this signature can go into a batch whose success implies strict verification:
    /// the nonce point R must not be of small order (the key was checked; an R that does not
    /// decode fails the batch, and strict one-by-one checks then reject it).
    fn batchable(&self) -> bool {
        self.verifying_key.is_some() && !small_order_encoding(self.signature.r_bytes())
    }
}

/// The y coordinates (canonical, sign bit cleared) of the eight points of small order.
fn small_order_ys() -> &'static [[u8; 32]] {
    static YS: std::sync::OnceLock<Vec<[u8; 32]>> = std::sync::OnceLock::new();
    YS.get_or_init(|| {
        // A point of order 8; its multiples are the whole small-order subgroup.
        const ORDER_EIGHT: [u8; 32] = [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ];
        let mut ys = Vec::new();
        if let Some(t) = CompressedEdwardsY(ORDER_EIGHT).decompress() {
            let mut p = curve25519_dalek::EdwardsPoint::default();
            for _ in 0..8 {
                let mut y = p.compress().to_bytes();
                y[31] &= 0x7f;
                if !ys.contains(&y) {
                    ys.push(y);
                }
                p += t;
            }
        }
        ys
    })
}

/// Whether 32 bytes encode a point of small order, canonically or not, without
/// decompressing them (a decompression costs a field square root).
fn small_order_encoding(bytes: &[u8]) -> bool {
    let Ok(mut y) = <[u8; 32]>::try_from(bytes) else {
        return false;
    };
    y[31] &= 0x7f;
    // Non-canonical: y >= p = 2^255 - 19 stands for y - p.
    if y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed {
        let low = y[0] - 0xed;
        y = [0; 32];
        y[0] = low;
    }
    small_order_ys().contains(&y)
}

/// Whether an envelope comes from outside (everything checked) or from this node's store
/// (checked when it was stored; the author key is not decompressed again).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Outside,
    Stored,
}

/// Author keys already decompressed during one batch: a batch usually holds many reports by
/// the same few authors, and a decompression costs a field square root.
#[derive(Default)]
struct KeyCache(Vec<(OrgPublicKey, VerifyingKey)>);

impl KeyCache {
    /// Most distinct keys remembered.
    const MAX: usize = 64;

    fn parse(&mut self, bytes: &[u8]) -> Result<(OrgPublicKey, VerifyingKey), PublicKeyError> {
        if let Some(found) = self
            .0
            .iter()
            .find(|(k, _)| k.as_bytes().as_slice() == bytes)
        {
            return Ok(*found);
        }
        let parsed = OrgPublicKey::parse(bytes)?;
        if self.0.len() < Self::MAX {
            self.0.push(parsed);
        }
        Ok(parsed)
    }
}

fn prepare(
    bytes: std::borrow::Cow<'_, [u8]>,
    origin: Origin,
    keys: &mut KeyCache,
    signers: &dyn Signers,
) -> Result<Prepared, VerifyError> {
    let envelope = decode_envelope(&bytes)?;
    let node_signer = signer_of(&envelope)?;
    let (author, verifying_key) = match origin {
        Origin::Outside => {
            let (author, key) = keys
                .parse(&envelope.author_key)
                .map_err(VerifyError::AuthorKey)?;
            let key = match &node_signer {
                None => key,
                Some((signer, _)) => {
                    keys.parse(signer)
                        .map_err(|e| VerifyError::SignerKey(e.to_string()))?
                        .1
                }
            };
            (author, Some(key))
        }
        Origin::Stored => (
            OrgPublicKey::from_checked(&envelope.author_key).map_err(VerifyError::AuthorKey)?,
            None,
        ),
    };
    let signature = Signature::from_slice(&envelope.signature)
        .map_err(|_| VerifyError::SignatureLength(envelope.signature.len()))?;
    let body = pb::ReportBody::decode(envelope.body.as_slice())
        .map_err(|e| VerifyError::MalformedBody(e.to_string()))?;
    let checks = match origin {
        Origin::Outside => Checks::All,
        Origin::Stored => Checks::StoredHere,
    };
    let (report, object_versions) = validate_reading_objects(body, checks, None)?;
    // A node key or a later organisation key signs only while the organisation's statements
    // let it; the first key, only until it is handed over or revoked (checked when it was
    // stored, for a stored envelope).
    if origin == Origin::Outside {
        match &node_signer {
            Some((signer, signed_ms)) => signers.may_sign(&author, signer, *signed_ms),
            None => signers.first_key_may_sign(&author, report.created_ms),
        }
        .map_err(|reason| VerifyError::Signer {
            author,
            key: hex::encode(node_signer.map_or(*author.as_bytes(), |(key, _)| key)),
            reason,
        })?;
    }
    let disclosures = check_disclosures(&report, envelope.disclosures, origin)?;
    let id = ReportId::compute(&author, &envelope.body);
    // The signed message; a stored envelope's signature is not checked again.
    let message = match origin {
        Origin::Outside => signed_message(
            envelope.format_version,
            author.as_bytes(),
            signed_by(node_signer.as_ref()),
            &id,
            &envelope.body,
        ),
        Origin::Stored => Vec::new(),
    };
    Ok(Prepared {
        id,
        signer: node_signer,
        verifying_key,
        author,
        signature,
        message,
        report,
        object_versions,
        disclosures,
        body_len: envelope.body.len(),
        envelope: bytes.into_owned(),
    })
}

/// The key that signed an envelope when it is not the author's first key, and when it signed;
/// refused when the envelope's format and its signer fields disagree.
fn signer_of(envelope: &pb::ReportEnvelope) -> Result<Option<([u8; 32], i64)>, VerifyError> {
    let format = envelope.format_version;
    let named = !envelope.signer_key.is_empty();
    match format {
        cairn_proto::FORMAT_NODE_SIGNED | cairn_proto::FORMAT_ID_SIGNED
            if named || format == cairn_proto::FORMAT_NODE_SIGNED =>
        {
            let key = envelope.signer_key.as_slice().try_into().map_err(|_| {
                VerifyError::SignerKey(format!(
                    "a report of format {format} names the key that signed it in 32 bytes, not {}",
                    envelope.signer_key.len()
                ))
            })?;
            Ok(Some((key, envelope.signed_ms)))
        }
        _ if named || envelope.signed_ms != 0 => Err(VerifyError::SignerKey(format!(
            "a report of format {format} signed by its author names no other signer and no signing time"
        ))),
        _ => Ok(None),
    }
}

/// The signer of [`signer_of`] as the signed message names it.
pub(crate) fn signed_by(node_signer: Option<&([u8; 32], i64)>) -> SignedBy<'_> {
    match node_signer {
        None => SignedBy::Author,
        Some((key, signed_ms)) => SignedBy::Delegate {
            key,
            signed_ms: *signed_ms,
        },
    }
}

fn decode_envelope(bytes: &[u8]) -> Result<pb::ReportEnvelope, VerifyError> {
    if bytes.len() > limits::MAX_ENVELOPE_BYTES {
        return Err(VerifyError::TooLarge {
            size: bytes.len(),
            max: limits::MAX_ENVELOPE_BYTES,
        });
    }
    let envelope =
        pb::ReportEnvelope::decode(bytes).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    match envelope.format_version {
        0 => Err(VerifyError::MissingVersion),
        v if v > cairn_proto::FORMAT_VERSION => Err(VerifyError::UnsupportedVersion {
            found: v,
            supported: cairn_proto::FORMAT_VERSION,
        }),
        _ => Ok(envelope),
    }
}

fn check_disclosures(
    report: &Report,
    encoded: Vec<Vec<u8>>,
    origin: Origin,
) -> Result<Vec<RevealedDisclosure>, VerifyError> {
    let mut seen: Vec<[u8; 32]> = Vec::with_capacity(encoded.len());
    let mut out = Vec::with_capacity(encoded.len());
    for (index, bytes) in encoded.into_iter().enumerate() {
        let fail = |reason: &str| VerifyError::Disclosure {
            index,
            reason: reason.to_string(),
        };
        // Digests were checked when this node stored the envelope.
        if origin == Origin::Outside {
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            if !report.disclosure_digests.contains(&digest) {
                return Err(fail(
                    "its digest is not in the signed report: it was changed or does not belong to this report",
                ));
            }
            if seen.contains(&digest) {
                return Err(fail("included twice"));
            }
            seen.push(digest);
        }
        let disclosure = pb::Disclosure::decode(bytes.as_slice())
            .map_err(|e| fail(&format!("does not decode ({e})")))?;
        let field = DisclosureField::from_proto(disclosure.field)
            .ok_or_else(|| fail(&format!("unknown disclosure field {}", disclosure.field)))?;
        if disclosure.salt.len() != 16 {
            return Err(fail("its salt is not 16 bytes"));
        }
        out.push(RevealedDisclosure {
            field,
            value: disclosure.value,
            encoded: bytes,
        });
    }
    Ok(out)
}

/// Verifies one envelope strictly. A report signed by a node key (format 2) is refused: use
/// [`verify_with`] and the author's key statements.
pub fn verify(bytes: &[u8]) -> Result<VerifiedReport, VerifyError> {
    verify_with(bytes, &OrganisationKeysOnly)
}

/// Verifies one envelope strictly; `signers` says which node keys may sign for which author.
pub fn verify_with(bytes: &[u8], signers: &dyn Signers) -> Result<VerifiedReport, VerifyError> {
    let prepared = prepare(
        bytes.into(),
        Origin::Outside,
        &mut KeyCache::default(),
        signers,
    )?;
    prepared.verify_strict()?;
    Ok(prepared.into_verified())
}

/// Verifies many envelopes, checking their signatures in one batch.
///
/// The result has one entry per input, in order. If the batch fails, every signature in it is
/// checked on its own with strict verification, so one bad report never rejects good ones. A
/// signature is only batched when batch success implies it passes strict verification too.
pub fn verify_batch<B: AsRef<[u8]>>(envelopes: &[B]) -> Vec<Result<VerifiedReport, VerifyError>> {
    verify_batch_with(envelopes, &OrganisationKeysOnly)
}

/// [`verify_batch`], with `signers` saying which node keys may sign for which author.
pub fn verify_batch_with<B: AsRef<[u8]>>(
    envelopes: &[B],
    signers: &dyn Signers,
) -> Vec<Result<VerifiedReport, VerifyError>> {
    let mut keys = KeyCache::default();
    let mut results: Vec<Result<Prepared, VerifyError>> = envelopes
        .iter()
        .map(|b| prepare(b.as_ref().into(), Origin::Outside, &mut keys, signers))
        .collect();
    let batch: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.as_ref().is_ok_and(Prepared::batchable))
        .map(|(i, _)| i)
        .collect();
    let batch_ok = batch.len() > 1 && {
        let prepared: Vec<&Prepared> = batch
            .iter()
            .filter_map(|i| results[*i].as_ref().ok())
            .collect();
        let messages: Vec<&[u8]> = prepared.iter().map(|p| p.message.as_slice()).collect();
        let signatures: Vec<Signature> = prepared.iter().map(|p| p.signature).collect();
        let keys: Vec<VerifyingKey> = prepared.iter().filter_map(|p| p.verifying_key).collect();
        ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
    };
    for (i, result) in results.iter_mut().enumerate() {
        let checked_in_batch = batch_ok && batch.binary_search(&i).is_ok();
        if let Ok(prepared) = result
            && !checked_in_batch
            && let Err(e) = prepared.verify_strict()
        {
            *result = Err(e);
        }
    }
    results
        .into_iter()
        .map(|r| r.map(Prepared::into_verified))
        .collect()
}

/// How many cores this process may use, read once: the standard library reads the cgroup
/// quota files on every call, which costs more than signing a small report.
pub fn available_cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// [`verify_batch`] spread over up to `threads` threads (0: one per available core), for
/// large batches. Same results, in the same order.
pub fn verify_batch_parallel<B: AsRef<[u8]> + Sync>(
    envelopes: &[B],
    threads: usize,
) -> Vec<Result<VerifiedReport, VerifyError>> {
    verify_batch_parallel_with(envelopes, threads, &OrganisationKeysOnly)
}

/// [`verify_batch_parallel`], with `signers` saying which node keys may sign for which author.
pub fn verify_batch_parallel_with<B: AsRef<[u8]> + Sync>(
    envelopes: &[B],
    threads: usize,
    signers: &dyn Signers,
) -> Vec<Result<VerifiedReport, VerifyError>> {
    let threads = match threads {
        0 => available_cores(),
        n => n,
    };
    // Below this many per thread, starting threads costs more than it saves.
    const MIN_PER_THREAD: usize = 32;
    let threads = threads.min(envelopes.len() / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return verify_batch_with(envelopes, signers);
    }
    let chunk = envelopes.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let workers: Vec<_> = envelopes
            .chunks(chunk)
            .map(|part| scope.spawn(move || verify_batch_with(part, signers)))
            .collect();
        let mut results = Vec::with_capacity(envelopes.len());
        for (worker, part) in workers.into_iter().zip(envelopes.chunks(chunk)) {
            match worker.join() {
                Ok(part_results) => results.extend(part_results),
                // A panicking verifier is a bug; check that part again on this thread.
                Err(_) => results.extend(verify_batch_with(part, signers)),
            }
        }
        results
    })
}

/// What sharing decisions need of an envelope this node stored, read without decoding the
/// report's content.
#[derive(Debug, Clone)]
pub struct StoredMarking {
    /// The report id.
    pub id: ReportId,
    /// Its author.
    pub author: OrgPublicKey,
    /// The report's marking: kind, creation time, TLP, distribution, recipients, tags,
    /// sectors, regions. Its content fields (title, summary, indicators, disclosures) are
    /// left empty: use it for sharing decisions only.
    pub marking: Report,
}

/// Reads the marking of an envelope this node stored (it was verified when it was stored).
pub fn stored_marking(bytes: &[u8]) -> Result<StoredMarking, VerifyError> {
    read_stored_marking(bytes, None)
}

/// [`stored_marking`] for an envelope whose id the caller found it by: the body is not hashed
/// again, so reading the marking of a large report costs about what a small one does.
pub fn stored_marking_of(id: ReportId, bytes: &[u8]) -> Result<StoredMarking, VerifyError> {
    read_stored_marking(bytes, Some(id))
}

fn read_stored_marking(bytes: &[u8], id: Option<ReportId>) -> Result<StoredMarking, VerifyError> {
    let envelope = decode_envelope(bytes)?;
    let author =
        OrgPublicKey::from_checked(&envelope.author_key).map_err(VerifyError::AuthorKey)?;
    let view = pb::ReportMarking::decode(envelope.body.as_slice())
        .map_err(|e| VerifyError::MalformedBody(e.to_string()))?;
    Ok(StoredMarking {
        id: id.unwrap_or_else(|| ReportId::compute(&author, &envelope.body)),
        author,
        marking: crate::report::marking(view)?,
    })
}

/// The STIX objects an envelope this node stored carries, read without decoding or checking
/// the rest of the report (it was verified when it was stored).
pub fn stored_stix_objects(bytes: &[u8]) -> Result<Vec<String>, VerifyError> {
    let envelope = decode_envelope(bytes)?;
    let view = pb::ReportCarried::decode(envelope.body.as_slice())
        .map_err(|e| VerifyError::MalformedBody(e.to_string()))?;
    Ok(view.stix_objects)
}

/// The id of an envelope this node stored, without checking anything else (the envelope was
/// verified when it was stored).
pub fn id_of_stored(bytes: &[u8]) -> Result<ReportId, VerifyError> {
    let envelope = decode_envelope(bytes)?;
    let author =
        OrgPublicKey::from_checked(&envelope.author_key).map_err(VerifyError::AuthorKey)?;
    Ok(ReportId::compute(&author, &envelope.body))
}

impl VerifiedReport {
    /// Rebuilds a report from bytes this node verified before storing them. The signature is
    /// not checked again; everything else is.
    pub fn from_stored(bytes: &[u8]) -> Result<VerifiedReport, VerifyError> {
        Self::read_stored(bytes.into())
    }

    /// [`VerifiedReport::from_stored`] for bytes the caller owns (no copy).
    pub fn from_stored_owned(bytes: Vec<u8>) -> Result<VerifiedReport, VerifyError> {
        Self::read_stored(bytes.into())
    }

    /// A node key's authorisation was checked when the report was stored.
    fn read_stored(bytes: std::borrow::Cow<'_, [u8]>) -> Result<VerifiedReport, VerifyError> {
        prepare(
            bytes,
            Origin::Stored,
            &mut KeyCache::default(),
            &OrganisationKeysOnly,
        )
        .map(Prepared::into_verified)
    }

    pub(crate) fn from_parts(
        id: ReportId,
        author: OrgPublicKey,
        signer: Option<([u8; 32], i64)>,
        (report, object_versions): (Report, Option<Vec<crate::stix::ObjectVersion>>),
        envelope: Vec<u8>,
        body_len: usize,
        disclosures: Vec<RevealedDisclosure>,
    ) -> VerifiedReport {
        VerifiedReport(std::sync::Arc::new(Verified {
            id,
            author,
            signer,
            report,
            envelope,
            body_len,
            disclosures,
            object_versions: ObjectVersions::known(object_versions),
        }))
    }

    /// The type, id and version of each STIX object the report carries, in order; read from
    /// the objects once (when the report was checked, or on first use).
    pub fn object_versions(&self) -> &[crate::stix::ObjectVersion] {
        self.0
            .object_versions
            .0
            .get_or_init(|| crate::stix::object_versions_of(&self.0.report.stix_objects))
    }

    /// The node key that signed for the author (envelope format 2); none when the author's
    /// organisation key signed.
    pub fn signer_key(&self) -> Option<[u8; 32]> {
        self.0.signer.map(|(key, _)| key)
    }

    /// When the node key signed (envelope format 2): the time its authorisation is checked at.
    pub fn signed_ms(&self) -> Option<i64> {
        self.0.signer.map(|(_, at)| at)
    }

    /// The report id.
    pub fn id(&self) -> ReportId {
        self.0.id
    }

    /// The organisation that signed it.
    pub fn author(&self) -> OrgPublicKey {
        self.0.author
    }

    /// The validated content.
    pub fn report(&self) -> &Report {
        &self.0.report
    }

    /// The envelope bytes of this copy (with whatever disclosures it carries).
    pub fn envelope_bytes(&self) -> &[u8] {
        &self.0.envelope
    }

    /// A copy of the report's marking only (kind, creation time, TLP, distribution,
    /// recipients, tags, sectors, regions, what it retracts): what sharing decisions read,
    /// without copying the content. Content fields are left empty.
    pub fn marking(&self) -> Report {
        let r = &self.0.report;
        Report {
            kind: r.kind,
            title: String::new(),
            summary: String::new(),
            severity: None,
            confidence: 0,
            created_ms: r.created_ms,
            tlp: r.tlp,
            distribution: r.distribution.clone(),
            recipients: r.recipients.clone(),
            tags: r.tags.clone(),
            sectors: r.sectors.clone(),
            regions: r.regions.clone(),
            paris_call_principles: Vec::new(),
            indicators: Vec::new(),
            supersedes: None,
            retracts: r.retracts,
            disclosure_digests: Vec::new(),
            stix_objects: Vec::new(),
            misp_event: None,
            language: None,
            observance: None,
            coding: None,
            directory_entry: None,
            concerns: r.concerns,
            sighting: None,
        }
    }

    /// The envelope bytes, taken out of the report.
    pub fn into_envelope(self) -> Vec<u8> {
        match std::sync::Arc::try_unwrap(self.0) {
            Ok(verified) => verified.envelope,
            Err(shared) => shared.envelope.clone(),
        }
    }

    /// Size of the signed body in bytes.
    pub fn body_len(&self) -> usize {
        self.0.body_len
    }

    /// The disclosures present in this copy.
    pub fn disclosures(&self) -> &[RevealedDisclosure] {
        &self.0.disclosures
    }

    /// How many of the report's disclosures this copy does not carry.
    pub fn withheld(&self) -> usize {
        self.0.report.disclosure_digests.len() - self.0.disclosures.len()
    }

    /// A copy without the disclosures of the given fields. It still verifies, and shows how
    /// many disclosures were withheld.
    pub fn withhold(&self, fields: &[DisclosureField]) -> VerifiedReport {
        let kept: Vec<RevealedDisclosure> = self
            .0
            .disclosures
            .iter()
            .filter(|d| !fields.contains(&d.field))
            .cloned()
            .collect();
        // The stored envelope decoded when it was verified; the signed parts are reused as is.
        let mut envelope = match pb::ReportEnvelope::decode(self.0.envelope.as_slice()) {
            Ok(e) => e,
            Err(_) => unreachable!("a verified envelope decodes"),
        };
        envelope.disclosures = kept.iter().map(|d| d.encoded.clone()).collect();
        VerifiedReport(std::sync::Arc::new(Verified {
            id: self.0.id,
            author: self.0.author,
            signer: self.0.signer,
            report: self.0.report.clone(),
            envelope: envelope.encode_to_vec(),
            body_len: self.0.body_len,
            disclosures: kept,
            object_versions: ObjectVersions::known(self.0.object_versions.0.get().cloned()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngCore, SeedableRng};

    #[test]
    fn carried_object_versions_are_the_same_however_the_report_was_read() {
        use crate::stix::{ObjectVersion, StixTime};
        use crate::{OrgKey, ReportKind, Tlp};
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let author = OrgKey::generate(&mut rng);
        let indicator = r#"{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-07T20:03:48.123Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2016-04-06T20:03:48Z"}"#;
        let address = r#"{"type":"ipv4-addr","id":"ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd","value":"198.51.100.3"}"#;
        let draft = crate::ReportDraft {
            kind: Some(ReportKind::Indicator),
            title: "carried".into(),
            tlp: Some(Tlp::Green),
            stix_objects: vec![indicator.into(), address.into()],
            ..crate::ReportDraft::default()
        };
        let expected = vec![
            ObjectVersion {
                kind: "indicator".into(),
                id: "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".into(),
                version: StixTime::parse("2016-04-07T20:03:48.123Z"),
            },
            ObjectVersion {
                kind: "ipv4-addr".into(),
                id: "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd".into(),
                version: None,
            },
        ];
        let signed = draft.sign(&author, &mut rng).unwrap();
        let received = verify(signed.envelope_bytes()).unwrap();
        let stored = VerifiedReport::from_stored(signed.envelope_bytes()).unwrap();
        let withheld = stored.withhold(&[]);
        for report in [&signed, &received, &stored, &withheld] {
            assert_eq!(report.object_versions(), expected.as_slice());
        }
        assert_eq!(signed, stored);
        let plain = crate::sample::indicator_report(&mut rng, 1)
            .sign(&author, &mut rng)
            .unwrap();
        assert!(plain.object_versions().is_empty());
    }

    #[test]
    fn a_stored_marking_matches_the_full_report() {
        use crate::{OrgKey, ReportKind, Scope, Tlp, sample};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let author = OrgKey::generate(&mut rng);
        let recipient = OrgKey::generate(&mut rng).public();
        for n in 0..40u64 {
            let mut draft = sample::indicator_report(&mut rng, n);
            draft.tags = vec![" Phishing ".into(), "law-enforcement".into()];
            match n % 4 {
                0 => {
                    draft.tlp = Some(Tlp::Red);
                    draft.scope = None;
                    draft.recipients = vec![recipient];
                    draft.hop_limit = None;
                }
                1 => {
                    draft.tlp = Some(Tlp::Clear);
                    draft.scope = Some(Scope::Unrestricted);
                    draft.hop_limit = None;
                }
                2 => draft.community = Some("finance-isac".into()),
                _ => {}
            }
            let report = draft.sign(&author, &mut rng).unwrap();
            let view = stored_marking(report.envelope_bytes()).unwrap();
            let full = report.report();
            assert_eq!(view.id, report.id());
            assert_eq!(view.author, report.author());
            let m = &view.marking;
            assert_eq!(m.kind, full.kind);
            assert_eq!(m.created_ms, full.created_ms);
            assert_eq!(m.tlp, full.tlp);
            assert_eq!(m.distribution, full.distribution);
            assert_eq!(m.recipients, full.recipients);
            assert_eq!(m.tags, full.tags);
            assert_eq!(m.sectors, full.sectors);
            assert_eq!(m.regions, full.regions);
            assert!(m.indicators.is_empty() && m.title.is_empty());
            let tombstone = crate::retract(&report, "test", &author, &mut rng).unwrap();
            let view = stored_marking(tombstone.envelope_bytes()).unwrap();
            assert_eq!(view.marking.kind, ReportKind::Retraction);
            assert_eq!(view.marking.retracts, Some(report.id()));
        }
    }

    #[test]
    fn the_small_order_subgroup_is_found() {
        // Eight points, five distinct y coordinates (0, 1, -1 and the order-8 pair).
        assert_eq!(small_order_ys().len(), 5);
        for y in small_order_ys() {
            for sign in [0u8, 0x80] {
                let mut bytes = *y;
                bytes[31] |= sign;
                assert!(small_order_encoding(&bytes));
                if let Some(point) = CompressedEdwardsY(bytes).decompress() {
                    assert!(point.is_small_order());
                }
            }
        }
    }

    #[test]
    fn small_order_checks_agree_with_decompression_for_any_encoding() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut cases: Vec<[u8; 32]> = (0..20_000)
            .map(|_| {
                let mut b = [0u8; 32];
                rng.fill_bytes(&mut b);
                b
            })
            .collect();
        // Non-canonical encodings: y = p + k for k < 19, both signs.
        for k in 0..19u8 {
            let mut b = [0xffu8; 32];
            b[0] = 0xed + k;
            b[31] = 0x7f;
            cases.push(b);
            b[31] = 0xff;
            cases.push(b);
        }
        for b in cases {
            if let Some(point) = CompressedEdwardsY(b).decompress() {
                assert_eq!(
                    small_order_encoding(&b),
                    point.is_small_order(),
                    "{}",
                    hex::encode(b)
                );
            }
        }
    }
}
