//! A minimal AWS Lambda Runtime API on loopback, to run a `bootstrap` natively and time it
//! (the cold start benchmark): it records when the function first asks for work
//! (`GET /2018-06-01/runtime/invocation/next`), hands out the queued events one by one, and
//! collects their responses. With no event left, `next` waits until the fake is dropped (as
//! Lambda freezes an idle function).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Notify;
use tokio::time::Instant;

/// What the function reported for one invocation.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub request_id: String,
    /// `true`: `/response`; `false`: `/error`.
    pub ok: bool,
    pub body: String,
    pub at: Instant,
}

#[derive(Default)]
struct RuntimeState {
    events: VecDeque<String>,
    served: u64,
    first_next: Option<Instant>,
    outcomes: Vec<Outcome>,
    init_error: Option<String>,
    deadline: Duration,
}

type Shared = (Arc<Mutex<RuntimeState>>, Arc<Notify>);

fn lock(state: &Mutex<RuntimeState>) -> MutexGuard<'_, RuntimeState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The running fake; stops when dropped.
pub struct FakeLambdaRuntime {
    addr: SocketAddr,
    state: Arc<Mutex<RuntimeState>>,
    changed: Arc<Notify>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeLambdaRuntime {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeLambdaRuntime {
    /// Starts on 127.0.0.1, random port, with these event bodies queued; each invocation gets
    /// `deadline` to run (the `Lambda-Runtime-Deadline-Ms` header).
    pub async fn start(events: Vec<String>, deadline: Duration) -> Self {
        let state = Arc::new(Mutex::new(RuntimeState {
            events: events.into(),
            deadline,
            ..RuntimeState::default()
        }));
        let changed = Arc::new(Notify::new());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state((state.clone(), changed.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            state,
            changed,
            server,
        }
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first asked for work.
    pub fn first_next(&self) -> Option<Instant> {
        lock(&self.state).first_next
    }

    pub fn outcomes(&self) -> Vec<Outcome> {
        lock(&self.state).outcomes.clone()
    }

    pub fn init_error(&self) -> Option<String> {
        lock(&self.state).init_error.clone()
    }

    /// Waits until `done` holds (checked on every request), or `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&FakeLambdaRuntime) -> bool,
    ) -> bool {
        let until = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if done(self) {
                return true;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return done(self);
            }
        }
    }
}

async fn next(State((state, changed)): State<Shared>) -> Response {
    let event = {
        let mut s = lock(&state);
        s.first_next.get_or_insert_with(Instant::now);
        s.events.pop_front().map(|e| {
            s.served += 1;
            (format!("bench-{}", s.served), e, s.deadline)
        })
    };
    changed.notify_waiters();
    let Some((id, body, deadline)) = event else {
        // Nothing to do: hold the request, as Lambda holds a frozen function.
        std::future::pending::<()>().await;
        unreachable!();
    };
    let deadline_ms = (SystemTime::now() + deadline)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
    };
    put("lambda-runtime-aws-request-id", id);
    put("lambda-runtime-deadline-ms", deadline_ms.to_string());
    put(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
    );
    put(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".to_owned(),
    );
    put("content-type", "application/json".to_owned());
    (StatusCode::OK, headers, body).into_response()
}

fn record(state: &Shared, id: String, ok: bool, body: Bytes) -> Response {
    lock(&state.0).outcomes.push(Outcome {
        request_id: id,
        ok,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    state.1.notify_waiters();
    (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}

async fn response(State(state): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    record(&state, id, true, body)
}

async fn error(State(state): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    record(&state, id, false, body)
}

async fn init_error(State(state): State<Shared>, body: Bytes) -> Response {
    lock(&state.0).init_error = Some(String::from_utf8_lossy(&body).into_owned());
    state.1.notify_waiters();
    (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}
