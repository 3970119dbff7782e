//! Slack timestamps (`ts`, `event_ts`) read exactly: by hand, from the decimal text, never through a float.
//!
//! | input | read as |
//! |---|---|
//! | `"1355517523.000005"` (Slack's form: seconds, a dot, six digits) | 1355517523 s + 5000 ns |
//! | `"1355517523.5"`, up to nine fractional digits | the digits given; further digits are dropped (below 1 ns) |
//! | `"1355517523"`, `1355517523` (digits only, at most 11) | whole seconds |
//! | `"1515449522000016"` (digits only, 12 to 19 digits) | milli-, micro- or nanoseconds by length (12-14, 15-17, 18-19) |
//! | `1355517523.000005` (a JSON number with a fraction) | rounded to the microsecond: Slack's precision, and exact, as an `f64` near today's epoch is off by at most 0.25 µs |
//!
//! The digits-only rows exist because Slack's own `app_mention` example writes `event_ts` as `"1515449522000016"`:
//! its `ts` `"1515449522.000016"` with the dot dropped. Read as microseconds it gives the same instant as `ts`.
//! Anything else (signs, spaces, letters, an empty string, an instant chrono cannot hold) is not a usable time, and
//! the caller falls back to the next candidate.

use chrono::{DateTime, Utc};

use super::wire::Loose;

/// The instant a Slack timestamp names, or `None` when the value is not a usable time.
pub(super) fn parse(value: &Loose<'_>) -> Option<DateTime<Utc>> {
    match value {
        Loose::Str(text) => parse_text(text),
        Loose::Unsigned(number) => from_digits_value(*number, decimal_len(*number)),
        Loose::Float(number) => from_float(*number),
        Loose::Signed(_) | Loose::Absent => None,
    }
}

/// Parses `seconds[.fraction]` or a digits-only count of (milli/micro/nano)seconds, in one pass over the bytes.
fn parse_text(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let whole_len = bytes.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if whole_len == 0 {
        return None;
    }
    // More digits than a u64 holds is no time of any unit (at most 19 digits are read).
    let whole = bytes[..whole_len].iter().try_fold(0_u64, |value, digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })?;
    let Some(rest) = bytes.get(whole_len..).filter(|rest| !rest.is_empty()) else {
        return from_digits_value(whole, whole_len);
    };
    let fraction = rest.strip_prefix(b".")?;
    if fraction.is_empty() || !fraction.iter().all(u8::is_ascii_digit) || whole_len > 11 {
        return None;
    }
    let mut nanos: u32 = 0;
    for position in 0..9 {
        let digit = fraction.get(position).map_or(0, |byte| u32::from(byte - b'0'));
        nanos = nanos * 10 + digit;
    }
    // At most 11 digits: below 10^11, which fits an i64.
    DateTime::from_timestamp(i64::try_from(whole).ok()?, nanos)
}

/// An integer count whose unit is told by its number of decimal digits (see the module table).
fn from_digits_value(value: u64, digits: usize) -> Option<DateTime<Utc>> {
    let (per_second, nanos_per_unit) = match digits {
        1..=11 => (1, 1_000_000_000),
        12..=14 => (1_000, 1_000_000),
        15..=17 => (1_000_000, 1_000),
        18..=19 => (1_000_000_000, 1),
        _ => return None,
    };
    let seconds = i64::try_from(value / per_second).ok()?;
    // The remainder is below `per_second`, so it times `nanos_per_unit` stays below 10^9 and fits a u32.
    let nanos = u32::try_from(value % per_second * nanos_per_unit).ok()?;
    DateTime::from_timestamp(seconds, nanos)
}

/// A JSON number with a fraction, rounded to the microsecond.
fn from_float(value: f64) -> Option<DateTime<Utc>> {
    if !value.is_finite() || !(0.0..1e11).contains(&value) {
        return None;
    }
    let seconds = value.trunc();
    let micros = ((value - seconds) * 1e6).round();
    // Both are in range by the check above: seconds below 10^11, micros in 0..=10^6.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (seconds, micros) = (seconds as i64, micros as u32);
    DateTime::from_timestamp(seconds, 0)?.checked_add_signed(chrono::Duration::microseconds(i64::from(micros)))
}

fn decimal_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 10 {
        value /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::model::format_time;

    fn text(value: &str) -> Option<String> {
        parse(&Loose::Str(Cow::Borrowed(value))).map(|time| format_time(&time))
    }

    #[test]
    fn slack_ts_keeps_its_microseconds() {
        assert_eq!(
            text("1355517523.000005").as_deref(),
            Some("2012-12-14T20:38:43.000005Z")
        );
        assert_eq!(
            text("1663966382.046509").as_deref(),
            Some("2022-09-23T20:53:02.046509Z")
        );
        assert_eq!(text("1355517523.5").as_deref(), Some("2012-12-14T20:38:43.500Z"));
        assert_eq!(
            text("1355517523.1234567891").as_deref(),
            Some("2012-12-14T20:38:43.123456789Z")
        );
    }

    #[test]
    fn digits_only_values_take_their_unit_from_their_length() {
        assert_eq!(text("1515449522000016").as_deref(), Some("2018-01-08T22:12:02.000016Z"));
        assert_eq!(text("1515449522").as_deref(), Some("2018-01-08T22:12:02Z"));
        assert_eq!(text("1515449522123").as_deref(), Some("2018-01-08T22:12:02.123Z"));
        assert_eq!(
            text("1515449522000000016").as_deref(),
            Some("2018-01-08T22:12:02.000000016Z")
        );
        assert_eq!(text("15154495220000001600"), None);
        let number = parse(&Loose::Unsigned(1_515_449_522_000_016)).map(|time| format_time(&time));
        assert_eq!(number.as_deref(), Some("2018-01-08T22:12:02.000016Z"));
    }

    #[test]
    fn float_numbers_are_rounded_to_the_microsecond() {
        let time = parse(&Loose::Float(1_355_517_523.000_005)).map(|time| format_time(&time));
        assert_eq!(time.as_deref(), Some("2012-12-14T20:38:43.000005Z"));
        let time = parse(&Loose::Float(1_671_046_987.237_089)).map(|time| format_time(&time));
        assert_eq!(time.as_deref(), Some("2022-12-14T19:43:07.237089Z"));
    }

    #[test]
    fn malformed_values_are_not_times() {
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "-1.5",
            "+1.5",
            "1e9",
            " 1.5",
            "1.5 ",
            "abc",
            "1.2.3",
            "1.5.",
            "1..5",
            "999999999999.1",
            "99999999999999999999999.1",
        ] {
            assert_eq!(text(bad), None, "{bad:?}");
        }
        assert_eq!(parse(&Loose::Signed(-5)), None);
        assert_eq!(parse(&Loose::Float(f64::NAN)), None);
        assert_eq!(parse(&Loose::Float(-1.5)), None);
        assert_eq!(parse(&Loose::Absent), None);
    }
}
