//! `/alerts`: what the poller found, and people's triage of it.

use http::StatusCode;
use lambda_http::{Body, Response};
use serde::Deserialize;

use ctguard::domain::WatchDomain;
use ctguard::model::{Acknowledgement, Severity};
use ctguard::store::{AlertFilter, AlertStore};

use super::{Ctx, MAX_NOTE_CHARS, PageView, check_text, page_request, parse_hash};
use crate::body::{self, ContentKind};
use crate::error::{ApiError, ApiResult};
use crate::response::json;

fn parse_severity(value: &str) -> Result<Severity, &'static str> {
    match value {
        "info" => Ok(Severity::Info),
        "pending" => Ok(Severity::Pending),
        "suspicious" => Ok(Severity::Suspicious),
        "critical" => Ok(Severity::Critical),
        _ => Err("expected info, pending, suspicious or critical"),
    }
}

/// GET /alerts?since=&severity=&domain=&limit=&cursor= (newest first)
pub async fn list<S: AlertStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let query = &ctx.query;
    let filter = AlertFilter {
        since: query.parse_with("since", crate::time::parse_rfc3339)?,
        severity: query.parse_with("severity", parse_severity)?,
        domain: query.parse_with("domain", WatchDomain::parse)?,
    };
    // A cursor is valid only with the filters it was issued for.
    let listing = format!(
        "alerts\n{}\n{}\n{}",
        filter.since.map(|t| t.to_rfc3339()).unwrap_or_default(),
        filter.severity.map(|s| s.as_str()).unwrap_or_default(),
        filter
            .domain
            .as_ref()
            .map(|d| d.as_str())
            .unwrap_or_default(),
    );
    let page = store
        .list_alerts(&filter, &page_request(ctx, &listing)?)
        .await?;
    json(StatusCode::OK, &PageView::new(page, ctx, &listing))
}

/// GET /alerts/{tbs_sha256}
pub async fn get<S: AlertStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let tbs = parse_hash("tbs_sha256", ctx.param)?;
    match store.get_alert(&tbs).await? {
        Some(alert) => json(StatusCode::OK, &alert),
        None => Err(ApiError::not_found(format!("no alert for TBS hash {tbs}"))),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckJson {
    note: Option<String>,
}

/// POST /alerts/{tbs_sha256}/ack `{"note": "..."}` (the body is optional): records that the
/// caller triaged the alert. Acknowledging again replaces the earlier acknowledgement.
pub async fn ack<S: AlertStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let tbs = parse_hash("tbs_sha256", ctx.param)?;
    let bytes = body::bytes(ctx.request, ctx.settings.max_body_bytes)?;
    let input: AckJson = if bytes.iter().all(u8::is_ascii_whitespace) {
        AckJson::default()
    } else {
        body::content_kind(ctx.request, &[ContentKind::Json])?;
        body::json(bytes)?
    };
    let ack = Acknowledgement {
        by: ctx.caller.label.clone(),
        note: check_text("note", input.note, MAX_NOTE_CHARS)?,
        at: ctx.now,
    };
    match store.acknowledge(&tbs, &ack).await? {
        Some(alert) => {
            tracing::info!(%tbs, by = %ack.by, "alert acknowledged");
            json(StatusCode::OK, &alert)
        }
        None => Err(ApiError::not_found(format!("no alert for TBS hash {tbs}"))),
    }
}
