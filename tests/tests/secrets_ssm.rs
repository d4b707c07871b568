//! Secrets from SSM Parameter Store, against the emulator: the deployed functions get only the
//! NAMES of SecureString parameters (`API_TOKENS_PARAM`, `CERTSPOTTER_API_TOKEN_PARAM`) and
//! read the values at cold start with `GetParameter` + decryption. A missing, empty, denied or
//! (for the API) malformed parameter stops the start with an error naming the parameter and
//! the variable, never the value.

mod poller_support;

use std::collections::HashMap;

use api::auth::{AuthMode, Role};
use api::config::ConfigError as ApiConfigError;
use ctguard::hash::Sha256Hash;
use ctguard::secrets::SecretError;
use ctguard_tests::api::InProcess;
use ctguard_tests::api::event::{Req, send};
use ctguard_tests::aws::{API_FUNCTION, TestAws};
use ctguard_tests::fault_proxy::{Fault, FaultProxy, Service};
use poller_support::{Env, invoke};

fn lookup(vars: HashMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |name| vars.get(name).cloned()
}

fn api_env(aws: &TestAws, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("WATCHES_TABLE", aws.tables.watches.as_str()),
        ("INVENTORY_TABLE", aws.tables.inventory.as_str()),
        ("ALERTS_TABLE", aws.tables.alerts.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    vars
}

fn tokens_json(token: &str, role: &str, label: &str) -> String {
    let hash = Sha256Hash::digest(token.as_bytes()).to_hex();
    format!(r#"[{{"sha256":"{hash}","role":"{role}","label":"{label}"}}]"#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_config_loads_the_token_hashes_from_the_ssm_parameter_and_they_authenticate() {
    let aws = TestAws::new().await;
    let admin = format!("admin-{:032x}", fastrand::u128(..));
    let name = aws
        .put_secure_string("api-tokens", &tokens_json(&admin, "admin", "ops:ssm"))
        .await;
    // The plain variable holds other hashes: the parameter wins when both are set.
    let plain = tokens_json("plain-token", "admin", "ops:plain");
    let vars = api_env(
        &aws,
        &[("API_TOKENS_PARAM", name.as_str()), ("API_TOKENS", &plain)],
    );

    // As the API's cold start reads it: with the API function's credentials.
    let api_ssm = aws_sdk_ssm::Client::new(&aws.function_config(API_FUNCTION).await);
    let config = api::Config::load(lookup(vars), &api_ssm)
        .await
        .expect("the configuration loads from SSM");
    match &config.api.auth {
        AuthMode::Bearer(tokens) => {
            assert_eq!(tokens.len(), 1, "{tokens:?}");
            assert_eq!(tokens[0].sha256, Sha256Hash::digest(admin.as_bytes()));
            assert_eq!(tokens[0].role, Role::Admin);
            assert_eq!(tokens[0].label, "ops:ssm");
        }
        other => panic!("token mode expected, got {other:?}"),
    }

    // The app built from it (as main builds it) lets the SSM token in, and only it.
    let app = InProcess::new(api::App::new(aws.store(), config.api));
    let ok = send(&app, Req::get("/status").token(&admin)).await;
    assert_eq!(ok.status, 200, "{:?}", String::from_utf8_lossy(&ok.body));
    let refused = send(&app, Req::get("/status").token("plain-token")).await;
    assert_eq!(refused.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_config_without_the_param_variable_still_reads_api_tokens_for_local_runs() {
    let aws = TestAws::new().await;
    let plain = tokens_json("plain-token", "push", "lb:local");
    // An empty API_TOKENS_PARAM is how `sam local invoke --env-vars` switches SSM off.
    let vars = api_env(&aws, &[("API_TOKENS_PARAM", ""), ("API_TOKENS", &plain)]);
    // As the API's cold start reads it: with the API function's credentials.
    let api_ssm = aws_sdk_ssm::Client::new(&aws.function_config(API_FUNCTION).await);
    let config = api::Config::load(lookup(vars), &api_ssm).await.unwrap();
    assert!(
        matches!(&config.api.auth, AuthMode::Bearer(t) if t[0].label == "lb:local"),
        "{:?}",
        config.api.auth
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_config_errors_name_the_parameter_and_the_variable_never_the_value() {
    let aws = TestAws::new().await;
    let load = |name: String, ssm: aws_sdk_ssm::Client| {
        let vars = api_env(&aws, &[("API_TOKENS_PARAM", name.as_str())]);
        async move { api::Config::load(lookup(vars), &ssm).await }
    };
    let named = |err: &ApiConfigError, name: &str| {
        let text = err.to_string();
        assert!(
            text.contains("API_TOKENS_PARAM") && text.contains(name),
            "{text}"
        );
    };

    // Missing.
    let absent = format!("/{}/no-such-parameter", aws.prefix);
    let err = load(absent.clone(), aws.ssm.clone()).await.unwrap_err();
    assert!(
        matches!(err, ApiConfigError::Secret(SecretError::NotFound { .. })),
        "{err:?}"
    );
    named(&err, &absent);

    // Blank (SSM refuses an empty value; whitespace is the closest).
    let blank = aws.put_secure_string("blank", "  ").await;
    let err = load(blank.clone(), aws.ssm.clone()).await.unwrap_err();
    assert!(
        matches!(err, ApiConfigError::Secret(SecretError::Empty { .. })),
        "{err:?}"
    );
    named(&err, &blank);

    // Not the token JSON: the message says what is wrong, without echoing the content.
    let marker = "do-not-echo-7f3a";
    let malformed = aws
        .put_secure_string("malformed", &format!("{{\"{marker}\": 1}}"))
        .await;
    let err = load(malformed.clone(), aws.ssm.clone()).await.unwrap_err();
    assert!(
        matches!(err, ApiConfigError::InvalidParameter { .. }),
        "{err:?}"
    );
    named(&err, &malformed);
    assert!(!err.to_string().contains(marker), "{err}");
    assert!(!format!("{err:?}").contains(marker), "{err:?}");

    // Access denied (no ssm:GetParameter grant), answered by IAM in front of the emulator.
    let stored = aws
        .put_secure_string("denied", &tokens_json("t", "admin", "ops"))
        .await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    proxy.inject(Service::Ssm, "GetParameter", Fault::AccessDenied, 1);
    let denied_ssm = aws_sdk_ssm::Client::new(&aws.config_via(proxy.url()).await);
    let err = load(stored.clone(), denied_ssm.clone()).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiConfigError::Secret(SecretError::AccessDenied { .. })
        ),
        "{err:?}"
    );
    named(&err, &stored);
    assert_eq!(proxy.count(Service::Ssm, "GetParameter"), 1, "not retried");
    // The same parameter through the same proxy loads once the fault is gone.
    load(stored, denied_ssm)
        .await
        .expect("loads without the fault");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poller_loads_the_certspotter_key_from_ssm_and_sends_it_as_bearer() {
    let mut env = Env::new().await;
    let key = format!("cs-{:032x}", fastrand::u128(..));
    let name = env.aws.put_secure_string("certspotter-token", &key).await;
    env.set("CERTSPOTTER_API_TOKEN_PARAM", &name);
    // The plain variable is ignored when the parameter is named.
    env.set("CERTSPOTTER_API_TOKEN", "plain-key-not-used");
    env.fake.require_token(&key);
    env.watch("shop.example").await;
    let (_, identity) = env.log_cert(&["www.shop.example"]);

    let config = env.load_config().await.expect("the configuration loads");
    assert_eq!(config.certspotter.token.as_deref(), Some(key.as_str()));
    assert!(
        !format!("{config:?}").contains(&key),
        "Debug shows the key: {config:?}"
    );
    let poller = poller::app::build(&config, &env.poller_sdk).expect("poller builds");
    let report = invoke(&poller).await;

    let queries = env.fake.queries();
    assert!(!queries.is_empty(), "the poller never asked Cert Spotter");
    let expected = format!("Bearer {key}");
    for query in &queries {
        assert_eq!(query.authorization.as_deref(), Some(expected.as_str()));
    }
    assert_eq!(report.entries_failed, 0, "{report:?}");
    assert_eq!(report.issuances_seen, 1, "{report:?}");
    env.alert(&identity.tbs_sha256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poller_config_fails_naming_a_missing_or_denied_parameter() {
    let mut env = Env::new().await;
    let absent = format!("/{}/no-such-parameter", env.aws.prefix);
    env.set("CERTSPOTTER_API_TOKEN_PARAM", &absent);
    let err = env.load_config().await.unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert_eq!(err.problems[0].variable, "CERTSPOTTER_API_TOKEN_PARAM");
    let text = err.to_string();
    assert!(
        text.contains(&absent) && text.contains("does not exist"),
        "{text}"
    );

    let key = "cs-denied-key-0123";
    let name = env.aws.put_secure_string("denied", key).await;
    env.set("CERTSPOTTER_API_TOKEN_PARAM", &name);
    let proxy = FaultProxy::start(&env.aws.endpoint).await;
    proxy.inject(Service::Ssm, "GetParameter", Fault::AccessDenied, 1);
    let ssm = aws_sdk_ssm::Client::new(&env.aws.config_via(proxy.url()).await);
    let vars = env.env_vars();
    let err = poller::Config::load(lookup(vars), &ssm).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("CERTSPOTTER_API_TOKEN_PARAM") && text.contains(&name),
        "{text}"
    );
    assert!(text.contains("denied"), "{text}");
    assert!(!text.contains(key), "{text}");
}

/// The cursor key from `CURSOR_KEY_PARAM` signs the cursors: an app configured with it
/// accepts its own cursors, an app with the derived key (same tokens, no parameter) refuses
/// them; a short key is refused at start-up without being shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_cursor_key_comes_from_its_ssm_parameter() {
    let aws = TestAws::new().await;
    let admin = format!("admin-{:032x}", fastrand::u128(..));
    let tokens = tokens_json(&admin, "admin", "ops");
    let key = format!("cursor-key-{:032x}", fastrand::u128(..));
    let name = aws.put_secure_string("cursor-key", &key).await;
    let with_param = api_env(
        &aws,
        &[("API_TOKENS", &tokens), ("CURSOR_KEY_PARAM", name.as_str())],
    );
    let config = api::Config::load(lookup(with_param), &aws.ssm)
        .await
        .expect("loads");
    let app = InProcess::new(api::App::new(aws.store(), config.api));
    let derived = InProcess::new(api::App::new(
        aws.store(),
        api::Config::load(lookup(api_env(&aws, &[("API_TOKENS", &tokens)])), &aws.ssm)
            .await
            .unwrap()
            .api,
    ));
    for i in 0..3 {
        let key = Sha256Hash::digest(format!("ssm cursor {i}").as_bytes()).to_hex();
        let body = serde_json::json!({ "pubkey_sha256": key });
        let r = send(&app, Req::post("/keys").token(&admin).json(body)).await;
        assert_eq!(r.status, 201);
    }
    let page = send(&app, Req::get("/keys?limit=1").token(&admin))
        .await
        .json();
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let next = send(
        &app,
        Req::get(&format!("/keys?limit=1&cursor={cursor}")).token(&admin),
    )
    .await;
    assert_eq!(next.status, 200);
    let other = send(
        &derived,
        Req::get(&format!("/keys?limit=1&cursor={cursor}")).token(&admin),
    )
    .await;
    assert_eq!(other.status, 400);
    assert_eq!(other.error_code(), "invalid_cursor");

    let short = aws
        .put_secure_string("short-cursor-key", "s3cr3t-short")
        .await;
    let vars = api_env(
        &aws,
        &[
            ("API_TOKENS", &tokens),
            ("CURSOR_KEY_PARAM", short.as_str()),
        ],
    );
    let err = api::Config::load(lookup(vars), &aws.ssm).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiConfigError::Invalid {
                var: "CURSOR_KEY_PARAM",
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
}
