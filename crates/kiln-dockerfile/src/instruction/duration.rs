//! Go-style durations (`30s`, `1m30s`, `500ms`, `1.5h`) as `time.ParseDuration`
//! reads them, for HEALTHCHECK flags.

/// Nanoseconds per unit, longest unit names first where they share a prefix.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration into signed nanoseconds; `None` when Go would reject it.
pub(super) fn parse_go_duration(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let integer_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let integer_digits = &rest[..integer_len];
        rest = &rest[integer_len..];
        let mut fraction_digits = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let fraction_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            fraction_digits = &after_dot[..fraction_len];
            rest = &after_dot[fraction_len..];
        }
        if integer_digits.is_empty() && fraction_digits.is_empty() {
            return None;
        }
        let unit_len = rest
            .find(|ch: char| ch == '.' || ch.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit_name, after_unit) = rest.split_at(unit_len);
        let &(_, unit) = UNITS.iter().find(|(name, _)| *name == unit_name)?;
        rest = after_unit;
        let integer: u128 = if integer_digits.is_empty() {
            0
        } else {
            integer_digits.parse().ok()?
        };
        total = total.checked_add(integer.checked_mul(unit)?)?;
        // Fractions beyond nanosecond precision cannot change the result.
        let fraction_digits = &fraction_digits[..fraction_digits.len().min(20)];
        if !fraction_digits.is_empty() {
            let fraction: u128 = fraction_digits.parse().ok()?;
            let scale = 10u128.pow(u32::try_from(fraction_digits.len()).ok()?);
            total = total.checked_add(fraction * unit / scale)?;
        }
        if total > i64::MAX as u128 {
            return None;
        }
    }
    let total = i128::try_from(total).ok()?;
    Some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let cases: [(&str, Option<i128>); 16] = [
            ("0", Some(0)),
            ("30s", Some(30_000_000_000)),
            ("1m30s", Some(90_000_000_000)),
            ("500ms", Some(500_000_000)),
            ("1h", Some(3_600_000_000_000)),
            ("1.5h", Some(5_400_000_000_000)),
            (".5s", Some(500_000_000)),
            ("1.s", Some(1_000_000_000)),
            ("-2s", Some(-2_000_000_000)),
            ("+2us", Some(2_000)),
            ("3µs", Some(3_000)),
            ("", None),
            ("5", None),
            ("1d", None),
            ("s", None),
            ("9999999999h", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_go_duration(text), expected, "{text:?}");
        }
    }
}
