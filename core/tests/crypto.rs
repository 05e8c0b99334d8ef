//! The vendored ring (vendor/ring/ANVERT-PATCH.md) multiplies the base point of P-256 and of
//! X25519 without ring's fixed-base tables. These tests hold the patched multiplications to
//! published and independently computed values: every TLS handshake's key share and every
//! ECDSA certificate signature goes through them.

#![allow(clippy::unwrap_used)]

use ring::agreement;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Private scalars and their uncompressed public points: d = 1 (G itself), 2, n − 1 (−G), and
/// RFC 6979 A.2.5's key. Computed with OpenSSL (Python's `cryptography`) and RFC 6979.
const P256_PAIRS: [(&str, &str); 4] = [
    (
        "0000000000000000000000000000000000000000000000000000000000000001",
        "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000002",
        "047cf27b188d034f7e8a52380304b51ac3c08969e277f21b35a60b48fc4766997807775510db8ed040293d9ac69f7430dbba7dade63ce982299e04b79d227873d1",
    ),
    (
        "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632550",
        "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296b01cbd1c01e58065711814b583f061e9d431cca994cea1313449bf97c840ae0a",
    ),
    (
        "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
        "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299",
    ),
];

#[test]
fn p256_public_keys_are_the_base_point_times_the_private_key() {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    for (private, public) in P256_PAIRS {
        // ring derives the public key from the private one and rejects the pair unless it is
        // the one given.
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            alg,
            &unhex(private),
            &unhex(public),
            &rng,
        );
        assert!(pair.is_ok(), "d = {private}: {pair:?}");
    }
    // A public key that is on the curve but not this private key's is refused.
    let mismatched = EcdsaKeyPair::from_private_key_and_public_key(
        alg,
        &unhex(P256_PAIRS[0].0),
        &unhex(P256_PAIRS[1].1),
        &rng,
    );
    assert!(mismatched.is_err());
}

#[test]
fn p256_signatures_verify_against_rfc_6979_and_ring_s_own() {
    // RFC 6979 A.2.5: P-256, SHA-256, message "sample".
    let public = unhex(P256_PAIRS[3].1);
    let rfc = unhex(concat!(
        "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
        "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
    ));
    let key = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &public);
    assert!(key.verify(b"sample", &rfc).is_ok());
    assert!(key.verify(b"samplf", &rfc).is_err());
    let mut bent = rfc.clone();
    bent[63] ^= 1;
    assert!(key.verify(b"sample", &bent).is_err());

    // Signing multiplies the base point by the nonce (constant time); verifying by u1
    // (variable time): both patched.
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_private_key_and_public_key(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &unhex(P256_PAIRS[3].0),
        &public,
        &rng,
    )
    .unwrap();
    let key = UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        pair.public_key().as_ref(),
    );
    for round in 0..16u8 {
        let message = [round; 40];
        let signed = pair.sign(&rng, &message).unwrap();
        assert!(
            key.verify(&message, signed.as_ref()).is_ok(),
            "round {round}"
        );
        assert!(key.verify(&[round ^ 1; 40], signed.as_ref()).is_err());
    }
}

/// Two parties agree only if each one's public key is its private key times the base point.
fn agree(alg: &'static agreement::Algorithm) {
    let rng = SystemRandom::new();
    for _ in 0..16 {
        let ours = agreement::EphemeralPrivateKey::generate(alg, &rng).unwrap();
        let theirs = agreement::EphemeralPrivateKey::generate(alg, &rng).unwrap();
        let our_public = ours.compute_public_key().unwrap();
        let their_public = theirs.compute_public_key().unwrap();
        let one: Vec<u8> = agreement::agree_ephemeral(
            ours,
            &agreement::UnparsedPublicKey::new(alg, their_public.as_ref()),
            |secret| secret.to_vec(),
        )
        .unwrap();
        let other: Vec<u8> = agreement::agree_ephemeral(
            theirs,
            &agreement::UnparsedPublicKey::new(alg, our_public.as_ref()),
            |secret| secret.to_vec(),
        )
        .unwrap();
        assert_eq!(one, other);
        assert_ne!(one, vec![0; one.len()]);
    }
}

#[test]
fn x25519_key_shares_agree() {
    agree(&agreement::X25519);
}

#[test]
fn p256_key_shares_agree() {
    agree(&agreement::ECDH_P256);
}

/// X25519's public key is by definition X25519(private, 9) (RFC 7748 6.1): agreeing with the
/// base point itself must give back our public key. (A public key made from any other point
/// would still agree with itself above, and fail only against a real server.)
#[test]
fn x25519_public_keys_are_the_private_key_times_the_base_point() {
    let rng = SystemRandom::new();
    let mut base_point = [0u8; 32];
    base_point[0] = 9;
    for _ in 0..16 {
        let ours = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng).unwrap();
        let public = ours.compute_public_key().unwrap().as_ref().to_vec();
        let times_base = agreement::agree_ephemeral(
            ours,
            &agreement::UnparsedPublicKey::new(&agreement::X25519, &base_point),
            |secret| secret.to_vec(),
        )
        .unwrap();
        assert_eq!(public, times_base);
    }
}
