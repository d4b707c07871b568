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

fn invalid_csr(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_csr", message)
}

/// A PKCS #10 request (PEM or DER) whose signature verifies with its own key: proof that the
/// sender holds the private key, so nobody can authorize a key they merely saw (every
/// certificate's key is public in CT). Its SPKI hash and requested DNS names.
pub fn verified_csr(input: &[u8]) -> ApiResult<(Sha256Hash, Vec<String>)> {
    if contains(input, b"PRIVATE KEY-----") {
        return Err(malformed_pem(
            "the body contains a private key; send only the certificate request",
        ));
    }
    let csr = ctguard::csr::parse(input).map_err(|e| invalid_csr(e.to_string()))?;
    let (_, request) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&csr.der)
            .map_err(|e| invalid_csr(format!("not a PKCS #10 certificate request: {e}")))?;
    request.verify_signature().map_err(|e| {
        invalid_csr(format!(
            "the request's signature does not verify with its own key ({e}): no proof that \
             the sender holds the private key"
        ))
    })?;
    Ok((csr.pubkey_sha256, csr.dns_names))
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

    fn request(key: &rcgen::KeyPair, names: &[&str]) -> rcgen::CertificateSigningRequest {
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap()
            .serialize_request(key)
            .unwrap()
    }

    #[test]
    fn a_csr_gives_its_key_and_names_when_its_signature_verifies() {
        use rcgen::PublicKeyData;
        for alg in [&rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_ED25519] {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let csr = request(&key, &["shop.example.com", "www.shop.example.com"]);
            let (hash, names) = verified_csr(csr.pem().unwrap().as_bytes()).unwrap();
            assert_eq!(hash, Sha256Hash::digest(&key.subject_public_key_info()));
            assert_eq!(names, ["shop.example.com", "www.shop.example.com"]);
            assert_eq!(verified_csr(csr.der()).unwrap().0, hash, "DER too");
        }
    }

    #[test]
    fn a_csr_whose_signature_does_not_verify_is_refused() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut der = request(&key, &["shop.example.com"]).der().to_vec();
        // The signature is the last bytes: flip one.
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let err = verified_csr(&der).unwrap_err();
        assert_eq!(err.code, "invalid_csr");
        assert!(err.message.contains("does not verify"), "{}", err.message);
        // Someone else's key in the request, signed by ours: also refused. Swap the SPKI.
        let other = rcgen::KeyPair::generate().unwrap();
        let ours = request(&key, &["a.example.com"]).der().to_vec();
        let theirs = request(&other, &["a.example.com"]).der().to_vec();
        use rcgen::PublicKeyData;
        let (ours_spki, theirs_spki) = (
            key.subject_public_key_info(),
            other.subject_public_key_info(),
        );
        let at = ours
            .windows(ours_spki.len())
            .position(|w| w == ours_spki.as_slice())
            .unwrap();
        let mut forged = ours.clone();
        forged[at..at + ours_spki.len()].copy_from_slice(&theirs_spki);
        assert_ne!(forged, theirs);
        assert_eq!(verified_csr(&forged).unwrap_err().code, "invalid_csr");
        // Garbage, truncation, a certificate, a private key: 400, no panic.
        for bad in [
            &b"-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"[..],
            b"",
            &ours[..ours.len() / 2],
        ] {
            assert_eq!(verified_csr(bad).unwrap_err().code, "invalid_csr");
        }
        let private = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            verified_csr(private.as_bytes()).unwrap_err().code,
            "malformed_pem"
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
