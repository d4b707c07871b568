//! The API's error type: every failure becomes `{"error": {"code", "message"}}` with the status
//! that tells the client what to do about it.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use ctguard::store::StoreError;

use ctguard::api_input::InputError;
pub use ctguard::api_input::{ECHO_CHARS, clip, echo};

/// No error message is longer than this (a backstop: every echo is already bounded).
pub const MAX_MESSAGE_CHARS: usize = 512;

/// A client-facing error. `code` is stable (clients may branch on it); `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For 405: the methods the path does accept.
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status,
            code,
            message: clip(&message, MAX_MESSAGE_CHARS).into_owned(),
            allow: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn method_not_allowed(allow: Vec<&str>) -> Self {
        let allow = allow.join(", ");
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            message: format!("this path accepts {allow}"),
            allow: Some(allow),
        }
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is over the {limit}-byte limit"),
        )
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }
}

/// The JSON response for this error.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: Inner<'a>,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
        }
        let body = serde_json::to_string(&Envelope {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        })
        // Serialising two strings cannot fail; keep a valid body even so.
        .unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"internal error"}}"#.into());
        let mut response = crate::response::json_body(self.status, body);
        let headers = response.headers_mut();
        if let Some(allow) = self
            .allow
            .as_deref()
            .and_then(|a| HeaderValue::from_str(a).ok())
        {
            headers.insert(header::ALLOW, allow);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ctguard\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::InvalidPageToken => ApiError::bad_request(
                "invalid_cursor",
                "the cursor is not one this API issued (pass next_cursor back unchanged)",
            ),
            StoreError::Backend { .. } => {
                tracing::error!(error = %err, "store backend failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the database is unavailable; retry later",
                )
            }
            StoreError::Rejected { .. } => {
                tracing::error!(error = %err, "the database refused a record");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the database refused the record",
                )
            }
            StoreError::Corrupt { .. } => {
                tracing::error!(error = %err, "stored record is corrupt");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "a stored record could not be read",
                )
            }
        }
    }
}

/// Input the API cannot use (decoded by [`ctguard::api_input`]) is a 400 with its code.
impl From<InputError> for ApiError {
    fn from(err: InputError) -> Self {
        Self::bad_request(err.code, err.message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    // `echo` and `clip` are tested where they live (`ctguard::api_input`); this is the bound
    // every API error message gets from them.
    #[test]
    fn messages_are_bounded_on_character_boundaries() {
        let err = ApiError::bad_request("x", "m".repeat(10_000));
        assert_eq!(err.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        let err = ApiError::bad_request("x", "é".repeat(10_000));
        assert_eq!(err.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(err.message.ends_with('…'));
    }
}
