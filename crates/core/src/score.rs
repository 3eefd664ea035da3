//! Indicator expiry and scoring: whether an indicator is still to be used, and a score that
//! decays with age and rises with sightings, after MISP's polynomial decaying model. Pure
//! functions of a report, its sightings and the time; the node's `[scoring]` configuration
//! ([`ScoringConfig`]) sets the lifetimes and the speed of decay.
//!
//! For an indicator of a report with confidence `c`:
//! - **base** = `min(100, c + boost × corroborating organisations)` × ½ per organisation other
//!   than the author that said it was a false positive or expired; corroborating organisations
//!   are those other than the author that said `seen` or `confirmed`.
//! - **anchor** = the latest of the indicator's start of validity (its `valid_from`, else the
//!   report's creation) and the time it was last seen or confirmed (by anyone).
//! - **score** = `base × (1 − (t / τ)^(1/δ))`, floored at 0, where `t` = now − anchor, `τ` is the
//!   lifetime of the indicator's type and `δ` the decay speed: MISP's polynomial formula.
//!
//! The score is 0 and the state says why when the indicator is not valid yet (now before its
//! `valid_from`), expired (now at or after its `valid_until`, or its author said `expired`), or
//! withdrawn (its author said it was a false positive). A sighting of the whole report counts
//! for each of its indicators.

use crate::identity::OrgPublicKey;
use crate::indicator::Indicator;
use crate::model::{IndicatorType, SightingKind};
use crate::sighting::Sighting;

const DAY_MS: f64 = 86_400_000.0;

/// How indicators age on this node: `[scoring]` in node.toml.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringConfig {
    /// δ of the polynomial: 1 falls in a straight line over the lifetime; above 1 falls fast
    /// at first and slowly at the end; below 1 holds up at first and falls near the end.
    pub decay_speed: f64,
    /// Below this score (0-100) an indicator is decayed: no longer in exports of what is valid.
    pub threshold: u8,
    /// Points each corroborating organisation adds to the base score.
    pub sighting_boost: u8,
    /// Days from the anchor until the score reaches 0, per indicator type.
    pub lifetime_days: LifetimeDays,
}

// `decay_speed` is never NaN in a configuration a node runs with ([`ScoringConfig::check`]),
// so equality is an equivalence.
impl Eq for ScoringConfig {}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            decay_speed: 1.0,
            threshold: 30,
            sighting_boost: 10,
            lifetime_days: LifetimeDays::default(),
        }
    }
}

/// Days an indicator of each type stays useful without being seen again: addresses move on
/// fast, domains and URLs somewhat slower, a file's hash never changes but the file stops
/// being used, a vulnerability stays exploited for years.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifetimeDays {
    pub ipv4: u32,
    pub ipv6: u32,
    pub cidr: u32,
    pub domain: u32,
    pub url: u32,
    pub email: u32,
    pub md5: u32,
    pub sha1: u32,
    pub sha256: u32,
    pub sha512: u32,
    pub cve: u32,
    pub asn: u32,
}

impl Default for LifetimeDays {
    fn default() -> Self {
        LifetimeDays {
            ipv4: 30,
            ipv6: 30,
            cidr: 60,
            domain: 90,
            url: 45,
            email: 90,
            md5: 365,
            sha1: 365,
            sha256: 365,
            sha512: 365,
            cve: 730,
            asn: 180,
        }
    }
}

impl LifetimeDays {
    /// The lifetime of an indicator of type `kind`, in days.
    pub fn of(&self, kind: IndicatorType) -> u32 {
        match kind {
            IndicatorType::Ipv4 => self.ipv4,
            IndicatorType::Ipv6 => self.ipv6,
            IndicatorType::Cidr => self.cidr,
            IndicatorType::Domain => self.domain,
            IndicatorType::Url => self.url,
            IndicatorType::Email => self.email,
            IndicatorType::Md5 => self.md5,
            IndicatorType::Sha1 => self.sha1,
            IndicatorType::Sha256 => self.sha256,
            IndicatorType::Sha512 => self.sha512,
            IndicatorType::Cve => self.cve,
            IndicatorType::Asn => self.asn,
        }
    }
}

/// Why a `[scoring]` section cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScoringConfigError {
    /// δ not a positive number.
    #[error("scoring.decay_speed = {0}: give a positive number (1 falls in a straight line)")]
    DecaySpeed(f64),
    /// A score above 100.
    #[error("scoring.{field} = {value}: scores run from 0 to 100")]
    OutOfRange { field: &'static str, value: u8 },
    /// A lifetime of 0 days or of more than 100 years.
    #[error("scoring.lifetime_days.{kind} = {days}: give 1 to 36500 days")]
    Lifetime { kind: IndicatorType, days: u32 },
}

impl ScoringConfig {
    /// Whether every value is one the formula can use.
    pub fn check(&self) -> Result<(), ScoringConfigError> {
        if !(self.decay_speed.is_finite() && self.decay_speed > 0.0) {
            return Err(ScoringConfigError::DecaySpeed(self.decay_speed));
        }
        for (field, value) in [
            ("threshold", self.threshold),
            ("sighting_boost", self.sighting_boost),
        ] {
            if value > 100 {
                return Err(ScoringConfigError::OutOfRange { field, value });
            }
        }
        for &kind in IndicatorType::ALL {
            let days = self.lifetime_days.of(kind);
            if !(1..=36_500).contains(&days) {
                return Err(ScoringConfigError::Lifetime { kind, days });
            }
        }
        Ok(())
    }
}

/// Where an indicator stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Validity {
    /// Its `valid_from` is still ahead.
    NotYetValid,
    /// Valid, scoring at least the threshold.
    Active,
    /// Valid, but its score has fallen below the threshold.
    Decayed,
    /// Its `valid_until` has passed, or its author said it expired.
    Expired,
    /// Its author said it was a false positive.
    Withdrawn,
}

impl Validity {
    /// The word used in the API, the command line and the console.
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::NotYetValid => "not-yet-valid",
            Validity::Active => "active",
            Validity::Decayed => "decayed",
            Validity::Expired => "expired",
            Validity::Withdrawn => "withdrawn",
        }
    }
}

impl std::fmt::Display for Validity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Validity {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        [
            Validity::NotYetValid,
            Validity::Active,
            Validity::Decayed,
            Validity::Expired,
            Validity::Withdrawn,
        ]
        .into_iter()
        .find(|v| v.as_str() == text)
        .ok_or_else(|| {
            format!("{text:?} is not a state: not-yet-valid, active, decayed, expired or withdrawn")
        })
    }
}

/// An indicator's score and state at one time.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Standing {
    /// 0-100.
    pub score: u8,
    /// Where it stands.
    pub state: Validity,
    /// The base score before decay.
    pub base: u8,
    /// When the decay counts from (ms since the Unix epoch).
    #[serde(skip)]
    pub anchor_ms: i64,
    /// Organisations other than the author that saw or confirmed it.
    pub corroborating: u32,
}

/// One sighting as scoring reads it: who said it, what, and when it was signed.
pub type SaidBy<'a> = (OrgPublicKey, &'a Sighting, i64);

/// The standing at `now_ms` of `indicator`, of a report by `author` with `confidence` created
/// at `created_ms`, given the current sightings of that report (those of other indicators are
/// skipped).
pub fn standing<'a>(
    config: &ScoringConfig,
    indicator: &Indicator,
    author: &OrgPublicKey,
    confidence: u8,
    created_ms: i64,
    sightings: impl IntoIterator<Item = SaidBy<'a>>,
    now_ms: i64,
) -> Standing {
    let start_ms = if indicator.valid_from_ms != 0 {
        indicator.valid_from_ms
    } else {
        created_ms
    };
    let mut anchor_ms = start_ms;
    let mut corroborating: Vec<OrgPublicKey> = Vec::new();
    let mut doubting: Vec<OrgPublicKey> = Vec::new();
    let mut author_expired_ms: Option<i64> = None;
    let mut withdrawn = false;
    for (by, sighting, signed_ms) in sightings {
        if let Some(named) = &sighting.indicator
            && (named.kind != indicator.kind || named.value != indicator.value)
        {
            continue;
        }
        let by_author = by == *author;
        match sighting.kind {
            SightingKind::Seen | SightingKind::Confirmed => {
                let when = if sighting.kind == SightingKind::Seen {
                    sighting
                        .last_seen_ms
                        .or(sighting.first_seen_ms)
                        .unwrap_or(signed_ms)
                } else {
                    signed_ms
                };
                // A time ahead of now (clocks differ) counts as now.
                anchor_ms = anchor_ms.max(when.min(now_ms));
                if !by_author && !corroborating.contains(&by) {
                    corroborating.push(by);
                }
            }
            SightingKind::FalsePositive if by_author => withdrawn = true,
            SightingKind::Expired if by_author => {
                author_expired_ms = Some(author_expired_ms.map_or(signed_ms, |e| e.min(signed_ms)));
            }
            SightingKind::FalsePositive | SightingKind::Expired => {
                if !doubting.contains(&by) {
                    doubting.push(by);
                }
            }
        }
    }
    let boosted = u32::from(confidence.min(100))
        + u32::from(config.sighting_boost) * u32::try_from(corroborating.len()).unwrap_or(u32::MAX);
    let halvings = i32::try_from(doubting.len()).unwrap_or(i32::MAX).min(64);
    let base = f64::from(boosted.min(100)) * 0.5f64.powi(halvings);
    let expired = (indicator.valid_until_ms != 0 && now_ms >= indicator.valid_until_ms)
        || author_expired_ms.is_some_and(|e| now_ms >= e);
    let (score, state) = if withdrawn {
        (0.0, Validity::Withdrawn)
    } else if expired {
        (0.0, Validity::Expired)
    } else if now_ms < start_ms {
        (0.0, Validity::NotYetValid)
    } else {
        let lifetime_ms = f64::from(config.lifetime_days.of(indicator.kind).max(1)) * DAY_MS;
        let age_ms = (now_ms.saturating_sub(anchor_ms)).max(0) as f64;
        let decay = (age_ms / lifetime_ms).powf(1.0 / config.decay_speed);
        let score = (base * (1.0 - decay)).clamp(0.0, 100.0);
        let state = if score.round() >= f64::from(config.threshold) && score > 0.0 {
            Validity::Active
        } else {
            Validity::Decayed
        };
        (score, state)
    };
    Standing {
        score: score.round() as u8,
        state,
        base: base.round() as u8,
        anchor_ms,
        corroborating: u32::try_from(corroborating.len()).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sighting::Concerns;
    use crate::{OrgKey, ReportId};
    use proptest::prelude::*;
    use rand::SeedableRng;

    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_790_000_000_000;

    fn org(n: u64) -> OrgPublicKey {
        OrgKey::generate(&mut rand::rngs::StdRng::seed_from_u64(n)).public()
    }

    fn ip() -> Indicator {
        Indicator::new(IndicatorType::Ipv4, "203.0.113.7", "").unwrap()
    }

    fn said(kind: SightingKind, indicator: Option<Indicator>, last_seen: Option<i64>) -> Sighting {
        Sighting {
            concerns: Concerns {
                report: ReportId::from_bytes([7; 32]),
                author: org(1),
            },
            kind,
            indicator,
            count: u32::from(kind == SightingKind::Seen),
            first_seen_ms: None,
            last_seen_ms: last_seen,
            place: None,
            observed: Vec::new(),
            source: None,
        }
    }

    fn at(
        sightings: &[(OrgPublicKey, Sighting, i64)],
        indicator: &Indicator,
        now: i64,
    ) -> Standing {
        standing(
            &ScoringConfig::default(),
            indicator,
            &org(1),
            60,
            T0,
            sightings.iter().map(|(o, s, t)| (*o, s, *t)),
            now,
        )
    }

    #[test]
    fn an_address_falls_in_a_straight_line_over_thirty_days() {
        let i = ip();
        assert_eq!(at(&[], &i, T0).score, 60);
        assert_eq!(at(&[], &i, T0 + 15 * DAY).score, 30);
        assert_eq!(at(&[], &i, T0 + 15 * DAY).state, Validity::Active);
        assert_eq!(at(&[], &i, T0 + 16 * DAY).state, Validity::Decayed);
        assert_eq!(at(&[], &i, T0 + 30 * DAY).score, 0);
        assert_eq!(at(&[], &i, T0 + 300 * DAY).score, 0);
    }

    #[test]
    fn a_sighting_by_another_organisation_lifts_and_restarts_the_score() {
        let i = ip();
        let seen = [(
            org(2),
            said(SightingKind::Seen, Some(i.clone()), Some(T0 + 20 * DAY)),
            T0 + 21 * DAY,
        )];
        let s = at(&seen, &i, T0 + 20 * DAY);
        assert_eq!((s.base, s.score, s.corroborating), (70, 70, 1));
        assert_eq!(s.anchor_ms, T0 + 20 * DAY);
        // A sighting of another indicator of the report is not one of this one.
        let other = Indicator::new(IndicatorType::Domain, "evil.example", "").unwrap();
        let elsewhere = [(
            org(2),
            said(SightingKind::Seen, Some(other), Some(T0 + 20 * DAY)),
            T0,
        )];
        assert_eq!(at(&elsewhere, &i, T0 + 20 * DAY).score, 20);
        // A sighting of the whole report counts for each indicator.
        let whole = [(
            org(2),
            said(SightingKind::Confirmed, None, None),
            T0 + 20 * DAY,
        )];
        assert_eq!(at(&whole, &i, T0 + 20 * DAY).score, 70);
    }

    #[test]
    fn the_author_withdraws_or_expires_others_halve() {
        let i = ip();
        let fp = |by| {
            [(
                org(by),
                said(SightingKind::FalsePositive, Some(ip()), None),
                T0 + DAY,
            )]
        };
        assert_eq!(at(&fp(1), &i, T0 + 2 * DAY).state, Validity::Withdrawn);
        assert_eq!(at(&fp(1), &i, T0 + 2 * DAY).score, 0);
        let other = at(&fp(3), &i, T0);
        assert_eq!(
            (other.base, other.score, other.state),
            (30, 30, Validity::Active)
        );
        let expired = [(org(1), said(SightingKind::Expired, None, None), T0 + DAY)];
        assert_eq!(
            at(&expired, &i, T0).state,
            Validity::Active,
            "not before it was said"
        );
        assert_eq!(at(&expired, &i, T0 + DAY).state, Validity::Expired);
    }

    #[test]
    fn the_window_the_author_gave_is_kept() {
        let mut i = ip();
        i.valid_from_ms = T0 + 10 * DAY;
        i.valid_until_ms = T0 + 12 * DAY;
        assert_eq!(at(&[], &i, T0).state, Validity::NotYetValid);
        let s = at(&[], &i, T0 + 10 * DAY);
        assert_eq!(
            (s.score, s.state),
            (60, Validity::Active),
            "decay counts from valid_from"
        );
        assert_eq!(at(&[], &i, T0 + 12 * DAY).state, Validity::Expired);
    }

    #[test]
    fn a_configuration_that_cannot_work_is_refused() {
        assert!(ScoringConfig::default().check().is_ok());
        let mut c = ScoringConfig {
            decay_speed: 0.0,
            ..ScoringConfig::default()
        };
        assert!(c.check().unwrap_err().to_string().contains("decay_speed"));
        c.decay_speed = f64::NAN;
        assert!(c.check().is_err());
        c.decay_speed = 2.0;
        c.lifetime_days.url = 0;
        assert!(
            c.check()
                .unwrap_err()
                .to_string()
                .contains("lifetime_days.url")
        );
        c.lifetime_days.url = 10;
        c.threshold = 101;
        assert!(c.check().unwrap_err().to_string().contains("threshold"));
    }

    fn kind_strategy() -> impl Strategy<Value = SightingKind> {
        prop_oneof![
            Just(SightingKind::Seen),
            Just(SightingKind::Confirmed),
            Just(SightingKind::FalsePositive),
            Just(SightingKind::Expired),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Scores stay in 0..=100 and never grow with time alone; a new `seen` by an
        /// organisation other than the author never lowers it; a new false positive never
        /// raises it.
        #[test]
        fn scores_move_the_way_they_are_documented(
            confidence in 0u8..=100,
            speed in 0.2f64..5.0,
            said in proptest::collection::vec((2u64..6, kind_strategy(), 0i64..40, 0i64..40), 0..6),
            now in 0i64..60,
            later in 0i64..60,
            extra_by in 2u64..8,
        ) {
            let config = ScoringConfig { decay_speed: speed, ..ScoringConfig::default() };
            let i = ip();
            let sightings: Vec<(OrgPublicKey, Sighting, i64)> = said
                .iter()
                .map(|(by, kind, seen, signed)| {
                    (org(*by), super::tests::said(*kind, Some(ip()), Some(T0 + seen * DAY)), T0 + signed * DAY)
                })
                .collect();
            let score_with = |list: &[(OrgPublicKey, Sighting, i64)], t: i64| {
                standing(&config, &i, &org(1), confidence, T0, list.iter().map(|(o, s, w)| (*o, s, *w)), T0 + t * DAY)
            };
            let now_standing = score_with(&sightings, now);
            prop_assert!(now_standing.score <= 100);
            prop_assert!(now_standing.score <= now_standing.base);
            // Time alone: sightings all signed before `now`, so none starts to count later.
            let settled: Vec<_> = sightings.iter().filter(|(_, _, w)| *w <= T0 + now * DAY).cloned().collect();
            let a = score_with(&settled, now);
            let b = score_with(&settled, now + later);
            prop_assert!(b.score <= a.score, "{:?} then {:?}", a, b);
            let mut seen = settled.clone();
            seen.push((org(extra_by), super::tests::said(SightingKind::Seen, Some(ip()), Some(T0 + now * DAY)), T0 + now * DAY));
            prop_assert!(score_with(&seen, now).score >= a.score);
            let mut doubted = settled.clone();
            doubted.push((org(extra_by), super::tests::said(SightingKind::FalsePositive, Some(ip()), None), T0 + now * DAY));
            prop_assert!(score_with(&doubted, now).score <= a.score);
        }
    }
}
