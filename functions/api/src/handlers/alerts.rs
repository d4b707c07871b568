//! `/alerts`: what the poller found, and people's triage of it.

use axum::response::Response;
use http::StatusCode;

use ctguard::api_input::body::AckJson;
use ctguard::api_input::query::{alert_filter, alerts_listing};
use ctguard::model::Acknowledgement;
use ctguard::store::AlertStore;

use super::{Ctx, MAX_NOTE_CHARS, PageView, check_text, page_request, parse_hash};
use crate::body::{self, ContentKind};
use crate::error::{ApiError, ApiResult};
use crate::response::json;

/// GET /alerts?since=&severity=&domain=&limit=&cursor= (newest first)
pub async fn list<S: AlertStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let filter = alert_filter(&ctx.query)?;
    // A cursor is valid only with the filters it was issued for.
    let listing = alerts_listing(&filter);
    let page = store
        .list_alerts(&filter, &page_request(ctx, &listing)?)
        .await?;
    json(StatusCode::OK, &PageView::new(page, ctx, &listing))
}

/// GET /alerts/{tbs_sha256}
pub async fn get<S: AlertStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let tbs = parse_hash("tbs_sha256", ctx.param)?;
    match store.get_alert(&tbs).await? {
        Some(alert) => json(StatusCode::OK, &alert),
        None => Err(ApiError::not_found(format!("no alert for TBS hash {tbs}"))),
    }
}

/// POST /alerts/{tbs_sha256}/ack `{"note": "..."}` (the body is optional): records that the
/// caller triaged the alert. Acknowledging again replaces the earlier acknowledgement.
pub async fn ack<S: AlertStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let tbs = parse_hash("tbs_sha256", ctx.param)?;
    let bytes = ctx.body()?;
    let input: AckJson = if AckJson::is_blank(bytes) {
        AckJson::default()
    } else {
        body::content_kind(&ctx.request.headers, &[ContentKind::Json])?;
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
