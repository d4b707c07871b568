//! The proof-of-watching storage contracts (`ctguard_tests::watching_contract`) on DynamoDB
//! (emulator) and on the in-memory store.

use ctguard::store::memory::MemoryStore;
use ctguard_tests::aws::TestAws;
use ctguard_tests::watching_contract as contract;

#[tokio::test]
async fn canary_times_are_recorded_without_resurrection_dynamo() {
    let store = TestAws::new().await.store();
    contract::canary_times_are_recorded_without_resurrection(&store).await;
}

#[tokio::test]
async fn canary_times_are_recorded_without_resurrection_memory() {
    contract::canary_times_are_recorded_without_resurrection(&MemoryStore::new()).await;
}

#[tokio::test]
async fn ct_seen_and_unlogged_listing_dynamo() {
    let store = TestAws::new().await.store();
    contract::ct_seen_and_unlogged_listing(&store).await;
}

#[tokio::test]
async fn ct_seen_and_unlogged_listing_memory() {
    contract::ct_seen_and_unlogged_listing(&MemoryStore::new()).await;
}
