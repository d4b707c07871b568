//! Plain HTTP/1 for local use and tests (`api --listen 127.0.0.1:PORT`): each request becomes the
//! same `lambda_http::Request` a Function URL would produce and goes to the same [`App`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use tokio::net::TcpListener;

use crate::app::{App, Store};
use crate::error::ApiError;

/// Converts one hyper request, reading at most the body limit (413 beyond it, as in Lambda).
async fn handle<S: Store>(
    app: &App<S>,
    request: http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
    let limit = app.settings().max_body_bytes;
    let (parts, body) = request.into_parts();
    let response = match Limited::new(body, limit).collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            let body = if bytes.is_empty() {
                Body::Empty
            } else {
                Body::Binary(bytes.to_vec())
            };
            app.handle(http::Request::from_parts(parts, body)).await
        }
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            ApiError::payload_too_large(limit).into_response()
        }
        Err(e) => ApiError::bad_request(
            "unreadable_body",
            format!("the body could not be read: {e}"),
        )
        .into_response(),
    };
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, Full::new(Bytes::from(body.to_vec())))
}

/// Serves `app` on `listener` until the task is dropped.
pub async fn serve<S: Store>(listener: TcpListener, app: Arc<App<S>>) {
    loop {
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
            let service = service_fn(move |request| {
                let app = Arc::clone(&app);
                async move { Ok::<_, Infallible>(handle(&app, request).await) }
            });
            if let Err(e) = http1::Builder::new()
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
