//! The inventory table: authorized certificates (`pk = cert#<tbs sha256>`) and keys
//! (`pk = key#<spki sha256>`) in one table, so that one BatchGetItem answers for a page of
//! issuances. The `by-kind` index lists each kind newest first.

use std::collections::HashSet;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::{
    Expr, IndexQuery, Item, backend, collect_items, decode, encode, encode_value, s, string_attr,
    strip_nulls, time_key, ttl_epoch,
};
use super::{BATCH_GET_MAX, DynamoStore};
use crate::hash::Sha256Hash;
use crate::model::{AuthorizedKey, Compromise, Deployed, InventoryCert};
use crate::store::{Authorized, InventoryStore, Page, PageRequest, PutOutcome, StoreError};

const PK: &str = "pk";
const SOURCES: &str = "sources";
/// Attempts of a push whose record is deleted (by an admin) between its two steps.
const PUSH_ATTEMPTS: u32 = 3;
const KIND: &str = "kind";
const ADDED_KEY: &str = "added_key";
const TTL: &str = "ttl_epoch";
const BY_KIND: &str = "by-kind";
const BY_KIND_KEYS: &[&str] = &[PK, KIND, ADDED_KEY];
const CT_SEEN_AT: &str = "ct_seen_at";
const NOT_LOGGED_ALERTED_AT: &str = "not_logged_alerted_at";
const COMPROMISED: &str = "compromised";

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

/// The inventory's two record types, written the same way (upsert, append-only push).
trait Record: Serialize + DeserializeOwned + Clone {
    const KIND: Kind;
    fn hash(&self) -> &Sha256Hash;
    fn added_at(&mut self) -> &mut DateTime<Utc>;
    fn expires_at(&self) -> Option<DateTime<Utc>>;
    /// The pushing caller, and every caller whose push the record accepted.
    fn sources(&mut self) -> (&str, &mut Vec<String>);
}

impl Record for InventoryCert {
    const KIND: Kind = Kind::Cert;
    fn hash(&self) -> &Sha256Hash {
        &self.tbs_sha256
    }
    fn added_at(&mut self) -> &mut DateTime<Utc> {
        &mut self.added_at
    }
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    fn sources(&mut self) -> (&str, &mut Vec<String>) {
        (&self.source, &mut self.sources)
    }
}

impl Record for AuthorizedKey {
    const KIND: Kind = Kind::Key;
    fn hash(&self) -> &Sha256Hash {
        &self.pubkey_sha256
    }
    fn added_at(&mut self) -> &mut DateTime<Utc> {
        &mut self.added_at
    }
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    fn sources(&mut self) -> (&str, &mut Vec<String>) {
        (&self.source, &mut self.sources)
    }
}

impl DynamoStore {
    /// Upsert keeping the stored `added_at` (and so the listing position): one UpdateItem that
    /// sets every attribute, `added_at`/`added_key` only if absent, and returns the old item.
    /// The record as stored comes back (its `added_at` the stored one).
    async fn upsert<T: Record>(
        &self,
        operation: &'static str,
        record: &T,
    ) -> Result<(PutOutcome, T), StoreError> {
        let (kind, hash) = (T::KIND, record.hash());
        let mut stored = record.clone();
        let added_at = *stored.added_at();
        let expires_at = record.expires_at();
        let table = &self.tables.inventory;
        let mut expr = Expr::new();
        for (attr, value) in encode(operation, record)? {
            match attr.as_str() {
                "added_at" => expr.set_if_absent(&attr, value),
                // Written by the poller, or by `mark_compromised`: a re-push must not erase them.
                CT_SEEN_AT | NOT_LOGGED_ALERTED_AT | COMPROMISED => {
                    if !matches!(value, AttributeValue::Null(_)) {
                        expr.set_if_absent(&attr, value);
                    }
                }
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
            None => Ok((PutOutcome::Created, stored)),
            Some(old) => {
                *stored.added_at() = old
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
                Ok((PutOutcome::Updated, stored))
            }
        }
    }

    /// The append-only push. Step 1: PutItem only if the key is absent (→ Created). Step 2:
    /// one UpdateItem that names nothing but `sources` (appends `source` unless present),
    /// conditional on the item existing, so no other attribute of a stored record can change
    /// whatever the caller sent. A record deleted between the steps is created again.
    async fn push_record<T: Record>(
        &self,
        operation: &'static str,
        record: &T,
    ) -> Result<(PutOutcome, T), StoreError> {
        let mut record = record.clone();
        let (source, sources) = record.sources();
        let source = source.to_owned();
        crate::store::add_source(sources, &source);
        let (kind, hash) = (T::KIND, &record.hash().clone());
        let (added_at, expires_at) = (*record.added_at(), record.expires_at());
        let table = &self.tables.inventory;
        let mut item = strip_nulls(encode(operation, &record)?);
        item.insert(PK.to_owned(), s(kind.pk(hash)));
        item.insert(KIND.to_owned(), s(kind.as_str()));
        item.insert(ADDED_KEY.to_owned(), s(time_key(added_at, &hash.to_hex())));
        if let Some(t) = expires_at {
            item.insert(TTL.to_owned(), ttl_epoch(t));
        }
        let mut expr = Expr::new();
        expr.append(SOURCES, vec![s(source.as_str())]);
        let (src, pk) = (expr.name(SOURCES), expr.name(PK));
        let label = expr.value(s(source.as_str()));
        let condition = format!("attribute_exists({pk}) AND NOT contains({src}, {label})");
        for _ in 0..PUSH_ATTEMPTS {
            if self
                .put_if_absent(operation, table, PK, item.clone())
                .await?
            {
                return Ok((PutOutcome::Created, decode(kind.entity(), hash, item)?));
            }
            let key = (PK.to_owned(), s(kind.pk(hash)));
            // A failed condition: already among the sources (nothing to change; the item is
            // the stored record), or deleted since the put (no item: try again).
            let stored = match self
                .update_if(
                    operation,
                    table,
                    key,
                    &expr,
                    condition.clone(),
                    ReturnValue::AllNew,
                )
                .await?
            {
                Ok(applied) => applied,
                Err(unchanged) => unchanged,
            };
            if let Some(stored) = stored.filter(|i| !i.is_empty()) {
                return Ok((PutOutcome::Updated, decode(kind.entity(), hash, stored)?));
            }
        }
        Err(StoreError::Backend {
            operation,
            message: format!(
                "{} {hash} was deleted while being pushed, {PUSH_ATTEMPTS} times",
                kind.entity()
            ),
        })
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
    ) -> Result<Option<Item>, StoreError> {
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
        Ok(out.attributes.filter(|a| !a.is_empty()))
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
            .projection_expression("#pk, #exp, #names, #cert, #comp")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#comp", COMPROMISED)
            .expression_attribute_names("#exp", "expires_at")
            .expression_attribute_names("#names", "dns_names")
            .expression_attribute_names("#cert", "cert_sha256")
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

/// `compromised` of a looked-up key (absent: not compromised).
fn compromise_attr(item: &Item, key: &str) -> Result<Option<Compromise>, StoreError> {
    match item.get(COMPROMISED) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(v) => serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(v.clone())
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                entity: "authorized key",
                key: key.to_owned(),
                message: format!("compromised: {e}"),
            }),
    }
}

/// `dns_names` of a looked-up record (absent: none).
fn names_attr(item: &Item, key: &str) -> Result<Vec<String>, StoreError> {
    let corrupt = || StoreError::Corrupt {
        entity: "inventory record",
        key: key.to_owned(),
        message: "dns_names is not a list of strings".to_owned(),
    };
    match item.get("dns_names") {
        None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| match v {
                AttributeValue::S(name) => Ok(name.clone()),
                _ => Err(corrupt()),
            })
            .collect(),
        Some(_) => Err(corrupt()),
    }
}

impl DynamoStore {
    /// Sets a time attribute on an existing certificate record (`if_absent`: first wins).
    async fn set_cert_time(
        &self,
        operation: &'static str,
        tbs: &Sha256Hash,
        attr: &str,
        at: DateTime<Utc>,
        if_absent: bool,
    ) -> Result<(), StoreError> {
        let table = &self.tables.inventory;
        let mut expr = Expr::new();
        let value = encode_value(operation, &at)?;
        if if_absent {
            expr.set_if_absent(attr, value);
        } else {
            expr.set(attr, value);
        }
        let pk = expr.name(PK);
        let key = (PK.to_owned(), s(Kind::Cert.pk(tbs)));
        // A failed condition: deleted meanwhile, nothing to record and no record to resurrect.
        self.update_if(
            operation,
            table,
            key,
            &expr,
            format!("attribute_exists({pk})"),
            ReturnValue::None,
        )
        .await?
        .ok();
        Ok(())
    }
}

impl InventoryStore for DynamoStore {
    async fn mark_ct_seen(&self, tbs: &Sha256Hash, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.set_cert_time("mark_ct_seen", tbs, CT_SEEN_AT, at, true)
            .await
    }

    async fn mark_not_logged_alerted(
        &self,
        tbs: &Sha256Hash,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.set_cert_time(
            "mark_not_logged_alerted",
            tbs,
            NOT_LOGGED_ALERTED_AT,
            at,
            false,
        )
        .await
    }

    /// Query **by-kind** (`cert`) for `added_key` BETWEEN the two times, oldest first, with a
    /// filter (it reads what it skips: the range is bounded by the caller's look-back).
    async fn list_unlogged(
        &self,
        added_from: DateTime<Utc>,
        added_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<InventoryCert>, StoreError> {
        const OP: &str = "list_unlogged";
        let table = &self.tables.inventory;
        let mut expr = Expr::new();
        let kind = expr.name(KIND);
        let kind_v = expr.value(s(Kind::Cert.as_str()));
        let added = expr.name(ADDED_KEY);
        // `#` sorts before every hex digit, `~` after: the bounds cover every hash at that time.
        let from = expr.value(s(time_key(added_from, "")));
        let until = expr.value(s(time_key(added_until, "~")));
        let has_scts = expr.name("has_scts");
        let yes = expr.value(AttributeValue::Bool(true));
        let seen = expr.name(CT_SEEN_AT);
        let alerted = expr.name(NOT_LOGGED_ALERTED_AT);
        let items = self
            .client
            .query()
            .table_name(table)
            .index_name(BY_KIND)
            .key_condition_expression(format!(
                "{kind} = {kind_v} AND {added} BETWEEN {from} AND {until}"
            ))
            .filter_expression(format!(
                "{has_scts} = {yes} AND attribute_not_exists({seen}) AND \
                 attribute_not_exists({alerted})"
            ))
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .into_paginator()
            .items()
            .send();
        collect_items(OP, "Query", table, items, limit as usize, |item| {
            let key = string_attr(&item, PK).unwrap_or_default().to_owned();
            decode(Kind::Cert.entity(), key, item)
        })
        .await
    }

    async fn put_cert(
        &self,
        cert: &InventoryCert,
    ) -> Result<(PutOutcome, InventoryCert), StoreError> {
        self.upsert("put_cert", cert).await
    }

    async fn push_cert(
        &self,
        cert: &InventoryCert,
    ) -> Result<(PutOutcome, InventoryCert), StoreError> {
        self.push_record("push_cert", cert).await
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
        let Some(old) = self.delete_record("delete_cert", Kind::Cert, tbs).await? else {
            return Ok(false);
        };
        let names = names_attr(&old, &Kind::Cert.pk(tbs))?;
        self.forget_deployed_names(tbs, &names).await?;
        Ok(true)
    }

    async fn record_deployed(&self, cert: &InventoryCert) -> Result<Vec<Sha256Hash>, StoreError> {
        self.record_deployed_names(cert).await
    }

    async fn list_expiring(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Deployed>, StoreError> {
        self.list_expiring_names(from, until, limit).await
    }

    async fn get_deployed(&self, names: &[String]) -> Result<Vec<Deployed>, StoreError> {
        self.get_deployed_names(names).await
    }

    async fn put_key(
        &self,
        key: &AuthorizedKey,
    ) -> Result<(PutOutcome, AuthorizedKey), StoreError> {
        self.upsert("put_key", key).await
    }

    async fn push_key(
        &self,
        key: &AuthorizedKey,
    ) -> Result<(PutOutcome, AuthorizedKey), StoreError> {
        self.push_record("push_key", key).await
    }

    async fn list_keys(&self, page: &PageRequest) -> Result<Page<AuthorizedKey>, StoreError> {
        self.list_kind("list_keys", Kind::Key, None, page).await
    }

    async fn delete_key(&self, pubkey: &Sha256Hash) -> Result<bool, StoreError> {
        Ok(self
            .delete_record("delete_key", Kind::Key, pubkey)
            .await?
            .is_some())
    }

    /// One UpdateItem: every field of `key` only if absent (a new record), `compromised` set,
    /// the expiry and TTL removed; the old item tells Created from Updated.
    async fn mark_compromised(
        &self,
        key: &AuthorizedKey,
    ) -> Result<(PutOutcome, AuthorizedKey), StoreError> {
        const OP: &str = "mark_compromised";
        let table = &self.tables.inventory;
        let hash = &key.pubkey_sha256;
        let mut expr = Expr::new();
        for (attr, value) in strip_nulls(encode(OP, key)?) {
            match attr.as_str() {
                COMPROMISED => expr.set(&attr, value),
                "expires_at" => {}
                _ => expr.set_if_absent(&attr, value),
            }
        }
        expr.remove("expires_at");
        expr.remove(TTL);
        expr.set(KIND, s(Kind::Key.as_str()));
        expr.set_if_absent(ADDED_KEY, s(time_key(key.added_at, &hash.to_hex())));
        let out = self
            .client
            .update_item()
            .table_name(table)
            .key(PK, s(Kind::Key.pk(hash)))
            .update_expression(expr.update_expression())
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend(OP, "UpdateItem", table, e))?;
        match out.attributes.filter(|a| !a.is_empty()) {
            None => Ok((PutOutcome::Created, key.clone())),
            Some(old) => {
                let mut stored: AuthorizedKey = decode(Kind::Key.entity(), hash, old)?;
                stored.compromised.clone_from(&key.compromised);
                stored.expires_at = None;
                Ok((PutOutcome::Updated, stored))
            }
        }
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
                // Checked before any authorization, and whatever the key's expiry.
                if let Some(mark) = compromise_attr(&item, pk)?
                    && kind == Kind::Key
                {
                    authorized.compromised.insert(hash, mark);
                    continue;
                }
                if expired(&item, pk, now)? {
                    continue;
                }
                // The same rule as `InventoryCert::bound_names` / `AuthorizedKey::bound_names`.
                let names = names_attr(&item, pk)?;
                let from_certificate = matches!(item.get("cert_sha256"), Some(v) if !matches!(v, AttributeValue::Null(_)));
                match kind {
                    Kind::Cert => {
                        authorized.tbs.insert(hash);
                        if !names.is_empty() && !from_certificate {
                            authorized.bound_tbs.insert(hash, names);
                        }
                    }
                    Kind::Key => {
                        authorized.pubkeys.insert(hash);
                        if !names.is_empty() {
                            authorized.bound_keys.insert(hash, names);
                        }
                    }
                }
            }
        }
        Ok(authorized)
    }
}
