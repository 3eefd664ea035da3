//! Whether a partner node's clock differs from this node's by enough to matter (embargo ends,
//! authorisation periods and report dates are compared across machines), from the clock it
//! sends in its introduction. Plain code, no I/O.

/// Clocks that differ by less than this are left alone (network delay, small drift).
pub const CLOCK_SKEW_TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// The problem to show for a partner node whose clock read `theirs_ms` when ours read
/// `ours_ms`, if they differ by the tolerance or more; none when it did not say (0).
pub fn clock_skew(theirs_ms: i64, ours_ms: i64) -> Option<String> {
    if theirs_ms == 0 {
        return None;
    }
    let ahead = theirs_ms.saturating_sub(ours_ms);
    if ahead.saturating_abs() < CLOCK_SKEW_TOLERANCE_MS {
        return None;
    }
    let direction = if ahead > 0 { "ahead of" } else { "behind" };
    Some(format!(
        "clock skew: its clock is {} {direction} this node's; embargoes, authorisation periods and report dates are judged by the clocks, so check time synchronisation (NTP) on both machines",
        span(ahead.saturating_abs())
    ))
}

fn span(ms: i64) -> String {
    let minutes = ms / 60_000;
    match (minutes / (24 * 60), minutes / 60 % 24, minutes % 60) {
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_named_beyond_the_tolerance_only() {
        let now = 1_800_000_000_000;
        assert_eq!(clock_skew(0, now), None, "not said");
        assert_eq!(clock_skew(now + 4 * 60_000, now), None);
        assert_eq!(clock_skew(now - 4 * 60_000, now), None);
        let ahead = clock_skew(now + 3 * 3_600_000 + 12 * 60_000, now).expect("skewed");
        assert!(
            ahead.starts_with("clock skew: its clock is 3 h 12 min ahead of"),
            "{ahead}"
        );
        let behind = clock_skew(now - 2 * 86_400_000 - 3_600_000, now).expect("skewed");
        assert!(behind.contains("2 d 1 h behind"), "{behind}");
        assert!(clock_skew(i64::MIN, now).is_some());
        assert!(clock_skew(i64::MAX, now).is_some());
    }
}
