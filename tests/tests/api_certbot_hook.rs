//! The certbot deploy hook (`infra/certbot/ctguard-deploy-hook`), run for real: certbot's
//! environment simulated (a RENEWED_LINEAGE directory with a `cert.pem` made by `openssl`),
//! against the API's local listener backed by the DynamoDB emulator.

mod api_support;
mod poller_support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use api_support::*;
use ctguard::model::{AuthorizedBy, Severity};
use ctguard::store::InventoryStore;
use ctguard_tests::aws::TestAws;

/// Runs the hook with a clean environment plus `env`; returns its output.
async fn run_hook(args: &[&str], env: Vec<(&'static str, String)>) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new("bash");
        command.arg(hook_path()).args(&args).env_clear();
        command.env("PATH", std::env::var("PATH").unwrap_or_default());
        command.env("CTGUARD_ENV_FILE", "/nonexistent/ctguard-hook.env");
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().expect("run the hook")
    })
    .await
    .unwrap()
}

fn token_file(dir: &Path, token: &str, mode: u32) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("push-token");
    std::fs::write(&path, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.display().to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hook_pushes_the_renewed_certificate_and_the_inventory_holds_its_tbs_hash() {
    let aws = TestAws::new().await;
    let (url, app) = start_listener(aws.store()).await;
    let tmp = TempDir::new("hook");
    let lineage = tmp.path().join("live/hook.example.org");
    let der = openssl_cert(&lineage, &["hook.example.org", "www.hook.example.org"]);
    let token = token_file(tmp.path(), PUSH_TOKEN, 0o600);
    let env = || {
        vec![
            ("CTGUARD_API_URL", url.clone()),
            ("CTGUARD_TOKEN_FILE", token.clone()),
            ("RENEWED_LINEAGE", lineage.display().to_string()),
        ]
    };

    let out = run_hook(&[], env()).await;
    assert!(out.status.success(), "hook failed: {}", stderr(&out));
    assert!(
        stderr(&out).contains("pushed to ctguard"),
        "{}",
        stderr(&out)
    );

    let tbs = independent_tbs_sha256(&der);
    let stored = app
        .store()
        .get_cert(&tbs)
        .await
        .unwrap()
        .expect("the TBS hash is in the inventory");
    assert_eq!(stored.source, PUSH_LABEL);
    let mut names = stored.dns_names.clone();
    names.sort();
    assert_eq!(names, ["hook.example.org", "www.hook.example.org"]);

    // certbot may run the hook again for the same lineage: still success, nothing duplicated.
    let out = run_hook(&[], env()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("already known"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_mode_pushes_every_live_certificate() {
    let aws = TestAws::new().await;
    let (url, app) = start_listener(aws.store()).await;
    let tmp = TempDir::new("hook-all");
    let live = tmp.path().join("live");
    let a = openssl_cert(&live.join("a.example.org"), &["a.example.org"]);
    let b = openssl_cert(&live.join("b.example.net"), &["b.example.net"]);
    std::fs::write(live.join("README"), "not a lineage").unwrap();
    let out = run_hook(
        &["--all"],
        vec![
            ("CTGUARD_API_URL", url),
            ("CTGUARD_PUSH_TOKEN", PUSH_TOKEN.into()),
            ("CTGUARD_LIVE_DIR", live.display().to_string()),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2 pushed, 0 failed"),
        "{}",
        stderr(&out)
    );
    for der in [a, b] {
        let tbs = independent_tbs_sha256(&der);
        assert!(
            app.store().get_cert(&tbs).await.unwrap().is_some(),
            "{tbs} missing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_fails_at_once_with_the_apis_message() {
    let aws = TestAws::new().await;
    let (url, app) = start_listener(aws.store()).await;
    let tmp = TempDir::new("hook-401");
    let lineage = tmp.path().join("live/x.example.org");
    let der = openssl_cert(&lineage, &["x.example.org"]);
    let out = run_hook(
        &[],
        vec![
            ("CTGUARD_API_URL", url),
            ("CTGUARD_PUSH_TOKEN", "not-the-token".into()),
            ("CTGUARD_RETRY_DELAY", "5".into()),
            ("RENEWED_LINEAGE", lineage.display().to_string()),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 401") && err.contains("unknown token"),
        "{err}"
    );
    assert!(!err.contains("retrying"), "a 4xx is not retried: {err}");
    let tbs = independent_tbs_sha256(&der);
    assert!(app.store().get_cert(&tbs).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_retried_with_backoff_then_reported() {
    // A port that was free a moment ago: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let tmp = TempDir::new("hook-down");
    let lineage = tmp.path().join("live/x.example.org");
    openssl_cert(&lineage, &["x.example.org"]);
    let out = run_hook(
        &[],
        vec![
            ("CTGUARD_API_URL", url),
            ("CTGUARD_PUSH_TOKEN", PUSH_TOKEN.into()),
            ("CTGUARD_ATTEMPTS", "3".into()),
            ("CTGUARD_RETRY_DELAY", "0.05".into()),
            ("RENEWED_LINEAGE", lineage.display().to_string()),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("retrying in").count(), 2, "{err}");
    assert!(
        err.contains("retrying in 0.05s") && err.contains("retrying in 0.1s"),
        "backoff doubles: {err}"
    );
    assert!(err.contains("giving up after 3 attempts"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_and_server_errors_are_retried_until_the_push_succeeds() {
    // A stand-in API that answers 503, then 429, then accepts.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let router = axum::Router::new().route(
        "/certs",
        axum::routing::post(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                let (status, body) = match n {
                    0 => (
                        503,
                        r#"{"error":{"code":"store_unavailable","message":"retry later"}}"#,
                    ),
                    1 => (
                        429,
                        r#"{"error":{"code":"throttled","message":"slow down"}}"#,
                    ),
                    _ => (201, r#"{"tbs_sha256":"00"}"#),
                };
                (axum::http::StatusCode::from_u16(status).unwrap(), body)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let tmp = TempDir::new("hook-retry");
    let lineage = tmp.path().join("live/x.example.org");
    openssl_cert(&lineage, &["x.example.org"]);
    let out = run_hook(
        &[],
        vec![
            ("CTGUARD_API_URL", url),
            ("CTGUARD_PUSH_TOKEN", PUSH_TOKEN.into()),
            ("CTGUARD_RETRY_DELAY", "0.05".into()),
            ("RENEWED_LINEAGE", lineage.display().to_string()),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("HTTP 503 retry later") && err.contains("HTTP 429 slow down"),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_others_can_read_is_refused_before_any_request() {
    let aws = TestAws::new().await;
    let (url, app) = start_listener(aws.store()).await;
    let tmp = TempDir::new("hook-perm");
    let lineage = tmp.path().join("live/x.example.org");
    let der = openssl_cert(&lineage, &["x.example.org"]);
    for mode in [0o644, 0o640, 0o604] {
        let token = token_file(tmp.path(), PUSH_TOKEN, mode);
        let out = run_hook(
            &[],
            vec![
                ("CTGUARD_API_URL", url.clone()),
                ("CTGUARD_TOKEN_FILE", token),
                ("RENEWED_LINEAGE", lineage.display().to_string()),
            ],
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "mode {mode:o}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("readable by group or others"),
            "{}",
            stderr(&out)
        );
    }
    assert!(
        app.store()
            .get_cert(&independent_tbs_sha256(&der))
            .await
            .unwrap()
            .is_none()
    );

    // Usage errors are exit 2 with a message too.
    let out = run_hook(&[], vec![("CTGUARD_API_URL", url.clone())]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("RENEWED_LINEAGE is not set"),
        "{}",
        stderr(&out)
    );
    let out = run_hook(&[], vec![]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("CTGUARD_API_URL is not set"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_certificate_alerts_info_by_tbs_hash_and_one_not_pushed_is_suspicious() {
    // One emulator account for the API, the hook and the poller; grace 0 (the Env default).
    let env = poller_support::Env::new().await;
    let (url, app) = start_listener(env.aws.store()).await;
    let tmp = TempDir::new("hook-poller");
    let lineage = tmp.path().join("live/lb.hookpoll.example");
    let pushed = openssl_cert(&lineage, &["lb.hookpoll.example"]);
    // Same name, its own key, never deployed through the hook.
    let unknown = openssl_cert(&tmp.path().join("elsewhere"), &["lb.hookpoll.example"]);
    let token = token_file(tmp.path(), PUSH_TOKEN, 0o600);

    let out = run_hook(
        &[],
        vec![
            ("CTGUARD_API_URL", url),
            ("CTGUARD_TOKEN_FILE", token),
            ("RENEWED_LINEAGE", lineage.display().to_string()),
        ],
    )
    .await;
    assert!(out.status.success(), "hook failed: {}", stderr(&out));
    let pushed_tbs = independent_tbs_sha256(&pushed);
    let unknown_tbs = independent_tbs_sha256(&unknown);
    assert!(app.store().get_cert(&pushed_tbs).await.unwrap().is_some());
    assert!(app.store().get_cert(&unknown_tbs).await.unwrap().is_none());

    // Cert Spotter logs both for the watched domain; the real poller runs once.
    env.watch("hookpoll.example").await;
    env.fake.add_cert_der(&pushed);
    env.fake.add_cert_der(&unknown);
    let report = poller_support::invoke(&env.poller()).await;
    assert_eq!(report.issuances_seen, 2, "{report:?}");
    assert_eq!(report.alerts_created.info, 1, "{report:?}");
    assert_eq!(report.alerts_created.suspicious, 1, "{report:?}");

    let authorized = env.alert(&pushed_tbs).await;
    assert_eq!(authorized.severity, Severity::Info);
    assert_eq!(authorized.authorized_by, Some(AuthorizedBy::TbsSha256));
    let suspicious = env.alert(&unknown_tbs).await;
    assert_eq!(suspicious.severity, Severity::Suspicious);
    assert_eq!(suspicious.authorized_by, None);
}
