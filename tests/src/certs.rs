//! A throwaway test PKI: one CA and one server certificate for `127.0.0.1`, `127.0.0.2`
//! and `localhost`, made fresh per harness. Clients trust the CA as an *extra root*, the
//! normal configuration path, so hostname and validity checks stay on in every test.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA and a leaf certificate, in PEM, written to files Dovecot and clients can read.
#[derive(Debug, Clone)]
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub ca_path: PathBuf,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl TestPki {
    /// Makes a CA named `common_name` and a server certificate it signs, and writes
    /// `ca.pem`, `server.pem` and `server.key` into `dir`.
    pub fn create(dir: &Path, common_name: &str) -> anyhow::Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "127.0.0.2".to_string(),
        ])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "anvert test server");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = params.signed_by(&server_key, &issuer)?;

        let pki = TestPki {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            ca_path: dir.join("ca.pem"),
            cert_path: dir.join("server.pem"),
            key_path: dir.join("server.key"),
        };
        std::fs::write(&pki.ca_path, &pki.ca_pem)?;
        std::fs::write(&pki.cert_path, &pki.server_cert_pem)?;
        std::fs::write(&pki.key_path, &pki.server_key_pem)?;
        Ok(pki)
    }
}
