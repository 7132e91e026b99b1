//! Docker's human formats: sizes (go-units `HumanSize`), relative times
//! (go-units `HumanDuration` + " ago"), and RFC 3339 timestamps parsed to
//! seconds and printed back in the two shapes docker uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Decimal units, as go-units `decimapAbbrs`.
const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// go-units `HumanSizeWithPrecision(size, precision)`: decimal units and Go's
/// `%.{precision}g` (`docker images` uses 3: "5.24MB"; "Total reclaimed
/// space" uses 4).
pub fn human_size(bytes: u64, precision: usize) -> String {
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", go_general(size, precision), UNITS[unit])
}

/// Go's `%.{precision}g` for a non-negative finite number.
fn go_general(value: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if value == 0.0 {
        return "0".to_string();
    }
    let scientific = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision as i32 {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!(
            "{}e{sign}{:02}",
            trim_fraction(mantissa),
            exponent.unsigned_abs()
        );
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim_fraction(&format!("{value:.decimals$}")).to_string()
}

/// Drops trailing zeros of a fraction, and the point if nothing is left.
fn trim_fraction(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// go-units `HumanDuration`: "Less than a second", "About a minute", "3 hours", …
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let minutes = seconds / 60;
    // Go rounds hours: int(d.Hours() + 0.5).
    let hours = (duration.as_secs_f64() / 3600.0 + 0.5) as u64;
    if seconds < 1 {
        "Less than a second".to_string()
    } else if seconds == 1 {
        "1 second".to_string()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", seconds / 3600 / 24 / 365)
    }
}

/// "2 hours ago" for an RFC 3339 time, "N/A" when it is missing or unreadable.
pub fn created_since(created: Option<&str>, now: SystemTime) -> String {
    let Some(seconds) = created.and_then(parse_rfc3339) else {
        return "N/A".to_string();
    };
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs() as i64)
        .unwrap_or(0);
    let elapsed = Duration::from_secs(now.saturating_sub(seconds).max(0) as u64);
    format!("{} ago", human_duration(elapsed))
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2024-01-02T03:04:05.5Z`,
/// `…+02:00`; lowercase `t`/`z` and a space separator are accepted).
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let year = number(0..4)?;
    let month = number(5..7)?;
    let day = number(8..10)?;
    let hour = number(11..13)?;
    let minute = number(14..16)?;
    let second = number(17..19)?;
    let separators_ok = bytes.get(4) == Some(&b'-')
        && bytes.get(7) == Some(&b'-')
        && matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        && bytes.get(13) == Some(&b':')
        && bytes.get(16) == Some(&b':');
    if !separators_ok || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = fraction.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let hours: i64 = rest.get(1..3)?.parse().ok()?;
            let minutes: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The parts of a UTC time: (year, month, day, hour, minute, second).
fn utc_parts(seconds: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (year, month, day) = civil_from_days(seconds.div_euclid(86400));
    let in_day = seconds.rem_euclid(86400);
    (
        year,
        month,
        day,
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60,
    )
}

/// Go's `time.Time.String()` in UTC, as `docker images` prints CreatedAt:
/// `2024-01-02 03:04:05 +0000 UTC`.
pub fn go_time_string(seconds: i64) -> String {
    let (year, month, day, hour, minute, second) = utc_parts(seconds);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} +0000 UTC")
}

/// RFC 3339 in UTC with whole seconds, as `docker history` prints CreatedAt.
pub fn rfc3339_utc(seconds: i64) -> String {
    let (year, month, day, hour, minute, second) = utc_parts(seconds);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// docker's `stringutils.Ellipsis`: at most `max` characters, the last one
/// `…` when the text was cut.
pub fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_go_units() {
        let cases: &[(u64, usize, &str)] = &[
            (0, 3, "0B"),
            (1, 3, "1B"),
            (999, 3, "999B"),
            (1000, 3, "1kB"),
            (12_345, 3, "12.3kB"),
            (5_242_880, 3, "5.24MB"),
            (77_800_000, 3, "77.8MB"),
            (999_600, 3, "1e+03kB"),
            (1_234_567, 4, "1.235MB"),
            (1_200_000, 4, "1.2MB"),
            (3_000_000_000, 3, "3GB"),
            (100_400, 3, "100kB"),
        ];
        for (bytes, precision, expected) in cases {
            assert_eq!(human_size(*bytes, *precision), *expected, "{bytes}");
        }
    }

    #[test]
    fn durations_match_go_units() {
        let cases: &[(u64, &str)] = &[
            (0, "Less than a second"),
            (1, "1 second"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (119, "About a minute"),
            (120, "2 minutes"),
            (3599, "59 minutes"),
            (3600, "About an hour"),
            (5399, "About an hour"),
            (5400, "2 hours"),
            (47 * 3600, "47 hours"),
            (48 * 3600, "2 days"),
            (14 * 86400, "2 weeks"),
            (60 * 86400, "2 months"),
            (730 * 86400, "2 years"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(
                human_duration(Duration::from_secs(*seconds)),
                *expected,
                "{seconds}"
            );
        }
    }

    #[test]
    fn rfc3339_parses_and_prints() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2024-01-02T03:04:05Z", Some(1_704_164_645)),
            ("2024-01-02T03:04:05.123456789Z", Some(1_704_164_645)),
            ("2024-01-02T05:04:05+02:00", Some(1_704_164_645)),
            ("2024-01-02t01:04:05-02:00", Some(1_704_164_645)),
            ("2000-02-29T00:00:00Z", Some(951_782_400)),
            ("2024-01-02", None),
            ("2024-13-02T03:04:05Z", None),
            ("2024-01-02T03:04:05", None),
            ("2024-01-02T03:04:05.Z", None),
            ("not a time at all!!", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_rfc3339(text), *expected, "{text}");
        }
        assert_eq!(
            go_time_string(1_704_164_645),
            "2024-01-02 03:04:05 +0000 UTC"
        );
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn created_since_is_relative_to_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1_704_164_645 + 7200);
        assert_eq!(
            created_since(Some("2024-01-02T03:04:05Z"), now),
            "2 hours ago"
        );
        assert_eq!(created_since(None, now), "N/A");
        assert_eq!(created_since(Some("garbage"), now), "N/A");
        // A time in the future counts as just now.
        assert_eq!(
            created_since(Some("2030-01-01T00:00:00Z"), now),
            "Less than a second ago"
        );
    }

    #[test]
    fn ellipsis_cuts_to_the_limit() {
        assert_eq!(ellipsis("short", 45), "short");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("äöüß", 4), "äöüß");
        assert_eq!(ellipsis(&"x".repeat(50), 45).chars().count(), 45);
    }
}
