//! The application: one entry point, [`App::handle`], shared by the Lambda runtime and the local
//! listener. Order of checks: route (404/405) → credentials (401) → role (403) → handler.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use lambda_http::{Body, Request, Response};

use crate::auth::Authenticator;
use crate::config::ApiSettings;
use crate::error::{ApiError, ApiResult};
use crate::handlers::{self, Ctx};
use crate::notify::Notifier;
use crate::query::Query;
use crate::router::{self, Access, RouteId};

pub use ctguard::store::Store;

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct App<S> {
    store: S,
    settings: ApiSettings,
    auth: Authenticator,
    clock: Clock,
    /// The alert channels, for `POST /alerts/test` (none by default).
    notifier: Notifier,
}

impl<S: Store> App<S> {
    pub fn new(store: S, settings: ApiSettings) -> Self {
        // Once per cold start: an unscoped push token may vouch for every watched name.
        for label in settings.auth.unscoped_push_labels() {
            tracing::warn!(
                label = %label,
                "push credential without a name scope: it may push certificates for any name; give it \"names\""
            );
        }
        Self {
            store,
            auth: Authenticator::new(settings.auth.clone()),
            settings,
            clock: Arc::new(Utc::now),
            notifier: Notifier::default(),
        }
    }

    /// The SNS topic and SES sender `POST /alerts/test` sends through.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn settings(&self) -> &ApiSettings {
        &self.settings
    }

    /// Answers one request. Never fails: every error is a JSON error response.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let response = self
            .dispatch(&request)
            .await
            .unwrap_or_else(ApiError::into_response);
        tracing::info!(
            method = %request.method(),
            path = request.uri().path(),
            status = response.status().as_u16(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "request"
        );
        response
    }

    async fn dispatch(&self, request: &Request) -> ApiResult<Response<Body>> {
        let matched = router::resolve(request.method(), request.uri().path())?;
        if matched.spec.access == Access::Public {
            return public(matched.id());
        }
        let caller = self.auth.authenticate(request)?;
        caller.authorize(matched.spec.access)?;
        let query = Query::parse(request.uri().query())?.only(known_query_params(matched.id()))?;
        let ctx = Ctx {
            request,
            caller: &caller,
            param: matched.param(),
            query,
            settings: &self.settings,
            now: (self.clock)(),
        };
        let store = &self.store;
        use handlers::{alerts, certs, domains, keys, status};
        match matched.id() {
            RouteId::Healthz | RouteId::UiPage | RouteId::UiScript | RouteId::UiStyle => {
                public(matched.id())
            }
            RouteId::Status => status::get(store, &ctx).await,
            RouteId::PostCert => certs::post(store, &ctx).await,
            RouteId::ListCerts => certs::list(store, &ctx).await,
            RouteId::GetCert => certs::get(store, &ctx).await,
            RouteId::DeleteCert => certs::delete(store, &ctx).await,
            RouteId::PostKey => keys::post(store, &ctx).await,
            RouteId::ListKeys => keys::list(store, &ctx).await,
            RouteId::CompromisedKey => keys::compromised(store, &ctx).await,
            RouteId::DeleteKey => keys::delete(store, &ctx).await,
            RouteId::PostDomain => domains::post(store, &ctx).await,
            RouteId::ListDomains => domains::list(store, &ctx).await,
            RouteId::DeleteDomain => domains::delete(store, &ctx).await,
            RouteId::ListAlerts => alerts::list(store, &ctx).await,
            RouteId::GetAlert => alerts::get(store, &ctx).await,
            RouteId::AckAlert => alerts::ack(store, &ctx).await,
            RouteId::TestAlert => handlers::test_alert::post(&self.notifier, &ctx).await,
        }
    }
}

/// The routes that need no credentials: liveness and the triage page's files.
fn public(route: RouteId) -> ApiResult<Response<Body>> {
    use handlers::ui::{self, Asset};
    match route {
        RouteId::Healthz => handlers::health::healthz(),
        RouteId::UiPage => Ok(ui::get(Asset::Page)),
        RouteId::UiScript => Ok(ui::get(Asset::Script)),
        RouteId::UiStyle => Ok(ui::get(Asset::Style)),
        other => Err(ApiError::not_found(format!(
            "{other:?} is not a public route"
        ))),
    }
}

/// The query parameters each route accepts; any other is a 400.
pub fn known_query_params(route: RouteId) -> &'static [&'static str] {
    match route {
        RouteId::ListCerts => &["name", "limit", "cursor"],
        RouteId::ListKeys => &["limit", "cursor"],
        RouteId::ListAlerts => &["since", "severity", "domain", "limit", "cursor"],
        _ => &[],
    }
}
