//! A MISP event carried in reports as its source sent it: the JSON text of the event object,
//! whole or cut into parts, and the rules a carried part must meet.

use cairn_proto::v1 as pb;
use sha2::{Digest, Sha256};

/// Most parts one event may be cut into (about 900 MiB of event text).
pub const MAX_PARTS: u32 = 1024;

/// One part (or the whole) of a MISP event's JSON text, as a report carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MispEventPart {
    /// The event's uuid, lower case.
    pub uuid: String,
    /// The event's `timestamp` (Unix seconds): which version of the event this is.
    pub timestamp: i64,
    /// Which part, from 0.
    pub part: u32,
    /// How many parts the event text was cut into.
    pub parts: u32,
    /// SHA-256 of the whole event text.
    pub digest: [u8; 32],
    /// This part of the text.
    pub text: String,
}

/// Why carried MISP event parts cannot be joined into the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// Parts of different events or versions were given.
    #[error("parts of different events or versions: {0}")]
    Mixed(String),
    /// Not every part is present.
    #[error("{have} of the {parts} parts of MISP event {uuid} are held")]
    Incomplete {
        /// The event.
        uuid: String,
        /// How many distinct parts are held.
        have: usize,
        /// How many there are.
        parts: u32,
    },
    /// The joined text is not what the author signed a digest of.
    #[error("the parts of MISP event {0} do not join into the text their digest names")]
    Digest(String),
}

impl MispEventPart {
    /// Cuts an event's JSON text into parts of at most about `max_bytes` each (at character
    /// boundaries; at least one part, even for empty text).
    pub fn cut(uuid: &str, timestamp: i64, text: &str, max_bytes: usize) -> Vec<MispEventPart> {
        let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        let max_bytes = max_bytes.max(4);
        let mut pieces: Vec<&str> = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let mut end = max_bytes.min(rest.len());
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            pieces.push(&rest[..end]);
            rest = &rest[end..];
        }
        if pieces.is_empty() {
            pieces.push("");
        }
        let parts = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, piece)| MispEventPart {
                uuid: uuid.to_ascii_lowercase(),
                timestamp,
                part: u32::try_from(i).unwrap_or(u32::MAX),
                parts,
                digest,
                text: piece.to_string(),
            })
            .collect()
    }

    /// Joins the parts of one event version (in any order, repeats allowed) into its text,
    /// checking that every part is there and that the text is the one the digest names.
    pub fn join<'a>(
        parts: impl IntoIterator<Item = &'a MispEventPart>,
    ) -> Result<String, JoinError> {
        let mut parts: Vec<&MispEventPart> = parts.into_iter().collect();
        let Some(first) = parts.first().copied() else {
            return Err(JoinError::Mixed("no part given".into()));
        };
        if let Some(other) = parts.iter().find(|p| {
            p.uuid != first.uuid
                || p.timestamp != first.timestamp
                || p.parts != first.parts
                || p.digest != first.digest
        }) {
            return Err(JoinError::Mixed(format!(
                "{} at {} and {} at {}",
                first.uuid, first.timestamp, other.uuid, other.timestamp
            )));
        }
        parts.sort_by_key(|p| p.part);
        parts.dedup_by_key(|p| p.part);
        if parts.len() != first.parts as usize {
            return Err(JoinError::Incomplete {
                uuid: first.uuid.clone(),
                have: parts.len(),
                parts: first.parts,
            });
        }
        let text: String = parts.iter().map(|p| p.text.as_str()).collect();
        if <[u8; 32]>::from(Sha256::digest(text.as_bytes())) != first.digest {
            return Err(JoinError::Digest(first.uuid.clone()));
        }
        Ok(text)
    }

    /// Its protobuf form.
    pub(crate) fn to_proto(&self) -> pb::MispEventPart {
        pb::MispEventPart {
            uuid: self.uuid.clone(),
            timestamp: self.timestamp,
            part: self.part,
            parts: self.parts,
            digest: self.digest.to_vec(),
            text: self.text.clone(),
        }
    }

    /// A part from its protobuf form, checked; what is wrong otherwise.
    pub(crate) fn from_proto(p: &pb::MispEventPart) -> Result<MispEventPart, String> {
        let digest: [u8; 32] = p
            .digest
            .as_slice()
            .try_into()
            .map_err(|_| "the digest is 32 bytes (SHA-256)".to_string())?;
        let part = MispEventPart {
            uuid: p.uuid.clone(),
            timestamp: p.timestamp,
            part: p.part,
            parts: p.parts,
            digest,
            text: p.text.clone(),
        };
        match part.problem() {
            Some(problem) => Err(problem),
            None => Ok(part),
        }
    }

    /// What is wrong with a carried part, if anything: a UUID, a part among its parts, a
    /// whole event whose text matches its digest.
    pub(crate) fn problem(&self) -> Option<String> {
        if !crate::stix::is_uuid(&self.uuid) || self.uuid.bytes().any(|b| b.is_ascii_uppercase()) {
            return Some(format!("uuid {:?} is not a lower-case UUID", self.uuid));
        }
        if self.parts == 0 || self.parts > MAX_PARTS {
            return Some(format!(
                "an event is cut into 1 to {MAX_PARTS} parts, not {}",
                self.parts
            ));
        }
        if self.part >= self.parts {
            return Some(format!("part {} of {} parts", self.part, self.parts));
        }
        if self.parts == 1 && <[u8; 32]>::from(Sha256::digest(self.text.as_bytes())) != self.digest
        {
            return Some("the event text does not match its digest".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UUID: &str = "5f1b0e7c-0b1a-4c2d-9e3f-1a2b3c4d5e6f";

    proptest! {
        #[test]
        fn cut_parts_join_back_in_any_order(text in "\\PC{0,400}", max in 1usize..64, seed in any::<u64>()) {
            let mut parts = MispEventPart::cut(UUID, 7, &text, max);
            prop_assert!(parts.iter().all(|p| p.problem().is_none() || p.parts > 1));
            prop_assert!(parts.iter().all(|p| p.text.len() <= max.max(4)));
            // Any order.
            let n = parts.len();
            parts.rotate_left((seed as usize) % n);
            prop_assert_eq!(MispEventPart::join(&parts).unwrap(), text);
        }
    }

    #[test]
    fn a_missing_or_altered_part_is_named() {
        let text = "{\"Event\":{\"info\":\"x\"}}";
        let mut parts = MispEventPart::cut(UUID, 7, text, 5);
        assert!(parts.len() > 2);
        let last = parts.pop().unwrap();
        assert!(matches!(
            MispEventPart::join(&parts),
            Err(JoinError::Incomplete { .. })
        ));
        parts.push(MispEventPart {
            text: "}}}}".into(),
            ..last
        });
        assert_eq!(
            MispEventPart::join(&parts),
            Err(JoinError::Digest(UUID.into()))
        );
        let other = MispEventPart::cut(UUID, 8, text, 5);
        assert!(matches!(
            MispEventPart::join(parts.iter().chain(&other)),
            Err(JoinError::Mixed(_))
        ));
    }

    #[test]
    fn a_whole_event_must_match_its_digest() {
        let mut whole = MispEventPart::cut(UUID, 7, "{}", 100).remove(0);
        assert_eq!(whole.problem(), None);
        whole.text = "{ }".into();
        assert!(whole.problem().unwrap().contains("digest"));
        whole.uuid = UUID.to_uppercase();
        assert!(whole.problem().unwrap().contains("lower-case"));
    }
}
