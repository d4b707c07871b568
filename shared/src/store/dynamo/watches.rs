//! The watch table: one item per watched domain (key `domain`), holding the Cert Spotter cursor.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::codec::{
    Expr, backend, collect_items, decode, encode, encode_value, s, string_attr, strip_nulls,
};
use crate::domain::WatchDomain;
use crate::model::WatchEntry;
use crate::store::{CursorUpdate, PollStatus, StoreError, WatchStore};

const ENTITY: &str = "watch entry";
const KEY: &str = "domain";

impl DynamoStore {
    fn watch_key(domain: &WatchDomain) -> (String, AttributeValue) {
        (KEY.to_owned(), s(domain.as_str()))
    }
}

impl DynamoStore {
    /// Applies `expr` to the entry if it still exists; `false` if it was deleted meanwhile
    /// (an update must never recreate a deleted entry).
    async fn update_existing_watch(
        &self,
        operation: &'static str,
        domain: &WatchDomain,
        mut expr: Expr,
    ) -> Result<bool, StoreError> {
        let pk = expr.name(KEY);
        let applied = self
            .update_if(
                operation,
                &self.tables.watches,
                Self::watch_key(domain),
                &expr,
                format!("attribute_exists({pk})"),
                ReturnValue::None,
            )
            .await?
            .is_ok();
        Ok(applied)
    }

    /// Sets one time attribute of an existing entry (no-op if the entry is gone).
    async fn set_watch_time(
        &self,
        operation: &'static str,
        domain: &WatchDomain,
        attr: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut expr = Expr::new();
        expr.set(attr, encode_value(operation, &at)?);
        self.update_existing_watch(operation, domain, expr).await?;
        Ok(())
    }
}

impl WatchStore for DynamoStore {
    async fn record_canary_issuance(
        &self,
        domain: &WatchDomain,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.set_watch_time(
            "record_canary_issuance",
            domain,
            "canary_last_issuance_at",
            at,
        )
        .await
    }

    async fn record_blind_alert(
        &self,
        domain: &WatchDomain,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.set_watch_time("record_blind_alert", domain, "blind_alerted_at", at)
            .await
    }

    async fn create_watch(&self, entry: &WatchEntry) -> Result<bool, StoreError> {
        const OP: &str = "create_watch";
        let table = &self.tables.watches;
        let item = strip_nulls(encode(OP, entry)?);
        self.put_if_absent(OP, table, KEY, item).await
    }

    async fn set_allowed_issuers(
        &self,
        domain: &WatchDomain,
        allowed_issuers: &[String],
    ) -> Result<bool, StoreError> {
        const OP: &str = "set_allowed_issuers";
        let mut expr = Expr::new();
        expr.set("allowed_issuers", encode_value(OP, &allowed_issuers)?);
        self.update_existing_watch(OP, domain, expr).await
    }

    async fn get_watch(&self, domain: &WatchDomain) -> Result<Option<WatchEntry>, StoreError> {
        const OP: &str = "get_watch";
        let table = &self.tables.watches;
        let item = self
            .get_consistent(OP, table, Self::watch_key(domain))
            .await?;
        item.map(|item| decode(ENTITY, domain, item)).transpose()
    }

    async fn list_watches(&self) -> Result<Vec<WatchEntry>, StoreError> {
        const OP: &str = "list_watches";
        let table = &self.tables.watches;
        let items = self
            .client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        // The whole watch list: the operator's, not bounded here.
        collect_items(OP, "Scan", table, items, usize::MAX, |item| {
            let key = string_attr(&item, KEY).unwrap_or_default().to_owned();
            decode(ENTITY, key, item)
        })
        .await
    }

    async fn delete_watch(&self, domain: &WatchDomain) -> Result<bool, StoreError> {
        const OP: &str = "delete_watch";
        let table = &self.tables.watches;
        let (k, v) = Self::watch_key(domain);
        let out = self
            .client
            .delete_item()
            .table_name(table)
            .key(k, v)
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend(OP, "DeleteItem", table, e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn advance_cursor(
        &self,
        domain: &WatchDomain,
        expected: Option<&str>,
        new: &str,
        now: DateTime<Utc>,
    ) -> Result<CursorUpdate, StoreError> {
        const OP: &str = "advance_cursor";
        let table = &self.tables.watches;
        let mut expr = Expr::new();
        expr.set("cursor", s(new));
        expr.set("cursor_updated_at", encode_value(OP, &now)?);
        // The entry must still exist (a deleted entry is not recreated by a late run).
        let pk = expr.name(KEY);
        let cursor = expr.name("cursor");
        let condition = match expected {
            None => format!("attribute_exists({pk}) AND attribute_not_exists({cursor})"),
            Some(expected) => {
                let v = expr.value(s(expected));
                format!("attribute_exists({pk}) AND {cursor} = {v}")
            }
        };
        let applied = self
            .update_if(
                OP,
                table,
                Self::watch_key(domain),
                &expr,
                condition,
                ReturnValue::None,
            )
            .await?
            .is_ok();
        Ok(if applied {
            CursorUpdate::Advanced
        } else {
            CursorUpdate::Conflict
        })
    }

    async fn record_poll(
        &self,
        domain: &WatchDomain,
        status: &PollStatus,
    ) -> Result<(), StoreError> {
        const OP: &str = "record_poll";
        let mut expr = Expr::new();
        expr.set("last_polled_at", encode_value(OP, &status.polled_at)?);
        if status.success {
            expr.set("last_success_at", encode_value(OP, &status.polled_at)?);
        }
        expr.set_or_remove("last_error", status.error.as_deref().map(s));
        expr.set_or_remove(
            "rate_limited_until",
            status
                .rate_limited_until
                .map(|t| encode_value(OP, &t))
                .transpose()?,
        );
        expr.set(
            "stalled_runs",
            AttributeValue::N(status.stalled_runs.to_string()),
        );
        expr.set_or_remove(
            "stuck_since",
            status
                .stuck_since
                .map(|t| encode_value(OP, &t))
                .transpose()?,
        );
        if let Some(at) = status.baseline_completed_at {
            expr.set("baseline_completed_at", encode_value(OP, &at)?);
        }
        // The entry was deleted meanwhile: bookkeeping must not recreate it.
        self.update_existing_watch(OP, domain, expr).await?;
        Ok(())
    }
}
