//! `GET /status`: is monitoring working? Per-entry freshness, the alert backlog, and failed
//! deliveries. Every count is bounded so the call stays cheap whatever the backlog.

use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use http::StatusCode;
use serde::Serialize;

use ctguard::domain::WatchDomain;
use ctguard::hash::Sha256Hash;
use ctguard::model::{Alert, Channel, DeliveryState, WatchEntry};
use ctguard::store::{AlertFilter, AlertStore, InventoryStore, PageRequest, WatchStore};
use ctguard::watching::{self, Coverage};

use super::Ctx;
use super::domains::DomainView;
use crate::error::ApiResult;
use crate::response::json;

/// Counts stop here (`capped: true` says there are at least this many).
pub const STATUS_COUNT_CAP: u32 = 1000;
/// Failed deliveries are counted among alerts first seen this recently.
pub const FAILED_DELIVERY_WINDOW_DAYS: i64 = 7;

#[derive(Debug, Serialize)]
struct Count {
    count: u32,
    capped: bool,
}

impl Count {
    fn of(count: usize) -> Self {
        Self {
            count: count.min(STATUS_COUNT_CAP as usize) as u32,
            capped: count >= STATUS_COUNT_CAP as usize,
        }
    }
}

#[derive(Debug, Serialize)]
struct Deliveries {
    /// Channels waiting to be sent or retried.
    queued: Count,
    /// Channels that gave up, among alerts of the last `failed_window_days`.
    failed: Count,
    failed_window_days: i64,
}

#[derive(Debug, Serialize)]
struct StatusView {
    /// Every entry's latest poll caught up without error (`false` if any entry was never polled).
    last_poll_succeeded: bool,
    /// Entries the poller reports stuck (no progress for several runs in a row).
    stuck_entries: Vec<ctguard::domain::WatchDomain>,
    entries: Vec<DomainView>,
    pending_alerts: Count,
    deliveries: Deliveries,
    /// Labels (never secrets) of push credentials without a name scope: each may vouch for
    /// any name. Scope them (`names` in the token list).
    unscoped_push_tokens: Vec<String>,
    /// Authorized keys without names (an admin's): each authorizes any certificate for its
    /// key, whatever the names. Give them `dns_names` (`POST /keys` as admin replaces).
    unscoped_keys: UnscopedKeys,
    /// The non-canary entry that caught up longest ago (`null` without such entries).
    coverage: Option<Coverage>,
    canaries: Vec<CanaryView>,
}

/// A canary entry: how long since its last issuance (see [`ctguard::watching`]).
#[derive(Debug, Serialize)]
struct CanaryView {
    value: WatchDomain,
    last_issuance_at: Option<DateTime<Utc>>,
    silent_seconds: i64,
}

impl CanaryView {
    fn new(entry: &WatchEntry, now: DateTime<Utc>) -> Self {
        Self {
            value: entry.domain.clone(),
            last_issuance_at: entry.canary_last_issuance_at,
            silent_seconds: (now - watching::canary_silent_since(entry))
                .num_seconds()
                .max(0),
        }
    }
}

/// Listed unscoped keys, at most (the count goes on to [`STATUS_COUNT_CAP`] keys read).
pub const UNSCOPED_KEYS_LISTED: usize = 20;

#[derive(Debug, Serialize)]
struct UnscopedKeys {
    count: u32,
    /// More keys than [`STATUS_COUNT_CAP`] were not read.
    capped: bool,
    /// The first [`UNSCOPED_KEYS_LISTED`], newest first.
    pubkey_sha256: Vec<Sha256Hash>,
}

/// Unscoped keys among the newest [`STATUS_COUNT_CAP`] keys (compromised ones authorize
/// nothing and do not count).
async fn unscoped_keys<S: InventoryStore>(store: &S) -> ApiResult<UnscopedKeys> {
    let (mut found, mut scanned, mut token) = (Vec::new(), 0u32, None);
    loop {
        let page = store
            .list_keys(&PageRequest {
                limit: (STATUS_COUNT_CAP - scanned).min(200),
                token,
            })
            .await?;
        scanned += page.items.len() as u32;
        found.extend(
            page.items
                .iter()
                .filter(|k| k.dns_names.is_empty() && k.compromised.is_none())
                .map(|k| k.pubkey_sha256),
        );
        token = page.next_token;
        if token.is_none() || scanned >= STATUS_COUNT_CAP || page.items.is_empty() {
            let count = found.len() as u32;
            found.truncate(UNSCOPED_KEYS_LISTED);
            return Ok(UnscopedKeys {
                count,
                capped: token.is_some(),
                pubkey_sha256: found,
            });
        }
    }
}

fn channels_in(alert: &Alert, state: DeliveryState) -> usize {
    [Channel::Sns, Channel::Email]
        .into_iter()
        .filter(|c| alert.delivery(*c).state == state)
        .count()
}

async fn failed_deliveries<S: AlertStore>(store: &S, ctx: &Ctx<'_>) -> ApiResult<Count> {
    let filter = AlertFilter {
        since: Some(crate::time::sub_capped(
            ctx.now,
            Duration::days(FAILED_DELIVERY_WINDOW_DAYS),
        )),
        ..AlertFilter::default()
    };
    let (mut failed, mut scanned, mut token) = (0usize, 0u32, None);
    loop {
        let page = store
            .list_alerts(
                &filter,
                &PageRequest {
                    limit: (STATUS_COUNT_CAP - scanned).min(200),
                    token,
                },
            )
            .await?;
        scanned += page.items.len() as u32;
        failed += page
            .items
            .iter()
            .map(|a| channels_in(a, DeliveryState::Failed))
            .sum::<usize>();
        token = page.next_token;
        if token.is_none() || scanned >= STATUS_COUNT_CAP || page.items.is_empty() {
            let mut count = Count::of(failed);
            count.capped |= token.is_some();
            return Ok(count);
        }
    }
}

pub async fn get<S: WatchStore + AlertStore + InventoryStore>(
    store: &S,
    ctx: &Ctx<'_>,
) -> ApiResult<Response> {
    let mut entries = store.list_watches().await?;
    entries.sort_by(|a, b| a.domain.cmp(&b.domain));
    let coverage = watching::coverage(&entries, ctx.now);
    let canaries = entries
        .iter()
        .filter(|e| e.canary)
        .map(|e| CanaryView::new(e, ctx.now))
        .collect();
    let entries: Vec<DomainView> = entries
        .into_iter()
        .map(|e| DomainView::new(e, ctx.now))
        .collect();
    let last_poll_succeeded = entries.iter().all(|e| e.last_poll_succeeded == Some(true));
    let stuck_entries = entries
        .iter()
        .filter(|e| e.stuck)
        .map(|e| e.value.clone())
        .collect();

    let pending = store.list_pending(STATUS_COUNT_CAP).await?;
    let undelivered = store.list_undelivered(STATUS_COUNT_CAP).await?;
    let queued: usize = undelivered
        .iter()
        .map(|a| channels_in(a, DeliveryState::Queued))
        .sum();
    let mut queued = Count::of(queued);
    queued.capped |= undelivered.len() >= STATUS_COUNT_CAP as usize;

    let view = StatusView {
        last_poll_succeeded,
        stuck_entries,
        entries,
        pending_alerts: Count::of(pending.len()),
        deliveries: Deliveries {
            queued,
            failed: failed_deliveries(store, ctx).await?,
            failed_window_days: FAILED_DELIVERY_WINDOW_DAYS,
        },
        unscoped_push_tokens: ctx.settings.auth.unscoped_push_labels(),
        unscoped_keys: unscoped_keys(store).await?,
        coverage,
        canaries,
    };
    json(StatusCode::OK, &view)
}
