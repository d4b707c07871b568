//! Hostile values that once panicked the API or made it echo unbounded input: times outside
//! 1970–9999 (chrono's `DateTime + TimeDelta` panics near year 262143) and very long strings in
//! every place an error message used to quote them. Through the real handler with Function URL
//! events, over the in-memory store.

mod support;

use ctguard::hash::Sha256Hash;
use ctguard::store::{AlertStore, InventoryStore, PageRequest};
use serde_json::json;
use support::*;

const FAR_FUTURE: &str = "+262142-12-31T23:59:59Z";
const FAR_PAST: &str = "-262142-01-01T00:00:00Z";
/// Hash-only pushes must name what they vouch for; with names given, only the time is wrong.
const NAMES: [&str; 1] = ["www.example.com"];

fn hash(seed: &str) -> String {
    Sha256Hash::digest(seed.as_bytes()).to_hex()
}

async fn inventory_is_empty(app: &InProcess<ctguard::store::memory::MemoryStore>) {
    let page = PageRequest {
        limit: 10,
        token: None,
    };
    assert!(
        app.store()
            .list_certs(None, &page)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(app.store().list_keys(&page).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn pushed_times_outside_1970_to_9999_are_400_not_a_panic() {
    let app = app();
    let bodies = [
        json!({"tbs_sha256": hash("a"), "dns_names": NAMES, "not_after": FAR_FUTURE}),
        json!({"tbs_sha256": hash("a"), "dns_names": NAMES, "not_after": FAR_PAST}),
        json!({"tbs_sha256": hash("a"), "dns_names": NAMES, "not_before": FAR_PAST}),
        json!({"tbs_sha256": hash("a"), "dns_names": NAMES, "not_after": "10000-01-01T00:00:00Z"}),
        json!({"tbs_sha256": hash("a"), "dns_names": NAMES, "not_after": "1969-12-31T23:59:59Z"}),
        json!({"pubkey_sha256": hash("k"), "dns_names": NAMES, "not_after": FAR_FUTURE}),
    ];
    for body in bodies {
        for req in [Req::post("/certs").push(), Req::post("/certs").admin()] {
            let r = send(&app, req.json(body.clone())).await;
            assert_eq!(r.status, 400, "{body}: {:?}", r.json());
            // chrono reads `+262142-…` and 1969 (then refused as out of range); it does not
            // read negative or unsigned five-digit years at all (malformed).
            let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
            let parsed = [FAR_FUTURE, "1969-"]
                .iter()
                .any(|t| body.to_string().contains(t));
            assert!(
                !parsed || message.contains("between 1970"),
                "{body}: {message}"
            );
        }
    }
    for expires_at in [FAR_FUTURE, FAR_PAST, "10000-01-01T00:00:00Z"] {
        let body =
            json!({"pubkey_sha256": hash("k"), "dns_names": NAMES, "expires_at": expires_at});
        let r = send(&app, Req::post("/keys").push().json(body)).await;
        assert_eq!(r.status, 400, "{expires_at}: {:?}", r.json());
    }
    inventory_is_empty(&app).await;
}

#[tokio::test]
async fn the_last_representable_time_is_accepted_and_expiry_is_capped_at_it() {
    let app = app();
    let body =
        json!({"tbs_sha256": hash("a"), "dns_names": NAMES, "not_after": "9999-12-31T23:59:59Z"});
    let r = send(&app, Req::post("/certs").push().json(body)).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
    // not_after + CERT_RETENTION_DAYS would be in year 10000: capped, still four year digits.
    assert_eq!(r.json()["expires_at"], "9999-12-31T23:59:59Z");
    let body = json!({"pubkey_sha256": hash("k"), "dns_names": NAMES, "expires_at": "9999-12-31T23:59:59Z"});
    let r = send(&app, Req::post("/keys").push().json(body)).await;
    assert_eq!(r.status, 201, "{:?}", r.json());
}

#[tokio::test]
async fn since_outside_the_range_or_empty_is_400() {
    let app = app();
    for since in [
        "%2B262142-12-31T23:59:59Z",
        "-262142-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "",
    ] {
        let r = send(&app, Req::get(&format!("/alerts?since={since}")).admin()).await;
        assert_eq!(r.status, 400, "since={since}: {:?}", r.json());
        assert_eq!(r.error_code(), "invalid_parameter");
    }
    for (name, value) in [("limit", ""), ("severity", ""), ("domain", "")] {
        let r = send(&app, Req::get(&format!("/alerts?{name}={value}")).admin()).await;
        assert_eq!(r.status, 400, "{name}={value}: {:?}", r.json());
    }
    let r = send(&app, Req::get("/alerts?since=2025-01-01T00:00:00Z").admin()).await;
    assert_eq!(r.status, 200);
    assert!(
        app.store()
            .get_alert(&Sha256Hash::digest(b"x"))
            .await
            .unwrap()
            .is_none()
    );
}

/// Every place that quotes client input in an error message, with a 9,000-character input.
#[tokio::test]
async fn error_messages_quote_at_most_a_short_prefix_of_the_input() {
    const LIMIT: usize = 600;
    let app = app();
    let long = "a".repeat(9_000);
    let long_name = format!("{}.example.org", "b".repeat(9_000));
    let requests = vec![
        Req::post("/domains").admin().json(json!({"value": long})),
        Req::post("/domains")
            .admin()
            .json(json!({"value": long_name})),
        Req::delete(&format!("/domains/{long}")).admin(),
        Req::delete(&format!("/domains/{long_name}")).admin(),
        Req::get(&format!("/certs?name={long}%20x")).admin(),
        Req::get(&format!("/certs?{long}=1")).admin(),
        Req::get(&format!("/certs?{long}=1&{long}=2")).admin(),
        Req::get(&format!("/alerts?domain={long}")).admin(),
        Req::get(&format!("/alerts?since={long}")).admin(),
        Req::get(&format!("/alerts?severity={long}")).admin(),
        Req::get(&format!("/alerts?limit={long}")).admin(),
        Req::get(&format!("/certs/{long}")).admin(),
        Req::post("/certs")
            .push()
            .json(json!({"tbs_sha256": hash("a"), "dns_names": [format!("{long} x")]})),
        Req::post("/certs")
            .push()
            .json(json!({"tbs_sha256": long, "dns_names": NAMES})),
        Req::post("/certs")
            .push()
            .body(&format!("application/{long}"), "x"),
        Req::post("/certs")
            .admin()
            .json(json!({"tbs_sha256": hash("a"), "dns_names": NAMES, "not_after": long})),
    ];
    for req in requests {
        let what = format!("{} {}", req.method, &req.target[..req.target.len().min(40)]);
        let r = send(&app, req).await;
        assert!(
            (400..500).contains(&r.status),
            "{what}: status {}",
            r.status
        );
        assert!(
            r.body.len() <= LIMIT,
            "{what}: a {}-byte error body: {}…",
            r.body.len(),
            String::from_utf8_lossy(&r.body[..200])
        );
        r.error_code();
    }
    inventory_is_empty(&app).await;
}
