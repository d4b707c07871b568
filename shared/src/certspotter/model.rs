//! The v1 issuance object, tolerant of unknown fields, both RFC 3339 offset forms (`Z`,
//! `-00:00`), and the legacy `cert` object.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::hash::Sha256Hash;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuance {
    /// Opaque id; pass back as `after=` to page.
    pub id: String,
    pub tbs_sha256: Sha256Hash,
    pub cert_sha256: Sha256Hash,
    pub pubkey_sha256: Sha256Hash,
    #[serde(default)]
    pub dns_names: Vec<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    #[serde(default)]
    pub issuer: Option<Issuer>,
    #[serde(default)]
    pub revoked: Option<bool>,
    /// Problem-reporting contact of the CA (free text: email or URL).
    #[serde(default)]
    pub problem_reporting: Option<String>,
    // TODO(helper "certspotter"): revocation, cert_der (base64 → bytes), legacy `cert` object.
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Issuer {
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub pubkey_sha256: Option<Sha256Hash>,
    #[serde(default)]
    pub caa_domains: Option<Vec<String>>,
}
