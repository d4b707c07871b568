//! ctguard core library, shared by the poller and API Lambdas.
//!
//! One concern per module:
//! - [`hash`]: the SHA-256 value type used for every certificate hash.
//! - [`der`]: a strict, minimal DER reader/writer (just what TBS reconstruction needs).
//! - [`cert`]: certificate identity (TBS / public-key / certificate hashes, names, validity).
//! - [`domain`]: watch-list entries, normalised and validated.
//! - [`matcher`]: matching certificate names against the watch list.
//! - [`certspotter`]: the SSLMate Cert Spotter API v1 model and client.
//! - [`model`]: the records ctguard keeps; [`store`]: their storage contracts and backends.
//! - [`fuzzing`]: the fuzz harnesses (also replayed by the stable tests).
//! - [`secrets`]: secrets from SSM Parameter Store (or plain variables locally) at cold start.
//!
//! Features (both default): `aws` (the DynamoDB store, SSM secrets) and `certspotter-client`
//! (the HTTP client). Without them the crate is the pure core the fuzz targets build against.

pub mod cert;
pub mod certspotter;
pub mod der;
pub mod domain;
pub mod fuzzing;
pub mod hash;
pub mod matcher;
pub mod model;
#[cfg(feature = "aws")]
pub mod secrets;
pub mod store;
