//! In-memory implementation of the store traits, for fast unit tests of the poller and API
//! logic. It keeps the same contracts as the DynamoDB store (create-if-absent, cursor
//! compare-and-set, delivery leases) so logic tested here behaves the same in production; the
//! integration tests prove the DynamoDB store against the emulator.
//!
//! Fault injection without a wrapper: a test arms an operation by the trait method's name
//! ([`MemoryStore::arm`]) and every call of it fails, or never answers, until disarmed. Every
//! call is counted ([`MemoryStore::calls`]; a batched method is one call, as it is one request
//! to DynamoDB), and yields once to the executor, as a network round trip would, so that
//! concurrent runs in a test interleave.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};

use super::{
    AlertFilter, AlertStore, Authorized, CursorUpdate, DeliveryResult, InventoryStore, Page,
    PageRequest, PollStatus, PutOutcome, StoreError, WatchStore,
};
use crate::domain::WatchDomain;
use crate::hash::Sha256Hash;
use crate::model::{
    Acknowledgement, Alert, AuthorizedBy, AuthorizedKey, Channel, Delivery, DeliveryState,
    Deployed, InventoryCert, Reason, Severity, WatchEntry,
};

#[derive(Default)]
struct State {
    watches: BTreeMap<WatchDomain, WatchEntry>,
    certs: BTreeMap<Sha256Hash, InventoryCert>,
    keys: BTreeMap<Sha256Hash, AuthorizedKey>,
    alerts: BTreeMap<Sha256Hash, Alert>,
    /// Expiry tracking, by name.
    deployed: BTreeMap<String, Deployed>,
    /// (tbs, channel) → (run id, lease until)
    leases: HashMap<(Sha256Hash, Channel), (String, DateTime<Utc>)>,
}

/// All three stores in one, behind a mutex.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// Armed operations (by trait method name) and what they do.
    faults: Mutex<HashMap<&'static str, Fault>>,
    /// Calls of the trait's methods so far.
    calls: AtomicU32,
}

/// What an armed operation does ([`MemoryStore::arm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails with [`StoreError::Backend`] ("injected fault"), as an unreachable backend would.
    Fail,
    /// Never answers (a test drops the run there: a crash mid-call).
    Hang,
}

/// The operations that can be armed: the store traits' methods, by name.
pub const OPERATIONS: &[&str] = &[
    "create_watch",
    "get_watch",
    "list_watches",
    "delete_watch",
    "set_allowed_issuers",
    "advance_cursor",
    "record_poll",
    "record_canary_issuance",
    "record_blind_alert",
    "put_cert",
    "push_cert",
    "get_cert",
    "list_certs",
    "delete_cert",
    "record_deployed",
    "list_expiring",
    "get_deployed",
    "put_key",
    "push_key",
    "list_keys",
    "delete_key",
    "mark_compromised",
    "mark_ct_seen",
    "list_unlogged",
    "mark_not_logged_alerted",
    "lookup",
    "create_alert",
    "create_alerts",
    "get_alert",
    "list_alerts",
    "list_pending",
    "list_undelivered",
    "list_outbox_baseline",
    "resolve_pending",
    "claim_delivery",
    "record_delivery",
    "acknowledge",
];

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every later call of `operation` (a store trait method's name, one of [`OPERATIONS`])
    /// meets `fault` until [`Self::disarm`]. Methods the traits implement by default in terms
    /// of another (`get_alerts`, `claim_deliveries`, `record_deliveries`) meet that one's.
    ///
    /// # Panics
    /// On a name that is not an operation (a typo would otherwise arm nothing).
    pub fn arm(&self, operation: &'static str, fault: Fault) {
        assert!(
            OPERATIONS.contains(&operation),
            "{operation:?} is not a store operation"
        );
        lock(&self.faults).insert(operation, fault);
    }

    pub fn disarm(&self, operation: &'static str) {
        lock(&self.faults).remove(operation);
    }

    /// Calls of the store's operations since it was created or [`Self::reset_calls`].
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn reset_calls(&self) {
        self.calls.store(0, Ordering::SeqCst);
    }

    /// The start of every operation: counts it, yields once, then meets its armed fault.
    async fn enter(&self, operation: &'static str) -> Result<(), StoreError> {
        debug_assert!(OPERATIONS.contains(&operation), "{operation} is not listed");
        self.calls.fetch_add(1, Ordering::SeqCst);
        YieldOnce(false).await;
        let fault = lock(&self.faults).get(operation).copied();
        match fault {
            None => Ok(()),
            Some(Fault::Fail) => Err(StoreError::Backend {
                operation,
                message: "injected fault".to_owned(),
            }),
            Some(Fault::Hang) => std::future::pending().await,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock means a test already panicked; keep going with the data as it is.
        f(&mut lock(&self.state))
    }
}

/// The append-only push: insert when absent, else only record `source` among the sources.
fn append_only<T: Clone>(
    entry: std::collections::btree_map::Entry<'_, Sha256Hash, T>,
    record: &T,
    sources: impl Fn(&mut T) -> &mut Vec<String>,
    source: &str,
) -> (PutOutcome, T) {
    use std::collections::btree_map::Entry;
    let add_source = |record: &mut T| super::add_source(sources(record), source);
    match entry {
        Entry::Vacant(v) => {
            let mut created = record.clone();
            add_source(&mut created);
            (PutOutcome::Created, v.insert(created).clone())
        }
        Entry::Occupied(mut o) => {
            add_source(o.get_mut());
            (PutOutcome::Updated, o.get().clone())
        }
    }
}

/// Pages over an ordered list: the token is the index of the next item.
fn paginate<T: Clone>(items: Vec<T>, page: &PageRequest) -> Result<Page<T>, StoreError> {
    let start = match &page.token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| StoreError::InvalidPageToken)?,
    };
    if start > items.len() {
        return Err(StoreError::InvalidPageToken);
    }
    let limit = page.limit.max(1) as usize;
    let end = (start + limit).min(items.len());
    let next_token = (end < items.len()).then(|| end.to_string());
    Ok(Page {
        items: items[start..end].to_vec(),
        next_token,
    })
}

/// A lock whose data stays usable if a holder panicked (a test that already failed).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Returns `Pending` once (waking itself at once), then `Ready`: a yield to the executor
/// without depending on one.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn live(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expires_at.is_none_or(|t| t > now)
}

fn delivery_mut(alert: &mut Alert, channel: Channel) -> &mut Delivery {
    match channel {
        Channel::Sns => &mut alert.sns,
        Channel::Email => &mut alert.email,
    }
}

fn insert_if_absent<K: Ord, V: Clone>(map: &mut BTreeMap<K, V>, key: K, value: &V) -> bool {
    match map.entry(key) {
        std::collections::btree_map::Entry::Vacant(slot) => {
            slot.insert(value.clone());
            true
        }
        std::collections::btree_map::Entry::Occupied(_) => false,
    }
}

fn has_queued(alert: &Alert) -> bool {
    alert.sns.state == DeliveryState::Queued || alert.email.state == DeliveryState::Queued
}

impl WatchStore for MemoryStore {
    async fn create_watch(&self, entry: &WatchEntry) -> Result<bool, StoreError> {
        self.enter("create_watch").await?;
        Ok(self.with(|s| insert_if_absent(&mut s.watches, entry.domain.clone(), entry)))
    }

    async fn get_watch(&self, domain: &WatchDomain) -> Result<Option<WatchEntry>, StoreError> {
        self.enter("get_watch").await?;
        Ok(self.with(|s| s.watches.get(domain).cloned()))
    }

    async fn list_watches(&self) -> Result<Vec<WatchEntry>, StoreError> {
        self.enter("list_watches").await?;
        Ok(self.with(|s| s.watches.values().cloned().collect()))
    }

    async fn delete_watch(&self, domain: &WatchDomain) -> Result<bool, StoreError> {
        self.enter("delete_watch").await?;
        Ok(self.with(|s| s.watches.remove(domain).is_some()))
    }

    async fn set_allowed_issuers(
        &self,
        domain: &WatchDomain,
        allowed_issuers: &[String],
    ) -> Result<bool, StoreError> {
        self.enter("set_allowed_issuers").await?;
        Ok(self.with(|s| match s.watches.get_mut(domain) {
            Some(entry) => {
                entry.allowed_issuers = allowed_issuers.to_vec();
                true
            }
            None => false,
        }))
    }

    async fn advance_cursor(
        &self,
        domain: &WatchDomain,
        expected: Option<&str>,
        new: &str,
        now: DateTime<Utc>,
    ) -> Result<CursorUpdate, StoreError> {
        self.enter("advance_cursor").await?;
        Ok(self.with(|s| match s.watches.get_mut(domain) {
            Some(entry) if entry.cursor.as_deref() == expected => {
                entry.cursor = Some(new.to_owned());
                entry.cursor_updated_at = Some(now);
                CursorUpdate::Advanced
            }
            _ => CursorUpdate::Conflict,
        }))
    }

    async fn record_poll(
        &self,
        domain: &WatchDomain,
        status: &PollStatus,
    ) -> Result<(), StoreError> {
        self.enter("record_poll").await?;
        self.with(|s| {
            if let Some(entry) = s.watches.get_mut(domain) {
                entry.last_polled_at = Some(status.polled_at);
                if status.success {
                    entry.last_success_at = Some(status.polled_at);
                }
                entry.last_error = status.error.clone();
                entry.rate_limited_until = status.rate_limited_until;
                entry.stalled_runs = status.stalled_runs;
                entry.stuck_since = status.stuck_since;
                if status.baseline_completed_at.is_some() {
                    entry.baseline_completed_at = status.baseline_completed_at;
                }
            }
        });
        Ok(())
    }

    async fn record_canary_issuance(
        &self,
        domain: &WatchDomain,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.enter("record_canary_issuance").await?;
        self.with(|s| {
            if let Some(entry) = s.watches.get_mut(domain) {
                entry.canary_last_issuance_at = Some(at);
            }
        });
        Ok(())
    }

    async fn record_blind_alert(
        &self,
        domain: &WatchDomain,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.enter("record_blind_alert").await?;
        self.with(|s| {
            if let Some(entry) = s.watches.get_mut(domain) {
                entry.blind_alerted_at = Some(at);
            }
        });
        Ok(())
    }
}

impl InventoryStore for MemoryStore {
    async fn put_cert(
        &self,
        cert: &InventoryCert,
    ) -> Result<(PutOutcome, InventoryCert), StoreError> {
        self.enter("put_cert").await?;
        Ok(self.with(|s| {
            let mut stored = cert.clone();
            let outcome = match s.certs.get(&cert.tbs_sha256) {
                Some(existing) => {
                    stored.added_at = existing.added_at;
                    // What the poller recorded survives a re-push.
                    stored.ct_seen_at = existing.ct_seen_at.or(stored.ct_seen_at);
                    stored.not_logged_alerted_at = existing
                        .not_logged_alerted_at
                        .or(stored.not_logged_alerted_at);
                    PutOutcome::Updated
                }
                None => PutOutcome::Created,
            };
            s.certs.insert(cert.tbs_sha256, stored.clone());
            (outcome, stored)
        }))
    }

    async fn push_cert(
        &self,
        cert: &InventoryCert,
    ) -> Result<(PutOutcome, InventoryCert), StoreError> {
        self.enter("push_cert").await?;
        Ok(self.with(|s| {
            append_only(
                s.certs.entry(cert.tbs_sha256),
                cert,
                |c| &mut c.sources,
                &cert.source,
            )
        }))
    }

    async fn get_cert(&self, tbs: &Sha256Hash) -> Result<Option<InventoryCert>, StoreError> {
        self.enter("get_cert").await?;
        Ok(self.with(|s| s.certs.get(tbs).cloned()))
    }

    async fn list_certs(
        &self,
        name: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<InventoryCert>, StoreError> {
        self.enter("list_certs").await?;
        let items = self.with(|s| {
            s.certs
                .values()
                .filter(|c| name.is_none_or(|n| c.dns_names.iter().any(|d| d == n)))
                .cloned()
                .collect()
        });
        paginate(items, page)
    }

    async fn delete_cert(&self, tbs: &Sha256Hash) -> Result<bool, StoreError> {
        self.enter("delete_cert").await?;
        Ok(self.with(|s| {
            let Some(cert) = s.certs.remove(tbs) else {
                return false;
            };
            for name in crate::rules::deployed_names(&cert.dns_names) {
                if s.deployed.get(&name).is_some_and(|d| d.tbs_sha256 == *tbs) {
                    s.deployed.remove(&name);
                }
            }
            true
        }))
    }

    async fn record_deployed(&self, cert: &InventoryCert) -> Result<Vec<Sha256Hash>, StoreError> {
        self.enter("record_deployed").await?;
        let Some(not_after) = cert.not_after else {
            return Ok(Vec::new());
        };
        Ok(self.with(|s| {
            let mut replaced = Vec::new();
            for name in crate::rules::deployed_names(&cert.dns_names) {
                let old = s.deployed.get(&name);
                let newer =
                    old.is_none_or(|d| d.tbs_sha256 == cert.tbs_sha256 || d.not_after < not_after);
                if !newer {
                    continue;
                }
                if let Some(old) = old.filter(|d| d.tbs_sha256 != cert.tbs_sha256)
                    && !replaced.contains(&old.tbs_sha256)
                {
                    replaced.push(old.tbs_sha256);
                }
                s.deployed.insert(
                    name.clone(),
                    Deployed {
                        name,
                        tbs_sha256: cert.tbs_sha256,
                        not_after,
                    },
                );
            }
            replaced
        }))
    }

    async fn list_expiring(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Deployed>, StoreError> {
        self.enter("list_expiring").await?;
        Ok(self.with(|s| {
            let mut found: Vec<Deployed> = s
                .deployed
                .values()
                .filter(|d| (from..=until).contains(&d.not_after))
                .cloned()
                .collect();
            found.sort_by(|a, b| (a.not_after, &a.name).cmp(&(b.not_after, &b.name)));
            found.truncate(limit as usize);
            found
        }))
    }

    async fn get_deployed(&self, names: &[String]) -> Result<Vec<Deployed>, StoreError> {
        self.enter("get_deployed").await?;
        Ok(self.with(|s| {
            let mut seen = std::collections::HashSet::new();
            names
                .iter()
                .filter(|n| seen.insert(*n))
                .filter_map(|n| s.deployed.get(n).cloned())
                .collect()
        }))
    }

    async fn put_key(
        &self,
        key: &AuthorizedKey,
    ) -> Result<(PutOutcome, AuthorizedKey), StoreError> {
        self.enter("put_key").await?;
        Ok(self.with(|s| {
            let mut stored = key.clone();
            let outcome = match s.keys.get(&key.pubkey_sha256) {
                Some(existing) => {
                    stored.added_at = existing.added_at;
                    stored.compromised = existing.compromised.clone();
                    PutOutcome::Updated
                }
                None => PutOutcome::Created,
            };
            s.keys.insert(key.pubkey_sha256, stored.clone());
            (outcome, stored)
        }))
    }

    async fn push_key(
        &self,
        key: &AuthorizedKey,
    ) -> Result<(PutOutcome, AuthorizedKey), StoreError> {
        self.enter("push_key").await?;
        Ok(self.with(|s| {
            append_only(
                s.keys.entry(key.pubkey_sha256),
                key,
                |k| &mut k.sources,
                &key.source,
            )
        }))
    }

    async fn list_keys(&self, page: &PageRequest) -> Result<Page<AuthorizedKey>, StoreError> {
        self.enter("list_keys").await?;
        let items = self.with(|s| s.keys.values().cloned().collect());
        paginate(items, page)
    }

    async fn delete_key(&self, pubkey: &Sha256Hash) -> Result<bool, StoreError> {
        self.enter("delete_key").await?;
        Ok(self.with(|s| s.keys.remove(pubkey).is_some()))
    }

    async fn mark_compromised(
        &self,
        key: &AuthorizedKey,
    ) -> Result<(PutOutcome, AuthorizedKey), StoreError> {
        self.enter("mark_compromised").await?;
        Ok(self.with(|s| match s.keys.get_mut(&key.pubkey_sha256) {
            Some(stored) => {
                stored.compromised.clone_from(&key.compromised);
                stored.expires_at = None;
                (PutOutcome::Updated, stored.clone())
            }
            None => {
                s.keys.insert(key.pubkey_sha256, key.clone());
                (PutOutcome::Created, key.clone())
            }
        }))
    }

    async fn mark_ct_seen(&self, tbs: &Sha256Hash, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.enter("mark_ct_seen").await?;
        self.with(|s| {
            if let Some(cert) = s.certs.get_mut(tbs) {
                cert.ct_seen_at.get_or_insert(at);
            }
        });
        Ok(())
    }

    async fn list_unlogged(
        &self,
        added_from: DateTime<Utc>,
        added_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<InventoryCert>, StoreError> {
        self.enter("list_unlogged").await?;
        Ok(self.with(|s| {
            let mut certs: Vec<InventoryCert> = s
                .certs
                .values()
                .filter(|c| {
                    c.has_scts
                        && c.ct_seen_at.is_none()
                        && c.not_logged_alerted_at.is_none()
                        && (added_from..=added_until).contains(&c.added_at)
                })
                .cloned()
                .collect();
            certs.sort_by_key(|c| c.added_at);
            certs.truncate(limit as usize);
            certs
        }))
    }

    async fn mark_not_logged_alerted(
        &self,
        tbs: &Sha256Hash,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.enter("mark_not_logged_alerted").await?;
        self.with(|s| {
            if let Some(cert) = s.certs.get_mut(tbs) {
                cert.not_logged_alerted_at = Some(at);
            }
        });
        Ok(())
    }

    async fn lookup(
        &self,
        tbs: &[Sha256Hash],
        pubkeys: &[Sha256Hash],
        now: DateTime<Utc>,
    ) -> Result<Authorized, StoreError> {
        self.enter("lookup").await?;
        Ok(self.with(|s| {
            let mut found = Authorized::default();
            for h in tbs {
                if let Some(c) = s.certs.get(h).filter(|c| live(c.expires_at, now)) {
                    found.tbs.insert(*h);
                    if let Some(names) = c.bound_names() {
                        found.bound_tbs.insert(*h, names.to_vec());
                    }
                }
            }
            for h in pubkeys {
                if let Some(mark) = s.keys.get(h).and_then(|k| k.compromised.as_ref()) {
                    found.compromised.insert(*h, mark.clone());
                    continue;
                }
                if let Some(k) = s.keys.get(h).filter(|k| live(k.expires_at, now)) {
                    found.pubkeys.insert(*h);
                    if let Some(names) = k.bound_names() {
                        found.bound_keys.insert(*h, names.to_vec());
                    }
                }
            }
            found
        }))
    }
}

impl AlertStore for MemoryStore {
    async fn create_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        self.enter("create_alert").await?;
        Ok(self.with(|s| insert_if_absent(&mut s.alerts, alert.tbs_sha256, alert)))
    }

    /// One call for the whole page, as the DynamoDB store batches it.
    async fn create_alerts(&self, alerts: &[Alert]) -> Result<Vec<bool>, StoreError> {
        self.enter("create_alerts").await?;
        Ok(self.with(|s| {
            alerts
                .iter()
                .map(|a| insert_if_absent(&mut s.alerts, a.tbs_sha256, a))
                .collect()
        }))
    }

    async fn get_alert(&self, tbs: &Sha256Hash) -> Result<Option<Alert>, StoreError> {
        self.enter("get_alert").await?;
        Ok(self.with(|s| s.alerts.get(tbs).cloned()))
    }

    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>, StoreError> {
        self.enter("list_alerts").await?;
        let items = self.newest_first(|a| {
            filter.since.is_none_or(|t| a.first_seen_at >= t)
                && filter.severity.is_none_or(|sev| a.severity == sev)
                && filter
                    .domain
                    .as_ref()
                    .is_none_or(|d| a.matched.iter().any(|m| &m.entry == d))
        });
        paginate(items, page)
    }

    async fn list_pending(&self, limit: u32) -> Result<Vec<Alert>, StoreError> {
        self.enter("list_pending").await?;
        Ok(self.oldest_first(limit, |a| a.severity == Severity::Pending))
    }

    async fn list_undelivered(&self, limit: u32) -> Result<Vec<Alert>, StoreError> {
        self.enter("list_undelivered").await?;
        Ok(self.oldest_first(limit, has_queued))
    }

    async fn list_outbox_baseline(
        &self,
        entry: &WatchDomain,
        limit: u32,
    ) -> Result<Vec<Alert>, StoreError> {
        self.enter("list_outbox_baseline").await?;
        let mut alerts = self.newest_first(|a| {
            a.baseline && has_queued(a) && a.matched.iter().any(|m| &m.entry == entry)
        });
        alerts.truncate(limit as usize);
        Ok(alerts)
    }

    async fn resolve_pending(
        &self,
        tbs: &Sha256Hash,
        severity: Severity,
        authorized_by: Option<AuthorizedBy>,
        reasons: &[Reason],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.enter("resolve_pending").await?;
        Ok(self.with(|s| match s.alerts.get_mut(tbs) {
            Some(alert) if alert.severity == Severity::Pending => {
                alert.severity = severity;
                alert.authorized_by = authorized_by;
                alert.reasons = reasons.to_vec();
                alert.classified_at = now;
                for channel in [Channel::Sns, Channel::Email] {
                    let d = delivery_mut(alert, channel);
                    if d.state != DeliveryState::Skipped {
                        d.state = DeliveryState::Queued;
                    }
                }
                true
            }
            _ => false,
        }))
    }

    async fn claim_delivery(
        &self,
        tbs: &Sha256Hash,
        channel: Channel,
        run_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.enter("claim_delivery").await?;
        Ok(self.with(|s| {
            let queued = s
                .alerts
                .get(tbs)
                .is_some_and(|a| a.delivery(channel).state == DeliveryState::Queued);
            let free = s
                .leases
                .get(&(*tbs, channel))
                .is_none_or(|(_, until)| *until <= now);
            if queued && free {
                s.leases
                    .insert((*tbs, channel), (run_id.to_owned(), lease_until));
                true
            } else {
                false
            }
        }))
    }

    async fn record_delivery(
        &self,
        tbs: &Sha256Hash,
        channel: Channel,
        run_id: &str,
        result: &DeliveryResult,
    ) -> Result<(), StoreError> {
        self.enter("record_delivery").await?;
        self.with(|s| {
            let holds_lease = s
                .leases
                .get(&(*tbs, channel))
                .is_some_and(|(owner, _)| owner == run_id);
            if !holds_lease {
                return;
            }
            s.leases.remove(&(*tbs, channel));
            let Some(alert) = s.alerts.get_mut(tbs) else {
                return;
            };
            let d = delivery_mut(alert, channel);
            match result {
                DeliveryResult::Sent { message_id, at } => {
                    d.attempts += 1;
                    d.state = DeliveryState::Sent;
                    d.sent_at = Some(*at);
                    d.last_attempt_at = Some(*at);
                    d.message_id = message_id.clone();
                    d.last_error = None;
                }
                DeliveryResult::Skipped { reason, at } => {
                    d.state = DeliveryState::Skipped;
                    d.last_attempt_at = Some(*at);
                    d.last_error = Some(reason.clone());
                }
                DeliveryResult::Failed { error, at, give_up } => {
                    d.attempts += 1;
                    d.last_attempt_at = Some(*at);
                    d.last_error = Some(error.clone());
                    if *give_up {
                        d.state = DeliveryState::Failed;
                    }
                }
                DeliveryResult::Deferred { error, at } => {
                    d.last_attempt_at = Some(*at);
                    d.last_error = Some(error.clone());
                }
            }
        });
        Ok(())
    }

    async fn acknowledge(
        &self,
        tbs: &Sha256Hash,
        ack: &Acknowledgement,
    ) -> Result<Option<Alert>, StoreError> {
        self.enter("acknowledge").await?;
        Ok(self.with(|s| {
            s.alerts.get_mut(tbs).map(|a| {
                a.ack = Some(ack.clone());
                a.clone()
            })
        }))
    }
}

impl MemoryStore {
    fn oldest_first(&self, limit: u32, keep: impl Fn(&Alert) -> bool) -> Vec<Alert> {
        let mut items: Vec<Alert> =
            self.with(|s| s.alerts.values().filter(|a| keep(a)).cloned().collect());
        items.sort_by(|a, b| {
            a.first_seen_at
                .cmp(&b.first_seen_at)
                .then(a.tbs_sha256.cmp(&b.tbs_sha256))
        });
        items.truncate(limit as usize);
        items
    }

    /// The alerts `keep` accepts, newest first (ties by TBS hash, descending): the order of the
    /// DynamoDB store's time-sorted indexes read backwards.
    fn newest_first(&self, keep: impl Fn(&Alert) -> bool) -> Vec<Alert> {
        let mut items: Vec<Alert> =
            self.with(|s| s.alerts.values().filter(|a| keep(a)).cloned().collect());
        items.sort_by(|a, b| {
            b.first_seen_at
                .cmp(&a.first_seen_at)
                .then(b.tbs_sha256.cmp(&a.tbs_sha256))
        });
        items
    }
}
