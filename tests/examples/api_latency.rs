//! Warm latency of the API for POST /certs and GET /alerts against the DynamoDB emulator, in
//! process (Function URL events into the router built once, `api::testing::InProcess`; beside
//! each such row, the router built per request, for comparison) and over HTTP (the local
//! listener, in process and as the `api --listen` binary), plus the binary's init time
//! (start → listening).
//!
//! Needs the emulator (`infra/local-aws/start`). Run:
//!   cargo run --release -p ctguard-tests --example api_latency -- [--bin target/release/api] [-n 300]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use ctguard::hash::Sha256Hash;
use ctguard::model::{Alert, Delivery, Severity};
use ctguard::store::AlertStore;
use ctguard_core::fixtures::stored_alert;
use ctguard_tests::api::event::Req;
use ctguard_tests::api::*;
use ctguard_tests::aws::TestAws;
use ctguard_tests::certs::{LeafSpec, TestCa};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label:<44} n={:<4} p50={:>8.2?} p99={:>8.2?} max={:>8.2?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}

fn alert(i: usize) -> Alert {
    let now = Utc::now();
    let severity = if i.is_multiple_of(3) {
        Severity::Suspicious
    } else {
        Severity::Info
    };
    Alert {
        not_before: now,
        not_after: now + chrono::Duration::days(90),
        classified_at: now,
        sns: Delivery::skipped(),
        ..stored_alert(
            &format!("latency-{i}"),
            severity,
            now - chrono::Duration::seconds(i as i64),
        )
    }
}

/// Whether the in-process path reuses the app's router or builds one for the request.
#[derive(Clone, Copy)]
enum Router {
    Once,
    PerCall,
}

/// One in-process request, timed as the Lambda runtime would see it: from the Function URL
/// event's JSON (deserialised by lambda_http) to the response; every request here must succeed.
async fn time_call<S: api::Store>(app: &InProcess<S>, router: Router, request: &Req) -> Duration {
    let event = request.event().to_string();
    let started = Instant::now();
    let request = lambda_http::request::from_str(&event).unwrap();
    let response = match router {
        Router::Once => app.call(request).await,
        Router::PerCall => InProcess::new(app.app().clone()).call(request).await,
    };
    assert!(response.status().is_success(), "{}", response.status());
    started.elapsed()
}

async fn measure_http(label: &str, url: &str, pems: &[String], n: usize) {
    let http = reqwest::Client::new();
    let mut posts = Vec::new();
    for (i, pem) in pems.iter().enumerate() {
        let started = Instant::now();
        let response = http
            .post(format!("{url}/certs"))
            .bearer_auth(PUSH_TOKEN)
            .header("content-type", "application/x-pem-file")
            .body(pem.clone())
            .send()
            .await
            .unwrap();
        let status = response.status();
        response.bytes().await.unwrap();
        assert!(status.is_success(), "{status}");
        if i >= 10 {
            posts.push(started.elapsed());
        }
    }
    report(&format!("{label}: POST /certs"), posts);
    let mut gets = Vec::new();
    for i in 0..n + 10 {
        let started = Instant::now();
        let response = http
            .get(format!("{url}/alerts?limit=50"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
        response.bytes().await.unwrap();
        if i >= 10 {
            gets.push(started.elapsed());
        }
    }
    report(&format!("{label}: GET /alerts?limit=50"), gets);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n: usize = arg("-n").map(|v| v.parse().unwrap()).unwrap_or(300);
    let bin = arg("--bin");

    let aws = TestAws::new().await;
    let store = aws.store();
    for i in 0..120 {
        store.create_alert(&alert(i)).await.unwrap();
    }
    let ca = TestCa::new("latency CA");
    let make_pems = |tag: &str| -> Vec<String> {
        (0..n + 10)
            .map(|i| {
                ca.issue(&LeafSpec::for_names([format!("{tag}{i}.example.org")]))
                    .fullchain_pem
            })
            .collect()
    };

    // In process: Function URL events through lambda_http's deserializer into the router,
    // built once as `lambda_http::run` gets it; beside each row, for comparison, the same
    // requests with the router built for every request (as the test helper once did),
    // interleaved one by one so both see the same machine.
    let app = InProcess::new(api::App::new(aws.store(), settings()));
    let once_pems = make_pems("inproc");
    let per_call_pems = make_pems("perreq");
    let (mut posts, mut per_call_posts) = (Vec::new(), Vec::new());
    for (i, (once, per_call)) in once_pems.iter().zip(&per_call_pems).enumerate() {
        let post = |pem: &str| Req::post("/certs").token(PUSH_TOKEN).pem(pem);
        let once = time_call(&app, Router::Once, &post(once)).await;
        let per_call = time_call(&app, Router::PerCall, &post(per_call)).await;
        if i >= 10 {
            posts.push(once);
            per_call_posts.push(per_call);
        }
    }
    report("in-process event: POST /certs", posts);
    report("  same, router built per request", per_call_posts);
    let get = Req::get("/alerts?limit=50").token(ADMIN_TOKEN);
    let (mut gets, mut per_call_gets) = (Vec::new(), Vec::new());
    for i in 0..n + 10 {
        let once = time_call(&app, Router::Once, &get).await;
        let per_call = time_call(&app, Router::PerCall, &get).await;
        if i >= 10 {
            gets.push(once);
            per_call_gets.push(per_call);
        }
    }
    report("in-process event: GET /alerts?limit=50", gets);
    report("  same, router built per request", per_call_gets);

    // For scale: the store calls alone (the emulator's share) and the handler alone (over the
    // in-memory store).
    let page = ctguard::store::PageRequest {
        limit: 50,
        token: None,
    };
    let mut store_gets = Vec::new();
    for i in 0..n + 10 {
        let started = Instant::now();
        store.list_alerts(&Default::default(), &page).await.unwrap();
        if i >= 10 {
            store_gets.push(started.elapsed());
        }
    }
    report("store only: list_alerts(limit 50)", store_gets);
    let memory = InProcess::new(api::App::new(
        ctguard::store::memory::MemoryStore::new(),
        settings(),
    ));
    for i in 0..120 {
        memory.store().create_alert(&alert(i)).await.unwrap();
    }
    for (label, request) in [
        (
            "handler only (memory store): POST /certs",
            Req::post("/certs").token(PUSH_TOKEN).pem(&once_pems[0]),
        ),
        (
            "handler only (memory store): GET /alerts",
            Req::get("/alerts?limit=50").token(ADMIN_TOKEN),
        ),
    ] {
        let (mut samples, mut per_call_samples) = (Vec::new(), Vec::new());
        for i in 0..n + 10 {
            let once = time_call(&memory, Router::Once, &request).await;
            let per_call = time_call(&memory, Router::PerCall, &request).await;
            if i >= 10 {
                samples.push(once);
                per_call_samples.push(per_call);
            }
        }
        report(label, samples);
        report("  same, router built per request", per_call_samples);
    }

    // The local listener, in process.
    let (url, _app) = start_listener(aws.store()).await;
    measure_http("listener (in process)", &url, &make_pems("listener"), n).await;

    // The binary: init time and latency through its listener.
    let Some(bin) = bin else {
        println!("(pass --bin PATH/TO/api to measure the binary's init time)");
        return;
    };
    let tokens = serde_json::json!([
        {"sha256": Sha256Hash::digest(PUSH_TOKEN.as_bytes()).to_hex(), "role": "push", "label": PUSH_LABEL},
        {"sha256": Sha256Hash::digest(ADMIN_TOKEN.as_bytes()).to_hex(), "role": "admin", "label": ADMIN_LABEL},
    ])
    .to_string();
    let mut inits = Vec::new();
    let mut last_url = String::new();
    let mut children = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let mut child = Command::new(&bin)
            .args(["--listen", "127.0.0.1:0"])
            .env("WATCHES_TABLE", &aws.tables.watches)
            .env("INVENTORY_TABLE", &aws.tables.inventory)
            .env("ALERTS_TABLE", &aws.tables.alerts)
            .env("API_TOKENS", &tokens)
            .env("AWS_ENDPOINT_URL", &aws.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the api binary");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        inits.push(started.elapsed());
        last_url = line.trim().trim_start_matches("listening on ").to_owned();
        children.push(child);
    }
    report("binary: start → listening (init)", inits);
    let started = Instant::now();
    let first = reqwest::Client::new()
        .get(format!("{last_url}/alerts?limit=50"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(first.status().is_success());
    println!(
        "binary: first GET /alerts after start          {:>8.2?}",
        started.elapsed()
    );
    measure_http("binary listener", &last_url, &make_pems("binary"), n).await;
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
