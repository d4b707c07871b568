//! Percent-decoding of path segments and query strings, typed access to query parameters, and
//! the parameters of the API's listings (`limit`, `cursor` and each listing's filters).
//! Function URLs pass `rawPath`/`rawQueryString` as the client sent them, so decoding is ours.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::cursor::CursorKey;
use super::{InputError, echo, normalize_name};
use crate::domain::WatchDomain;
use crate::model::Severity;
use crate::store::{AlertFilter, PageRequest};

type InputResult<T> = Result<T, InputError>;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    params: BTreeMap<String, String>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> InputResult<Self> {
        let mut params = BTreeMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = || {
                InputError::new(
                    "invalid_parameter",
                    "the query string is not valid percent-encoded UTF-8",
                )
            };
            let name = percent_decode(name, true).ok_or_else(bad)?;
            let value = percent_decode(value, true).ok_or_else(bad)?;
            if params.contains_key(&name) {
                return Err(InputError::new(
                    "invalid_parameter",
                    format!("query parameter {} is given more than once", echo(&name)),
                ));
            }
            params.insert(name, value);
        }
        Ok(Self { params })
    }

    /// Rejects any parameter not in `known`.
    pub fn only(self, known: &[&str]) -> InputResult<Self> {
        if let Some(unknown) = self.params.keys().find(|k| !known.contains(&k.as_str())) {
            let expected = if known.is_empty() {
                "this route takes no query parameters".to_owned()
            } else {
                format!("known parameters: {}", known.join(", "))
            };
            return Err(InputError::new(
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

    /// Every parameter, decoded, by name.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Parses `name` with `parse`, turning its error into a 400 that names the parameter.
    pub fn parse_with<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> InputResult<Option<T>> {
        self.get(name)
            .map(|v| {
                parse(v).map_err(|e| {
                    InputError::new(
                        "invalid_parameter",
                        format!("query parameter {name:?}: {e}"),
                    )
                })
            })
            .transpose()
    }

    pub fn parse_as<T: FromStr>(&self, name: &str) -> InputResult<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.parse_with(name, str::parse::<T>)
    }
}

pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;

/// `limit` and `cursor` from the query; the cursor must be one `key` issued for `listing` (the
/// route and its filters, as built by [`alerts_listing`] and [`certs_listing`]).
pub fn page_request(query: &Query, key: &CursorKey, listing: &str) -> InputResult<PageRequest> {
    let limit = query
        .parse_with("limit", |v| {
            v.parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
                .ok_or_else(|| format!("expected an integer from 1 to {MAX_PAGE_SIZE}"))
        })?
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let token = query
        .get("cursor")
        .map(|cursor| key.open(listing, cursor).map(str::to_owned))
        .transpose()?;
    Ok(PageRequest { limit, token })
}

/// `severity=`: one of the alert severities.
pub fn parse_severity(value: &str) -> Result<Severity, &'static str> {
    match value {
        "info" => Ok(Severity::Info),
        "pending" => Ok(Severity::Pending),
        "suspicious" => Ok(Severity::Suspicious),
        "critical" => Ok(Severity::Critical),
        _ => Err("expected info, pending, suspicious or critical"),
    }
}

/// The filters of `GET /alerts?since=&severity=&domain=`.
pub fn alert_filter(query: &Query) -> InputResult<AlertFilter> {
    Ok(AlertFilter {
        since: query.parse_with("since", super::time::parse_rfc3339)?,
        severity: query.parse_with("severity", parse_severity)?,
        domain: query.parse_with("domain", WatchDomain::parse)?,
    })
}

/// What an alerts cursor is bound to: a cursor is valid only with the filters it was issued for.
pub fn alerts_listing(filter: &AlertFilter) -> String {
    format!(
        "alerts\n{}\n{}\n{}",
        filter.since.map(|t| t.to_rfc3339()).unwrap_or_default(),
        filter.severity.map(|s| s.as_str()).unwrap_or_default(),
        filter
            .domain
            .as_ref()
            .map(|d| d.as_str())
            .unwrap_or_default(),
    )
}

/// The filter of `GET /certs?name=`, normalised.
pub fn certs_name(query: &Query) -> InputResult<Option<String>> {
    query
        .get("name")
        .map(|n| normalize_name("name", n))
        .transpose()
}

/// What a certs cursor is bound to.
pub fn certs_listing(name: Option<&str>) -> String {
    format!("certs\n{}", name.unwrap_or_default())
}

/// What a keys cursor is bound to (the listing has no filters).
pub const KEYS_LISTING: &str = "keys";

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
