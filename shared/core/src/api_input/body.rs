//! Request bodies: content types, JSON decoding with a nesting limit, and the JSON body of every
//! route that takes one (`POST /certs`, `POST /keys`, `POST /domains`,
//! `POST /alerts/{tbs_sha256}/ack`; `POST /alerts/test` takes none). The types use
//! `deny_unknown_fields`; times are bounded ([`super::time::bounded_opt`]).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{InputError, clip};
use crate::model::BackfillMode;

/// Deeper JSON than this is refused before parsing (no request needs more than 3 levels).
pub const MAX_JSON_DEPTH: usize = 16;
/// Characters of a JSON decoding error shown to the client (serde quotes offending input).
pub const MAX_JSON_ERROR_CHARS: usize = 300;

/// What the body claims to be, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    Json,
    /// PEM text (certbot's `cert.pem`), as `application/x-pem-file` or `text/plain`.
    Pem,
    /// One DER certificate, as `application/pkix-cert`.
    Der,
}

impl ContentKind {
    /// The kind of a media type (lowercase, without parameters).
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "application/json" => Some(Self::Json),
            t if t.starts_with("application/") && t.ends_with("+json") => Some(Self::Json),
            "application/x-pem-file" | "application/pem-certificate-chain" | "text/plain" => {
                Some(Self::Pem)
            }
            "application/pkix-cert" => Some(Self::Der),
            _ => None,
        }
    }

    /// The kind named by a `Content-Type` header value (parameters and case ignored).
    pub fn from_content_type(value: &str) -> (String, Option<Self>) {
        let media_type = value
            .split(';')
            .next()
            .map(|t| t.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let kind = Self::from_media_type(&media_type);
        (media_type, kind)
    }
}

/// Nesting depth of JSON text, counted outside strings; stops counting once over `limit`.
pub fn exceeds_depth(text: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in text {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Decodes a JSON body into `T` (types use `deny_unknown_fields`), `malformed_json` with the
/// reason.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, InputError> {
    if exceeds_depth(body, MAX_JSON_DEPTH) {
        return Err(InputError::new(
            "malformed_json",
            format!("the JSON is nested deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        // serde quotes offending input; keep error bodies small whatever was sent.
        let message = format!("the body is not the expected JSON: {e}");
        InputError::new("malformed_json", clip(&message, MAX_JSON_ERROR_CHARS))
    })
}

/// The JSON form of `POST /certs`: either `pem`, or explicit hashes for a certificate not at hand.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertJson {
    pub pem: Option<String>,
    /// Recorded as the source when an admin pushes; a push token's own label always wins.
    pub source: Option<String>,
    pub tbs_sha256: Option<String>,
    pub pubkey_sha256: Option<String>,
    #[serde(default, alias = "names")]
    pub dns_names: Vec<String>,
    #[serde(default, deserialize_with = "super::time::bounded_opt")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "super::time::bounded_opt")]
    pub not_after: Option<DateTime<Utc>>,
    pub serial: Option<String>,
    pub issuer: Option<String>,
}

impl CertJson {
    pub fn has_explicit_fields(&self) -> bool {
        self.tbs_sha256.is_some()
            || self.pubkey_sha256.is_some()
            || !self.dns_names.is_empty()
            || self.not_before.is_some()
            || self.not_after.is_some()
            || self.serial.is_some()
            || self.issuer.is_some()
    }
}

/// The JSON form of `POST /keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyJson {
    pub pubkey_sha256: Option<String>,
    /// A PEM `PUBLIC KEY` block or a certificate to take the key from.
    pub pem: Option<String>,
    /// A PEM PKCS #10 certificate request: its key, for its names unless `dns_names` is given.
    pub csr: Option<String>,
    /// The names the key is for (required from push callers unless `pem` is a certificate,
    /// whose names are added to these, or `csr` names some).
    #[serde(default, alias = "names")]
    pub dns_names: Vec<String>,
    pub note: Option<String>,
    #[serde(default, deserialize_with = "super::time::bounded_opt")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// `POST /keys/compromised` (admin): the key, one of three ways, and why.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompromisedJson {
    pub pubkey_sha256: Option<String>,
    pub pem: Option<String>,
    pub csr: Option<String>,
    pub note: Option<String>,
}

/// `POST /domains`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainJson {
    pub value: String,
    pub note: Option<String>,
    #[serde(default)]
    pub backfill: BackfillMode,
    /// Its issuances are expected (proof of life), not alerts.
    #[serde(default)]
    pub canary: bool,
    /// Issuer policy: CAA identifiers of the CAs allowed to issue. Given for an existing
    /// entry, it replaces that entry's policy (`[]` clears it).
    #[serde(default)]
    pub allowed_issuers: Option<Vec<String>>,
}

/// `POST /alerts/{tbs_sha256}/ack` (the body is optional: blank means `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckJson {
    pub note: Option<String>,
}

impl AckJson {
    /// A blank body (only whitespace) is an acknowledgement without a note.
    pub fn is_blank(body: &[u8]) -> bool {
        body.iter().all(u8::is_ascii_whitespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_are_matched_case_insensitively_with_parameters() {
        for (ct, kind) in [
            ("application/json", ContentKind::Json),
            ("Application/JSON; charset=utf-8", ContentKind::Json),
            ("application/merge-patch+json", ContentKind::Json),
            ("application/x-pem-file", ContentKind::Pem),
            ("TEXT/PLAIN;charset=US-ASCII", ContentKind::Pem),
            ("application/pkix-cert", ContentKind::Der),
        ] {
            assert_eq!(ContentKind::from_content_type(ct).1, Some(kind), "{ct}");
        }
        for ct in ["application/x-www-form-urlencoded", "image/png", ""] {
            assert_eq!(ContentKind::from_content_type(ct).1, None, "{ct}");
        }
    }

    #[test]
    fn deep_json_is_refused_before_parsing_but_brackets_in_strings_are_not_depth() {
        let deep = "[".repeat(100_000);
        let err = json::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert!(err.message.contains("deeper"), "{}", err.message);
        let brackets_in_string = format!(r#"{{"note": "{}\"{}"}}"#, "[".repeat(50), "{".repeat(50));
        assert!(json::<serde_json::Value>(brackets_in_string.as_bytes()).is_ok());
    }

    #[test]
    fn garbage_and_invalid_utf8_are_malformed_json_with_a_bounded_message() {
        for body in [&b"\xff\xfe\x00garbage"[..], b"", b"{", b"nul"] {
            let err = json::<serde_json::Value>(body).unwrap_err();
            assert_eq!(err.code, "malformed_json");
        }
        let long = format!(r#"{{"x": {}}}"#, "\"é\"".repeat(1000));
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct OnlyNumber {
            x: u32,
        }
        let err = json::<OnlyNumber>(long.as_bytes()).unwrap_err();
        assert!(err.message.len() <= 304);
    }

    #[test]
    fn bodies_refuse_unknown_fields_and_out_of_range_times() {
        assert!(json::<AckJson>(br#"{"note": "x", "by": "me"}"#).is_err());
        assert!(
            json::<CertJson>(br#"{"tbs_sha256": "a", "not_after": "+262142-12-31T23:59:59Z"}"#)
                .is_err()
        );
        assert!(json::<KeyJson>(br#"{"expires_at": "1969-12-31T23:59:59Z"}"#).is_err());
        assert!(json::<DomainJson>(br#"{"value": "example.org", "canary": true}"#).is_ok());
        assert!(AckJson::is_blank(b" \n") && !AckJson::is_blank(b"{}"));
    }
}
