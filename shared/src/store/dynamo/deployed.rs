//! Expiry tracking in the inventory table: one item per DNS name (`pk = name#<name>`) holding
//! the latest-expiring certificate deployed for it. The sparse **by-expiry** index
//! (`expiry_feed` = `name`, `expiry_key` = `<not_after>#<name>`) holds only these items, so
//! the poller finds the names about to expire without a renewal in one bounded Query.
//! These items carry no `kind`: the **by-kind** listings never see them.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnValue};
use chrono::{DateTime, Utc};

use super::codec::{
    Expr, Item, backend, collect_items, s, sort_time, string_attr, time_key, ttl_epoch,
};
use super::{BATCH_GET_MAX, DynamoStore};
use crate::hash::Sha256Hash;
use crate::model::{Deployed, InventoryCert};
use crate::rules::deployed_names;
use crate::store::StoreError;

const PK: &str = "pk";
const TBS: &str = "tbs_sha256";
const NOT_AFTER: &str = "not_after";
const FEED: &str = "expiry_feed";
const FEED_VALUE: &str = "name";
const KEY: &str = "expiry_key";
const TTL: &str = "ttl_epoch";
const BY_EXPIRY: &str = "by-expiry";

fn name_pk(name: &str) -> String {
    format!("name#{name}")
}

fn corrupt(key: &str, message: &str) -> StoreError {
    StoreError::Corrupt {
        entity: "expiry record",
        key: key.to_owned(),
        message: message.to_owned(),
    }
}

fn decode_deployed(item: &Item) -> Result<Deployed, StoreError> {
    let pk = string_attr(item, PK).unwrap_or_default();
    let name = pk
        .strip_prefix("name#")
        .ok_or_else(|| corrupt(pk, "unexpected key"))?;
    let tbs = string_attr(item, TBS)
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| corrupt(pk, "tbs_sha256 is not a hash"))?;
    let not_after = string_attr(item, NOT_AFTER)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| corrupt(pk, "not_after is not a time"))?
        .with_timezone(&Utc);
    Ok(Deployed {
        name: name.to_owned(),
        tbs_sha256: tbs,
        not_after,
    })
}

impl DynamoStore {
    /// One conditional UpdateItem per tracked name: written when absent, when it is this
    /// certificate's, or when this one expires later (`not_after` is fixed-width, so the
    /// string comparison is the time comparison); the old item names what it replaced.
    pub(super) async fn record_deployed_names(
        &self,
        cert: &InventoryCert,
    ) -> Result<Vec<Sha256Hash>, StoreError> {
        const OP: &str = "record_deployed";
        let Some(not_after) = cert.not_after else {
            return Ok(Vec::new());
        };
        let table = &self.tables.inventory;
        let tbs = cert.tbs_sha256.to_hex();
        let mut replaced = Vec::new();
        for name in deployed_names(&cert.dns_names) {
            let mut expr = Expr::new();
            expr.set(TBS, s(tbs.as_str()));
            expr.set(NOT_AFTER, s(sort_time(not_after)));
            expr.set(FEED, s(FEED_VALUE));
            expr.set(KEY, s(time_key(not_after, &name)));
            // The record goes with the certificate's own retention.
            expr.set_or_remove(TTL, cert.expires_at.map(ttl_epoch));
            let (pk, tbs_n, na) = (expr.name(PK), expr.name(TBS), expr.name(NOT_AFTER));
            let tbs_v = expr.value(s(tbs.as_str()));
            let na_v = expr.value(s(sort_time(not_after)));
            let condition =
                format!("attribute_not_exists({pk}) OR {tbs_n} = {tbs_v} OR {na} < {na_v}");
            let key = (PK.to_owned(), s(name_pk(&name)));
            // A failed condition: a certificate expiring later is recorded for this name, and
            // it stays.
            if let Ok(old) = self
                .update_if(OP, table, key, &expr, condition, ReturnValue::AllOld)
                .await?
            {
                let old = old
                    .filter(|a| !a.is_empty())
                    .and_then(|a| string_attr(&a, TBS).and_then(|h| h.parse().ok()));
                if let Some(old) = old
                    && old != cert.tbs_sha256
                    && !replaced.contains(&old)
                {
                    replaced.push(old);
                }
            }
        }
        Ok(replaced)
    }

    /// After the certificate's deletion: removes the names' records that are still its own.
    pub(super) async fn forget_deployed_names(
        &self,
        tbs: &Sha256Hash,
        names: &[String],
    ) -> Result<(), StoreError> {
        const OP: &str = "delete_cert";
        let table = &self.tables.inventory;
        for name in deployed_names(names) {
            let result = self
                .client
                .delete_item()
                .table_name(table)
                .key(PK, s(name_pk(&name)))
                .condition_expression("#t = :t")
                .expression_attribute_names("#t", TBS)
                .expression_attribute_values(":t", s(tbs.to_hex()))
                .send()
                .await;
            match result {
                Ok(_) => {}
                // Absent, or another certificate's: not ours to remove.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(DeleteItemError::is_conditional_check_failed_exception) => {}
                Err(e) => return Err(backend(OP, "DeleteItem", table, e)),
            }
        }
        Ok(())
    }

    /// Query **by-expiry** for `expiry_key` BETWEEN the two times, soonest first, at most
    /// `limit` items read (no filter: every item read is returned).
    pub(super) async fn list_expiring_names(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Deployed>, StoreError> {
        const OP: &str = "list_expiring";
        let table = &self.tables.inventory;
        if limit == 0 || until < from {
            return Ok(Vec::new());
        }
        let mut expr = Expr::new();
        let feed = expr.name(FEED);
        let feed_v = expr.value(s(FEED_VALUE));
        let key = expr.name(KEY);
        // `#` sorts before every name character, `~` after the ones a name has.
        let lo = expr.value(s(time_key(from, "")));
        let hi = expr.value(s(time_key(until, "~")));
        let items = self
            .client
            .query()
            .table_name(table)
            .index_name(BY_EXPIRY)
            .key_condition_expression(format!("{feed} = {feed_v} AND {key} BETWEEN {lo} AND {hi}"))
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .into_paginator()
            .items()
            .send();
        collect_items(OP, "Query", table, items, limit as usize, |item| {
            decode_deployed(&item)
        })
        .await
    }

    /// BatchGetItem of the names' records, ≤ 100 keys a request, consistent reads.
    pub(super) async fn get_deployed_names(
        &self,
        names: &[String],
    ) -> Result<Vec<Deployed>, StoreError> {
        const OP: &str = "get_deployed";
        let mut seen = std::collections::HashSet::new();
        let keys: Vec<String> = names
            .iter()
            .map(|n| name_pk(n))
            .filter(|pk| seen.insert(pk.clone()))
            .collect();
        let mut found = Vec::new();
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk
                        .iter()
                        .map(|pk| [(PK.to_owned(), s(pk.as_str()))].into_iter().collect())
                        .collect(),
                ))
                .projection_expression("#pk, #tbs, #na")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#tbs", TBS)
                .expression_attribute_names("#na", NOT_AFTER)
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Backend {
                    operation: OP,
                    message: format!("cannot build BatchGetItem: {e}"),
                })?;
            for item in self.batch_get(OP, &self.tables.inventory, request).await? {
                found.push(decode_deployed(&item)?);
            }
        }
        Ok(found)
    }
}
