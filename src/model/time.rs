//! Timestamps in the model: RFC 3339 in UTC with a `Z` suffix, keeping sub-second precision.
//!
//! Every time the model writes has 0, 3, 6 or 9 fractional digits: as many as the value needs, so Slack's
//! microseconds (`1355517523.000005`) come out as `2012-12-14T20:38:43.000005Z` and whole seconds stay short.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Whether `time` is one the model accepts: years 1 to 9999, the range RFC 3339 writes in four digits and every
/// store reads back. Converters refuse a payload time outside it (with a [`ConvertError`](crate::ConvertError)
/// naming the field) rather than store what could not be read again.
///
/// ```
/// use chrono::{DateTime, TimeZone, Utc};
/// use spark_integrations::model::is_storable_time;
///
/// assert!(is_storable_time(&Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()));
/// assert!(!is_storable_time(&DateTime::from_timestamp(253_402_300_800, 0).unwrap())); // year 10000
/// assert!(!is_storable_time(&DateTime::from_timestamp(-62_135_596_801, 0).unwrap())); // year 0
/// ```
pub fn is_storable_time(time: &DateTime<Utc>) -> bool {
    (1..=9999).contains(&time.year())
}

/// Formats `time` the way the model serializes it.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// let time = Utc.timestamp_opt(1_355_517_523, 5_000).unwrap();
/// assert_eq!(spark_integrations::model::format_time(&time), "2012-12-14T20:38:43.000005Z");
/// ```
pub fn format_time(time: &DateTime<Utc>) -> String {
    let mut buffer = [0_u8; 30];
    match write_fixed(time, &mut buffer) {
        Some(len) => String::from_utf8_lossy(&buffer[..len]).into_owned(),
        None => time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    }
}

/// Writes `YYYY-MM-DDTHH:MM:SS[.fff[fff[fff]]]Z` into `buffer` without allocating; `None` for years outside
/// 0..=9999, which RFC 3339 cannot express in four digits (the caller falls back to chrono).
fn write_fixed(time: &DateTime<Utc>, buffer: &mut [u8; 30]) -> Option<usize> {
    let year = u32::try_from(time.year()).ok().filter(|year| *year <= 9999)?;
    let nanos = time.nanosecond() % 1_000_000_000;
    let (fraction, digits) = match nanos {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let fields = [
        (year, 4, b'-'),
        (time.month(), 2, b'-'),
        (time.day(), 2, b'T'),
        (time.hour(), 2, b':'),
        (time.minute(), 2, b':'),
        (time.second(), 2, if digits > 0 { b'.' } else { b'Z' }),
        (fraction, digits, b'Z'),
    ];
    let mut len = 0;
    for (value, width, separator) in fields {
        if width == 0 {
            break;
        }
        for position in (0..width).rev() {
            // `value / 10^position % 10` is a single decimal digit, so the cast cannot truncate.
            buffer[len] = b'0' + (value / 10_u32.pow(position) % 10) as u8;
            len += 1;
        }
        buffer[len] = separator;
        len += 1;
    }
    Some(len)
}

pub(crate) fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buffer = [0_u8; 30];
    match write_fixed(time, &mut buffer) {
        Some(len) => serializer.serialize_str(std::str::from_utf8(&buffer[..len]).map_err(serde::ser::Error::custom)?),
        None => serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(serde::de::Error::custom)
}

/// The same as [`serialize`] and [`deserialize`], for `Option<DateTime<Utc>>` fields.
pub(crate) mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => super::serialize(time, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super")] DateTime<Utc>);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(time)| time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fixed_writer_matches_chrono_for_every_precision() {
        for nanos in [0, 5_000, 123_000_000, 123_456_789, 999_999_999, 1_000] {
            let time = Utc
                .timestamp_opt(1_735_743_600, nanos)
                .single()
                .expect("valid timestamp");
            assert_eq!(format_time(&time), time.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
    }

    #[test]
    fn years_beyond_four_digits_fall_back_to_chrono() {
        let time = Utc
            .with_ymd_and_hms(12_345, 1, 2, 3, 4, 5)
            .single()
            .expect("valid date");
        assert_eq!(format_time(&time), time.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
}
