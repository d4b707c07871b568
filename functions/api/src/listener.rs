//! Plain HTTP/1 for local use and tests (`api --listen 127.0.0.1:PORT`): each request becomes the
//! same `lambda_http::Request` a Function URL would produce and goes to the same [`App`].
//!
//! Bounded like the Function URL in front of the Lambda: a client must send its headers within
//! `header_timeout` (also the longest a kept-alive connection may sit idle) and its body within
//! `body_timeout` (else 408), and at most `max_connections` connections are served at once
//! (further ones wait in the kernel's accept queue until one ends), so slow or idle clients
//! cannot hold the listener.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use lambda_http::Body;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::app::{App, Store};
use crate::error::ApiError;

/// Timeouts and the connection cap of the local listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// To receive a request's complete headers, counted from when the listener waits for them
    /// (so it also bounds how long an idle kept-alive connection stays open).
    pub header_timeout: Duration,
    /// To receive a request's complete body once its headers arrived (408 after it).
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 256,
        }
    }
}

/// Converts one hyper request, reading at most the body limit (413 beyond it, as in Lambda)
/// within the body timeout (408 after it).
async fn handle<S: Store>(
    app: &App<S>,
    request: http::Request<Incoming>,
    body_timeout: Duration,
) -> http::Response<Full<Bytes>> {
    let limit = app.settings().max_body_bytes;
    let (parts, body) = request.into_parts();
    let collected = tokio::time::timeout(body_timeout, Limited::new(body, limit).collect()).await;
    let response = match collected {
        Err(_elapsed) => ApiError::new(
            http::StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} s",
                body_timeout.as_secs_f64()
            ),
        )
        .into_response(),
        Ok(Ok(collected)) => {
            let bytes = collected.to_bytes();
            let body = if bytes.is_empty() {
                Body::Empty
            } else {
                Body::Binary(bytes.to_vec())
            };
            app.handle(http::Request::from_parts(parts, body)).await
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            ApiError::payload_too_large(limit).into_response()
        }
        Ok(Err(e)) => ApiError::bad_request(
            "unreadable_body",
            format!("the body could not be read: {e}"),
        )
        .into_response(),
    };
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, Full::new(Bytes::from(body.to_vec())))
}

/// Serves `app` on `listener` with the default [`Limits`] until the task is dropped.
pub async fn serve<S: Store>(listener: TcpListener, app: Arc<App<S>>) {
    serve_with(listener, app, Limits::default()).await
}

/// Serves `app` on `listener` within `limits` until the task is dropped.
pub async fn serve_with<S: Store>(listener: TcpListener, app: Arc<App<S>>, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        // Accept only with a free slot: over the cap, clients wait in the accept queue.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return; // never closed
        };
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let _slot = slot; // held until the connection ends
            let service = service_fn(move |request| {
                let app = Arc::clone(&app);
                async move { Ok::<_, Infallible>(handle(&app, request, limits.body_timeout).await) }
            });
            if let Err(e) = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// Binds `addr`, returning the listener and the address actually bound (port 0 → a free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
