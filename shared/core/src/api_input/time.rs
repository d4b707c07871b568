//! Timestamps from requests. Every time the API accepts (JSON bodies, query parameters,
//! certificates) must lie in [`EARLIEST`]..=[`LATEST`]: RFC 3339 shows years with four digits,
//! DynamoDB TTLs are epoch seconds, and chrono's `DateTime + TimeDelta` panics past year
//! ±262143 (a push of `"+262142-12-31T23:59:59Z"` aborted the Lambda). Arithmetic on times in
//! the request path goes through the checked helpers here, never `+`/`-`.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Deserializer};

use super::InputError;

/// 1970-01-01T00:00:00Z.
pub const EARLIEST: DateTime<Utc> = DateTime::UNIX_EPOCH;
/// 9999-12-31T23:59:59Z (also X.509's "no well-defined expiration date", RFC 5280 §4.1.2.5).
pub const LATEST: DateTime<Utc> = match DateTime::from_timestamp(253_402_300_799, 0) {
    Some(t) => t,
    None => DateTime::UNIX_EPOCH,
};

/// Why a time is refused; shown to the client.
fn out_of_range(field: &str) -> String {
    format!("{field} must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
}

/// Whether `t` is in range.
pub fn in_range(t: DateTime<Utc>) -> bool {
    (EARLIEST..=LATEST).contains(&t)
}

/// `invalid_field` unless `t` is in range.
pub fn check(field: &str, t: DateTime<Utc>) -> Result<DateTime<Utc>, InputError> {
    if in_range(t) {
        Ok(t)
    } else {
        Err(InputError::new("invalid_field", out_of_range(field)))
    }
}

/// An RFC 3339 time (e.g. a query parameter), in range.
pub fn parse_rfc3339(value: &str) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 time such as 2025-01-31T00:00:00Z ({e})"))?;
    if in_range(t) {
        Ok(t)
    } else {
        Err(out_of_range("the time"))
    }
}

/// `t + delta`, capped to the range (a certificate valid until 9999 is kept "forever").
pub fn add_capped(t: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(delta).map_or(
        if delta < TimeDelta::zero() {
            EARLIEST
        } else {
            LATEST
        },
        |t| t.clamp(EARLIEST, LATEST),
    )
}

/// `t - delta`, capped to the range.
pub fn sub_capped(t: DateTime<Utc>, delta: TimeDelta) -> DateTime<Utc> {
    t.checked_sub_signed(delta).map_or(
        if delta < TimeDelta::zero() {
            LATEST
        } else {
            EARLIEST
        },
        |t| t.clamp(EARLIEST, LATEST),
    )
}

/// serde `deserialize_with` for optional JSON times: `null` or absent is `None`, a time out of
/// range is a decoding error (so the request is a 400 naming the field and position).
pub fn bounded_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let t = Option::<DateTime<Utc>>::deserialize(deserializer)?;
    match t {
        Some(t) if !in_range(t) => Err(serde::de::Error::custom(out_of_range("the time"))),
        t => Ok(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_the_four_digit_years_from_1970() {
        assert_eq!(EARLIEST.to_rfc3339(), "1970-01-01T00:00:00+00:00");
        assert_eq!(LATEST.to_rfc3339(), "9999-12-31T23:59:59+00:00");
    }

    #[test]
    fn arithmetic_is_capped_not_panicking() {
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(add_capped(max, TimeDelta::days(30)), LATEST);
        assert_eq!(add_capped(LATEST, TimeDelta::days(30)), LATEST);
        assert_eq!(
            sub_capped(DateTime::<Utc>::MIN_UTC, TimeDelta::days(1)),
            EARLIEST
        );
        assert_eq!(sub_capped(EARLIEST, TimeDelta::MAX), EARLIEST);
        assert_eq!(add_capped(EARLIEST, TimeDelta::MIN), EARLIEST);
        let t = DateTime::from_timestamp(1_000_000, 0).unwrap();
        assert_eq!(add_capped(t, TimeDelta::seconds(5)).timestamp(), 1_000_005);
        assert_eq!(sub_capped(t, TimeDelta::seconds(5)).timestamp(), 999_995);
    }

    #[test]
    fn parsing_refuses_times_outside_the_range() {
        for bad in [
            "+262142-12-31T23:59:59Z",
            "-262142-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert!(parse_rfc3339("9999-12-31T23:59:59Z").is_ok());
        assert!(parse_rfc3339("2025-01-31T00:00:00+02:00").is_ok());
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "bounded_opt")]
            t: Option<DateTime<Utc>>,
        }
        let parse = |s: &str| serde_json::from_str::<T>(s).map(|t| t.t);
        assert!(parse(r#"{"t": "+262142-12-31T23:59:59Z"}"#).is_err());
        assert_eq!(parse(r#"{"t": null}"#).unwrap(), None);
        assert_eq!(parse("{}").unwrap(), None);
        assert!(parse(r#"{"t": "2030-01-01T00:00:00Z"}"#).unwrap().is_some());
    }
}
