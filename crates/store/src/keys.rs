//! Key layout of the store's trees.
//!
//! `reports` holds everything durable, written by one atomic batch per ingest:
//! - `RECORD` + arrival number (8 bytes, big-endian) → the stored report (its envelope's place
//!   in the envelope file). Arrival numbers only
//!   grow, so new reports land in the rightmost, cached part of the tree however large it is.
//! - `SUPERSEDED_BY`/`RETRACTED_BY` edges: from id, author, to id.
//! - `NEXT_SEQ` → the next arrival number.
//! - `ENVELOPE_END` → where the envelope file's committed part ends: a record holds its
//!   envelope's place in that file (`envelopes`, beside the trees), not the envelope.
//! - `ARRIVAL` + arrival number → the report's author key (32 bytes), then the key of the
//!   partner organisation that passed it here (32 bytes) if one did: what a pull reads to skip
//!   the reports a partner has, without reading their envelopes. Stores written before these
//!   marks have none for their older reports; those are read whole.
//!
//! `index` holds what queries read, derived from `reports` and rebuilt from it if need be:
//! - postings for author, kind and TLP (one posting for the pair) and tags, each ending with
//!   the created time and the arrival number, so a term lists its reports in time order and a
//!   time range is one key range;
//! - indicator blocks: indicator values are nearly all distinct, so their postings are grouped
//!   by hash bucket into blocks (`INDICATOR_BLOCK`, bucket, tier, last arrival number), merged
//!   four at a time into the next tier so that a bucket holds few blocks;
//! - `ID` + report id (32 bytes) → arrival number (ids of reports past the marker are kept in
//!   memory until the indexer files them here);
//! - the `INDEXED_UP_TO` marker.
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
/// Report id to arrival number.
pub const ID: u8 = b'I';
/// The next arrival number.
pub const NEXT_SEQ: &[u8] = b"N";
/// Where the envelope file's committed part ends (8 bytes, big-endian).
pub const ENVELOPE_END: &[u8] = b"E";
/// Blocks of indicator postings.
pub const INDICATOR_BLOCK: u8 = b'b';
/// Hash buckets of indicator values.
pub const INDICATOR_BUCKETS: u16 = 256;
/// Version edges: old id, author of the new version, new id.
pub const SUPERSEDED_BY: u8 = b's';
/// Retraction edges: withdrawn id, author of the retraction, retraction id.
pub const RETRACTED_BY: u8 = b'r';
/// Arrival marks by arrival number.
pub const ARRIVAL: u8 = b'A';

/// Index key holding the highest arrival number whose postings are written (sorts after
/// every posting: no index byte is 0xff).
pub const INDEXED_UP_TO: &[u8] = b"\xffindexed_up_to";
/// Meta key holding the store format version.
pub const META_FORMAT: &[u8] = b"format";

/// A created time as an order-preserving big-endian key part.
pub fn time_key(created_ms: i64) -> [u8; 8] {
    ((created_ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The prefix of one term's postings: the index byte, then the term: its 8-byte hash for
/// authors and tags (short keys keep sled's nodes small; a collision only costs a look at a
/// report that the query's filter then drops), the two wire numbers for (kind, TLP).
pub fn prefix(index: u8, term: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + 8 + 16);
    key.push(index);
    if index == BY_KIND_TLP {
        key.extend_from_slice(term);
    } else {
        key.extend_from_slice(&term_hash(index, term).to_be_bytes());
    }
    key
}

/// A full posting key: prefix, created time, arrival number.
pub fn posting(prefix: &[u8], created_ms: i64, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 16);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&time_key(created_ms));
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The arrival number at the end of a posting key.
pub fn seq_of_posting(key: &[u8]) -> Option<u64> {
    key.len()
        .checked_sub(8)
        .and_then(|start| decode_seq(&key[start..]))
}

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

/// The key mapping a report id to its arrival number.
pub fn id(id: &ReportId) -> [u8; 33] {
    let mut key = [ID; 33];
    key[1..].copy_from_slice(id.as_bytes());
    key
}

/// The 64-bit hash under which an indicator value's postings are filed.
pub fn indicator_hash(value: &str) -> u64 {
    term_hash(INDICATOR_BLOCK, value.as_bytes())
}

/// The prefix of every block of one bucket (and, with `tier`, of one tier of it).
pub fn block_prefix(bucket: u16, tier: Option<u8>) -> Vec<u8> {
    let mut key = vec![INDICATOR_BLOCK];
    key.extend_from_slice(&bucket.to_be_bytes());
    key.extend(tier);
    key
}

/// The key of a block: bucket, tier, and the highest arrival number it holds.
pub fn block(bucket: u16, tier: u8, last_seq: u64) -> Vec<u8> {
    let mut key = block_prefix(bucket, Some(tier));
    key.extend_from_slice(&last_seq.to_be_bytes());
    key
}

/// One indicator posting inside a block: value hash, created time, arrival number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPosting {
    /// `indicator_hash` of the value.
    pub hash: u64,
    /// Created time of the report.
    pub created_ms: i64,
    /// Arrival number of the report.
    pub seq: u64,
}

impl BlockPosting {
    const LEN: usize = 24;

    /// Appends the posting's bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.hash.to_le_bytes());
        out.extend_from_slice(&self.created_ms.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
    }

    /// Every posting of a block, or `None` if its length is not a whole number of postings.
    pub fn decode_all(block: &[u8]) -> Option<Vec<BlockPosting>> {
        if !block.len().is_multiple_of(Self::LEN) {
            return None;
        }
        Some(
            block
                .chunks_exact(Self::LEN)
                .map(|c| {
                    let word = |i: usize| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&c[i..i + 8]);
                        b
                    };
                    BlockPosting {
                        hash: u64::from_le_bytes(word(0)),
                        created_ms: i64::from_le_bytes(word(8)),
                        seq: u64::from_le_bytes(word(16)),
                    }
                })
                .collect(),
        )
    }
}

/// An arrival number read back from a key or value.
pub fn decode_seq(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_like_times() {
        let times = [-5_i64, 0, 1, 1_700_000_000_000, i64::MAX];
        for pair in times.windows(2) {
            assert!(time_key(pair[0]) < time_key(pair[1]));
        }
    }

    #[test]
    fn postings_end_with_their_arrival_number() {
        let key = posting(&prefix(BY_TAG, b"phishing"), 42, 77);
        assert_eq!(seq_of_posting(&key), Some(77));
        assert_eq!(key.len(), 25);
        assert_eq!(posting(&prefix(BY_KIND_TLP, &[2, 3]), 42, 77).len(), 19);
    }

    #[test]
    fn block_postings_round_trip() {
        let postings = vec![
            BlockPosting {
                hash: 1,
                created_ms: -2,
                seq: 3,
            },
            BlockPosting {
                hash: u64::MAX,
                created_ms: i64::MAX,
                seq: 9,
            },
        ];
        let mut bytes = Vec::new();
        for p in &postings {
            p.encode(&mut bytes);
        }
        assert_eq!(BlockPosting::decode_all(&bytes), Some(postings));
        assert_eq!(BlockPosting::decode_all(&bytes[1..]), None);
    }

    #[test]
    fn the_marker_sorts_after_every_posting() {
        for index in [BY_AUTHOR, BY_KIND_TLP, BY_TAG] {
            assert!(
                posting(&prefix(index, &[0xfe; 2]), i64::MAX, u64::MAX).as_slice() < INDEXED_UP_TO
            );
        }
        assert!(block(u16::MAX, u8::MAX, u64::MAX).as_slice() < INDEXED_UP_TO);
    }
}
