//! The alerts table: one item per issuance (key `tbs_sha256`). Besides the record it carries:
//! - `seen_key` (`<fixed-width first_seen_at>#<tbs>`): the sort key of every index;
//! - `feed` = `alert` (constant): the partition of the `by-time` index;
//! - `outbox` = `queued` while some channel is queued: the sparse `outbox` index;
//! - `matched_domains` (string set): the domain filter of listings;
//! - `lease_<channel>_owner` / `lease_<channel>_until` (epoch ms): delivery leases;
//! - `ttl_epoch`: DynamoDB TTL.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};

use super::codec::{
    Expr, IndexQuery, Item, backend, check_item_size, decode, encode, encode_value, rejected, s,
    sort_time, string_attr, strip_nulls, time_key, ttl_epoch, write_failure,
};
use super::{BATCH_GET_MAX, DynamoStore};
use crate::domain::WatchDomain;
use crate::hash::Sha256Hash;
use crate::model::{
    Acknowledgement, Alert, AuthorizedBy, Channel, DeliveryState, Reason, Severity,
};
use crate::store::{
    AlertFilter, AlertStore, DeliveryRecord, DeliveryResult, Page, PageRequest, StoreError,
};

const ENTITY: &str = "alert";

/// The per-item codes of a cancelled TransactWriteItems, in item order (`ConditionalCheckFailed`,
/// `TransactionConflict`, `ValidationError`, `None`...); `None` when it failed otherwise.
fn cancellation_codes<R>(
    err: &SdkError<TransactWriteItemsError, R>,
) -> Option<Vec<Option<String>>> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}
const PK: &str = "tbs_sha256";
const SEEN_KEY: &str = "seen_key";
const FEED: &str = "feed";
const FEED_VALUE: &str = "alert";
const SEVERITY: &str = "severity";
const OUTBOX: &str = "outbox";
const OUTBOX_VALUE: &str = "queued";
const MATCHED_DOMAINS: &str = "matched_domains";
const BASELINE: &str = "baseline";
const TTL: &str = "ttl_epoch";

const BY_TIME: &str = "by-time";
const BY_TIME_KEYS: &[&str] = &[PK, FEED, SEEN_KEY];
const BY_SEVERITY: &str = "by-severity";
const BY_SEVERITY_KEYS: &[&str] = &[PK, SEVERITY, SEEN_KEY];
const OUTBOX_INDEX: &str = "outbox";
const OUTBOX_KEYS: &[&str] = &[PK, OUTBOX, SEEN_KEY];

/// Attempts at a conditional write whose condition depends on state that can move under us.
const CONDITIONAL_ROUNDS: usize = 4;
/// Room kept in a new alert item for what later updates add (leases, delivery results, ack).
const LATER_UPDATES_BYTES: usize = 8 * 1024;
/// TransactWriteItems takes at most 100 actions.
const TRANSACTION_MAX: usize = 100;
/// ... and at most 4 MB: delivery records are cut well below it (an error text is bounded by
/// the notifier, but not by this module).
const TRANSACTION_BYTES: usize = 2 * 1024 * 1024;
/// What a delivery update weighs besides its error text (names, times, message id).
const RECORD_BASE_BYTES: usize = 1024;
const CONDITIONAL_FAILED: &str = "ConditionalCheckFailed";

/// The update and condition of a claim: the channel is queued and not leased (or the lease
/// expired).
fn claim_update(
    channel: Channel,
    run_id: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> (Expr, String) {
    let mut expr = Expr::new();
    expr.set(lease_owner_attr(channel), s(run_id));
    expr.set(lease_until_attr(channel), epoch_ms(lease_until));
    let state = expr.name(&format!("{}.state", channel_attr(channel)));
    let queued = expr.value(state_value(DeliveryState::Queued));
    let until = expr.name(lease_until_attr(channel));
    let now = expr.value(epoch_ms(now));
    let condition =
        format!("{state} = {queued} AND (attribute_not_exists({until}) OR {until} <= {now})");
    (expr, condition)
}

/// The update and condition that record `result` by the lease holder `run_id`. A terminal
/// result removes the `outbox` attribute iff the other channel is not queued; the condition
/// pins that state as `other_queued` says (a wrong guess fails the condition).
fn record_update(
    channel: Channel,
    run_id: &str,
    result: &DeliveryResult,
    other_queued: bool,
) -> Result<(Expr, String), StoreError> {
    const OP: &str = "record_delivery";
    let ch = channel_attr(channel);
    let path = |field: &str| format!("{ch}.{field}");
    let mut expr = Expr::new();
    match result {
        DeliveryResult::Sent { message_id, at } => {
            expr.add_to(&path("attempts"), 1);
            expr.set(&path("state"), state_value(DeliveryState::Sent));
            expr.set(&path("last_attempt_at"), encode_value(OP, at)?);
            expr.set(&path("sent_at"), encode_value(OP, at)?);
            expr.set(&path("message_id"), encode_value(OP, message_id)?);
            expr.set(&path("last_error"), AttributeValue::Null(true));
        }
        // Not an attempt: the channel is off by design; the reason stays visible.
        DeliveryResult::Skipped { reason, at } => {
            expr.set(&path("state"), state_value(DeliveryState::Skipped));
            expr.set(&path("last_attempt_at"), encode_value(OP, at)?);
            expr.set(&path("last_error"), s(reason.as_str()));
        }
        DeliveryResult::Failed { error, at, give_up } => {
            expr.add_to(&path("attempts"), 1);
            expr.set(&path("last_attempt_at"), encode_value(OP, at)?);
            expr.set(&path("last_error"), s(error.as_str()));
            if *give_up {
                expr.set(&path("state"), state_value(DeliveryState::Failed));
            }
        }
        // Not an attempt: the service asked us to slow down.
        DeliveryResult::Deferred { error, at } => {
            expr.set(&path("last_attempt_at"), encode_value(OP, at)?);
            expr.set(&path("last_error"), s(error.as_str()));
        }
    }
    expr.remove(lease_owner_attr(channel));
    expr.remove(lease_until_attr(channel));
    let owner = expr.name(lease_owner_attr(channel));
    let run = expr.value(s(run_id));
    let mut condition = format!("{owner} = {run}");
    if is_terminal(result) {
        let other_state = expr.name(&format!("{}.state", channel_attr(other(channel))));
        let queued = expr.value(state_value(DeliveryState::Queued));
        if other_queued {
            condition.push_str(&format!(" AND {other_state} = {queued}"));
        } else {
            expr.remove(OUTBOX);
            condition.push_str(&format!(" AND {other_state} <> {queued}"));
        }
    }
    Ok((expr, condition))
}

fn is_terminal(result: &DeliveryResult) -> bool {
    match result {
        DeliveryResult::Sent { .. } | DeliveryResult::Skipped { .. } => true,
        DeliveryResult::Failed { give_up, .. } => *give_up,
        DeliveryResult::Deferred { .. } => false,
    }
}

fn record_bytes(record: &DeliveryRecord) -> usize {
    RECORD_BASE_BYTES
        + match &record.result {
            DeliveryResult::Sent { message_id, .. } => message_id.as_ref().map_or(0, String::len),
            DeliveryResult::Skipped { reason, .. } => reason.len(),
            DeliveryResult::Failed { error, .. } | DeliveryResult::Deferred { error, .. } => {
                error.len()
            }
        }
}

/// Consecutive runs of `items` of at most [`TRANSACTION_MAX`] items and [`TRANSACTION_BYTES`].
fn transaction_chunks<T>(items: &[T], bytes: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let b = bytes(item);
        if i > start && (i - start == TRANSACTION_MAX || size + b > TRANSACTION_BYTES) {
            chunks.push(&items[start..i]);
            (start, size) = (i, 0);
        }
        size += b;
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

/// Backoff before retrying a transaction cancelled by a conflict with another one.
async fn transaction_backoff(round: usize) {
    if round > 0 {
        let base = 20u64 << round;
        tokio::time::sleep(std::time::Duration::from_millis(
            base / 2 + fastrand::u64(0..=base),
        ))
        .await;
    }
}

fn channel_attr(channel: Channel) -> &'static str {
    match channel {
        Channel::Sns => "sns",
        Channel::Email => "email",
    }
}

fn other(channel: Channel) -> Channel {
    match channel {
        Channel::Sns => Channel::Email,
        Channel::Email => Channel::Sns,
    }
}

fn lease_owner_attr(channel: Channel) -> &'static str {
    match channel {
        Channel::Sns => "lease_sns_owner",
        Channel::Email => "lease_email_owner",
    }
}

fn lease_until_attr(channel: Channel) -> &'static str {
    match channel {
        Channel::Sns => "lease_sns_until",
        Channel::Email => "lease_email_until",
    }
}

fn state_value(state: DeliveryState) -> AttributeValue {
    s(match state {
        DeliveryState::Queued => "queued",
        DeliveryState::Sent => "sent",
        DeliveryState::Failed => "failed",
        DeliveryState::Skipped => "skipped",
    })
}

fn epoch_ms(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(t.timestamp_millis().to_string())
}

/// The stored state of a channel in a raw item (`None` if absent or unreadable).
fn stored_state(item: &Item, channel: Channel) -> Option<String> {
    match item.get(channel_attr(channel)) {
        Some(AttributeValue::M(m)) => string_attr(m, "state").map(str::to_owned),
        _ => None,
    }
}

/// The whole item for a new alert: the record plus keys, index and TTL attributes.
fn alert_item(alert: &Alert) -> Result<Item, StoreError> {
    let mut item = strip_nulls(encode("create_alert", alert)?);
    let hex = alert.tbs_sha256.to_hex();
    item.insert(SEEN_KEY.into(), s(time_key(alert.first_seen_at, &hex)));
    item.insert(FEED.into(), s(FEED_VALUE));
    if [&alert.sns, &alert.email]
        .iter()
        .any(|d| d.state == DeliveryState::Queued)
    {
        item.insert(OUTBOX.into(), s(OUTBOX_VALUE));
    }
    let mut domains: Vec<String> = alert
        .matched
        .iter()
        .map(|m| m.entry.as_str().to_owned())
        .collect();
    domains.sort();
    domains.dedup();
    // A string set cannot be empty: no matches, no attribute.
    if !domains.is_empty() {
        item.insert(MATCHED_DOMAINS.into(), AttributeValue::Ss(domains));
    }
    if let Some(t) = alert.expires_at {
        item.insert(TTL.into(), ttl_epoch(t));
    }
    // Leases and delivery results add a few hundred bytes later: keep room for them.
    check_item_size("create_alert", &item, LATER_UPDATES_BYTES)?;
    Ok(item)
}

fn decode_alert(item: Item) -> Result<Alert, StoreError> {
    let key = string_attr(&item, PK).unwrap_or_default().to_owned();
    decode(ENTITY, key, item)
}

impl DynamoStore {
    fn alert_key(tbs: &Sha256Hash) -> (String, AttributeValue) {
        (PK.to_owned(), s(tbs.to_hex()))
    }

    /// Alerts of an index partition, oldest first, at most `limit`.
    async fn oldest_first(
        &self,
        operation: &'static str,
        index: &'static str,
        key_attrs: &'static [&'static str],
        partition: (&'static str, &str),
        limit: u32,
    ) -> Result<Vec<Alert>, StoreError> {
        let query = IndexQuery {
            operation,
            table: &self.tables.alerts,
            index,
            key_attrs,
            partition: (partition.0, partition.1.to_owned()),
            sort_attr: SEEN_KEY,
            sort_from: None,
            filter: None,
            expr: Expr::new(),
            newest_first: false,
        };
        let (items, _) = query.page(&self.client, limit, None).await?;
        items.into_iter().map(decode_alert).collect()
    }

    /// Creates-if-absent up to [`TRANSACTION_MAX`] alerts in one TransactWriteItems; returns
    /// the indices it created. A cancelled transaction names the items that already exist
    /// (ConditionalCheckFailed); the rest are retried without them.
    async fn create_alerts_transaction(
        &self,
        alerts: &[Alert],
        indices: &[usize],
    ) -> Result<Vec<usize>, StoreError> {
        const OP: &str = "create_alerts";
        let table = &self.tables.alerts;
        let mut remaining = indices.to_vec();
        for round in 0..CONDITIONAL_ROUNDS {
            if remaining.is_empty() {
                return Ok(remaining);
            }
            if round > 0 {
                let base = 20u64 << round;
                tokio::time::sleep(std::time::Duration::from_millis(
                    base / 2 + fastrand::u64(0..=base),
                ))
                .await;
            }
            let mut items = Vec::with_capacity(remaining.len());
            for &i in &remaining {
                let put = Put::builder()
                    .table_name(table)
                    .set_item(Some(alert_item(&alerts[i])?))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", PK)
                    .build()
                    .map_err(|e| StoreError::Backend {
                        operation: OP,
                        message: format!("cannot build a transaction item: {e}"),
                    })?;
                items.push(TransactWriteItem::builder().put(put).build());
            }
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(remaining),
                Err(e) => e,
            };
            let Some(reasons) = cancellation_codes(&err) else {
                return Err(write_failure(OP, "TransactWriteItems", table, err));
            };
            // An item DynamoDB refuses (e.g. over the item limit) fails every attempt.
            if reasons
                .iter()
                .any(|c| c.as_deref() == Some("ValidationError"))
            {
                return Err(rejected(OP, "TransactWriteItems", table, err));
            }
            if reasons.len() != remaining.len() {
                return Err(backend(OP, "TransactWriteItems", table, err));
            }
            // Existing alerts drop out (not created by us); the others are tried again.
            remaining = remaining
                .into_iter()
                .zip(&reasons)
                .filter(|(_, code)| code.as_deref() != Some("ConditionalCheckFailed"))
                .map(|(i, _)| i)
                .collect();
            let only_conflicts = reasons
                .iter()
                .all(|c| c.as_deref() != Some("ConditionalCheckFailed"));
            if only_conflicts {
                tracing::debug!(?reasons, "alert transaction cancelled; retrying");
            }
        }
        Err(StoreError::Backend {
            operation: OP,
            message: format!(
                "DynamoDB TransactWriteItems on {table}: still cancelled after {CONDITIONAL_ROUNDS} attempts"
            ),
        })
    }

    /// Conditional updates of distinct alerts as ONE TransactWriteItems (all or nothing).
    /// `Ok(None)`: all applied. `Ok(Some(codes))`: cancelled, nothing applied; per update the
    /// cancellation code (`ConditionalCheckFailed` for a failed condition, `None`/"None" for
    /// an update that was fine, `TransactionConflict` when another transaction held the item).
    async fn transact_updates(
        &self,
        operation: &'static str,
        updates: Vec<(Sha256Hash, Expr, String)>,
    ) -> Result<Option<Vec<Option<String>>>, StoreError> {
        let table = &self.tables.alerts;
        let count = updates.len();
        let mut items = Vec::with_capacity(count);
        for (tbs, expr, condition) in updates {
            let (k, v) = Self::alert_key(&tbs);
            let update = Update::builder()
                .table_name(table)
                .key(k, v)
                .update_expression(expr.update_expression())
                .condition_expression(condition)
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .build()
                .map_err(|e| StoreError::Backend {
                    operation,
                    message: format!("cannot build a transaction item: {e}"),
                })?;
            items.push(TransactWriteItem::builder().update(update).build());
        }
        let err = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(None),
            Err(e) => e,
        };
        let Some(codes) = cancellation_codes(&err) else {
            return Err(write_failure(operation, "TransactWriteItems", table, err));
        };
        if codes.len() != count
            || codes
                .iter()
                .any(|c| c.as_deref() == Some("ValidationError"))
        {
            return Err(backend(operation, "TransactWriteItems", table, err));
        }
        tracing::debug!(operation, ?codes, "transaction cancelled");
        Ok(Some(codes))
    }

    /// One transaction's worth of claims (see `claim_deliveries`): an alert whose condition
    /// failed is not claimable (not queued, or leased by another run) and drops out; the others
    /// are tried again. What is left after the rounds is claimed one by one.
    async fn claim_chunk(
        &self,
        tbs: &[Sha256Hash],
        channel: Channel,
        run_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut claimed = vec![false; tbs.len()];
        let mut remaining: Vec<usize> = (0..tbs.len()).collect();
        for round in 0..CONDITIONAL_ROUNDS {
            if remaining.len() <= 1 {
                break;
            }
            transaction_backoff(round).await;
            let updates = remaining
                .iter()
                .map(|&i| {
                    let (expr, condition) = claim_update(channel, run_id, now, lease_until);
                    (tbs[i], expr, condition)
                })
                .collect();
            match self.transact_updates("claim_deliveries", updates).await? {
                None => {
                    for &i in &remaining {
                        claimed[i] = true;
                    }
                    return Ok(claimed);
                }
                Some(codes) => {
                    remaining = remaining
                        .into_iter()
                        .zip(&codes)
                        .filter(|(_, code)| code.as_deref() != Some(CONDITIONAL_FAILED))
                        .map(|(i, _)| i)
                        .collect();
                }
            }
        }
        for i in remaining {
            claimed[i] = self
                .claim_delivery(&tbs[i], channel, run_id, now, lease_until)
                .await?;
        }
        Ok(claimed)
    }

    /// One transaction's worth of records (see `record_deliveries`). A record whose condition
    /// failed (lease lost, or the other channel's state not as hinted) is recorded on its own
    /// by `record_delivery`, which reads the item's current state from the failed condition;
    /// the others are tried again as a transaction, so one record never holds back the rest.
    async fn record_chunk(
        &self,
        channel: Channel,
        run_id: &str,
        records: &[DeliveryRecord],
    ) -> Result<(), StoreError> {
        let mut remaining: Vec<&DeliveryRecord> = records.iter().collect();
        let mut alone: Vec<&DeliveryRecord> = Vec::new();
        for round in 0..CONDITIONAL_ROUNDS {
            if remaining.len() <= 1 {
                break;
            }
            transaction_backoff(round).await;
            let mut updates = Vec::with_capacity(remaining.len());
            for r in &remaining {
                let (expr, condition) = record_update(channel, run_id, &r.result, r.other_queued)?;
                updates.push((r.tbs, expr, condition));
            }
            match self.transact_updates("record_deliveries", updates).await? {
                None => {
                    remaining.clear();
                    break;
                }
                Some(codes) => {
                    let (failed, rest): (Vec<_>, Vec<_>) = remaining
                        .into_iter()
                        .zip(&codes)
                        .partition(|(_, code)| code.as_deref() == Some(CONDITIONAL_FAILED));
                    alone.extend(failed.into_iter().map(|(r, _)| r));
                    remaining = rest.into_iter().map(|(r, _)| r).collect();
                }
            }
        }
        for r in remaining.into_iter().chain(alone) {
            self.record_delivery(&r.tbs, channel, run_id, &r.result)
                .await?;
        }
        Ok(())
    }

    async fn update_alert(
        &self,
        operation: &'static str,
        tbs: &Sha256Hash,
        expr: &Expr,
        condition: String,
        return_values: ReturnValue,
    ) -> Result<Result<Option<Item>, Option<Item>>, StoreError> {
        let table = &self.tables.alerts;
        self.update_if(
            operation,
            table,
            Self::alert_key(tbs),
            expr,
            condition,
            return_values,
        )
        .await
    }
}

impl AlertStore for DynamoStore {
    async fn create_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        const OP: &str = "create_alert";
        let table = &self.tables.alerts;
        self.put_if_absent(OP, table, PK, alert_item(alert)?).await
    }

    async fn create_alerts(&self, alerts: &[Alert]) -> Result<Vec<bool>, StoreError> {
        let mut created = vec![false; alerts.len()];
        // A transaction may not touch one item twice: a repeated hash is created once.
        let mut seen = std::collections::HashSet::new();
        let unique: Vec<usize> = (0..alerts.len())
            .filter(|&i| seen.insert(alerts[i].tbs_sha256))
            .collect();
        for chunk in unique.chunks(TRANSACTION_MAX) {
            for i in self.create_alerts_transaction(alerts, chunk).await? {
                created[i] = true;
            }
        }
        Ok(created)
    }

    async fn get_alert(&self, tbs: &Sha256Hash) -> Result<Option<Alert>, StoreError> {
        const OP: &str = "get_alert";
        let table = &self.tables.alerts;
        let item = self.get_consistent(OP, table, Self::alert_key(tbs)).await?;
        item.map(decode_alert).transpose()
    }

    async fn get_alerts(&self, tbs: &[Sha256Hash]) -> Result<Vec<Alert>, StoreError> {
        const OP: &str = "get_alerts";
        let mut by_hash = HashMap::with_capacity(tbs.len());
        // BatchGetItem rejects a request that repeats a key.
        let mut seen = HashSet::with_capacity(tbs.len());
        let distinct: Vec<&Sha256Hash> = tbs.iter().filter(|h| seen.insert(*h)).collect();
        for chunk in distinct.chunks(BATCH_GET_MAX) {
            let keys = chunk
                .iter()
                .map(|h| [Self::alert_key(h)].into_iter().collect())
                .collect();
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Backend {
                    operation: OP,
                    message: format!("cannot build BatchGetItem: {e}"),
                })?;
            for item in self.batch_get(OP, &self.tables.alerts, request).await? {
                let alert = decode_alert(item)?;
                by_hash.insert(alert.tbs_sha256, alert);
            }
        }
        Ok(tbs.iter().filter_map(|h| by_hash.remove(h)).collect())
    }

    async fn list_alerts(
        &self,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>, StoreError> {
        let mut expr = Expr::new();
        let (index, key_attrs, partition) = match filter.severity {
            Some(severity) => (
                BY_SEVERITY,
                BY_SEVERITY_KEYS,
                (SEVERITY, severity.as_str().to_owned()),
            ),
            None => (BY_TIME, BY_TIME_KEYS, (FEED, FEED_VALUE.to_owned())),
        };
        // Reads (and pays for) the alerts of other domains it skips; see infra/DATA_MODEL.md.
        let domain_filter = filter.domain.as_ref().map(|d| {
            let n = expr.name(MATCHED_DOMAINS);
            let v = expr.value(s(d.as_str()));
            format!("contains({n}, {v})")
        });
        let query = IndexQuery {
            operation: "list_alerts",
            table: &self.tables.alerts,
            index,
            key_attrs,
            partition,
            sort_attr: SEEN_KEY,
            // `<since>` sorts before every `<since>#<tbs>`, so equal times are included.
            sort_from: filter.since.map(sort_time),
            filter: domain_filter,
            expr,
            newest_first: true,
        };
        let (items, next_token) = query
            .page(&self.client, page.limit, page.token.as_deref())
            .await?;
        let items = items
            .into_iter()
            .map(decode_alert)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_token })
    }

    async fn list_pending(&self, limit: u32) -> Result<Vec<Alert>, StoreError> {
        self.oldest_first(
            "list_pending",
            BY_SEVERITY,
            BY_SEVERITY_KEYS,
            (SEVERITY, Severity::Pending.as_str()),
            limit,
        )
        .await
    }

    async fn list_undelivered(&self, limit: u32) -> Result<Vec<Alert>, StoreError> {
        self.oldest_first(
            "list_undelivered",
            OUTBOX_INDEX,
            OUTBOX_KEYS,
            (OUTBOX, OUTBOX_VALUE),
            limit,
        )
        .await
    }

    async fn list_outbox_baseline(
        &self,
        entry: &WatchDomain,
        limit: u32,
    ) -> Result<Vec<Alert>, StoreError> {
        // The outbox index holds only alerts with a queued channel; the filter keeps this
        // entry's baseline alerts (it pays for the other queued alerts it skips, no more).
        let mut expr = Expr::new();
        let baseline = expr.name(BASELINE);
        let yes = expr.value(AttributeValue::Bool(true));
        let domains = expr.name(MATCHED_DOMAINS);
        let domain = expr.value(s(entry.as_str()));
        let query = IndexQuery {
            operation: "list_outbox_baseline",
            table: &self.tables.alerts,
            index: OUTBOX_INDEX,
            key_attrs: OUTBOX_KEYS,
            partition: (OUTBOX, OUTBOX_VALUE.to_owned()),
            sort_attr: SEEN_KEY,
            sort_from: None,
            filter: Some(format!(
                "{baseline} = {yes} AND contains({domains}, {domain})"
            )),
            expr,
            newest_first: true,
        };
        query.all(&self.client, limit as usize, decode_alert).await
    }

    async fn resolve_pending(
        &self,
        tbs: &Sha256Hash,
        severity: Severity,
        authorized_by: Option<AuthorizedBy>,
        reasons: &[Reason],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const OP: &str = "resolve_pending";
        // Which channels to queue depends on their stored state (Skipped stays skipped), so
        // read, then write on the condition that severity and both states are unchanged.
        let Some(mut alert) = self.get_alert(tbs).await? else {
            return Ok(false);
        };
        for _ in 0..CONDITIONAL_ROUNDS {
            if alert.severity != Severity::Pending {
                return Ok(false);
            }
            let mut expr = Expr::new();
            expr.set(SEVERITY, s(severity.as_str()));
            expr.set_or_remove(
                "authorized_by",
                authorized_by.map(|a| encode_value(OP, &a)).transpose()?,
            );
            expr.set("reasons", encode_value(OP, &reasons)?);
            expr.set("classified_at", encode_value(OP, &now)?);
            let mut conditions = vec![{
                let n = expr.name(SEVERITY);
                let v = expr.value(s(Severity::Pending.as_str()));
                format!("{n} = {v}")
            }];
            let mut any_queued = false;
            for channel in [Channel::Sns, Channel::Email] {
                let state = alert.delivery(channel).state;
                let path = format!("{}.state", channel_attr(channel));
                let n = expr.name(&path);
                let v = expr.value(state_value(state));
                conditions.push(format!("{n} = {v}"));
                if state != DeliveryState::Skipped {
                    expr.set(&path, state_value(DeliveryState::Queued));
                    any_queued = true;
                }
            }
            if any_queued {
                expr.set(OUTBOX, s(OUTBOX_VALUE));
            } else {
                expr.remove(OUTBOX);
            }
            match self
                .update_alert(OP, tbs, &expr, conditions.join(" AND "), ReturnValue::None)
                .await?
            {
                Ok(_) => return Ok(true),
                Err(None) => return Ok(false), // deleted meanwhile
                Err(Some(old)) => alert = decode_alert(old)?,
            }
        }
        Err(StoreError::Backend {
            operation: OP,
            message: format!("alert {tbs} kept changing under {CONDITIONAL_ROUNDS} attempts"),
        })
    }

    async fn claim_delivery(
        &self,
        tbs: &Sha256Hash,
        channel: Channel,
        run_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (expr, condition) = claim_update(channel, run_id, now, lease_until);
        let outcome = self
            .update_alert("claim_delivery", tbs, &expr, condition, ReturnValue::None)
            .await?;
        Ok(outcome.is_ok())
    }

    async fn record_delivery(
        &self,
        tbs: &Sha256Hash,
        channel: Channel,
        run_id: &str,
        result: &DeliveryResult,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_delivery";
        let ch = channel_attr(channel);
        // For a terminal result the outbox attribute must go iff the other channel is not
        // queued; that state can change concurrently, so the condition pins it and we retry.
        let mut other_queued = false;
        for _ in 0..CONDITIONAL_ROUNDS {
            let (expr, condition) = record_update(channel, run_id, result, other_queued)?;
            match self
                .update_alert(OP, tbs, &expr, condition, ReturnValue::None)
                .await?
            {
                Ok(_) => return Ok(()),
                Err(old) => {
                    let old = old.unwrap_or_default();
                    if string_attr(&old, lease_owner_attr(channel)) != Some(run_id) {
                        // The lease expired and another run took it (or the alert is gone):
                        // that run now owns the channel's state.
                        tracing::warn!(
                            alert = %tbs, channel = ch, run_id,
                            "delivery lease lost before the attempt was recorded"
                        );
                        return Ok(());
                    }
                    other_queued = stored_state(&old, other(channel)).as_deref() == Some("queued");
                }
            }
        }
        Err(StoreError::Backend {
            operation: OP,
            message: format!("alert {tbs} kept changing under {CONDITIONAL_ROUNDS} attempts"),
        })
    }

    async fn claim_deliveries(
        &self,
        tbs: &[Sha256Hash],
        channel: Channel,
        run_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut claimed = Vec::with_capacity(tbs.len());
        for chunk in tbs.chunks(TRANSACTION_MAX) {
            claimed.extend(
                self.claim_chunk(chunk, channel, run_id, now, lease_until)
                    .await?,
            );
        }
        Ok(claimed)
    }

    async fn record_deliveries(
        &self,
        channel: Channel,
        run_id: &str,
        records: &[DeliveryRecord],
    ) -> Result<(), StoreError> {
        for chunk in transaction_chunks(records, record_bytes) {
            self.record_chunk(channel, run_id, chunk).await?;
        }
        Ok(())
    }

    async fn acknowledge(
        &self,
        tbs: &Sha256Hash,
        ack: &Acknowledgement,
    ) -> Result<Option<Alert>, StoreError> {
        const OP: &str = "acknowledge";
        let mut expr = Expr::new();
        expr.set("ack", encode_value(OP, ack)?);
        let pk = expr.name(PK);
        match self
            .update_alert(
                OP,
                tbs,
                &expr,
                format!("attribute_exists({pk})"),
                ReturnValue::AllNew,
            )
            .await?
        {
            Ok(Some(item)) => decode_alert(item).map(Some),
            Ok(None) => Err(StoreError::Backend {
                operation: OP,
                message: "UpdateItem returned no attributes".to_owned(),
            }),
            Err(_) => Ok(None),
        }
    }
}
