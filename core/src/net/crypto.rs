//! The rustls crypto provider: rustls' *ring* provider without what a mail client never uses,
//! built field by field because calling `rustls::crypto::ring::default_provider()` at all links
//! everything it lists (issue 18, library size).
//!
//! - Cipher suites: the AES-GCM ones only (TLS 1.3 and 1.2), in rustls' order. ChaCha20-Poly1305
//!   is left out (about 51 KB of ring's assembly on x86_64): rustls offers AES first, so a
//!   server that follows the client's order never picked ChaCha20, and every TLS server offers
//!   AES-GCM (TLS 1.3 makes TLS_AES_128_GCM_SHA256 mandatory).
//! - Private keys: none. The client never authenticates with a certificate (`with_no_client_auth`),
//!   so the key provider refuses every key and ring's signing code stays out (about 26 KB).
//! - Key exchange groups and signature verification algorithms: all of the *ring* provider's
//!   (X25519, P-256, P-384; ECDSA, Ed25519, RSA PKCS#1 and PSS), the same table as rustls'.

use std::sync::Arc;

use rustls::{
    SignatureScheme,
    crypto::{
        CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms,
    },
    pki_types::PrivateKeyDer,
    sign::SigningKey,
};
use webpki::ring as algs;

/// The provider every TLS connection uses.
pub(crate) fn provider() -> CryptoProvider {
    use rustls::crypto::ring::{cipher_suite as suite, kx_group};
    CryptoProvider {
        cipher_suites: vec![
            suite::TLS13_AES_256_GCM_SHA384,
            suite::TLS13_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &Ring,
        key_provider: &Ring,
    }
}

/// rustls' `SUPPORTED_SIG_ALGS` of its *ring* provider (rustls 0.23), which is not public.
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        algs::ECDSA_P256_SHA256,
        algs::ECDSA_P256_SHA384,
        algs::ECDSA_P384_SHA256,
        algs::ECDSA_P384_SHA384,
        algs::ED25519,
        algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        algs::RSA_PKCS1_2048_8192_SHA256,
        algs::RSA_PKCS1_2048_8192_SHA384,
        algs::RSA_PKCS1_2048_8192_SHA512,
        algs::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        algs::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        algs::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        // For TLS 1.2 the curve is not fixed by the SignatureScheme; for TLS 1.3 it is.
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[algs::ECDSA_P384_SHA384, algs::ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[algs::ECDSA_P256_SHA256, algs::ECDSA_P384_SHA256],
        ),
        (SignatureScheme::ED25519, &[algs::ED25519]),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA512,
            &[algs::RSA_PKCS1_2048_8192_SHA512],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[algs::RSA_PKCS1_2048_8192_SHA384],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA256,
            &[algs::RSA_PKCS1_2048_8192_SHA256],
        ),
    ],
};

/// Randomness from the OS through *ring*, as rustls' own provider; no private keys.
#[derive(Debug)]
struct Ring;

impl SecureRandom for Ring {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new()
            .fill(buf)
            .map_err(|_| GetRandomFailed)
    }
}

impl KeyProvider for Ring {
    fn load_private_key(
        &self,
        _key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "client certificates are not supported".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_groups_and_algorithms_as_rustls_ring_provider_aes_suites_only() {
        let ours = provider();
        let full = rustls::crypto::ring::default_provider();
        let names = |p: &CryptoProvider| {
            p.cipher_suites
                .iter()
                .map(|s| s.suite())
                .collect::<Vec<_>>()
        };
        let expected: Vec<_> = names(&full)
            .into_iter()
            .filter(|s| !format!("{s:?}").contains("CHACHA20"))
            .collect();
        assert_eq!(names(&ours), expected);
        assert_eq!(expected.len(), 6);
        let groups = |p: &CryptoProvider| p.kx_groups.iter().map(|g| g.name()).collect::<Vec<_>>();
        assert_eq!(groups(&ours), groups(&full));
        // Every algorithm by its identifiers, in order, in `all` and in each scheme's mapping.
        type Alg = &'static dyn rustls::pki_types::SignatureVerificationAlgorithm;
        let ids = |algs: &[Alg]| {
            algs.iter()
                .map(|a| (a.public_key_alg_id(), a.signature_alg_id()))
                .collect::<Vec<_>>()
        };
        let (o, f) = (
            &ours.signature_verification_algorithms,
            &full.signature_verification_algorithms,
        );
        assert_eq!(ids(o.all), ids(f.all));
        assert_eq!(o.mapping.len(), f.mapping.len());
        for ((our_scheme, our_algs), (their_scheme, their_algs)) in o.mapping.iter().zip(f.mapping)
        {
            assert_eq!(our_scheme, their_scheme);
            assert_eq!(ids(our_algs), ids(their_algs));
        }
        let mut buf = [0u8; 32];
        ours.secure_random.fill(&mut buf).unwrap();
        assert_ne!(buf, [0u8; 32]);
        assert!(
            ours.key_provider
                .load_private_key(PrivateKeyDer::Pkcs8(vec![0u8; 8].into()))
                .is_err()
        );
        assert!(ours.fips() == full.fips());
    }
}
