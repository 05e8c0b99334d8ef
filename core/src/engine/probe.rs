//! "Auto" accounts: find out which service a host offers before the account is stored. IMAP
//! is tried first (implicit TLS, then STARTTLS), then POP3 (implicit TLS, then STLS); the
//! first that completes TLS and login wins and is what the account records, so later syncs
//! never probe again. A rejected password or an untrusted certificate stops the probe at once:
//! those say the service is there, and trying further ports would not help and could leak
//! the credential to a weaker service.

use super::{AccountConfig, Engine, Protocol};
use crate::{
    error::{Error, Result},
    net::{Credential, Endpoint, Security},
    store::AccountId,
};

/// The ports an automatic setup tries, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoPorts {
    pub imaps: u16,
    pub imap: u16,
    pub pop3s: u16,
    pub pop3: u16,
}

impl AutoPorts {
    /// One port the user gave: every service is tried on it, in the usual order.
    pub fn single(port: u16) -> Self {
        AutoPorts {
            imaps: port,
            imap: port,
            pop3s: port,
            pop3: port,
        }
    }
}

impl Default for AutoPorts {
    fn default() -> Self {
        AutoPorts {
            imaps: 993,
            imap: 143,
            pop3s: 995,
            pop3: 110,
        }
    }
}

impl Engine {
    /// Probes `host` (see the module docs) and adds the account with what it found.
    pub async fn add_account_auto(
        &self,
        name: &str,
        host: &str,
        ports: AutoPorts,
        credential: Credential,
    ) -> Result<AccountId> {
        let candidates = [
            (Protocol::Imap, ports.imaps, Security::ImplicitTls),
            (Protocol::Imap, ports.imap, Security::StartTls),
            (Protocol::Pop3, ports.pop3s, Security::ImplicitTls),
            (Protocol::Pop3, ports.pop3, Security::StartTls),
        ];
        let mut last = None;
        for (protocol, port, security) in candidates {
            let endpoint = Endpoint {
                host: host.to_string(),
                port,
                security,
            };
            match crate::account::probe(&self.shared, protocol, &endpoint, &credential).await {
                Ok(()) => {
                    let config = AccountConfig {
                        name: name.to_string(),
                        protocol,
                        endpoint,
                        credential,
                    };
                    return self.add_account(config).await;
                }
                // The service answered and said no, or the app has no token: stop here.
                Err(
                    e @ (Error::AuthRejected { .. }
                    | Error::Tls { .. }
                    | Error::TokenUnavailable { .. }),
                ) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(Error::Config {
            reason: "no mail service found".into(),
        }))
    }
}
