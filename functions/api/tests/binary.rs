//! The `api` binary: configuration failures name the variable, `--listen` prints the bound
//! address and serves the router, and a dead database is a 503 (not a hang or a 500).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use api::testing::{ADMIN_LABEL, ADMIN_TOKEN};
use ctguard::hash::Sha256Hash;

fn tokens_json() -> String {
    let hash = Sha256Hash::digest(ADMIN_TOKEN.as_bytes()).to_hex();
    format!(r#"[{{"sha256":"{hash}","role":"admin","label":"{ADMIN_LABEL}"}}]"#)
}

/// The binary with a clean environment: only what the test sets.
fn api(dead_endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
    command
        .env_clear()
        .env("WATCHES_TABLE", "w")
        .env("INVENTORY_TABLE", "i")
        .env("ALERTS_TABLE", "a")
        .env("API_TOKENS", tokens_json())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", dead_endpoint)
        .env("RUST_LOG", "warn");
    command
}

fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    endpoint
}

fn run(mut command: Command) -> Output {
    command.output().expect("run the api binary")
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn each_missing_or_invalid_variable_is_named_and_exits_2() {
    for (var, value) in [
        ("WATCHES_TABLE", None),
        ("ALERTS_TABLE", None),
        ("API_TOKENS", None),
        ("API_TOKENS", Some("[{\"sha256\": \"nothex\"}]")),
        ("MAX_BODY_BYTES", Some("lots")),
        ("AUTH_MODE", Some("open")),
    ] {
        let mut command = api(&dead_endpoint());
        match value {
            None => command.env_remove(var),
            Some(v) => command.env(var, v),
        };
        let out = run(command);
        assert_eq!(out.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
}

#[test]
fn the_token_parameter_is_read_from_ssm_at_start_and_an_unreadable_one_is_named() {
    // Deployed, the template sets API_TOKENS_PARAM (not API_TOKENS): the binary must go to
    // SSM for it, and when it cannot read it, stop naming the parameter and the variable.
    let mut command = api(&dead_endpoint());
    command
        .env_remove("API_TOKENS")
        .env("API_TOKENS_PARAM", "/ctguard/api-tokens");
    let out = run(command);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("API_TOKENS_PARAM") && stderr.contains("/ctguard/api-tokens"),
        "{stderr}"
    );
}

#[test]
fn bad_arguments_print_the_usage() {
    let mut command = api(&dead_endpoint());
    command.args(["--listen", "localhost"]);
    let out = run(command);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: api"));
    let mut command = api(&dead_endpoint());
    command.arg("--help");
    let out = run(command);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--listen"));
}

#[tokio::test]
async fn listen_prints_the_address_and_serves_with_a_503_when_dynamodb_is_down() {
    let mut command = api(&dead_endpoint());
    command
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped());
    let mut child = command.spawn().expect("start api");
    let stdout = child.stdout.take().unwrap();
    let child = Running(child);
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    // A generous client timeout turns a hang (no deliberate SDK timeouts) into a failure.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let response = http
        .get(format!("{url}/alerts"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable");
    drop(child);
}

/// Unscoped push tokens keep working, but each is named (by label, never by secret or hash)
/// in a warning at cold start; scoped ones are not.
#[tokio::test]
async fn unscoped_push_tokens_are_warned_about_at_start() {
    let legacy = "binary-test-unscoped-push-token";
    let scoped = "binary-test-scoped-push-token";
    let h = |t: &str| Sha256Hash::digest(t.as_bytes()).to_hex();
    let tokens = serde_json::json!([
        {"sha256": h(ADMIN_TOKEN), "role": "admin", "label": ADMIN_LABEL},
        {"sha256": h(legacy), "role": "push", "label": "lb:legacy"},
        {"sha256": h(scoped), "role": "push", "label": "lb:shop", "names": ["shop.example.com"]},
    ]);
    let mut command = api(&dead_endpoint());
    command
        .env("API_TOKENS", tokens.to_string())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start api");
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    assert!(line.starts_with("listening on "), "{line:?}");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("without a name scope"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains("lb:legacy"),
        "{stderr}"
    );
    for secret in [legacy, scoped, &h(legacy), &h(scoped)] {
        assert!(!stderr.contains(secret), "{stderr}");
    }
}
