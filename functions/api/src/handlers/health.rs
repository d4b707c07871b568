//! `GET /healthz`: liveness, without touching the database and without revealing anything.

use axum::response::Response;
use http::StatusCode;

use crate::error::ApiResult;
use crate::response::json;

pub fn healthz() -> ApiResult<Response> {
    json(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "service": "ctguard-api" }),
    )
}
