//! The inventory table: authorized certificates (`pk = cert#<tbs sha256>`) and keys
//! (`pk = key#<spki sha256>`) in one table, so that one BatchGetItem answers for a page of
//! issuances. The `by-kind` index lists each kind newest first.

use std::collections::HashSet;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::{
    Expr, IndexQuery, Item, backend, decode, encode, s, string_attr, time_key, ttl_epoch,
};
use super::{BATCH_GET_MAX, DynamoStore};
use crate::hash::Sha256Hash;
use crate::model::{AuthorizedKey, InventoryCert};
use crate::store::{Authorized, InventoryStore, Page, PageRequest, PutOutcome, StoreError};

const PK: &str = "pk";
const KIND: &str = "kind";
const ADDED_KEY: &str = "added_key";
const TTL: &str = "ttl_epoch";
const BY_KIND: &str = "by-kind";
const BY_KIND_KEYS: &[&str] = &[PK, KIND, ADDED_KEY];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cert,
    Key,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Cert => "cert",
            Kind::Key => "key",
        }
    }

    fn entity(self) -> &'static str {
        match self {
            Kind::Cert => "inventory certificate",
            Kind::Key => "authorized key",
        }
    }

    fn pk(self, hash: &Sha256Hash) -> String {
        format!("{}#{}", self.as_str(), hash.to_hex())
    }
}

fn parse_pk(pk: &str) -> Option<(Kind, Sha256Hash)> {
    let (kind, hex) = pk.split_once('#')?;
    let kind = match kind {
        "cert" => Kind::Cert,
        "key" => Kind::Key,
        _ => return None,
    };
    Some((kind, hex.parse().ok()?))
}

impl DynamoStore {
    /// Upsert keeping the stored `added_at` (and so the listing position): one UpdateItem that
    /// sets every attribute, `added_at`/`added_key` only if absent, and returns the old item.
    async fn upsert<T: Serialize>(
        &self,
        operation: &'static str,
        kind: Kind,
        hash: &Sha256Hash,
        record: &T,
        added_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(PutOutcome, DateTime<Utc>), StoreError> {
        let table = &self.tables.inventory;
        let mut expr = Expr::new();
        for (attr, value) in encode(operation, record)? {
            match attr.as_str() {
                "added_at" => expr.set_if_absent(&attr, value),
                _ => expr.set_or_remove(&attr, Some(value)),
            }
        }
        expr.set(KIND, s(kind.as_str()));
        expr.set_if_absent(ADDED_KEY, s(time_key(added_at, &hash.to_hex())));
        expr.set_or_remove(TTL, expires_at.map(ttl_epoch));
        let out = self
            .client
            .update_item()
            .table_name(table)
            .key(PK, s(kind.pk(hash)))
            .update_expression(expr.update_expression())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend(operation, "UpdateItem", table, e))?;
        match out.attributes.filter(|a| !a.is_empty()) {
            None => Ok((PutOutcome::Created, added_at)),
            Some(old) => {
                let kept = old
                    .get("added_at")
                    .cloned()
                    .ok_or_else(|| "no added_at".to_owned())
                    .and_then(|v| {
                        serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(v)
                            .map_err(|e| e.to_string())
                    })
                    .map_err(|message| StoreError::Corrupt {
                        entity: kind.entity(),
                        key: hash.to_hex(),
                        message,
                    })?;
                Ok((PutOutcome::Updated, kept))
            }
        }
    }

    async fn get_record<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        kind: Kind,
        hash: &Sha256Hash,
    ) -> Result<Option<T>, StoreError> {
        let table = &self.tables.inventory;
        let item = self
            .get_consistent(operation, table, (PK.to_owned(), s(kind.pk(hash))))
            .await?;
        item.map(|item| decode(kind.entity(), hash, item))
            .transpose()
    }

    async fn delete_record(
        &self,
        operation: &'static str,
        kind: Kind,
        hash: &Sha256Hash,
    ) -> Result<bool, StoreError> {
        let table = &self.tables.inventory;
        let out = self
            .client
            .delete_item()
            .table_name(table)
            .key(PK, s(kind.pk(hash)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend(operation, "DeleteItem", table, e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn list_kind<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        kind: Kind,
        name: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let mut expr = Expr::new();
        // A filter reads (and pays for) the certificates it skips; see infra/DATA_MODEL.md.
        let filter = name.map(|name| {
            let n = expr.name("dns_names");
            let v = expr.value(s(name));
            format!("contains({n}, {v})")
        });
        let query = IndexQuery {
            operation,
            table: &self.tables.inventory,
            index: BY_KIND,
            key_attrs: BY_KIND_KEYS,
            partition: (KIND, kind.as_str().to_owned()),
            sort_attr: ADDED_KEY,
            sort_from: None,
            filter,
            expr,
            newest_first: true,
        };
        let (items, next_token) = query
            .page(&self.client, page.limit, page.token.as_deref())
            .await?;
        let items = items
            .into_iter()
            .map(|item| {
                let key = string_attr(&item, PK).unwrap_or_default().to_owned();
                decode(kind.entity(), key, item)
            })
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_token })
    }

    /// One BatchGetItem (≤ 100 keys) of the lookup's projection.
    async fn batch_get_inventory(&self, keys: &[String]) -> Result<Vec<Item>, StoreError> {
        const OP: &str = "lookup";
        let key_items = keys
            .iter()
            .map(|pk| [(PK.to_owned(), s(pk.as_str()))].into_iter().collect())
            .collect();
        let request = KeysAndAttributes::builder()
            .set_keys(Some(key_items))
            .projection_expression("#pk, #exp")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#exp", "expires_at")
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Backend {
                operation: OP,
                message: format!("cannot build BatchGetItem: {e}"),
            })?;
        self.batch_get(OP, &self.tables.inventory, request).await
    }
}

fn expired(item: &Item, key: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    match item.get("expires_at") {
        None | Some(AttributeValue::Null(_)) => Ok(false),
        Some(AttributeValue::S(t)) => DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc) <= now)
            .map_err(|e| StoreError::Corrupt {
                entity: "inventory record",
                key: key.to_owned(),
                message: format!("expires_at: {e}"),
            }),
        Some(_) => Err(StoreError::Corrupt {
            entity: "inventory record",
            key: key.to_owned(),
            message: "expires_at is not a string".to_owned(),
        }),
    }
}

impl InventoryStore for DynamoStore {
    async fn put_cert(
        &self,
        cert: &InventoryCert,
    ) -> Result<(PutOutcome, InventoryCert), StoreError> {
        let (outcome, added_at) = self
            .upsert(
                "put_cert",
                Kind::Cert,
                &cert.tbs_sha256,
                cert,
                cert.added_at,
                cert.expires_at,
            )
            .await?;
        Ok((
            outcome,
            InventoryCert {
                added_at,
                ..cert.clone()
            },
        ))
    }

    async fn get_cert(&self, tbs: &Sha256Hash) -> Result<Option<InventoryCert>, StoreError> {
        self.get_record("get_cert", Kind::Cert, tbs).await
    }

    async fn list_certs(
        &self,
        name: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<InventoryCert>, StoreError> {
        self.list_kind("list_certs", Kind::Cert, name, page).await
    }

    async fn delete_cert(&self, tbs: &Sha256Hash) -> Result<bool, StoreError> {
        self.delete_record("delete_cert", Kind::Cert, tbs).await
    }

    async fn put_key(
        &self,
        key: &AuthorizedKey,
    ) -> Result<(PutOutcome, AuthorizedKey), StoreError> {
        let (outcome, added_at) = self
            .upsert(
                "put_key",
                Kind::Key,
                &key.pubkey_sha256,
                key,
                key.added_at,
                key.expires_at,
            )
            .await?;
        Ok((
            outcome,
            AuthorizedKey {
                added_at,
                ..key.clone()
            },
        ))
    }

    async fn list_keys(&self, page: &PageRequest) -> Result<Page<AuthorizedKey>, StoreError> {
        self.list_kind("list_keys", Kind::Key, None, page).await
    }

    async fn delete_key(&self, pubkey: &Sha256Hash) -> Result<bool, StoreError> {
        self.delete_record("delete_key", Kind::Key, pubkey).await
    }

    async fn lookup(
        &self,
        tbs: &[Sha256Hash],
        pubkeys: &[Sha256Hash],
        now: DateTime<Utc>,
    ) -> Result<Authorized, StoreError> {
        // BatchGetItem rejects duplicate keys, and a page often repeats a key.
        let mut seen = HashSet::new();
        let keys: Vec<String> = tbs
            .iter()
            .map(|h| Kind::Cert.pk(h))
            .chain(pubkeys.iter().map(|h| Kind::Key.pk(h)))
            .filter(|pk| seen.insert(pk.clone()))
            .collect();
        let mut authorized = Authorized::default();
        for chunk in keys.chunks(BATCH_GET_MAX) {
            for item in self.batch_get_inventory(chunk).await? {
                let pk = string_attr(&item, PK).unwrap_or_default();
                let Some((kind, hash)) = parse_pk(pk) else {
                    return Err(StoreError::Corrupt {
                        entity: "inventory record",
                        key: pk.to_owned(),
                        message: "unexpected key".to_owned(),
                    });
                };
                if expired(&item, pk, now)? {
                    continue;
                }
                match kind {
                    Kind::Cert => authorized.tbs.insert(hash),
                    Kind::Key => authorized.pubkeys.insert(hash),
                };
            }
        }
        Ok(authorized)
    }
}
