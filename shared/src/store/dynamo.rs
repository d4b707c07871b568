//! DynamoDB implementation of the store traits (production, and tests against the emulator).
//!
//! The key design (tables, keys, indexes, TTL, access patterns) is documented in
//! `infra/DATA_MODEL.md`; the table definitions live only in `template.yaml`.
//!
//! - [`codec`]: record encoding, fixed-width sort keys, page tokens, update expressions, errors.
//! - [`watches`], [`inventory`], [`alerts`]: one trait implementation per table.

use std::fmt;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure,
};

use super::StoreError;

mod alerts;
mod codec;
mod deployed;
mod inventory;
mod watches;

/// BatchGetItem takes at most 100 keys.
const BATCH_GET_MAX: usize = 100;
/// Rounds spent re-requesting UnprocessedKeys (throttling, or the 16 MB response limit)
/// before giving up.
const UNPROCESSED_ROUNDS: u32 = 6;

/// The physical names of the three tables (CloudFormation names them; see `template.yaml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub watches: String,
    pub inventory: String,
    pub alerts: String,
}

/// Environment variables naming the tables (set by the SAM template on each function).
pub const WATCHES_TABLE_ENV: &str = "WATCHES_TABLE";
pub const INVENTORY_TABLE_ENV: &str = "INVENTORY_TABLE";
pub const ALERTS_TABLE_ENV: &str = "ALERTS_TABLE";

/// A table-name variable is missing or empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} (a DynamoDB table name) is not set")]
pub struct MissingTableName(pub &'static str);

impl TableNames {
    /// Reads [`WATCHES_TABLE_ENV`], [`INVENTORY_TABLE_ENV`] and [`ALERTS_TABLE_ENV`].
    pub fn from_env() -> Result<Self, MissingTableName> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`TableNames::from_env`] over any variable source (testable without the process env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingTableName> {
        let read = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(MissingTableName(name))
        };
        Ok(Self {
            watches: read(WATCHES_TABLE_ENV)?,
            inventory: read(INVENTORY_TABLE_ENV)?,
            alerts: read(ALERTS_TABLE_ENV)?,
        })
    }
}

/// All three stores on DynamoDB. Cheap to clone (the SDK client is reference-counted).
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
}

impl DynamoStore {
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self { client, tables }
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// One item by key, read consistently (a record written just before must be seen).
    async fn get_consistent(
        &self,
        operation: &'static str,
        table: &str,
        key: (String, AttributeValue),
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key(key.0, key.1)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| codec::backend(operation, "GetItem", table, e))?;
        Ok(out.item)
    }

    /// One BatchGetItem (`request`: ≤ 100 keys, consistent reads) on `table`, re-requesting
    /// UnprocessedKeys with jittered backoff. Returns the items found, in no particular order.
    async fn batch_get(
        &self,
        operation: &'static str,
        table: &str,
        request: KeysAndAttributes,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut request = Some(request);
        let mut found = Vec::new();
        for round in 0..UNPROCESSED_ROUNDS {
            let Some(req) = request.take() else {
                return Ok(found);
            };
            if round > 0 {
                let base = 25u64 << round.min(6);
                tokio::time::sleep(Duration::from_millis(base / 2 + fastrand::u64(0..=base))).await;
            }
            let out = self
                .client
                .batch_get_item()
                .request_items(table, req)
                .send()
                .await
                .map_err(|e| codec::backend(operation, "BatchGetItem", table, e))?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(table).unwrap_or_default());
            }
            request = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .filter(|k| !k.keys().is_empty());
        }
        match request {
            None => Ok(found),
            Some(left) => Err(StoreError::Backend {
                operation,
                message: format!(
                    "DynamoDB BatchGetItem on {table}: {} keys still unprocessed after {UNPROCESSED_ROUNDS} rounds",
                    left.keys().len()
                ),
            }),
        }
    }

    /// UpdateItem `expr` on `key` under `condition`: `Ok(Ok(item))` when applied (the item as
    /// `return_values` asks), `Ok(Err(item))` when the condition did not hold (the item as it
    /// was, if any) — for every conditional update here a failed condition is an answer, not
    /// an error.
    async fn update_if(
        &self,
        operation: &'static str,
        table: &str,
        key: (String, AttributeValue),
        expr: &codec::Expr,
        condition: String,
        return_values: ReturnValue,
    ) -> Result<Result<Option<codec::Item>, Option<codec::Item>>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(table)
            .key(key.0, key.1)
            .update_expression(expr.update_expression())
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(return_values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Ok(out.attributes)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
            {
                match e.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(c) => Ok(Err(c.item)),
                    _ => Ok(Err(None)),
                }
            }
            Err(e) => Err(codec::backend(operation, "UpdateItem", table, e)),
        }
    }

    /// PutItem unless an item with this key exists; `Ok(false)` when one does.
    async fn put_if_absent(
        &self,
        operation: &'static str,
        table: &str,
        key_attribute: &str,
        item: HashMap<String, AttributeValue>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", key_attribute)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(codec::write_failure(operation, "PutItem", table, e)),
        }
    }
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("tables", &self.tables)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_from_lookup_names_the_missing_variable() {
        let all = |name: &str| Some(format!("t-{name}"));
        let names = TableNames::from_lookup(all).unwrap();
        assert_eq!(names.alerts, "t-ALERTS_TABLE");

        let no_alerts = |name: &str| (name != ALERTS_TABLE_ENV).then(|| "x".to_owned());
        assert_eq!(
            TableNames::from_lookup(no_alerts),
            Err(MissingTableName(ALERTS_TABLE_ENV))
        );
        let blank = |_: &str| Some("  ".to_owned());
        assert_eq!(
            TableNames::from_lookup(blank),
            Err(MissingTableName(WATCHES_TABLE_ENV))
        );
    }
}
