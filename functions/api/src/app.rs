//! The application state and the order of checks every request goes through: route (404/405,
//! by the axum router built in [`crate::router`]) → credentials (401) → role (403) → query
//! parameters (400) → handler. Shared by the Lambda runtime and the local listener.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::auth::Authenticator;
use crate::config::ApiSettings;
use crate::error::{ApiError, ApiResult};
use crate::handlers::{self, Ctx};
use crate::notify::Notifier;
use crate::query::Query;
use crate::router::{Access, RouteId, RouteSpec, known_query_params};

pub use ctguard::store::Store;

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The router's state: cheap to clone (everything shared).
pub struct App<S> {
    store: Arc<S>,
    settings: Arc<ApiSettings>,
    auth: Arc<Authenticator>,
    clock: Clock,
    /// The alert channels, for `POST /alerts/test` (none by default).
    notifier: Arc<Notifier>,
}

impl<S> Clone for App<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            settings: Arc::clone(&self.settings),
            auth: Arc::clone(&self.auth),
            clock: Arc::clone(&self.clock),
            notifier: Arc::clone(&self.notifier),
        }
    }
}

/// How long the local listener waits for a request body once its headers arrived (a request
/// extension set by [`crate::listener`]; Lambda bodies arrive with the event).
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

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
            store: Arc::new(store),
            auth: Arc::new(Authenticator::new(settings.auth.clone())),
            settings: Arc::new(settings),
            clock: Arc::new(Utc::now),
            notifier: Arc::new(Notifier::default()),
        }
    }

    /// The SNS topic and SES sender `POST /alerts/test` sends through.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Arc::new(notifier);
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

    /// The axum router over this app ([`crate::router::router`]).
    pub fn router(&self) -> axum::Router {
        crate::router::router(self.clone())
    }

    /// One matched route: credentials, role, query, then its handler. The body is read (within
    /// the size limit and, on the listener, the body timeout) only after the checks; a handler
    /// that uses it meets a read error where it asks for the bytes.
    pub(crate) async fn dispatch(
        &self,
        spec: &'static RouteSpec,
        param: &str,
        request: Request,
    ) -> Response {
        let id = spec.id;
        if spec.access == Access::Public {
            return public(id).into_response();
        }
        let checked = self.auth.authenticate(&request).and_then(|caller| {
            caller.authorize(spec.access)?;
            let query = Query::parse(request.uri().query())?.only(known_query_params(id))?;
            Ok((caller, query))
        });
        let (caller, query) = match checked {
            Ok(checked) => checked,
            Err(e) => return e.into_response(),
        };
        let (parts, body) = request.into_parts();
        let timeout = parts.extensions.get::<BodyTimeout>().map(|t| t.0);
        let body = crate::body::read(body, self.settings.max_body_bytes, timeout).await;
        let ctx = Ctx {
            request: &parts,
            body,
            caller: &caller,
            param,
            query,
            settings: &self.settings,
            now: (self.clock)(),
        };
        self.route(id, &ctx).await.into_response()
    }

    async fn route(&self, id: RouteId, ctx: &Ctx<'_>) -> ApiResult<Response> {
        let store = &*self.store;
        use handlers::{alerts, certs, domains, keys, status};
        match id {
            RouteId::Healthz | RouteId::UiPage | RouteId::UiScript | RouteId::UiStyle => public(id),
            RouteId::Status => status::get(store, ctx).await,
            RouteId::PostCert => certs::post(store, ctx).await,
            RouteId::ListCerts => certs::list(store, ctx).await,
            RouteId::GetCert => certs::get(store, ctx).await,
            RouteId::DeleteCert => certs::delete(store, ctx).await,
            RouteId::PostKey => keys::post(store, ctx).await,
            RouteId::ListKeys => keys::list(store, ctx).await,
            RouteId::CompromisedKey => keys::compromised(store, ctx).await,
            RouteId::DeleteKey => keys::delete(store, ctx).await,
            RouteId::PostDomain => domains::post(store, ctx).await,
            RouteId::ListDomains => domains::list(store, ctx).await,
            RouteId::DeleteDomain => domains::delete(store, ctx).await,
            RouteId::ListAlerts => alerts::list(store, ctx).await,
            RouteId::GetAlert => alerts::get(store, ctx).await,
            RouteId::AckAlert => alerts::ack(store, ctx).await,
            RouteId::TestAlert => handlers::test_alert::post(&self.notifier, ctx).await,
        }
    }
}

/// The routes that need no credentials: liveness and the triage page's files.
fn public(route: RouteId) -> ApiResult<Response> {
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
