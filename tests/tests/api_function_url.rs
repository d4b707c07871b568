//! The API Lambda driven with real Lambda Function URL event payloads (deserialised by
//! lambda_http exactly as the runtime does) against the DynamoDB emulator.

use api::App;
use chrono::{Duration, Utc};
use ctguard::hash::Sha256Hash;
use ctguard::model::{Alert, Severity};
use ctguard::store::dynamo::DynamoStore;
use ctguard::store::{AlertStore, InventoryStore, PageRequest, WatchStore};
use ctguard_core::fixtures::stored_alert;
use ctguard_tests::api::event::{Req, Resp, send};
use ctguard_tests::api::*;
use ctguard_tests::aws::{API_FUNCTION, TestAws};
use ctguard_tests::certs::TestCa;
use serde_json::json;

fn app_on(store: DynamoStore) -> InProcess<DynamoStore> {
    InProcess::new(App::new(store, settings()))
}

fn alert(seed: &str, severity: Severity) -> Alert {
    let now = Utc::now();
    Alert {
        not_before: now,
        not_after: now + Duration::days(90),
        ..stored_alert(seed, severity, now - Duration::minutes(5))
    }
}

fn all() -> PageRequest {
    PageRequest {
        limit: 1000,
        token: None,
    }
}

fn ok(r: &Resp, status: u16) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    if r.body.is_empty() {
        serde_json::Value::Null
    } else {
        r.json()
    }
}

#[tokio::test]
async fn certificates_pushed_as_events_are_stored_with_their_rfc6962_tbs_hash() {
    let aws = TestAws::new().await;
    let app = app_on(aws.function_store(API_FUNCTION).await);
    let ca = TestCa::new("ctguard api test CA");
    let leaf = factory_leaf(&ca, &["www.example.org", "example.org"]);

    // certbot's fullchain.pem as text: the leaf (with an SCT list) is what counts.
    let body = ok(
        &send(
            &app,
            Req::post("/certs")
                .push()
                .pem(&leaf.final_cert.fullchain_pem),
        )
        .await,
        201,
    );
    assert_eq!(body["tbs_sha256"], leaf.expected_tbs.to_hex());
    assert_eq!(body["source"], PUSH_LABEL);
    let stored = aws
        .store()
        .get_cert(&leaf.expected_tbs)
        .await
        .unwrap()
        .expect("in DynamoDB");
    assert_eq!(
        stored.cert_sha256,
        Some(Sha256Hash::digest(&leaf.final_cert.der))
    );
    assert_eq!(
        stored.expires_at,
        stored.not_after.map(|t| t + Duration::days(30))
    );

    // The precertificate (base64 DER, as Function URLs deliver binary bodies) is the same
    // certificate for ctguard: 200, one record, added_at kept.
    let r = send(
        &app,
        Req::post("/certs")
            .push()
            .body("application/pkix-cert", leaf.precert.der.clone())
            .base64(),
    )
    .await;
    let again = ok(&r, 200);
    assert_eq!(again["tbs_sha256"], leaf.expected_tbs.to_hex());
    assert_eq!(again["added_at"], body["added_at"]);
    assert_eq!(
        aws.store()
            .list_certs(None, &all())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    let list = ok(
        &send(&app, Req::get("/certs?name=EXAMPLE.org").admin()).await,
        200,
    );
    assert_eq!(list["items"][0]["tbs_sha256"], leaf.expected_tbs.to_hex());
    let list = ok(
        &send(&app, Req::get("/certs?name=other.example.org").admin()).await,
        200,
    );
    assert_eq!(list["items"], json!([]));

    let path = format!("/certs/{}", leaf.expected_tbs);
    ok(&send(&app, Req::get(&path).admin()).await, 200);
    ok(&send(&app, Req::delete(&path).admin()).await, 204);
    assert!(
        aws.store()
            .get_cert(&leaf.expected_tbs)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(send(&app, Req::get(&path).admin()).await.status, 404);
}

#[tokio::test]
async fn keys_domains_alerts_and_status_work_through_events() {
    let aws = TestAws::new().await;
    let app = app_on(aws.function_store(API_FUNCTION).await);

    // Keys.
    let key = Sha256Hash::digest(b"spare key");
    ok(
        &send(
            &app,
            Req::post("/keys")
                .push()
                .json(json!({"pubkey_sha256": key.to_hex(), "note": "spare", "dns_names": ["spare.example.org"]})),
        )
        .await,
        201,
    );
    ok(
        &send(
            &app,
            Req::post("/keys")
                .push()
                .json(json!({"pubkey_sha256": key.to_hex(), "dns_names": ["spare.example.org"]})),
        )
        .await,
        200,
    );
    let keys = aws.store().list_keys(&all()).await.unwrap().items;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].source, PUSH_LABEL);
    let listed = ok(&send(&app, Req::get("/keys").admin()).await, 200);
    assert_eq!(listed["items"][0]["pubkey_sha256"], key.to_hex());
    ok(
        &send(&app, Req::delete(&format!("/keys/{key}")).admin()).await,
        204,
    );
    assert!(
        aws.store()
            .list_keys(&all())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Domains (normalised by the core library).
    let created = ok(
        &send(
            &app,
            Req::post("/domains")
                .admin()
                .json(json!({"value": "Example.ORG.", "backfill": "alert"})),
        )
        .await,
        201,
    );
    assert_eq!(created["value"], "example.org");
    let watches = aws.store().list_watches().await.unwrap();
    assert_eq!(watches.len(), 1);
    assert_eq!(watches[0].domain.as_str(), "example.org");
    ok(
        &send(
            &app,
            Req::post("/domains")
                .admin()
                .json(json!({"value": "example.org"})),
        )
        .await,
        200,
    );
    let r = send(
        &app,
        Req::post("/domains")
            .admin()
            .json(json!({"value": "not a domain"})),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "invalid_domain");
    let domains = ok(&send(&app, Req::get("/domains").admin()).await, 200);
    assert_eq!(domains["items"].as_array().unwrap().len(), 1);

    // Alerts, as the poller stores them.
    let suspicious = alert("s", Severity::Suspicious);
    let pending = alert("p", Severity::Pending);
    for a in [&suspicious, &pending] {
        assert!(aws.store().create_alert(a).await.unwrap());
    }
    let listed = ok(
        &send(&app, Req::get("/alerts?severity=suspicious").admin()).await,
        200,
    );
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        listed["items"][0]["tbs_sha256"],
        suspicious.tbs_sha256.to_hex()
    );
    let path = format!("/alerts/{}", suspicious.tbs_sha256);
    ok(&send(&app, Req::get(&path).admin()).await, 200);
    let acked = ok(
        &send(
            &app,
            Req::post(&format!("{path}/ack"))
                .admin()
                .json(json!({"note": "ours"})),
        )
        .await,
        200,
    );
    assert_eq!(acked["ack"]["by"], ADMIN_LABEL);
    let stored = aws
        .store()
        .get_alert(&suspicious.tbs_sha256)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.ack.map(|a| (a.by, a.note)),
        Some((ADMIN_LABEL.into(), Some("ours".into())))
    );

    let status = ok(&send(&app, Req::get("/status").admin()).await, 200);
    assert_eq!(
        status["last_poll_succeeded"], false,
        "example.org was never polled"
    );
    assert_eq!(status["entries"][0]["value"], "example.org");
    assert_eq!(status["pending_alerts"]["count"], 1);
    assert_eq!(status["deliveries"]["queued"]["count"], 2);

    ok(
        &send(&app, Req::delete("/domains/EXAMPLE.org").admin()).await,
        204,
    );
    assert!(aws.store().list_watches().await.unwrap().is_empty());
}

#[tokio::test]
async fn refused_requests_write_nothing_to_dynamodb() {
    let aws = TestAws::new().await;
    let app = app_on(aws.function_store(API_FUNCTION).await);
    let ca = TestCa::new("ctguard api test CA");
    let leaf = factory_leaf(&ca, &["x.example.org"]);
    let many: Vec<String> = (0..1001).map(|i| format!("n{i}.example.org")).collect();
    let huge = ca.issue(&ctguard_tests::certs::LeafSpec::for_names(many));
    let hash = Sha256Hash::digest(b"x").to_hex();
    let cases = vec![
        (Req::post("/certs").pem(&leaf.final_cert.pem), 401),
        (
            Req::post("/certs").token("wrong").pem(&leaf.final_cert.pem),
            401,
        ),
        (
            Req::post("/domains")
                .push()
                .json(json!({"value": "example.org"})),
            403,
        ),
        (Req::post("/certs").push().pem(&huge.pem), 400),
        (
            Req::post("/certs")
                .push()
                .body("application/x-pem-file", vec![0xde, 0xad, 0xbe, 0xef])
                .base64(),
            400,
        ),
        (
            Req::post("/certs")
                .push()
                .body("application/json", "[".repeat(10_000)),
            400,
        ),
        (
            Req::post("/certs")
                .push()
                .json(json!({"tbs_sha256": hash, "dns_names": ["ok.example", "bad name"]})),
            400,
        ),
        (
            Req::post("/certs")
                .push()
                .body("text/plain", "A".repeat(70_000)),
            413,
        ),
        (
            Req::post("/certs")
                .push()
                .body("image/png", leaf.final_cert.pem.clone()),
            415,
        ),
        (
            Req::post("/keys")
                .push()
                .json(json!({"pubkey_sha256": hash, "pem": "x"})),
            400,
        ),
        (
            Req::post("/domains")
                .admin()
                .json(json!({"value": "example.org", "extra": true})),
            400,
        ),
        (
            Req::post(&format!("/alerts/{hash}/ack"))
                .admin()
                .json(json!({"note": "x"})),
            404,
        ),
    ];
    for (req, status) in cases {
        let r = send(&app, req).await;
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
        r.error_code();
    }
    assert!(
        aws.store()
            .list_certs(None, &all())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        aws.store()
            .list_keys(&all())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(aws.store().list_watches().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_database_outage_is_a_503_json_error_not_a_500() {
    let aws = TestAws::new().await;
    // Nothing listens here: every DynamoDB call fails to connect.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let app = app_on(aws.store_via(&endpoint).await);
    let leaf = factory_leaf(&TestCa::new("ca"), &["x.example.org"]);
    for req in [
        Req::post("/certs").push().pem(&leaf.final_cert.pem),
        Req::get("/alerts").admin(),
        Req::get("/status").admin(),
    ] {
        let r = send(&app, req).await;
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.error_code(), "store_unavailable");
    }
    // Liveness does not depend on the database.
    assert_eq!(send(&app, Req::get("/healthz")).await.status, 200);
}

/// `requestContext.authorizer` as a Function URL with `AuthType: AWS_IAM` sends it for a
/// SigV4-signed caller (the role session's temporary key, its role id and session name).
fn iam_authorizer(user_arn: &str) -> serde_json::Value {
    let session = user_arn.rsplit('/').next().unwrap_or_default();
    json!({"iam": {
        "accessKey": "ASIAQEXAMPLEEXAMPLE", "accountId": "123456789012",
        "callerId": format!("AROAQEXAMPLEEXAMPLE:{session}"), "cognitoIdentity": null,
        "principalOrgId": "o-exampleorg", "userArn": user_arn,
        "userId": format!("AROAQEXAMPLEEXAMPLE:{session}")
    }})
}

fn iam_event(req: Req, user_arn: &str) -> lambda_http::Request {
    let mut event = req.event();
    event["requestContext"]["accountId"] = json!("123456789012");
    event["requestContext"]["authorizer"] = iam_authorizer(user_arn);
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

fn iam_settings(admin: &str, push: &str) -> api::ApiSettings {
    let env = [
        ("WATCHES_TABLE", "w"),
        ("INVENTORY_TABLE", "i"),
        ("ALERTS_TABLE", "a"),
        ("AUTH_MODE", "iam"),
        ("IAM_ADMIN_PRINCIPALS", admin),
        ("IAM_PUSH_PRINCIPALS", push),
    ];
    let get = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    api::Config::from_lookup(get)
        .expect("iam configuration")
        .api
}

#[tokio::test]
async fn with_iam_auth_the_callers_arn_is_the_source() {
    let aws = TestAws::new().await;
    // As configured in the template: role ARNs, which match the roles' sessions.
    let settings = iam_settings(
        "arn:aws:iam::123456789012:role/ops",
        "arn:aws:iam::123456789012:role/lb-push",
    );
    let app = InProcess::new(App::new(aws.function_store(API_FUNCTION).await, settings));
    let leaf = factory_leaf(&TestCa::new("ca"), &["iam.example.org"]);
    let arn = "arn:aws:sts::123456789012:assumed-role/lb-push/host-7";
    let response = app
        .call(iam_event(
            Req::post("/certs").pem(&leaf.final_cert.pem),
            arn,
        ))
        .await;
    assert_eq!(response.status(), 201);
    let stored = aws
        .store()
        .get_cert(&leaf.expected_tbs)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.source, arn);

    // The same principal may not manage the watch list (role push); an unsigned request is 401.
    let response = app.call(iam_event(Req::get("/domains"), arn)).await;
    assert_eq!(response.status(), 403);
    let response = app.call(Req::get("/domains").lambda_request()).await;
    assert_eq!(response.status(), 401);
    // An admin role's session manages it.
    let ops = "arn:aws:sts::123456789012:assumed-role/ops/alice@example.org";
    let response = app.call(iam_event(Req::get("/domains"), ops)).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn with_iam_auth_a_signed_caller_in_neither_list_is_refused() {
    let aws = TestAws::new().await;
    let app = InProcess::new(App::new(
        aws.function_store(API_FUNCTION).await,
        iam_settings(
            "arn:aws:iam::123456789012:user/ops",
            "arn:aws:sts::123456789012:assumed-role/lb-push/",
        ),
    ));
    let leaf = factory_leaf(&TestCa::new("ca"), &["stranger.example.org"]);
    // Any principal allowed lambda:InvokeFunctionUrl (another team's role, a CI user, another
    // account granted by a resource policy) reaches the function with a valid signature.
    for stranger in [
        "arn:aws:sts::123456789012:assumed-role/ci-deployer/build-42",
        "arn:aws:iam::123456789012:user/ops-intern",
        "arn:aws:sts::210987654321:assumed-role/lb-push/host-1",
        "arn:aws:iam::123456789012:root",
    ] {
        for req in [
            Req::get("/domains"),
            Req::get("/alerts"),
            Req::post("/certs").pem(&leaf.final_cert.pem),
        ] {
            let r = app.call(iam_event(req, stranger)).await;
            assert_eq!(r.status(), 403, "{stranger}");
            let body = String::from_utf8_lossy(r.body().as_ref()).into_owned();
            assert!(body.contains("neither IAM_ADMIN_PRINCIPALS"), "{body}");
        }
    }
    assert!(
        aws.store()
            .get_cert(&leaf.expected_tbs)
            .await
            .unwrap()
            .is_none()
    );
    // The listed IAM user is admin.
    let r = app
        .call(iam_event(
            Req::get("/domains"),
            "arn:aws:iam::123456789012:user/ops",
        ))
        .await;
    assert_eq!(r.status(), 200);
}
