//! Poller throughput benchmark (not a test: it measures, it does not assert).
//!
//! Run it against a dedicated emulator (the shared wrapper `infra/local-aws/moto_server.py`
//! takes moto's per-transaction table backup once instead of once per item, without which
//! the backup is quadratic in the table size):
//!
//! ```text
//! CTGUARD_MOTO_PORT=5099 infra/local-aws/start
//! CTGUARD_TEST_AWS_ENDPOINT=http://127.0.0.1:5099 cargo bench -p ctguard-tests --bench poller
//! CTGUARD_MOTO_PORT=5099 infra/local-aws/stop
//! ```
//!
//! N issuances (default 10,000) spread over E watch entries (default 100), served by the fake
//! Cert Spotter in pages of 100, go through the REAL Lambda handler with its clients on the
//! emulator; every AWS request passes the counting proxy. 90% of the issuances are authorized
//! by an inventory key, 10% are suspicious. Three scenarios:
//!
//! 1. `poll`: channels off, so only the polling path runs (list, lookup, store, cursor).
//! 2. `small`: `poll` with a tenth of the entries and issuances (same pages), to compare
//!    working memory: it must not grow with N.
//! 3. `full`: SNS and email on: polling plus delivering every alert through the outbox.
//! 4. `deliver`: delivery alone, before and after issue 13 §2, side by side: N alerts (the same
//!    mix: 10% suspicious, 90% info) are written to the store queued on both channels, then
//!    one handler run (no watch entries, SNS and email on) delivers them, once with
//!    `DELIVERY_BATCH=1` (the per-alert path: one claim, Publish and record each) and once
//!    with the default (transactions of 100, PublishBatch of 10), each on fresh tables.
//!    Reported: every AWS request of the run (DynamoDB, SNS, SES, the run's fixed reads
//!    included) per delivered alert-channel (`deliveries_ok`: SNS messages, and alerts listed
//!    in an email), and the before/after ratio. Info alerts are not emailed (the default): their
//!    email channel is marked skipped, which costs requests but delivers nothing.
//!
//! Reported per scenario: wall time, Cert Spotter queries, DynamoDB requests by action (per
//! page and per issuance), SNS/SES requests, CAA DNS lookups (per issuance and per
//! unauthorized issuance, with the run's cache; against the loopback DNS responder), and the peak of heap bytes allocated during the
//! run above what was allocated before it (a counting global allocator; the fake server's
//! stored issuances are allocated before the run, so they are not counted).
//!
//! Environment: `BENCH_ISSUANCES`, `BENCH_ENTRIES`, `BENCH_SCENARIOS` (comma list of
//! `poll,small,full,deliver`; default `poll,small,full,deliver`), `BENCH_LOG` (a tracing filter, e.g. `info`, to see the run's logs).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use chrono::Utc;
use ctguard::domain::WatchDomain;
use ctguard::model::{BackfillMode, Delivery, Severity, WatchEntry};
use ctguard::store::{AlertStore, InventoryStore, WatchStore};
use ctguard_core::fixtures::authorized_key;
use ctguard_tests::aws::TestAws;
use ctguard_tests::certs::{LeafSpec, TestCa};
use ctguard_tests::dns::{FakeDns, Zone};
use ctguard_tests::fake_certspotter::{FakeCertSpotter, FakeIssuance};
use ctguard_tests::fault_proxy::{FaultProxy, Service};
use ctguard_tests::store_contract;
use lambda_runtime::{Context, LambdaEvent};
use poller::{Config, RunReport};

struct CountingAllocator;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: delegates every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Figures {
    name: String,
    issuances: usize,
    entries: usize,
    wall: Duration,
    report: RunReport,
    api_queries: usize,
    counts: HashMap<(Service, String), u64>,
    peak_run_bytes: usize,
    /// CAA queries the loopback DNS responder received.
    dns_queries: u32,
}

impl Figures {
    fn print(&self) {
        let n = self.issuances as f64;
        let dynamo: u64 = self
            .counts
            .iter()
            .filter(|((service, _), _)| *service == Service::DynamoDb)
            .map(|(_, c)| c)
            .sum();
        // Pages that carried issuances (each entry also ends with one empty page).
        let pages = self.api_queries.saturating_sub(self.entries).max(1) as f64;
        println!(
            "\n== {} : {} issuances over {} entries",
            self.name, self.issuances, self.entries
        );
        println!("wall time                 {:.2} s", self.wall.as_secs_f64());
        println!(
            "throughput                {:.0} issuances/s",
            n / self.wall.as_secs_f64()
        );
        println!(
            "Cert Spotter queries      {} ({:.3} per issuance)",
            self.api_queries,
            self.api_queries as f64 / n
        );
        println!(
            "DynamoDB requests         {} ({:.3} per issuance, {:.2} per non-empty page)",
            dynamo,
            dynamo as f64 / n,
            dynamo as f64 / pages
        );
        let mut actions: Vec<_> = self.counts.iter().collect();
        actions
            .sort_by(|a, b| format!("{:?}{}", a.0.0, a.0.1).cmp(&format!("{:?}{}", b.0.0, b.0.1)));
        for ((service, action), count) in actions {
            println!(
                "  {:<8} {:<20} {:>7} ({:.3} per issuance)",
                format!("{service:?}"),
                action,
                count,
                *count as f64 / n
            );
        }
        let unauthorized = (self.report.alerts_created.suspicious
            + self.report.alerts_created.critical
            + self.report.alerts_created.pending)
            .max(1) as f64;
        println!(
            "DNS (CAA) lookups         {} ({:.3} per issuance, {:.3} per unauthorized issuance; \
             {} unauthorized checked, {} answered from the run's cache, {} received by the \
             responder)",
            self.report.caa_lookups,
            self.report.caa_lookups as f64 / n,
            self.report.caa_lookups as f64 / unauthorized,
            self.report.caa_issuances_checked,
            self.report.caa_cache_hits,
            self.dns_queries
        );
        println!(
            "peak heap during the run  {:.1} MiB above the pre-run level",
            self.peak_run_bytes as f64 / (1024.0 * 1024.0)
        );
        println!(
            "alerts created            info {} / suspicious {}; deliveries ok {}, failed {}",
            self.report.alerts_created.info,
            self.report.alerts_created.suspicious,
            self.report.deliveries_ok,
            self.report.deliveries_failed
        );
        println!(
            "entries                   caught up {} / polled {} / skipped {} / failed {}",
            self.report.entries_caught_up,
            self.report.entries_polled,
            self.report.entries_skipped,
            self.report.entries_failed
        );
        for error in &self.report.errors {
            println!("error                     {error}");
        }
    }
}

async fn scenario(name: &str, issuances: usize, entries: usize, deliver: bool) -> Figures {
    let aws = TestAws::new().await;
    let fake = FakeCertSpotter::start().await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let store = aws.store();
    let ca = TestCa::new("bench CA");
    let template = ca.issue(&LeafSpec::for_names(["template.bench.example"]));

    // Watch entries (baseline done) and one authorized key per entry.
    let now = Utc::now();
    let domains: Vec<String> = (0..entries)
        .map(|e| format!("d{e}.bench.example"))
        .collect();
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
    // Issuances round-robin over the entries; every tenth with an unknown key.
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

    // CAA: the loopback responder; the bench zone permits the fake's CA, so only the lookups
    // cost (unauthorized issuances only; authorized ones must cost none).
    let dns = FakeDns::start().await;
    dns.set("bench.example", Zone::issue(&["ctguard.test"]));
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("CAA_RESOLVER", dns.addr().to_string()),
        ("CAA_MAX_LOOKUPS", "1000000".to_owned()),
        ("WATCHES_TABLE", aws.tables.watches.clone()),
        ("INVENTORY_TABLE", aws.tables.inventory.clone()),
        ("ALERTS_TABLE", aws.tables.alerts.clone()),
        ("CERTSPOTTER_API_URL", fake.url()),
        ("GRACE_PERIOD", "0".to_owned()),
        ("QUERY_BUDGET", (2 * issuances + 10 * entries).to_string()),
        // Unpaced (the fake has no rate limit): this measures the poller and the emulator.
        ("CERTSPOTTER_RATE_PER_SEC", "1000".to_owned()),
    ]);
    if deliver {
        let topic = aws
            .sns
            .create_topic()
            .name(aws.unique("bench"))
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn
            .expect("topic ARN");
        let from = aws.unique_email("bench");
        aws.verify_email_identity(&from).await;
        vars.insert("ALERT_TOPIC_ARN", topic);
        vars.insert("EMAIL_FROM", from);
        vars.insert("EMAIL_TO", aws.unique_email("ops"));
    }
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("config");
    let sdk = aws.config_via(proxy.url()).await;
    let poller = poller::app::build(&config, &sdk).expect("build");
    proxy.reset_counts();
    fake.clear_queries();

    let event: CloudWatchEvent =
        serde_json::from_str(include_str!("scheduled_event.json")).expect("event");
    let mut context = Context::default();
    context.request_id = "bench".into();
    context.deadline = (SystemTime::now() + Duration::from_secs(900))
        .duration_since(UNIX_EPOCH)
        .expect("epoch")
        .as_millis() as u64;

    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let started = Instant::now();
    let report = poller::handle(&poller, LambdaEvent::new(event, context))
        .await
        .expect("run succeeds");
    let wall = started.elapsed();
    let peak_run_bytes = PEAK.load(Ordering::Relaxed).saturating_sub(before);

    Figures {
        name: name.to_owned(),
        issuances,
        entries,
        wall,
        report,
        api_queries: fake.queries().len(),
        counts: proxy.counts(),
        peak_run_bytes,
        dns_queries: dns.total_queries(),
    }
}

/// One handler run delivering `alerts` pre-stored alerts with `DELIVERY_BATCH=batch`.
async fn delivery_run(alerts: usize, batch: u32) -> Figures {
    let aws = TestAws::new().await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let store = aws.store();
    let now = Utc::now();
    let mut stored = Vec::with_capacity(100);
    for i in 0..alerts {
        let severity = if i % 10 == 9 {
            Severity::Suspicious
        } else {
            Severity::Info
        };
        let seen = now - chrono::Duration::seconds((alerts - i) as i64);
        let mut alert = store_contract::alert(&format!("d{i}"), severity, &["bench.example"], seen);
        alert.sns = Delivery::queued();
        alert.email = Delivery::queued();
        stored.push(alert);
        if stored.len() == 100 || i + 1 == alerts {
            store.create_alerts(&stored).await.expect("create_alerts");
            stored.clear();
        }
    }
    let topic = aws
        .sns
        .create_topic()
        .name(aws.unique("bench"))
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn
        .expect("topic ARN");
    let from = aws.unique_email("bench");
    aws.verify_email_identity(&from).await;
    let vars: HashMap<&str, String> = HashMap::from([
        ("WATCHES_TABLE", aws.tables.watches.clone()),
        ("INVENTORY_TABLE", aws.tables.inventory.clone()),
        ("ALERTS_TABLE", aws.tables.alerts.clone()),
        ("CERTSPOTTER_API_URL", "http://127.0.0.1:9".to_owned()),
        ("ALERT_TOPIC_ARN", topic),
        ("EMAIL_FROM", from),
        ("EMAIL_TO", aws.unique_email("ops")),
        ("DELIVERY_BATCH", batch.to_string()),
        ("CAA_RESOLVER", "off".to_owned()),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("config");
    let sdk = aws.config_via(proxy.url()).await;
    let poller = poller::app::build(&config, &sdk).expect("build");
    proxy.reset_counts();
    // An hour: the per-alert path at 10,000 alerts takes longer than a Lambda's 15 minutes on
    // the emulator, and a run cut by its deadline would measure fewer deliveries.
    let (report, wall) = invoke(&poller, Duration::from_secs(3600)).await;
    Figures {
        name: format!("deliver, DELIVERY_BATCH={batch}"),
        issuances: alerts,
        entries: 0,
        wall,
        report,
        api_queries: 0,
        counts: proxy.counts(),
        peak_run_bytes: 0,
        dns_queries: 0,
    }
}

/// AWS requests of a run per delivered alert-channel.
fn per_delivery(figures: &Figures) -> f64 {
    let requests: u64 = figures.counts.values().sum();
    requests as f64 / figures.report.deliveries_ok.max(1) as f64
}

async fn deliver_side_by_side(alerts: usize) {
    let before = delivery_run(alerts, 1).await;
    before.print();
    let after = delivery_run(alerts, 100).await;
    after.print();
    let (b, a) = (per_delivery(&before), per_delivery(&after));
    println!("\n== delivery, {alerts} alerts: AWS requests per delivered alert-channel");
    for (name, f, per) in [("before", &before, b), ("after", &after, a)] {
        let requests: u64 = f.counts.values().sum();
        println!(
            "{name:<7} {requests:>7} requests / {:>6} delivered = {per:.3}  ({:.1} s)",
            f.report.deliveries_ok,
            f.wall.as_secs_f64()
        );
    }
    println!(
        "ratio   after/before = {:.3} (x{:.1} fewer requests); goal <= 0.3 per alert-channel: {}",
        a / b,
        b / a,
        if a <= 0.3 { "met" } else { "NOT met" }
    );
}

async fn invoke(poller: &poller::app::LivePoller, budget: Duration) -> (RunReport, Duration) {
    let event: CloudWatchEvent =
        serde_json::from_str(include_str!("scheduled_event.json")).expect("event");
    let mut context = Context::default();
    context.request_id = "bench".into();
    context.deadline = (SystemTime::now() + budget)
        .duration_since(UNIX_EPOCH)
        .expect("epoch")
        .as_millis() as u64;
    let started = Instant::now();
    let report = poller::handle(poller, LambdaEvent::new(event, context))
        .await
        .expect("run succeeds");
    (report, started.elapsed())
}

fn digest(s: &str) -> [u8; 32] {
    ctguard::hash::Sha256Hash::digest(s.as_bytes()).0
}

fn key(entry: usize) -> ctguard::hash::Sha256Hash {
    ctguard::hash::Sha256Hash::digest(format!("key{entry}").as_bytes())
}

fn main() {
    // `cargo bench` passes `--bench`; when `cargo test --benches` runs this binary as a test,
    // do not start a multi-minute measurement.
    if !std::env::args().any(|a| a == "--bench") {
        println!("poller benchmark: run it with `cargo bench -p ctguard-tests --bench poller`");
        return;
    }
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let issuances = env_number("BENCH_ISSUANCES", 10_000);
    let entries = env_number("BENCH_ENTRIES", 100);
    let scenarios =
        std::env::var("BENCH_SCENARIOS").unwrap_or_else(|_| "poll,small,full,deliver".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for name in scenarios.split(',').map(str::trim) {
            let figures = match name {
                "poll" => scenario("poll (channels off)", issuances, entries, false).await,
                // A tenth of the entries and issuances: the same pages, a tenth of the total.
                "small" => {
                    let name = "poll (channels off), a tenth of the entries";
                    scenario(name, issuances / 10, (entries / 10).max(1), false).await
                }
                "full" => scenario("full (SNS + email on)", issuances, entries, true).await,
                "deliver" => {
                    deliver_side_by_side(issuances).await;
                    continue;
                }
                other => panic!("unknown scenario {other:?}"),
            };
            figures.print();
        }
    });
}
