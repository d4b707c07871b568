//! Scale benchmark (not a test: it measures, it does not assert). Needs the emulator:
//!
//! ```text
//! CTGUARD_MOTO_PORT=5099 infra/local-aws/start
//! cargo build --release -p poller -p api        # the bootstraps the cold-start part runs
//! CTGUARD_TEST_AWS_ENDPOINT=http://127.0.0.1:5099 cargo bench -p ctguard-tests --bench scale
//! ```
//!
//! (`make bench` does all of it.) Parts, chosen with `BENCH_SCALE` (comma list, default all):
//!
//! - `pass`: one full pass over `BENCH_PASS_ENTRIES` (1,000) watch entries with nothing new
//!   (one query each, the steady state) through the REAL handler on the emulator, the fake
//!   Cert Spotter answering every request after 300 ms (`BENCH_LATENCY_MS`), paced at
//!   `BENCH_RATE` (5) requests/s. Measured twice in the same run, side by side: one entry at a
//!   time (`POLL_CONCURRENCY=1`, what the poller did before) and `BENCH_CONCURRENCY` (4) at
//!   once. Prints both, their ratio, the DynamoDB requests per entry, and the projection per
//!   pass at 100 / 1,000 / 10,000 entries (runs, wall time, Lambda GB-s and DynamoDB requests
//!   a month) that the README's performance section quotes.
//! - `coldstart`: each release bootstrap (`BENCH_BOOTSTRAP_DIR`, default
//!   `$CARGO_TARGET_DIR/release` or `target/release`; `poller` and `api`) exec'd natively
//!   `BENCH_COLD_RUNS` (15) times with a fake Lambda Runtime API on loopback and the emulator
//!   behind the SDK (its SSM secret read included): time from exec to its first
//!   `GET /runtime/invocation/next`.
//! - `rss`: the poller bootstrap through one scheduled run of 10,000 issuances over 100 entries
//!   (`BENCH_RSS_ISSUANCES`), channels off: its peak RSS (`wait4` rusage `ru_maxrss`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::Utc;
use ctguard::domain::WatchDomain;
use ctguard::model::{BackfillMode, WatchEntry};
use ctguard::store::{InventoryStore, WatchStore};
use ctguard_core::fixtures::authorized_key;
use ctguard_tests::aws::TestAws;
use ctguard_tests::certs::{LeafSpec, TestCa};
use ctguard_tests::fake_certspotter::{FakeCertSpotter, FakeIssuance};
use ctguard_tests::fake_lambda_runtime::FakeLambdaRuntime;
use ctguard_tests::fault_proxy::{FaultProxy, Service};
use lambda_runtime::{Context, LambdaEvent};
use poller::Config;

const SCHEDULED_EVENT: &str = include_str!("scheduled_event.json");
/// The deployed poller's memory (template.yaml `MemorySize`), and a Lambda's longest run (the
/// deadline the benchmark's runs get).
const LAMBDA_GB: f64 = 0.25;
const LAMBDA_MAX: Duration = Duration::from_secs(900);
/// `DEADLINE_MARGIN`'s default: polling stops this long before the Lambda deadline.
const DEADLINE_MARGIN: Duration = Duration::from_secs(20);
/// Runs a month on the default schedule (every 15 minutes).
const RUNS_PER_MONTH: f64 = 30.0 * 24.0 * 4.0;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_float(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// pass

struct PassFigures {
    concurrency: usize,
    wall: Duration,
    queries: usize,
    max_in_flight: usize,
    caught_up: u32,
    skipped: u32,
    dynamo: u64,
}

async fn pass(
    aws: &TestAws,
    fake: &FakeCertSpotter,
    entries: usize,
    rate: f64,
    concurrency: usize,
) -> PassFigures {
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let vars: HashMap<&str, String> = HashMap::from([
        ("WATCHES_TABLE", aws.tables.watches.clone()),
        ("INVENTORY_TABLE", aws.tables.inventory.clone()),
        ("ALERTS_TABLE", aws.tables.alerts.clone()),
        ("CERTSPOTTER_API_URL", fake.url()),
        ("QUERY_BUDGET", (2 * entries + 10).to_string()),
        ("CERTSPOTTER_RATE_PER_SEC", rate.to_string()),
        ("CERTSPOTTER_BURST", "1".to_owned()),
        ("POLL_CONCURRENCY", concurrency.to_string()),
        ("CAA_RESOLVER", "off".to_owned()),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("config");
    let sdk = aws.config_via(proxy.url()).await;
    let poller = poller::app::build(&config, &sdk).expect("build");
    let queries_before = fake.query_count();

    let event: CloudWatchEvent = serde_json::from_str(SCHEDULED_EVENT).expect("event");
    let mut context = Context::default();
    context.request_id = format!("pass-{concurrency}");
    context.deadline = (SystemTime::now() + LAMBDA_MAX)
        .duration_since(UNIX_EPOCH)
        .expect("epoch")
        .as_millis() as u64;
    proxy.reset_counts();
    let started = Instant::now();
    let report = poller::handle(&poller, LambdaEvent::new(event, context))
        .await
        .expect("run succeeds");
    let wall = started.elapsed();
    for error in &report.errors {
        println!("  error: {error}");
    }
    PassFigures {
        concurrency,
        wall,
        queries: fake.query_count() - queries_before,
        max_in_flight: fake.max_in_flight(),
        caught_up: report.entries_caught_up,
        skipped: report.entries_skipped,
        dynamo: proxy
            .counts()
            .iter()
            .filter(|((service, _), _)| *service == Service::DynamoDb)
            .map(|(_, c)| c)
            .sum(),
    }
}

async fn bench_pass() {
    let entries = env_number("BENCH_PASS_ENTRIES", 1_000);
    let rate = env_float("BENCH_RATE", 5.0);
    let latency = Duration::from_millis(env_number("BENCH_LATENCY_MS", 300) as u64);
    let concurrency = env_number("BENCH_CONCURRENCY", 4);
    println!(
        "\n== pass: {entries} entries, nothing new (one query each), latency {} ms, rate {rate}/s",
        latency.as_millis()
    );

    let aws = TestAws::new().await;
    let store = aws.store();
    let now = Utc::now();
    for e in 0..entries {
        let mut entry = WatchEntry::new(
            WatchDomain::parse(&format!("d{e}.scale.example")).expect("domain"),
            None,
            BackfillMode::Summary,
            now,
        );
        entry.baseline_completed_at = Some(now);
        store.create_watch(&entry).await.expect("create_watch");
    }
    // Each pass starts from fresh tables' state: the same entries, all caught up before.
    let mut figures = Vec::new();
    for c in [1, concurrency] {
        let fake = FakeCertSpotter::start().await;
        fake.set_latency(latency);
        fake.set_record_queries(false);
        let f = pass(&aws, &fake, entries, rate, c).await;
        println!(
            "POLL_CONCURRENCY={:<2} wall {:>7.1} s  queries {:>5}  {:.2} req/s  max in flight {}  caught up {} skipped {}  DynamoDB {} ({:.2}/entry)",
            f.concurrency,
            f.wall.as_secs_f64(),
            f.queries,
            f.queries as f64 / f.wall.as_secs_f64(),
            f.max_in_flight,
            f.caught_up,
            f.skipped,
            f.dynamo,
            f.dynamo as f64 / entries as f64
        );
        figures.push(f);
    }
    let (before, after) = (&figures[0], &figures[1]);
    println!(
        "full pass: {:.1} s -> {:.1} s (x{:.2} faster; the rate limit alone allows {:.0} s, the goal is <= {:.0} s)",
        before.wall.as_secs_f64(),
        after.wall.as_secs_f64(),
        before.wall.as_secs_f64() / after.wall.as_secs_f64(),
        entries as f64 / rate,
        entries as f64 / rate * 1.125
    );

    // Projection from the measured concurrent pass: seconds per entry, DynamoDB per entry.
    let per_entry = after.wall.as_secs_f64() / entries as f64;
    let dynamo_per_entry = after.dynamo as f64 / entries as f64;
    for (timeout, what) in [
        (180u64, "the template's Timeout"),
        (900, "Lambda's 15-min limit"),
    ] {
        let usable = timeout.saturating_sub(DEADLINE_MARGIN.as_secs()) as f64;
        println!(
            "\nprojection at {rate} req/s, POLL_CONCURRENCY={concurrency}, Timeout {timeout} s ({what}), runs every 15 min, 256 MB (measured {per_entry:.3} s and {dynamo_per_entry:.2} DynamoDB requests per entry)"
        );
        println!(
            "| entries | wall per full pass | runs per pass (K) | every entry polled at least every | Lambda GB-s / month | DynamoDB requests / month |"
        );
        println!("|---|---|---|---|---|---|");
        for n in [100usize, 1_000, 10_000] {
            let pass_secs = per_entry * n as f64;
            let runs = (pass_secs / usable).ceil().max(1.0);
            // A run lasts the pass, or all its usable time while a pass spans several runs.
            let run_secs = pass_secs.min(usable);
            let gb_s = run_secs * LAMBDA_GB * RUNS_PER_MONTH;
            let entries_per_run = (n as f64).min(usable / per_entry);
            let dynamo = entries_per_run * dynamo_per_entry * RUNS_PER_MONTH;
            println!(
                "| {n} | {pass_secs:.0} s | {runs:.0} | {:.0} min | {gb_s:.0} | {:.2} M |",
                runs * 15.0,
                dynamo / 1e6
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// coldstart and rss

fn bootstrap_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BENCH_BOOTSTRAP_DIR") {
        return dir.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("release")
}

fn lambda_command(binary: &PathBuf, aws: &TestAws, runtime: &FakeLambdaRuntime) -> Command {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_ENDPOINT_URL", &aws.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("WATCHES_TABLE", &aws.tables.watches)
        .env("INVENTORY_TABLE", &aws.tables.inventory)
        .env("ALERTS_TABLE", &aws.tables.alerts)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if std::env::var_os("BENCH_CHILD_LOGS").is_some() {
        command.stderr(Stdio::inherit());
    }
    command
}

/// Kills the child and reaps it; returns its peak RSS in KiB (`ru_maxrss`).
fn kill_and_reap(child: &mut std::process::Child) -> i64 {
    let _ = child.kill();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain syscall on our own child; `usage` is a properly sized, zeroed struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if reaped == pid { usage.ru_maxrss } else { -1 }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn bench_coldstart() {
    let runs = env_number("BENCH_COLD_RUNS", 15);
    let dir = bootstrap_dir();
    println!(
        "\n== cold start: exec -> first GET /runtime/invocation/next, {runs} runs each, bootstraps in {}",
        dir.display()
    );
    let aws = TestAws::new().await;
    // Secrets in SSM, read at start as deployed.
    let certspotter_key = aws.put_secure_string("certspotter-key", "bench-key").await;
    let tokens = aws
        .put_secure_string(
            "api-tokens",
            &serde_json::json!([{"sha256": "00".repeat(32), "role": "admin", "label": "bench"}])
                .to_string(),
        )
        .await;
    for (name, extra) in [
        (
            "poller",
            vec![("CERTSPOTTER_API_TOKEN_PARAM", certspotter_key.clone())],
        ),
        (
            "api",
            vec![
                ("AUTH_MODE", "token".to_owned()),
                ("API_TOKENS_PARAM", tokens.clone()),
            ],
        ),
    ] {
        let binary = dir.join(name);
        if !binary.exists() {
            println!(
                "{name}: {} missing (cargo build --release -p poller -p api)",
                binary.display()
            );
            continue;
        }
        let mut times = Vec::new();
        let mut peak_kib = 0;
        for _ in 0..runs {
            let runtime = FakeLambdaRuntime::start(Vec::new(), LAMBDA_MAX).await;
            let mut command = lambda_command(&binary, &aws, &runtime);
            command.envs(extra.iter().map(|(k, v)| (*k, v.as_str())));
            let exec = tokio::time::Instant::now();
            let mut child = command.spawn().expect("spawn bootstrap");
            let asked = runtime
                .wait_for(Duration::from_secs(20), |r| {
                    r.first_next().is_some() || r.init_error().is_some()
                })
                .await;
            let first = runtime.first_next();
            peak_kib = peak_kib.max(kill_and_reap(&mut child));
            match (asked, first) {
                (true, Some(at)) => times.push(at - exec),
                _ => {
                    println!(
                        "{name}: did not ask for work (init error: {:?}); BENCH_CHILD_LOGS=1 shows its log",
                        runtime.init_error()
                    );
                    break;
                }
            }
        }
        if times.is_empty() {
            continue;
        }
        times.sort();
        println!(
            "{name:<7} min {:>6.1} ms  p50 {:>6.1} ms  p90 {:>6.1} ms  max {:>6.1} ms  (peak RSS at that point {:.1} MiB)",
            times[0].as_secs_f64() * 1e3,
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.9).as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
            peak_kib as f64 / 1024.0
        );
    }
}

async fn bench_rss() {
    let issuances = env_number("BENCH_RSS_ISSUANCES", 10_000);
    let entries = 100;
    let binary = bootstrap_dir().join("poller");
    println!(
        "\n== peak RSS: poller bootstrap, one scheduled run of {issuances} issuances over {entries} entries (channels off)"
    );
    if !binary.exists() {
        println!(
            "poller: {} missing (cargo build --release -p poller)",
            binary.display()
        );
        return;
    }
    let aws = TestAws::new().await;
    let fake = FakeCertSpotter::start().await;
    fake.set_record_queries(false);
    let store = aws.store();
    let ca = TestCa::new("bench CA");
    let template = ca.issue(&LeafSpec::for_names(["template.bench.example"]));
    let now = Utc::now();
    let domains: Vec<String> = (0..entries).map(|e| format!("d{e}.rss.example")).collect();
    for (e, domain) in domains.iter().enumerate() {
        let mut entry = WatchEntry::new(
            WatchDomain::parse(domain).expect("domain"),
            None,
            BackfillMode::Summary,
            now,
        );
        entry.baseline_completed_at = Some(now);
        store.create_watch(&entry).await.expect("create_watch");
        store
            .put_key(&authorized_key(key(e), &[], "bench", now))
            .await
            .expect("put_key");
    }
    for i in 0..issuances {
        let e = i % entries;
        let mut issuance = FakeIssuance::from_cert_der(&template.der);
        issuance.tbs_sha256 = digest(&format!("tbs{i}"));
        issuance.cert_sha256 = digest(&format!("cert{i}"));
        issuance.pubkey_sha256 = if (i / entries) % 10 == 9 {
            digest(&format!("stray{i}"))
        } else {
            key(e).0
        };
        issuance.dns_names = vec![format!("h{i}.{}", domains[e])];
        fake.add_issuance(issuance);
    }

    let runtime = FakeLambdaRuntime::start(vec![SCHEDULED_EVENT.to_owned()], LAMBDA_MAX).await;
    let mut command = lambda_command(&binary, &aws, &runtime);
    command
        .env("CERTSPOTTER_API_URL", fake.url())
        .env("CERTSPOTTER_RATE_PER_SEC", "1000")
        .env("GRACE_PERIOD", "0")
        .env("CAA_RESOLVER", "off")
        .env("QUERY_BUDGET", (2 * issuances + 10 * entries).to_string());
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn poller");
    let done = runtime
        .wait_for(LAMBDA_MAX, |r| !r.outcomes().is_empty())
        .await;
    let wall = started.elapsed();
    let peak_kib = kill_and_reap(&mut child);
    let outcome = runtime.outcomes().into_iter().next();
    let report: serde_json::Value = outcome
        .as_ref()
        .and_then(|o| serde_json::from_str(&o.body).ok())
        .unwrap_or_default();
    println!(
        "run {} in {:.1} s: issuances seen {}, alerts info {} / suspicious {}, queries {}",
        if done && outcome.as_ref().is_some_and(|o| o.ok) {
            "succeeded"
        } else {
            "FAILED"
        },
        wall.as_secs_f64(),
        report["issuances_seen"],
        report["alerts_created"]["info"],
        report["alerts_created"]["suspicious"],
        fake.query_count()
    );
    println!(
        "peak RSS {:.1} MiB (ru_maxrss {peak_kib} KiB; goal <= 40 MB)",
        peak_kib as f64 / 1024.0
    );
}

fn digest(s: &str) -> [u8; 32] {
    ctguard::hash::Sha256Hash::digest(s.as_bytes()).0
}

fn key(entry: usize) -> ctguard::hash::Sha256Hash {
    ctguard::hash::Sha256Hash::digest(format!("key{entry}").as_bytes())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("scale benchmark: run it with `cargo bench -p ctguard-tests --bench scale`");
        return;
    }
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let parts = std::env::var("BENCH_SCALE").unwrap_or_else(|_| "coldstart,rss,pass".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for part in parts.split(',').map(str::trim) {
            match part {
                "pass" => bench_pass().await,
                "coldstart" => bench_coldstart().await,
                "rss" => bench_rss().await,
                other => panic!("unknown part {other:?} (pass, coldstart, rss)"),
            }
        }
    });
}
