//! Storage contracts for ctguard's records. The poller and the API are generic over these
//! traits; the `ctguard` crate's `store::dynamo` implements them on DynamoDB (production, and
//! tests against the emulator), [`memory`] in memory (fast unit tests only).
//!
//! Contracts every implementation keeps (tests in `tests/` check both):
//! - `AlertStore::create` is create-if-absent by TBS hash: a second create of the same hash
//!   changes nothing and returns `false`.
//! - `WatchStore::advance_cursor` is compare-and-set on the cursor the caller read: a concurrent
//!   or stale run gets `CursorUpdate::Conflict` and must stop working on that entry. A cursor
//!   therefore never moves backwards and never skips a page another run is processing.
//! - `AlertStore::claim_delivery` hands one channel of one alert to exactly one run at a time
//!   (a lease), so overlapping runs never send the same notification twice;
//!   `claim_deliveries` does the same for many alerts at once, answering per alert.
//! - `InventoryStore::push_cert` / `push_key` are append-only: they create a record that does
//!   not exist, and otherwise only add the pusher's label to its `sources`; no other attribute
//!   of a stored record ever changes through them (only `put_*` and `delete_*`, admin, do).
//! - `InventoryStore::lookup` answers for a whole page of hashes in O(1) requests per page.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use chrono::{DateTime, Utc};

use crate::domain::WatchDomain;
use crate::hash::Sha256Hash;
use crate::model::{
    Acknowledgement, Alert, AuthorizedBy, AuthorizedKey, Channel, Compromise, Deployed,
    InventoryCert, Reason, Severity, WatchEntry,
};

pub mod memory;
pub mod page_token;

/// A storage failure, with enough context to log and to decide whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed or was unreachable; the operation may or may not have happened.
    #[error("{operation} failed: {message}")]
    Backend {
        operation: &'static str,
        message: String,
    },
    /// DynamoDB refuses the item itself (over the 400 KB item limit, or invalid): retrying
    /// cannot help, the caller must write something else.
    #[error("{operation} refused: {message}")]
    Rejected {
        operation: &'static str,
        message: String,
    },
    /// A stored item could not be decoded into its record type.
    #[error("stored {entity} {key} is corrupt: {message}")]
    Corrupt {
        entity: &'static str,
        key: String,
        message: String,
    },
    /// A pagination token from a client was not one we issued.
    #[error("invalid pagination cursor")]
    InvalidPageToken,
}

/// Adds `source` to a record's `sources` unless it is there (pushes are attributed once each).
pub fn add_source(sources: &mut Vec<String>, source: &str) {
    if !sources.iter().any(|s| s == source) {
        sources.push(source.to_owned());
    }
}

/// Whether a write created a record or replaced an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Updated,
}

/// Result of a compare-and-set on a watch entry's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorUpdate {
    Advanced,
    /// The stored cursor was not the expected one (another run moved it), or the entry is gone.
    Conflict,
}

/// A page request: at most `limit` items, continuing after `token` (opaque, from a previous page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub token: Option<String>,
}

/// One page of records and the token for the next page (`None` when this is the last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// Poll bookkeeping written after each entry is polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollStatus {
    pub polled_at: DateTime<Utc>,
    /// Caught up with the API with no error.
    pub success: bool,
    pub error: Option<String>,
    pub rate_limited_until: Option<DateTime<Utc>>,
    /// Set when this poll completed the baseline.
    pub baseline_completed_at: Option<DateTime<Utc>>,
    /// Polls in a row without progress, this one included (0 after progress).
    pub stalled_runs: u32,
    /// When the entry became stuck (kept from the stored entry while it stays stuck).
    pub stuck_since: Option<DateTime<Utc>>,
}

/// The subset of a batch of hashes that the inventory authorizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorized {
    pub tbs: HashSet<Sha256Hash>,
    pub pubkeys: HashSet<Sha256Hash>,
    /// Found certificate records bound to names ([`InventoryCert::bound_names`]) and ...
    pub bound_tbs: HashMap<Sha256Hash, Vec<String>>,
    /// ... found keys bound to names ([`AuthorizedKey::bound_names`]): each authorizes only
    /// issuances whose every DNS name lies under these names.
    pub bound_keys: HashMap<Sha256Hash, Vec<String>>,
    /// Found keys marked compromised (whatever their expiry): they authorize nothing.
    pub compromised: HashMap<Sha256Hash, Compromise>,
}

impl Authorized {
    /// TBS first: it names this exact certificate; a key authorizes every certificate for it
    /// (within the record's names, when it is bound to names).
    pub fn authorizes(
        &self,
        tbs: &Sha256Hash,
        pubkey: &Sha256Hash,
        dns_names: &[String],
    ) -> Option<AuthorizedBy> {
        let within = |bound: &HashMap<Sha256Hash, Vec<String>>, hash: &Sha256Hash| {
            bound
                .get(hash)
                .is_none_or(|names| crate::scope::names_cover(names, dns_names))
        };
        if self.tbs.contains(tbs) && within(&self.bound_tbs, tbs) {
            Some(AuthorizedBy::TbsSha256)
        } else if self.pubkeys.contains(pubkey)
            && !self.compromised.contains_key(pubkey)
            && within(&self.bound_keys, pubkey)
        {
            Some(AuthorizedBy::PubkeySha256)
        } else {
            None
        }
    }
}

/// Filters for listing alerts; all optional, combined with AND. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub since: Option<DateTime<Utc>>,
    pub severity: Option<Severity>,
    /// Alerts that matched this watch entry.
    pub domain: Option<WatchDomain>,
}

/// The outcome of one delivery attempt, recorded on the alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    Sent {
        message_id: Option<String>,
        at: DateTime<Utc>,
    },
    /// Failed this time; `give_up` marks the channel `Failed` instead of leaving it queued.
    Failed {
        error: String,
        at: DateTime<Utc>,
        give_up: bool,
    },
    /// Not sent because the service throttled the channel: the lease is released and the
    /// channel stays queued without spending an attempt; `error` is kept in `last_error`.
    Deferred { error: String, at: DateTime<Utc> },
    /// Not sent by design (e.g. the channel is no longer configured, or email excludes info
    /// alerts): marks the channel `Skipped` so it leaves the outbox. Not an attempt; `reason`
    /// is kept in `last_error` so an operator can see why.
    Skipped { reason: String, at: DateTime<Utc> },
}

/// One entry of [`AlertStore::record_deliveries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub tbs: Sha256Hash,
    pub result: DeliveryResult,
    /// Whether the alert's other channel was still queued when the caller last looked: a
    /// hint for the outbox attribute (a wrong hint costs a retry, never a wrong state).
    pub other_queued: bool,
}

/// The whole store a function works with: the three tables' contracts in one backend.
pub trait Store: WatchStore + InventoryStore + AlertStore + 'static {}
impl<S: WatchStore + InventoryStore + AlertStore + 'static> Store for S {}

pub trait WatchStore: Send + Sync {
    /// Creates the entry unless one exists for the domain; returns whether it was created.
    fn create_watch(
        &self,
        entry: &WatchEntry,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn get_watch(
        &self,
        domain: &WatchDomain,
    ) -> impl Future<Output = Result<Option<WatchEntry>, StoreError>> + Send;
    /// Every entry (the poller orders them itself).
    fn list_watches(&self) -> impl Future<Output = Result<Vec<WatchEntry>, StoreError>> + Send;
    /// Replaces the entry's issuer policy (`allowed_issuers`, normalised by the caller);
    /// returns whether the entry exists.
    fn set_allowed_issuers(
        &self,
        domain: &WatchDomain,
        allowed_issuers: &[String],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Returns whether an entry was deleted.
    fn delete_watch(
        &self,
        domain: &WatchDomain,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Compare-and-set: moves the cursor from `expected` (what the caller read) to `new`.
    fn advance_cursor(
        &self,
        domain: &WatchDomain,
        expected: Option<&str>,
        new: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CursorUpdate, StoreError>> + Send;
    /// Records poll bookkeeping; never touches the cursor. No-op if the entry is gone.
    fn record_poll(
        &self,
        domain: &WatchDomain,
        status: &PollStatus,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Canary: records that a new issuance arrived at `at`. No-op if the entry is gone.
    fn record_canary_issuance(
        &self,
        domain: &WatchDomain,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Canary: records that the "monitor blind" health alert was sent at `at`.
    fn record_blind_alert(
        &self,
        domain: &WatchDomain,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

pub trait InventoryStore: Send + Sync {
    /// Upsert by TBS hash (admin): replaces the stored record, keeping its `added_at`.
    fn put_cert(
        &self,
        cert: &InventoryCert,
    ) -> impl Future<Output = Result<(PutOutcome, InventoryCert), StoreError>> + Send;
    /// Append-only write (push callers): creates the record if absent; otherwise adds
    /// `cert.source` to the stored record's `sources` (once) and changes nothing else.
    /// Returns the record as stored.
    fn push_cert(
        &self,
        cert: &InventoryCert,
    ) -> impl Future<Output = Result<(PutOutcome, InventoryCert), StoreError>> + Send;
    fn get_cert(
        &self,
        tbs: &Sha256Hash,
    ) -> impl Future<Output = Result<Option<InventoryCert>, StoreError>> + Send;
    /// Certificates, optionally only those with `name` among their DNS names (exact, lowercase).
    fn list_certs(
        &self,
        name: Option<&str>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<InventoryCert>, StoreError>> + Send;
    /// Deletes the record and what it contributed to expiry tracking (the names whose
    /// latest deployed certificate it is stop being tracked until the next push for them).
    fn delete_cert(
        &self,
        tbs: &Sha256Hash,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Expiry tracking: records `cert` as the latest deployed certificate of each of its names
    /// ([`crate::rules::deployed_names`]) unless a certificate expiring later is recorded for
    /// the name (the same certificate replaces its own record). No-op without `not_after`.
    /// Returns the other certificates it replaced for some name (distinct, in name order):
    /// the caller resolves their `expiring` alerts once they are renewed.
    fn record_deployed(
        &self,
        cert: &InventoryCert,
    ) -> impl Future<Output = Result<Vec<Sha256Hash>, StoreError>> + Send;
    /// The names whose latest deployed certificate expires in `[from, until]`, soonest first,
    /// at most `limit` (one bounded index query).
    fn list_expiring(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Deployed>, StoreError>> + Send;
    /// The expiry-tracking records of these names (normalised by the caller), those that
    /// exist, in a bounded number of batched reads.
    fn get_deployed(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<Deployed>, StoreError>> + Send;
    /// Upsert by public-key hash (admin): replaces the stored record, keeping its `added_at`.
    fn put_key(
        &self,
        key: &AuthorizedKey,
    ) -> impl Future<Output = Result<(PutOutcome, AuthorizedKey), StoreError>> + Send;
    /// Append-only write (push callers), as [`InventoryStore::push_cert`].
    fn push_key(
        &self,
        key: &AuthorizedKey,
    ) -> impl Future<Output = Result<(PutOutcome, AuthorizedKey), StoreError>> + Send;
    fn list_keys(
        &self,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<AuthorizedKey>, StoreError>> + Send;
    fn delete_key(
        &self,
        pubkey: &Sha256Hash,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Marks a key compromised (admin): creates `key` (its `compromised` set) if absent,
    /// otherwise sets only `compromised` on the stored record (a later mark replaces an
    /// earlier one) and drops its expiry, so the mark outlives the authorization. Returns
    /// the record as stored. No push or admin upsert clears the mark.
    fn mark_compromised(
        &self,
        key: &AuthorizedKey,
    ) -> impl Future<Output = Result<(PutOutcome, AuthorizedKey), StoreError>> + Send;
    /// Records that the certificate with this TBS hash was seen in CT (first time wins).
    /// No-op if it is not in the inventory.
    fn mark_ct_seen(
        &self,
        tbs: &Sha256Hash,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Pushed certificates with embedded SCTs, added in `[added_from, added_until]`, not yet
    /// seen in CT nor reported as unlogged; at most `limit`, oldest first.
    fn list_unlogged(
        &self,
        added_from: DateTime<Utc>,
        added_until: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<InventoryCert>, StoreError>> + Send;
    /// Records that the "pushed but never logged" health alert was sent at `at`.
    fn mark_not_logged_alerted(
        &self,
        tbs: &Sha256Hash,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Which of these hashes are authorized, in a bounded number of batched requests.
    /// Records whose `expires_at` has passed (TTL not yet applied) do not authorize. Keys
    /// marked compromised are reported in `compromised` (expired or not) and never in
    /// `pubkeys`.
    fn lookup(
        &self,
        tbs: &[Sha256Hash],
        pubkeys: &[Sha256Hash],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Authorized, StoreError>> + Send;
}

pub trait AlertStore: Send + Sync {
    /// Create-if-absent by TBS hash; returns whether this call created it.
    fn create_alert(&self, alert: &Alert) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// `create_alert` for a whole page of alerts (distinct TBS hashes), answering per alert in
    /// input order. Implementations batch it so a page costs O(1) requests; the default calls
    /// `create_alert` once per alert. On `Err` some alerts may have been created: callers retry
    /// the page, and create-if-absent makes that safe.
    fn create_alerts(
        &self,
        alerts: &[Alert],
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send {
        async move {
            let mut created = Vec::with_capacity(alerts.len());
            for alert in alerts {
                created.push(self.create_alert(alert).await?);
            }
            Ok(created)
        }
    }
    fn get_alert(
        &self,
        tbs: &Sha256Hash,
    ) -> impl Future<Output = Result<Option<Alert>, StoreError>> + Send;
    /// The alerts among `tbs` that exist, read consistently from the table, never through an
    /// index (indexes lag behind writes), in input order (a repeated hash is returned once).
    /// Implementations batch it; the default calls `get_alert` once per hash.
    fn get_alerts(
        &self,
        tbs: &[Sha256Hash],
    ) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send {
        async move {
            let mut seen = HashSet::with_capacity(tbs.len());
            let mut found = Vec::with_capacity(tbs.len());
            for hash in tbs.iter().filter(|h| seen.insert(*h)) {
                found.extend(self.get_alert(hash).await?);
            }
            Ok(found)
        }
    }
    fn list_alerts(
        &self,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<Page<Alert>, StoreError>> + Send;
    /// Alerts still `Pending` (grace re-check), oldest first, at most `limit`.
    fn list_pending(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send;
    /// Alerts with a `Queued` channel (the outbox), oldest first, at most `limit`.
    fn list_undelivered(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send;
    /// The baseline alerts in the outbox that matched `entry`: alerts with `baseline` set, a
    /// `Queued` channel and `entry` among its matched entries, newest first, at most `limit`
    /// (the implementation pages to reach it). Read from the outbox (DynamoDB: the sparse
    /// `outbox` index, filtered), never from the whole alert history, so its cost follows what
    /// is still to be delivered; like every index read it may lag behind writes (callers merge
    /// in the alerts they just wrote, read with [`AlertStore::get_alerts`]).
    fn list_outbox_baseline(
        &self,
        entry: &WatchDomain,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send;
    /// Moves a `Pending` alert to `severity` with its re-checked `reasons` and queues its
    /// deliveries;
    /// `false` if it was no longer pending (another run got there first).
    fn resolve_pending(
        &self,
        tbs: &Sha256Hash,
        severity: Severity,
        authorized_by: Option<AuthorizedBy>,
        reasons: &[Reason],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Leases a `Queued` channel to `run_id` until `lease_until`; `false` if not queued or
    /// leased by another run whose lease has not expired.
    fn claim_delivery(
        &self,
        tbs: &Sha256Hash,
        channel: Channel,
        run_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records an attempt by the run holding the lease and releases the lease.
    fn record_delivery(
        &self,
        tbs: &Sha256Hash,
        channel: Channel,
        run_id: &str,
        result: &DeliveryResult,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `claim_delivery` of one channel for many alerts (distinct hashes), answering per alert
    /// in input order. Implementations batch it (DynamoDB: transactions of up to 100
    /// conditional updates); each alert is still claimed only if queued and not leased.
    fn claim_deliveries(
        &self,
        tbs: &[Sha256Hash],
        channel: Channel,
        run_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send {
        async move {
            let mut claimed = Vec::with_capacity(tbs.len());
            for hash in tbs {
                claimed.push(
                    self.claim_delivery(hash, channel, run_id, now, lease_until)
                        .await?,
                );
            }
            Ok(claimed)
        }
    }
    /// `record_delivery` of one channel for many alerts (distinct hashes). On `Err` some may
    /// be recorded: the others' leases expire and a later run retries them (at least once).
    fn record_deliveries(
        &self,
        channel: Channel,
        run_id: &str,
        records: &[DeliveryRecord],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        async move {
            for record in records {
                self.record_delivery(&record.tbs, channel, run_id, &record.result)
                    .await?;
            }
            Ok(())
        }
    }
    /// Records a person's triage; returns the updated alert, `None` if unknown.
    fn acknowledge(
        &self,
        tbs: &Sha256Hash,
        ack: &Acknowledgement,
    ) -> impl Future<Output = Result<Option<Alert>, StoreError>> + Send;
}
