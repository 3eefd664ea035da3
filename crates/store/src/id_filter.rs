//! An in-memory Bloom filter over the ids of stored reports: most reports a node ingests are
//! new, and the filter says so without a lookup in the id map, which in a large store costs a
//! random read per report.

use cairn_core::ReportId;

use crate::bloom::Bloom;

/// Bits per id the filter is sized with: about 0.1% false positives, and 2% once it holds
/// twice as many ids (when it is rebuilt).
const BITS_PER_ID: u64 = 16;

/// A Bloom filter sized for twice the ids it was built with.
#[derive(Debug)]
pub(crate) struct IdFilter {
    bloom: Bloom,
    count: u64,
    built_for: u64,
}

/// Report ids are SHA-256 outputs: their first eight bytes are a uniform key.
fn key(id: &ReportId) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&id.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

impl IdFilter {
    /// An empty filter with room for `expected` ids (at least 65,536) at 16 bits each.
    pub(crate) fn with_capacity(expected: u64) -> IdFilter {
        let built_for = expected.max(1 << 16);
        IdFilter {
            bloom: Bloom::with_capacity(built_for, BITS_PER_ID),
            count: 0,
            built_for,
        }
    }

    /// Records an id.
    pub(crate) fn insert(&mut self, id: &ReportId) {
        self.bloom.insert(key(id));
        self.count += 1;
    }

    /// False: the id is certainly not stored. True: it may be.
    pub(crate) fn may_contain(&self, id: &ReportId) -> bool {
        self.bloom.may_contain(key(id))
    }

    /// Whether the filter holds so many more ids than it was sized for that it should be
    /// rebuilt.
    pub(crate) fn overfull(&self) -> bool {
        self.count > self.built_for.saturating_mul(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut filter = IdFilter::with_capacity(100_000);
        let stored: Vec<ReportId> = (0..100_000)
            .map(|_| ReportId::from_bytes(rng.r#gen()))
            .collect();
        for id in &stored {
            filter.insert(id);
        }
        assert!(stored.iter().all(|id| filter.may_contain(id)));
        let false_positives = (0..100_000)
            .filter(|_| filter.may_contain(&ReportId::from_bytes(rng.r#gen())))
            .count();
        assert!(
            false_positives < 1_000,
            "{false_positives} false positives in 100,000"
        );
        assert!(!filter.overfull());
    }
}
