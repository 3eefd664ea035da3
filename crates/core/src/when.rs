//! Times as people and scripts write them in filters: RFC 3339, a date, or an age. One parser
//! for the command line and the API alike.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a time filter cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a time: use RFC 3339 (2026-11-01T09:00:00Z), a date (2026-11-01) or an age (7d, 12h, 30m)"
)]
pub struct NotATime(pub String);

/// The UTC day of a time in ms: days since 1970-01-01.
pub fn utc_day(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

/// Now, in milliseconds since the Unix epoch (UTC).
pub fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch as a time (UTC); `None` out of range.
pub fn offset_date_time(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// Milliseconds since the Unix epoch as RFC 3339 text (UTC), for people and messages.
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Milliseconds since the Unix epoch of `text`: RFC 3339, a date (`2026-11-01`: its first
/// millisecond, or its last with `end_of_day`), or an age before `now_ms` (`7d`, `12h`, `30m`).
pub fn parse(text: &str, now_ms: i64, end_of_day: bool) -> Result<i64, NotATime> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
            .map_err(|_| NotATime(text.to_string()));
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(date) = time::Date::parse(text, &date_format) {
        let start = date.midnight().assume_utc().unix_timestamp() * 1000;
        return Ok(if end_of_day {
            start + 86_400_000 - 1
        } else {
            start
        });
    }
    match duration_ms(text) {
        Some(age) => Ok(now_ms.saturating_sub(age)),
        None => Err(NotATime(text.to_string())),
    }
}

/// A length of time written as a count and a unit (`7d`, `12h`, `30m`), in milliseconds.
pub fn duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let unit_ms: i64 = match text.chars().last()? {
        'd' => 86_400_000,
        'h' => 3_600_000,
        'm' => 60_000,
        _ => return None,
    };
    let n = text[..text.len() - 1].parse::<i64>().ok()?;
    (n >= 0).then(|| n.saturating_mul(unit_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_dates_and_ages() {
        let now = 1_800_000_000_000;
        assert_eq!(
            parse("2026-11-01T09:00:00Z", now, false),
            Ok(1_793_523_600_000)
        );
        assert_eq!(parse("2026-11-01", now, false), Ok(1_793_491_200_000));
        assert_eq!(
            parse("2026-11-01", now, true),
            Ok(1_793_491_200_000 + 86_399_999)
        );
        assert_eq!(parse("7d", now, false), Ok(now - 7 * 86_400_000));
        assert_eq!(parse(" 12h ", now, false), Ok(now - 12 * 3_600_000));
        assert_eq!(parse("30m", now, false), Ok(now - 30 * 60_000));
        for bad in ["", "yesterday", "7w", "-3d", "2026-13-01", "d"] {
            let err = parse(bad, now, false).unwrap_err();
            assert!(err.to_string().contains("is not a time"), "{bad}: {err}");
        }
    }
}
