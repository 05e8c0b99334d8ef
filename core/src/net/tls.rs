//! TLS through rustls. Default trust is the platform verifier (on Android, webpki over the
//! system CA store: see `roots`). Apps (and the test harness) may add extra roots. Where the
//! platform offers no roots and the app gave none, the engine still opens (its store works
//! offline) and every handshake fails with [`NO_ROOTS`]; with the `bundled-roots` feature (the
//! CLI's, for minimal Linux systems) Mozilla's roots from webpki-roots are used instead. The
//! mobile library leaves that copy out: Android and iOS always have a system store, and a root
//! list frozen into an app goes stale. There is no switch that skips hostname or validity
//! checks.

use std::{fmt, sync::Arc, time::Duration};

use rustls::{
    ClientConfig, RootCertStore, client::WebPkiServerVerifier, crypto::CryptoProvider,
    pki_types::CertificateDer,
};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;

use crate::error::{Error, Result};

/// Which certificate authorities a connection trusts.
#[derive(Clone, Default)]
pub struct Trust {
    /// Extra roots in DER, trusted in addition to the platform's (for a private CA).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

impl Trust {
    /// Adds every certificate in a PEM text as an extra trusted root.
    pub fn with_extra_roots_pem(mut self, pem: &str) -> Result<Self> {
        let mut reader = std::io::BufReader::new(pem.as_bytes());
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut reader) {
            let cert = cert.map_err(|_| Error::Config {
                reason: "unreadable PEM certificate".into(),
            })?;
            self.extra_roots.push(cert);
            added += 1;
        }
        if added == 0 {
            return Err(Error::Config {
                reason: "no certificate found in the extra root PEM".into(),
            });
        }
        Ok(self)
    }
}

/// Why every handshake fails where no certificate authority is trusted.
pub const NO_ROOTS: &str = "no trusted certificate authorities: the system offers none \
(install its CA certificates) and the app added no roots";

/// A reusable TLS client. Keep one per account (or engine) so TLS sessions are resumed.
#[derive(Clone)]
pub struct TlsConnector {
    /// `None` where no root is trusted (see [`NO_ROOTS`]).
    inner: Option<tokio_rustls::TlsConnector>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConnector")
    }
}

impl TlsConnector {
    /// Builds the rustls configuration for `trust`.
    pub fn new(trust: &Trust) -> Result<Self> {
        let provider = Arc::new(super::crypto::provider());
        let platform = platform_verifier(trust, &provider);
        Self::choose(trust, provider, platform, fallback_roots())
    }

    /// The platform's verifier; else webpki over the fallback roots (if any) and the app's
    /// extra roots; else no trust at all.
    fn choose(
        trust: &Trust,
        provider: Arc<CryptoProvider>,
        platform: Option<Verifier>,
        fallback: Option<RootCertStore>,
    ) -> Result<Self> {
        let verifier = match (platform, fallback) {
            (Some(v), _) => v,
            (None, Some(roots)) => webpki_verifier(roots, trust, &provider)?,
            // The app's extra roots alone (the platform verifier takes them with its own).
            (None, None) if !trust.extra_roots.is_empty() => {
                webpki_verifier(RootCertStore::empty(), trust, &provider)?
            }
            (None, None) => return Ok(TlsConnector { inner: None }),
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config {
                reason: format!("TLS versions: {e}"),
            })?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(TlsConnector {
            inner: Some(tokio_rustls::TlsConnector::from(Arc::new(config))),
        })
    }

    /// Runs the TLS handshake over `io`, verifying the certificate for `host`.
    pub async fn connect<S>(&self, host: &str, io: S, timeout: Duration) -> Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(host.to_string()).map_err(|_| Error::Config {
            reason: format!("invalid server name {host:?}"),
        })?;
        let Some(inner) = &self.inner else {
            return Err(Error::Tls {
                host: host.to_string(),
                reason: NO_ROOTS.into(),
            });
        };
        match tokio::time::timeout(timeout, inner.connect(name, io)).await {
            Err(_) => Err(Error::Timeout {
                during: "the TLS handshake",
            }),
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(Error::Tls {
                host: host.to_string(),
                reason: describe(&e),
            }),
        }
    }
}

/// What a finished handshake agreed on, for diagnostics (`anvert doctor`): read-only, never
/// a key or secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDetails {
    /// e.g. `TLSv1_3`.
    pub version: String,
    /// e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The certificate chain the server sent (DER), leaf first.
    pub chain: Vec<Vec<u8>>,
}

impl TlsDetails {
    /// The details of `stream`'s handshake.
    pub fn of<S>(stream: &TlsStream<S>) -> TlsDetails {
        let conn = stream.get_ref().1;
        TlsDetails {
            version: conn
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher: conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()))
                .unwrap_or_default(),
            chain: conn
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default(),
        }
    }
}

type Verifier = Arc<dyn rustls::client::danger::ServerCertVerifier>;

/// The operating system's verifier (its trust store, revocation and policy), or `None` where
/// the platform offers no roots.
#[cfg(not(target_os = "android"))]
fn platform_verifier(trust: &Trust, provider: &Arc<CryptoProvider>) -> Option<Verifier> {
    rustls_platform_verifier::Verifier::new_with_extra_roots(
        trust.extra_roots.iter().cloned(),
        provider.clone(),
    )
    .ok()
    .map(|v| Arc::new(v) as Verifier)
}

/// Android: webpki over the system CA store's PEM files (see `roots`).
#[cfg(target_os = "android")]
fn platform_verifier(trust: &Trust, provider: &Arc<CryptoProvider>) -> Option<Verifier> {
    let mut roots = RootCertStore::empty();
    if super::roots::add_pem_dir(&super::roots::ANDROID_CA_DIRS, &mut roots) == 0 {
        return None;
    }
    webpki_verifier(roots, trust, provider).ok()
}

/// Mozilla's roots where the platform has none, with the `bundled-roots` feature.
#[cfg(feature = "bundled-roots")]
fn fallback_roots() -> Option<RootCertStore> {
    Some(RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
}

#[cfg(not(feature = "bundled-roots"))]
fn fallback_roots() -> Option<RootCertStore> {
    None
}

/// A webpki verifier over `roots` plus the app's extra roots.
fn webpki_verifier(
    mut roots: RootCertStore,
    trust: &Trust,
    provider: &Arc<CryptoProvider>,
) -> Result<Verifier> {
    for cert in &trust.extra_roots {
        roots.add(cert.clone()).map_err(|e| Error::Config {
            reason: format!("extra root: {e}"),
        })?;
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::Config {
            reason: format!("TLS verifier: {e}"),
        })?;
    Ok(verifier)
}

/// Words for a failed handshake: the certificate reason where rustls gives one.
fn describe(err: &std::io::Error) -> String {
    use rustls::CertificateError as C;
    let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return match err.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                "the server closed the connection during the handshake".into()
            }
            _ => format!("connection failed during the handshake ({})", err.kind()),
        };
    };
    match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => "certificate not trusted: unknown issuer".into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "certificate is not valid for this host name".into()
            }
            C::Expired | C::ExpiredContext { .. } => "certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "certificate is not valid yet".into(),
            C::Revoked => "certificate has been revoked".into(),
            C::BadSignature => "certificate has a bad signature".into(),
            other => format!("invalid certificate: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => format!("the server sent alert {alert:?}"),
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(crate::net::crypto::provider())
    }

    #[tokio::test]
    async fn without_any_root_every_handshake_fails_with_a_clear_reason() {
        let connector = TlsConnector::choose(&Trust::default(), provider(), None, None).unwrap();
        let (ours, _theirs) = tokio::io::duplex(64);
        let err = connector
            .connect("imap.example.org", ours, Duration::from_secs(5))
            .await
            .unwrap_err();
        match err {
            Error::Tls { host, reason } => {
                assert_eq!(host, "imap.example.org");
                assert_eq!(reason, NO_ROOTS);
            }
            other => panic!("expected a TLS error, got {other:?}"),
        }
    }

    #[test]
    fn the_apps_roots_alone_are_enough_where_the_platform_has_none() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let trust = Trust::default().with_extra_roots_pem(&ca.pem()).unwrap();
        let connector = TlsConnector::choose(&trust, provider(), None, None).unwrap();
        assert!(connector.inner.is_some());
        // And the fallback set, where there is one, is used.
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let connector =
            TlsConnector::choose(&Trust::default(), provider(), None, Some(roots)).unwrap();
        assert!(connector.inner.is_some());
    }
}
