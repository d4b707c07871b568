//! The DynamoDB store against the emulator (moto server; start it with
//! `infra/local-aws/start`). Every test gets its own tables created from `template.yaml`.
//! The contract tests are shared with the in-memory store (`ctguard_tests::store_contract`);
//! the rest check what only the DynamoDB layout can get wrong.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use ctguard::model::{Channel, DeliveryState, Severity};
use ctguard::store::dynamo::{DynamoStore, TableNames};
use ctguard::store::{
    AlertFilter, AlertStore, DeliveryRecord, DeliveryResult, InventoryStore, PageRequest,
    StoreError, WatchStore,
};
use ctguard_tests::aws::{SDK_MAX_ATTEMPTS, TestAws, sdk_config};
use ctguard_tests::fault_proxy::{FaultProxy, Service};
use ctguard_tests::store_contract::{self as contract, alert, cert, hash, key, t0, watch};

async fn store() -> DynamoStore {
    TestAws::new().await.store()
}

// --- The shared contracts ---------------------------------------------------------------------

// One test per plain contract, each on a fresh store.
ctguard_tests::store_contract_tests!(store().await);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cursor_advances_have_one_winner_per_step() {
    contract::concurrent_cursor_advances(Arc::new(store().await), 8, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_record_every_source() {
    contract::concurrent_pushes_record_every_source(Arc::new(store().await), 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inventory_lookup_over_many_batches_ignores_expired() {
    contract::inventory_lookup_many(Arc::new(store().await), 250).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_listing_and_resolve_races() {
    contract::pending_listing_and_resolve(Arc::new(store().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claim_is_exclusive_under_concurrency() {
    contract::claim_is_exclusive_under_concurrency(Arc::new(store().await), 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batched_claims_are_exclusive_under_concurrency() {
    contract::batched_claims_are_exclusive_under_concurrency(Arc::new(store().await), 6).await;
}

// --- DynamoDB specifics ----------------------------------------------------------------------

async fn raw_item(
    aws: &TestAws,
    table: &str,
    key: (&str, String),
) -> HashMap<String, AttributeValue> {
    aws.dynamodb
        .get_item()
        .table_name(table)
        .key(key.0, AttributeValue::S(key.1))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("item exists")
}

/// 600 distinct hashes (and repeats) are answered in ⌈600/100⌉ BatchGetItem requests.
#[tokio::test]
async fn lookup_batches_one_request_per_hundred_keys() {
    let aws = TestAws::new().await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let store = aws.store_via(proxy.url()).await;
    let c = cert("batched", &["www.example.com"], t0());
    store.put_cert(&c).await.unwrap();
    let mut tbs: Vec<_> = (0..300).map(|i| hash(&format!("t{i}"))).collect();
    tbs.push(c.tbs_sha256);
    tbs.extend(tbs.clone()); // repeats cost nothing
    let keys: Vec<_> = (0..299).map(|i| hash(&format!("k{i}"))).collect();
    proxy.reset_counts();
    let found = store.lookup(&tbs, &keys, t0()).await.unwrap();
    assert_eq!(found.tbs.into_iter().collect::<Vec<_>>(), [c.tbs_sha256]);
    assert_eq!(proxy.count(Service::DynamoDb, "BatchGetItem"), 6);
    assert_eq!(proxy.total(Service::DynamoDb), 6);
}

/// 250 claims and 250 records of one channel cost ⌈250/100⌉ TransactWriteItems each, and no
/// per-alert UpdateItem; a claim of one alert is one UpdateItem (the unbatched path).
#[tokio::test]
async fn delivery_claims_and_records_cost_one_transaction_per_hundred() {
    let aws = TestAws::new().await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let store = aws.store_via(proxy.url()).await;
    let alerts: Vec<_> = (0..250)
        .map(|i| {
            alert(
                &format!("tx{i}"),
                Severity::Suspicious,
                &["example.com"],
                t0(),
            )
        })
        .collect();
    store.create_alerts(&alerts).await.unwrap();
    let tbs: Vec<_> = alerts.iter().map(|a| a.tbs_sha256).collect();
    let lease = t0() + Duration::minutes(5);
    proxy.reset_counts();
    let claimed = store
        .claim_deliveries(&tbs, Channel::Sns, "run", t0(), lease)
        .await
        .unwrap();
    assert!(claimed.iter().all(|c| *c));
    assert_eq!(proxy.count(Service::DynamoDb, "TransactWriteItems"), 3);
    assert_eq!(proxy.total(Service::DynamoDb), 3);

    proxy.reset_counts();
    let records: Vec<DeliveryRecord> = tbs
        .iter()
        .map(|h| DeliveryRecord {
            tbs: *h,
            result: DeliveryResult::Sent {
                message_id: Some("m".into()),
                at: t0(),
            },
            other_queued: true,
        })
        .collect();
    store
        .record_deliveries(Channel::Sns, "run", &records)
        .await
        .unwrap();
    assert_eq!(proxy.count(Service::DynamoDb, "TransactWriteItems"), 3);
    assert_eq!(proxy.total(Service::DynamoDb), 3);
    let stored = aws.store().get_alerts(&tbs).await.unwrap();
    assert!(stored.iter().all(|a| a.sns.state == DeliveryState::Sent));

    proxy.reset_counts();
    let one = store
        .claim_deliveries(&tbs[..1], Channel::Email, "run", t0(), lease)
        .await
        .unwrap();
    assert_eq!(one, [true]);
    assert_eq!(proxy.count(Service::DynamoDb, "UpdateItem"), 1);
    assert_eq!(proxy.total(Service::DynamoDb), 1);
}

/// A DynamoDB 500 that outlasts the SDK's retries surfaces as a Backend error naming the store
/// operation and the API; one that does not is retried away.
#[tokio::test]
async fn backend_fault_names_the_operation_after_sdk_retries() {
    let aws = TestAws::new().await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let store = aws.store_via(proxy.url()).await;
    let a = alert("fault", Severity::Suspicious, &["example.com"], t0());

    proxy.fail_next(Service::DynamoDb, "PutItem", SDK_MAX_ATTEMPTS as usize);
    let err = store.create_alert(&a).await.unwrap_err();
    match &err {
        StoreError::Backend { operation, message } => {
            assert_eq!(*operation, "create_alert");
            assert!(message.contains("PutItem"), "{message}");
            assert!(message.contains(&aws.tables.alerts), "{message}");
            assert!(message.contains("InternalServerError"), "{message}");
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
    assert_eq!(
        proxy.count(Service::DynamoDb, "PutItem"),
        u64::from(SDK_MAX_ATTEMPTS)
    );
    assert_eq!(proxy.pending_faults(), 0);
    assert_eq!(
        aws.store().get_alert(&a.tbs_sha256).await.unwrap(),
        None,
        "nothing written"
    );

    // Fewer faults than attempts: the SDK retries and the write lands once.
    proxy.reset_counts();
    proxy.fail_next(Service::DynamoDb, "PutItem", SDK_MAX_ATTEMPTS as usize - 1);
    assert!(store.create_alert(&a).await.unwrap());
    assert_eq!(
        proxy.count(Service::DynamoDb, "PutItem"),
        u64::from(SDK_MAX_ATTEMPTS)
    );

    // Throttling is retried the same way.
    proxy.throttle_next(Service::DynamoDb, "GetItem", 1);
    assert!(store.get_alert(&a.tbs_sha256).await.unwrap().is_some());
}

#[tokio::test]
async fn unreachable_backend_is_a_backend_error() {
    // Port 9 (discard) on loopback: nothing listens in the test environment.
    let config = sdk_config("http://127.0.0.1:9").await;
    let tables = TableNames {
        watches: "w".to_owned(),
        inventory: "i".to_owned(),
        alerts: "a".to_owned(),
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), tables);
    let err = store.list_watches().await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Backend {
                operation: "list_watches",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn page_tokens_of_another_listing_are_invalid() {
    let aws = TestAws::new().await;
    let store = aws.store();
    for i in 0..3 {
        store
            .put_cert(&cert(&format!("c{i}"), &["a.example"], t0()))
            .await
            .unwrap();
        store.put_key(&key(&format!("k{i}"), t0())).await.unwrap();
        store
            .create_alert(&alert(
                &format!("a{i}"),
                Severity::Info,
                &["a.example"],
                t0(),
            ))
            .await
            .unwrap();
    }
    let first = |token: Option<String>| PageRequest { limit: 1, token };
    let key_token = store
        .list_keys(&first(None))
        .await
        .unwrap()
        .next_token
        .unwrap();
    let err = store.list_certs(None, &first(Some(key_token))).await;
    assert!(matches!(err, Err(StoreError::InvalidPageToken)), "{err:?}");

    let info = AlertFilter {
        severity: Some(Severity::Info),
        ..Default::default()
    };
    let info_token = store
        .list_alerts(&info, &first(None))
        .await
        .unwrap()
        .next_token
        .unwrap();
    let suspicious = AlertFilter {
        severity: Some(Severity::Suspicious),
        ..Default::default()
    };
    for filter in [AlertFilter::default(), suspicious] {
        let err = store
            .list_alerts(&filter, &first(Some(info_token.clone())))
            .await;
        assert!(matches!(err, Err(StoreError::InvalidPageToken)), "{err:?}");
    }
    // The token still works where it came from.
    let next = store
        .list_alerts(&info, &first(Some(info_token)))
        .await
        .unwrap();
    assert_eq!(next.items.len(), 1);
}

#[tokio::test]
async fn inventory_lists_newest_first() {
    let store = store().await;
    for i in 0..4 {
        store
            .put_cert(&cert(
                &format!("order-{i}"),
                &["a.example"],
                t0() + Duration::milliseconds(i * 250),
            ))
            .await
            .unwrap();
    }
    let all = contract::collect_pages(3, |p| {
        let store = &store;
        async move { store.list_certs(None, &p).await }
    })
    .await;
    let times: Vec<_> = all.iter().map(|c| c.added_at).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted);
}

/// The stored layout: fixed-width sort key, sparse outbox, string-set domains, numeric TTL.
#[tokio::test]
async fn alert_item_layout() {
    let aws = TestAws::new().await;
    let store = aws.store();
    let a = alert(
        "layout",
        Severity::Suspicious,
        &["b.example", "a.example"],
        t0(),
    );
    store.create_alert(&a).await.unwrap();
    let pk = ("tbs_sha256", a.tbs_sha256.to_hex());
    let item = raw_item(&aws, &aws.tables.alerts, pk.clone()).await;
    assert_eq!(
        item["seen_key"],
        AttributeValue::S(format!("2025-06-01T12:00:00.000250Z#{}", a.tbs_sha256))
    );
    assert_eq!(item["outbox"], AttributeValue::S("queued".to_owned()));
    assert_eq!(
        item["matched_domains"],
        AttributeValue::Ss(vec!["a.example".to_owned(), "b.example".to_owned()])
    );
    let ttl = a.expires_at.unwrap().timestamp() + 1; // rounded up from .000250
    assert_eq!(item["ttl_epoch"], AttributeValue::N(ttl.to_string()));
    assert!(
        !item.contains_key("ack"),
        "absent options are not stored as NULL"
    );

    let now = t0();
    for (channel, run) in [(Channel::Sns, "r1"), (Channel::Email, "r2")] {
        assert!(
            store
                .claim_delivery(&a.tbs_sha256, channel, run, now, now + Duration::minutes(1))
                .await
                .unwrap()
        );
        let item = raw_item(&aws, &aws.tables.alerts, pk.clone()).await;
        assert!(item.contains_key(if channel == Channel::Sns {
            "lease_sns_owner"
        } else {
            "lease_email_owner"
        }));
        let sent = DeliveryResult::Sent {
            message_id: None,
            at: now,
        };
        store
            .record_delivery(&a.tbs_sha256, channel, run, &sent)
            .await
            .unwrap();
    }
    let item = raw_item(&aws, &aws.tables.alerts, pk).await;
    for gone in [
        "outbox",
        "lease_sns_owner",
        "lease_sns_until",
        "lease_email_owner",
        "lease_email_until",
    ] {
        assert!(!item.contains_key(gone), "{gone} left behind");
    }
}

/// Two runs finish the two channels of one alert at the same time: the outbox entry goes
/// exactly when neither channel is queued, whatever the interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outbox_is_cleared_when_both_channels_finish_concurrently() {
    let aws = TestAws::new().await;
    let store = Arc::new(aws.store());
    let mut tbs = Vec::new();
    for i in 0..10 {
        let a = alert(
            &format!("both-{i}"),
            Severity::Suspicious,
            &["a.example"],
            t0(),
        );
        store.create_alert(&a).await.unwrap();
        for (channel, run) in [(Channel::Sns, "run-s"), (Channel::Email, "run-e")] {
            assert!(
                store
                    .claim_delivery(
                        &a.tbs_sha256,
                        channel,
                        run,
                        t0(),
                        t0() + Duration::minutes(1)
                    )
                    .await
                    .unwrap()
            );
        }
        tbs.push(a.tbs_sha256);
    }
    let mut handles = Vec::new();
    for t in &tbs {
        for (channel, run) in [(Channel::Sns, "run-s"), (Channel::Email, "run-e")] {
            let (store, t) = (store.clone(), *t);
            handles.push(tokio::spawn(async move {
                let sent = DeliveryResult::Sent {
                    message_id: Some(run.to_owned()),
                    at: t0(),
                };
                store
                    .record_delivery(&t, channel, run, &sent)
                    .await
                    .unwrap();
            }));
        }
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(store.list_undelivered(100).await.unwrap().is_empty());
}

#[tokio::test]
async fn corrupt_items_are_reported_with_their_key() {
    let aws = TestAws::new().await;
    let store = aws.store();
    let tbs = hash("corrupt");
    aws.dynamodb
        .put_item()
        .table_name(&aws.tables.alerts)
        .item("tbs_sha256", AttributeValue::S(tbs.to_hex()))
        .item("severity", AttributeValue::S("catastrophic".to_owned()))
        .send()
        .await
        .unwrap();
    let err = store.get_alert(&tbs).await.unwrap_err();
    match err {
        StoreError::Corrupt { entity, key, .. } => {
            assert_eq!(entity, "alert");
            assert_eq!(key, tbs.to_hex());
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let w = watch("ok.example");
    store.create_watch(&w).await.unwrap();
    aws.dynamodb
        .put_item()
        .table_name(&aws.tables.watches)
        .item("domain", AttributeValue::S("bad.example".to_owned()))
        .send()
        .await
        .unwrap();
    let err = store.list_watches().await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { entity: "watch entry", key, .. } if key == "bad.example"),
        "{err:?}"
    );
}

#[tokio::test]
async fn create_alerts_in_batches() {
    contract::create_alerts_in_batches(&store().await, 150).await;
}

#[tokio::test]
async fn get_alerts_by_key() {
    contract::get_alerts_by_key(&store().await, 150).await;
}

/// What the poller relies on to deliver its own alerts in the run: `get_alerts` reads the
/// table, so alerts the outbox index does not show yet (GSIs lag in DynamoDB) are found.
#[tokio::test]
async fn get_alerts_finds_alerts_the_lagging_outbox_does_not_show() {
    let aws = TestAws::new().await;
    let store = aws.store();
    ctguard_tests::gsi_lag::delay_gsi(
        &aws.endpoint,
        &aws.tables.alerts,
        ctguard_tests::gsi_lag::ALL_INDEXES,
        3600.0,
    )
    .await;
    let fresh = alert("lagging", Severity::Suspicious, &["example.com"], t0());
    assert!(store.create_alert(&fresh).await.unwrap());
    assert!(
        store.list_undelivered(10).await.unwrap().is_empty(),
        "the index lags"
    );
    assert_eq!(
        store.get_alerts(&[fresh.tbs_sha256]).await.unwrap(),
        [fresh]
    );
}

/// A page of new alerts costs one TransactWriteItems per 100; a page with some already
/// stored costs one more per batch (the cancelled attempt names them).
#[tokio::test]
async fn create_alerts_costs_one_transaction_per_hundred() {
    let aws = TestAws::new().await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let store = aws.store_via(proxy.url()).await;
    let page: Vec<_> = (0..120)
        .map(|i| alert(&format!("tx-{i}"), Severity::Info, &["a.example"], t0()))
        .collect();
    assert_eq!(
        store.create_alerts(&page[..60]).await.unwrap(),
        vec![true; 60]
    );
    assert_eq!(proxy.count(Service::DynamoDb, "TransactWriteItems"), 1);
    proxy.reset_counts();
    let created = store.create_alerts(&page).await.unwrap();
    assert_eq!(created, (0..120).map(|i| i >= 60).collect::<Vec<_>>());
    // Batch 1 (0..100): cancelled once (60 exist), then 40 created; batch 2: 20 created.
    assert_eq!(proxy.count(Service::DynamoDb, "TransactWriteItems"), 3);
}

#[tokio::test]
async fn an_alert_over_the_item_limit_is_refused_with_a_typed_error_before_sending() {
    let aws = TestAws::new().await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let store = aws.store_via(proxy.url()).await;
    let mut big = alert("big", Severity::Suspicious, &["www.example"], t0());
    big.dns_names = (0..7_000)
        .map(|i| format!("host{i:0>40}.unrelated.example.net"))
        .collect();
    let err = store.create_alert(&big).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Rejected { message, .. } if message.contains("item limit")),
        "{err:?}"
    );
    let err = store
        .create_alerts(std::slice::from_ref(&big))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err:?}");
    assert_eq!(proxy.total(Service::DynamoDb), 0, "nothing was sent");
    assert_eq!(store.get_alert(&big.tbs_sha256).await.unwrap(), None);
}

/// Alerts stored before reasons existed (no `reasons` attribute) still read back, with none;
/// new ones keep theirs.
#[tokio::test]
async fn alerts_stored_without_reasons_read_back() {
    use ctguard::model::{Reason, ReasonCode};
    let aws = TestAws::new().await;
    let store = aws.store();
    let mut a = alert("reasons", Severity::Critical, &["example.com"], t0());
    a.reasons = vec![Reason::new(
        ReasonCode::CompromisedKey,
        "marked compromised",
    )];
    store.create_alert(&a).await.unwrap();
    let read = store.get_alert(&a.tbs_sha256).await.unwrap().unwrap();
    assert_eq!(read.reasons, a.reasons);
    assert_eq!(read.severity, Severity::Critical);

    let old = alert(
        "before-reasons",
        Severity::Suspicious,
        &["example.com"],
        t0(),
    );
    store.create_alert(&old).await.unwrap();
    aws.dynamodb
        .update_item()
        .table_name(&aws.tables.alerts)
        .key("tbs_sha256", AttributeValue::S(old.tbs_sha256.to_hex()))
        .update_expression("REMOVE reasons")
        .send()
        .await
        .unwrap();
    let item = raw_item(
        &aws,
        &aws.tables.alerts,
        ("tbs_sha256", old.tbs_sha256.to_hex()),
    )
    .await;
    assert!(!item.contains_key("reasons"), "an item as stored before");
    let read = store.get_alert(&old.tbs_sha256).await.unwrap().unwrap();
    assert!(read.reasons.is_empty());
    assert_eq!(read.severity, Severity::Suspicious);
}
