//! ctguard's adapters: what connects the pure core ([`ctguard_core`], re-exported here module by
//! module, so `ctguard::cert` is `ctguard_core::cert`) to AWS and HTTP.
//!
//! - [`store::dynamo`]: the storage contracts on DynamoDB.
//! - [`certspotter`]: the Cert Spotter paging client and its rate limiter.
//! - [`secrets`]: secrets from SSM Parameter Store (or plain variables locally) at cold start.
//! - [`runtime`] (feature `runtime`): the Lambda skeleton both functions start with (SDK
//!   configuration, logs).

pub use ctguard_core::{
    api_input, bounds, caa, cert, classify, csr, delivery, der, domain, fuzzing, hash, keys,
    matcher, model, rules, scope, watching,
};

pub mod certspotter;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod secrets;
pub mod store;
