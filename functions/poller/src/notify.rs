//! Sending: SNS (one JSON message per alert, for machines) and SES v2 (email, for people), each
//! behind a one-method trait so the delivery logic is tested with notifiers that fail on demand.

use std::future::Future;

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sns::types::MessageAttributeValue;

/// A send failed; the alert stays queued (or is marked failed after the last attempt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

/// One SNS message: a subject, a JSON body and string attributes for filter policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsMessage {
    pub subject: String,
    pub body: String,
    pub attributes: Vec<MessageAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttribute {
    pub name: &'static str,
    /// `String` or `String.Array` (value is then a JSON array).
    pub data_type: &'static str,
    pub value: String,
}

/// One email: subject, plain text and HTML alternatives. Sender and recipients belong to the
/// mailer (configuration), not to the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub trait Publisher: Send + Sync {
    /// Publishes; returns the message id.
    fn publish(
        &self,
        message: &SnsMessage,
    ) -> impl Future<Output = Result<String, NotifyError>> + Send;
}

pub trait Mailer: Send + Sync {
    /// Sends to the configured recipients; returns the message id.
    fn send(&self, email: &Email) -> impl Future<Output = Result<String, NotifyError>> + Send;
}

/// Publishes to one SNS topic.
#[derive(Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String) -> Self {
        Self { client, topic_arn }
    }
}

impl Publisher for SnsPublisher {
    async fn publish(&self, message: &SnsMessage) -> Result<String, NotifyError> {
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&message.subject)
            .message(&message.body);
        for attribute in &message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type(attribute.data_type)
                .string_value(&attribute.value)
                .build()
                .map_err(|e| NotifyError(format!("attribute {}: {e}", attribute.name)))?;
            request = request.message_attributes(attribute.name, value);
        }
        let output = request.send().await.map_err(|e| {
            NotifyError(format!(
                "SNS Publish: {}",
                aws_sdk_sns::error::DisplayErrorContext(&e)
            ))
        })?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}

/// Sends through SES v2 from one sender to a fixed list of recipients.
#[derive(Clone)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
    to: Vec<String>,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client, from: String, to: Vec<String>) -> Self {
        Self { client, from, to }
    }
}

fn utf8(data: &str) -> Result<Content, NotifyError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| NotifyError(format!("email content: {e}")))
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<String, NotifyError> {
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text)?)
                    .html(utf8(&email.html)?)
                    .build(),
            )
            .build();
        let output = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(self.to.clone()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| {
                NotifyError(format!(
                    "SES SendEmail: {}",
                    aws_sdk_sesv2::error::DisplayErrorContext(&e)
                ))
            })?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}
