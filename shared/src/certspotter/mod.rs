//! The SSLMate Cert Spotter API v1: the issuance model and a paging client that never loses an
//! issuance (the resume cursor is always the id of the last issuance fully returned).

#[cfg(feature = "certspotter-client")]
pub mod client;
#[cfg(feature = "certspotter-client")]
pub mod limiter;
pub mod model;

#[cfg(feature = "certspotter-client")]
pub use client::{
    Budget, CertSpotterClient, ClientConfig, DEFAULT_BASE_URL, EXPANSIONS, FetchError,
    IssuanceQuery, Pager,
};
#[cfg(feature = "certspotter-client")]
pub use limiter::RateLimiter;
pub use model::{
    CertType, Issuance, IssuanceError, Issuer, Operator, Revocation, RevocationReason, parse_page,
};
