//! Shared plumbing for the DynamoDB store: record encoding, sort keys, page tokens, update
//! expressions, paged index queries, reads that follow every page up to a bound, and error
//! mapping.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_async::future::pagination_stream::PaginationStream;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1 as sd;

use crate::store::{StoreError, page_token};

pub(super) type Item = HashMap<String, AttributeValue>;

/// Largest page a caller may ask for (DynamoDB returns at most 1 MB per request anyway).
pub(super) const MAX_PAGE: u32 = 1000;
/// Query rounds spent filling one filtered page before returning it partly filled.
const MAX_QUERY_ROUNDS: usize = 8;
/// A filtered query evaluates at least this many items per round.
const FILTERED_READ_AHEAD: usize = 100;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A fixed-width UTC timestamp (microseconds) that sorts lexicographically in time order.
/// chrono's RFC 3339 output drops trailing zero digits, so it cannot be used in sort keys.
pub(super) fn sort_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `<sort_time>#<id>`: unique and time-ordered.
pub(super) fn time_key(t: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", sort_time(t))
}

/// The TTL attribute: epoch seconds, rounded up so DynamoDB never deletes early.
pub(super) fn ttl_epoch(t: DateTime<Utc>) -> AttributeValue {
    let secs = t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0);
    AttributeValue::N(secs.to_string())
}

/// Encodes a record; `None` fields become NULL attributes (see [`strip_nulls`]).
pub(super) fn encode<T: Serialize>(operation: &'static str, value: &T) -> Result<Item, StoreError> {
    sd::to_item(value).map_err(|e| StoreError::Backend {
        operation,
        message: format!("cannot encode the record: {e}"),
    })
}

pub(super) fn encode_value<T: Serialize>(
    operation: &'static str,
    value: &T,
) -> Result<AttributeValue, StoreError> {
    sd::to_attribute_value(value).map_err(|e| StoreError::Backend {
        operation,
        message: format!("cannot encode a value: {e}"),
    })
}

/// Drops top-level NULL attributes so that "absent" has one representation, which condition
/// expressions such as `attribute_not_exists(cursor)` rely on.
pub(super) fn strip_nulls(mut item: Item) -> Item {
    item.retain(|_, v| !matches!(v, AttributeValue::Null(_)));
    item
}

pub(super) fn decode<T: DeserializeOwned>(
    entity: &'static str,
    key: impl Display,
    item: Item,
) -> Result<T, StoreError> {
    sd::from_item(item).map_err(|e| StoreError::Corrupt {
        entity,
        key: key.to_string(),
        message: e.to_string(),
    })
}

pub(super) fn string_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

/// The size DynamoDB counts for an item: attribute names plus values, strings and binaries by
/// length, numbers by digits, one byte for booleans and nulls, three bytes per list or map plus
/// one per element (AWS's published rules; numbers are counted generously).
pub(super) fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) | AttributeValue::N(s) => s.len() + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(v) | AttributeValue::Ns(v) => v.iter().map(|s| s.len() + 1).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// Refuses an item over DynamoDB's item limit (less `reserve` bytes kept for later updates)
/// before sending it, with a typed error.
pub(super) fn check_item_size(
    operation: &'static str,
    item: &Item,
    reserve: usize,
) -> Result<(), StoreError> {
    let size = item_size(item);
    if size + reserve > crate::bounds::ITEM_MAX_BYTES {
        return Err(StoreError::Rejected {
            operation,
            message: format!(
                "the item is {size} bytes; with {reserve} bytes kept for later updates that is \
                 over DynamoDB's {} byte item limit",
                crate::bounds::ITEM_MAX_BYTES
            ),
        });
    }
    Ok(())
}

/// Whether DynamoDB refused the request itself (`ValidationException`, e.g. an item over the
/// size limit): retrying the same request cannot succeed.
fn is_validation<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ValidationException")
}

/// `DynamoDB <api> on <table>: <the service's error code and message>`.
fn describe<E, R>(api: &str, table: &str, err: &SdkError<E, R>) -> String
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    format!("DynamoDB {api} on {table}: {}", DisplayErrorContext(err))
}

/// [`StoreError::Rejected`] for a refused request.
pub(super) fn rejected<E, R>(
    operation: &'static str,
    api: &str,
    table: &str,
    err: SdkError<E, R>,
) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    StoreError::Rejected {
        operation,
        message: describe(api, table, &err),
    }
}

/// Maps an SDK failure to [`StoreError::Backend`], naming the store operation, the DynamoDB API
/// and table, and the service's error code and message.
pub(super) fn backend<E, R>(
    operation: &'static str,
    api: &str,
    table: &str,
    err: SdkError<E, R>,
) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend {
        operation,
        message: describe(api, table, &err),
    }
}

/// A failed write: [`rejected`] when DynamoDB refused the request itself (a
/// `ValidationException`), else [`backend`].
pub(super) fn write_failure<E, R>(
    operation: &'static str,
    api: &str,
    table: &str,
    err: SdkError<E, R>,
) -> StoreError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    if is_validation(&err) {
        rejected(operation, api, table, err)
    } else {
        backend(operation, api, table, err)
    }
}

/// Builds `SET`/`REMOVE` update expressions and a condition, sharing placeholder maps.
#[derive(Default)]
pub(super) struct Expr {
    sets: Vec<String>,
    removes: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// A placeholder for an attribute path; `a.b` becomes `#a.#b`.
    pub(super) fn name(&mut self, path: &str) -> String {
        path.split('.')
            .map(|part| {
                let placeholder = format!("#{part}");
                self.names.insert(placeholder.clone(), part.to_owned());
                placeholder
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    pub(super) fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    pub(super) fn set(&mut self, path: &str, value: AttributeValue) {
        let (n, v) = (self.name(path), self.value(value));
        self.sets.push(format!("{n} = {v}"));
    }

    /// Sets the attribute only if it does not exist yet (e.g. `added_at` on upsert).
    pub(super) fn set_if_absent(&mut self, path: &str, value: AttributeValue) {
        let (n, v) = (self.name(path), self.value(value));
        self.sets.push(format!("{n} = if_not_exists({n}, {v})"));
    }

    pub(super) fn add_to(&mut self, path: &str, amount: i64) {
        let (n, v) = (
            self.name(path),
            self.value(AttributeValue::N(amount.to_string())),
        );
        self.sets.push(format!("{n} = {n} + {v}"));
    }

    /// Appends `items` to a list attribute, creating it if absent.
    pub(super) fn append(&mut self, path: &str, items: Vec<AttributeValue>) {
        let n = self.name(path);
        let empty = self.value(AttributeValue::L(vec![]));
        let tail = self.value(AttributeValue::L(items));
        self.sets.push(format!(
            "{n} = list_append(if_not_exists({n}, {empty}), {tail})"
        ));
    }

    pub(super) fn remove(&mut self, path: &str) {
        let n = self.name(path);
        self.removes.push(n);
    }

    /// Sets a present value, removes an absent one (a NULL attribute counts as absent).
    pub(super) fn set_or_remove(&mut self, path: &str, value: Option<AttributeValue>) {
        match value {
            Some(AttributeValue::Null(_)) | None => self.remove(path),
            Some(v) => self.set(path, v),
        }
    }

    pub(super) fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        parts.join(" ")
    }

    pub(super) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// DynamoDB rejects an empty value map, so an expression without values sends none.
    pub(super) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Opaque page token of the last returned item's key (see [`page_token`]).
pub(super) fn encode_token(key: &Item) -> String {
    let plain: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str())))
        .collect();
    page_token::encode(&plain)
}

/// Decodes a token for a query over `key_attrs` whose partition attribute `fixed.0` must
/// hold `fixed.1`; anything else was not issued by this query.
pub(super) fn decode_token(
    token: &str,
    key_attrs: &[&str],
    fixed: (&str, &str),
) -> Result<Item, StoreError> {
    let plain = page_token::decode(token, key_attrs, fixed)?;
    Ok(plain.into_iter().map(|(k, v)| (k, s(v))).collect())
}

pub(super) fn key_of(item: &Item, key_attrs: &[&str]) -> Item {
    key_attrs
        .iter()
        .filter_map(|a| item.get(*a).map(|v| ((*a).to_owned(), v.clone())))
        .collect()
}

/// A query on a global secondary index whose partition is one fixed value.
pub(super) struct IndexQuery<'a> {
    pub operation: &'static str,
    pub table: &'a str,
    pub index: &'static str,
    /// Table key plus index keys: what `ExclusiveStartKey` holds.
    pub key_attrs: &'static [&'static str],
    pub partition: (&'static str, String),
    pub sort_attr: &'static str,
    /// Only items whose sort key is `>=` this.
    pub sort_from: Option<String>,
    /// A filter expression built on `expr` (applied after the read: costs what it skips).
    pub filter: Option<String>,
    pub expr: Expr,
    pub newest_first: bool,
}

impl IndexQuery<'_> {
    /// The Query without page size or start key: the key condition, filter and order.
    fn request(&mut self, client: &Client) -> QueryFluentBuilder {
        let pk = self.expr.name(self.partition.0);
        let pv = self.expr.value(s(self.partition.1.clone()));
        let mut key_condition = format!("{pk} = {pv}");
        if let Some(from) = self.sort_from.take() {
            let sk = self.expr.name(self.sort_attr);
            let sv = self.expr.value(s(from));
            key_condition.push_str(&format!(" AND {sk} >= {sv}"));
        }
        client
            .query()
            .table_name(self.table)
            .index_name(self.index)
            .key_condition_expression(key_condition)
            .set_filter_expression(self.filter.clone())
            .set_expression_attribute_names(self.expr.names())
            .set_expression_attribute_values(self.expr.values())
            .scan_index_forward(!self.newest_first)
    }

    /// One page of at most `limit` items after `token`. The token is `None` only when nothing
    /// follows. A filtered page may hold fewer than `limit` items when the filter skips many.
    pub(super) async fn page(
        mut self,
        client: &Client,
        limit: u32,
        token: Option<&str>,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let mut start = token
            .map(|t| decode_token(t, self.key_attrs, (self.partition.0, &self.partition.1)))
            .transpose()?;
        let request = self.request(client);

        let mut items: Vec<Item> = Vec::new();
        for _ in 0..MAX_QUERY_ROUNDS {
            // One more than asked for tells whether anything follows without an empty last page.
            let wanted = limit + 1 - items.len();
            let ask = if self.filter.is_some() {
                wanted.max(FILTERED_READ_AHEAD)
            } else {
                wanted
            };
            let out = request
                .clone()
                .limit(i32::try_from(ask).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend(self.operation, "Query", self.table, e))?;
            items.extend(out.items.unwrap_or_default());
            if items.len() > limit {
                items.truncate(limit);
                let last = items.last().map(|i| key_of(i, self.key_attrs));
                return Ok((items, last.as_ref().map(encode_token)));
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok((items, None)),
            }
        }
        Ok((items, start.as_ref().map(encode_token)))
    }

    /// Up to `cap` items, in index order, however many pages that takes (no page tokens: for
    /// reads that want everything up to a bound, not a caller's paging).
    pub(super) async fn all<T>(
        mut self,
        client: &Client,
        cap: usize,
        decode: impl FnMut(Item) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let page_size = if self.filter.is_some() {
            FILTERED_READ_AHEAD.max(cap)
        } else {
            cap
        };
        let items = self
            .request(client)
            .limit(i32::try_from(page_size.clamp(1, MAX_PAGE as usize)).unwrap_or(i32::MAX))
            .into_paginator()
            .items()
            .send();
        collect_items(self.operation, "Query", self.table, items, cap, decode).await
    }
}

/// Reads a Query's or Scan's items through the SDK's paginator, which follows
/// `LastEvaluatedKey`, keeping at most `cap`: no further request is sent once `cap` items
/// are in (the paginator fetches a page only when asked for its next item).
pub(super) async fn collect_items<T, E, R>(
    operation: &'static str,
    api: &str,
    table: &str,
    mut items: PaginationStream<Result<Item, SdkError<E, R>>>,
    cap: usize,
    mut decode: impl FnMut(Item) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let mut found = Vec::new();
    while found.len() < cap {
        match items.next().await {
            Some(item) => found.push(decode(
                item.map_err(|e| backend(operation, api, table, e))?,
            )?),
            None => break,
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use chrono::TimeZone;

    #[test]
    fn sort_time_is_fixed_width_and_orders_like_time() {
        let whole = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        let frac = whole + chrono::Duration::microseconds(120);
        assert_eq!(sort_time(whole), "2025-01-02T03:04:05.000000Z");
        assert_eq!(sort_time(frac), "2025-01-02T03:04:05.000120Z");
        assert!(sort_time(whole) < sort_time(frac));
        // chrono's serde format orders these wrongly ("05Z" > "05.000120Z").
        let serde = |t: DateTime<Utc>| serde_json::to_string(&t).unwrap();
        assert!(serde(whole) > serde(frac));
    }

    #[test]
    fn ttl_rounds_up_to_the_next_second() {
        let whole = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(
            ttl_epoch(whole),
            AttributeValue::N(whole.timestamp().to_string())
        );
        let frac = whole + chrono::Duration::milliseconds(1);
        assert_eq!(
            ttl_epoch(frac),
            AttributeValue::N((whole.timestamp() + 1).to_string())
        );
    }

    #[test]
    fn tokens_round_trip_and_reject_what_we_did_not_issue() {
        let attrs = ["pk", "kind", "added_key"];
        let key: Item = [("pk", "cert#ab"), ("kind", "cert"), ("added_key", "t#ab")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), s(v)))
            .collect();
        let token = encode_token(&key);
        assert_eq!(decode_token(&token, &attrs, ("kind", "cert")).unwrap(), key);

        let invalid = |t: &str, fixed| {
            matches!(
                decode_token(t, &attrs, fixed),
                Err(StoreError::InvalidPageToken)
            )
        };
        assert!(invalid(&token, ("kind", "key")), "token of another listing");
        assert!(invalid("not base64!", ("kind", "cert")));
        assert!(invalid(&URL_SAFE_NO_PAD.encode("[1,2]"), ("kind", "cert")));
        let other_attrs = URL_SAFE_NO_PAD.encode(r#"{"pk":"x","kind":"cert"}"#);
        assert!(invalid(&other_attrs, ("kind", "cert")));
        assert!(invalid(&"A".repeat(5000), ("kind", "cert")));
    }

    #[test]
    fn expressions_share_placeholders() {
        let mut e = Expr::new();
        e.set("sns.state", s("queued"));
        e.remove("lease_sns_owner");
        e.add_to("sns.attempts", 1);
        e.set_or_remove("note", None);
        assert_eq!(
            e.update_expression(),
            "SET #sns.#state = :v0, #sns.#attempts = #sns.#attempts + :v1 \
             REMOVE #lease_sns_owner, #note"
        );
        assert_eq!(e.names().unwrap().len(), 5);
        assert!(Expr::new().values().is_none());
    }
}
