//! Least privilege, proven per function. Each function's real code runs with its own access key
//! id (`PollerFunction-<test>`, `ApiFunction-<test>`): the poller through its real handler with a
//! real EventBridge event, the API through its real handler with real Function URL events, every
//! route, both cold starts reading their secret from SSM. The emulator records every call (key
//! id, IAM action, resource ARN; `infra/local-aws/call_log.py`), and this test asserts, against
//! the policies in template.yaml resolved to this test's tables, topic, sender and parameters:
//!
//! 1. every call each function made is granted to THAT function's role (the emulator does not
//!    enforce IAM; AWS would answer AccessDenied);
//! 2. every grant of each function's role is used by some call (no permission nobody needs);
//! 3. no grant has a wildcard resource.
//!
//! It also checks, over the whole record (all tests that ran on this emulator before it, each
//! with its own tables), that every DynamoDB call a function made is granted to it.
//! The table it prints is the per-function IAM table in the README.

mod poller_support;

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use ctguard::cert::CertIdentity;
use ctguard::model::BackfillMode;
use ctguard::store::InventoryStore;
use ctguard_tests::api::event::Req;
use ctguard_tests::api::*;
use ctguard_tests::aws::{API_FUNCTION, POLLER_FUNCTION, REGION};
use ctguard_tests::certs::LeafSpec;
use ctguard_tests::iam::{Bindings, Grant, RecordedCall, function_grants, recorded_calls};
use ctguard_tests::sam::{repo_root, template_json};
use poller_support::{Env, invoke};
use serde_json::{Value, json};

fn template() -> Value {
    template_json(&repo_root().join("template.yaml"))
}

/// Sends one request through the API's real handler; every call here must succeed.
async fn call<S: api::Store>(app: &InProcess<S>, req: Req, expected: u16) -> Value {
    let label = format!("{} {}", req.method, req.target);
    let response = app.call(req.lambda_request()).await;
    let status = response.status().as_u16();
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    assert_eq!(status, expected, "{label}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// Replaces this test's concrete names by the template's names, for a readable table.
fn logical(resource: &str, names: &[(String, String)]) -> String {
    let mut text = resource.to_owned();
    for (concrete, name) in names {
        text = text.replace(concrete.as_str(), name);
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_calls_only_what_its_role_grants_and_uses_every_grant() {
    let mut env = Env::new().await;

    // --- The poller, as deployed: Cert Spotter key from SSM, SNS and SES configured. ---------
    let certspotter_key = format!("cs-{:032x}", fastrand::u128(..));
    let certspotter_param = env
        .aws
        .put_secure_string("certspotter-token", &certspotter_key)
        .await;
    env.set("CERTSPOTTER_API_TOKEN_PARAM", &certspotter_param);
    env.fake.require_token(&certspotter_key);
    // With a grace period: one entry on its first poll (baseline, summary on both channels),
    // one past it with a certificate that was pushed (info) and one pushed only after the first
    // run saw it (pending, then resolved to info). Info alerts are emailed too.
    env.set("GRACE_PERIOD", "1h");
    env.set("EMAIL_INCLUDE_INFO", "true");
    // The canary entry is created by the poller (create-if-absent) and its issuances recorded.
    env.set("CANARY_DOMAIN", "canary.example");
    env.log_cert(&["www.canary.example"]);
    env.watch_new("baseline.example", BackfillMode::Summary)
        .await;
    env.log_cert(&["www.baseline.example"]);
    env.watch("shop.example").await;
    let (_, late) = env.log_cert(&["www.shop.example"]);
    let (_, deployed) = env.log_cert(&["lb.shop.example"]);
    env.push_cert(&deployed).await;
    // Two more deployed certificates: three alerts go out in one delivery chunk, so the batched
    // calls (TransactWriteItems claims and records, SNS PublishBatch) are recorded too.
    for name in ["lb2.shop.example", "lb3.shop.example"] {
        let (_, deployed) = env.log_cert(&[name]);
        env.push_cert(&deployed).await;
    }
    // A deployed certificate 5 days from expiry with no renewal pushed (its names recorded as
    // `POST /certs` records them): the run raises `expiring` (Query by-expiry, GetItem of
    // the certificate); the API's renewal push below resolves it.
    let expiring = env.ca.issue(&LeafSpec {
        valid_days: Some((-80, 5)),
        ..LeafSpec::for_names(["old.shop.example"])
    });
    let expiring = CertIdentity::from_der(&expiring.der).expect("factory cert parses");
    env.push_cert(&expiring).await;
    let stored = env
        .store
        .get_cert(&expiring.tbs_sha256)
        .await
        .expect("get_cert")
        .expect("pushed");
    env.store
        .record_deployed(&stored)
        .await
        .expect("record_deployed");
    let config = env
        .load_config()
        .await
        .expect("the poller's configuration loads");
    let poller = poller::app::build(&config, &env.poller_sdk).expect("poller builds");
    let first = invoke(&poller).await;
    assert_eq!(first.alerts_created.pending, 1, "{first:?}");
    assert_eq!(first.alerts_created.info, 3, "{first:?}");
    assert_eq!(first.expiring_alerts, 1, "{first:?}");
    env.push_cert(&late).await;
    let second = invoke(&poller).await;
    assert_eq!(second.pending_resolved.info, 1, "{second:?}");
    assert_eq!(second.entries_failed, 0, "{second:?}");
    assert!(!env.sns(1).await.is_empty(), "nothing reached SNS");
    assert!(!env.emails().await.is_empty(), "nothing reached SES");

    // --- The API, as deployed in token mode: token hashes from SSM, every route. ------------
    let admin = format!("admin-{:032x}", fastrand::u128(..));
    let push = format!("push-{:032x}", fastrand::u128(..));
    let hash = |t: &str| ctguard::hash::Sha256Hash::digest(t.as_bytes()).to_hex();
    let tokens = json!([
        {"sha256": hash(&admin), "role": "admin", "label": "ops"},
        {"sha256": hash(&push), "role": "push", "label": "lb:iam"},
    ]);
    let api_param = env
        .aws
        .put_secure_string("api-tokens", &tokens.to_string())
        .await;
    // The cursor signing key, as `make secrets` stores it (CursorKeyParameter).
    let cursor_param = env
        .aws
        .put_secure_string("cursor-key", &format!("{:032x}", fastrand::u128(..)))
        .await;
    let api_vars: BTreeMap<&str, String> = [
        ("WATCHES_TABLE", env.aws.tables.watches.clone()),
        ("INVENTORY_TABLE", env.aws.tables.inventory.clone()),
        ("ALERTS_TABLE", env.aws.tables.alerts.clone()),
        ("AUTH_MODE", "token".to_owned()),
        ("API_TOKENS_PARAM", api_param.clone()),
        ("CURSOR_KEY_PARAM", cursor_param.clone()),
        // POST /alerts/test goes through the poller's channels.
        ("ALERT_TOPIC_ARN", env.probe.topic_arn.clone()),
        ("EMAIL_FROM", env.email_from.clone()),
        ("EMAIL_TO", env.email_to.clone()),
    ]
    .into_iter()
    .collect();
    let api_sdk = env.aws.function_config(API_FUNCTION).await;
    let api_config = api::Config::load(
        |name| api_vars.get(name).cloned(),
        &aws_sdk_ssm::Client::new(&api_sdk),
    )
    .await
    .expect("the API's configuration loads");
    let store = ctguard::store::dynamo::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&api_sdk),
        api_config.tables.clone(),
    );
    let notifier = api::notify::Notifier::new(&api_sdk, &api_config.notify);
    let app = InProcess::new(api::App::new(store, api_config.api).with_notifier(notifier));
    let a = |r: Req| r.token(&admin);
    let p = |r: Req| r.token(&push);

    call(
        &app,
        a(Req::post("/domains").json(json!({"value": "api.example"}))),
        201,
    )
    .await;
    // Known already: answered from the stored entry (200).
    call(
        &app,
        a(Req::post("/domains").json(json!({"value": "api.example"}))),
        200,
    )
    .await;
    call(&app, a(Req::get("/domains")), 200).await;
    call(&app, a(Req::delete("/domains/api.example")), 204).await;
    let leaf = factory_leaf(
        &ctguard_tests::certs::TestCa::new("iam CA"),
        &["push.shop.example"],
    );
    call(&app, p(Req::post("/certs").pem(&leaf.final_cert.pem)), 201).await;
    // Known already: the push only appends its source (append-only).
    call(&app, p(Req::post("/certs").pem(&leaf.final_cert.pem)), 200).await;
    // The renewal of the expiring certificate: its `expiring` alert is resolved (GetItem of
    // the old certificate, BatchGetItem of its names' records, the alert read and acked).
    let renewal = factory_leaf(
        &ctguard_tests::certs::TestCa::new("iam CA"),
        &["old.shop.example"],
    );
    call(
        &app,
        p(Req::post("/certs").pem(&renewal.final_cert.pem)),
        201,
    )
    .await;
    call(&app, a(Req::get("/certs")), 200).await;
    // A second page through a cursor signed with the key read from SSM (the poller's two
    // pushed certificates and this one are listed).
    let first = call(&app, a(Req::get("/certs?limit=1")), 200).await;
    let next = first["next_cursor"]
        .as_str()
        .expect("a cursor to the second record");
    call(
        &app,
        a(Req::get(&format!("/certs?limit=1&cursor={next}"))),
        200,
    )
    .await;
    call(&app, a(Req::get("/certs?name=push.shop.example")), 200).await;
    let cert = format!("/certs/{}", leaf.expected_tbs.to_hex());
    call(&app, a(Req::get(&cert)), 200).await;
    call(&app, a(Req::delete(&cert)), 204).await;
    let key = ctguard::hash::Sha256Hash::digest(b"iam spare key").to_hex();
    call(
        &app,
        p(Req::post("/keys")
            .json(json!({"pubkey_sha256": key, "dns_names": ["push.shop.example"]}))),
        201,
    )
    .await;
    call(&app, a(Req::get("/keys")), 200).await;
    call(&app, a(Req::delete(&format!("/keys/{key}"))), 204).await;
    call(&app, a(Req::get("/alerts")), 200).await;
    call(&app, a(Req::get("/alerts?severity=suspicious")), 200).await;
    let since = (Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    call(
        &app,
        a(Req::get(&format!(
            "/alerts?domain=shop.example&since={since}"
        ))),
        200,
    )
    .await;
    let alert = format!("/alerts/{}", late.tbs_sha256.to_hex());
    call(&app, a(Req::get(&alert)), 200).await;
    call(
        &app,
        a(Req::post(&format!("{alert}/ack")).json(json!({"note": "ours"}))),
        200,
    )
    .await;
    call(&app, a(Req::get("/status")), 200).await;
    call(&app, a(Req::post("/alerts/test")), 200).await;

    // --- What each function called, against what its role grants. ---------------------------
    let template = template();
    let bindings = Bindings::new(&template, REGION)
        .tables(&env.aws.tables)
        .topic("AlertTopic", &env.probe.topic_arn)
        .parameter("EmailFrom", &env.email_from)
        .parameter("EmailTo", &env.email_to)
        .parameter("CertSpotterTokenParameter", &certspotter_param)
        .parameter("ApiTokensParameter", &api_param)
        .parameter("CursorKeyParameter", &cursor_param)
        .parameter("ApiAuthType", "NONE");
    let grants = function_grants(&template, &bindings).expect("the policies resolve");
    let names: Vec<(String, String)> = {
        let t = &env.aws.tables;
        let arn = |service: &str, resource: &str| {
            format!(
                "arn:aws:{service}:{REGION}:{}:{resource}",
                ctguard_tests::iam::ACCOUNT_ID
            )
        };
        let mut names = vec![
            (
                arn("dynamodb", &format!("table/{}", t.watches)),
                "WatchesTable".to_owned(),
            ),
            (
                arn("dynamodb", &format!("table/{}", t.inventory)),
                "InventoryTable".to_owned(),
            ),
            (
                arn("dynamodb", &format!("table/{}", t.alerts)),
                "AlertsTable".to_owned(),
            ),
            (env.probe.topic_arn.clone(), "AlertTopic".to_owned()),
            (
                arn("ses", &format!("identity/{}", env.email_from)),
                "SES identity ${EmailFrom}".to_owned(),
            ),
            (
                arn("ssm", &format!("parameter{certspotter_param}")),
                "SSM parameter ${CertSpotterTokenParameter}".to_owned(),
            ),
            (
                arn("ssm", &format!("parameter{api_param}")),
                "SSM parameter ${ApiTokensParameter}".to_owned(),
            ),
            (
                arn("ssm", &format!("parameter{cursor_param}")),
                "SSM parameter ${CursorKeyParameter}".to_owned(),
            ),
        ];
        names.sort_by_key(|(concrete, _)| std::cmp::Reverse(concrete.len()));
        names
    };

    let mut denied = Vec::new();
    let mut used: BTreeSet<(String, Grant)> = BTreeSet::new();
    let mut table = Vec::new();
    for function in [POLLER_FUNCTION, API_FUNCTION] {
        let role = grants
            .get(function)
            .unwrap_or_else(|| panic!("no {function} in template.yaml"));
        let calls: Vec<RecordedCall> =
            recorded_calls(&env.aws.endpoint, &env.aws.function_key(function)).await;
        assert!(!calls.is_empty(), "no call recorded for {function}");
        for call in calls {
            // Another test's key id can share this prefix only if it extends it: skip those.
            if call.key_id != env.aws.function_key(function) {
                continue;
            }
            let matching: Vec<&Grant> = role
                .iter()
                .filter(|g| g.allows(&call.action, &call.resource))
                .collect();
            if matching.is_empty() {
                denied.push(format!(
                    "{function}: {} on {}",
                    call.action,
                    logical(&call.resource, &names)
                ));
            }
            for grant in matching {
                used.insert((function.to_owned(), grant.clone()));
            }
            table.push(format!(
                "| {function} | `{}` | `{}` | {} |",
                call.action,
                logical(&call.resource, &names),
                call.count
            ));
        }
    }
    eprintln!(
        "Per-function IAM (observed calls, all granted and used when this test passes):\n\
         | function | action | resource | calls |\n|---|---|---|---|\n{}",
        table.join("\n")
    );

    let wildcards: Vec<String> = grants
        .iter()
        .flat_map(|(f, g)| g.iter().map(move |g| (f, g)))
        .filter(|(_, g)| g.has_wildcard())
        .map(|(f, g)| format!("{f}: {} on {}", g.action, g.resource))
        .collect();
    let unused: Vec<String> = grants
        .iter()
        .flat_map(|(f, g)| g.iter().map(move |g| (f.clone(), g.clone())))
        .filter(|entry| !used.contains(entry))
        .map(|(f, g)| format!("{f}: {} on {}", g.action, logical(&g.resource, &names)))
        .collect();
    assert!(
        denied.is_empty(),
        "calls the function's role does not grant (AccessDenied in AWS):\n{}",
        denied.join("\n")
    );
    assert!(
        wildcards.is_empty(),
        "wildcard grants:\n{}",
        wildcards.join("\n")
    );
    assert!(
        unused.is_empty(),
        "grants no call used (remove them, or test what needs them):\n{}",
        unused.join("\n")
    );
}

/// Every DynamoDB call any test recorded for a function (keys `<Function>-<test prefix>`, whose
/// tables are `<test prefix>-watches` etc.) is granted to that function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_dynamodb_call_of_any_test_is_granted_to_its_function() {
    // This test's own poller run, so the record is never empty.
    let env = Env::new().await;
    env.watch("record.example").await;
    invoke(&env.poller()).await;

    let template = template();
    let mut denied = BTreeSet::new();
    let mut checked = 0;
    for function in [POLLER_FUNCTION, API_FUNCTION] {
        for call in recorded_calls(&env.aws.endpoint, &format!("{function}-")).await {
            if !call.action.starts_with("dynamodb:") {
                continue;
            }
            // Only keys of the test harness (`<Function>-ctg<12 hex>`): its table names are known.
            let Some(prefix) = call
                .key_id
                .strip_prefix(&format!("{function}-"))
                .filter(|p| {
                    p.len() == 15
                        && p.starts_with("ctg")
                        && p[3..].bytes().all(|b| b.is_ascii_hexdigit())
                })
            else {
                continue;
            };
            let tables = ctguard::store::dynamo::TableNames {
                watches: format!("{prefix}-watches"),
                inventory: format!("{prefix}-inventory"),
                alerts: format!("{prefix}-alerts"),
            };
            let bindings = Bindings::new(&template, REGION).tables(&tables).topic(
                "AlertTopic",
                &format!("arn:aws:sns:{REGION}:123456789012:{prefix}-alerts"),
            );
            let grants = function_grants(&template, &bindings).expect("the policies resolve");
            checked += 1;
            if !grants[function]
                .iter()
                .any(|g| g.allows(&call.action, &call.resource))
            {
                denied.insert(format!(
                    "{function} ({}): {} on {}",
                    call.key_id, call.action, call.resource
                ));
            }
        }
    }
    assert!(checked > 0, "no DynamoDB call recorded");
    assert!(
        denied.is_empty(),
        "DynamoDB calls a function's role does not grant:\n{}",
        denied.into_iter().collect::<Vec<_>>().join("\n")
    );
}
