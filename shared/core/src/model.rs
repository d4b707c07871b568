//! The records ctguard keeps: watch entries, the inventory (authorized certificates and keys),
//! and alerts. Plain data; storage lives in [`crate::store`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::WatchDomain;
use crate::hash::Sha256Hash;
use crate::matcher::EntryMatch;

/// How the first poll of a new watch entry reports the issuances that already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackfillMode {
    /// One summary message (counts, unauthorized ones listed).
    #[default]
    Summary,
    /// One alert per certificate, as for new issuances.
    Alert,
}

/// A watched domain with its Cert Spotter cursor and poll status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEntry {
    pub domain: WatchDomain,
    pub note: Option<String>,
    pub backfill: BackfillMode,
    pub created_at: DateTime<Utc>,
    /// Id of the last Cert Spotter issuance whose alert (if any) is stored. Opaque.
    pub cursor: Option<String>,
    pub cursor_updated_at: Option<DateTime<Utc>>,
    /// Set once the first (baseline) poll has caught up with the API.
    pub baseline_completed_at: Option<DateTime<Utc>>,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub rate_limited_until: Option<DateTime<Utc>>,
    /// Polls in a row that neither caught up nor moved the cursor (errors included).
    #[serde(default)]
    pub stalled_runs: u32,
    /// Set when `stalled_runs` reached the poller's `STUCK_AFTER_RUNS`; cleared by progress.
    #[serde(default)]
    pub stuck_since: Option<DateTime<Utc>>,
    /// A canary: a domain whose certificates are expected (SSLMate logs one every day for
    /// `<day>.test.certspotter.org`). Its issuances are not alerts; silence is (see
    /// [`crate::watching`]).
    #[serde(default)]
    pub canary: bool,
    /// Canary only: when the poller last received a new issuance for it.
    #[serde(default)]
    pub canary_last_issuance_at: Option<DateTime<Utc>>,
    /// Canary only: when the last "monitor blind" health alert was sent.
    #[serde(default)]
    pub blind_alerted_at: Option<DateTime<Utc>>,
    /// Issuer policy: CAA identifiers (`letsencrypt.org`) of the CAs that may issue for this
    /// domain, matched against Cert Spotter's `issuer.caa_domains`; empty: any CA. An
    /// unauthorized certificate from another CA gets the `unexpected_issuer` reason.
    #[serde(default)]
    pub allowed_issuers: Vec<String>,
}

impl WatchEntry {
    pub fn new(
        domain: WatchDomain,
        note: Option<String>,
        backfill: BackfillMode,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            domain,
            note,
            backfill,
            created_at: now,
            cursor: None,
            cursor_updated_at: None,
            baseline_completed_at: None,
            last_polled_at: None,
            last_success_at: None,
            last_error: None,
            rate_limited_until: None,
            stalled_runs: 0,
            stuck_since: None,
            canary: false,
            canary_last_issuance_at: None,
            blind_alerted_at: None,
            allowed_issuers: Vec::new(),
        }
    }
}

/// A certificate a load balancer deployed (or an operator declared): authorizes its TBS hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryCert {
    pub tbs_sha256: Sha256Hash,
    pub pubkey_sha256: Option<Sha256Hash>,
    pub cert_sha256: Option<Sha256Hash>,
    pub dns_names: Vec<String>,
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    pub serial: Option<String>,
    pub issuer: Option<String>,
    /// Who pushed it (the push token's label, e.g. `lb:host-1`).
    pub source: String,
    /// Every caller whose push this record accepted, first pusher first (pushes are
    /// append-only: a push of a known record only adds its label here).
    #[serde(default)]
    pub sources: Vec<String>,
    pub added_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the record may be deleted (DynamoDB TTL); `None` keeps it.
    pub expires_at: Option<DateTime<Utc>>,
    /// The certificate carries embedded SCTs: a CA promised to log it, so it must appear in CT.
    #[serde(default)]
    pub has_scts: bool,
    /// When the poller first saw this certificate (its TBS hash) among a watched domain's
    /// issuances. Kept across re-pushes.
    #[serde(default)]
    pub ct_seen_at: Option<DateTime<Utc>>,
    /// When the "pushed but never logged" health alert was sent for it. Kept across re-pushes.
    #[serde(default)]
    pub not_logged_alerted_at: Option<DateTime<Utc>>,
}

impl InventoryCert {
    /// A record made from the certificate itself (`cert_sha256` known) authorizes its TBS
    /// hash: the hash fixes the names. A hash-only record authorizes only certificates whose
    /// every name lies under the names it was pushed for (so a push for `shop.example.com`
    /// cannot authorize another certificate's TBS hash); without names (an admin's
    /// declaration, or older records) it is not bound.
    pub fn bound_names(&self) -> Option<&[String]> {
        (self.cert_sha256.is_none() && !self.dns_names.is_empty()).then_some(&self.dns_names)
    }
}

/// Expiry tracking: the latest-expiring certificate deployed (pushed) for one DNS name, kept
/// by the inventory next to the certificate records ([`crate::store::InventoryStore::record_deployed`]).
/// A name whose latest certificate expires soon has no renewal pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// The name as in the certificate, lowercase, without a trailing dot (`*.` kept).
    pub name: String,
    /// The inventory certificate with the latest `not_after` for this name.
    pub tbs_sha256: Sha256Hash,
    pub not_after: DateTime<Utc>,
}

/// A public key authorized on its own: every certificate for it is authorized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizedKey {
    pub pubkey_sha256: Sha256Hash,
    /// The names the key was authorized for (from its certificate, or as pushed).
    #[serde(default)]
    pub dns_names: Vec<String>,
    pub note: Option<String>,
    pub source: String,
    /// Every caller whose push this record accepted (see [`InventoryCert::sources`]).
    #[serde(default)]
    pub sources: Vec<String>,
    pub added_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Set by `POST /keys/compromised` (admin): the key authorizes nothing any more, and any
    /// new certificate for it is `critical` (`compromised_key`). Pushes and admin upserts never
    /// clear it; only deleting the key does.
    #[serde(default)]
    pub compromised: Option<Compromise>,
}

/// Who marked a key compromised, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compromise {
    pub at: DateTime<Utc>,
    pub by: String,
    pub note: Option<String>,
}

impl AuthorizedKey {
    /// A key with names authorizes only certificates whose every name lies under them; a key
    /// without names (an admin's, or older records) authorizes every certificate for it.
    pub fn bound_names(&self) -> Option<&[String]> {
        (!self.dns_names.is_empty()).then_some(&self.dns_names)
    }
}

/// Alert severity, from the alert's reasons by the rules in [`crate::rules`]. `Pending` is an
/// unauthorized issuance still inside the grace period; `Critical` is almost certainly an
/// attack or a misissuance (ordered: `Info < Pending < Suspicious < Critical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Pending,
    Suspicious,
    Critical,
}

impl Severity {
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Pending => "pending",
            Severity::Suspicious => "suspicious",
            Severity::Critical => "critical",
        }
    }
}

/// Why an alert matters. Every code and the severity it leads to is in [`crate::rules`] (and
/// the README's reasons table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// Neither the certificate (TBS hash) nor its key is authorized by the inventory.
    NotInInventory,
    /// The domain's CAA records did not permit the issuing CA (at detection time).
    CaaViolation,
    /// The watch entry lists `allowed_issuers` and the issuing CA is not among them.
    UnexpectedIssuer,
    /// The key is authorized, but only for other names.
    KeyOutOfScope,
    /// The key was marked compromised.
    CompromisedKey,
    /// The public key is weak (short or malformed RSA, ROCA, an unusual curve).
    WeakKey,
    /// A deployed certificate is about to expire with no renewal pushed.
    Expiring,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 7] = [
        ReasonCode::NotInInventory,
        ReasonCode::CaaViolation,
        ReasonCode::UnexpectedIssuer,
        ReasonCode::KeyOutOfScope,
        ReasonCode::CompromisedKey,
        ReasonCode::WeakKey,
        ReasonCode::Expiring,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ReasonCode::NotInInventory => "not_in_inventory",
            ReasonCode::CaaViolation => "caa_violation",
            ReasonCode::UnexpectedIssuer => "unexpected_issuer",
            ReasonCode::KeyOutOfScope => "key_out_of_scope",
            ReasonCode::CompromisedKey => "compromised_key",
            ReasonCode::WeakKey => "weak_key",
            ReasonCode::Expiring => "expiring",
        }
    }
}

/// One reason on an alert: a code to filter on and a human-readable detail (at most
/// [`crate::rules::REASON_DETAIL_MAX`] bytes; it may quote CA-controlled text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub detail: String,
}

/// Which inventory hash authorized an issuance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizedBy {
    TbsSha256,
    PubkeySha256,
}

/// The issuing CA as Cert Spotter describes it (display only: a malicious CA controls it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IssuerInfo {
    pub friendly_name: Option<String>,
    pub name: Option<String>,
    pub pubkey_sha256: Option<Sha256Hash>,
    #[serde(default)]
    pub caa_domains: Vec<String>,
}

/// A delivery channel for alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sns,
    Email,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting to be sent (or to be retried).
    Queued,
    Sent,
    /// Gave up after the bounded number of attempts.
    Failed,
    /// Not sent by design (channel not configured, pending, or covered by a baseline summary).
    Skipped,
}

/// Per-channel delivery state of one alert (the outbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    /// SNS MessageId or SES MessageId once sent.
    pub message_id: Option<String>,
}

impl Delivery {
    pub fn queued() -> Self {
        Self::with_state(DeliveryState::Queued)
    }

    pub fn skipped() -> Self {
        Self::with_state(DeliveryState::Skipped)
    }

    fn with_state(state: DeliveryState) -> Self {
        Self {
            state,
            attempts: 0,
            last_attempt_at: None,
            last_error: None,
            sent_at: None,
            message_id: None,
        }
    }
}

/// A person's triage of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

/// One alert per issuance, keyed by its TBS hash (a precert and its cert are one alert; a cert
/// matching two entries is one alert listing both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub tbs_sha256: Sha256Hash,
    /// Cert Spotter issuance id (opaque).
    pub issuance_id: String,
    pub cert_sha256: Sha256Hash,
    pub pubkey_sha256: Sha256Hash,
    /// The certificate's names, in order, up to a size bound (`names_truncated` says when some
    /// are left out or cut; `names_total` counts them all). See [`crate::bounds`].
    pub dns_names: Vec<String>,
    /// Every matched entry with the names that matched it, in full up to a hard size bound
    /// (`matched_truncated` says when it was reached).
    pub matched: Vec<EntryMatch>,
    /// Names in the certificate (`None` on alerts stored before it was recorded).
    #[serde(default)]
    pub names_total: Option<u32>,
    #[serde(default)]
    pub names_truncated: bool,
    /// Names that matched a watch entry, all entries together.
    #[serde(default)]
    pub matched_names_total: Option<u32>,
    #[serde(default)]
    pub matched_truncated: bool,
    /// Set on a minimal alert stored because the full one was refused: why.
    #[serde(default)]
    pub reduced: Option<String>,
    pub issuer: IssuerInfo,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub revoked: bool,
    /// The CA's problem-reporting contact, when Cert Spotter knows it.
    pub problem_reporting: Option<String>,
    pub severity: Severity,
    /// Why it matters, at most one per code, in [`ReasonCode`] order (empty on `info`, and on
    /// alerts stored before reasons existed).
    #[serde(default)]
    pub reasons: Vec<Reason>,
    pub authorized_by: Option<AuthorizedBy>,
    /// CAA as DNS answered when the issuance was detected (unauthorized issuances only; `None`
    /// when not checked: authorized, canary, CAA checks off, or stored before they existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caa: Option<crate::caa::CaaEvidence>,
    pub first_seen_at: DateTime<Utc>,
    pub classified_at: DateTime<Utc>,
    /// For `Pending`: when the grace period ends and the alert becomes `Suspicious`.
    pub grace_until: Option<DateTime<Utc>>,
    /// Found by the first poll of a watch entry (reported in a summary, not one by one).
    pub baseline: bool,
    pub sns: Delivery,
    pub email: Delivery,
    pub ack: Option<Acknowledgement>,
    /// DynamoDB TTL.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Alert {
    pub fn delivery(&self, channel: Channel) -> &Delivery {
        match channel {
            Channel::Sns => &self.sns,
            Channel::Email => &self.email,
        }
    }
}
