//! `GET /healthz`: liveness, without touching the database and without revealing anything.

use http::StatusCode;
use lambda_http::{Body, Response};

use crate::error::ApiResult;
use crate::response::json;

pub fn healthz() -> ApiResult<Response<Body>> {
    json(
        StatusCode::OK,
        &serde_json::json!({ "status": "ok", "service": "ctguard-api" }),
    )
}
