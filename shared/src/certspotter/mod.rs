//! The SSLMate Cert Spotter API v1: the issuance model (from the core,
//! [`ctguard_core::certspotter`]) and a paging client that never loses an issuance (the resume
//! cursor is always the id of the last issuance fully returned).

pub use ctguard_core::certspotter::*;

pub mod client;
pub mod limiter;

pub use client::{
    Budget, CertSpotterClient, ClientConfig, DEFAULT_BASE_URL, EXPANSIONS, FetchError,
    IssuancePage, IssuanceQuery, Pager,
};
pub use limiter::RateLimiter;
