//! The SSLMate Cert Spotter API v1: the issuance model and a paging client that never loses an
//! issuance (the resume cursor is always the id of the last issuance fully returned).
//!
//! OWNER: helper "certspotter" (issue 2 §4). Interface fixed here; bodies to be written.

pub mod client;
pub mod model;

pub use client::{Budget, CertSpotterClient, ClientConfig, FetchError, IssuanceQuery, Pager};
pub use model::Issuance;
