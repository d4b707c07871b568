//! Building successful responses: JSON bodies, `201 Created` with a location, `204`.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};

/// A response with a JSON body that is already serialised.
pub fn json_body(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Inventory and alerts are not for caches between the operator and the API.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Serialises `value` as the JSON body.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> ApiResult<Response> {
    let body = serde_json::to_string(value).map_err(|e| {
        tracing::error!(error = %e, "response serialisation failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the response could not be serialised",
        )
    })?;
    Ok(json_body(status, body))
}

/// `201 Created` (with `Location`) when `created`, else `200 OK`: the idempotent-upsert answer.
pub fn upserted<T: Serialize>(created: bool, location: &str, value: &T) -> ApiResult<Response> {
    if !created {
        return json(StatusCode::OK, value);
    }
    let mut response = json(StatusCode::CREATED, value)?;
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `204 No Content`.
pub fn no_content() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}
