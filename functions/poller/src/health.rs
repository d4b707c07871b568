//! `health` alerts: messages about ctguard itself, not about a certificate ("monitor blind",
//! "pushed but never logged"). Schema `ctguard.health.v1` on SNS with the attribute
//! `severity` = `health` (plus `domain`/`domains`, as alert messages), and one email each.
//!
//! They are sent directly by the run that finds the condition, not through the outbox (they are
//! not stored alerts); the condition's record (`blind_alerted_at`, `not_logged_alerted_at`) is
//! written only once every configured channel accepted the message, so a failed send is retried
//! by the next run (at least once, as alerts).

use serde::Serialize;

use crate::message::sns_subject;
use crate::notify::{Email, Mailer, MessageAttribute, NotifyError, Publisher, SnsMessage};

/// `schema` of health messages.
pub const HEALTH_SCHEMA: &str = "ctguard.health.v1";

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthKind {
    /// No canary issuance within the window: ctguard (or Cert Spotter) sees nothing new.
    CanaryBlind,
    /// A pushed certificate with embedded SCTs never appeared among its domain's issuances.
    PushedNotLogged,
}

/// The SNS body (schema `ctguard.health.v1`).
#[derive(Debug, Clone, Serialize)]
pub struct HealthMessage {
    pub schema: &'static str,
    /// Always `health`.
    pub severity: &'static str,
    pub kind: HealthKind,
    /// The watch entry concerned (also the `domain` attribute).
    pub domain: String,
    /// One line for people, e.g. "monitor blind: no canary issuance since 2026-01-15T12:00:00Z".
    pub message: String,
    /// What to check, for people.
    pub advice: &'static str,
    /// Kind-specific facts (times, hashes, names).
    pub details: serde_json::Value,
}

impl HealthMessage {
    pub fn new(
        kind: HealthKind,
        domain: &str,
        message: String,
        details: serde_json::Value,
    ) -> Self {
        Self {
            schema: HEALTH_SCHEMA,
            severity: "health",
            kind,
            domain: domain.to_owned(),
            message,
            advice: match kind {
                HealthKind::CanaryBlind => CANARY_ADVICE,
                HealthKind::PushedNotLogged => NOT_LOGGED_ADVICE,
            },
            details,
        }
    }

    fn subject(&self) -> String {
        format!("ctguard HEALTH: {}", self.message)
    }

    pub fn sns(&self) -> SnsMessage {
        let body = serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"schema\":\"{HEALTH_SCHEMA}\",\"error\":\"{e}\"}}"));
        SnsMessage {
            subject: sns_subject(&self.subject()),
            body,
            attributes: vec![
                attribute("severity", "String", "health".to_owned()),
                attribute("domain", "String", self.domain.clone()),
                attribute(
                    "domains",
                    "String.Array",
                    serde_json::to_string(&[&self.domain]).unwrap_or_else(|_| "[]".to_owned()),
                ),
            ],
        }
    }

    pub fn email(&self) -> Email {
        let details = serde_json::to_string_pretty(&self.details).unwrap_or_default();
        let text = format!(
            "{message}\n\n{advice}\n\nDetails:\n{details}\n\n-- \nctguard health check \
             (a message about the monitor itself, not about a certificate).\n",
            message = self.message,
            advice = self.advice,
        );
        let html = format!(
            "<html><body style=\"font-family:sans-serif\"><h2>ctguard health</h2>\
             <p><b>{message}</b></p><p>{advice}</p><pre>{details}</pre>\
             <p style=\"color:#666\">ctguard health check (a message about the monitor itself, \
             not about a certificate).</p></body></html>",
            message = escape(&self.message),
            advice = escape(self.advice),
            details = escape(&details),
        );
        Email {
            subject: self.subject().replace(['\r', '\n'], " "),
            text,
            html,
        }
    }
}

fn attribute(name: &'static str, data_type: &'static str, value: String) -> MessageAttribute {
    MessageAttribute {
        name,
        data_type,
        value,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CANARY_ADVICE: &str = "SSLMate logs a certificate for <day>.test.certspotter.org every \
    day. ctguard has not received one within the window: Cert Spotter may be behind, the API key \
    or quota may be exhausted (see rate_limited_until and last_error in GET /status), or polling \
    stopped. Until this clears, certificates for your domains may go unnoticed.";

const NOT_LOGGED_ADVICE: &str = "This certificate was pushed by a load balancer and carries \
    embedded SCTs, so its CA logged it in Certificate Transparency, yet ctguard never saw it \
    among the watched domain's issuances. Either ctguard is blind for that domain (check its \
    entry in GET /status), or the CA did not log it as promised (report it to the CA).";

/// A health message some configured channel did not accept: each channel's failure.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct NotDelivered {
    pub sns: Option<NotifyError>,
    pub email: Option<NotifyError>,
}

impl NotDelivered {
    /// "SNS: <error>; email: <error>", naming only the channels that failed.
    fn describe(&self) -> String {
        let sns = self.sns.as_ref().map(|e| format!("SNS: {e}"));
        let email = self.email.as_ref().map(|e| format!("email: {e}"));
        [sns, email]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Sends on every configured channel; `Ok` when each of them accepted it (or none is set).
pub async fn send<P: Publisher, M: Mailer>(
    publisher: Option<&P>,
    mailer: Option<&M>,
    message: &HealthMessage,
) -> Result<(), NotDelivered> {
    let mut failed = NotDelivered {
        sns: None,
        email: None,
    };
    if let Some(publisher) = publisher {
        failed.sns = publisher.publish(&message.sns()).await.err();
    }
    if let Some(mailer) = mailer {
        failed.email = mailer.send(&message.email()).await.err();
    }
    if failed.sns.is_none() && failed.email.is_none() {
        Ok(())
    } else {
        Err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_messages_are_marked_and_escaped() {
        let m = HealthMessage::new(
            HealthKind::CanaryBlind,
            "test.certspotter.org",
            "monitor blind: no canary issuance since <x>".into(),
            serde_json::json!({"since": "<x>"}),
        );
        let sns = m.sns();
        assert_eq!(sns.attributes[0].value, "health");
        let body: serde_json::Value = serde_json::from_str(&sns.body).unwrap();
        assert_eq!(body["schema"], HEALTH_SCHEMA);
        assert_eq!(body["kind"], "canary_blind");
        assert!(sns.subject.starts_with("ctguard HEALTH: monitor blind"));
        let email = m.email();
        assert!(!email.html.contains("<x>"));
        assert!(email.text.contains("<x>"));
    }
}
