//! How many requests one partner node may make: a token bucket per node, as plain code with
//! no I/O (the caller passes the time). A node over its budget is refused, told why, and shown
//! as a problem to the operator; every other partner is served as before.

use std::time::Duration;

/// Requests one node may make in a burst.
pub const BURST: u32 = 400;

/// Requests one node may make per second, sustained.
pub const PER_SECOND: u32 = 200;

/// The requests a partner node may still make.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestBudget {
    tokens: f64,
    last: Duration,
    /// Requests refused since the last one allowed.
    refused_in_a_row: u64,
}

impl Default for RequestBudget {
    fn default() -> Self {
        RequestBudget {
            tokens: f64::from(BURST),
            last: Duration::ZERO,
            refused_in_a_row: 0,
        }
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Serve it.
    Allowed,
    /// Refuse it; `first` when it is the first refused since the last allowed (log it once).
    Limited {
        /// Whether this starts a run of refusals.
        first: bool,
    },
}

impl RequestBudget {
    /// Takes one request at time `now` (any clock that never goes back).
    pub fn admit(&mut self, now: Duration) -> Admission {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * f64::from(PER_SECOND)).min(f64::from(BURST));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            Admission::Allowed
        } else {
            self.refused_in_a_row += 1;
            Admission::Limited {
                first: self.refused_in_a_row == 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate_and_one_log_line_per_run() {
        let mut budget = RequestBudget::default();
        let at = Duration::from_secs(5);
        let allowed = (0..BURST + 100)
            .filter(|_| budget.admit(at) == Admission::Allowed)
            .count();
        assert_eq!(allowed, BURST as usize);
        // Refused from then on, reported once.
        assert_eq!(budget.admit(at), Admission::Limited { first: false });
        // A second later, a second's worth again.
        let later = at + Duration::from_secs(1);
        let admissions: Vec<Admission> = (0..1000).map(|_| budget.admit(later)).collect();
        let allowed = admissions
            .iter()
            .filter(|a| **a == Admission::Allowed)
            .count();
        assert_eq!(allowed, PER_SECOND as usize);
        let firsts = admissions
            .iter()
            .filter(|a| **a == Admission::Limited { first: true })
            .count();
        assert_eq!(firsts, 1, "one log line per run of refusals");
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
