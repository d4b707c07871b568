//! ctguard core library, shared by the poller and API Lambdas.
//!
//! One concern per module:
//! - [`hash`]: the SHA-256 value type used for every certificate hash.
//! - [`der`]: a strict, minimal DER reader/writer (just what TBS reconstruction needs).
//! - [`cert`]: certificate identity (TBS / public-key / certificate hashes, names, validity).
//! - [`domain`]: watch-list entries, normalised and validated.
//! - [`matcher`]: matching certificate names against the watch list.
//! - [`scope`]: name scopes of push credentials (which names a token may vouch for).
//! - [`certspotter`]: the SSLMate Cert Spotter API v1 model and client.
//! - [`api_input`]: the API's request decoding (query strings, JSON bodies, times, signed
//!   cursors), SDK-free so the fuzz targets cover it.
//! - [`bounds`]: size bounds on every stored record that grows with Cert Spotter input.
//! - [`rules`]: the detection rules (an alert's reasons and the severity they lead to);
//!   [`keys`]: public-key checks (weak keys).
//! - [`model`]: the records ctguard keeps; [`store`]: their storage contracts and backends.
//! - [`fuzzing`]: the fuzz harnesses (also replayed by the stable tests).
//! - [`secrets`]: secrets from SSM Parameter Store (or plain variables locally) at cold start.
//! - [`watching`]: the rules that prove ctguard is still watching (coverage, canary).
//!
//! Features (both default): `aws` (the DynamoDB store, SSM secrets) and `certspotter-client`
//! (the HTTP client). Without them the crate is the pure core the fuzz targets build against.

pub mod api_input;
pub mod bounds;
pub mod caa;
pub mod cert;
pub mod certspotter;
pub mod csr;
pub mod der;
pub mod domain;
pub mod fuzzing;
pub mod hash;
pub mod keys;
pub mod matcher;
pub mod model;
pub mod rules;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod scope;
#[cfg(feature = "aws")]
pub mod secrets;
pub mod store;
pub mod watching;
