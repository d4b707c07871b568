//! The local stack's inbox (`infra/local/inbox`, `make inbox`): the SNS messages its alert topic
//! delivered to the inbox queue, and the emails its SES sender sent, read from the emulator.
//!
//! Looking keeps them. Consuming deletes the SNS messages from the queue and marks the emails
//! read in a file (the emulator cannot delete sent mail), so the next look shows only new ones.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use aws_sdk_sqs::types::MessageSystemAttributeName;

use crate::aws::sdk_config;

/// What the inbox holds (SNS messages oldest first, emails in sending order).
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    pub sns: Vec<SnsMessage>,
    pub emails: Vec<Email>,
}

/// One SNS notification, as the subscribed queue received it.
#[derive(Debug, Clone)]
pub struct SnsMessage {
    pub severity: String,
    pub subject: String,
    pub text: String,
    sent_ms: u64,
}

/// One email the stack's sender sent.
#[derive(Debug, Clone)]
pub struct Email {
    pub id: String,
    pub subject: String,
    /// To, Cc and Bcc together.
    pub recipients: Vec<String>,
    /// The plain-text part; `None` when the emulator kept only the HTML body.
    pub text: Option<String>,
    /// The one body the emulator stores (the HTML part when there is one).
    pub body: String,
}

/// Where the inbox lives on the emulator at `endpoint`.
pub struct Source<'a> {
    pub endpoint: &'a str,
    /// The SQS queue subscribed to the alert topic.
    pub queue_url: &'a str,
    /// The stack's SES sender: only its mail is shown.
    pub sender: &'a str,
    /// Ids of the emails already consumed, one a line.
    pub read_file: &'a Path,
}

/// Reads the inbox; with `consume`, also removes what it read (see the module doc).
pub async fn read(source: &Source<'_>, consume: bool) -> Result<Inbox, String> {
    let sns = sns_messages(source, consume).await?;
    let emails = emails(source, consume).await?;
    Ok(Inbox { sns, emails })
}

/// Receives every message (they stay invisible meanwhile, so each is seen once), then deletes
/// them or, to keep them, makes them visible again at once.
async fn sns_messages(source: &Source<'_>, consume: bool) -> Result<Vec<SnsMessage>, String> {
    let config = sdk_config(source.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let mut messages = Vec::new();
    let mut receipts = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let batch = sqs
            .receive_message()
            .queue_url(source.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?
            .messages
            .unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        for message in batch {
            if let Some(handle) = message.receipt_handle.clone() {
                receipts.push(handle);
            }
            if !seen.insert(message.message_id.clone().unwrap_or_default()) {
                continue;
            }
            let sent_ms = message
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            messages.push(sns_message(message.body.as_deref().unwrap_or(""), sent_ms));
        }
    }
    for handle in receipts {
        let done = if consume {
            sqs.delete_message()
                .queue_url(source.queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map(drop)
                .map_err(sqs_error("DeleteMessage"))
        } else {
            sqs.change_message_visibility()
                .queue_url(source.queue_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .map(drop)
                .map_err(sqs_error("ChangeMessageVisibility"))
        };
        done?;
    }
    messages.sort_by_key(|m| m.sent_ms);
    Ok(messages)
}

fn sqs_error<E: std::error::Error>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {}", aws_sdk_sqs::error::DisplayErrorContext(e))
}

/// The SNS envelope the queue received (not raw delivery): subject, message, attributes.
fn sns_message(body: &str, sent_ms: u64) -> SnsMessage {
    let envelope: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let field = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    SnsMessage {
        severity: field(&envelope["MessageAttributes"]["severity"]["Value"])
            .unwrap_or_else(|| "?".to_owned()),
        subject: field(&envelope["Subject"]).unwrap_or_default(),
        text: field(&envelope["Message"]).unwrap_or_else(|| body.to_owned()),
        sent_ms,
    }
}

/// The sender's mail from the emulator's state, minus what was consumed before.
async fn emails(source: &Source<'_>, consume: bool) -> Result<Vec<Email>, String> {
    let url = format!("{}/moto-api/data.json", source.endpoint);
    let data: serde_json::Value = reqwest::get(&url)
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("GET {url}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let read_before = match std::fs::read_to_string(source.read_file) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
        Err(e) => return Err(format!("{}: {e}", source.read_file.display())),
    };
    let emails: Vec<Email> = data["ses"]["Message"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|m| m["source"].as_str() == Some(source.sender))
        .map(email)
        .filter(|e| !read_before.contains(&e.id))
        .collect();
    if consume && !emails.is_empty() {
        let mut ids: String = emails.iter().map(|e| format!("{}\n", e.id)).collect();
        if let Ok(existing) = std::fs::read_to_string(source.read_file) {
            ids.insert_str(0, &existing);
        }
        std::fs::write(source.read_file, ids)
            .map_err(|e| format!("{}: {e}", source.read_file.display()))?;
    }
    Ok(emails)
}

/// One `ses.Message` of the emulator's state (`text_part` is added by our moto wrapper).
fn email(m: &serde_json::Value) -> Email {
    let text = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
    let recipients = match &m["destinations"] {
        serde_json::Value::Object(kinds) => ["ToAddresses", "CcAddresses", "BccAddresses"]
            .iter()
            .filter_map(|k| kinds.get(*k).and_then(|v| v.as_array()))
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        serde_json::Value::Array(list) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    Email {
        id: text("id"),
        subject: text("subject"),
        recipients,
        text: m["text_part"].as_str().map(str::to_owned),
        body: text("body"),
    }
}

/// The inbox for people: every SNS message, then every email, then what happens to them.
pub fn render(inbox: &Inbox, sender: &str, consumed: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "SNS: {} message(s) on the alert topic",
        inbox.sns.len()
    );
    for m in &inbox.sns {
        let _ = writeln!(out, "--- [{}] {}\n{}", m.severity, m.subject, m.text);
    }
    let _ = writeln!(
        out,
        "\nEmail: {} message(s) from {sender}",
        inbox.emails.len()
    );
    for e in &inbox.emails {
        let _ = writeln!(
            out,
            "--- Subject: {}\nTo: {}",
            e.subject,
            e.recipients.join(", ")
        );
        match &e.text {
            Some(text) => {
                let _ = writeln!(out, "{text}");
            }
            None => {
                let _ = writeln!(out, "(no text part recorded; the body)\n{}", e.body);
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{}",
        if consumed {
            "(consumed: the SNS messages were deleted and the emails marked read)"
        } else {
            "(kept: shown again next time; `make inbox CONSUME=1` or `infra/local/inbox --consume` removes them)"
        }
    );
    out
}
