//! Sending: SNS (one JSON message per alert, for machines) and SES v2 (email, for people), each
//! behind a one-method trait so the delivery logic is tested with notifiers that fail on demand.

use std::future::Future;

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sns::config::http::HttpResponse;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

/// Why a send failed. The kind decides what delivery does with the alert: a throttled channel
/// rests for the rest of the run without spending an attempt; a rejected message is marked
/// failed at once (retrying cannot change the answer); anything else is retried by later runs
/// up to `MAX_DELIVERY_ATTEMPTS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// The service asks us to slow down (SNS `Throttled`, SES `TooManyRequestsException` or a
    /// sending quota): nothing is wrong with the message.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The service refused this message itself (an SNS batch entry's sender fault, an invalid
    /// parameter, SES `MessageRejected`).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Network, timeout, a server error, or a configuration the operator can fix (access
    /// denied, a missing topic, an unverified sender): worth retrying.
    #[error("{0}")]
    Failed(String),
}

/// Error codes (SNS and SES v2 API references) that mean "slow down" ...
const THROTTLING_CODES: &[&str] = &[
    "Throttled",
    "ThrottledException",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "KMSThrottling",
    "TooManyRequestsException",
    "LimitExceededException",
];
/// ... and those that blame the message itself.
const REJECTING_CODES: &[&str] = &[
    "InvalidParameter",
    "ParameterValueInvalid",
    "InvalidParameterValue",
    "MessageRejected",
    "BadRequestException",
];

impl NotifyError {
    /// A service's answer by its error code (and, for an SNS batch entry, its sender-fault
    /// flag); HTTP 429 without a known code is throttling too.
    pub fn from_service(
        code: Option<&str>,
        status: Option<u16>,
        sender_fault: bool,
        text: String,
    ) -> Self {
        match code {
            Some(code) if THROTTLING_CODES.contains(&code) => NotifyError::Throttled(text),
            _ if status == Some(429) => NotifyError::Throttled(text),
            Some(code) if REJECTING_CODES.contains(&code) => NotifyError::Rejected(text),
            _ if sender_fault => NotifyError::Rejected(text),
            _ => NotifyError::Failed(text),
        }
    }

    /// The message, without the kind.
    pub fn text(&self) -> &str {
        match self {
            NotifyError::Throttled(t) | NotifyError::Rejected(t) | NotifyError::Failed(t) => t,
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
    ) -> impl Future<Output = Vec<Result<String, NotifyError>>> + Send {
        async move {
            let mut results = Vec::with_capacity(messages.len());
            for message in messages {
                results.push(self.publish(message).await);
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
            .map_err(|e| service_error("SNS Publish", &e))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }

    async fn publish_batch(&self, messages: &[SnsMessage]) -> Vec<Result<String, NotifyError>> {
        // The request as a whole failed (network, throttling after the SDK's retries): every
        // entry shares its fate.
        self.publish_batch_request(messages)
            .await
            .unwrap_or_else(|e| vec![Err(e); messages.len()])
    }
}

impl SnsPublisher {
    /// One PublishBatch; entry ids are the messages' positions, so each answer maps back to
    /// its message (and the caller's alert).
    async fn publish_batch_request(
        &self,
        messages: &[SnsMessage],
    ) -> Result<Vec<Result<String, NotifyError>>, NotifyError> {
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
                .map_err(|e| NotifyError::Failed(format!("batch entry: {e}")))?;
            entries.push(entry);
        }
        let output = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| service_error("SNS PublishBatch", &e))?;
        let mut results: Vec<Option<Result<String, NotifyError>>> = vec![None; messages.len()];
        let slot = |id: &str| id.parse::<usize>().ok().filter(|&i| i < messages.len());
        for ok in output.successful() {
            if let Some(i) = ok.id().and_then(slot) {
                results[i] = Some(Ok(ok.message_id().unwrap_or_default().to_owned()));
            }
        }
        for failed in output.failed() {
            if let Some(i) = slot(failed.id()) {
                results[i] = Some(Err(NotifyError::from_service(
                    Some(failed.code()),
                    None,
                    failed.sender_fault(),
                    format!(
                        "SNS PublishBatch entry: {}: {}",
                        failed.code(),
                        failed.message().unwrap_or_default()
                    ),
                )));
            }
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(NotifyError::Failed(
                        "SNS PublishBatch did not answer for this entry".into(),
                    ))
                })
            })
            .collect())
    }
}

/// A failed request as a [`NotifyError`]: a service error by its code, in a short text (its
/// code and message); anything else (timeout, connection) is worth retrying, in full.
/// The full display of a service error carries the raw response (kilobytes of debug text,
/// with the service's XML) into the alert's `last_error`. (The emulator even rewrites
/// `<RequestId>…</RequestId>` across a whole JSON response, merging the stored alerts it
/// lists: the raw XML must not be stored.)
fn service_error<E>(
    operation: &str,
    e: &aws_sdk_sns::error::SdkError<E, HttpResponse>,
) -> NotifyError
where
    E: aws_sdk_sns::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    match e.as_service_error() {
        Some(service) => NotifyError::from_service(
            service.code(),
            status,
            false,
            format!(
                "{operation}: {}: {}",
                service.code().unwrap_or("unknown error"),
                service.message().unwrap_or_default()
            ),
        ),
        None => NotifyError::Failed(format!(
            "{operation}: {}",
            aws_sdk_sns::error::DisplayErrorContext(e)
        )),
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
                .map_err(|e| NotifyError::Failed(format!("attribute {}: {e}", attribute.name)))
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
        .map_err(|e| NotifyError::Failed(format!("email content: {e}")))
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
            .map_err(|e| service_error("SES SendEmail", &e))?;
        Ok(output.message_id().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::NotifyError;

    fn kind(code: Option<&str>, status: Option<u16>, sender_fault: bool) -> NotifyError {
        NotifyError::from_service(code, status, sender_fault, "x".into())
    }

    #[test]
    fn throttling_is_told_from_a_rejected_message_and_from_other_failures() {
        let throttled = NotifyError::Throttled("x".into());
        let rejected = NotifyError::Rejected("x".into());
        let failed = NotifyError::Failed("x".into());
        // SNS Publish / PublishBatch and their entries.
        assert_eq!(kind(Some("Throttled"), Some(400), false), throttled);
        assert_eq!(kind(Some("KMSThrottling"), Some(400), false), throttled);
        assert_eq!(
            kind(Some("Throttled"), None, true),
            throttled,
            "entry: sender fault"
        );
        assert_eq!(kind(Some("InvalidParameter"), Some(400), false), rejected);
        assert_eq!(kind(Some("ParameterValueInvalid"), None, true), rejected);
        assert_eq!(
            kind(Some("AnythingElse"), None, true),
            rejected,
            "entry sender fault"
        );
        assert_eq!(
            kind(Some("InternalError"), None, false),
            failed,
            "entry server fault"
        );
        assert_eq!(kind(Some("AuthorizationError"), Some(403), false), failed);
        assert_eq!(kind(Some("NotFound"), Some(404), false), failed);
        assert_eq!(kind(Some("InternalError"), Some(500), false), failed);
        // SES v2 SendEmail.
        assert_eq!(
            kind(Some("TooManyRequestsException"), Some(429), false),
            throttled
        );
        assert_eq!(
            kind(Some("LimitExceededException"), Some(400), false),
            throttled
        );
        assert_eq!(kind(None, Some(429), false), throttled);
        assert_eq!(kind(Some("MessageRejected"), Some(400), false), rejected);
        assert_eq!(
            kind(Some("BadRequestException"), Some(400), false),
            rejected
        );
        assert_eq!(
            kind(Some("SendingPausedException"), Some(400), false),
            failed
        );
        assert_eq!(
            kind(Some("AccountSuspendedException"), Some(400), false),
            failed
        );
        assert_eq!(kind(None, None, false), failed);
    }
}
