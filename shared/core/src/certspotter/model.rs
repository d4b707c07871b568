//! The v1 issuance object, tolerant of unknown fields, both RFC 3339 offset forms (`Z`,
//! `-00:00`), and the legacy `cert` object.
//!
//! Parsing goes through [`IssuanceWire`], the shape as sent (every optional expansion, the
//! legacy `cert {type, sha256, data}` object), and is then normalised into [`Issuance`]:
//! - `cert_der` comes from the top-level `cert_der` (base64), else from the legacy `cert.data`;
//! - `cert_sha256` comes from the top-level field, else the legacy `cert.sha256`, else it is
//!   computed from the DER (it is defined as SHA-256 of the DER, so this loses nothing);
//! - `cert_type` is only known from the legacy object (`"cert"` / `"precert"`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::Sha256Hash;

/// One issuance: one TBSCertificate (a precertificate and its final certificate are one
/// issuance). Serialises in the modern v1 shape (`cert_der` as base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "IssuanceWire")]
pub struct Issuance {
    /// Opaque id; pass back as `after=` to page.
    pub id: String,
    pub tbs_sha256: Sha256Hash,
    pub cert_sha256: Sha256Hash,
    pub pubkey_sha256: Sha256Hash,
    /// Punycode DNS names (empty unless `expand=dns_names`).
    #[serde(default)]
    pub dns_names: Vec<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    #[serde(default)]
    pub issuer: Option<Issuer>,
    #[serde(default)]
    pub revoked: Option<bool>,
    /// Revocation details (`expand=revocation`).
    #[serde(default)]
    pub revocation: Option<Revocation>,
    /// Problem-reporting contact of the CA (free text: email or URL).
    #[serde(default)]
    pub problem_reporting: Option<String>,
    /// The final certificate when known, else the precertificate (`expand=cert_der`, or the
    /// legacy `cert.data`).
    #[serde(default, serialize_with = "serialize_base64_opt")]
    pub cert_der: Option<Vec<u8>>,
    /// Whether `cert_der` is a precertificate; only the legacy `cert` object says so.
    #[serde(default)]
    pub cert_type: Option<CertType>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Issuer {
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// The issuer's distinguished name as text.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub pubkey_sha256: Option<Sha256Hash>,
    #[serde(default)]
    pub caa_domains: Option<Vec<String>>,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub operator: Option<Operator>,
}

/// The organisation operating the issuing CA.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Operator {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub website: Option<String>,
}

/// Revocation status as last checked by Cert Spotter.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Revocation {
    /// When the certificate was revoked (`None` when not revoked).
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    /// The CRL reason, as sent (a reason code number or a text).
    #[serde(default)]
    pub reason: Option<RevocationReason>,
    /// When Cert Spotter last checked.
    #[serde(default)]
    pub checked_at: Option<DateTime<Utc>>,
}

/// A revocation reason: RFC 5280 `CRLReason` code, or a text if the API sends one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RevocationReason {
    Code(u32),
    Text(String),
}

/// A `GET /v1/issuances` response body: a JSON array of issuances (empty when caught up).
pub fn parse_page(body: &[u8]) -> Result<Vec<Issuance>, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Kind of certificate in the legacy `cert` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertType {
    Cert,
    Precert,
    /// A value this version does not know.
    #[serde(other)]
    Unknown,
}

/// The legacy `cert` object of older API responses.
#[derive(Debug, Deserialize)]
struct LegacyCert {
    #[serde(default, rename = "type")]
    cert_type: Option<CertType>,
    #[serde(default)]
    sha256: Option<Sha256Hash>,
    #[serde(default, deserialize_with = "deserialize_base64_opt")]
    data: Option<Vec<u8>>,
}

/// An issuance as sent on the wire (every shape the API has used).
#[derive(Debug, Deserialize)]
struct IssuanceWire {
    id: String,
    tbs_sha256: Sha256Hash,
    #[serde(default)]
    cert_sha256: Option<Sha256Hash>,
    pubkey_sha256: Sha256Hash,
    #[serde(default)]
    dns_names: Option<Vec<String>>,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    #[serde(default)]
    issuer: Option<Issuer>,
    #[serde(default)]
    revoked: Option<bool>,
    #[serde(default)]
    revocation: Option<Revocation>,
    #[serde(default)]
    problem_reporting: Option<String>,
    #[serde(default, deserialize_with = "deserialize_base64_opt")]
    cert_der: Option<Vec<u8>>,
    #[serde(default)]
    cert_type: Option<CertType>,
    #[serde(default)]
    cert: Option<LegacyCert>,
}

/// Why an issuance object, though well-formed JSON, is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuanceError {
    #[error("issuance {id}: no cert_sha256, no legacy cert.sha256 and no certificate DER")]
    MissingCertHash { id: String },
}

impl TryFrom<IssuanceWire> for Issuance {
    type Error = IssuanceError;

    fn try_from(wire: IssuanceWire) -> Result<Self, Self::Error> {
        let (legacy_type, legacy_sha256, legacy_data) = match wire.cert {
            Some(c) => (c.cert_type, c.sha256, c.data),
            None => (None, None, None),
        };
        let cert_der = wire.cert_der.or(legacy_data);
        let cert_sha256 = wire
            .cert_sha256
            .or(legacy_sha256)
            .or_else(|| cert_der.as_deref().map(Sha256Hash::digest))
            .ok_or_else(|| IssuanceError::MissingCertHash {
                id: wire.id.clone(),
            })?;
        Ok(Issuance {
            id: wire.id,
            tbs_sha256: wire.tbs_sha256,
            cert_sha256,
            pubkey_sha256: wire.pubkey_sha256,
            dns_names: wire.dns_names.unwrap_or_default(),
            not_before: wire.not_before,
            not_after: wire.not_after,
            issuer: wire.issuer,
            revoked: wire.revoked,
            revocation: wire.revocation,
            problem_reporting: wire.problem_reporting,
            cert_der,
            cert_type: wire.cert_type.or(legacy_type),
        })
    }
}

fn deserialize_base64_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let Some(text) = Option::<std::borrow::Cow<'de, str>>::deserialize(d)? else {
        return Ok(None);
    };
    BASE64
        .decode(text.as_bytes())
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("invalid base64 certificate: {e}")))
}

fn serialize_base64_opt<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(bytes) => s.serialize_str(&BASE64.encode(bytes)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    const H3: &str = "3333333333333333333333333333333333333333333333333333333333333333";

    fn minimal(extra: &str) -> String {
        format!(
            r#"{{"id":"7","tbs_sha256":"{H1}","pubkey_sha256":"{H2}",
                "not_before":"2024-01-01T00:00:00Z","not_after":"2024-04-01T00:00:00-00:00"{extra}}}"#
        )
    }

    #[test]
    fn both_offset_forms_parse_to_the_same_instant() {
        let i: Issuance =
            serde_json::from_str(&minimal(&format!(r#","cert_sha256":"{H3}""#))).expect("parses");
        assert_eq!(i.not_before.to_rfc3339(), "2024-01-01T00:00:00+00:00");
        assert_eq!(i.not_after.to_rfc3339(), "2024-04-01T00:00:00+00:00");
        assert!(i.dns_names.is_empty());
        assert_eq!(i.cert_der, None);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let json = minimal(&format!(
            r#","cert_sha256":"{H3}","pubkey":{{"type":"ec"}},"brand_new":[1,2]"#
        ));
        assert!(serde_json::from_str::<Issuance>(&json).is_ok());
    }

    #[test]
    fn legacy_cert_object_fills_der_hash_and_type() {
        let der = b"not really DER";
        let json = minimal(&format!(
            r#","cert":{{"type":"precert","sha256":"{H3}","data":"{}"}}"#,
            BASE64.encode(der)
        ));
        let i: Issuance = serde_json::from_str(&json).expect("parses");
        assert_eq!(i.cert_sha256.to_hex(), H3);
        assert_eq!(i.cert_der.as_deref(), Some(&der[..]));
        assert_eq!(i.cert_type, Some(CertType::Precert));
    }

    #[test]
    fn top_level_cert_sha256_wins_over_legacy() {
        let json = minimal(&format!(
            r#","cert_sha256":"{H1}","cert":{{"type":"cert","sha256":"{H3}"}}"#
        ));
        let i: Issuance = serde_json::from_str(&json).expect("parses");
        assert_eq!(i.cert_sha256.to_hex(), H1);
        assert_eq!(i.cert_type, Some(CertType::Cert));
    }

    #[test]
    fn cert_hash_is_computed_from_der_when_no_hash_is_sent() {
        let der = b"some der bytes";
        let json = minimal(&format!(r#","cert_der":"{}""#, BASE64.encode(der)));
        let i: Issuance = serde_json::from_str(&json).expect("parses");
        assert_eq!(i.cert_sha256, Sha256Hash::digest(der));
    }

    #[test]
    fn missing_every_cert_hash_is_an_error_naming_the_issuance() {
        let err = serde_json::from_str::<Issuance>(&minimal("")).unwrap_err();
        assert!(err.to_string().contains("issuance 7"), "{err}");
    }

    #[test]
    fn bad_base64_and_bad_hash_are_errors() {
        let bad_b64 = minimal(&format!(r#","cert_sha256":"{H3}","cert_der":"@@@""#));
        assert!(serde_json::from_str::<Issuance>(&bad_b64).is_err());
        let bad_hash = minimal(r#","cert_sha256":"abc""#);
        assert!(serde_json::from_str::<Issuance>(&bad_hash).is_err());
    }

    #[test]
    fn revocation_reason_accepts_code_or_text_and_nulls() {
        let json = minimal(&format!(
            r#","cert_sha256":"{H3}","revoked":true,
               "revocation":{{"time":"2024-02-01T10:00:00Z","reason":1,"checked_at":null}}"#
        ));
        let i: Issuance = serde_json::from_str(&json).expect("parses");
        let r = i.revocation.expect("revocation");
        assert_eq!(r.reason, Some(RevocationReason::Code(1)));
        assert!(r.time.is_some() && r.checked_at.is_none());
        let json = minimal(&format!(
            r#","cert_sha256":"{H3}","revocation":{{"reason":"keyCompromise"}}"#
        ));
        let i: Issuance = serde_json::from_str(&json).expect("parses");
        assert_eq!(
            i.revocation.and_then(|r| r.reason),
            Some(RevocationReason::Text("keyCompromise".into()))
        );
    }

    #[test]
    fn serialises_to_a_shape_that_parses_back_identically() {
        let json = minimal(&format!(
            r#","cert":{{"type":"cert","sha256":"{H3}","data":"{}"}},"dns_names":["a.example"]"#,
            BASE64.encode(b"der")
        ));
        let i: Issuance = serde_json::from_str(&json).expect("parses");
        let again: Issuance =
            serde_json::from_str(&serde_json::to_string(&i).expect("serialises")).expect("parses");
        assert_eq!(again, i);
    }
}
