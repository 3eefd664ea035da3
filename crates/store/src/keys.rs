//! Key layout of the store's trees.
//!
//! `reports` holds everything durable, written by one atomic batch per ingest:
//! - `RECORD` + arrival number (8 bytes, big-endian) → the stored report (its envelope's place
//!   in the envelope file). Arrival numbers only
//!   grow, so new reports land in the rightmost, cached part of the tree however large it is.
//! - `SUPERSEDED_BY`/`RETRACTED_BY`/`SIGHTED_BY` edges: from id, author, to id.
//! - `NEXT_SEQ` → the next arrival number.
//! - `ENVELOPE_END` → where the envelope file's committed part ends: a record holds its
//!   envelope's place in that file (`envelopes`, beside the trees), not the envelope.
//! - `ARRIVAL` + arrival number → the report's author key (32 bytes), then the key of the
//!   partner organisation that passed it here (32 bytes) if one did: what a pull reads to skip
//!   the reports a partner has, without reading their envelopes. Stores written before these
//!   marks have none for their older reports; those are read whole.
//!
//! The query index is not here: it lives in run files beside the trees (`runs`), derived from
//! `reports` and rebuilt from it if need be. Its postings are filed under `term_hash` of one
//! of the `BY_*` index bytes and the value.
//!
//! `meta` holds the store format version.

use cairn_core::{OrgPublicKey, ReportId};

/// Postings by author organisation.
pub const BY_AUTHOR: u8 = b'a';
/// Postings by report kind and TLP label together: one posting serves queries by kind (read
/// one range per TLP label), by TLP (one per kind), by both, and by time alone (all ranges).
pub const BY_KIND_TLP: u8 = b'c';
/// Postings by tag.
pub const BY_TAG: u8 = b'g';
/// Durable records by arrival number.
pub const RECORD: u8 = b'R';
/// The next arrival number.
pub const NEXT_SEQ: &[u8] = b"N";
/// Where the envelope file's committed part ends (8 bytes, big-endian).
pub const ENVELOPE_END: &[u8] = b"E";
/// Postings by indicator value.
pub const BY_INDICATOR: u8 = b'b';
/// Postings by word of the title and summary (`cairn_core::search::indexed_words`).
pub const BY_WORD: u8 = b'w';
/// Postings by range or domain an indicator lies inside (`cairn_core::search::containment_keys`).
pub const BY_CONTAINED: u8 = b'n';
/// Postings by the range a CIDR indicator may cover (`cairn_core::correlation::cover_key`).
pub const BY_COVER: u8 = b'v';
/// Postings by sector (as reports normalise labels).
pub const BY_SECTOR: u8 = b'x';
/// Postings by region (as reports normalise labels).
pub const BY_REGION: u8 = b'y';
/// Postings by Paris Call principle (one byte, 1-9).
pub const BY_PRINCIPLE: u8 = b'p';
/// Version edges: old id, author of the new version, new id.
pub const SUPERSEDED_BY: u8 = b's';
/// Retraction edges: withdrawn id, author of the retraction, retraction id.
pub const RETRACTED_BY: u8 = b'r';
/// Arrival marks by arrival number.
pub const ARRIVAL: u8 = b'A';
/// Sighting edges: the report sighted, the sighting's author, the sighting's id.
pub const SIGHTED_BY: u8 = b'h';

/// Meta key holding the store format version.
pub const META_FORMAT: &[u8] = b"format";

/// A stable 64-bit hash of a term of one index (first 8 bytes of SHA-256).
pub fn term_hash(index: u8, term: &[u8]) -> u64 {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update([index]);
    hasher.update(term);
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// An edge key (`SUPERSEDED_BY` or `RETRACTED_BY`): `from`, the author, then `to`.
pub fn edge(kind: u8, from: &ReportId, author: &OrgPublicKey, to: &ReportId) -> Vec<u8> {
    let mut key = edge_prefix(kind, from, author);
    key.extend_from_slice(to.as_bytes());
    key
}

/// The prefix of every edge of one kind from `from` by `author`.
pub fn edge_prefix(kind: u8, from: &ReportId, author: &OrgPublicKey) -> Vec<u8> {
    let mut key = Vec::with_capacity(97);
    key.push(kind);
    key.extend_from_slice(from.as_bytes());
    key.extend_from_slice(author.as_bytes());
    key
}

/// The key of a record.
pub fn record(seq: u64) -> [u8; 9] {
    let mut key = [RECORD; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The key of an arrival mark.
pub fn arrival(seq: u64) -> [u8; 9] {
    let mut key = [ARRIVAL; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// An arrival number read back from a key or value.
pub fn decode_seq(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}
