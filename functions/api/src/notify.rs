//! The alert channels as the API sees them: only for `POST /alerts/test`, which sends one
//! clearly marked test message through the same SNS topic and SES sender as the poller, so an
//! operator can check subscriptions, filter policies and the SES identity after a deploy.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sns::types::MessageAttributeValue;

/// Which channels are configured (the poller's `ALERT_TOPIC_ARN`, `EMAIL_FROM`, `EMAIL_TO`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifySettings {
    pub topic_arn: Option<String>,
    /// Sender and recipients.
    pub email: Option<(String, Vec<String>)>,
}

/// One channel's message, as the test sends it.
#[derive(Debug, Clone)]
pub struct TestMessage {
    pub subject: String,
    /// JSON (schema `ctguard.test.v1`) for SNS; also the email's text.
    pub body: String,
    pub text: String,
}

/// SNS and SES clients for the configured channels (`None`: not configured).
#[derive(Clone, Default)]
pub struct Notifier {
    sns: Option<(aws_sdk_sns::Client, String)>,
    email: Option<(aws_sdk_sesv2::Client, String, Vec<String>)>,
}

impl Notifier {
    pub fn new(sdk: &aws_config::SdkConfig, settings: &NotifySettings) -> Self {
        Self {
            sns: settings
                .topic_arn
                .clone()
                .map(|arn| (aws_sdk_sns::Client::new(sdk), arn)),
            email: settings
                .email
                .clone()
                .map(|(from, to)| (aws_sdk_sesv2::Client::new(sdk), from, to)),
        }
    }

    /// `None`: SNS is not configured. Otherwise the message id, or the error.
    pub async fn publish(&self, message: &TestMessage) -> Option<Result<String, String>> {
        let (client, topic) = self.sns.as_ref()?;
        let severity = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("test")
            .build();
        let result = async {
            let output = client
                .publish()
                .topic_arn(topic)
                .subject(&message.subject)
                .message(&message.body)
                .message_attributes("severity", severity.map_err(|e| e.to_string())?)
                .send()
                .await
                .map_err(|e| brief("SNS Publish", aws_sdk_sns::error::DisplayErrorContext(&e)))?;
            Ok::<_, String>(output.message_id().unwrap_or_default().to_owned())
        };
        Some(result.await)
    }

    /// `None`: email is not configured. Otherwise the message id, or the error.
    pub async fn send_email(&self, message: &TestMessage) -> Option<Result<String, String>> {
        let (client, from, to) = self.email.as_ref()?;
        let result = async {
            let content = |data: &str| {
                Content::builder()
                    .data(data)
                    .charset("UTF-8")
                    .build()
                    .map_err(|e| e.to_string())
            };
            let email = Message::builder()
                .subject(content(&message.subject)?)
                .body(Body::builder().text(content(&message.text)?).build())
                .build();
            let output = client
                .send_email()
                .from_email_address(from)
                .destination(
                    Destination::builder()
                        .set_to_addresses(Some(to.clone()))
                        .build(),
                )
                .content(EmailContent::builder().simple(email).build())
                .send()
                .await
                .map_err(|e| {
                    brief(
                        "SES SendEmail",
                        aws_sdk_sesv2::error::DisplayErrorContext(&e),
                    )
                })?;
            Ok::<_, String>(output.message_id().unwrap_or_default().to_owned())
        };
        Some(result.await)
    }
}

/// The SDK's error chain ends with the raw HTTP response: keep the first part, bounded, for the
/// API answer (the full error is logged by the handler's caller).
fn brief(operation: &str, error: impl std::fmt::Display) -> String {
    const MAX_CHARS: usize = 300;
    let full = error.to_string();
    tracing::warn!(operation, error = %full, "alert channel refused the test message");
    let head = full.split(" (ServiceError").next().unwrap_or(&full);
    let mut text: String = head.chars().take(MAX_CHARS).collect();
    if head.chars().count() > MAX_CHARS {
        text.push('…');
    }
    format!("{operation}: {text}")
}
