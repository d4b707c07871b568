//! Request bodies: reading within the size limit, content type, and JSON decoding with a
//! nesting limit (the pure part, and the body types, are [`ctguard::api_input::body`]).
//! Function URL bodies arrive base64-encoded for binary content types; lambda_http has already
//! decoded them by the time they get here. On the local listener they stream in; axum's
//! `to_bytes` stops reading at the limit, whether or not a Content-Length announced the size.

use std::time::Duration;

use axum::body::{Body, Bytes};
use http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

pub use ctguard::api_input::body::{ContentKind, MAX_JSON_DEPTH};

/// Reads the body: 413 beyond `limit` bytes, 408 when `timeout` (the listener's) passes first.
pub async fn read(body: Body, limit: usize, timeout: Option<Duration>) -> ApiResult<Bytes> {
    let read = async {
        axum::body::to_bytes(body, limit).await.map_err(|e| {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if over {
                ApiError::payload_too_large(limit)
            } else {
                ApiError::bad_request(
                    "unreadable_body",
                    format!("the body could not be read: {e}"),
                )
            }
        })
    };
    let Some(timeout) = timeout else {
        return read.await;
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_elapsed| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    timeout.as_secs_f64()
                ),
            ))
        })
}

/// The content kind of the body, if it is one of `accepted`; 415 otherwise (also when missing).
pub fn content_kind(headers: &HeaderMap, accepted: &[ContentKind]) -> ApiResult<ContentKind> {
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
    let value = headers.get(header::CONTENT_TYPE).ok_or_else(|| {
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

    fn request(content_type: Option<&str>, _body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        }
        headers
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

    #[tokio::test]
    async fn bodies_over_the_limit_are_413() {
        let body = |n: usize| Body::from(vec![0u8; n]);
        assert_eq!(read(body(10), 10, None).await.unwrap().len(), 10);
        let err = read(body(11), 10, None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(err.code, "payload_too_large");
        // A body that never ends is cut off at the limit, not read to its end.
        let endless = Body::from_stream(futures_util::stream::repeat_with(|| {
            Ok::<_, std::io::Error>(Bytes::from_static(&[0; 1024]))
        }));
        let err = read(endless, 10_000, None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn a_body_slower_than_the_timeout_is_408() {
        let stalled =
            Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
        let err = read(stalled, 10, Some(Duration::from_millis(20)))
            .await
            .unwrap_err();
        assert_eq!(err.status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(err.code, "body_timeout");
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
