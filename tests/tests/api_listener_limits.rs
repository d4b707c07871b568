//! The local listener (`api --listen`) against slow and numerous clients: header and body
//! timeouts, and the connection cap. Raw TCP clients on loopback; the in-memory store (these
//! tests are about the connection handling, not storage).

use std::time::{Duration, Instant};

use api::App;
use api::listener::{Limits, serve_with};
use ctguard::store::memory::MemoryStore;
use ctguard_tests::api::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for anything the listener must do by itself (the limits below are far shorter).
const PATIENCE: Duration = Duration::from_secs(10);

async fn start(limits: Limits) -> std::net::SocketAddr {
    let app = App::new(MemoryStore::new(), settings());
    let (listener, addr) = api::listener::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind 127.0.0.1:0");
    tokio::spawn(serve_with(listener, app.router(), limits));
    addr
}

/// Reads until the server closes the connection (or PATIENCE passes: then panics).
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open for {PATIENCE:?}; got {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&received).into_owned(),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

async fn healthz(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    read_to_close(&mut stream).await
}

#[tokio::test]
async fn a_slow_loris_client_is_cut_off_after_the_header_timeout() {
    let header_timeout = Duration::from_millis(300);
    let addr = start(Limits {
        header_timeout,
        ..Limits::default()
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    // Drip one header byte at a time, never finishing the headers, until the server hangs up.
    let mut sent = 0usize;
    let mut drip = tokio::time::interval(Duration::from_millis(50));
    let closed = loop {
        drip.tick().await;
        if stream.write_all(b"x").await.is_err() || started.elapsed() > PATIENCE {
            break started.elapsed();
        }
        sent += 1;
        let mut probe = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break started.elapsed(),
            _ => {}
        }
    };
    assert!(
        closed < PATIENCE,
        "still open after {closed:?} and {sent} bytes"
    );
    assert!(
        closed >= header_timeout,
        "closed after {closed:?}, before the timeout"
    );
    // An idle connection that sends nothing at all is closed too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    read_to_close(&mut idle).await;
    assert!(started.elapsed() >= header_timeout);
    // The listener still serves well-behaved clients.
    assert!(healthz(addr).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408() {
    let addr = start(Limits {
        body_timeout: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /certs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {PUSH_TOKEN}\r\n\
                 content-type: application/x-pem-file\r\ncontent-length: 1000\r\n\r\n-----BEGIN"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
        .await
        .expect("the server answers within its body timeout")
        .unwrap();
    let response = String::from_utf8_lossy(&buf[..n]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("body_timeout"), "{response}");
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_ends() {
    let cap = 4;
    let addr = start(Limits {
        max_connections: cap,
        header_timeout: Duration::from_secs(60),
        ..Limits::default()
    })
    .await;
    // `cap` clients hold every slot (connected, sending nothing).
    let mut holders = Vec::new();
    for _ in 0..cap {
        holders.push(TcpStream::connect(addr).await.unwrap());
    }
    // Many more connect (the kernel queues them) and ask for /healthz: none is served while
    // the slots are held.
    let waiting: Vec<_> = (0..20).map(|_| tokio::spawn(healthz(addr))).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        waiting.iter().all(|w| !w.is_finished()),
        "a connection over the cap was served"
    );
    // One holder leaves: the queued clients are served through the freed slot(s).
    drop(holders.pop());
    for w in waiting {
        let response = tokio::time::timeout(PATIENCE, w)
            .await
            .expect("served once a slot is free")
            .unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
}

/// Reads one response (headers, then `content-length` bytes of body) from a kept-alive
/// connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        match tokio::time::timeout(PATIENCE, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => received.extend_from_slice(&buf[..n]),
            other => panic!("no complete response ({other:?}): {received:?}"),
        }
    }
}

#[tokio::test]
async fn kept_alive_connections_get_a_new_header_deadline_after_each_answer() {
    let header_timeout = Duration::from_millis(400);
    let addr = start(Limits {
        header_timeout,
        ..Limits::default()
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // Three requests on one connection, each sent well within the deadline but, together,
    // after it: the deadline counts from the previous answer, not from the connection's start.
    for _ in 0..3 {
        tokio::time::sleep(header_timeout / 2).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let response = read_response(&mut stream).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    // Then idle: closed after the deadline.
    let started = Instant::now();
    read_to_close(&mut stream).await;
    assert!(started.elapsed() >= header_timeout / 2);
}

#[tokio::test]
async fn over_http_the_router_keeps_the_apis_answers() {
    let addr = start(Limits::default()).await;
    let exchange = |request: String| async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        read_to_close(&mut stream).await
    };
    // HEAD is 405 with Allow (hyper sends no body for HEAD).
    let response =
        exchange("HEAD /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".into()).await;
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("\r\nallow: get\r\n"),
        "{response}"
    );
    // A trailing slash is another path: JSON 404.
    let response =
        exchange("GET /healthz/ HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".into()).await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    assert!(response.contains(r#""code":"not_found""#), "{response}");
    // An encoded literal segment is the route (401: it needs credentials).
    let response =
        exchange("GET /c%65rts HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".into()).await;
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    // A 405 lists the path's methods, in JSON.
    let response = exchange(
        "PUT /certs HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\nallow: post, get\r\n"),
        "{response}"
    );
    assert!(
        response.contains(r#""code":"method_not_allowed""#),
        "{response}"
    );
    // An over-size body with a push token: JSON 413.
    let body = "A".repeat(64 * 1024 + 1);
    let response = exchange(format!(
        "POST /certs HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {PUSH_TOKEN}\r\n\
         content-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains(r#""code":"payload_too_large""#),
        "{response}"
    );
}
