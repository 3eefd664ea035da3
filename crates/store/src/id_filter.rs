//! An in-memory Bloom filter over the ids of stored reports: most reports a node ingests are
//! new, and the filter says so without a lookup in the id map, which in a large store costs a
//! random read per report.

use cairn_core::ReportId;

/// Probes per id; with 8-16 bits per id this gives about 0.1-2% false positives.
const PROBES: usize = 7;

/// A Bloom filter sized for twice the ids it was built with.
#[derive(Debug)]
pub(crate) struct IdFilter {
    bits: Vec<u64>,
    mask: u64,
    count: u64,
    built_for: u64,
}

impl IdFilter {
    /// An empty filter with room for `expected` ids at about 16 bits each.
    pub(crate) fn with_capacity(expected: u64) -> IdFilter {
        let bits = (expected.max(1 << 16) * 16).next_power_of_two();
        IdFilter {
            bits: vec![0; (bits / 64) as usize],
            mask: bits - 1,
            count: 0,
            built_for: expected.max(1 << 16),
        }
    }

    /// Report ids are SHA-256 outputs: disjoint 4-byte slices are independent uniform probes.
    fn probes(id: &ReportId) -> impl Iterator<Item = u64> + '_ {
        id.as_bytes()
            .chunks_exact(4)
            .take(PROBES)
            .map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
    }

    /// Records an id.
    pub(crate) fn insert(&mut self, id: &ReportId) {
        let mask = self.mask;
        for probe in Self::probes(id) {
            let bit = probe & mask;
            self.bits[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.count += 1;
    }

    /// False: the id is certainly not stored. True: it may be.
    pub(crate) fn may_contain(&self, id: &ReportId) -> bool {
        Self::probes(id).all(|probe| {
            let bit = probe & self.mask;
            self.bits[(bit / 64) as usize] & (1 << (bit % 64)) != 0
        })
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
