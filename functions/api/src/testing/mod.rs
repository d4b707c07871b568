//! Test support (feature `testing`), shared by this crate's tests and the workspace's
//! integration tests (`tests/tests/api_*`): the app answering Lambda requests in process
//! ([`InProcess`]), Function URL events built as AWS sends them ([`event`]) and the two test
//! callers with their tokens. Not compiled into the Lambda.

pub mod event;

use ctguard::hash::Sha256Hash;

use crate::auth::{AuthMode, Role, TokenEntry};
use crate::{ApiSettings, App, Store};

/// An [`App`] with its router built once, as `lambda_http::run` gets it in production: answers
/// Lambda requests in process (tests and benchmarks call the app this way).
pub struct InProcess<S> {
    app: App<S>,
    router: axum::Router,
}

impl<S: Store> InProcess<S> {
    /// Builds the app's router ([`App::router`]), once.
    pub fn new(app: App<S>) -> Self {
        let router = app.router();
        Self { app, router }
    }

    pub fn app(&self) -> &App<S> {
        &self.app
    }

    pub fn store(&self) -> &S {
        self.app.store()
    }

    pub fn settings(&self) -> &ApiSettings {
        self.app.settings()
    }

    /// Answers one Lambda request through the router, as `lambda_http::run` does. Never fails:
    /// every error is a JSON error response.
    pub async fn call(
        &self,
        request: lambda_http::Request,
    ) -> lambda_http::Response<lambda_http::Body> {
        use tower::ServiceExt;
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .expect("the API's responses are in memory");
        let body = if bytes.is_empty() {
            lambda_http::Body::Empty
        } else {
            lambda_http::Body::Binary(bytes.to_vec())
        };
        lambda_http::Response::from_parts(parts, body)
    }
}

pub const PUSH_TOKEN: &str = "push-token-for-host-1";
pub const ADMIN_TOKEN: &str = "admin-token-for-ops";
pub const PUSH_LABEL: &str = "lb:host-1";
pub const ADMIN_LABEL: &str = "ops";

/// The two test callers: an unscoped push token and an admin token.
pub fn tokens() -> Vec<TokenEntry> {
    vec![
        TokenEntry {
            sha256: Sha256Hash::digest(PUSH_TOKEN.as_bytes()),
            role: Role::Push,
            label: PUSH_LABEL.into(),
            names: None,
        },
        TokenEntry {
            sha256: Sha256Hash::digest(ADMIN_TOKEN.as_bytes()),
            role: Role::Admin,
            label: ADMIN_LABEL.into(),
            names: None,
        },
    ]
}

/// Settings with [`tokens`] and every other default.
pub fn settings() -> ApiSettings {
    ApiSettings::new(AuthMode::Bearer(tokens()))
}

/// Adds the test callers' credentials to an event request.
pub trait Callers: Sized {
    fn admin(self) -> Self;
    fn push(self) -> Self;
}

impl Callers for event::Req {
    fn admin(self) -> Self {
        self.token(ADMIN_TOKEN)
    }
    fn push(self) -> Self {
        self.token(PUSH_TOKEN)
    }
}
