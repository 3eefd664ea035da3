//! Key layout of the store's trees. Every index key ends with the created time and report id,
//! so each index lists reports in time order and a time range is one contiguous key range.

use cairn_core::{OrgPublicKey, ReportId};

/// Index over all reports by creation time.
pub const BY_TIME: u8 = b't';
/// Index by author organisation.
pub const BY_AUTHOR: u8 = b'a';
/// Index by report kind.
pub const BY_KIND: u8 = b'k';
/// Index by TLP label.
pub const BY_TLP: u8 = b'l';
/// Index by tag.
pub const BY_TAG: u8 = b'g';
/// Index by canonical indicator value.
pub const BY_INDICATOR: u8 = b'i';
/// Version edges: old id, author of the new version, new id.
pub const SUPERSEDED_BY: u8 = b's';
/// Retraction edges: withdrawn id, author of the retraction, retraction id.
pub const RETRACTED_BY: u8 = b'r';

/// Meta key holding the store format version.
pub const META_FORMAT: &[u8] = b"format";
/// Meta key holding the next arrival sequence number.
pub const META_NEXT_SEQ: &[u8] = b"next_seq";

/// A created time as an order-preserving big-endian key part.
pub fn time_key(created_ms: i64) -> [u8; 8] {
    ((created_ms as u64) ^ (1 << 63)).to_be_bytes()
}

/// The prefix of one value in an index: the index byte, then the value.
pub fn prefix(index: u8, value: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + value.len() + 1 + 40);
    key.push(index);
    key.extend_from_slice(value);
    if matches!(index, BY_TAG | BY_INDICATOR) {
        // Variable-length values end with a 0 byte (never part of a validated label or value).
        key.push(0);
    }
    key
}

/// A full index key: prefix, created time, report id.
pub fn entry(prefix: &[u8], created_ms: i64, id: &ReportId) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 40);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&time_key(created_ms));
    key.extend_from_slice(id.as_bytes());
    key
}

/// The report id at the end of an index key.
pub fn id_of_entry(key: &[u8]) -> Option<ReportId> {
    key.len()
        .checked_sub(32)
        .and_then(|start| ReportId::from_slice(&key[start..]))
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

/// Arrival sequence number as a key.
pub fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
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
    fn entries_end_with_their_id() {
        let id = ReportId::from_bytes([9; 32]);
        let key = entry(&prefix(BY_TAG, b"phishing"), 42, &id);
        assert_eq!(id_of_entry(&key), Some(id));
    }
}
