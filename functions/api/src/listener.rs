//! Plain HTTP/1 for local use and tests (`api --listen 127.0.0.1:PORT`): `axum::serve` on the
//! same [`Router`](axum::Router) the Lambda runtime runs.
//!
//! Bounded like the Function URL in front of the Lambda, which `axum::serve` alone is not: a
//! client must send a request's headers within `header_timeout` (counted from the connection's
//! start or its previous response, so it also bounds how long an idle kept-alive connection stays
//! open) and its body within `body_timeout` (else 408), and at most `max_connections`
//! connections are served at once (further ones wait in the kernel's accept queue until one
//! ends), so slow or idle clients cannot hold the listener. The cap and the header deadline live
//! in the [`Listener`] handed to `axum::serve`; the router tells the connection when a request's
//! headers have arrived (hyper's own header timeout needs a timer `axum::serve` does not set).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Extension, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::app::BodyTimeout;

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

/// Serves `router` on `listener` with the default [`Limits`] until the task is dropped.
pub async fn serve(listener: TcpListener, router: Router) {
    serve_with(listener, router, Limits::default()).await
}

/// Serves `router` on `listener` within `limits` until the task is dropped.
pub async fn serve_with(listener: TcpListener, router: Router, limits: Limits) {
    let listener = Bounded {
        tcp: listener,
        slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
        header_timeout: limits.header_timeout,
    };
    let router = router
        .layer(middleware::from_fn(headers_arrived))
        .layer(Extension(BodyTimeout(limits.body_timeout)));
    // `axum::serve` only returns on an I/O error of the listener, and ours retries those.
    let _ = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<HeaderDeadline>(),
    )
    .await;
}

/// Binds `addr`, returning the listener and the address actually bound (port 0 → a free port).
pub async fn bind(addr: SocketAddr) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// `api --listen ADDR`: binds, prints `listening on http://ADDR` on stdout, serves until Ctrl-C.
pub async fn run(router: Router, addr: SocketAddr) -> io::Result<()> {
    let (tcp, bound) = bind(addr).await?;
    let mut stdout = io::stdout();
    writeln!(stdout, "listening on http://{bound}")?;
    stdout.flush()?;
    tracing::info!(%bound, "local listener ready");
    tokio::select! {
        () = serve(tcp, router) => Ok(()),
        signal = tokio::signal::ctrl_c() => signal,
    }
}

/// A TCP listener that accepts only with a free slot (over the cap, clients wait in the accept
/// queue) and gives each connection its header deadline.
struct Bounded {
    tcp: TcpListener,
    slots: Arc<Semaphore>,
    header_timeout: Duration,
}

impl Listener for Bounded {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        let slot = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        // axum's accept backs off and retries on errors (out of file descriptors and the like).
        let (stream, peer) = Listener::accept(&mut self.tcp).await;
        let deadline = HeaderDeadline {
            at: Arc::new(Mutex::new(Some(Instant::now() + self.header_timeout))),
            timeout: self.header_timeout,
        };
        let connection = Connection {
            stream,
            sleep: Box::pin(tokio::time::sleep(self.header_timeout)),
            deadline,
            _slot: slot,
        };
        (connection, peer)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// When a connection must have sent its next request's headers: armed while the listener
/// waits for them, disarmed while a request is being answered.
#[derive(Debug, Clone)]
struct HeaderDeadline {
    at: Arc<Mutex<Option<Instant>>>,
    timeout: Duration,
}

impl HeaderDeadline {
    fn set(&self, at: Option<Instant>) {
        *self.at.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    fn get(&self) -> Option<Instant> {
        *self.at.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Each request's [`HeaderDeadline`] reaches the router as connection info.
impl Connected<IncomingStream<'_, Bounded>> for HeaderDeadline {
    fn connect_info(stream: IncomingStream<'_, Bounded>) -> Self {
        stream.io().deadline.clone()
    }
}

/// A request's headers have arrived: no deadline while it is answered, a new one after.
async fn headers_arrived(
    ConnectInfo(deadline): ConnectInfo<HeaderDeadline>,
    request: Request,
    next: Next,
) -> Response {
    deadline.set(None);
    let response = next.run(request).await;
    deadline.set(Some(Instant::now() + deadline.timeout));
    response
}

/// An accepted connection: holds its slot until it ends, and fails its reads once the header
/// deadline passes (hyper then closes it).
struct Connection {
    stream: TcpStream,
    deadline: HeaderDeadline,
    sleep: Pin<Box<Sleep>>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let deadline = this.deadline.get();
        // Checked before reading, so a client dripping bytes is cut off too.
        if deadline.is_some_and(|at| Instant::now() >= at) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no complete request headers within the header timeout",
            )));
        }
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if read.is_pending()
            && let Some(at) = deadline
        {
            // Wake up at the deadline to fail the read even if nothing arrives.
            if this.sleep.deadline() != at {
                this.sleep.as_mut().reset(at);
            }
            if this.sleep.as_mut().poll(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
        }
        read
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
