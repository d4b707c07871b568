//! Both functions run the way Lambda runs them: `sam local invoke` on the `sam build` output, in
//! the local Lambda-like base image with SAM's runtime interface emulator, configured only
//! through `--env-vars`, against the AWS emulator and the fake Cert Spotter. Needs Docker (these
//! tests fail, saying what is missing, without it).
//!
//! The container sits on Docker's bridge (see `ctguard_tests::sam`), so it reaches the emulator
//! and the fake through forwarders on the bridge gateway address.

use std::time::Duration;

use chrono::Utc;
use ctguard::cert::CertIdentity;
use ctguard::domain::WatchDomain;
use ctguard::model::{BackfillMode, Severity, WatchEntry};
use ctguard::store::{AlertStore, InventoryStore, WatchStore};
use ctguard_tests::aws::TestAws;
use ctguard_tests::aws::{API_FUNCTION, POLLER_FUNCTION};
use ctguard_tests::certs::{LeafSpec, TestCa};
use ctguard_tests::fake_certspotter::FakeCertSpotter;
use ctguard_tests::iam::{Bindings, ungranted_calls};
use ctguard_tests::sam::{self, Forwarder, sam_local_invoke_as, socket_addr_of};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A real EventBridge scheduled event (what the `Schedule` event source sends).
fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": "89cf6e7e-7cb1-4d25-b6a4-6f0a6c1b6a01",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/ctguard-PollerFunctionPoll-1ABCDEF"],
        "detail": {}
    })
}

/// A Lambda Function URL event (payload format 2.0) as AWS delivers it.
fn function_url_event(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &str)>,
) -> Value {
    let mut headers = serde_json::Map::new();
    headers.insert(
        "host".into(),
        json!("abcdefghijklmnop.lambda-url.us-east-1.on.aws"),
    );
    headers.insert("x-forwarded-proto".into(), json!("https"));
    headers.insert("x-forwarded-for".into(), json!("203.0.113.7"));
    headers.insert("user-agent".into(), json!("ctguard-tests/1"));
    if let Some(token) = token {
        headers.insert("authorization".into(), json!(format!("Bearer {token}")));
    }
    if let Some((content_type, _)) = body {
        headers.insert("content-type".into(), json!(content_type));
    }
    let now = Utc::now();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnop",
            "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnop",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "ctguard-tests/1"
            },
            "requestId": format!("req-{:016x}", fastrand::u64(..)),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis()
        },
        "body": body.map(|(_, b)| b),
        "isBase64Encoded": false
    })
}

/// Forwarders from the Docker bridge to the emulator (and optionally the fake Cert Spotter).
async fn bridge_to(aws: &TestAws) -> Forwarder {
    let gateway = sam::docker_bridge_gateway();
    Forwarder::start(gateway, socket_addr_of(&aws.endpoint)).await
}

fn table_env(aws: &TestAws, emulator: &Forwarder) -> serde_json::Map<String, Value> {
    let mut env = serde_json::Map::new();
    env.insert("WATCHES_TABLE".into(), json!(aws.tables.watches));
    env.insert("INVENTORY_TABLE".into(), json!(aws.tables.inventory));
    env.insert("ALERTS_TABLE".into(), json!(aws.tables.alerts));
    env.insert("AWS_ENDPOINT_URL".into(), json!(emulator.url()));
    env.insert("RUST_LOG".into(), json!("info"));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poller_under_sam_local_invoke_stores_and_delivers_an_alert_for_an_unknown_certificate() {
    sam::require_docker();
    let aws = TestAws::new().await;
    let store = aws.store();
    let fake = FakeCertSpotter::start().await;
    let probe = aws.sns_probe("alerts").await;
    let email_from = aws.unique_email("ctguard");
    let email_to = aws.unique_email("ops");
    aws.verify_email_identity(&email_from).await;

    // A watched domain past its baseline, and a certificate for it nobody pushed.
    let domain = WatchDomain::parse("shop.example").expect("domain");
    let mut entry = WatchEntry::new(domain.clone(), None, BackfillMode::Summary, Utc::now());
    entry.baseline_completed_at = Some(Utc::now());
    assert!(store.create_watch(&entry).await.expect("create_watch"));
    let ca = TestCa::new("ctguard sam local test CA");
    let cert = ca.issue(&LeafSpec::for_names(["www.shop.example"]));
    fake.add_cert_der(&cert.der);
    let identity = CertIdentity::from_der(&cert.der).expect("factory cert parses");

    let emulator = bridge_to(&aws).await;
    let certspotter =
        Forwarder::start(sam::docker_bridge_gateway(), socket_addr_of(&fake.url())).await;
    let mut env = table_env(&aws, &emulator);
    env.insert("CERTSPOTTER_API_URL".into(), json!(certspotter.url()));
    env.insert("ALERT_TOPIC_ARN".into(), json!(probe.topic_arn));
    env.insert("EMAIL_FROM".into(), json!(email_from));
    env.insert("EMAIL_TO".into(), json!(email_to));
    env.insert("GRACE_PERIOD".into(), json!("0"));
    env.insert("CAA_RESOLVER".into(), json!("off"));

    let invocation = sam_local_invoke_as(
        POLLER_FUNCTION,
        &aws.function_key(POLLER_FUNCTION),
        &scheduled_event(),
        &Value::Object(env),
    )
    .await;
    assert!(
        invocation.success,
        "sam local invoke PollerFunction failed\n--- stdout\n{}\n--- stderr\n{}",
        invocation.stdout, invocation.stderr
    );
    let report = invocation.response();
    assert_eq!(report["failed"], false, "run report: {report}");
    assert_eq!(
        report["alerts_created"]["suspicious"], 1,
        "run report: {report}"
    );
    let timing = invocation.report();
    eprintln!(
        "PollerFunction: init {:?} ms, duration {} ms, max memory {:?} MB",
        timing.init_duration_ms, timing.duration_ms, timing.max_memory_mb
    );

    // Stored, and delivered on both channels.
    let alert = store
        .get_alert(&identity.tbs_sha256)
        .await
        .expect("get_alert")
        .expect("the alert is stored");
    assert_eq!(alert.severity, Severity::Suspicious);
    assert!(alert.dns_names.iter().any(|n| n == "www.shop.example"));
    let messages = aws.receive_sns(&probe, 1, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 1, "SNS messages: {messages:?}");
    assert!(
        messages[0].message.contains(&identity.tbs_sha256.to_hex()),
        "the SNS message names the certificate: {}",
        messages[0].message
    );
    let mails = aws.sent_emails(&email_to).await;
    assert_eq!(mails.len(), 1, "emails to {email_to}: {mails:?}");

    // SAM handed the function its own credentials: every call it made is one its role grants.
    let template = sam::template_json(&sam::repo_root().join("template.yaml"));
    let bindings = Bindings::new(&template, ctguard_tests::aws::REGION)
        .tables(&aws.tables)
        .topic("AlertTopic", &probe.topic_arn)
        .parameter("EmailFrom", &email_from)
        .parameter("EmailTo", &email_to);
    let key = aws.function_key(POLLER_FUNCTION);
    let (denied, calls) =
        ungranted_calls(&aws.endpoint, &key, &template, POLLER_FUNCTION, &bindings).await;
    assert!(
        calls > 0,
        "no call recorded under {key}: SAM did not pass the credentials"
    );
    assert!(
        denied.is_empty(),
        "not granted to PollerFunction: {denied:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poller_under_sam_local_invoke_fails_the_invocation_when_its_configuration_is_incomplete() {
    sam::require_docker();
    let aws = TestAws::new().await;
    let emulator = bridge_to(&aws).await;
    let mut env = table_env(&aws, &emulator);
    // The template's value is unresolvable locally (a table reference): an empty name.
    env.insert("ALERTS_TABLE".into(), json!(""));
    let invocation = sam_local_invoke_as(
        POLLER_FUNCTION,
        &aws.function_key(POLLER_FUNCTION),
        &scheduled_event(),
        &Value::Object(env),
    )
    .await;
    // The runtime refuses to start; the RIE reports the failed init and no response comes back.
    let all = format!("{}\n{}", invocation.stdout, invocation.stderr);
    assert!(
        invocation.stderr.contains("Runtime exited with error"),
        "the function must not start without its configuration:\n{all}"
    );
    assert!(
        invocation.stderr.contains("ALERTS_TABLE"),
        "the failure names the missing variable:\n{all}"
    );
    assert!(
        invocation.stdout.trim().is_empty(),
        "no run may happen without its configuration:\n{all}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_under_sam_local_invoke_answers_function_url_events() {
    sam::require_docker();
    let aws = TestAws::new().await;
    let store = aws.store();
    let emulator = bridge_to(&aws).await;
    let push_token = format!("push-{:032x}", fastrand::u128(..));
    let hash = hex::encode(Sha256::digest(push_token.as_bytes()));
    let mut env = table_env(&aws, &emulator);
    env.insert("AUTH_MODE".into(), json!("token"));
    // Locally the hashes come in plain API_TOKENS; an empty API_TOKENS_PARAM switches off the
    // SSM read the template's parameter name would otherwise trigger.
    env.insert("API_TOKENS_PARAM".into(), json!(""));
    env.insert(
        "API_TOKENS".into(),
        json!(json!([{"sha256": hash, "role": "push", "label": "lb:sam-local"}]).to_string()),
    );
    // The cursor key is read from SSM as deployed (CursorKeyParameter), so the per-function IAM
    // check below sees that read.
    let cursor_param = aws
        .put_secure_string("cursor-key", &format!("{:032x}", fastrand::u128(..)))
        .await;
    env.insert("CURSOR_KEY_PARAM".into(), json!(cursor_param));
    let env = Value::Object(env);

    // Public health check.
    let health = sam_local_invoke_as(
        API_FUNCTION,
        &aws.function_key(API_FUNCTION),
        &function_url_event("GET", "/healthz", None, None),
        &env,
    )
    .await;
    // What a lost invocation needs for a diagnosis (stop 18's CI lost this one once: no
    // response and no function log within the 15 s timeout): how long SAM took and whether
    // the function reached the emulator.
    let diagnosis = |i: &sam::Invocation| {
        format!(
            "after {:?}; emulator forwarder {}\n--- stdout\n{}\n--- stderr\n{}",
            i.elapsed,
            emulator.traffic(),
            i.stdout,
            i.stderr
        )
    };
    assert!(
        health.success && !health.stdout.trim().is_empty(),
        "healthz invocation failed {}",
        diagnosis(&health)
    );
    assert_eq!(
        health.response()["statusCode"],
        200,
        "{}",
        diagnosis(&health)
    );
    let timing = health.report();
    eprintln!(
        "ApiFunction: init {:?} ms, duration {} ms, max memory {:?} MB",
        timing.init_duration_ms, timing.duration_ms, timing.max_memory_mb
    );

    // A push without a token is refused.
    let ca = TestCa::new("ctguard sam local api CA");
    let cert = ca.issue(&LeafSpec::for_names(["api.shop.example"]));
    let pem_body = Some(("application/x-pem-file", cert.pem.as_str()));
    let refused = sam_local_invoke_as(
        API_FUNCTION,
        &aws.function_key(API_FUNCTION),
        &function_url_event("POST", "/certs", None, pem_body),
        &env,
    )
    .await;
    assert!(refused.success, "{}", refused.stderr);
    assert_eq!(refused.response()["statusCode"], 401, "{}", refused.stdout);

    // The deploy hook's push with the push token lands in the inventory.
    let pushed = sam_local_invoke_as(
        API_FUNCTION,
        &aws.function_key(API_FUNCTION),
        &function_url_event("POST", "/certs", Some(&push_token), pem_body),
        &env,
    )
    .await;
    assert!(pushed.success, "{}", pushed.stderr);
    let status = pushed.response()["statusCode"].as_u64().unwrap_or_default();
    assert!(
        matches!(status, 200 | 201),
        "push answered {status}: {}",
        pushed.stdout
    );
    let identity = CertIdentity::from_der(&cert.der).expect("factory cert parses");
    let stored = store
        .get_cert(&identity.tbs_sha256)
        .await
        .expect("get_cert")
        .expect("the pushed certificate is in the inventory");
    assert_eq!(stored.source, "lb:sam-local");

    let template = sam::template_json(&sam::repo_root().join("template.yaml"));
    // The API's role also names the alert topic (POST /alerts/test, not called here): bind it
    // to a topic this test does not use, and no email sender (no SES statement).
    let unused_topic = format!(
        "arn:aws:sns:{}:{}:ctguard-alerts-unused",
        ctguard_tests::aws::REGION,
        ctguard_tests::iam::ACCOUNT_ID
    );
    let bindings = Bindings::new(&template, ctguard_tests::aws::REGION)
        .tables(&aws.tables)
        .topic("AlertTopic", &unused_topic)
        .parameter("EmailFrom", "")
        .parameter("EmailTo", "")
        .parameter("CursorKeyParameter", &cursor_param);
    let key = aws.function_key(API_FUNCTION);
    let (denied, calls) =
        ungranted_calls(&aws.endpoint, &key, &template, API_FUNCTION, &bindings).await;
    assert!(
        calls > 0,
        "no call recorded under {key}: SAM did not pass the credentials"
    );
    assert!(denied.is_empty(), "not granted to ApiFunction: {denied:#?}");
}
