//! Helpers that point the real engine code at a harness Dovecot: endpoints for each
//! listener, a TLS connector trusting the harness CA, and a one-call IMAP login.

use std::net::SocketAddr;

use anvert_core::{
    imap::{self, ConnectOptions, ImapSession},
    net::{Credential, Endpoint, Security, TlsConnector, Trust, WireMeter},
};

use crate::dovecot::Dovecot;

impl Dovecot {
    /// A TLS connector that trusts this server's test CA as an extra root.
    pub fn tls(&self) -> TlsConnector {
        TlsConnector::new(&self.trust()).unwrap()
    }

    /// The trust settings a client needs for this server.
    pub fn trust(&self) -> Trust {
        Trust::default().with_extra_roots_pem(&self.pki.ca_pem).unwrap()
    }

    pub fn credential(&self, user: &str) -> Credential {
        Credential::password(user, self.password(user))
    }

    /// Logs `user` in over IMAP with implicit TLS (every extension the server offers).
    pub async fn imap_login(&self, user: &str) -> ImapSession {
        let meter = WireMeter::new();
        imap::connect(&endpoint(self.imaps_addr(), Security::ImplicitTls), &self.credential(user), &self.tls(), &meter, &ConnectOptions::default())
            .await
            .unwrap_or_else(|e| panic!("IMAP login failed: {e}\n{}", self.log()))
    }
}

/// An endpoint for a loopback address, named by IP so the certificate's IP SAN is checked.
pub fn endpoint(addr: SocketAddr, security: Security) -> Endpoint {
    Endpoint { host: addr.ip().to_string(), port: addr.port(), security }
}
