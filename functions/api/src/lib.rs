//! ctguard's API Lambda, behind a Function URL: load balancers push the certificates they
//! deploy, operators manage the watch list and authorized keys and read alerts.
//!
//! One concern per module:
//! - [`router`]: the route table (data, checked against `openapi.yaml`) and the axum router built
//!   from it, which the Lambda runtime and the local listener both serve.
//! - [`app`]: the state behind the router and the order of checks (route → 401 → 403 → query).
//! - [`auth`]: bearer tokens (hashed, with role and label) or IAM callers.
//! - [`body`], [`query`]: request decoding with limits; [`material`]: PEM/DER in, hashes out.
//! - [`push`]: what a caller may write into the inventory (name scopes, append-only pushes).
//! - [`cursor`]: HMAC-signed pagination cursors.
//! - [`handlers`]: one module per resource; [`error`], [`response`]: what goes back.
//! - [`config`]: the environment, read once; [`listener`]: `axum::serve` for local use and tests,
//!   with timeouts and a connection cap; [`cli`]: `main`'s arguments (SDK limits and logs:
//!   `ctguard::runtime`).
//! - [`notify`]: the alert channels, for `POST /alerts/test`.
//! - [`time`]: bounds and checked arithmetic for times taken from requests.
//! - `testing` (feature `testing`): test support shared with the workspace's integration tests.

pub mod app;
pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod cursor;
pub mod error;
pub mod handlers;
pub mod iam_principal;
pub mod listener;
pub mod material;
pub mod notify;
pub mod push;
pub mod query;
pub mod response;
pub mod router;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;

pub use app::{App, Store};
pub use config::{ApiSettings, Config};
