//! The certbot deploy hook (`infra/certbot/ctguard-deploy-hook`), run for real: certbot's
//! environment simulated (a RENEWED_LINEAGE directory with a `cert.pem` made by `openssl`),
//! against the API's local listener backed by the DynamoDB emulator.

mod poller_support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ctguard::model::{AuthorizedBy, Severity};
use ctguard::store::InventoryStore;
use ctguard_tests::api::*;
use ctguard_tests::aws::{API_FUNCTION, TestAws};

/// Runs the hook with a clean environment plus `env`; returns its output. The test servers
/// speak plain HTTP on loopback, so `CTGUARD_ALLOW_HTTP=1` unless `env` overrides it.
async fn run_hook(args: &[&str], env: Vec<(&'static str, String)>) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new("bash");
        command.arg(hook_path()).args(&args).env_clear();
        command.env("PATH", std::env::var("PATH").unwrap_or_default());
        command.env("CTGUARD_ENV_FILE", "/nonexistent/ctguard-hook.env");
        command.env("CTGUARD_ALLOW_HTTP", "1");
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
    let (url, app) = start_listener(aws.function_store(API_FUNCTION).await).await;
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
    let (url, app) = start_listener(aws.function_store(API_FUNCTION).await).await;
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
    let (url, app) = start_listener(aws.function_store(API_FUNCTION).await).await;
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
    let (url, app) = start_listener(aws.function_store(API_FUNCTION).await).await;
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
    let (url, app) = start_listener(env.aws.function_store(API_FUNCTION).await).await;
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

/// Writes a hook.env with `mode` (and `owner` uid, when running as root).
fn env_file(dir: &Path, content: &str, mode: u32, owner: Option<u32>) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("hook.env");
    let _ = std::fs::remove_file(&path); // a new file: owned by whoever runs the test
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    if let Some(uid) = owner {
        std::os::unix::fs::chown(&path, Some(uid), None).unwrap();
    }
    path.display().to_string()
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_env_others_could_change_is_refused_before_it_is_sourced() {
    let aws = TestAws::new().await;
    let (url, app) = start_listener(aws.function_store(API_FUNCTION).await).await;
    let tmp = TempDir::new("hook-env");
    let lineage = tmp.path().join("live/env.example.org");
    let der = openssl_cert(&lineage, &["env.example.org"]);
    // If sourced, this file would run a command: the marker proves it was not.
    let marker = tmp.path().join("sourced");
    let content = format!(
        "CTGUARD_API_URL={url}\nCTGUARD_PUSH_TOKEN={PUSH_TOKEN}\ntouch {}\n",
        marker.display()
    );
    let run = |env_file: String| {
        run_hook(
            &[],
            vec![
                ("CTGUARD_ENV_FILE", env_file),
                ("RENEWED_LINEAGE", lineage.display().to_string()),
            ],
        )
    };
    for mode in [0o664, 0o646, 0o666, 0o620] {
        let out = run(env_file(tmp.path(), &content, mode, None)).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "mode {mode:o}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("writable by group or others"),
            "{}",
            stderr(&out)
        );
        assert!(!marker.exists(), "mode {mode:o}: the file was sourced");
    }
    // A symlink (mode 777 itself) is refused even if its target is fine.
    let target = env_file(tmp.path(), &content, 0o644, None);
    let link = tmp.path().join("hook-link.env");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = run(link.display().to_string()).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!marker.exists());
    if running_as_root() {
        // Root runs the hook: a file another user owns is refused whatever its mode.
        let out = run(env_file(tmp.path(), &content, 0o600, Some(65534))).await;
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("not by root"), "{}", stderr(&out));
        assert!(!marker.exists());
    }
    assert!(
        app.store()
            .get_cert(&independent_tbs_sha256(&der))
            .await
            .unwrap()
            .is_none()
    );

    // Owned by the user running the hook (root in production), not writable by others: used.
    let out = run(env_file(tmp.path(), &content, 0o644, None)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(marker.exists(), "a safe hook.env is sourced");
    assert!(
        app.store()
            .get_cert(&independent_tbs_sha256(&der))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_url_is_refused_unless_explicitly_allowed() {
    let aws = TestAws::new().await;
    let (url, app) = start_listener(aws.function_store(API_FUNCTION).await).await;
    let tmp = TempDir::new("hook-https");
    let lineage = tmp.path().join("live/tls.example.org");
    let der = openssl_cert(&lineage, &["tls.example.org"]);
    let env = |allow: &str, url: &str| {
        vec![
            ("CTGUARD_API_URL", url.to_owned()),
            ("CTGUARD_PUSH_TOKEN", PUSH_TOKEN.to_owned()),
            ("CTGUARD_ALLOW_HTTP", allow.to_owned()),
            ("RENEWED_LINEAGE", lineage.display().to_string()),
        ]
    };
    for (allow, target) in [
        ("", url.as_str()),
        ("0", url.as_str()),
        ("yes", url.as_str()),
        ("1", "ftp://example.org"),
        ("1", "example.org"),
        ("", "https://"),
    ] {
        let out = run_hook(&[], env(allow, target)).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{allow:?} {target}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("https://"), "{}", stderr(&out));
    }
    let tbs = independent_tbs_sha256(&der);
    assert!(app.store().get_cert(&tbs).await.unwrap().is_none());
    let out = run_hook(&[], env("1", &url)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(app.store().get_cert(&tbs).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curls_errors_go_to_a_mktemp_file_that_is_removed() {
    // A stand-in API that, while curl waits for it, lists the hook's temporary files.
    let tmp = TempDir::new("hook-tmp");
    let hook_tmp = tmp.path().join("tmp");
    std::fs::create_dir_all(&hook_tmp).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (dir, names) = (hook_tmp.clone(), Arc::clone(&seen));
    let router = axum::Router::new().route(
        "/certs",
        axum::routing::post(move || {
            let mut listing: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            listing.sort();
            names.lock().unwrap().push(listing.join(","));
            async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "{}") }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let lineage = tmp.path().join("live/x.example.org");
    openssl_cert(&lineage, &["x.example.org"]);
    let env = |url: String| {
        vec![
            ("CTGUARD_API_URL", url),
            ("CTGUARD_PUSH_TOKEN", PUSH_TOKEN.into()),
            ("CTGUARD_ATTEMPTS", "2".into()),
            ("CTGUARD_RETRY_DELAY", "0.01".into()),
            ("TMPDIR", hook_tmp.display().to_string()),
            ("RENEWED_LINEAGE", lineage.display().to_string()),
        ]
    };
    let out = run_hook(&[], env(url)).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for listing in &seen {
        // Exactly two files, both mktemp-made (tmp.XXXXXXXXXX): no name derived from another.
        let files: Vec<&str> = listing.split(',').collect();
        assert_eq!(files.len(), 2, "{listing}");
        for file in files {
            let suffix = file.strip_prefix("tmp.").unwrap_or_default();
            assert!(
                suffix.len() == 10 && suffix.chars().all(|c| c.is_ascii_alphanumeric()),
                "not a mktemp name: {file} (in {listing})"
            );
        }
    }
    assert_eq!(
        std::fs::read_dir(&hook_tmp).unwrap().count(),
        0,
        "temporary files left"
    );

    // curl's own message (from that file) still reaches the log when the connection fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = run_hook(&[], env(url)).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("curl: (7)") && stderr(&out).contains("curl exit 7"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(&hook_tmp).unwrap().count(),
        0,
        "temporary files left"
    );
}

/// `--csr FILE` pre-authorizes: the hook posts the request before the CA is asked, so the
/// certificate is authorized by its key from its first appearance in CT (no grace race),
/// for the request's names only: the same key on another name is `key_out_of_scope`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_csr_the_hook_authorizes_the_key_for_its_names_before_issuance() {
    use ctguard_tests::certs::LeafSpec;
    let env = poller_support::Env::new().await;
    let (url, app) = start_listener(env.aws.function_store(API_FUNCTION).await).await;
    let tmp = TempDir::new("hook-csr");
    let key = tmp.path().join("key.pem");
    let csr = tmp.path().join("req.pem");
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        key.to_str().unwrap(),
    ]);
    openssl(&[
        "req",
        "-new",
        "-key",
        key.to_str().unwrap(),
        "-subj",
        "/CN=csr.hookpoll.example",
        "-addext",
        "subjectAltName=DNS:csr.hookpoll.example,DNS:www.csr.hookpoll.example",
        "-out",
        csr.to_str().unwrap(),
    ]);
    let token = token_file(tmp.path(), PUSH_TOKEN, 0o600);
    let hook_env = || {
        vec![
            ("CTGUARD_API_URL", url.clone()),
            ("CTGUARD_TOKEN_FILE", token.clone()),
        ]
    };

    let out = run_hook(&["--csr", csr.to_str().unwrap()], hook_env()).await;
    assert!(out.status.success(), "hook failed: {}", stderr(&out));
    assert!(
        stderr(&out).contains("pushed to ctguard"),
        "{}",
        stderr(&out)
    );
    let out = run_hook(&["--csr", key.to_str().unwrap()], hook_env()).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "a key is not a request: {}",
        stderr(&out)
    );

    // The CA issues for the request; someone else gets a certificate for the same key on a
    // name the request did not ask for.
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let issue = |names: &[&str]| {
        let cert = env.ca.issue(&LeafSpec {
            key_pem: Some(key_pem.clone()),
            ..LeafSpec::for_names(names.iter().copied())
        });
        env.fake.add_cert_der(&cert.der);
        ctguard::cert::CertIdentity::from_der(&cert.der).unwrap()
    };
    let requested = issue(&["csr.hookpoll.example", "www.csr.hookpoll.example"]);
    let elsewhere = issue(&["pay.hookpoll.example"]);
    let stored = app
        .store()
        .list_keys(&ctguard::store::PageRequest {
            limit: 10,
            token: None,
        })
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 1);
    assert_eq!(stored.items[0].pubkey_sha256, requested.pubkey_sha256);
    assert_eq!(
        stored.items[0].dns_names,
        ["csr.hookpoll.example", "www.csr.hookpoll.example"]
    );

    env.watch("hookpoll.example").await;
    let report = poller_support::invoke(&env.poller()).await;
    assert_eq!(report.issuances_seen, 2, "{report:?}");
    let ok = env.alert(&requested.tbs_sha256).await;
    assert_eq!(ok.severity, Severity::Info);
    assert_eq!(ok.authorized_by, Some(AuthorizedBy::PubkeySha256));
    let out_of_scope = env.alert(&elsewhere.tbs_sha256).await;
    assert_eq!(out_of_scope.severity, Severity::Suspicious);
    let codes: Vec<_> = out_of_scope
        .reasons
        .iter()
        .map(|r| r.code.as_str())
        .collect();
    assert_eq!(codes, ["not_in_inventory", "key_out_of_scope"]);
}
