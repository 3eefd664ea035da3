//! The private set intersection protocol on the wire (`/cairn/psi/1`): one query, one answer,
//! on its own libp2p protocol beside catch-up, with limits sized for 100,000 values asked and
//! 4,194,304 tags (docs/PSI.md). The bytes are checked by `cairn_core::psi`; this module only
//! frames them.

use std::io;

use cairn_proto::v1 as pb;
use prost::Message;

use crate::wire::{OneMessage, OneMessageCodec};

/// The protocol name.
pub const PSI_PROTOCOL: &str = "/cairn/psi/1";
/// The version of the messages this node writes and reads.
const PSI_VERSION: u32 = 1;
/// Largest query read: 100,000 points of 32 bytes, and framing.
pub const MAX_PSI_QUERY_BYTES: usize = 100_000 * 32 + 1024;
/// Largest answer read: 100,000 points and 4,194,304 tags of 8 bytes, and framing.
pub const MAX_PSI_ANSWER_BYTES: usize = 100_000 * 32 + (1 << 22) * 8 + 1024;

/// "Which of these values do you hold?": blinded points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsiQuery {
    /// Compressed points, 32 bytes each.
    pub blinded: Vec<u8>,
}

/// The answer to a [`PsiQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsiAnswer {
    /// The query's points times the responder's secret, and its tags.
    Answered {
        /// Points, 32 bytes each, in the query's order.
        evaluated: Vec<u8>,
        /// Sorted tags.
        tags: Vec<u64>,
    },
    /// Not answered, and why.
    Refused(String),
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn check_version(version: u32) -> io::Result<()> {
    if version != PSI_VERSION {
        return Err(invalid(format!(
            "PSI message version {version}; this node reads {PSI_VERSION}"
        )));
    }
    Ok(())
}

impl PsiQuery {
    fn decode(bytes: &[u8]) -> io::Result<PsiQuery> {
        let q = pb::PsiQuery::decode(bytes).map_err(|e| invalid(format!("PSI query: {e}")))?;
        check_version(q.version)?;
        Ok(PsiQuery { blinded: q.blinded })
    }

    fn encode(&self) -> Vec<u8> {
        pb::PsiQuery {
            version: PSI_VERSION,
            blinded: self.blinded.clone(),
        }
        .encode_to_vec()
    }
}

impl PsiAnswer {
    fn decode(bytes: &[u8]) -> io::Result<PsiAnswer> {
        let a = pb::PsiAnswer::decode(bytes).map_err(|e| invalid(format!("PSI answer: {e}")))?;
        check_version(a.version)?;
        if !a.refused.is_empty() {
            return Ok(PsiAnswer::Refused(a.refused));
        }
        Ok(PsiAnswer::Answered {
            evaluated: a.evaluated,
            tags: a.tags,
        })
    }

    fn encode(&self) -> Vec<u8> {
        let (evaluated, tags, refused) = match self {
            PsiAnswer::Answered { evaluated, tags } => {
                (evaluated.clone(), tags.clone(), String::new())
            }
            PsiAnswer::Refused(why) => (Vec::new(), Vec::new(), why.clone()),
        };
        pb::PsiAnswer {
            version: PSI_VERSION,
            evaluated,
            tags,
            refused,
        }
        .encode_to_vec()
    }
}

impl OneMessage for PsiQuery {
    const MAX_BYTES: usize = MAX_PSI_QUERY_BYTES;
    fn from_bytes(bytes: &[u8]) -> io::Result<Self> {
        PsiQuery::decode(bytes)
    }
    fn into_bytes(self) -> Vec<u8> {
        self.encode()
    }
}

impl OneMessage for PsiAnswer {
    const MAX_BYTES: usize = MAX_PSI_ANSWER_BYTES;
    fn from_bytes(bytes: &[u8]) -> io::Result<Self> {
        PsiAnswer::decode(bytes)
    }
    fn into_bytes(self) -> Vec<u8> {
        self.encode()
    }
}

/// The PSI protocol's codec.
pub type PsiCodec = OneMessageCodec<PsiQuery, PsiAnswer>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_other_versions_are_refused() {
        let q = PsiQuery {
            blinded: vec![7; 64],
        };
        assert_eq!(PsiQuery::decode(&q.encode()).unwrap(), q);
        for a in [
            PsiAnswer::Answered {
                evaluated: vec![1; 32],
                tags: vec![1, 5, 9],
            },
            PsiAnswer::Refused("not offered".into()),
        ] {
            assert_eq!(PsiAnswer::decode(&a.encode()).unwrap(), a);
        }
        let other = pb::PsiQuery {
            version: 2,
            blinded: Vec::new(),
        }
        .encode_to_vec();
        assert!(
            PsiQuery::decode(&other)
                .unwrap_err()
                .to_string()
                .contains("version 2")
        );
        assert!(PsiQuery::decode(&[0xff, 0xff]).is_err());
    }
}
