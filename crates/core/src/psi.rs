//! Private set intersection over ristretto255: a partner asks "which of these values do you
//! hold?" and learns only which of its own values are among those it may see here (and about
//! how many those are), while the answering node learns only how many values were asked.
//! Pure functions on bytes; the node carries the messages and decides what may be asked.
//!
//! The construction (Diffie-Hellman PSI, after Huberman, Franklin and Hogg, 1999; Meadows,
//! 1986), for a requester with values `X` and a responder with values `Y`:
//!
//! 1. Each value is mapped to the group: `H(v)` = ristretto255 `from_uniform_bytes` of
//!    SHA-512(`cairn/psi/v1/value` ‖ type ‖ 0 ‖ canonical value).
//! 2. The requester picks a secret scalar `a` for the query and sends `H(x)·a` for each `x` in
//!    `X`, in its own order ([`start_query`]).
//! 3. The responder holds a secret scalar `b` (per partner, renewed at each epoch). It answers
//!    with `(H(x)·a)·b` for each point received, in the same order, and with a tag
//!    `T(H(y)·b)` for each `y` in `Y` — the first 8 bytes of SHA-256(`cairn/psi/v1/tag` ‖ the
//!    compressed point) — padded with random tags to the next power of two (at least 1,024)
//!    and sorted ([`ResponderKey::evaluate`], [`ResponderKey::tags`]).
//! 4. The requester removes `a` (multiplies by `1/a`) to get `H(x)·b`, and `x` is in the
//!    intersection when `T(H(x)·b)` is among the tags ([`Query::finish`]).
//!
//! Security (honest-but-curious parties, `H` and `T` as random oracles, the decisional and
//! one-more Diffie-Hellman assumptions in ristretto255, a prime-order group): the responder
//! sees `H(x)·a` for a uniformly random `a`, a uniformly random point whatever `x` is, so it
//! learns only how many values were asked. The requester sees `H(x)·b` for its own values and
//! tags of `H(y)·b`; for `y` it did not ask, `H(y)·b` is indistinguishable from a random point
//! without `b`, so it learns only which of its values are in `Y` and the padded size of `Y`.
//! Each point received is an evaluation of the responder's pseudorandom function `v ↦ H(v)·b`:
//! a requester can test any value it names, so what it may learn is bounded by how many values
//! it may ask (the node's per-partner rate limit) and by `Y` holding only what that partner may
//! see under the sharing policy. Tags of 64 bits make a false match among 100,000 values asked
//! against 1,000,000 held about one in 180,000 queries. A malformed point is refused, never
//! evaluated.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha256, Sha512};

use crate::indicator::Indicator;

/// Most values one query may ask about.
pub const MAX_QUERY_VALUES: usize = 100_000;
/// Most tags an answer may carry (4,194,304: a responder holding up to that many values).
pub const MAX_TAGS: usize = 1 << 22;
/// Fewest tags an answer carries: smaller sets are padded up to it.
pub const MIN_TAGS: usize = 1024;
/// Bytes of one point on the wire (a compressed ristretto255 point).
pub const POINT_LEN: usize = 32;

const VALUE_DOMAIN: &[u8] = b"cairn/psi/v1/value";
const TAG_DOMAIN: &[u8] = b"cairn/psi/v1/tag";

/// Why a PSI message was refused or a query could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsiError {
    /// More values than one query may ask.
    #[error("{given} values asked: at most {MAX_QUERY_VALUES} in one query")]
    TooManyValues { given: usize },
    /// No value asked.
    #[error("a query asks about at least one value")]
    NoValues,
    /// Bytes that are not a whole number of points.
    #[error("{len} bytes are not a list of {POINT_LEN}-byte points")]
    NotPoints { len: usize },
    /// A point that is not a valid ristretto255 encoding (or is the identity).
    #[error("point {index} is not a valid ristretto255 point")]
    BadPoint { index: usize },
    /// An answer that does not answer every value asked.
    #[error("the answer has {got} points for the {asked} values asked")]
    AnswerMismatch { asked: usize, got: usize },
    /// More tags than an answer may carry.
    #[error("{given} tags: at most {MAX_TAGS} in one answer")]
    TooManyTags { given: usize },
    /// Tags not sorted, or repeated.
    #[error("the answer's tags are not sorted and distinct")]
    UnsortedTags,
}

/// A value as the group element both sides compute.
fn hash_to_point(indicator: &Indicator) -> RistrettoPoint {
    let digest = Sha512::new()
        .chain_update(VALUE_DOMAIN)
        .chain_update(indicator.kind.as_str().as_bytes())
        .chain_update([0u8])
        .chain_update(indicator.value.as_bytes())
        .finalize();
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&digest);
    RistrettoPoint::from_uniform_bytes(&wide)
}

fn tag_of(point: &RistrettoPoint) -> u64 {
    let digest = Sha256::new()
        .chain_update(TAG_DOMAIN)
        .chain_update(point.compress().as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

fn random_scalar(rng: &mut impl rand::RngCore) -> Scalar {
    loop {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        let s = Scalar::from_bytes_mod_order_wide(&wide);
        if s != Scalar::ZERO {
            return s;
        }
    }
}

/// `f` over `items` on every core, in order.
fn map_parallel<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len().div_ceil(256).max(1));
    if threads <= 1 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let parts: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<U>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Reads concatenated compressed points, refusing any that is malformed or the identity.
fn points_of(bytes: &[u8]) -> Result<Vec<RistrettoPoint>, PsiError> {
    if !bytes.len().is_multiple_of(POINT_LEN) {
        return Err(PsiError::NotPoints { len: bytes.len() });
    }
    let chunks: Vec<&[u8]> = bytes.chunks(POINT_LEN).collect();
    let read = map_parallel(&chunks, |chunk| {
        CompressedRistretto::from_slice(chunk)
            .ok()
            .and_then(|c| c.decompress())
            .filter(|p| *p != RistrettoPoint::default())
    });
    read.into_iter()
        .enumerate()
        .map(|(index, p)| p.ok_or(PsiError::BadPoint { index }))
        .collect()
}

fn bytes_of(points: &[RistrettoPoint]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * POINT_LEN);
    for p in points {
        out.extend_from_slice(p.compress().as_bytes());
    }
    out
}

/// A query under way: the values asked, in order, and the requester's secret for it.
pub struct Query {
    values: Vec<Indicator>,
    secret: Scalar,
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("values", &self.values.len())
            .finish_non_exhaustive()
    }
}

/// Starts a query about `values` (canonical indicators; repeats are asked once): the query
/// to keep, and the blinded points to send.
pub fn start_query(
    values: &[Indicator],
    rng: &mut impl rand::RngCore,
) -> Result<(Query, Vec<u8>), PsiError> {
    let mut distinct: Vec<Indicator> = Vec::with_capacity(values.len());
    let mut seen = std::collections::HashSet::with_capacity(values.len());
    for v in values {
        let bare = v.bare();
        if seen.insert((bare.kind, bare.value.clone())) {
            distinct.push(bare);
        }
    }
    if distinct.is_empty() {
        return Err(PsiError::NoValues);
    }
    if distinct.len() > MAX_QUERY_VALUES {
        return Err(PsiError::TooManyValues {
            given: distinct.len(),
        });
    }
    let secret = random_scalar(rng);
    let blinded = map_parallel(&distinct, |v| hash_to_point(v) * secret);
    Ok((
        Query {
            values: distinct,
            secret,
        },
        bytes_of(&blinded),
    ))
}

/// The blinded points of a query received, checked: at most [`MAX_QUERY_VALUES`], each a
/// valid point. How many values were asked is all the responder learns.
pub fn read_query(blinded: &[u8]) -> Result<usize, PsiError> {
    if !blinded.len().is_multiple_of(POINT_LEN) {
        return Err(PsiError::NotPoints { len: blinded.len() });
    }
    let n = blinded.len() / POINT_LEN;
    if n == 0 {
        return Err(PsiError::NoValues);
    }
    if n > MAX_QUERY_VALUES {
        return Err(PsiError::TooManyValues { given: n });
    }
    Ok(n)
}

impl Query {
    /// How many values it asks about.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether it asks about nothing (never: a query asks about at least one value).
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values asked that the responder holds, in the order asked, from its answer:
    /// `evaluated` (each blinded point times its secret, in order) and its sorted tags.
    pub fn finish(self, evaluated: &[u8], tags: &[u64]) -> Result<Vec<Indicator>, PsiError> {
        check_tags(tags)?;
        let points = points_of(evaluated)?;
        if points.len() != self.values.len() {
            return Err(PsiError::AnswerMismatch {
                asked: self.values.len(),
                got: points.len(),
            });
        }
        let unblind = self.secret.invert();
        let found = map_parallel(&points, |p| {
            tags.binary_search(&tag_of(&(p * unblind))).is_ok()
        });
        Ok(self
            .values
            .into_iter()
            .zip(found)
            .filter_map(|(v, hit)| hit.then_some(v))
            .collect())
    }
}

/// Checks an answer's tags: at most [`MAX_TAGS`], sorted and distinct.
pub fn check_tags(tags: &[u64]) -> Result<(), PsiError> {
    if tags.len() > MAX_TAGS {
        return Err(PsiError::TooManyTags { given: tags.len() });
    }
    if tags.windows(2).any(|w| w[0] >= w[1]) {
        return Err(PsiError::UnsortedTags);
    }
    Ok(())
}

/// A responder's secret for one partner and epoch.
#[derive(Clone)]
pub struct ResponderKey(Scalar);

impl std::fmt::Debug for ResponderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponderKey(..)")
    }
}

impl ResponderKey {
    /// A new secret.
    pub fn generate(rng: &mut impl rand::RngCore) -> ResponderKey {
        ResponderKey(random_scalar(rng))
    }

    /// The tags of `held` (the values the partner may see here), padded with random tags to
    /// the next power of two of at least [`MIN_TAGS`], sorted. Refused beyond [`MAX_TAGS`].
    pub fn tags(
        &self,
        held: &[Indicator],
        rng: &mut impl rand::RngCore,
    ) -> Result<Vec<u64>, PsiError> {
        let size = held.len().max(MIN_TAGS).next_power_of_two();
        if size > MAX_TAGS {
            return Err(PsiError::TooManyTags { given: held.len() });
        }
        let secret = self.0;
        let mut tags = map_parallel(held, |v| tag_of(&(hash_to_point(v) * secret)));
        tags.sort_unstable();
        tags.dedup();
        let mut set: std::collections::BTreeSet<u64> = std::collections::BTreeSet::new();
        while tags.len() + set.len() < size {
            let t = rng.next_u64();
            if tags.binary_search(&t).is_err() {
                set.insert(t);
            }
        }
        tags.extend(set);
        tags.sort_unstable();
        Ok(tags)
    }

    /// The blinded points of a query times this secret, in order: checked first by
    /// [`read_query`], each point refused if malformed.
    pub fn evaluate(&self, blinded: &[u8]) -> Result<Vec<u8>, PsiError> {
        read_query(blinded)?;
        let points = points_of(blinded)?;
        let secret = self.0;
        let evaluated = map_parallel(&points, |p| p * secret);
        Ok(bytes_of(&evaluated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IndicatorType;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn ip(n: u32) -> Indicator {
        let [a, b, c, d] = n.to_be_bytes();
        Indicator::new(IndicatorType::Ipv4, &format!("{a}.{b}.{c}.{d}"), "").unwrap()
    }

    fn run(asked: &[Indicator], held: &[Indicator], seed: u64) -> Vec<Indicator> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let (query, blinded) = start_query(asked, &mut rng).unwrap();
        let key = ResponderKey::generate(&mut rng);
        let tags = key.tags(held, &mut rng).unwrap();
        let evaluated = key.evaluate(&blinded).unwrap();
        query.finish(&evaluated, &tags).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// The protocol finds exactly the plain intersection, in the order asked.
        #[test]
        fn the_intersection_is_the_plain_intersection(
            asked in proptest::collection::vec(0u32..600, 1..120),
            held in proptest::collection::vec(0u32..600, 0..300),
            seed in any::<u64>(),
        ) {
            let asked: Vec<Indicator> = asked.into_iter().map(ip).collect();
            let held: Vec<Indicator> = held.into_iter().map(ip).collect();
            let mut expected = Vec::new();
            for a in &asked {
                if held.contains(a) && !expected.contains(a) {
                    expected.push(a.clone());
                }
            }
            prop_assert_eq!(run(&asked, &held, seed), expected);
        }
    }

    #[test]
    fn the_same_value_of_another_type_is_another_value() {
        let domain = Indicator::new(IndicatorType::Domain, "evil.example", "").unwrap();
        let url = Indicator::new(IndicatorType::Url, "http://evil.example/", "").unwrap();
        let held = std::slice::from_ref(&url);
        assert!(run(std::slice::from_ref(&domain), held, 1).is_empty());
        assert_eq!(
            run(&[domain.clone(), url.clone()], held, 2),
            vec![url.clone()]
        );
    }

    #[test]
    fn the_responder_sees_random_points_and_the_tags_hide_the_held_count() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let asked = [ip(1)];
        let (_, first) = start_query(&asked, &mut rng).unwrap();
        let (_, second) = start_query(&asked, &mut rng).unwrap();
        assert_ne!(first, second, "the same value asked twice looks different");
        let key = ResponderKey::generate(&mut rng);
        assert_eq!(key.tags(&[ip(1)], &mut rng).unwrap().len(), MIN_TAGS);
        let held: Vec<Indicator> = (0..1500).map(ip).collect();
        assert_eq!(key.tags(&held, &mut rng).unwrap().len(), 2048);
    }

    #[test]
    fn malformed_and_oversized_messages_are_refused() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let key = ResponderKey::generate(&mut rng);
        assert_eq!(
            key.evaluate(&[0u8; 33]),
            Err(PsiError::NotPoints { len: 33 })
        );
        assert_eq!(key.evaluate(&[]), Err(PsiError::NoValues));
        // The identity, and bytes that are no ristretto255 encoding.
        let (_, mut blinded) = start_query(&[ip(1), ip(2)], &mut rng).unwrap();
        blinded[32..].copy_from_slice(&[0u8; 32]);
        assert_eq!(key.evaluate(&blinded), Err(PsiError::BadPoint { index: 1 }));
        blinded[32..].copy_from_slice(&[0xff; 32]);
        assert_eq!(key.evaluate(&blinded), Err(PsiError::BadPoint { index: 1 }));
        let too_many = vec![0u8; (MAX_QUERY_VALUES + 1) * POINT_LEN];
        assert_eq!(
            key.evaluate(&too_many),
            Err(PsiError::TooManyValues {
                given: MAX_QUERY_VALUES + 1
            })
        );
        let values: Vec<Indicator> = (0..(MAX_QUERY_VALUES as u32 + 1)).map(ip).collect();
        assert!(matches!(
            start_query(&values, &mut rng),
            Err(PsiError::TooManyValues { .. })
        ));
        assert_eq!(start_query(&[], &mut rng).unwrap_err(), PsiError::NoValues);
        // Answers: one point short, tags out of order or too many.
        let (query, blinded) = start_query(&[ip(1), ip(2)], &mut rng).unwrap();
        let evaluated = key.evaluate(&blinded).unwrap();
        let tags = key.tags(&[ip(1)], &mut rng).unwrap();
        let mut unsorted = tags.clone();
        unsorted.swap(0, 1);
        assert_eq!(
            start_query(&[ip(1), ip(2)], &mut rng)
                .unwrap()
                .0
                .finish(&evaluated[..32], &tags),
            Err(PsiError::AnswerMismatch { asked: 2, got: 1 })
        );
        assert_eq!(
            start_query(&[ip(1)], &mut rng)
                .unwrap()
                .0
                .finish(&evaluated[..32], &unsorted),
            Err(PsiError::UnsortedTags)
        );
        assert!(matches!(
            check_tags(&vec![0u64; MAX_TAGS + 1]),
            Err(PsiError::TooManyTags { .. })
        ));
        assert_eq!(query.finish(&evaluated, &tags).unwrap(), vec![ip(1)]);
    }
}
