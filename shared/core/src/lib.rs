//! ctguard's pure core: the rules, with no AWS, HTTP or tokio dependency (it builds in seconds,
//! the fuzz targets build against it, and it is where a reader learns what ctguard decides).
//! The adapters (the DynamoDB store, the Cert Spotter client, SSM secrets, the Lambda skeleton)
//! live in the `ctguard` crate beside it, which re-exports every module here.
//!
//! One concern per module:
//! - [`hash`]: the SHA-256 value type used for every certificate hash.
//! - [`der`]: a strict, minimal DER reader/writer (just what TBS reconstruction needs).
//! - [`cert`]: certificate identity (TBS / public-key / certificate hashes, names, validity);
//!   [`csr`]: certificate signing requests (a key pushed before its certificate exists).
//! - [`domain`]: watch-list entries, normalised and validated.
//! - [`matcher`]: matching certificate names against the watch list.
//! - [`scope`]: name scopes of push credentials (which names a token may vouch for).
//! - [`certspotter`]: the SSLMate Cert Spotter API v1 issuance model.
//! - [`api_input`]: the API's request decoding (query strings, JSON bodies, times, signed
//!   cursors).
//! - [`bounds`]: size bounds on every stored record that grows with Cert Spotter input.
//! - [`classify`]: the verdict on one issuance (and the grace re-check of a pending alert),
//!   from the inventory's answer and the findings; [`fixtures`] (feature `fixtures`): record
//!   builders for tests.
//! - [`rules`]: the detection rules (an alert's reasons and the severity they lead to);
//!   [`keys`]: public-key checks (weak keys); [`caa`]: CAA evaluation (RFC 8659).
//! - [`delivery`]: the delivery policy (which channels carry an alert).
//! - [`model`]: the records ctguard keeps; [`store`]: their storage contracts, and an
//!   in-memory implementation for fast unit tests.
//! - [`watching`]: the rules that prove ctguard is still watching (coverage, canary).
//! - [`fuzzing`]: the fuzz harnesses (also replayed by the stable tests).

pub mod api_input;
pub mod bounds;
pub mod caa;
pub mod cert;
pub mod certspotter;
pub mod classify;
pub mod csr;
pub mod delivery;
pub mod der;
pub mod domain;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod fuzzing;
pub mod hash;
pub mod keys;
pub mod matcher;
pub mod model;
pub mod rules;
pub mod scope;
pub mod store;
pub mod watching;
