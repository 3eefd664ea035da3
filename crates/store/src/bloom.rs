//! A blocked Bloom filter over 64-bit keys that are already uniform hashes (report ids, index
//! term hashes): whether a set certainly lacks a key, answered from memory. Each key sets
//! `PROBES` bits in one 512-bit block, so a check touches one cache line.

/// Bits set per key; with 10 bits per key this gives about 1% false positives, with 16 about
/// 0.1%.
const PROBES: u32 = 7;
/// 64-bit words in a block: 512 bits, one cache line.
const BLOCK_WORDS: usize = 8;
/// Bytes of one block when written out.
pub(crate) const BLOCK_BYTES: usize = BLOCK_WORDS * 8;

/// A Bloom filter of a fixed number of blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bloom {
    words: Vec<u64>,
}

/// A fresh 64-bit mix of `key` (the SplitMix64 finaliser): the bits within a block must not
/// depend on the bits that chose the block.
fn mix(key: u64) -> u64 {
    let mut z = key;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Bloom {
    /// An empty filter with `bits_per_key` bits for each of `keys` keys (at least one block).
    pub(crate) fn with_capacity(keys: u64, bits_per_key: u64) -> Bloom {
        let blocks = keys.saturating_mul(bits_per_key).div_ceil(512).max(1);
        Bloom {
            words: vec![0; (blocks as usize).saturating_mul(BLOCK_WORDS)],
        }
    }

    fn blocks(&self) -> u64 {
        (self.words.len() / BLOCK_WORDS) as u64
    }

    /// The first word of `key`'s block and the bit of each probe within it.
    fn probes(&self, key: u64) -> (usize, impl Iterator<Item = usize> + use<>) {
        // The key's high bits choose the block (a multiply-shift range reduction).
        let block = ((u128::from(key) * u128::from(self.blocks())) >> 64) as usize;
        let bits = mix(key);
        (
            block * BLOCK_WORDS,
            (0..PROBES).map(move |i| ((bits >> (9 * i)) & 511) as usize),
        )
    }

    /// Records a key.
    pub(crate) fn insert(&mut self, key: u64) {
        let (first, probes) = self.probes(key);
        for bit in probes {
            self.words[first + bit / 64] |= 1 << (bit % 64);
        }
    }

    /// False: the key was certainly never inserted. True: it may have been.
    pub(crate) fn may_contain(&self, key: u64) -> bool {
        let (first, mut probes) = self.probes(key);
        probes.all(|bit| self.words[first + bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// The filter's bytes (little-endian words), as [`Bloom::from_bytes`] reads them.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// A filter from [`Bloom::to_bytes`]; none when the length is not whole blocks.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Bloom> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(BLOCK_BYTES) {
            return None;
        }
        let words = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            })
            .collect();
        Some(Bloom { words })
    }

    /// Bytes of the filter's bits.
    pub(crate) fn len_bytes(&self) -> u64 {
        self.words.len() as u64 * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};

    fn false_positive_rate(bits_per_key: u64) -> f64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(bits_per_key);
        let keys: Vec<u64> = (0..100_000).map(|_| rng.r#gen()).collect();
        let mut filter = Bloom::with_capacity(keys.len() as u64, bits_per_key);
        for k in &keys {
            filter.insert(*k);
        }
        assert!(keys.iter().all(|k| filter.may_contain(*k)));
        let trials = 200_000;
        let hits = (0..trials)
            .filter(|_| filter.may_contain(rng.r#gen()))
            .count();
        hits as f64 / trials as f64
    }

    #[test]
    fn false_positives_stay_near_what_the_size_gives() {
        let at_10 = false_positive_rate(10);
        assert!(at_10 < 0.02, "{at_10} at 10 bits per key");
        let at_16 = false_positive_rate(16);
        assert!(at_16 < 0.003, "{at_16} at 16 bits per key");
    }

    #[test]
    fn bytes_round_trip_and_bad_lengths_are_refused() {
        let mut filter = Bloom::with_capacity(1000, 10);
        for k in 0..1000u64 {
            filter.insert(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
        let bytes = filter.to_bytes();
        assert_eq!(bytes.len() as u64, filter.len_bytes());
        assert_eq!(Bloom::from_bytes(&bytes), Some(filter));
        assert_eq!(Bloom::from_bytes(&bytes[..bytes.len() - 1]), None);
        assert_eq!(Bloom::from_bytes(&[]), None);
    }

    proptest! {
        /// Never a false negative, whatever the keys and however full the filter.
        #[test]
        fn every_inserted_key_is_found(keys in proptest::collection::vec(any::<u64>(), 0..2000),
                                       capacity in 0u64..3000) {
            let mut filter = Bloom::with_capacity(capacity, 10);
            for k in &keys {
                filter.insert(*k);
            }
            for k in &keys {
                prop_assert!(filter.may_contain(*k));
            }
        }
    }
}
