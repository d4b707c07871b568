//! The same storage contracts as `store_dynamo.rs`, over the in-memory store the poller and API
//! unit tests use: logic tested on it behaves as it will on DynamoDB.

use std::sync::Arc;

use ctguard::store::memory::MemoryStore;
use ctguard_tests::store_contract as contract;

#[tokio::test]
async fn watch_create_get_list_delete() {
    contract::watch_create_get_list_delete(&MemoryStore::new()).await;
}

#[tokio::test]
async fn cursor_compare_and_set() {
    contract::cursor_compare_and_set(&MemoryStore::new()).await;
}

#[tokio::test]
async fn record_poll_keeps_cursor_and_never_resurrects() {
    contract::record_poll_keeps_cursor_and_never_resurrects(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cursor_advances_have_one_winner_per_step() {
    contract::concurrent_cursor_advances(Arc::new(MemoryStore::new()), 8, 5).await;
}

#[tokio::test]
async fn inventory_upsert_keeps_added_at() {
    contract::inventory_upsert_keeps_added_at(&MemoryStore::new()).await;
}

#[tokio::test]
async fn compromised_keys_authorize_nothing_and_stay_marked() {
    contract::compromised_keys_authorize_nothing_and_stay_marked(&MemoryStore::new()).await;
}

#[tokio::test]
async fn inventory_lookup_binds_pushed_names() {
    contract::inventory_lookup_binds_pushed_names(&MemoryStore::new()).await;
}

#[tokio::test]
async fn expiry_tracking_follows_the_latest_certificate() {
    contract::expiry_tracking_follows_the_latest_certificate(&MemoryStore::new()).await;
}

#[tokio::test]
async fn inventory_push_is_append_only() {
    contract::inventory_push_is_append_only(&MemoryStore::new()).await;
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
async fn inventory_lists_page_and_filter() {
    contract::inventory_lists_page_and_filter(&MemoryStore::new()).await;
}

#[tokio::test]
async fn alert_keeps_caa_evidence() {
    contract::alert_keeps_caa_evidence(&MemoryStore::new()).await;
}

#[tokio::test]
async fn alert_create_if_absent() {
    contract::alert_create_if_absent(&MemoryStore::new()).await;
}

#[tokio::test]
async fn create_alerts_in_batches() {
    contract::create_alerts_in_batches(&MemoryStore::new(), 150).await;
}

#[tokio::test]
async fn get_alerts_by_key() {
    contract::get_alerts_by_key(&MemoryStore::new(), 150).await;
}

#[tokio::test]
async fn alert_listing_filters_and_pages() {
    contract::alert_listing_filters_and_pages(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_listing_and_resolve_races() {
    contract::pending_listing_and_resolve(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn delivery_claims_and_records() {
    contract::delivery_claims_and_records(&MemoryStore::new()).await;
}

#[tokio::test]
async fn delivery_skipped_is_not_an_attempt() {
    contract::delivery_skipped_is_not_an_attempt(&MemoryStore::new()).await;
}

#[tokio::test]
async fn delivery_lease_expires() {
    contract::delivery_lease_expires(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_is_exclusive_under_concurrency() {
    contract::claim_is_exclusive_under_concurrency(Arc::new(MemoryStore::new()), 8).await;
}

#[tokio::test]
async fn batched_claims_and_records() {
    contract::batched_claims_and_records(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batched_claims_are_exclusive_under_concurrency() {
    contract::batched_claims_are_exclusive_under_concurrency(Arc::new(MemoryStore::new()), 6).await;
}

#[tokio::test]
async fn acknowledge_alert() {
    contract::acknowledge_alert(&MemoryStore::new()).await;
}

#[tokio::test]
async fn outbox_baseline_lists_an_entrys_queued_baseline_alerts() {
    contract::outbox_baseline_lists_an_entrys_queued_baseline_alerts(&MemoryStore::new()).await;
}
