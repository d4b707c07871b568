//! The arm64 build (`infra/sam/build --arch arm64`, what `make deploy` ships) is an aarch64 ELF
//! Lambda's `provided.al2023` can run, and both functions work: run on this x86_64 host under
//! qemu-user against Debian's aarch64 glibc, the poller's `--once` stores and delivers an alert
//! through the emulator, and the API's `--listen` answers `/healthz` and an authenticated push.
//!
//! Builds into `.aws-sam/build-arm64` (never the `.aws-sam/build` the x86_64 sam tests run).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use ctguard::cert::CertIdentity;
use ctguard::domain::WatchDomain;
use ctguard::model::{BackfillMode, Severity, WatchEntry};
use ctguard::store::{AlertStore, InventoryStore, WatchStore};
use ctguard_tests::aws::TestAws;
use ctguard_tests::certs::{LeafSpec, TestCa};
use ctguard_tests::fake_certspotter::FakeCertSpotter;
use ctguard_tests::sam::{self, AL2023_BASE_LIBRARIES, AL2023_GLIBC, EM_AARCH64};
use serde_json::json;
use sha2::{Digest, Sha256};

/// What both functions read outside Lambda to reach the emulator and this test's tables.
fn aws_env(command: &mut Command, aws: &TestAws) {
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", &aws.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("WATCHES_TABLE", &aws.tables.watches)
        .env("INVENTORY_TABLE", &aws.tables.inventory)
        .env("ALERTS_TABLE", &aws.tables.alerts)
        .env("RUST_LOG", "info");
}

fn check_arm64_for_al2023(name: &str, path: &Path) {
    let machine = sam::elf_machine(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        machine, EM_AARCH64,
        "{name} is not an aarch64 ELF (e_machine {machine})"
    );
    let linkage = sam::linkage(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let size = std::fs::metadata(path).expect("bootstrap metadata").len();
    eprintln!(
        "{name} (arm64): {size} bytes, static: {}, max glibc: {}, needs {:?}",
        linkage.is_static,
        linkage.max_glibc().map_or("none".into(), |v| v.to_string()),
        linkage.needed
    );
    if !linkage.is_static {
        let max = linkage
            .max_glibc()
            .unwrap_or_else(|| panic!("{name} is dynamic but names no GLIBC version"));
        assert!(
            max <= AL2023_GLIBC,
            "{name} needs {max}, newer than Amazon Linux 2023's glibc 2.34 (all: {:?})",
            linkage.glibc
        );
    }
    let foreign: Vec<_> = linkage
        .needed
        .iter()
        .filter(|lib| !AL2023_BASE_LIBRARIES.contains(&lib.as_str()))
        .collect();
    assert!(
        foreign.is_empty(),
        "{name} links libraries provided.al2023 does not have: {foreign:?}"
    );
}

#[test]
fn arm64_bootstraps_are_aarch64_and_need_at_most_glibc_2_34() {
    let build = sam::sam_build_arm64();
    check_arm64_for_al2023("PollerFunction/bootstrap", &build.poller_bootstrap);
    check_arm64_for_al2023("ApiFunction/bootstrap", &build.api_bootstrap);
}

/// The release profile (what `make deploy` ships) strips symbols and debug info; the x86_64 sam
/// tests run a debug build, so this is where the release profile is checked. (The machine is
/// checked above from the ELF header: an x86_64 binutils names the format only `elf64-little`.)
#[test]
fn arm64_bootstraps_are_stripped_release_binaries() {
    let build = sam::sam_build_arm64();
    for path in [&build.poller_bootstrap, &build.api_bootstrap] {
        let sections = sam::section_headers(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !sections.contains(".symtab") && !sections.contains(".debug_info"),
            "{} still has its symbol table or debug info: the release profile's strip is off",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arm64_poller_once_under_qemu_stores_and_delivers_an_alert() {
    let build = sam::sam_build_arm64();
    let aws = TestAws::new().await;
    let store = aws.store();
    let fake = FakeCertSpotter::start().await;
    let probe = aws.sns_probe("alerts").await;
    let email_from = aws.unique_email("ctguard");
    let email_to = aws.unique_email("ops");
    aws.verify_email_identity(&email_from).await;

    // A watched domain past its baseline, and a certificate for it nobody pushed.
    let domain = WatchDomain::parse("arm.example").expect("domain");
    let mut entry = WatchEntry::new(domain, None, BackfillMode::Summary, Utc::now());
    entry.baseline_completed_at = Some(Utc::now());
    assert!(store.create_watch(&entry).await.expect("create_watch"));
    let cert =
        TestCa::new("ctguard arm64 test CA").issue(&LeafSpec::for_names(["www.arm.example"]));
    fake.add_cert_der(&cert.der);
    let identity = CertIdentity::from_der(&cert.der).expect("factory cert parses");

    let mut command = sam::qemu_aarch64(&build.poller_bootstrap);
    command.arg("--once");
    aws_env(&mut command, &aws);
    command
        .env("CERTSPOTTER_API_URL", fake.url())
        .env("ALERT_TOPIC_ARN", &probe.topic_arn)
        .env("EMAIL_FROM", &email_from)
        .env("EMAIL_TO", &email_to)
        .env("GRACE_PERIOD", "0")
        .env("CAA_RESOLVER", "off");
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run qemu-aarch64 (infra/arm64/install installs qemu-user)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "poller --once under qemu failed ({}):\n{stderr}",
        out.status
    );
    eprintln!("arm64 poller --once under qemu: {:?}", started.elapsed());
    // stdout: the run's EMF metrics line, then the report as pretty JSON.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report_start = stdout.find("\n{").map_or(0, |i| i + 1);
    let report: serde_json::Value =
        serde_json::from_str(&stdout[report_start..]).expect("the run report is JSON");
    assert_eq!(report["failed"], false, "{report}");
    assert_eq!(report["alerts_created"]["suspicious"], 1, "{report}");

    let alert = store
        .get_alert(&identity.tbs_sha256)
        .await
        .expect("get_alert")
        .expect("the alert is stored");
    assert_eq!(alert.severity, Severity::Suspicious);
    let messages = aws.receive_sns(&probe, 1, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 1, "SNS messages: {messages:?}");
    assert!(
        messages[0].message.contains(&identity.tbs_sha256.to_hex()),
        "the SNS message names the certificate: {}",
        messages[0].message
    );
    assert_eq!(aws.sent_emails(&email_to).await.len(), 1, "one email");
}

/// `api --listen` under qemu; killed when dropped.
struct Listener {
    child: Child,
    url: String,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arm64_api_under_qemu_answers_healthz_and_an_authenticated_push() {
    let build = sam::sam_build_arm64();
    let aws = TestAws::new().await;
    let push_token = format!("push-{:032x}", fastrand::u128(..));
    let hash = hex::encode(Sha256::digest(push_token.as_bytes()));

    let mut command = sam::qemu_aarch64(&build.api_bootstrap);
    command.args(["--listen", "127.0.0.1:0"]);
    aws_env(&mut command, &aws);
    command
        .env("AUTH_MODE", "token")
        .env(
            "API_TOKENS",
            json!([{"sha256": hash, "role": "push", "label": "lb:arm64"}]).to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .expect("run qemu-aarch64 (infra/arm64/install installs qemu-user)");
    let stdout = child.stdout.take().expect("stdout");
    let mut listener = Listener {
        child,
        url: String::new(),
    };
    // The first line, once bound: `listening on http://ADDR` (EOF if it failed to start).
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join")
    .expect("read the listener's stdout");
    listener.url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("api --listen under qemu did not start: {line:?}"))
        .to_owned();

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let health = http
        .get(format!("{}/healthz", listener.url))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(health.status(), 200);

    let cert = TestCa::new("ctguard arm64 api CA").issue(&LeafSpec::for_names(["api.arm.example"]));
    let refused = http
        .post(format!("{}/certs", listener.url))
        .header("content-type", "application/x-pem-file")
        .body(cert.pem.clone())
        .send()
        .await
        .expect("POST /certs without a token");
    assert_eq!(refused.status(), 401);
    let pushed = http
        .post(format!("{}/certs", listener.url))
        .bearer_auth(&push_token)
        .header("content-type", "application/x-pem-file")
        .body(cert.pem.clone())
        .send()
        .await
        .expect("POST /certs");
    assert_eq!(pushed.status(), 201, "{:?}", pushed.text().await);
    let identity = CertIdentity::from_der(&cert.der).expect("factory cert parses");
    let stored = aws
        .store()
        .get_cert(&identity.tbs_sha256)
        .await
        .expect("get_cert")
        .expect("the pushed certificate is in the inventory");
    assert_eq!(stored.source, "lb:arm64");
}
