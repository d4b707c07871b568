//! Certificate identity: the three CT hashes and the facts an alert or inventory record needs.
//!
//! OWNER: helper "cert" (issue 2 §2). Interface fixed here; bodies to be written.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::hash::Sha256Hash;

/// What ctguard needs to know about one certificate or precertificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertIdentity {
    /// RFC 6962 TBS hash: SCT-list and poison extensions removed. A precert and its cert share it.
    pub tbs_sha256: Sha256Hash,
    /// SHA-256 of the DER SubjectPublicKeyInfo.
    pub pubkey_sha256: Sha256Hash,
    /// SHA-256 of the whole DER certificate.
    pub cert_sha256: Sha256Hash,
    /// SAN dNSNames plus a DNS-like subject CN: lowercased, deduplicated, Punycode as found.
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// Serial number as lowercase hex (no leading zero byte), for display only.
    pub serial: String,
    /// RFC 4514 string forms, for display only (never used to decide anything).
    pub issuer: String,
    pub subject: String,
    /// Carries the precertificate poison extension.
    pub is_precert: bool,
}

/// Why bytes are not a certificate we can identify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("no certificate found in the input")]
    NoCertificate,
}

impl CertIdentity {
    /// Identifies one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        let _ = der;
        todo!("issue 2 §2")
    }
}

/// Parses a PEM bundle (leaf first, as certbot's fullchain.pem), a single PEM, or DER.
/// Returns every certificate in order; the first is the leaf.
pub fn parse_certificates(input: &[u8]) -> Result<Vec<CertIdentity>, CertError> {
    let _ = input;
    todo!("issue 2 §2")
}

/// The RFC 6962 TBS hash of a DER certificate (see [`CertIdentity::tbs_sha256`]).
pub fn tbs_sha256(cert_der: &[u8]) -> Result<Sha256Hash, CertError> {
    let _ = cert_der;
    todo!("issue 2 §2")
}
