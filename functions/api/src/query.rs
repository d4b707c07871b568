//! Percent-decoding of path segments and query strings, and typed access to query parameters.
//! Function URLs pass `rawPath`/`rawQueryString` as the client sent them, so decoding is ours.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::{ApiError, ApiResult, echo};

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes (and `+` as a space when `plus_is_space`, as in query strings).
/// A `%` not followed by two hex digits is kept as is; the result must be UTF-8.
pub fn percent_decode(input: &str, plus_is_space: bool) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        let escaped = (byte == b'%')
            .then(|| {
                Some((
                    hex_value(*bytes.get(i + 1)?)?,
                    hex_value(*bytes.get(i + 2)?)?,
                ))
            })
            .flatten();
        match (byte, escaped) {
            (_, Some((hi, lo))) => {
                out.push(hi << 4 | lo);
                i += 3;
            }
            (b'+', None) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The decoded query parameters of one request. Each name may appear once; names the route
/// does not know are rejected so that a typo (`severty=`) is not silently ignored.
#[derive(Debug, Default)]
pub struct Query {
    params: BTreeMap<String, String>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> ApiResult<Self> {
        let mut params = BTreeMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = || {
                ApiError::bad_request(
                    "invalid_parameter",
                    "the query string is not valid percent-encoded UTF-8",
                )
            };
            let name = percent_decode(name, true).ok_or_else(bad)?;
            let value = percent_decode(value, true).ok_or_else(bad)?;
            if params.contains_key(&name) {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("query parameter {} is given more than once", echo(&name)),
                ));
            }
            params.insert(name, value);
        }
        Ok(Self { params })
    }

    /// Rejects any parameter not in `known`.
    pub fn only(self, known: &[&str]) -> ApiResult<Self> {
        if let Some(unknown) = self.params.keys().find(|k| !known.contains(&k.as_str())) {
            let expected = if known.is_empty() {
                "this route takes no query parameters".to_owned()
            } else {
                format!("known parameters: {}", known.join(", "))
            };
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("unknown query parameter {}; {expected}", echo(unknown)),
            ));
        }
        Ok(self)
    }

    /// The raw value of `name`. An empty value is a value (`cursor=` is not a cursor), as
    /// the OpenAPI contract says: it is refused by the parameter's parser, not ignored.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Parses `name` with `parse`, turning its error into a 400 that names the parameter.
    pub fn parse_with<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> ApiResult<Option<T>> {
        self.get(name)
            .map(|v| {
                parse(v).map_err(|e| {
                    ApiError::bad_request(
                        "invalid_parameter",
                        format!("query parameter {name:?}: {e}"),
                    )
                })
            })
            .transpose()
    }

    pub fn parse_as<T: FromStr>(&self, name: &str) -> ApiResult<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.parse_with(name, str::parse::<T>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(
            percent_decode("a%2Fb%20c+d", true).as_deref(),
            Some("a/b c d")
        );
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%e4%BE%8B", false).as_deref(), Some("例"));
    }

    #[test]
    fn keeps_malformed_escapes_and_rejects_invalid_utf8() {
        assert_eq!(percent_decode("100%", false).as_deref(), Some("100%"));
        assert_eq!(percent_decode("%zz%4", false).as_deref(), Some("%zz%4"));
        assert_eq!(percent_decode("%ff%fe", false), None);
    }

    #[test]
    fn query_rejects_duplicates_unknown_names_and_bad_utf8() {
        assert!(Query::parse(Some("a=1&a=2")).is_err());
        assert!(Query::parse(Some("a=%ff")).is_err());
        let q = Query::parse(Some("name=x")).unwrap();
        assert_eq!(q.only(&["limit"]).unwrap_err().code, "invalid_parameter");
    }

    #[test]
    fn query_values_are_decoded_and_empty_is_a_value() {
        let q = Query::parse(Some("name=www.%65xample.org&limit=&x")).unwrap();
        assert_eq!(q.get("name"), Some("www.example.org"));
        assert_eq!(q.get("limit"), Some(""));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(q.get("y"), None);
        assert!(q.parse_as::<u32>("limit").is_err());
        let err = Query::parse(Some("limit=abc"))
            .unwrap()
            .parse_as::<u32>("limit")
            .unwrap_err();
        assert!(err.message.contains("\"limit\""), "{}", err.message);
    }
}
