//! The storage contracts of `ctguard::store`, written once over the traits so they run against
//! every implementation: the DynamoDB store on the emulator (`tests/store_dynamo.rs`) and the
//! in-memory store. Each function takes a fresh, empty store.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ctguard::domain::WatchDomain;
use ctguard::hash::Sha256Hash;
use ctguard::matcher::EntryMatch;
use ctguard::model::{
    Acknowledgement, Alert, AuthorizedBy, AuthorizedKey, BackfillMode, Channel, Delivery,
    DeliveryState, InventoryCert, IssuerInfo, Reason, ReasonCode, Severity, WatchEntry,
};
use ctguard::store::{
    AlertFilter, AlertStore, CursorUpdate, DeliveryRecord, DeliveryResult, InventoryStore, Page,
    PageRequest, PollStatus, PutOutcome, StoreError, WatchStore,
};
use ctguard_core::fixtures::{authorized_key, inventory_cert, stored_alert};

/// One `#[tokio::test]` per plain contract (one that takes only `&store`), each on a fresh
/// store made by `$store` (an expression, awaited inside the test if it needs to be):
/// `store_contract_tests!(MemoryStore::new())`. The list is here, beside the contracts, so a new
/// one runs on every store; contracts that take more (an `Arc`, sizes, a multi-threaded
/// runtime) are written out in each store's test file.
#[macro_export]
macro_rules! store_contract_tests {
    ($store:expr) => {
        $crate::store_contract_tests!($store;
            watch_create_get_list_delete,
            cursor_compare_and_set,
            record_poll_keeps_cursor_and_never_resurrects,
            inventory_upsert_keeps_added_at,
            compromised_keys_authorize_nothing_and_stay_marked,
            inventory_lookup_binds_pushed_names,
            expiry_tracking_follows_the_latest_certificate,
            inventory_push_is_append_only,
            inventory_lists_page_and_filter,
            alert_keeps_caa_evidence,
            alert_create_if_absent,
            alert_listing_filters_and_pages,
            delivery_claims_and_records,
            delivery_skipped_is_not_an_attempt,
            delivery_lease_expires,
            batched_claims_and_records,
            acknowledge_alert,
            outbox_baseline_lists_an_entrys_queued_baseline_alerts,
        );
    };
    ($store:expr; $($contract:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $contract() {
                $crate::store_contract::$contract(&$store).await;
            }
        )+
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A fixed instant with a sub-second part, so variable-precision timestamps would misorder.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap() + Duration::microseconds(250)
}

pub fn domain(name: &str) -> WatchDomain {
    WatchDomain::parse(name).expect("valid test domain")
}

pub fn hash(tag: &str) -> Sha256Hash {
    Sha256Hash::digest(tag.as_bytes())
}

pub fn watch(name: &str) -> WatchEntry {
    WatchEntry::new(
        domain(name),
        Some(format!("note for {name}")),
        BackfillMode::Summary,
        t0(),
    )
}

pub fn cert(tag: &str, names: &[&str], added_at: DateTime<Utc>) -> InventoryCert {
    InventoryCert {
        pubkey_sha256: Some(hash(&format!("spki-{tag}"))),
        cert_sha256: Some(hash(&format!("cert-{tag}"))),
        not_before: Some(added_at - Duration::days(1)),
        not_after: Some(added_at + Duration::days(89)),
        serial: Some(format!("0a:{tag}")),
        issuer: Some("CN=Test CA".to_owned()),
        ..inventory_cert(hash(&format!("tbs-{tag}")), names, "lb:host-1", added_at)
    }
}

pub fn key(tag: &str, added_at: DateTime<Utc>) -> AuthorizedKey {
    AuthorizedKey {
        note: Some(format!("key {tag}")),
        ..authorized_key(hash(&format!("key-{tag}")), &[], "operator", added_at)
    }
}

/// An unauthorized alert for `domains` first seen at `seen`, both channels queued.
pub fn alert(tag: &str, severity: Severity, domains: &[&str], seen: DateTime<Utc>) -> Alert {
    let names: Vec<String> = domains.iter().map(|d| format!("www.{d}")).collect();
    Alert {
        dns_names: names,
        matched: domains
            .iter()
            .map(|d| EntryMatch {
                entry: domain(d),
                names: vec![format!("www.{d}")],
            })
            .collect(),
        issuer: IssuerInfo {
            friendly_name: Some("Test CA".to_owned()),
            name: Some("C=US, O=Test, CN=Test CA".to_owned()),
            pubkey_sha256: Some(hash("issuer")),
            caa_domains: vec!["test-ca.example".to_owned()],
        },
        not_before: seen - Duration::hours(1),
        grace_until: (severity == Severity::Pending).then(|| seen + Duration::hours(1)),
        email: Delivery::queued(),
        expires_at: Some(seen + Duration::days(365)),
        ..stored_alert(&format!("alert-{tag}"), severity, seen)
    }
}

fn page(limit: u32, token: Option<String>) -> PageRequest {
    PageRequest { limit, token }
}

/// Follows tokens to the end; fails on a page larger than `limit` or a runaway loop.
pub async fn collect_pages<T, F, Fut>(limit: u32, mut fetch: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut all = Vec::new();
    let mut token = None;
    for _ in 0..1000 {
        let p = fetch(page(limit, token.take())).await.expect("list page");
        assert!(
            p.items.len() <= limit as usize,
            "page larger than its limit"
        );
        all.extend(p.items);
        match p.next_token {
            Some(t) => token = Some(t),
            None => return all,
        }
    }
    panic!("pagination did not terminate");
}

fn tbs_list(alerts: &[Alert]) -> Vec<Sha256Hash> {
    alerts.iter().map(|a| a.tbs_sha256).collect()
}

// ---------------------------------------------------------------------------------------------
// Watch list

pub async fn watch_create_get_list_delete<S: WatchStore>(store: &S) {
    let mut a = watch("a.example");
    a.allowed_issuers = vec!["letsencrypt.org".to_owned(), "pki.goog".to_owned()];
    assert!(store.create_watch(&a).await.unwrap());
    let mut changed = watch("a.example");
    changed.note = Some("other".to_owned());
    changed.backfill = BackfillMode::Alert;
    assert!(
        !store.create_watch(&changed).await.unwrap(),
        "second create"
    );
    assert_eq!(store.get_watch(&a.domain).await.unwrap(), Some(a.clone()));

    // The issuer policy: replaced, cleared; a missing entry is not created.
    let sectigo = vec!["sectigo.com".to_owned()];
    assert!(
        store
            .set_allowed_issuers(&a.domain, &sectigo)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_watch(&a.domain)
            .await
            .unwrap()
            .unwrap()
            .allowed_issuers,
        sectigo
    );
    assert!(store.set_allowed_issuers(&a.domain, &[]).await.unwrap());
    let cleared = store.get_watch(&a.domain).await.unwrap().unwrap();
    assert!(cleared.allowed_issuers.is_empty());
    assert_eq!(cleared.cursor, a.cursor, "nothing else changes");
    assert!(
        !store
            .set_allowed_issuers(&watch("nobody.example").domain, &sectigo)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_watch(&watch("nobody.example").domain)
            .await
            .unwrap(),
        None
    );

    for name in ["b.example", "c.example"] {
        assert!(store.create_watch(&watch(name)).await.unwrap());
    }
    let mut listed: Vec<String> = store
        .list_watches()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.domain.to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, ["a.example", "b.example", "c.example"]);

    assert!(store.delete_watch(&a.domain).await.unwrap());
    assert!(
        !store.delete_watch(&a.domain).await.unwrap(),
        "second delete"
    );
    assert_eq!(store.get_watch(&a.domain).await.unwrap(), None);
    assert_eq!(store.list_watches().await.unwrap().len(), 2);
}

pub async fn cursor_compare_and_set<S: WatchStore>(store: &S) {
    let entry = watch("cursor.example");
    let d = &entry.domain;
    store.create_watch(&entry).await.unwrap();
    let t1 = t0() + Duration::minutes(1);

    assert_eq!(
        store.advance_cursor(d, None, "c1", t1).await.unwrap(),
        CursorUpdate::Advanced
    );
    let stored = store.get_watch(d).await.unwrap().unwrap();
    assert_eq!(stored.cursor.as_deref(), Some("c1"));
    assert_eq!(stored.cursor_updated_at, Some(t1));

    // A second run that also read "no cursor" must not move it.
    assert_eq!(
        store.advance_cursor(d, None, "other", t1).await.unwrap(),
        CursorUpdate::Conflict
    );
    assert_eq!(
        store.advance_cursor(d, Some("c1"), "c2", t1).await.unwrap(),
        CursorUpdate::Advanced
    );
    // Stale expectation (c1 was already moved past).
    assert_eq!(
        store.advance_cursor(d, Some("c1"), "c3", t1).await.unwrap(),
        CursorUpdate::Conflict
    );
    let stored = store.get_watch(d).await.unwrap().unwrap();
    assert_eq!(stored.cursor.as_deref(), Some("c2"));
    assert_eq!(stored.note, entry.note, "other fields untouched");

    // Unknown and deleted entries conflict, and are not recreated.
    let unknown = domain("unknown.example");
    assert_eq!(
        store
            .advance_cursor(&unknown, None, "c1", t1)
            .await
            .unwrap(),
        CursorUpdate::Conflict
    );
    assert_eq!(store.get_watch(&unknown).await.unwrap(), None);
    store.delete_watch(d).await.unwrap();
    assert_eq!(
        store.advance_cursor(d, Some("c2"), "c3", t1).await.unwrap(),
        CursorUpdate::Conflict
    );
    assert_eq!(store.get_watch(d).await.unwrap(), None);
}

pub async fn record_poll_keeps_cursor_and_never_resurrects<S: WatchStore>(store: &S) {
    let entry = watch("poll.example");
    let d = &entry.domain;
    store.create_watch(&entry).await.unwrap();
    store.advance_cursor(d, None, "c1", t0()).await.unwrap();

    let ok_at = t0() + Duration::minutes(5);
    let ok = PollStatus {
        polled_at: ok_at,
        success: true,
        error: None,
        rate_limited_until: None,
        baseline_completed_at: Some(ok_at),
        stalled_runs: 0,
        stuck_since: None,
    };
    store.record_poll(d, &ok).await.unwrap();
    let stored = store.get_watch(d).await.unwrap().unwrap();
    assert_eq!(stored.cursor.as_deref(), Some("c1"));
    assert_eq!(stored.last_polled_at, Some(ok_at));
    assert_eq!(stored.last_success_at, Some(ok_at));
    assert_eq!(stored.baseline_completed_at, Some(ok_at));

    let failed_at = ok_at + Duration::minutes(5);
    let limited = failed_at + Duration::minutes(30);
    let failed = PollStatus {
        polled_at: failed_at,
        success: false,
        error: Some("Cert Spotter answered 429".to_owned()),
        rate_limited_until: Some(limited),
        baseline_completed_at: None,
        stalled_runs: 0,
        stuck_since: None,
    };
    store.record_poll(d, &failed).await.unwrap();
    let stored = store.get_watch(d).await.unwrap().unwrap();
    assert_eq!(
        stored.cursor.as_deref(),
        Some("c1"),
        "record_poll moved the cursor"
    );
    assert_eq!(stored.last_polled_at, Some(failed_at));
    assert_eq!(
        stored.last_success_at,
        Some(ok_at),
        "a failure is not a success"
    );
    assert_eq!(stored.last_error, failed.error);
    assert_eq!(stored.rate_limited_until, Some(limited));
    assert_eq!(stored.baseline_completed_at, Some(ok_at), "baseline kept");

    // Stuck bookkeeping is stored as given, and cleared by a poll with progress.
    let stuck_since = failed_at + Duration::minutes(1);
    let stuck = PollStatus {
        stalled_runs: 3,
        stuck_since: Some(stuck_since),
        ..failed.clone()
    };
    store.record_poll(d, &stuck).await.unwrap();
    let stored = store.get_watch(d).await.unwrap().unwrap();
    assert_eq!(stored.stalled_runs, 3);
    assert_eq!(stored.stuck_since, Some(stuck_since));

    // A later success clears the error, the rate limit and the stuck state.
    let again = PollStatus {
        polled_at: limited,
        baseline_completed_at: None,
        ..ok.clone()
    };
    store.record_poll(d, &again).await.unwrap();
    let stored = store.get_watch(d).await.unwrap().unwrap();
    assert_eq!(stored.last_error, None);
    assert_eq!(stored.rate_limited_until, None);
    assert_eq!(stored.last_success_at, Some(limited));
    assert_eq!((stored.stalled_runs, stored.stuck_since), (0, None));

    // A run finishing after the entry was deleted must not bring it back.
    store.delete_watch(d).await.unwrap();
    store.record_poll(d, &ok).await.unwrap();
    assert_eq!(store.get_watch(d).await.unwrap(), None);
}

/// `tasks` runs race to advance the same cursor, `steps` times: exactly one wins each step.
pub async fn concurrent_cursor_advances<S: WatchStore + 'static>(
    store: Arc<S>,
    tasks: usize,
    steps: usize,
) {
    let entry = watch("race.example");
    store.create_watch(&entry).await.unwrap();
    let mut expected: Option<String> = None;
    for step in 0..steps {
        let mut handles = Vec::new();
        for task in 0..tasks {
            let (store, d, expected) = (store.clone(), entry.domain.clone(), expected.clone());
            handles.push(tokio::spawn(async move {
                let new = format!("c{step}-{task}");
                let outcome = store
                    .advance_cursor(&d, expected.as_deref(), &new, t0())
                    .await
                    .unwrap();
                (outcome, new)
            }));
        }
        let mut winners = Vec::new();
        for handle in handles {
            let (outcome, new) = handle.await.unwrap();
            if outcome == CursorUpdate::Advanced {
                winners.push(new);
            }
        }
        assert_eq!(winners.len(), 1, "step {step}: winners {winners:?}");
        let stored = store.get_watch(&entry.domain).await.unwrap().unwrap();
        assert_eq!(stored.cursor.as_ref(), Some(&winners[0]));
        expected = stored.cursor;
    }
}

// ---------------------------------------------------------------------------------------------
// Inventory

pub async fn inventory_upsert_keeps_added_at<S: InventoryStore>(store: &S) {
    let first = cert("upsert", &["www.example.com"], t0());
    let (outcome, stored) = store.put_cert(&first).await.unwrap();
    assert_eq!(outcome, PutOutcome::Created);
    assert_eq!(stored, first);

    let later = t0() + Duration::days(3);
    let mut again = cert("upsert", &["www.example.com"], later);
    again.updated_at = later;
    again.source = "lb:host-2".to_owned();
    again.serial = None; // a field that goes away must go away in storage too
    again.expires_at = Some(later + Duration::days(90));
    let (outcome, stored) = store.put_cert(&again).await.unwrap();
    assert_eq!(outcome, PutOutcome::Updated);
    assert_eq!(stored.added_at, t0(), "added_at of the first push is kept");
    assert_eq!(stored.updated_at, later);
    assert_eq!(stored.source, "lb:host-2");
    assert_eq!(
        store.get_cert(&first.tbs_sha256).await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(stored.serial, None);

    let k = key("upsert", t0());
    assert_eq!(
        store.put_key(&k).await.unwrap(),
        (PutOutcome::Created, k.clone())
    );
    let mut k2 = key("upsert", later);
    k2.note = None;
    let (outcome, stored) = store.put_key(&k2).await.unwrap();
    assert_eq!(outcome, PutOutcome::Updated);
    assert_eq!(stored.added_at, t0());
    assert_eq!(stored.note, None);

    assert!(store.delete_cert(&first.tbs_sha256).await.unwrap());
    assert!(!store.delete_cert(&first.tbs_sha256).await.unwrap());
    assert_eq!(store.get_cert(&first.tbs_sha256).await.unwrap(), None);
    assert!(store.delete_key(&k.pubkey_sha256).await.unwrap());
    assert!(!store.delete_key(&k.pubkey_sha256).await.unwrap());
}

/// Pushes are append-only: a push of a known record only adds its source; whatever else it
/// carries (a `not_after` in 2000, other names, no key, another note or expiry) changes nothing,
/// whether a push or an admin wrote the record.
pub async fn inventory_push_is_append_only<S: InventoryStore>(store: &S) {
    let first = cert("append", &["shop.example.com"], t0());
    let (outcome, stored) = store.push_cert(&first).await.unwrap();
    assert_eq!(outcome, PutOutcome::Created);
    let expected = InventoryCert {
        sources: vec!["lb:host-1".to_owned()],
        ..first.clone()
    };
    assert_eq!(stored, expected, "created whole, attributed to its source");

    let y2000 = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let hostile = InventoryCert {
        pubkey_sha256: None,
        cert_sha256: None,
        dns_names: vec!["evil.example.net".to_owned()],
        not_before: None,
        not_after: Some(y2000),
        serial: None,
        issuer: None,
        source: "lb:host-2".to_owned(),
        sources: vec![],
        added_at: t0() + Duration::days(1),
        updated_at: t0() + Duration::days(1),
        expires_at: Some(y2000),
        ..first.clone()
    };
    let (outcome, stored) = store.push_cert(&hostile).await.unwrap();
    assert_eq!(outcome, PutOutcome::Updated);
    let expected = InventoryCert {
        sources: vec!["lb:host-1".to_owned(), "lb:host-2".to_owned()],
        ..expected
    };
    assert_eq!(stored, expected, "only the source was added");
    assert_eq!(
        store.get_cert(&first.tbs_sha256).await.unwrap(),
        Some(expected.clone())
    );
    let (_, stored) = store.push_cert(&hostile).await.unwrap();
    assert_eq!(stored, expected, "a source is recorded once");
    let found = store
        .lookup(&[first.tbs_sha256], &[], t0() + Duration::days(2))
        .await
        .unwrap();
    assert!(found.tbs.contains(&first.tbs_sha256), "still authorizes");

    // An admin's record: pushes never rewrite it; the admin can.
    let mut admin_key = key("append", t0());
    admin_key.expires_at = Some(t0() + Duration::days(3650));
    admin_key.dns_names = vec!["shop.example.com".to_owned()];
    store.put_key(&admin_key).await.unwrap();
    for (note, expires_at) in [
        (Some("pwned".to_owned()), Some(t0() + Duration::minutes(1))),
        (None, None),
    ] {
        let push = AuthorizedKey {
            note,
            expires_at,
            dns_names: vec![],
            source: "lb:host-3".to_owned(),
            added_at: t0() + Duration::days(1),
            ..admin_key.clone()
        };
        let (outcome, stored) = store.push_key(&push).await.unwrap();
        assert_eq!(outcome, PutOutcome::Updated);
        assert_eq!(
            stored,
            AuthorizedKey {
                sources: vec!["lb:host-3".to_owned()],
                ..admin_key.clone()
            }
        );
    }
    let listed = store.list_keys(&page(10, None)).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].note, admin_key.note);
    assert_eq!(listed[0].expires_at, admin_key.expires_at);
    let retired = AuthorizedKey {
        note: Some("retired".to_owned()),
        ..admin_key.clone()
    };
    let (_, stored) = store.put_key(&retired).await.unwrap();
    assert_eq!(stored.note.as_deref(), Some("retired"), "admin replaces");

    // A deleted record is created again by the next push.
    assert!(store.delete_cert(&first.tbs_sha256).await.unwrap());
    let (outcome, stored) = store.push_cert(&hostile).await.unwrap();
    assert_eq!(outcome, PutOutcome::Created);
    assert_eq!(stored.sources, ["lb:host-2"]);
    let new_key = key("append-new", t0());
    let (outcome, stored) = store.push_key(&new_key).await.unwrap();
    assert_eq!(outcome, PutOutcome::Created);
    assert_eq!(stored.sources, ["operator"]);
}

/// A key marked compromised authorizes nothing, whatever its names or expiry, and is reported
/// by the lookup (same request: no extra read); pushes and admin upserts never clear the
/// mark, deleting the key does.
pub async fn compromised_keys_authorize_nothing_and_stay_marked<S: InventoryStore>(store: &S) {
    use ctguard::model::Compromise;
    let mark = |note: &str| Compromise {
        at: t0(),
        by: "ops".to_owned(),
        note: Some(note.to_owned()),
    };
    let now = t0() + Duration::days(1);
    // Unknown key: the mark creates the record.
    let mut unknown = key("compromised-unknown", t0());
    unknown.compromised = Some(mark("leaked"));
    let (outcome, stored) = store.mark_compromised(&unknown).await.unwrap();
    assert_eq!(outcome, PutOutcome::Created);
    assert_eq!(stored.compromised, Some(mark("leaked")));

    // A known, scoped key that expires soon: keeps its names and sources, loses its expiry.
    let mut known = key("compromised-known", t0());
    known.dns_names = vec!["shop.example.com".to_owned()];
    known.expires_at = Some(t0() + Duration::hours(2));
    store.put_key(&known).await.unwrap();
    let before = store
        .lookup(&[], &[known.pubkey_sha256], now - Duration::hours(23))
        .await
        .unwrap();
    assert!(before.pubkeys.contains(&known.pubkey_sha256));
    assert!(before.compromised.is_empty());
    let marking = AuthorizedKey {
        dns_names: vec![],
        source: "ops".to_owned(),
        sources: vec!["ops".to_owned()],
        compromised: Some(mark("stolen")),
        ..known.clone()
    };
    let (outcome, stored) = store.mark_compromised(&marking).await.unwrap();
    assert_eq!(outcome, PutOutcome::Updated);
    assert_eq!(
        stored,
        AuthorizedKey {
            expires_at: None,
            compromised: Some(mark("stolen")),
            ..known.clone()
        }
    );

    // Pushes and admin upserts keep the mark.
    let mut push = key("compromised-known", t0());
    push.source = "lb:host-9".to_owned();
    store.push_key(&push).await.unwrap();
    store.put_key(&known).await.unwrap();
    let listed = store.list_keys(&page(10, None)).await.unwrap().items;
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|k| k.compromised.is_some()), "{listed:?}");

    // The lookup: reported, never authorizing, even past the key's expiry (the admin
    // upsert above gave it back its `expires_at`).
    let found = store
        .lookup(
            &[],
            &[known.pubkey_sha256, unknown.pubkey_sha256],
            now + Duration::days(10),
        )
        .await
        .unwrap();
    assert!(found.pubkeys.is_empty(), "{found:?}");
    assert_eq!(found.compromised.len(), 2);
    assert_eq!(
        found.compromised.get(&known.pubkey_sha256),
        Some(&mark("stolen"))
    );

    // Deleting the key is the way to clear it.
    assert!(store.delete_key(&known.pubkey_sha256).await.unwrap());
    store.put_key(&known).await.unwrap();
    let found = store
        .lookup(&[], &[known.pubkey_sha256], now - Duration::hours(23))
        .await
        .unwrap();
    assert!(found.compromised.is_empty());
    assert!(found.pubkeys.contains(&known.pubkey_sha256));
}

/// A key, or a hash-only certificate record, with names authorizes only issuances whose every
/// name lies under those names: a push vouches for its names, not for whatever else shares the
/// hash or the key. Records made from the certificate, and records without names, authorize
/// by hash alone.
pub async fn inventory_lookup_binds_pushed_names<S: InventoryStore>(store: &S) {
    let shop = vec!["shop.example.com".to_owned()];
    let mut hash_only = cert("bound-hash-only", &["shop.example.com"], t0());
    hash_only.cert_sha256 = None;
    let from_cert = cert("bound-from-cert", &["x.example.com"], t0());
    let mut declared = cert("bound-declared", &[], t0());
    declared.cert_sha256 = None;
    let mut scoped_key = key("bound-key", t0());
    scoped_key.dns_names = shop.clone();
    let admin_key = key("unbound-key", t0());
    for c in [&hash_only, &from_cert, &declared] {
        store.push_cert(c).await.unwrap();
    }
    store.push_key(&scoped_key).await.unwrap();
    store.put_key(&admin_key).await.unwrap();

    let tbs = [
        hash_only.tbs_sha256,
        from_cert.tbs_sha256,
        declared.tbs_sha256,
    ];
    let keys = [scoped_key.pubkey_sha256, admin_key.pubkey_sha256];
    let found = store.lookup(&tbs, &keys, t0()).await.unwrap();
    assert_eq!(found.tbs, tbs.iter().copied().collect());
    assert_eq!(found.pubkeys, keys.iter().copied().collect());
    assert_eq!(found.bound_tbs.len(), 1);
    assert_eq!(found.bound_tbs.get(&hash_only.tbs_sha256), Some(&shop));
    assert_eq!(found.bound_keys.len(), 1);
    assert_eq!(found.bound_keys.get(&scoped_key.pubkey_sha256), Some(&shop));

    let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let other = hash("some other key");
    let by = |tbs: &Sha256Hash, key: &Sha256Hash, n: &[&str]| found.authorizes(tbs, key, &names(n));
    use AuthorizedBy::*;
    assert_eq!(
        by(&hash_only.tbs_sha256, &other, &["www.shop.example.com"]),
        Some(TbsSha256)
    );
    assert_eq!(
        by(&hash_only.tbs_sha256, &other, &["pay.example.com"]),
        None
    );
    assert_eq!(
        by(
            &hash_only.tbs_sha256,
            &other,
            &["shop.example.com", "*.example.com"]
        ),
        None
    );
    assert_eq!(
        by(&from_cert.tbs_sha256, &other, &["anything.example.net"]),
        Some(TbsSha256)
    );
    assert_eq!(
        by(&declared.tbs_sha256, &other, &["anything.example.net"]),
        Some(TbsSha256)
    );
    assert_eq!(
        by(
            &hash("unknown"),
            &scoped_key.pubkey_sha256,
            &["shop.example.com"]
        ),
        Some(PubkeySha256)
    );
    assert_eq!(
        by(
            &hash("unknown"),
            &scoped_key.pubkey_sha256,
            &["pay.example.com"]
        ),
        None
    );
    assert_eq!(
        by(
            &hash("unknown"),
            &admin_key.pubkey_sha256,
            &["pay.example.com"]
        ),
        Some(PubkeySha256)
    );
    // A bound TBS record that does not cover the names falls back to an unbound key.
    assert_eq!(
        by(
            &hash_only.tbs_sha256,
            &admin_key.pubkey_sha256,
            &["pay.example.com"]
        ),
        Some(PubkeySha256)
    );
}

/// `tasks` load balancers push the same new certificate at once: one creates it, every
/// source is recorded exactly once, nothing else changes.
pub async fn concurrent_pushes_record_every_source<S: InventoryStore + 'static>(
    store: Arc<S>,
    tasks: usize,
) {
    let base = cert("race", &["shop.example.com"], t0());
    let mut handles = Vec::new();
    for i in 0..tasks {
        let store = store.clone();
        let mut c = base.clone();
        c.source = format!("lb:host-{i}");
        c.not_after = Some(t0() + Duration::days(i as i64));
        handles.push(tokio::spawn(
            async move { store.push_cert(&c).await.unwrap().0 },
        ));
    }
    let mut created = 0;
    for h in handles {
        created += usize::from(h.await.unwrap() == PutOutcome::Created);
    }
    assert_eq!(created, 1, "exactly one push created it");
    let stored = store.get_cert(&base.tbs_sha256).await.unwrap().unwrap();
    let mut sources = stored.sources.clone();
    sources.sort();
    let mut want: Vec<String> = (0..tasks).map(|i| format!("lb:host-{i}")).collect();
    want.sort();
    assert_eq!(sources, want);
    assert_eq!(
        stored.source, stored.sources[0],
        "the creator is listed first"
    );
    assert_eq!(
        stored.not_after,
        Some(t0() + Duration::days(stored.source["lb:host-".len()..].parse().unwrap())),
        "the creator's record, untouched by the others"
    );
}

/// Stores `n` certificates and `n` keys (some expired, some expiring later) and looks them up
/// together with unknown and repeated hashes.
pub async fn inventory_lookup_many<S: InventoryStore + 'static>(store: Arc<S>, n: usize) {
    let now = t0() + Duration::days(10);
    let mut live_tbs = HashSet::new();
    let mut live_keys = HashSet::new();
    let mut tbs = Vec::new();
    let mut keys = Vec::new();
    let mut handles = Vec::new();
    for i in 0..n {
        let mut c = cert(&format!("lookup-{i}"), &["www.example.com"], t0());
        let mut k = key(&format!("lookup-{i}"), t0());
        // Every 10th expired before `now` (TTL not applied yet), one exactly at `now`,
        // every 7th expires after `now`.
        let expires = match i {
            _ if i % 10 == 3 => Some(now - Duration::seconds(1)),
            5 => Some(now),
            _ if i % 7 == 0 => Some(now + Duration::milliseconds(1)),
            _ => None,
        };
        c.expires_at = expires;
        k.expires_at = expires;
        if expires.is_none_or(|t| t > now) {
            live_tbs.insert(c.tbs_sha256);
            live_keys.insert(k.pubkey_sha256);
        }
        tbs.push(c.tbs_sha256);
        keys.push(k.pubkey_sha256);
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store.put_cert(&c).await.unwrap();
            store.put_key(&k).await.unwrap();
        }));
        if handles.len() >= 16 {
            for h in handles.drain(..) {
                h.await.unwrap();
            }
        }
    }
    for h in handles {
        h.await.unwrap();
    }
    // Unknown hashes, a TBS hash asked as a key (kinds must not mix), and repeats.
    let mut query_tbs = tbs.clone();
    query_tbs.extend((0..20).map(|i| hash(&format!("unknown-tbs-{i}"))));
    query_tbs.extend(tbs.iter().take(5).copied());
    let mut query_keys = keys.clone();
    query_keys.extend((0..20).map(|i| hash(&format!("unknown-key-{i}"))));
    query_keys.push(tbs[0]);

    let found = store.lookup(&query_tbs, &query_keys, now).await.unwrap();
    assert_eq!(found.tbs, live_tbs);
    assert_eq!(found.pubkeys, live_keys);
    assert!(!found.pubkeys.contains(&tbs[0]));
    assert!(store.lookup(&[], &[], now).await.unwrap().tbs.is_empty());
}

pub async fn inventory_lists_page_and_filter<S: InventoryStore>(store: &S) {
    let named = "www.example.com";
    let mut expected_named = HashSet::new();
    let mut expected_all = HashSet::new();
    for i in 0..7 {
        let names: &[&str] = if i % 2 == 0 {
            &[named, "example.com"]
        } else {
            &["api.example.net"]
        };
        let c = cert(&format!("list-{i}"), names, t0() + Duration::minutes(i));
        store.put_cert(&c).await.unwrap();
        expected_all.insert(c.tbs_sha256);
        if i % 2 == 0 {
            expected_named.insert(c.tbs_sha256);
        }
    }
    let all = collect_pages(3, |p| async move { store.list_certs(None, &p).await }).await;
    let all_set: HashSet<_> = all.iter().map(|c| c.tbs_sha256).collect();
    assert_eq!(all.len(), 7, "no duplicates or gaps across pages");
    assert_eq!(all_set, expected_all);

    let filtered = collect_pages(
        2,
        |p| async move { store.list_certs(Some(named), &p).await },
    )
    .await;
    let filtered_set: HashSet<_> = filtered.iter().map(|c| c.tbs_sha256).collect();
    assert_eq!(filtered.len(), expected_named.len());
    assert_eq!(filtered_set, expected_named);
    // The filter is exact, not a substring match.
    let none = store
        .list_certs(Some("example.com.evil"), &page(10, None))
        .await
        .unwrap();
    assert!(none.items.is_empty() && none.next_token.is_none());

    for i in 0..5 {
        store
            .put_key(&key(&format!("list-{i}"), t0() + Duration::minutes(i)))
            .await
            .unwrap();
    }
    let keys = collect_pages(2, |p| async move { store.list_keys(&p).await }).await;
    assert_eq!(
        keys.iter()
            .map(|k| k.pubkey_sha256)
            .collect::<HashSet<_>>()
            .len(),
        5
    );

    let bad = store
        .list_certs(None, &page(3, Some("!!not-a-token!!".to_owned())))
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidPageToken)), "{bad:?}");
    let bad = store
        .list_keys(&page(3, Some("!!not-a-token!!".to_owned())))
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidPageToken)), "{bad:?}");
}

// ---------------------------------------------------------------------------------------------
// Alerts

/// Expiry tracking: each name keeps its latest-expiring deployed certificate; the bounded
/// window query finds the names expiring soon, soonest first; a later certificate replaces an
/// earlier one (and is reported as replacing it), an earlier one changes nothing; deleting a
/// certificate removes the names it still held; the records stay out of the listings.
pub async fn expiry_tracking_follows_the_latest_certificate<S: InventoryStore>(store: &S) {
    let at = |days: i64| t0() + Duration::days(days);
    let with_expiry = |tag: &str, names: &[&str], not_after: DateTime<Utc>| InventoryCert {
        not_after: Some(not_after),
        ..cert(tag, names, t0())
    };
    let old = with_expiry(
        "exp-old",
        &["Shop.Example.com.", "www.shop.example.com"],
        at(10),
    );
    let api = with_expiry("exp-api", &["api.example.com"], at(5));
    let far = with_expiry("exp-far", &["far.example.com"], at(60));
    for c in [&old, &api, &far] {
        store.put_cert(c).await.unwrap();
        assert_eq!(store.record_deployed(c).await.unwrap(), vec![]);
    }
    // Idempotent: recording again replaces nothing.
    assert_eq!(store.record_deployed(&old).await.unwrap(), vec![]);
    let window = store.list_expiring(t0(), at(14), 100).await.unwrap();
    let names: Vec<(&str, Sha256Hash)> = window
        .iter()
        .map(|d| (d.name.as_str(), d.tbs_sha256))
        .collect();
    assert_eq!(
        names,
        [
            ("api.example.com", api.tbs_sha256),
            ("shop.example.com", old.tbs_sha256),
            ("www.shop.example.com", old.tbs_sha256),
        ],
        "normalised names, soonest first, the far one outside"
    );
    assert_eq!(window[1].not_after, at(10));
    // Bounded.
    assert_eq!(store.list_expiring(t0(), at(14), 2).await.unwrap().len(), 2);
    assert!(
        store
            .list_expiring(t0(), at(4), 100)
            .await
            .unwrap()
            .is_empty()
    );
    // The records are not certificates.
    let listed = store.list_certs(None, &page(100, None)).await.unwrap();
    assert_eq!(listed.items.len(), 3);

    // A renewal of one name replaces the old certificate for it, and says so.
    let renewal = with_expiry("exp-new", &["shop.example.com"], at(90));
    store.put_cert(&renewal).await.unwrap();
    assert_eq!(
        store.record_deployed(&renewal).await.unwrap(),
        vec![old.tbs_sha256]
    );
    // An older certificate pushed late changes nothing.
    let stale = with_expiry(
        "exp-stale",
        &["shop.example.com", "www.shop.example.com"],
        at(3),
    );
    store.put_cert(&stale).await.unwrap();
    assert_eq!(store.record_deployed(&stale).await.unwrap(), vec![]);
    let window = store.list_expiring(t0(), at(14), 100).await.unwrap();
    let names: Vec<&str> = window.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["api.example.com", "www.shop.example.com"]);
    let wanted = [
        "shop.example.com".to_owned(),
        "*.shop.example.com".to_owned(),
        "shop.example.com".to_owned(),
    ];
    let got = store.get_deployed(&wanted).await.unwrap();
    assert_eq!(got.len(), 1, "absent names are left out, repeats once");
    assert_eq!(got[0].tbs_sha256, renewal.tbs_sha256);
    assert_eq!(got[0].not_after, at(90));

    // Deleting the renewal forgets the name it held; deleting `old` forgets www; the stale
    // certificate's records were never written, so nothing of it appears.
    assert!(store.delete_cert(&renewal.tbs_sha256).await.unwrap());
    assert!(store.get_deployed(&wanted[..1]).await.unwrap().is_empty());
    assert!(store.delete_cert(&old.tbs_sha256).await.unwrap());
    let window = store.list_expiring(t0(), at(100), 100).await.unwrap();
    let names: Vec<&str> = window.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["api.example.com", "far.example.com"]);
    // A certificate without `not_after` is not tracked.
    let undated = InventoryCert {
        not_after: None,
        ..cert("exp-undated", &["undated.example.com"], t0())
    };
    assert_eq!(store.record_deployed(&undated).await.unwrap(), vec![]);
    assert!(
        store
            .get_deployed(&["undated.example.com".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn alert_create_if_absent<S: AlertStore>(store: &S) {
    let a = alert("once", Severity::Suspicious, &["example.com"], t0());
    assert!(store.create_alert(&a).await.unwrap());
    let mut other = a.clone();
    other.severity = Severity::Info;
    other.issuance_id = "a later issuance of the same TBS".to_owned();
    assert!(!store.create_alert(&other).await.unwrap(), "second create");
    assert_eq!(
        store.get_alert(&a.tbs_sha256).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.get_alert(&hash("no such alert")).await.unwrap(), None);
}

/// CAA evidence at its bounds (10 names, 8 records each, 255-byte values) is stored with the
/// alert and read back as it was, alone and in a batch, and it survives the pending re-check.
pub async fn alert_keeps_caa_evidence<S: AlertStore>(store: &S) {
    use ctguard::caa::{
        CAA_NAMES_MAX, CAA_RECORDS_MAX, CAA_VALUE_MAX, CaaEvidence, CaaNameCheck, CaaOutcome,
        CaaRecord,
    };
    let evidence = CaaEvidence {
        checked_at: t0(),
        resolver: "127.0.0.1:5353".to_owned(),
        issuer_caa_domains: vec!["other-ca.example".to_owned()],
        names: (0..CAA_NAMES_MAX)
            .map(|i| CaaNameCheck {
                name: format!("h{i}.example.com"),
                outcome: CaaOutcome::Violation,
                relevant_name: Some("example.com".to_owned()),
                records: (0..CAA_RECORDS_MAX)
                    .map(|r| CaaRecord::new(128, "issue", "x".repeat(CAA_VALUE_MAX + r).as_bytes()))
                    .collect(),
                records_total: 100,
                detail: "CAA at example.com: issue permits only x".to_owned(),
            })
            .collect(),
        names_total: 25,
    };
    let mut a = alert("caa", Severity::Pending, &["example.com"], t0());
    a.grace_until = Some(t0() + Duration::minutes(30));
    a.caa = Some(evidence.clone());
    assert!(store.create_alert(&a).await.unwrap());
    assert_eq!(
        store.get_alert(&a.tbs_sha256).await.unwrap(),
        Some(a.clone())
    );
    let mut b = alert("caa batch", Severity::Critical, &["example.com"], t0());
    b.caa = Some(evidence.clone());
    assert_eq!(
        store.create_alerts(std::slice::from_ref(&b)).await.unwrap(),
        [true]
    );
    assert_eq!(store.get_alert(&b.tbs_sha256).await.unwrap(), Some(b));
    assert!(
        store
            .resolve_pending(&a.tbs_sha256, Severity::Suspicious, None, &[], t0())
            .await
            .unwrap()
    );
    let resolved = store.get_alert(&a.tbs_sha256).await.unwrap().unwrap();
    assert_eq!(resolved.caa, Some(evidence));
}

/// Nine alerts over three domains and all severities, listed with every filter and paged.
pub async fn alert_listing_filters_and_pages<S: AlertStore>(store: &S) {
    use Severity::*;
    // Offsets in microseconds from a whole second: times with and without a fraction must
    // still sort by time (a variable-precision text timestamp would not).
    let base = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
    let specs: [(&str, Severity, &[&str], i64); 9] = [
        ("l0", Suspicious, &["a.example"], 0),
        ("l1", Info, &["a.example", "b.example"], 250),
        ("l2", Pending, &["b.example"], 1_000_000),
        ("l3", Suspicious, &["c.example"], 60_000_000),
        ("l4", Suspicious, &["a.example"], 120_000_000),
        ("l5", Info, &["c.example"], 120_000_000), // same instant as l4: tie broken by hash
        ("l6", Pending, &["a.example"], 180_000_500),
        ("l7", Suspicious, &["b.example", "c.example"], 240_000_000),
        ("l8", Info, &["a.example"], 300_000_000),
    ];
    let mut alerts = Vec::new();
    for (tag, severity, domains, offset_us) in specs {
        let a = alert(
            tag,
            severity,
            domains,
            base + Duration::microseconds(offset_us),
        );
        store.create_alert(&a).await.unwrap();
        alerts.push(a);
    }
    let expect = |keep: &dyn Fn(&Alert) -> bool| {
        let mut v: Vec<Alert> = alerts.iter().filter(|a| keep(a)).cloned().collect();
        v.sort_by(|a, b| {
            b.first_seen_at
                .cmp(&a.first_seen_at)
                .then(b.tbs_sha256.cmp(&a.tbs_sha256))
        });
        tbs_list(&v)
    };
    let list = |filter: AlertFilter, limit: u32| {
        let filter = filter.clone();
        async move {
            let filter = &filter;
            collect_pages(
                limit,
                |p| async move { store.list_alerts(filter, &p).await },
            )
            .await
        }
    };

    let all = list(AlertFilter::default(), 4).await;
    assert_eq!(
        tbs_list(&all),
        expect(&|_| true),
        "newest first, across pages"
    );
    assert_eq!(all[0], alerts[8], "records round-trip whole");

    let suspicious = AlertFilter {
        severity: Some(Suspicious),
        ..Default::default()
    };
    assert_eq!(
        tbs_list(&list(suspicious, 2).await),
        expect(&|a| a.severity == Suspicious)
    );

    let since = base + Duration::seconds(120);
    let recent = AlertFilter {
        since: Some(since),
        ..Default::default()
    };
    assert_eq!(
        tbs_list(&list(recent, 2).await),
        expect(&|a| a.first_seen_at >= since),
        "since is inclusive"
    );

    let a_dom = domain("a.example");
    let by_domain = AlertFilter {
        domain: Some(a_dom.clone()),
        ..Default::default()
    };
    let has = |a: &Alert, d: &WatchDomain| a.matched.iter().any(|m| &m.entry == d);
    assert_eq!(
        tbs_list(&list(by_domain, 2).await),
        expect(&|a| has(a, &a_dom))
    );

    let combined = AlertFilter {
        since: Some(base + Duration::microseconds(1)),
        severity: Some(Suspicious),
        domain: Some(a_dom.clone()),
    };
    let want = expect(&|a| a.severity == Suspicious && has(a, &a_dom) && a.first_seen_at > t0());
    assert_eq!(want.len(), 1);
    assert_eq!(tbs_list(&list(combined, 1).await), want);

    let nothing = AlertFilter {
        domain: Some(domain("unwatched.example")),
        ..Default::default()
    };
    assert!(list(nothing, 3).await.is_empty());

    let bad = store
        .list_alerts(
            &AlertFilter::default(),
            &page(3, Some("garbage".to_owned())),
        )
        .await;
    assert!(matches!(bad, Err(StoreError::InvalidPageToken)), "{bad:?}");
}

pub async fn pending_listing_and_resolve<S: AlertStore + 'static>(store: Arc<S>) {
    let mut p1 = alert(
        "p1",
        Severity::Pending,
        &["example.com"],
        t0() + Duration::minutes(1),
    );
    p1.sns = Delivery::skipped(); // SNS not configured: stays skipped when resolved
    p1.reasons = vec![Reason::new(ReasonCode::NotInInventory, "not pushed")];
    p1.email = Delivery {
        state: DeliveryState::Failed,
        ..Delivery::queued()
    };
    let mut p2 = alert(
        "p2",
        Severity::Pending,
        &["example.com"],
        t0() + Duration::minutes(2),
    );
    let mut p0 = alert("p0", Severity::Pending, &["example.com"], t0());
    for p in [&mut p1, &mut p2, &mut p0] {
        if p.email.state == DeliveryState::Queued {
            p.sns = Delivery::skipped();
            p.email = Delivery::skipped();
        }
    }
    let done = alert("done", Severity::Suspicious, &["example.com"], t0());
    for a in [&p1, &p2, &p0, &done] {
        store.create_alert(a).await.unwrap();
    }
    assert_eq!(
        tbs_list(&store.list_pending(10).await.unwrap()),
        tbs_list(&[p0.clone(), p1.clone(), p2.clone()]),
        "oldest first, pending only"
    );
    assert_eq!(store.list_pending(2).await.unwrap().len(), 2);

    let at = t0() + Duration::hours(2);
    let weak = Reason::new(ReasonCode::WeakKey, "RSA key of 1024 bits");
    assert!(
        store
            .resolve_pending(
                &p1.tbs_sha256,
                Severity::Suspicious,
                Some(AuthorizedBy::PubkeySha256),
                std::slice::from_ref(&weak),
                at
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .resolve_pending(&p1.tbs_sha256, Severity::Suspicious, None, &[], at)
            .await
            .unwrap(),
        "already resolved"
    );
    let resolved = store.get_alert(&p1.tbs_sha256).await.unwrap().unwrap();
    assert_eq!(resolved.severity, Severity::Suspicious);
    assert_eq!(
        resolved.reasons,
        [weak],
        "the re-checked reasons replace the stored ones"
    );
    assert_eq!(resolved.authorized_by, Some(AuthorizedBy::PubkeySha256));
    assert_eq!(resolved.classified_at, at);
    assert_eq!(resolved.sns.state, DeliveryState::Skipped);
    assert_eq!(resolved.email.state, DeliveryState::Queued);
    assert_eq!(
        tbs_list(&store.list_undelivered(10).await.unwrap()),
        expect_undelivered(&[&done, &resolved]),
        "resolving queued the configured channel"
    );

    // Two runs resolve p2 at once: exactly one wins.
    let mut handles = Vec::new();
    for severity in [Severity::Suspicious, Severity::Info] {
        let (store, tbs) = (store.clone(), p2.tbs_sha256);
        handles.push(tokio::spawn(async move {
            store
                .resolve_pending(&tbs, severity, None, &[], at)
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for h in handles {
        wins += usize::from(h.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(
        tbs_list(&store.list_pending(10).await.unwrap()),
        [p0.tbs_sha256]
    );
    assert!(
        !store
            .resolve_pending(&hash("unknown"), Severity::Info, None, &[], at)
            .await
            .unwrap()
    );
}

/// Oldest first by first-seen time, then by hash.
/// The baseline alerts still in the outbox, per entry: baseline set, some channel queued, the
/// entry among those matched; newest first. Not listed: other entries' alerts, alerts that are
/// not baseline, and alerts whose channels are all done (recorded by the lease holder, or
/// stored done), whatever their age.
pub async fn outbox_baseline_lists_an_entrys_queued_baseline_alerts<S: AlertStore>(store: &S) {
    let at = |minutes: i64| t0() + Duration::minutes(minutes);
    let baseline = |tag: &str, domains: &[&str], seen| {
        let mut a = alert(tag, Severity::Suspicious, domains, seen);
        a.baseline = true;
        a
    };
    let older = baseline("ob-older", &["a.example"], at(0));
    let shared = baseline("ob-shared", &["a.example", "b.example"], at(1));
    let email_left = {
        let mut a = baseline("ob-email-left", &["a.example"], at(2));
        a.sns = Delivery {
            state: DeliveryState::Sent,
            attempts: 1,
            ..Delivery::queued()
        };
        a
    };
    let b_only = baseline("ob-b-only", &["b.example"], at(3));
    let stored_done = {
        let mut a = baseline("ob-stored-done", &["a.example"], at(4));
        a.sns = Delivery::skipped();
        a.email = Delivery::skipped();
        a
    };
    let delivered = baseline("ob-delivered", &["a.example"], at(5));
    let not_baseline = alert("ob-regular", Severity::Suspicious, &["a.example"], at(6));
    for a in [
        &older,
        &shared,
        &email_left,
        &b_only,
        &stored_done,
        &delivered,
        &not_baseline,
    ] {
        assert!(store.create_alert(a).await.unwrap());
    }
    // `delivered` leaves the outbox the way a run takes it out: both channels recorded sent.
    let now = at(10);
    for channel in [Channel::Sns, Channel::Email] {
        let tbs = &delivered.tbs_sha256;
        assert!(
            store
                .claim_delivery(tbs, channel, "run", now, now + Duration::minutes(5))
                .await
                .unwrap()
        );
        let sent = DeliveryResult::Sent {
            message_id: Some("m".to_owned()),
            at: now,
        };
        store
            .record_delivery(tbs, channel, "run", &sent)
            .await
            .unwrap();
    }

    // Newer queued baseline alerts of another entry, more than one filtered read evaluates:
    // the listing pages past them (DynamoDB: the filter skips a whole first page).
    for i in 0..120 {
        let noise = baseline(&format!("ob-noise-{i}"), &["noise.example"], at(20 + i));
        assert!(store.create_alert(&noise).await.unwrap());
    }

    let listed = |entry: &'static str, limit: u32| async move {
        tbs_list(
            &store
                .list_outbox_baseline(&domain(entry), limit)
                .await
                .unwrap(),
        )
    };
    assert_eq!(
        listed("a.example", 100).await,
        tbs_list(&[email_left.clone(), shared.clone(), older.clone()]),
        "a.example: its queued baseline alerts, newest first"
    );
    assert_eq!(
        listed("b.example", 100).await,
        tbs_list(&[b_only.clone(), shared.clone()])
    );
    assert!(
        listed("c.example", 100).await.is_empty(),
        "an entry with none"
    );
    assert_eq!(
        listed("a.example", 2).await,
        tbs_list(&[email_left.clone(), shared.clone()]),
        "at most `limit`, the newest"
    );
    assert!(listed("a.example", 0).await.is_empty());
    assert_eq!(listed("noise.example", 1000).await.len(), 120);
    // Each listed alert comes back whole.
    let got = store
        .list_outbox_baseline(&domain("b.example"), 100)
        .await
        .unwrap();
    assert_eq!(got, [b_only, shared]);
}

fn expect_undelivered(alerts: &[&Alert]) -> Vec<Sha256Hash> {
    let mut v: Vec<&Alert> = alerts.to_vec();
    v.sort_by(|a, b| {
        a.first_seen_at
            .cmp(&b.first_seen_at)
            .then(a.tbs_sha256.cmp(&b.tbs_sha256))
    });
    v.iter().map(|a| a.tbs_sha256).collect()
}

pub async fn delivery_claims_and_records<S: AlertStore>(store: &S) {
    let a = alert("deliver", Severity::Suspicious, &["example.com"], t0());
    let quiet = {
        let mut q = alert("quiet", Severity::Info, &["example.com"], t0());
        q.sns = Delivery::skipped();
        q.email = Delivery::skipped();
        q
    };
    store.create_alert(&a).await.unwrap();
    store.create_alert(&quiet).await.unwrap();
    let tbs = &a.tbs_sha256;
    assert_eq!(tbs_list(&store.list_undelivered(10).await.unwrap()), [*tbs]);

    let now = t0() + Duration::minutes(1);
    let lease = now + Duration::minutes(5);
    assert!(
        store
            .claim_delivery(tbs, Channel::Sns, "run-a", now, lease)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_delivery(tbs, Channel::Sns, "run-b", now, lease)
            .await
            .unwrap(),
        "leased to run-a"
    );
    assert!(
        store
            .claim_delivery(tbs, Channel::Email, "run-b", now, lease)
            .await
            .unwrap(),
        "channels lease independently"
    );
    assert!(
        !store
            .claim_delivery(&quiet.tbs_sha256, Channel::Sns, "run-a", now, lease)
            .await
            .unwrap(),
        "a skipped channel is never claimed"
    );
    assert!(
        !store
            .claim_delivery(&hash("unknown"), Channel::Sns, "run-a", now, lease)
            .await
            .unwrap()
    );

    // Not the lease holder: ignored.
    let sent = DeliveryResult::Sent {
        message_id: Some("m-1".to_owned()),
        at: now,
    };
    store
        .record_delivery(tbs, Channel::Sns, "run-b", &sent)
        .await
        .unwrap();
    assert_eq!(
        store.get_alert(tbs).await.unwrap().unwrap().sns,
        Delivery::queued()
    );

    // Throttled: released without spending an attempt, still queued, the reason kept.
    let deferred = DeliveryResult::Deferred {
        error: "throttled: SNS Publish: Throttled: Rate exceeded".to_owned(),
        at: now,
    };
    store
        .record_delivery(tbs, Channel::Sns, "run-a", &deferred)
        .await
        .unwrap();
    let sns = store.get_alert(tbs).await.unwrap().unwrap().sns;
    assert_eq!((sns.state, sns.attempts), (DeliveryState::Queued, 0));
    assert_eq!(
        sns.last_error.as_deref(),
        Some("throttled: SNS Publish: Throttled: Rate exceeded")
    );
    assert_eq!(
        tbs_list(&store.list_undelivered(10).await.unwrap()),
        [*tbs],
        "a throttled channel stays in the outbox"
    );
    assert!(
        store
            .claim_delivery(tbs, Channel::Sns, "run-a", now, lease)
            .await
            .unwrap(),
        "the lease is released"
    );

    // A failure that will be retried: counted, stays queued, lease released.
    let fail = DeliveryResult::Failed {
        error: "SNS 500".to_owned(),
        at: now,
        give_up: false,
    };
    store
        .record_delivery(tbs, Channel::Sns, "run-a", &fail)
        .await
        .unwrap();
    let sns = store.get_alert(tbs).await.unwrap().unwrap().sns;
    assert_eq!((sns.state, sns.attempts), (DeliveryState::Queued, 1));
    assert_eq!(sns.last_error.as_deref(), Some("SNS 500"));
    assert_eq!(sns.last_attempt_at, Some(now));
    assert!(
        store
            .claim_delivery(tbs, Channel::Sns, "run-b", now, lease)
            .await
            .unwrap()
    );

    let sent_at = now + Duration::seconds(2);
    let sent = DeliveryResult::Sent {
        message_id: Some("m-2".to_owned()),
        at: sent_at,
    };
    store
        .record_delivery(tbs, Channel::Sns, "run-b", &sent)
        .await
        .unwrap();
    let stored = store.get_alert(tbs).await.unwrap().unwrap();
    assert_eq!(stored.sns.state, DeliveryState::Sent);
    assert_eq!(stored.sns.attempts, 2);
    assert_eq!(stored.sns.sent_at, Some(sent_at));
    assert_eq!(stored.sns.message_id.as_deref(), Some("m-2"));
    assert_eq!(stored.sns.last_error, None);
    assert_eq!(
        stored.email,
        Delivery::queued(),
        "the other channel is untouched"
    );
    assert_eq!(
        tbs_list(&store.list_undelivered(10).await.unwrap()),
        [*tbs],
        "email still queued"
    );
    assert!(
        !store
            .claim_delivery(tbs, Channel::Sns, "run-c", now, lease)
            .await
            .unwrap()
    );

    // Giving up ends the email channel: nothing is queued any more, the outbox is empty.
    let give_up = DeliveryResult::Failed {
        error: "SES rejected".to_owned(),
        at: now,
        give_up: true,
    };
    store
        .record_delivery(tbs, Channel::Email, "run-b", &give_up)
        .await
        .unwrap();
    let stored = store.get_alert(tbs).await.unwrap().unwrap();
    assert_eq!(
        (stored.email.state, stored.email.attempts),
        (DeliveryState::Failed, 1)
    );
    assert!(store.list_undelivered(10).await.unwrap().is_empty());
}

pub async fn delivery_lease_expires<S: AlertStore>(store: &S) {
    let a = alert("lease", Severity::Suspicious, &["example.com"], t0());
    store.create_alert(&a).await.unwrap();
    let tbs = &a.tbs_sha256;
    let now = t0();
    let until = now + Duration::seconds(30);
    assert!(
        store
            .claim_delivery(tbs, Channel::Email, "run-a", now, until)
            .await
            .unwrap()
    );
    let early = now + Duration::seconds(29);
    assert!(
        !store
            .claim_delivery(
                tbs,
                Channel::Email,
                "run-b",
                early,
                early + Duration::seconds(30)
            )
            .await
            .unwrap()
    );
    // At the lease's end it is free: run-a is presumed dead.
    assert!(
        store
            .claim_delivery(
                tbs,
                Channel::Email,
                "run-b",
                until,
                until + Duration::seconds(30)
            )
            .await
            .unwrap()
    );
    // run-a comes back late: its result is not recorded over run-b's lease.
    let late = DeliveryResult::Sent {
        message_id: Some("late".to_owned()),
        at: until,
    };
    store
        .record_delivery(tbs, Channel::Email, "run-a", &late)
        .await
        .unwrap();
    assert_eq!(
        store.get_alert(tbs).await.unwrap().unwrap().email,
        Delivery::queued()
    );
    let ok = DeliveryResult::Sent {
        message_id: Some("b".to_owned()),
        at: until,
    };
    store
        .record_delivery(tbs, Channel::Email, "run-b", &ok)
        .await
        .unwrap();
    let email = store.get_alert(tbs).await.unwrap().unwrap().email;
    assert_eq!(
        (email.state, email.attempts, email.message_id.as_deref()),
        (DeliveryState::Sent, 1, Some("b"))
    );
}

/// `tasks` runs claim the same channel at once: exactly one gets it.
pub async fn claim_is_exclusive_under_concurrency<S: AlertStore + 'static>(
    store: Arc<S>,
    tasks: usize,
) {
    let a = alert("race", Severity::Suspicious, &["example.com"], t0());
    store.create_alert(&a).await.unwrap();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (store, tbs) = (store.clone(), a.tbs_sha256);
        handles.push(tokio::spawn(async move {
            let run = format!("run-{task}");
            store
                .claim_delivery(&tbs, Channel::Sns, &run, t0(), t0() + Duration::minutes(1))
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for h in handles {
        wins += usize::from(h.await.unwrap());
    }
    assert_eq!(wins, 1);
}

/// Batched claims answer per alert: one leased by another run, one no longer queued and one
/// unknown among them do not hold back the others (DynamoDB: the transaction those cancel is
/// retried without them). Batched records then record every claimed alert even when one of
/// them lost its lease meanwhile (that one is left to the run that holds it), and clear the
/// outbox only where no channel is queued any more.
pub async fn batched_claims_and_records<S: AlertStore>(store: &S) {
    let alerts: Vec<Alert> = (0..6)
        .map(|i| {
            alert(
                &format!("batch{i}"),
                Severity::Suspicious,
                &["example.com"],
                t0() + Duration::seconds(i),
            )
        })
        .collect();
    for a in &alerts {
        store.create_alert(a).await.unwrap();
    }
    let tbs: Vec<Sha256Hash> = alerts.iter().map(|a| a.tbs_sha256).collect();
    let now = t0() + Duration::minutes(1);
    let lease = now + Duration::minutes(5);
    // Alert 1 is leased by run-b, alert 2's SNS was already sent.
    assert!(
        store
            .claim_delivery(&tbs[1], Channel::Sns, "run-b", now, lease)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_delivery(&tbs[2], Channel::Sns, "run-b", now, lease)
            .await
            .unwrap()
    );
    let sent = DeliveryResult::Sent {
        message_id: Some("m-b".into()),
        at: now,
    };
    store
        .record_delivery(&tbs[2], Channel::Sns, "run-b", &sent)
        .await
        .unwrap();

    let mut asked = tbs.clone();
    asked.insert(3, hash("unknown-batch"));
    let claimed = store
        .claim_deliveries(&asked, Channel::Sns, "run-a", now, lease)
        .await
        .unwrap();
    assert_eq!(claimed, [true, false, false, false, true, true, true]);

    // Alert 4's lease is taken over by run-c after it expired (run-a was too slow).
    let late = lease + Duration::seconds(1);
    assert!(
        store
            .claim_delivery(
                &tbs[4],
                Channel::Sns,
                "run-c",
                late,
                late + Duration::minutes(5)
            )
            .await
            .unwrap()
    );
    let records: Vec<DeliveryRecord> = [0, 3, 4, 5]
        .into_iter()
        .map(|i| DeliveryRecord {
            tbs: tbs[i],
            result: DeliveryResult::Sent {
                message_id: Some(format!("m-a{i}")),
                at: late,
            },
            // Alert 5's hint is wrong on purpose (its email is queued): it costs a retry.
            other_queued: i != 5,
        })
        .collect();
    store
        .record_deliveries(Channel::Sns, "run-a", &records)
        .await
        .unwrap();
    for i in [0, 3, 5] {
        let a = store.get_alert(&tbs[i]).await.unwrap().unwrap();
        assert_eq!(a.sns.state, DeliveryState::Sent, "alert {i}");
        assert_eq!(
            a.sns.message_id.as_deref(),
            Some(format!("m-a{i}").as_str())
        );
        assert_eq!(a.email.state, DeliveryState::Queued);
    }
    let taken = store.get_alert(&tbs[4]).await.unwrap().unwrap();
    assert_eq!(taken.sns.state, DeliveryState::Queued, "run-c owns it now");
    assert_eq!(taken.sns.attempts, 0);
    // Every alert still has its email queued: all of them stay in the outbox.
    assert_eq!(store.list_undelivered(10).await.unwrap().len(), 6);

    // The email records are final for alerts 0 and 3 (SNS sent): they leave the outbox.
    let claimed = store
        .claim_deliveries(
            &[tbs[0], tbs[3]],
            Channel::Email,
            "run-a",
            late,
            late + Duration::minutes(5),
        )
        .await
        .unwrap();
    assert_eq!(claimed, [true, true]);
    let records: Vec<DeliveryRecord> = [0, 3]
        .into_iter()
        .map(|i| DeliveryRecord {
            tbs: tbs[i],
            result: DeliveryResult::Sent {
                message_id: None,
                at: late,
            },
            other_queued: false,
        })
        .collect();
    store
        .record_deliveries(Channel::Email, "run-a", &records)
        .await
        .unwrap();
    let left = tbs_list(&store.list_undelivered(10).await.unwrap());
    assert!(
        !left.contains(&tbs[0]) && !left.contains(&tbs[3]),
        "{left:?}"
    );
    assert_eq!(left.len(), 4);
}

/// `tasks` runs claim the same alerts in batches at once: each alert goes to exactly one run.
pub async fn batched_claims_are_exclusive_under_concurrency<S: AlertStore + 'static>(
    store: Arc<S>,
    tasks: usize,
) {
    let alerts: Vec<Alert> = (0..20)
        .map(|i| {
            alert(
                &format!("brace{i}"),
                Severity::Suspicious,
                &["example.com"],
                t0(),
            )
        })
        .collect();
    for a in &alerts {
        store.create_alert(a).await.unwrap();
    }
    let tbs: Vec<Sha256Hash> = alerts.iter().map(|a| a.tbs_sha256).collect();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (store, mut tbs) = (store.clone(), tbs.clone());
        // Different orders, overlapping sets.
        tbs.rotate_left(task * 3 % 20);
        handles.push(tokio::spawn(async move {
            let run = format!("run-{task}");
            let claimed = store
                .claim_deliveries(&tbs, Channel::Sns, &run, t0(), t0() + Duration::minutes(1))
                .await
                .unwrap();
            tbs.into_iter()
                .zip(claimed)
                .filter(|(_, c)| *c)
                .map(|(h, _)| h)
                .collect::<Vec<_>>()
        }));
    }
    let mut wins: Vec<Sha256Hash> = Vec::new();
    for h in handles {
        wins.extend(h.await.unwrap());
    }
    wins.sort();
    let mut expected = tbs.clone();
    expected.sort();
    assert_eq!(wins, expected, "every alert claimed exactly once");
}

pub async fn acknowledge_alert<S: AlertStore>(store: &S) {
    let ack = Acknowledgement {
        by: "alice".to_owned(),
        note: Some("our new CDN".to_owned()),
        at: t0() + Duration::hours(1),
    };
    assert_eq!(
        store.acknowledge(&hash("unknown"), &ack).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_alert(&hash("unknown")).await.unwrap(),
        None,
        "not created"
    );

    let a = alert("ack", Severity::Suspicious, &["example.com"], t0());
    store.create_alert(&a).await.unwrap();
    let updated = store
        .acknowledge(&a.tbs_sha256, &ack)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        updated,
        Alert {
            ack: Some(ack.clone()),
            ..a.clone()
        }
    );
    assert_eq!(store.get_alert(&a.tbs_sha256).await.unwrap(), Some(updated));
}

/// `create_alerts` over a page bigger than one batch, some alerts already stored, one repeated.
pub async fn create_alerts_in_batches<S: AlertStore>(store: &S, n: usize) {
    let alerts: Vec<Alert> = (0..n)
        .map(|i| {
            let seen = t0() + Duration::milliseconds(i as i64);
            alert(
                &format!("batch-{i}"),
                Severity::Suspicious,
                &["example.com"],
                seen,
            )
        })
        .collect();
    for a in alerts.iter().step_by(3) {
        assert!(store.create_alert(a).await.unwrap());
    }
    let mut page: Vec<Alert> = alerts
        .iter()
        .map(|a| Alert {
            issuance_id: "seen again".to_owned(),
            ..a.clone()
        })
        .collect();
    page.push(page[1].clone()); // a repeat is created once
    let created = store.create_alerts(&page).await.unwrap();
    let mut expected: Vec<bool> = (0..n).map(|i| i % 3 != 0).collect();
    expected.push(false);
    assert_eq!(created, expected);
    for (i, a) in alerts.iter().enumerate() {
        let stored = store.get_alert(&a.tbs_sha256).await.unwrap().unwrap();
        let want = if i % 3 == 0 {
            "original"
        } else {
            "created by the batch"
        };
        let is_original = stored.issuance_id == a.issuance_id;
        assert_eq!(is_original, i % 3 == 0, "alert {i} should be {want}");
    }
    assert_eq!(
        store.create_alerts(&page).await.unwrap(),
        vec![false; n + 1]
    );
    assert!(store.create_alerts(&[]).await.unwrap().is_empty());
}

/// A channel skipped by design leaves the outbox without counting as an attempt.
pub async fn delivery_skipped_is_not_an_attempt<S: AlertStore>(store: &S) {
    let a = alert("skip", Severity::Info, &["example.com"], t0());
    store.create_alert(&a).await.unwrap();
    let tbs = &a.tbs_sha256;
    let (now, lease) = (t0(), t0() + Duration::minutes(1));
    assert!(
        store
            .claim_delivery(tbs, Channel::Email, "run", now, lease)
            .await
            .unwrap()
    );
    let skip = DeliveryResult::Skipped {
        reason: "email excludes info alerts".to_owned(),
        at: now,
    };
    store
        .record_delivery(tbs, Channel::Email, "run", &skip)
        .await
        .unwrap();
    let email = store.get_alert(tbs).await.unwrap().unwrap().email;
    assert_eq!((email.state, email.attempts), (DeliveryState::Skipped, 0));
    assert_eq!(
        email.last_error.as_deref(),
        Some("email excludes info alerts")
    );
    assert_eq!(email.last_attempt_at, Some(now));
    assert_eq!(
        tbs_list(&store.list_undelivered(10).await.unwrap()),
        [*tbs],
        "SNS still queued"
    );
    assert!(
        !store
            .claim_delivery(tbs, Channel::Email, "run", now, lease)
            .await
            .unwrap()
    );

    assert!(
        store
            .claim_delivery(tbs, Channel::Sns, "run", now, lease)
            .await
            .unwrap()
    );
    store
        .record_delivery(tbs, Channel::Sns, "run", &skip)
        .await
        .unwrap();
    assert!(store.list_undelivered(10).await.unwrap().is_empty());
}

/// `get_alerts` reads alerts by key: those that exist, in the order asked, more than one
/// batch of them, the state as last written.
pub async fn get_alerts_by_key<S: AlertStore>(store: &S, n: usize) {
    let alerts: Vec<Alert> = (0..n)
        .map(|i| {
            let seen = t0() + Duration::milliseconds(i as i64);
            alert(
                &format!("get-{i}"),
                Severity::Suspicious,
                &["example.com"],
                seen,
            )
        })
        .collect();
    assert!(
        store
            .create_alerts(&alerts)
            .await
            .unwrap()
            .iter()
            .all(|c| *c)
    );
    let first = &alerts[0].tbs_sha256;
    assert!(
        store
            .claim_delivery(
                first,
                Channel::Sns,
                "run-1",
                t0(),
                t0() + Duration::minutes(5)
            )
            .await
            .unwrap()
    );
    store
        .record_delivery(
            first,
            Channel::Sns,
            "run-1",
            &DeliveryResult::Sent {
                message_id: Some("m-1".to_owned()),
                at: t0(),
            },
        )
        .await
        .unwrap();

    // Reversed, with a hash that was never stored in the middle.
    let mut asked: Vec<Sha256Hash> = alerts.iter().rev().map(|a| a.tbs_sha256).collect();
    asked.insert(n / 2, hash("get-missing"));
    asked.push(alerts[n - 1].tbs_sha256); // a repeat is returned once
    let got = store.get_alerts(&asked).await.unwrap();
    let expected: Vec<Sha256Hash> = alerts.iter().rev().map(|a| a.tbs_sha256).collect();
    assert_eq!(tbs_list(&got), expected);
    let read_first = got.last().unwrap();
    assert_eq!(read_first.sns.state, DeliveryState::Sent);
    assert_eq!(read_first.sns.attempts, 1);
    assert_eq!(got[0], alerts[n - 1]);
    assert!(store.get_alerts(&[]).await.unwrap().is_empty());
}
