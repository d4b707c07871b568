//! The API's local listener (what `api --listen` serves) over real HTTP with reqwest, backed by
//! the DynamoDB emulator.

use std::time::Duration;

use ctguard::hash::Sha256Hash;
use ctguard::store::{InventoryStore, PageRequest};
use ctguard_tests::api::*;
use ctguard_tests::aws::{API_FUNCTION, TestAws};
use ctguard_tests::certs::TestCa;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn error_code(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("JSON error body");
    assert!(body["error"]["message"].is_string(), "{body}");
    body["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn pushes_and_reads_go_through_http_to_dynamodb() {
    let aws = TestAws::new().await;
    let (url, _app) = start_listener(aws.function_store(API_FUNCTION).await).await;
    let http = client();
    let leaf = factory_leaf(&TestCa::new("ca"), &["www.example.org"]);

    let response = http
        .post(format!("{url}/certs"))
        .header("AUTHORIZATION", format!("Bearer {PUSH_TOKEN}"))
        .header("content-TYPE", "application/x-pem-file")
        .body(leaf.final_cert.fullchain_pem.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let tbs = leaf.expected_tbs.to_hex();
    assert_eq!(
        response.headers()["location"].to_str().unwrap(),
        format!("/certs/{tbs}")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["tbs_sha256"], tbs);
    let stored = aws
        .store()
        .get_cert(&leaf.expected_tbs)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.source, PUSH_LABEL);

    // JSON form of the same certificate: known already.
    let response = http
        .post(format!("{url}/certs"))
        .bearer_auth(PUSH_TOKEN)
        .json(&json!({"pem": leaf.precert.pem}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Percent-encoded path and query.
    let encoded: String = tbs.chars().map(|c| format!("%{:02x}", c as u32)).collect();
    let response = http
        .get(format!("{url}/c%65rts/{encoded}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = http
        .get(format!("{url}/certs?name=www%2Eexample%2Eorg&limit=5"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["items"][0]["tbs_sha256"], tbs);
    assert!(body["next_cursor"].is_null());
}

#[tokio::test]
async fn routing_and_auth_errors_are_json_over_http() {
    let aws = TestAws::new().await;
    let (url, _app) = start_listener(aws.function_store(API_FUNCTION).await).await;
    let http = client();

    let response = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = http.get(format!("{url}/certs")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(error_code(response).await, "unauthorized");

    let response = http
        .get(format!("{url}/domains"))
        .bearer_auth(PUSH_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = http
        .get(format!("{url}/nope"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "not_found");

    let response = http
        .patch(format!("{url}/keys"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST, GET");

    let response = http
        .post(format!("{url}/certs"))
        .bearer_auth(PUSH_TOKEN)
        .header("content-type", "application/x-pem-file")
        .body(vec![0xffu8, 0x00, 0xfe, 0x80])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "malformed_pem");
}

/// Sends a raw HTTP/1.1 request and returns the status line and body.
async fn raw_exchange(url: &str, head: &str, chunks: &[Vec<u8>]) -> (String, String) {
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in chunks {
        // The server may answer and close before reading everything: that is fine.
        if stream.write_all(chunk).await.is_err() {
            break;
        }
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_whether_announced_or_streamed() {
    let aws = TestAws::new().await;
    let (url, _app) = start_listener(aws.function_store(API_FUNCTION).await).await;

    let response = client()
        .post(format!("{url}/certs"))
        .bearer_auth(PUSH_TOKEN)
        .header("content-type", "text/plain")
        .body(vec![b'A'; 64 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(response).await, "payload_too_large");

    // Chunked, no Content-Length: the listener stops reading at the limit.
    let chunk = vec![b'A'; 8 * 1024];
    let mut chunks: Vec<Vec<u8>> = (0..16)
        .map(|_| {
            [
                format!("{:x}\r\n", chunk.len()).into_bytes(),
                chunk.clone(),
                b"\r\n".to_vec(),
            ]
            .concat()
        })
        .collect();
    chunks.push(b"0\r\n\r\n".to_vec());
    let head = format!(
        "POST /certs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {PUSH_TOKEN}\r\n\
         Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = raw_exchange(&url, &head, &chunks).await;
    assert!(status.contains(" 413 "), "{status}");
    assert!(body.contains("payload_too_large"), "{body}");
    let all = PageRequest {
        limit: 10,
        token: None,
    };
    assert!(
        aws.store()
            .list_certs(None, &all)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn concurrent_pushes_are_all_stored() {
    let aws = TestAws::new().await;
    let (url, _app) = start_listener(aws.function_store(API_FUNCTION).await).await;
    let http = client();
    let ca = TestCa::new("ca");
    let leaves: Vec<_> = (0..12)
        .map(|i| factory_leaf(&ca, &[&format!("h{i}.example.org")]))
        .collect();
    let pushes = leaves.iter().map(|leaf| {
        let request = http
            .post(format!("{url}/certs"))
            .bearer_auth(PUSH_TOKEN)
            .header("content-type", "application/x-pem-file")
            .body(leaf.final_cert.pem.clone());
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures_join_all(pushes).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    for leaf in &leaves {
        let tbs: Sha256Hash = leaf.expected_tbs;
        assert!(aws.store().get_cert(&tbs).await.unwrap().is_some());
    }
}

/// Runs futures concurrently on the runtime (no `futures` crate needed).
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
