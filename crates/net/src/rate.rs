//! How many requests one partner node may make: a token bucket per node ([`TokenBucket`]), as
//! plain code with no I/O (the caller passes the time). A node over its budget is refused, told why, and shown
//! as a problem to the operator; every other partner is served as before.

use std::time::Duration;

/// How many requests one partner node may make (the `[network.rate_limit]` table of
/// node.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// Requests one node may make in a burst.
    pub burst: u32,
    /// Requests one node may make per second, sustained.
    pub per_second: u32,
    /// Refusals within one window after which a node that goes on is disconnected and held
    /// off.
    pub hold_off_after: u64,
    /// Refusals are counted (and logged once) per window of this many seconds.
    pub window_secs: u64,
    /// How long a flooding node is held off, in seconds.
    pub hold_off_secs: u64,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            burst: 400,
            per_second: 200,
            hold_off_after: 50,
            window_secs: 10,
            hold_off_secs: 30,
        }
    }
}

impl RateLimit {
    /// What is wrong with these limits, if anything (each must be at least 1).
    pub fn check(&self) -> Option<String> {
        [
            ("burst", self.burst as u64),
            ("per_second", self.per_second as u64),
            ("hold_off_after", self.hold_off_after),
            ("window_secs", self.window_secs),
            ("hold_off_secs", self.hold_off_secs),
        ]
        .into_iter()
        .find(|(_, v)| *v == 0)
        .map(|(name, _)| format!("rate_limit.{name} must be at least 1"))
    }

    /// The window refusals are counted in.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs.max(1))
    }

    /// How long a flooding node is held off.
    pub fn hold_off(&self) -> Duration {
        Duration::from_secs(self.hold_off_secs.max(1))
    }
}

/// A token bucket: `burst` at once, then `per_second` (each at least 1), on a clock the caller
/// passes (any clock that never goes back). The node's budget for each partner node is one;
/// so is the pace of its own notifications to each partner node.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    /// When the tokens were last counted.
    filled_at: Duration,
}

impl TokenBucket {
    /// A full bucket, counted from `now`.
    pub fn new(burst: u32, per_second: u32, now: Duration) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            burst,
            per_second: f64::from(per_second.max(1)),
            tokens: burst,
            filled_at: now,
        }
    }

    fn fill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.filled_at).as_secs_f64();
        self.filled_at = self.filled_at.max(now);
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
    }

    /// Takes a token at `now`, if there is one.
    pub fn take(&mut self, now: Duration) -> bool {
        self.fill(now);
        // (Within rounding: a timer set by `next_token_at` finds the token there.)
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            true
        } else {
            false
        }
    }

    /// When the next token is there, rounded up to the next microsecond (a timer set for it
    /// never wakes for nothing).
    pub fn next_token_at(&self) -> Duration {
        let missing = (1.0 - self.tokens).max(0.0);
        let wait = (missing / self.per_second * 1e6).ceil() as u64;
        self.filled_at + Duration::from_micros(wait + u64::from(missing > 0.0))
    }
}

/// The requests a partner node may still make.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestBudget {
    limit: RateLimit,
    bucket: TokenBucket,
    /// When the current window of refusals began.
    window_start: Duration,
    /// Requests refused in the current window.
    refused_in_window: u64,
}

impl Default for RequestBudget {
    fn default() -> Self {
        RequestBudget::new(RateLimit::default())
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Serve it.
    Allowed,
    /// Refuse it.
    Limited {
        /// Whether it is the first refusal of its window (log it, once per window).
        first: bool,
        /// Whether the node has been refused `hold_off_after` times in this window: disconnect
        /// it and refuse it for `hold_off_secs` (once per window).
        hold_off: bool,
    },
}

impl RequestBudget {
    /// A full budget under these limits (a limit of 0 counts as 1).
    pub fn new(limit: RateLimit) -> RequestBudget {
        RequestBudget {
            limit,
            bucket: TokenBucket::new(limit.burst, limit.per_second, Duration::ZERO),
            window_start: Duration::ZERO,
            refused_in_window: 0,
        }
    }

    /// The limits it keeps.
    pub fn limit(&self) -> &RateLimit {
        &self.limit
    }

    /// Takes one request at time `now` (any clock that never goes back).
    pub fn admit(&mut self, now: Duration) -> Admission {
        if now.saturating_sub(self.window_start) >= self.limit.window() {
            self.window_start = now;
            self.refused_in_window = 0;
        }
        if self.bucket.take(now) {
            Admission::Allowed
        } else {
            self.refused_in_window += 1;
            Admission::Limited {
                first: self.refused_in_window == 1,
                hold_off: self.refused_in_window == self.limit.hold_off_after.max(1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BURST: u32 = 400;
    const PER_SECOND: u32 = 200;
    const HOLD_OFF_AFTER: u64 = 50;
    const WINDOW: Duration = Duration::from_secs(10);

    #[test]
    fn a_burst_then_the_sustained_rate_one_log_line_per_window_and_a_hold_off() {
        let mut budget = RequestBudget::default();
        assert_eq!(
            *budget.limit(),
            RateLimit {
                burst: BURST,
                per_second: PER_SECOND,
                hold_off_after: HOLD_OFF_AFTER,
                window_secs: WINDOW.as_secs(),
                hold_off_secs: 30,
            }
        );
        let at = Duration::from_secs(5);
        let admissions: Vec<Admission> = (0..BURST + 100).map(|_| budget.admit(at)).collect();
        let allowed = admissions
            .iter()
            .filter(|a| **a == Admission::Allowed)
            .count();
        assert_eq!(allowed, BURST as usize);
        let firsts = |admissions: &[Admission]| {
            admissions
                .iter()
                .filter(|a| matches!(a, Admission::Limited { first: true, .. }))
                .count()
        };
        assert_eq!(firsts(&admissions), 1, "the first refusal is logged");
        let holds_in = |admissions: &[Admission]| {
            admissions
                .iter()
                .filter(|a| matches!(a, Admission::Limited { hold_off: true, .. }))
                .count()
        };
        let mut holds = holds_in(&admissions);
        // A second later, a second's worth again; the refusals are of the same window.
        let later = at + Duration::from_secs(1);
        let admissions: Vec<Admission> = (0..1000).map(|_| budget.admit(later)).collect();
        let allowed = admissions
            .iter()
            .filter(|a| **a == Admission::Allowed)
            .count();
        assert_eq!(allowed, PER_SECOND as usize);
        assert_eq!(firsts(&admissions), 0, "logged once per window");
        holds += holds_in(&admissions);
        // A flood that goes on, tokens trickling in between: held off once in the window.
        for k in 0..3 * HOLD_OFF_AFTER {
            let now = later + Duration::from_micros(k * 100);
            if matches!(budget.admit(now), Admission::Limited { hold_off: true, .. }) {
                holds += 1;
            }
        }
        assert_eq!(holds, 1);
        // A new window logs again.
        let next = at + WINDOW + Duration::from_secs(1);
        let admissions: Vec<Admission> = (0..2 * BURST).map(|_| budget.admit(next)).collect();
        assert_eq!(firsts(&admissions), 1);
    }

    #[test]
    fn configured_limits_are_kept_and_zero_is_named() {
        let limit = RateLimit {
            burst: 5,
            per_second: 1,
            hold_off_after: 3,
            ..RateLimit::default()
        };
        assert_eq!(limit.check(), None);
        let mut budget = RequestBudget::new(limit);
        let at = Duration::from_secs(1);
        let admissions: Vec<Admission> = (0..8).map(|_| budget.admit(at)).collect();
        assert_eq!(
            admissions
                .iter()
                .filter(|a| **a == Admission::Allowed)
                .count(),
            5
        );
        assert_eq!(
            admissions[7],
            Admission::Limited {
                first: false,
                hold_off: true
            },
            "the third refusal holds it off"
        );
        let zero = RateLimit {
            per_second: 0,
            ..RateLimit::default()
        };
        assert_eq!(
            zero.check().as_deref(),
            Some("rate_limit.per_second must be at least 1")
        );
    }

    #[test]
    fn an_honest_rate_is_never_limited() {
        let mut budget = RequestBudget::default();
        for ms in 0..60_000u64 {
            // One request every 10 ms: 100 a second, for a minute.
            if ms % 10 == 0 {
                assert_eq!(
                    budget.admit(Duration::from_millis(ms)),
                    Admission::Allowed,
                    "at {ms} ms"
                );
            }
        }
    }
}
