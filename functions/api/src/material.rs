//! Certificates and public keys from request bodies: PEM or DER in, identities and hashes out.
//! The core library does the certificate parsing; this only adds the API's limits and messages.

use ctguard::cert::{CertIdentity, parse_certificates};
use ctguard::hash::Sha256Hash;
use x509_parser::pem::Pem;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::error::{ApiError, ApiResult};

fn malformed_pem(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("malformed_pem", message)
}

/// The leaf (first certificate) of a PEM bundle, a single PEM, or a DER certificate.
pub fn leaf_certificate(input: &[u8]) -> ApiResult<CertIdentity> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed_pem("the body is empty; send a PEM certificate"));
    }
    if contains(input, b"PRIVATE KEY-----") {
        // Never parse, echo or log it.
        return Err(malformed_pem(
            "the body contains a private key; send only the certificate (cert.pem)",
        ));
    }
    let certificates =
        parse_certificates(input).map_err(|e| malformed_pem(format!("not a certificate: {e}")))?;
    certificates
        .into_iter()
        .next()
        .ok_or_else(|| malformed_pem("no certificate found in the input"))
}

/// The SHA-256 of a public key, from a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block or from
/// a certificate (its leaf's key).
pub fn public_key_hash(input: &[u8]) -> ApiResult<Sha256Hash> {
    public_key_with_names(input).map(|(hash, _)| hash)
}

/// [`public_key_hash`] and, when the input is a certificate, its DNS names (a bare public key
/// names nothing).
pub fn public_key_with_names(input: &[u8]) -> ApiResult<(Sha256Hash, Vec<String>)> {
    if contains(input, b"-----BEGIN RSA PUBLIC KEY-----") {
        return Err(malformed_pem(
            "PKCS#1 RSA keys are not accepted: send the SubjectPublicKeyInfo form \
             (-----BEGIN PUBLIC KEY-----, e.g. `openssl pkey -pubout`)",
        ));
    }
    if !contains(input, b"-----BEGIN PUBLIC KEY-----") {
        return leaf_certificate(input).map(|leaf| (leaf.pubkey_sha256, leaf.dns_names));
    }
    let block = Pem::iter_from_buffer(input)
        .filter_map(Result::ok)
        .find(|pem| pem.label == "PUBLIC KEY")
        .ok_or_else(|| malformed_pem("the PUBLIC KEY block is not valid PEM"))?;
    match SubjectPublicKeyInfo::from_der(&block.contents) {
        Ok(([], _)) => Ok((Sha256Hash::digest(&block.contents), Vec::new())),
        _ => Err(malformed_pem(
            "the PUBLIC KEY block is not a DER SubjectPublicKeyInfo",
        )),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A P-256 SubjectPublicKeyInfo (from `openssl ecparam -genkey -name prime256v1 | openssl pkey -pubout`).
    const SPKI_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECXy7kdC3m3YBl+kborkMd36f3uCj
jKT0CCCn9IsqpUB7+yO/YCnb8LYrUBCuCrXay5RZERPPOckxKhxFcH3eww==
-----END PUBLIC KEY-----
";

    #[test]
    fn spki_hash_is_the_sha256_of_the_der() {
        use base64::Engine;
        let b64: String = SPKI_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            public_key_hash(SPKI_PEM.as_bytes()).unwrap(),
            Sha256Hash::digest(&der)
        );
    }

    #[test]
    fn rsa_pkcs1_private_keys_and_garbage_are_refused() {
        let pkcs1 = "-----BEGIN RSA PUBLIC KEY-----\nMAA=\n-----END RSA PUBLIC KEY-----\n";
        assert!(
            public_key_hash(pkcs1.as_bytes())
                .unwrap_err()
                .message
                .contains("PKCS#1")
        );
        let not_spki = "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n";
        assert_eq!(
            public_key_hash(not_spki.as_bytes()).unwrap_err().code,
            "malformed_pem"
        );
        let private = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        assert!(
            leaf_certificate(private.as_bytes())
                .unwrap_err()
                .message
                .contains("private key")
        );
        assert_eq!(leaf_certificate(b"  \n").unwrap_err().code, "malformed_pem");
    }
}
