//! Sending: SNS (one JSON message per alert, for machines) and SES v2 (email, for people), each
//! behind a one-method trait so the delivery logic is tested with notifiers that fail on demand.

use std::future::Future;

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

/// A send failed; the alert stays queued (or is marked failed after the last attempt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(pub String);

/// One entry of a batch that failed: the error, and whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct SendFailure {
    pub error: NotifyError,
    /// The service blames the request itself (SNS `SenderFault`): marked failed at once.
    pub permanent: bool,
}

impl From<NotifyError> for SendFailure {
    fn from(error: NotifyError) -> Self {
        Self {
            error,
            permanent: false,
        }
    }
}

/// SNS PublishBatch takes at most 10 entries ...
pub const SNS_BATCH_MAX: usize = 10;
/// ... and at most 256 KiB for the whole request (every entry's message, subject and
/// attributes together).
pub const SNS_BATCH_BYTES: usize = 256 * 1024;

/// One SNS message: a subject, a JSON body and string attributes for filter policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsMessage {
    pub subject: String,
    pub body: String,
    pub attributes: Vec<MessageAttribute>,
}

impl SnsMessage {
    /// What the message counts for in a PublishBatch request's size limit.
    pub fn payload_bytes(&self) -> usize {
        self.body.len()
            + self.subject.len()
            + self
                .attributes
                .iter()
                .map(|a| a.name.len() + a.data_type.len() + a.value.len())
                .sum::<usize>()
    }
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

    /// Publishes up to [`SNS_BATCH_MAX`] messages (at most [`SNS_BATCH_BYTES`] together) in
    /// one request; answers per message, in input order. The default publishes one by one.
    fn publish_batch(
        &self,
        messages: &[SnsMessage],
    ) -> impl Future<Output = Vec<Result<String, SendFailure>>> + Send {
        async move {
            let mut results = Vec::with_capacity(messages.len());
            for message in messages {
                results.push(self.publish(message).await.map_err(SendFailure::from));
            }
            results
        }
    }
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
        for (name, value) in attributes(message)? {
            request = request.message_attributes(name, value);
        }
        let output = request
            .send()
            .await
            .map_err(|e| NotifyError(format!("SNS Publish: {}", short_error(&e))))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }

    async fn publish_batch(&self, messages: &[SnsMessage]) -> Vec<Result<String, SendFailure>> {
        // The request as a whole failed (network, throttling after the SDK's retries): every
        // entry is retried by a later run.
        self.publish_batch_request(messages)
            .await
            .unwrap_or_else(|e| vec![Err(e.into()); messages.len()])
    }
}

impl SnsPublisher {
    /// One PublishBatch; entry ids are the messages' positions, so each answer maps back to
    /// its message (and the caller's alert).
    async fn publish_batch_request(
        &self,
        messages: &[SnsMessage],
    ) -> Result<Vec<Result<String, SendFailure>>, NotifyError> {
        let mut entries = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            let entry = PublishBatchRequestEntry::builder()
                .id(i.to_string())
                .subject(&message.subject)
                .message(&message.body)
                .set_message_attributes(Some(
                    attributes(message)?
                        .into_iter()
                        .map(|(name, value)| (name.to_owned(), value))
                        .collect(),
                ))
                .build()
                .map_err(|e| NotifyError(format!("batch entry: {e}")))?;
            entries.push(entry);
        }
        let output = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| NotifyError(format!("SNS PublishBatch: {}", short_error(&e))))?;
        let mut results: Vec<Option<Result<String, SendFailure>>> = vec![None; messages.len()];
        let slot = |id: &str| id.parse::<usize>().ok().filter(|&i| i < messages.len());
        for ok in output.successful() {
            if let Some(i) = ok.id().and_then(slot) {
                results[i] = Some(Ok(ok.message_id().unwrap_or_default().to_owned()));
            }
        }
        for failed in output.failed() {
            if let Some(i) = slot(failed.id()) {
                results[i] = Some(Err(SendFailure {
                    error: NotifyError(format!(
                        "SNS PublishBatch entry: {}: {}",
                        failed.code(),
                        failed.message().unwrap_or_default()
                    )),
                    permanent: failed.sender_fault(),
                }));
            }
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(NotifyError("SNS PublishBatch did not answer for this entry".into()).into())
                })
            })
            .collect())
    }
}

/// A service error as its code and message; anything else (timeout, connection) in full.
/// The full display of a service error carries the raw response (kilobytes of debug text,
/// with the service's XML) into the alert's `last_error`. (The emulator even rewrites
/// `<RequestId>…</RequestId>` across a whole JSON response, merging the stored alerts it
/// lists: the raw XML must not be stored.)
fn short_error<E, R>(e: &aws_sdk_sns::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sns::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("unknown error"),
            service.message().unwrap_or_default()
        ),
        None => aws_sdk_sns::error::DisplayErrorContext(e).to_string(),
    }
}

/// A message's attributes as SNS takes them.
fn attributes(
    message: &SnsMessage,
) -> Result<Vec<(&'static str, MessageAttributeValue)>, NotifyError> {
    message
        .attributes
        .iter()
        .map(|attribute| {
            MessageAttributeValue::builder()
                .data_type(attribute.data_type)
                .string_value(&attribute.value)
                .build()
                .map(|value| (attribute.name, value))
                .map_err(|e| NotifyError(format!("attribute {}: {e}", attribute.name)))
        })
        .collect()
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
            .map_err(|e| NotifyError(format!("SES SendEmail: {}", short_error(&e))))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}
