//! `POST /alerts/test` (admin): one clearly marked test message through SNS (attribute
//! `severity` = `test`, schema `ctguard.test.v1`) and email, so an operator can verify the
//! subscriptions after a deploy. 200 with each channel's outcome (`sent`, `not_configured`)
//! when every configured channel accepted it; 503 `channel_failed` naming each channel's
//! outcome when one refused or could not be reached. Nothing is stored.

use axum::response::Response;
use http::StatusCode;
use serde::Serialize;

use super::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::notify::{Notifier, TestMessage};
use crate::response::json;

/// `schema` of the test message.
pub const TEST_SCHEMA: &str = "ctguard.test.v1";

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Sent,
    Failed,
    NotConfigured,
}

#[derive(Debug, Serialize)]
struct ChannelResult {
    status: Outcome,
    message_id: Option<String>,
    error: Option<String>,
}

impl ChannelResult {
    fn from(result: Option<Result<String, String>>) -> Self {
        let (status, message_id, error) = match result {
            None => (Outcome::NotConfigured, None, None),
            Some(Ok(id)) => (Outcome::Sent, Some(id), None),
            Some(Err(e)) => (Outcome::Failed, None, Some(e)),
        };
        Self {
            status,
            message_id,
            error,
        }
    }

    fn failed(&self) -> bool {
        matches!(self.status, Outcome::Failed)
    }

    fn describe(&self) -> String {
        match (&self.status, &self.error) {
            (Outcome::Failed, Some(e)) => format!("failed: {e}"),
            (Outcome::Sent, _) => "sent".to_owned(),
            (Outcome::NotConfigured, _) => "not configured".to_owned(),
            (Outcome::Failed, None) => "failed".to_owned(),
        }
    }
}

#[derive(Debug, Serialize)]
struct TestAlertView {
    sns: ChannelResult,
    email: ChannelResult,
}

pub async fn post(notifier: &Notifier, ctx: &Ctx<'_>) -> ApiResult<Response> {
    let at = ctx.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let by = &ctx.caller.label;
    let body = serde_json::json!({
        "schema": TEST_SCHEMA,
        "severity": "test",
        "message": "ctguard test message: not an alert. Sent on request to check that this subscription receives ctguard's messages.",
        "requested_by": by,
        "sent_at": at,
    });
    let message = TestMessage {
        subject: "ctguard TEST message (not an alert)".to_owned(),
        body: body.to_string(),
        text: format!(
            "This is a TEST message from ctguard, not an alert.\n\nRequested by {by} at {at} \
             (POST /alerts/test) to check that alert emails reach you. Real alerts arrive the \
             same way, with the subject \"ctguard: SUSPICIOUS certificate ...\".\n"
        ),
    };
    let view = TestAlertView {
        sns: ChannelResult::from(notifier.publish(&message).await),
        email: ChannelResult::from(notifier.send_email(&message).await),
    };
    tracing::info!(by = %by, sns = ?view.sns.status, email = ?view.email.status, "test alert sent");
    if view.sns.failed() || view.email.failed() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "channel_failed",
            format!(
                "SNS {}; email {}",
                view.sns.describe(),
                view.email.describe()
            ),
        ));
    }
    json(StatusCode::OK, &view)
}
