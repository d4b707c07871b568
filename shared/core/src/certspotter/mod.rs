//! The SSLMate Cert Spotter API v1 issuance model (the paging client is an adapter, in the
//! `ctguard` crate's `certspotter` module).

pub mod model;

pub use model::{
    CertType, Issuance, IssuanceError, Issuer, Operator, Revocation, RevocationReason, parse_page,
};
