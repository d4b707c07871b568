//! Request bodies: size limit, content type, and JSON decoding with a nesting limit (the pure
//! part, and the body types, are [`ctguard::api_input::body`]).
//! Function URL bodies arrive base64-encoded for binary content types; lambda_http has already
//! decoded them into [`Body`](lambda_http::Body) bytes by the time they get here.

use http::header;
use lambda_http::Request;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

pub use ctguard::api_input::body::{ContentKind, MAX_JSON_DEPTH};

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
    let (media_type, kind) = ContentKind::from_content_type(value.to_str().unwrap_or_default());
    kind.filter(|kind| accepted.contains(kind)).ok_or_else(|| {
        ApiError::unsupported_media_type(format!(
            "Content-Type {} is not accepted here; use {}",
            crate::error::echo(&media_type),
            expected()
        ))
    })
}

/// Decodes a JSON body into `T` (see [`ctguard::api_input::body::json`]), 400 with the reason.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    Ok(ctguard::api_input::body::json(body)?)
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

    // The depth limit is tested where it lives (`ctguard::api_input::body`); here, that its
    // refusal reaches the client as a 400 with the same message.
    #[test]
    fn deep_json_is_a_400_naming_the_depth() {
        let deep = "[".repeat(100_000);
        let err = json::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("deeper"), "{}", err.message);
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
