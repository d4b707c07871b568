//! The ctguard poller: an EventBridge-scheduled Lambda that polls Cert Spotter for each watched
//! domain, classifies new issuances against the inventory, stores alerts in DynamoDB and
//! delivers them through SNS and SES v2. The rules it applies (classification, the delivery
//! policy, matching) are pure and live in the core crate (`ctguard_core`, re-exported by
//! `ctguard`); this crate is the run around them.
//!
//! One concern per module:
//! - [`config`]: configuration from the environment, read once.
//! - [`caa`]: CAA lookups at detection time (resolver, per-run bounds and cache); the RFC 8659
//!   evaluation itself is pure, in `ctguard::caa`.
//! - [`source`]: where issuances come from (the Cert Spotter client, or a fake in tests).
//! - [`run`]: one poll run (pending re-check, polling, storing, cursor).
//! - [`outbox`]: the outbox (claim, send, record); [`baseline`]: baseline summaries.
//! - `fresh`: which alerts a run created or resolved, so that run delivers them.
//! - [`notify`]: SNS and SES senders behind small traits.
//! - [`message`]: the SNS JSON schemas, subjects, attributes and the email rendering.
//! - [`message_bounds`]: the size bounds of SNS messages and emails.
//! - [`report`]: the run report and its CloudWatch EMF record.
//! - [`watching`]: proof that the monitor is watching (canary, pushed-but-never-logged,
//!   coverage); [`health`]: the `health` messages they send.
//! - [`expiry`]: `expiring` alerts for deployed certificates without a renewal.
//! - [`handler`]: the Lambda handler and the `--once` run.
//! - [`app`]: wiring of the production poller (DynamoDB, Cert Spotter, SNS, SES).

pub mod app;
mod baseline;
pub mod caa;
pub mod config;
pub mod expiry;
mod fresh;
pub mod handler;
pub mod health;
pub mod message;
pub mod message_bounds;
pub mod notify;
mod outbox;
pub mod report;
pub mod run;
pub mod source;
mod watching;

/// The one support module of the unit tests: fakes (issuance source, notifiers), the clock,
/// captured logs, and the core's record builders.
#[cfg(test)]
mod testutil;

pub use config::Config;
pub use handler::{handle, run_once};
pub use report::RunReport;
pub use run::Poller;
