//! Request bodies: size limit, content type, and JSON decoding with a nesting limit.
//! Function URL bodies arrive base64-encoded for binary content types; lambda_http has already
//! decoded them into [`Body`](lambda_http::Body) bytes by the time they get here.

use http::header;
use lambda_http::Request;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// Deeper JSON than this is refused before parsing (no request needs more than 3 levels).
pub const MAX_JSON_DEPTH: usize = 16;

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
    fn from_media_type(media_type: &str) -> Option<Self> {
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
}

/// The body bytes, refused with 413 when over `limit`.
pub fn bytes(request: &Request, limit: usize) -> ApiResult<&[u8]> {
    let body: &[u8] = request.body().as_ref();
    if body.len() > limit {
        return Err(ApiError::payload_too_large(limit));
    }
    Ok(body)
}

/// The content kind of the body, if it is one of `accepted`; 415 otherwise (also when missing).
pub fn content_kind(request: &Request, accepted: &[ContentKind]) -> ApiResult<ContentKind> {
    let expected = || {
        accepted
            .iter()
            .map(|k| match k {
                ContentKind::Json => "application/json",
                ContentKind::Pem => "application/x-pem-file or text/plain",
                ContentKind::Der => "application/pkix-cert",
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let value = request.headers().get(header::CONTENT_TYPE).ok_or_else(|| {
        ApiError::unsupported_media_type(format!("send a Content-Type header: {}", expected()))
    })?;
    let media_type = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    ContentKind::from_media_type(&media_type)
        .filter(|kind| accepted.contains(kind))
        .ok_or_else(|| {
            ApiError::unsupported_media_type(format!(
                "Content-Type {} is not accepted here; use {}",
                crate::error::echo(&media_type),
                expected()
            ))
        })
}

/// Nesting depth of JSON text, counted outside strings; stops counting once over `limit`.
fn exceeds_depth(text: &[u8], limit: usize) -> bool {
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

/// Decodes a JSON body into `T` (types use `deny_unknown_fields`), 400 with the reason.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if exceeds_depth(body, MAX_JSON_DEPTH) {
        return Err(ApiError::bad_request(
            "malformed_json",
            format!("the JSON is nested deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        // serde quotes offending input; keep error bodies small whatever was sent.
        let message = format!("the body is not the expected JSON: {e}");
        ApiError::bad_request("malformed_json", crate::error::clip(&message, 300))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn request(content_type: Option<&str>, body: &[u8]) -> Request {
        let mut builder = http::Request::builder();
        if let Some(ct) = content_type {
            builder = builder.header("Content-Type", ct);
        }
        builder
            .body(lambda_http::Body::from(body.to_vec()))
            .unwrap()
    }

    #[test]
    fn content_types_are_matched_case_insensitively_with_parameters() {
        let all = [ContentKind::Json, ContentKind::Pem, ContentKind::Der];
        for (ct, kind) in [
            ("application/json", ContentKind::Json),
            ("Application/JSON; charset=utf-8", ContentKind::Json),
            ("application/merge-patch+json", ContentKind::Json),
            ("application/x-pem-file", ContentKind::Pem),
            ("TEXT/PLAIN;charset=US-ASCII", ContentKind::Pem),
            ("application/pkix-cert", ContentKind::Der),
        ] {
            assert_eq!(
                content_kind(&request(Some(ct), b""), &all).unwrap(),
                kind,
                "{ct}"
            );
        }
    }

    #[test]
    fn missing_unknown_or_unaccepted_content_types_are_415() {
        for ct in [
            None,
            Some("application/x-www-form-urlencoded"),
            Some("image/png"),
            Some(""),
        ] {
            let err = content_kind(&request(ct, b""), &[ContentKind::Json]).unwrap_err();
            assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        }
        let err =
            content_kind(&request(Some("text/plain"), b""), &[ContentKind::Json]).unwrap_err();
        assert!(err.message.contains("application/json"), "{}", err.message);
    }

    #[test]
    fn bodies_over_the_limit_are_413() {
        assert!(bytes(&request(None, &[0; 10]), 10).is_ok());
        let err = bytes(&request(None, &[0; 11]), 10).unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
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
    fn garbage_and_invalid_utf8_are_400_with_a_bounded_message() {
        for body in [&b"\xff\xfe\x00garbage"[..], b"", b"{", b"nul"] {
            let err = json::<serde_json::Value>(body).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
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
}
