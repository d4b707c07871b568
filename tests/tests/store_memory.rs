//! The same storage contracts as `store_dynamo.rs`, over the in-memory store the poller and API
//! unit tests use: logic tested on it behaves as it will on DynamoDB.

use std::sync::Arc;

use ctguard::store::memory::MemoryStore;
use ctguard_tests::store_contract as contract;

// One test per plain contract, each on a fresh store.
ctguard_tests::store_contract_tests!(MemoryStore::new());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cursor_advances_have_one_winner_per_step() {
    contract::concurrent_cursor_advances(Arc::new(MemoryStore::new()), 8, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_record_every_source() {
    contract::concurrent_pushes_record_every_source(Arc::new(MemoryStore::new()), 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inventory_lookup_over_many_batches_ignores_expired() {
    contract::inventory_lookup_many(Arc::new(MemoryStore::new()), 250).await;
}

#[tokio::test]
async fn create_alerts_in_batches() {
    contract::create_alerts_in_batches(&MemoryStore::new(), 150).await;
}

#[tokio::test]
async fn get_alerts_by_key() {
    contract::get_alerts_by_key(&MemoryStore::new(), 150).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_listing_and_resolve_races() {
    contract::pending_listing_and_resolve(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_is_exclusive_under_concurrency() {
    contract::claim_is_exclusive_under_concurrency(Arc::new(MemoryStore::new()), 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batched_claims_are_exclusive_under_concurrency() {
    contract::batched_claims_are_exclusive_under_concurrency(Arc::new(MemoryStore::new()), 6).await;
}

/// Fault injection for unit tests, inside the in-memory store: an armed operation fails (or
/// hangs) on every call until disarmed, other operations answer, and every call is counted
/// (a batched one once).
#[tokio::test]
async fn an_armed_operation_fails_until_disarmed_and_every_call_is_counted() {
    use ctguard::model::Severity;
    use ctguard::store::memory::Fault;
    use ctguard::store::{AlertStore, StoreError, WatchStore};
    use ctguard_tests::store_contract::{alert, domain, t0, watch};

    let store = MemoryStore::new();
    assert!(store.create_watch(&watch("example.com")).await.unwrap());
    assert_eq!(store.calls(), 1);

    store.arm("advance_cursor", Fault::Fail);
    let err = store
        .advance_cursor(&domain("example.com"), None, "1", t0())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend { operation: "advance_cursor", message } if message == "injected fault"),
        "{err:?}"
    );
    assert_eq!(
        store
            .get_watch(&domain("example.com"))
            .await
            .unwrap()
            .unwrap()
            .cursor,
        None
    );
    // Other operations still answer.
    assert_eq!(store.list_watches().await.unwrap().len(), 1);
    store.disarm("advance_cursor");
    store
        .advance_cursor(&domain("example.com"), None, "1", t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .get_watch(&domain("example.com"))
            .await
            .unwrap()
            .unwrap()
            .cursor
            .as_deref(),
        Some("1")
    );
    assert_eq!(store.calls(), 6);

    // A page of alerts is one call; a hanging operation never answers.
    store.reset_calls();
    let alerts: Vec<_> = (0..5)
        .map(|n| {
            alert(
                &format!("hook-{n}"),
                Severity::Suspicious,
                &["example.com"],
                t0(),
            )
        })
        .collect();
    assert_eq!(store.create_alerts(&alerts).await.unwrap(), [true; 5]);
    assert_eq!(store.calls(), 1);
    store.arm("list_undelivered", Fault::Hang);
    let hung = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        store.list_undelivered(10),
    )
    .await;
    assert!(hung.is_err(), "an armed hang never answers");
    store.disarm("list_undelivered");
    assert_eq!(store.list_undelivered(10).await.unwrap().len(), 5);
}

#[test]
#[should_panic(expected = "is not a store operation")]
fn arming_an_unknown_operation_is_a_test_bug() {
    MemoryStore::new().arm("advance_cursors", ctguard::store::memory::Fault::Fail);
}
