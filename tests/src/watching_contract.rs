//! Storage contracts of the proof-of-watching records (canary times, when a pushed certificate
//! was seen in CT), written once over the traits and run against DynamoDB (emulator) and the
//! in-memory store by `tests/tests/store_watching.rs`.

use chrono::Duration;
use ctguard::store::{InventoryStore, WatchStore};

use crate::store_contract::{cert, domain, hash, t0, watch};

/// Canary times are set on an existing entry and never recreate a deleted one.
pub async fn canary_times_are_recorded_without_resurrection<S: WatchStore>(store: &S) {
    let mut entry = watch("test.certspotter.org");
    entry.canary = true;
    assert!(store.create_watch(&entry).await.unwrap());
    let d = domain("test.certspotter.org");
    store
        .record_canary_issuance(&d, t0() + Duration::hours(1))
        .await
        .unwrap();
    store
        .record_blind_alert(&d, t0() + Duration::hours(40))
        .await
        .unwrap();
    let stored = store.get_watch(&d).await.unwrap().unwrap();
    assert!(stored.canary);
    assert_eq!(
        stored.canary_last_issuance_at,
        Some(t0() + Duration::hours(1))
    );
    assert_eq!(stored.blind_alerted_at, Some(t0() + Duration::hours(40)));
    // The cursor and poll status are untouched.
    assert_eq!(stored.cursor, None);

    assert!(store.delete_watch(&d).await.unwrap());
    store.record_canary_issuance(&d, t0()).await.unwrap();
    store.record_blind_alert(&d, t0()).await.unwrap();
    assert_eq!(store.get_watch(&d).await.unwrap(), None, "resurrected");
}

/// `ct_seen_at`: first time wins, survives a re-push; `list_unlogged` returns exactly the
/// pushed certificates with SCTs, in the time range, not seen and not reported.
pub async fn ct_seen_and_unlogged_listing<S: InventoryStore>(store: &S) {
    let day = Duration::days(1);
    let with_scts = |tag: &str, added| {
        let mut c = cert(tag, &[&format!("{tag}.example.org")], added);
        c.has_scts = true;
        c
    };
    let old = with_scts("old", t0() - Duration::days(10));
    let seen = with_scts("seen", t0() - Duration::days(2));
    let unseen = with_scts("unseen", t0() - Duration::days(2));
    let reported = with_scts("reported", t0() - Duration::days(3));
    let recent = with_scts("recent", t0());
    let mut private = cert(
        "private",
        &["private.example.org"],
        t0() - Duration::days(2),
    );
    private.has_scts = false;
    for c in [&old, &seen, &unseen, &reported, &recent, &private] {
        store.put_cert(c).await.unwrap();
    }
    store.mark_ct_seen(&seen.tbs_sha256, t0()).await.unwrap();
    store
        .mark_ct_seen(&seen.tbs_sha256, t0() + day)
        .await
        .unwrap();
    store
        .mark_not_logged_alerted(&reported.tbs_sha256, t0())
        .await
        .unwrap();
    // A re-push keeps what the poller recorded.
    store.put_cert(&seen).await.unwrap();
    store.put_cert(&reported).await.unwrap();
    let stored = store.get_cert(&seen.tbs_sha256).await.unwrap().unwrap();
    assert_eq!(stored.ct_seen_at, Some(t0()), "first sighting wins");
    assert!(stored.has_scts);
    let stored = store.get_cert(&reported.tbs_sha256).await.unwrap().unwrap();
    assert_eq!(stored.not_logged_alerted_at, Some(t0()));

    let listed = store
        .list_unlogged(t0() - Duration::days(7), t0() - day, 100)
        .await
        .unwrap();
    let tags: Vec<_> = listed.iter().map(|c| c.tbs_sha256).collect();
    assert_eq!(tags, [unseen.tbs_sha256], "listed: {listed:?}");
    assert_eq!(
        store
            .list_unlogged(t0() - Duration::days(7), t0() - day, 0)
            .await
            .unwrap()
            .len(),
        0
    );

    // Unknown certificates are not created.
    store.mark_ct_seen(&hash("nope"), t0()).await.unwrap();
    store
        .mark_not_logged_alerted(&hash("nope"), t0())
        .await
        .unwrap();
    assert_eq!(store.get_cert(&hash("nope")).await.unwrap(), None);
}
