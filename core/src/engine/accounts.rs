//! Account settings as the app gives them, and the mapping to and from the stored row
//! (which never holds the credential).

use crate::{
    error::{Error, Result},
    net::{Credential, Endpoint, Security},
    store::{Account, AccountKind, NewAccount},
};

/// Which protocol an account uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    Imap,
    Pop3,
}

impl Protocol {
    /// The standard port of the protocol over `security` (993/143 IMAP, 995/110 POP3).
    pub fn default_port(self, security: Security) -> u16 {
        match (self, security) {
            (Protocol::Pop3, Security::ImplicitTls) => 995,
            (Protocol::Pop3, _) => 110,
            (_, Security::ImplicitTls) => 993,
            _ => 143,
        }
    }
}

/// An account as the app sets it up.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// What the user calls it.
    pub name: String,
    pub protocol: Protocol,
    pub endpoint: Endpoint,
    pub credential: Credential,
}

impl AccountConfig {
    pub(super) fn new_account(&self) -> NewAccount {
        NewAccount {
            name: self.name.clone(),
            kind: match self.protocol {
                Protocol::Imap => AccountKind::Imap,
                Protocol::Pop3 => AccountKind::Pop3,
            },
            host: self.endpoint.host.clone(),
            port: self.endpoint.port,
            security: security_name(self.endpoint.security).to_string(),
            username: self.credential.username().to_string(),
        }
    }
}

pub(super) fn security_name(security: Security) -> &'static str {
    match security {
        Security::ImplicitTls => "tls",
        Security::StartTls => "starttls",
        Security::DangerPlaintext => "danger_plaintext",
    }
}

/// The security setting the store spells `name`.
pub(crate) fn security_from_name(name: &str) -> Result<Security> {
    match name {
        "tls" => Ok(Security::ImplicitTls),
        "starttls" => Ok(Security::StartTls),
        "danger_plaintext" => Ok(Security::DangerPlaintext),
        _ => Err(Error::Config {
            reason: "unknown security setting in the stored account".into(),
        }),
    }
}

/// The endpoint and protocol of a stored account.
pub(super) fn endpoint_of(account: &Account) -> Result<(Endpoint, Protocol)> {
    let security = match account.security.as_str() {
        "tls" => Security::ImplicitTls,
        "starttls" => Security::StartTls,
        "danger_plaintext" => Security::DangerPlaintext,
        _ => {
            return Err(Error::Config {
                reason: "unknown security setting in the stored account".into(),
            });
        }
    };
    let protocol = match account.kind {
        AccountKind::Pop3 => Protocol::Pop3,
        _ => Protocol::Imap,
    };
    Ok((
        Endpoint {
            host: account.host.clone(),
            port: account.port,
            security,
        },
        protocol,
    ))
}
