//! Reading JSON strings without allocating them, and event timestamps without chrono's general
//! parser. Replay reads every event of a long log, so these sit on its hot path.
//!
//! serde's impls for `Cow<str>` always allocate (they borrow only under `#[serde(borrow)]` in
//! derived code); a visitor that takes `&str` borrows from the input whenever the string has
//! no escapes and sees a short-lived copy otherwise.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de::{Deserializer, Error, Visitor};

/// Deserialises a string and hands it to `parse` without copying it.
pub(crate) fn with_str<'de, D, T, E>(
    deserializer: D,
    expecting: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
{
    struct Text<F, T>(&'static str, F, PhantomData<T>);

    impl<F: FnOnce(&str) -> Result<T, E>, T, E: fmt::Display> Visitor<'_> for Text<F, T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_str<X: Error>(self, text: &str) -> Result<T, X> {
            (self.1)(text).map_err(X::custom)
        }
    }

    deserializer.deserialize_str(Text(expecting, parse, PhantomData))
}

/// A string borrowed from the input when it has no escapes, owned when it has.
pub(crate) struct CowStr<'de>(pub(crate) Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;

        impl<'de> Visitor<'de> for Text {
            type Value = CowStr<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: Error>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(text)))
            }

            fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(text.to_owned())))
            }
        }

        deserializer.deserialize_str(Text)
    }
}

/// Deserialises an event timestamp: the form this crate writes (`2026-11-29T05:20:13.144670Z`,
/// UTC, 0–9 fraction digits) directly, anything else through chrono's parser, as before.
pub(crate) fn deserialize_timestamp<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<DateTime<Utc>, D::Error> {
    with_str(deserializer, "an RFC 3339 timestamp", |text| match parse_utc_timestamp(text) {
        Some(time) => Ok(time),
        None => text.parse::<DateTime<Utc>>(),
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, or `None` for any other form (which may still be valid).
pub(crate) fn parse_utc_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let nanos = match (b[19], b.len()) {
        (b'Z', 20) => 0,
        (b'.', len @ 22..=30) if b[len - 1] == b'Z' => {
            let places = len - 21;
            digits(20..len - 1)? * 10u32.pow(9 - places as u32)
        }
        _ => return None,
    };
    // A leap second (:60) takes chrono's own path.
    let time =
        NaiveDate::from_ymd_opt(year as i32, month, day)?.and_hms_nano_opt(hour, minute, second, nanos)?;
    (second < 60).then(|| time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono(text: &str) -> Option<DateTime<Utc>> {
        text.parse().ok()
    }

    #[test]
    fn timestamps_parse_as_chrono_parses_them() {
        let written = [
            "2026-11-29T05:20:13.144670Z",
            "2026-11-29T05:20:13Z",
            "2026-11-29T05:20:13.1Z",
            "2026-11-29T05:20:13.123456789Z",
            "1970-01-01T00:00:00.000Z",
            "2024-02-29T23:59:59.999999999Z",
        ];
        for text in written {
            assert_eq!(parse_utc_timestamp(text), chrono(text), "{text}");
            assert!(parse_utc_timestamp(text).is_some(), "{text}");
        }
        // Valid in other forms, or invalid: the fast path declines, chrono decides.
        let declined = [
            "2026-11-29T05:20:13+01:00",
            "2026-11-29 05:20:13Z",
            "2026-11-29t05:20:13z",
            "2026-11-29T05:20:13.Z",
            "2026-11-29T05:20:13.1234567890Z",
            "2016-12-31T23:59:60Z",
            "2026-02-30T05:20:13Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T05:20:13.12x4Z",
            "２026-11-29T05:20:13Z",
            "",
        ];
        for text in declined {
            assert_eq!(parse_utc_timestamp(text), None, "{text}");
        }
        // Through serde, both paths agree with chrono's own impl.
        for text in written.iter().chain(&declined) {
            let json = serde_json::to_string(text).unwrap();
            let ours = deserialize_timestamp(&mut serde_json::Deserializer::from_str(&json)).ok();
            assert_eq!(ours, serde_json::from_str::<DateTime<Utc>>(&json).ok(), "{text}");
        }
    }

    #[test]
    fn round_trips_every_fraction_length() {
        let base = chrono("2026-11-29T05:20:13Z").unwrap();
        for nanos in [0u32, 100_000_000, 120_000_000, 123_000_000, 123_400_000, 123_456_000, 123_456_789, 1] {
            let time = base + chrono::Duration::nanoseconds(nanos.into());
            let json = serde_json::to_string(&time).unwrap();
            let text: String = serde_json::from_str(&json).unwrap();
            assert_eq!(parse_utc_timestamp(&text), Some(time), "{text}");
        }
    }

    #[test]
    fn escaped_strings_are_owned_plain_ones_borrowed() {
        let plain: CowStr = serde_json::from_str("\"abc\"").unwrap();
        assert!(matches!(plain.0, Cow::Borrowed("abc")));
        let escaped: CowStr = serde_json::from_str("\"a\\u0062c\"").unwrap();
        assert!(matches!(escaped.0, Cow::Owned(ref s) if s == "abc"));
    }
}
