//! How many requests one partner node may make: a token bucket per node, as plain code with
//! no I/O (the caller passes the time). A node over its budget is refused, told why, and shown
//! as a problem to the operator; every other partner is served as before.

use std::time::Duration;

/// Requests one node may make in a burst.
pub const BURST: u32 = 400;

/// Requests one node may make per second, sustained.
pub const PER_SECOND: u32 = 200;

/// Refusals within one [`WINDOW`] after which a node that goes on flooding is disconnected and
/// held off.
pub const HOLD_OFF_AFTER: u64 = 1_000;

/// Refusals are counted (and logged once) per window of this length.
pub const WINDOW: Duration = Duration::from_secs(10);

/// How long a flooding node is held off.
pub const HOLD_OFF: Duration = Duration::from_secs(30);

/// The requests a partner node may still make.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestBudget {
    tokens: f64,
    last: Duration,
    /// When the current window of refusals began.
    window_start: Duration,
    /// Requests refused in the current window.
    refused_in_window: u64,
}

impl Default for RequestBudget {
    fn default() -> Self {
        RequestBudget {
            tokens: f64::from(BURST),
            last: Duration::ZERO,
            window_start: Duration::ZERO,
            refused_in_window: 0,
        }
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
        /// Whether the node has been refused [`HOLD_OFF_AFTER`] times in this window: disconnect
        /// it and refuse it for [`HOLD_OFF`] (once per window).
        hold_off: bool,
    },
}

impl RequestBudget {
    /// Takes one request at time `now` (any clock that never goes back).
    pub fn admit(&mut self, now: Duration) -> Admission {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * f64::from(PER_SECOND)).min(f64::from(BURST));
        if now.saturating_sub(self.window_start) >= WINDOW {
            self.window_start = now;
            self.refused_in_window = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Admission::Allowed
        } else {
            self.refused_in_window += 1;
            Admission::Limited {
                first: self.refused_in_window == 1,
                hold_off: self.refused_in_window == HOLD_OFF_AFTER,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate_one_log_line_per_window_and_a_hold_off() {
        let mut budget = RequestBudget::default();
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
        // A second later, a second's worth again; the refusals are of the same window.
        let later = at + Duration::from_secs(1);
        let admissions: Vec<Admission> = (0..1000).map(|_| budget.admit(later)).collect();
        let allowed = admissions
            .iter()
            .filter(|a| **a == Admission::Allowed)
            .count();
        assert_eq!(allowed, PER_SECOND as usize);
        assert_eq!(firsts(&admissions), 0, "logged once per window");
        // A flood that goes on, tokens trickling in between: held off once in the window.
        let mut holds = 0;
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
