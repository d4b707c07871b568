//! The `ctguard` binary end to end: every command run as a process against the API's local
//! listener (the code `api --listen` runs) backed by the DynamoDB emulator, including errors
//! and their exit codes, the `--json` shapes and `alerts --follow`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use api::App;
use api::notify::{Notifier, NotifySettings};
use chrono::{Duration, Utc};
use ctguard::hash::Sha256Hash;
use ctguard::model::Severity;
use ctguard::store::{AlertStore, InventoryStore, WatchStore};
use ctguard_tests::aws::TestAws;
use ctguard_tests::certs::{LeafSpec, TestCa};
use ctguard_tests::fault_proxy::{FaultProxy, Service};
use ctguard_tests::store_contract::alert;
use rcgen::PublicKeyData;
use serde_json::Value;

// The test callers every API test uses (`api::testing`).
use api::testing::{ADMIN_LABEL, ADMIN_TOKEN, PUSH_LABEL, PUSH_TOKEN, settings};

/// `api --listen` on 127.0.0.1 and a free port, serving `app`.
async fn listen<S: api::Store>(app: App<S>) -> String {
    let (listener, addr) = api::listener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind 127.0.0.1:0");
    tokio::spawn(api::listener::serve(listener, app.router()));
    format!("http://{addr}")
}

/// A temporary home for one test: token files, config, certificate files.
struct Home(PathBuf);

impl Home {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "ctguard-cli-{}-{:016x}",
            std::process::id(),
            fastrand_u64()
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    /// Writes `name` with `mode`.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

/// One run of the binary.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
    #[track_caller]
    fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }
    #[track_caller]
    fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "{self:#?}");
        self
    }
}

/// The binary with a clean environment: HOME and XDG_CONFIG_HOME in `home` (no stray config),
/// plus `env`.
fn command(home: &Home, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ctguard"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home.0)
        .env("XDG_CONFIG_HOME", home.path("xdg"))
        .envs(env.iter().copied())
        .args(args);
    command
}

async fn run(home: &Home, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = command(home, env, args);
    // The listener runs on this test's runtime: wait for the process off it.
    let output = tokio::task::spawn_blocking(move || command.output().expect("run ctguard"))
        .await
        .unwrap();
    Run {
        code: output.status.code().expect("exited"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// A caller: the URL and a token file (chmod 600) in the environment, as an operator sets it.
struct Caller {
    home: Home,
    url: String,
    token_file: String,
}

impl Caller {
    fn new(url: &str, token: &str) -> Self {
        let home = Home::new();
        let token_file = home
            .write("token", format!("{token}\n"), 0o600)
            .display()
            .to_string();
        Self {
            home,
            url: url.to_owned(),
            token_file,
        }
    }
    async fn run(&self, args: &[&str]) -> Run {
        run(
            &self.home,
            &[
                ("CTGUARD_URL", &self.url),
                ("CTGUARD_TOKEN_FILE", &self.token_file),
            ],
            args,
        )
        .await
    }
}

#[tokio::test]
async fn domains_add_list_rm_with_tables_json_and_exit_codes() {
    let aws = TestAws::new().await;
    let url = listen(App::new(aws.store(), settings())).await;
    let admin = Caller::new(&url, ADMIN_TOKEN);

    let r = admin
        .run(&["domains", "add", "Example.ORG.", "--note", "main site"])
        .await;
    r.ok();
    assert_eq!(r.stdout, "watching example.org\n");
    let r = admin.run(&["domains", "add", "example.org"]).await;
    assert_eq!(r.ok().stdout, "already watching example.org\n");
    let r = admin
        .run(&[
            "--json",
            "domains",
            "add",
            "canary.example.net",
            "--canary",
            "--backfill",
            "alert",
        ])
        .await;
    let added = r.ok().json();
    assert_eq!(added["value"], "canary.example.net");
    assert_eq!(added["canary"], true);
    assert_eq!(added["backfill"], "alert");
    assert!(added["created_at"].is_string(), "{added}");

    let r = admin.run(&["domains", "list"]).await;
    let lines: Vec<&str> = r.ok().stdout.lines().collect();
    assert!(lines[0].starts_with("DOMAIN"), "{}", r.stdout);
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(lines[1].starts_with("canary.example.net"), "{}", r.stdout);
    assert!(lines[1].contains("canary"), "{}", r.stdout);
    assert!(lines[2].starts_with("example.org"), "{}", r.stdout);
    assert!(lines[2].contains("not polled yet"), "{}", r.stdout);
    // --json is the API's own answer.
    let listed = admin.run(&["domains", "list", "--json"]).await.ok().json();
    let values: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["canary.example.net", "example.org"]);
    assert_eq!(listed["items"][1]["note"], "main site");

    // The API's validation: exit 1 with its error code.
    let r = admin.run(&["domains", "add", "com"]).await;
    r.code(1);
    assert!(r.stderr.contains("invalid_domain"), "{r:#?}");
    let r = admin.run(&["--json", "domains", "add", "com"]).await;
    assert_eq!(r.code(1).json()["error"]["code"], "invalid_domain");

    let r = admin.run(&["domains", "rm", "EXAMPLE.org"]).await;
    assert_eq!(r.ok().stdout, "stopped watching EXAMPLE.org\n");
    assert!(
        aws.store()
            .get_watch(&ctguard::domain::WatchDomain::parse("example.org").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // Unknown domain: 404 is exit 4; with --json the API's error on stdout.
    let r = admin.run(&["domains", "rm", "example.org"]).await;
    r.code(4);
    assert!(r.stderr.contains("not_found"), "{r:#?}");
    let r = admin.run(&["--json", "domains", "rm", "example.org"]).await;
    let error = r.code(4).json();
    assert_eq!(error["error"]["code"], "not_found");
    assert_eq!(error["error"]["status"], 404);
}

#[tokio::test]
async fn credentials_come_from_files_env_or_config_never_arguments() {
    let aws = TestAws::new().await;
    let url = listen(App::new(aws.store(), settings())).await;
    let home = Home::new();
    let token_file = home.write("admin-token", ADMIN_TOKEN, 0o600);
    let token_file = token_file.to_str().unwrap();
    // Nothing listens here: a URL that wins by precedence while pointing here fails with 5.
    let dead = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", socket.local_addr().unwrap())
    };

    // No URL, no token: usage/config errors (2), naming what to set.
    let r = run(&home, &[], &["domains", "list"]).await;
    assert!(r.code(2).stderr.contains("CTGUARD_URL"), "{r:#?}");
    let r = run(&home, &[("CTGUARD_URL", &url)], &["domains", "list"]).await;
    assert!(r.code(2).stderr.contains("no token"), "{r:#?}");
    // The token is never a command-line value.
    let r = run(
        &home,
        &[("CTGUARD_URL", &url)],
        &["--token", ADMIN_TOKEN, "domains", "list"],
    )
    .await;
    r.code(2);
    assert!(!r.stderr.contains(ADMIN_TOKEN), "{r:#?}");

    // --token-file, CTGUARD_TOKEN, CTGUARD_TOKEN_FILE.
    run(
        &home,
        &[("CTGUARD_URL", &url)],
        &["--token-file", token_file, "domains", "list"],
    )
    .await
    .ok();
    run(
        &home,
        &[("CTGUARD_URL", &url), ("CTGUARD_TOKEN", ADMIN_TOKEN)],
        &["domains", "list"],
    )
    .await
    .ok();
    run(
        &home,
        &[("CTGUARD_URL", &url), ("CTGUARD_TOKEN_FILE", token_file)],
        &["domains", "list"],
    )
    .await
    .ok();
    // --token-file beats CTGUARD_TOKEN (a wrong env token would be 401 = 3).
    run(
        &home,
        &[("CTGUARD_URL", &url), ("CTGUARD_TOKEN", "wrong")],
        &["--token-file", token_file, "domains", "list"],
    )
    .await
    .ok();

    // A token file others can read is refused (2), as the certbot hook refuses it.
    let loose = home.write("loose-token", ADMIN_TOKEN, 0o644);
    let r = run(
        &home,
        &[
            ("CTGUARD_URL", &url),
            ("CTGUARD_TOKEN_FILE", loose.to_str().unwrap()),
        ],
        &["domains", "list"],
    )
    .await;
    assert!(r.code(2).stderr.contains("chmod 600"), "{r:#?}");

    // Bad token: 401 is exit 3; a push token on an admin route: 403 is exit 3.
    let r = run(
        &home,
        &[("CTGUARD_URL", &url), ("CTGUARD_TOKEN", "nope")],
        &["domains", "list"],
    )
    .await;
    assert!(r.code(3).stderr.contains("unauthorized"), "{r:#?}");
    let r = run(
        &home,
        &[("CTGUARD_URL", &url), ("CTGUARD_TOKEN", PUSH_TOKEN)],
        &["status"],
    )
    .await;
    assert!(r.code(3).stderr.contains("forbidden"), "{r:#?}");

    // The default config file under XDG_CONFIG_HOME: url and token_file.
    home.write(
        "xdg/ctguard/config.toml",
        format!("url = \"{url}\"\ntoken_file = \"{token_file}\"\n"),
        0o644,
    );
    run(&home, &[], &["domains", "list"]).await.ok();
    // Flag beats environment beats config file.
    run(&home, &[("CTGUARD_URL", &dead)], &["domains", "list"])
        .await
        .code(5);
    run(
        &home,
        &[("CTGUARD_URL", &dead)],
        &["--url", &url, "domains", "list"],
    )
    .await
    .ok();
    // --config FILE instead; a token inline needs a private file.
    let inline = home.write(
        "inline.toml",
        format!("url = \"{url}\"\ntoken = \"{ADMIN_TOKEN}\"\n"),
        0o644,
    );
    let r = run(
        &home,
        &[],
        &["--config", inline.to_str().unwrap(), "domains", "list"],
    )
    .await;
    assert!(r.code(2).stderr.contains("chmod 600"), "{r:#?}");
    std::fs::set_permissions(&inline, std::fs::Permissions::from_mode(0o600)).unwrap();
    run(
        &home,
        &[],
        &["--config", inline.to_str().unwrap(), "domains", "list"],
    )
    .await
    .ok();
    // A missing named config file, or a typo in one, is an error.
    let r = run(
        &home,
        &[],
        &["--config", "/nonexistent/ctguard.toml", "domains", "list"],
    )
    .await;
    r.code(2);
    let typo = home.write("typo.toml", "ulr = \"https://x.example\"\n", 0o600);
    let r = run(
        &home,
        &[],
        &["--config", typo.to_str().unwrap(), "domains", "list"],
    )
    .await;
    assert!(r.code(2).stderr.contains("ulr"), "{r:#?}");

    // http:// off loopback is refused before anything is sent.
    let r = run(
        &home,
        &[
            ("CTGUARD_URL", "http://ctguard.example.org"),
            ("CTGUARD_TOKEN", ADMIN_TOKEN),
        ],
        &["domains", "list"],
    )
    .await;
    assert!(r.code(2).stderr.contains("https://"), "{r:#?}");
    // Nothing listening: network error, exit 5; with --json a JSON error on stdout.
    let r = run(
        &home,
        &[("CTGUARD_URL", &dead), ("CTGUARD_TOKEN", ADMIN_TOKEN)],
        &["--json", "status"],
    )
    .await;
    assert_eq!(r.code(5).json()["error"]["code"], "network");
}

/// A leaf with an SCT list, and its RFC 6962 TBS hash computed without ctguard: the same
/// certificate issued without the extension has it as its plain TBS hash.
fn leaf_with_expected_tbs(
    ca: &TestCa,
    names: &[&str],
) -> (ctguard_tests::certs::TestCert, Sha256Hash) {
    use x509_parser::prelude::FromDer;
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let spec = LeafSpec {
        key_pem: Some(key),
        serial: Some(vec![0x42, 0x17, (fastrand_u64() & 0xff) as u8, 0x01]),
        issued_at: chrono::DateTime::from_timestamp(Utc::now().timestamp() - 3600, 0),
        valid_days: Some((-1, 90)),
        ..LeafSpec::for_names(names.iter().copied())
    };
    let plain = ca.issue(&spec);
    let with_scts = ca.issue(&LeafSpec {
        sct_list: true,
        ..spec
    });
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(&plain.der).unwrap();
    (
        with_scts,
        Sha256Hash::digest(parsed.tbs_certificate.as_ref()),
    )
}

#[tokio::test]
async fn certs_push_follows_the_hook_rules_and_retries_5xx() {
    let aws = TestAws::new().await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let url = listen(App::new(aws.store_via(proxy.url()).await, settings())).await;
    let push = Caller::new(&url, PUSH_TOKEN);
    let ca = TestCa::new("cli ca");
    let (cert, expected_tbs) = leaf_with_expected_tbs(&ca, &["www.example.org", "example.org"]);
    let fullchain = push.home.write("fullchain.pem", &cert.fullchain_pem, 0o644);
    let fullchain = fullchain.to_str().unwrap();

    let r = push.run(&["certs", "push", fullchain]).await;
    r.ok();
    assert!(
        r.stdout
            .contains(&format!("pushed (tbs {};", expected_tbs.to_hex())),
        "expected {expected_tbs}: {r:#?}"
    );
    let stored = aws
        .store()
        .get_cert(&expected_tbs)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(stored.source, PUSH_LABEL);
    let r = push.run(&["certs", "push", fullchain]).await;
    assert!(r.ok().stdout.contains("already known"), "{r:#?}");

    // DER, and an unreadable / non-certificate file among them: the others are still pushed,
    // the exit code is the failure's (2: local input), and --json has one entry per file.
    let (other, other_tbs) = leaf_with_expected_tbs(&ca, &["api.example.org"]);
    let der = push.home.write("api.der", &other.der, 0o644);
    let junk = push.home.write("junk.pem", "not a certificate\n", 0o644);
    let r = push
        .run(&[
            "--json",
            "certs",
            "push",
            junk.to_str().unwrap(),
            der.to_str().unwrap(),
        ])
        .await;
    let results = r.code(2).json();
    assert_eq!(results[0]["error"]["code"], "input", "{results}");
    assert_eq!(results[0]["file"], junk.to_str().unwrap());
    assert_eq!(results[1]["status"], 201);
    assert_eq!(results[1]["result"]["tbs_sha256"], other_tbs.to_hex());
    assert!(r.stderr.contains("1 pushed, 1 failed"), "{r:#?}");

    // The store fails every attempt of the API's first push (503): the CLI retries.
    let (third, third_tbs) = leaf_with_expected_tbs(&ca, &["mail.example.org"]);
    let third_file = push.home.write("third.pem", &third.pem, 0o644);
    proxy.fail_next(
        Service::DynamoDb,
        "PutItem",
        ctguard_tests::aws::SDK_MAX_ATTEMPTS as usize,
    );
    let r = push
        .run(&[
            "certs",
            "push",
            "--retry-delay",
            "0.1",
            third_file.to_str().unwrap(),
        ])
        .await;
    r.ok();
    assert!(r.stderr.contains("attempt 1 failed"), "{r:#?}");
    assert!(r.stderr.contains("store_unavailable"), "{r:#?}");
    assert!(aws.store().get_cert(&third_tbs).await.unwrap().is_some());
    // Failing longer than --attempts: exit 5.
    let (fourth, _) = leaf_with_expected_tbs(&ca, &["ftp.example.org"]);
    let fourth_file = push.home.write("fourth.pem", &fourth.pem, 0o644);
    proxy.fail_next(
        Service::DynamoDb,
        "PutItem",
        2 * ctguard_tests::aws::SDK_MAX_ATTEMPTS as usize,
    );
    let r = push
        .run(&[
            "certs",
            "push",
            "--attempts",
            "2",
            "--retry-delay",
            "0",
            fourth_file.to_str().unwrap(),
        ])
        .await;
    assert!(
        r.code(5).stderr.contains("giving up after 2 attempts"),
        "{r:#?}"
    );

    // certs list (admin).
    let admin = Caller::new(&url, ADMIN_TOKEN);
    let listed = admin
        .run(&["--json", "certs", "list", "--name", "www.example.org"])
        .await
        .ok()
        .json();
    assert_eq!(listed["items"][0]["tbs_sha256"], expected_tbs.to_hex());
    assert!(listed["next_cursor"].is_null());
}

#[tokio::test]
async fn keys_add_from_a_csr_pem_or_hash() {
    let aws = TestAws::new().await;
    let url = listen(App::new(aws.store(), settings())).await;
    let push = Caller::new(&url, PUSH_TOKEN);
    let admin = Caller::new(&url, ADMIN_TOKEN);

    // A CSR: the SPKI hash of the key that made it, and its names (none given).
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(vec!["shop.example.org".to_owned()])
        .unwrap()
        .serialize_request(&key)
        .unwrap();
    let csr_file = push.home.write("shop.csr", csr.pem().unwrap(), 0o644);
    let r = push
        .run(&["--json", "keys", "add", "--csr", csr_file.to_str().unwrap()])
        .await;
    let added = r.ok().json();
    let expected = Sha256Hash::digest(&key.subject_public_key_info());
    assert_eq!(added["pubkey_sha256"], expected.to_hex());
    assert_eq!(added["dns_names"], serde_json::json!(["shop.example.org"]));
    assert_eq!(added["source"], PUSH_LABEL);

    // A PEM PUBLIC KEY needs names from a push caller: the API says so (exit 1).
    let spki_pem = key.public_key_pem();
    let pem_file = push.home.write("key.pem", &spki_pem, 0o644);
    let r = push
        .run(&["keys", "add", "--pem", pem_file.to_str().unwrap()])
        .await;
    r.code(1);
    // With --names, the same key is known already.
    let r = push
        .run(&[
            "keys",
            "add",
            "--pem",
            pem_file.to_str().unwrap(),
            "--names",
            "shop.example.org",
        ])
        .await;
    assert!(
        r.ok().stdout.starts_with("already authorized key"),
        "{r:#?}"
    );

    // A bare hash, with a note and an expiry (admin).
    let hash = Sha256Hash::digest(b"another key").to_hex();
    let r = admin
        .run(&[
            "keys",
            "add",
            "--sha256",
            &hash,
            "--names",
            "a.example.org,b.example.org",
            "--note",
            "hsm",
            "--expires-at",
            "30d",
        ])
        .await;
    assert!(
        r.ok().stdout.starts_with(&format!("authorized key {hash}")),
        "{r:#?}"
    );
    let listed = admin.run(&["--json", "keys", "list"]).await.ok().json();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    let hsm = items
        .iter()
        .find(|k| k["pubkey_sha256"] == hash.as_str())
        .unwrap();
    assert_eq!(hsm["note"], "hsm");
    assert!(hsm["expires_at"].as_str().unwrap() > Utc::now().to_rfc3339().as_str());
    let r = admin.run(&["keys", "list"]).await;
    assert!(r.ok().stdout.starts_with("PUBKEY SHA-256"), "{r:#?}");

    // Exactly one key source; a CSR file that is not one is a local error.
    run(
        &admin.home,
        &[],
        &["keys", "add", "--names", "x.example.org"],
    )
    .await
    .code(2);
    let bogus = admin.home.write("bogus.csr", "hello", 0o644);
    let r = admin
        .run(&["keys", "add", "--csr", bogus.to_str().unwrap()])
        .await;
    assert!(r.code(2).stderr.contains("not a PKCS #10"), "{r:#?}");

    admin.run(&["keys", "rm", &hash]).await.ok();
    admin.run(&["keys", "rm", &hash]).await.code(4);
    admin.run(&["keys", "rm", "not-a-hash"]).await.code(1);
}

/// The CSR goes to the API, which checks its signature (proof of possession): a request
/// whose signature does not verify is refused there (exit 1), even though it parses here.
/// `keys compromised` marks a key (admin only).
#[tokio::test]
async fn keys_add_sends_the_csr_and_keys_compromised_marks_a_key() {
    let aws = TestAws::new().await;
    let url = listen(App::new(aws.store(), settings())).await;
    let push = Caller::new(&url, PUSH_TOKEN);
    let admin = Caller::new(&url, ADMIN_TOKEN);

    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(vec!["shop.example.org".to_owned()])
        .unwrap()
        .serialize_request(&key)
        .unwrap();
    let mut der = csr.der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 1;
    let forged = push.home.write("forged.csr", der, 0o644);
    let r = push
        .run(&["keys", "add", "--csr", forged.to_str().unwrap()])
        .await;
    assert!(r.code(1).stderr.contains("does not verify"), "{r:#?}");

    // Given names replace the request's (DER file, sent as PEM).
    let good = push.home.write("good.csr", csr.der(), 0o644);
    let r = push
        .run(&[
            "--json",
            "keys",
            "add",
            "--csr",
            good.to_str().unwrap(),
            "--names",
            "www.shop.example.org",
        ])
        .await;
    assert_eq!(
        r.ok().json()["dns_names"],
        serde_json::json!(["www.shop.example.org"])
    );

    let hash = Sha256Hash::digest(&key.subject_public_key_info()).to_hex();
    push.run(&["keys", "compromised", "--sha256", &hash])
        .await
        .code(3);
    let r = admin
        .run(&[
            "keys",
            "compromised",
            "--csr",
            good.to_str().unwrap(),
            "--note",
            "leaked",
        ])
        .await;
    assert!(
        r.ok()
            .stdout
            .starts_with(&format!("marked key {hash} compromised")),
        "{r:#?}"
    );
    let listed = admin.run(&["--json", "keys", "list"]).await.ok().json();
    assert_eq!(listed["items"][0]["compromised"]["note"], "leaked");
    assert_eq!(listed["items"][0]["compromised"]["by"], ADMIN_LABEL);
}

#[tokio::test]
async fn alerts_filters_paging_and_ack() {
    let aws = TestAws::new().await;
    let store = aws.store();
    let now = Utc::now();
    let old = alert(
        "old",
        Severity::Suspicious,
        &["example.org"],
        now - Duration::days(3),
    );
    let pending = alert(
        "pending",
        Severity::Pending,
        &["example.net"],
        now - Duration::hours(2),
    );
    let newest = alert(
        "newest",
        Severity::Suspicious,
        &["example.org"],
        now - Duration::minutes(5),
    );
    for a in [&old, &pending, &newest] {
        assert!(store.create_alert(a).await.unwrap());
    }
    let url = listen(App::new(aws.store(), settings())).await;
    let admin = Caller::new(&url, ADMIN_TOKEN);

    let r = admin.run(&["alerts"]).await;
    let lines: Vec<&str> = r.ok().stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    assert!(lines[0].starts_with("FIRST SEEN"));
    assert!(
        lines[1].contains(&newest.tbs_sha256.to_hex()),
        "{}",
        r.stdout
    );
    assert!(
        lines[1].contains("suspicious") && lines[1].contains("Test CA"),
        "{}",
        r.stdout
    );
    assert!(lines[1].contains("www.example.org"), "{}", r.stdout);
    assert!(lines[3].contains(&old.tbs_sha256.to_hex()), "{}", r.stdout);

    let tbs = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["tbs_sha256"].as_str().unwrap().to_owned())
            .collect()
    };
    let page = admin
        .run(&["--json", "alerts", "--severity", "pending"])
        .await
        .ok()
        .json();
    assert_eq!(tbs(&page), [pending.tbs_sha256.to_hex()]);
    assert!(page["next_cursor"].is_null());
    let page = admin
        .run(&[
            "--json",
            "alerts",
            "--domain",
            "example.org",
            "--since",
            "1d",
        ])
        .await
        .ok()
        .json();
    assert_eq!(tbs(&page), [newest.tbs_sha256.to_hex()]);
    // Paging with the API's cursor.
    let first = admin
        .run(&["--json", "alerts", "--limit", "2"])
        .await
        .ok()
        .json();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = admin
        .run(&["--json", "alerts", "--limit", "2", "--cursor", &cursor])
        .await
        .ok()
        .json();
    assert_eq!(tbs(&second), [old.tbs_sha256.to_hex()]);
    let r = admin.run(&["alerts", "--limit", "2"]).await;
    assert!(r.ok().stderr.contains("--cursor"), "{r:#?}");
    // Bad input is refused locally (2) or by the API (1).
    admin.run(&["alerts", "--since", "yesterday"]).await.code(2);
    admin.run(&["alerts", "--severity", "bogus"]).await.code(2);
    admin
        .run(&["alerts", "--cursor", "forged.cursor"])
        .await
        .code(1);

    // ack: the caller's label as `by`, the note stored.
    let hex = newest.tbs_sha256.to_hex();
    let r = admin.run(&["ack", &hex, "--note", "our new LB"]).await;
    assert!(
        r.ok()
            .stdout
            .starts_with(&format!("acknowledged {hex} by {ADMIN_LABEL}")),
        "{r:#?}"
    );
    let stored = store.get_alert(&newest.tbs_sha256).await.unwrap().unwrap();
    let ack = stored.ack.expect("acknowledged");
    assert_eq!(ack.by, ADMIN_LABEL);
    assert_eq!(ack.note.as_deref(), Some("our new LB"));
    let acked = admin.run(&["--json", "ack", &hex]).await.ok().json();
    assert_eq!(acked["tbs_sha256"], hex.as_str());
    assert!(acked["ack"]["at"].is_string());
    admin
        .run(&["ack", &Sha256Hash::digest(b"no such alert").to_hex()])
        .await
        .code(4);
    admin.run(&["ack", "xyz"]).await.code(1);
}

#[tokio::test]
async fn alerts_follow_prints_new_alerts_once() {
    let aws = TestAws::new().await;
    let store = aws.store();
    let now = Utc::now();
    let before = alert(
        "before",
        Severity::Suspicious,
        &["example.org"],
        now - Duration::hours(1),
    );
    store.create_alert(&before).await.unwrap();
    let url = listen(App::new(aws.store(), settings())).await;
    let admin = Caller::new(&url, ADMIN_TOKEN);

    let mut command = command(
        &admin.home,
        &[
            ("CTGUARD_URL", &admin.url),
            ("CTGUARD_TOKEN_FILE", &admin.token_file),
        ],
        &[
            "--json",
            "alerts",
            "--follow",
            "--interval",
            "1",
            "--max-polls",
            "4",
        ],
    );
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if line_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });

    // The first poll shows what is there; only then does a new alert arrive.
    let first = line_rx.recv().await.expect("the first poll's alert");
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["tbs_sha256"], before.tbs_sha256.to_hex());
    let later = alert("later", Severity::Suspicious, &["example.org"], Utc::now());
    store.create_alert(&later).await.unwrap();

    let mut rest = Vec::new();
    while let Some(line) = line_rx.recv().await {
        rest.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    reader.join().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    // The new alert exactly once, the old one not again, each line the API's alert JSON.
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(rest[0]["tbs_sha256"], later.tbs_sha256.to_hex());
    assert_eq!(rest[0]["severity"], "suspicious");
    assert!(rest[0]["matched"].is_array());
}

#[tokio::test]
async fn status_and_test_alert() {
    let aws = TestAws::new().await;
    let probe = aws.sns_probe("cli-alerts").await;
    let notifier = Notifier::new(
        &aws.config,
        &NotifySettings {
            topic_arn: Some(probe.topic_arn.clone()),
            email: None,
        },
    );
    let url = listen(App::new(aws.store(), settings()).with_notifier(notifier)).await;
    let admin = Caller::new(&url, ADMIN_TOKEN);
    admin.run(&["domains", "add", "example.org"]).await.ok();

    let r = admin.run(&["status"]).await;
    r.ok();
    assert!(r.stdout.contains("monitoring:"), "{r:#?}");
    assert!(r.stdout.contains("pending alerts:   0"), "{r:#?}");
    assert!(r.stdout.contains("example.org"), "{r:#?}");
    let status = admin.run(&["--json", "status"]).await.ok().json();
    assert_eq!(status["entries"][0]["value"], "example.org");
    assert_eq!(status["pending_alerts"]["count"], 0);
    assert!(status["deliveries"]["queued"].is_object());

    let r = admin.run(&["test-alert"]).await;
    r.ok();
    assert!(r.stdout.starts_with("sns    sent (message id "), "{r:#?}");
    assert!(r.stdout.contains("email  not_configured"), "{r:#?}");
    let messages = aws
        .receive_sns(&probe, 1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(messages.len(), 1);
    let answer = admin.run(&["--json", "test-alert"]).await.ok().json();
    assert_eq!(answer["sns"]["status"], "sent");
    assert_eq!(answer["email"]["status"], "not_configured");
    // A push token may not send it.
    let push = Caller::new(&url, PUSH_TOKEN);
    push.run(&["test-alert"]).await.code(3);
}

#[tokio::test]
async fn help_documents_exit_codes_and_completions_generate() {
    let home = Home::new();
    let r = run(&home, &[], &["--help"]).await;
    r.ok();
    for expected in [
        "Exit codes:",
        "3  authentication",
        "CTGUARD_TOKEN_FILE",
        "--sigv4",
    ] {
        assert!(r.stdout.contains(expected), "{expected}: {}", r.stdout);
    }
    assert!(!r.stdout.contains("--token "), "{}", r.stdout);
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef ctguard"),
        ("fish", "complete -c ctguard"),
    ] {
        let r = run(&home, &[], &["completions", shell]).await;
        r.ok();
        assert!(r.stdout.contains(marker), "{shell}: {}", r.stdout);
        for sub in ["domains", "test-alert", "follow"] {
            assert!(r.stdout.contains(sub), "{shell} lacks {sub}");
        }
    }
    run(&home, &[], &["completions", "powershell"])
        .await
        .code(2);
    run(&home, &[], &[]).await.code(2);
}

/// Accepts one HTTP/1.1 request, answers `status` with `body`, returns the request as
/// (request line, headers lowercased, body).
async fn capture_one(
    listener: tokio::net::TcpListener,
    status: &'static str,
    body: &'static str,
) -> (String, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed before the request head");
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut request_body = data[head_end + 4..].to_vec();
    while request_body.len() < length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0);
        request_body.extend_from_slice(&buf[..n]);
    }
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await.unwrap();
    (request_line, headers, request_body)
}

#[tokio::test]
async fn sigv4_signs_what_is_sent_with_the_default_chain_credentials() {
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};

    let home = Home::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(capture_one(
        listener,
        "201 Created",
        r#"{"value":"example.org","backfill":"summary","created_at":"2026-11-30T12:00:00Z"}"#,
    ));
    // Credentials from the environment, the first link of the AWS default chain.
    let env = [
        ("CTGUARD_URL", url.as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIDCLITEST"),
        ("AWS_SECRET_ACCESS_KEY", "cli-test-secret"),
        ("AWS_SESSION_TOKEN", "cli-session-token"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let r = run(
        &home,
        &env,
        &[
            "--sigv4",
            "--region",
            "eu-west-1",
            "domains",
            "add",
            "example.org",
        ],
    )
    .await;
    assert_eq!(r.ok().stdout, "watching example.org\n");
    let (request_line, headers, body) = server.await.unwrap();
    assert_eq!(request_line, "POST /domains HTTP/1.1");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} header: {headers:?}"))
    };
    let authorization = header("authorization");
    let date = header("x-amz-date");
    assert_eq!(header("x-amz-security-token"), "cli-session-token");
    assert!(
        authorization.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential=AKIDCLITEST/{}/eu-west-1/lambda/aws4_request, ",
            &date[..8]
        )),
        "{authorization}"
    );

    // Re-sign what arrived (the signed headers as received, the body, the stated time): the
    // signature must match, so nothing changed between signing and sending.
    let signed: Vec<&str> = authorization
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .split(';')
        .collect();
    let signed_headers: Vec<(String, String)> = signed
        .iter()
        .map(|name| (name.to_string(), header(name)))
        .collect();
    let time = chrono::NaiveDateTime::parse_from_str(&date, "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let time =
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(time.timestamp() as u64);
    let identity = Credentials::new(
        "AKIDCLITEST",
        "cli-test-secret",
        Some("cli-session-token".into()),
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name("lambda")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        "POST",
        format!("{url}/domains"),
        signed_headers
            .iter()
            .filter(|(n, _)| n != "x-amz-date" && n != "x-amz-security-token")
            .map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let expected = instructions
        .headers()
        .find(|(n, _)| *n == "authorization")
        .map(|(_, v)| v.to_owned())
        .unwrap();
    assert_eq!(authorization, expected);
    assert!(
        signed.contains(&"content-type") && signed.contains(&"host"),
        "{signed:?}"
    );

    // The same from the config file: auth = "aws_iam" and its region.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url2 = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(capture_one(listener, "200 OK", r#"{"items":[]}"#));
    home.write(
        "xdg/ctguard/config.toml",
        format!("url = \"{url2}\"\nauth = \"aws_iam\"\nregion = \"ap-south-2\"\n"),
        0o644,
    );
    let r = run(&home, &env[1..], &["--json", "domains", "list"]).await;
    assert_eq!(r.ok().json(), serde_json::json!({"items": []}));
    let (request_line, headers, _) = server.await.unwrap();
    assert_eq!(request_line, "GET /domains HTTP/1.1");
    let authorization = &headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap()
        .1;
    assert!(
        authorization.contains("/ap-south-2/lambda/aws4_request"),
        "{authorization}"
    );
    std::fs::remove_file(home.path("xdg/ctguard/config.toml")).unwrap();

    // No credentials anywhere in the chain: exit 3 before anything is sent.
    let r = run(
        &home,
        &[
            ("CTGUARD_URL", url.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        &["--json", "--sigv4", "--region", "eu-west-1", "status"],
    )
    .await;
    assert_eq!(r.code(3).json()["error"]["code"], "credentials", "{r:#?}");
}
