//! "Auto" accounts: find out which service a host offers before the account is stored. IMAP
//! is tried first (implicit TLS, then STARTTLS), then POP3 (implicit TLS, then STLS); the
//! first that completes TLS and login wins and is what the account records, so later syncs
//! never probe again. A rejected password or an untrusted certificate stops the probe at once:
//! those say the service is there, and trying further ports would not help and could leak
//! the credential to a weaker service.
//!
//! Once the account is stored, its submission server is looked for on the same host:
//! implicit TLS (465), then STARTTLS (587), logging in with the same credential; the first
//! that completes TLS, EHLO and AUTH is set with `set_submission`. Finding none adds the
//! account all the same (sending then waits for `set_submission`).

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
    /// Submission with implicit TLS (465), then with STARTTLS (587).
    pub submissions: u16,
    pub submission: u16,
}

impl AutoPorts {
    /// One port the user gave: every service is tried on it, in the usual order.
    pub fn single(port: u16) -> Self {
        AutoPorts {
            imaps: port,
            imap: port,
            pop3s: port,
            pop3: port,
            ..AutoPorts::default()
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
            submissions: 465,
            submission: 587,
        }
    }
}

/// One service an automatic setup tried, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAttempt {
    pub protocol: Protocol,
    pub port: u16,
    pub security: Security,
    /// `None`: TLS and login completed (the service chosen); else why it was passed over,
    /// in the error's words (never the credential).
    pub failure: Option<String>,
}

/// What [`Engine::add_account_auto_report`] tried, in order; the last attempt is the one
/// chosen when the account was added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoReport {
    pub attempts: Vec<ProbeAttempt>,
    /// The submission server found and set (None: none answered with TLS and AUTH).
    pub submission: Option<Endpoint>,
    /// Each submission port tried and why it was passed over (None: chosen).
    pub submission_attempts: Vec<(u16, Security, Option<String>)>,
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
        let mut report = AutoReport::default();
        self.add_account_auto_report(name, host, ports, credential, &mut report)
            .await
    }

    /// [`Engine::add_account_auto`], recording each service tried and why it was passed
    /// over into `report` (filled in on failure too: what answered, and how).
    pub async fn add_account_auto_report(
        &self,
        name: &str,
        host: &str,
        ports: AutoPorts,
        credential: Credential,
        report: &mut AutoReport,
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
            let result =
                crate::account::probe(&self.shared, protocol, &endpoint, &credential).await;
            report.attempts.push(ProbeAttempt {
                protocol,
                port,
                security,
                failure: result.as_ref().err().map(ToString::to_string),
            });
            match result {
                Ok(()) => {
                    let config = AccountConfig {
                        name: name.to_string(),
                        protocol,
                        endpoint,
                        credential: credential.clone(),
                    };
                    let id = self.add_account(config).await?;
                    self.probe_submission(id, host, ports, &credential, report)
                        .await?;
                    return Ok(id);
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

    /// Looks for the host's submission server (465 implicit TLS, then 587 STARTTLS) with the
    /// account's credential, and sets the first that logs in. Only a store failure is an
    /// error; a port that does not answer, or refuses, is recorded and passed over.
    async fn probe_submission(
        &self,
        account: AccountId,
        host: &str,
        ports: AutoPorts,
        credential: &Credential,
        report: &mut AutoReport,
    ) -> Result<()> {
        for (port, security) in [
            (ports.submissions, Security::ImplicitTls),
            (ports.submission, Security::StartTls),
        ] {
            let endpoint = Endpoint {
                host: host.to_string(),
                port,
                security,
            };
            let meter = crate::net::WireMeter::new();
            let options = crate::smtp::SmtpOptions {
                timeout: self.shared.connect.timeout,
                ..crate::smtp::SmtpOptions::default()
            };
            match crate::smtp::connect(&endpoint, credential, &self.shared.tls, &meter, &options)
                .await
            {
                Ok(session) => {
                    session.quit().await;
                    report.submission_attempts.push((port, security, None));
                    self.set_submission(account, Some(endpoint.clone())).await?;
                    report.submission = Some(endpoint);
                    return Ok(());
                }
                Err(e) => report
                    .submission_attempts
                    .push((port, security, Some(e.to_string()))),
            }
        }
        Ok(())
    }

    /// Checks a new credential for a stored account by logging in to its endpoint (then
    /// out), and hands it to the engine only when the server accepted it.
    pub async fn check_credential(&self, account: AccountId, credential: Credential) -> Result<()> {
        let stored = self.account(account).await?;
        let (endpoint, protocol) = super::accounts::endpoint_of(&stored)?;
        crate::account::probe(&self.shared, protocol, &endpoint, &credential).await?;
        self.set_credential(account, credential).await
    }
}
