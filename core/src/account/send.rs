//! Sending the account's outbox (issue 18) over its command connection: from the sync pass
//! (due entries, before the write-back, so a message goes out before anything else the
//! pass does) and from `Engine::flush_outbox` (every open entry, user priority). The SMTP
//! session is opened per run, only when something is due.

use std::sync::Arc;

use super::{AccountSession, Priority};
use crate::{
    engine::security_from_name,
    error::Result,
    imap::ImapSession,
    net::{Endpoint, Purpose},
    policy::NetworkKind,
    smtp::SmtpOptions,
    store::AccountKind,
    sync::{self, EventSink, SendReport, SmtpTarget},
};

impl AccountSession {
    /// The account's submission server, with the account's credential and TLS setup.
    pub(crate) async fn smtp_target(&self) -> Result<Option<SmtpTarget>> {
        let Some((host, port, security)) = self.store().submission(self.id).await? else {
            return Ok(None);
        };
        Ok(Some(SmtpTarget {
            endpoint: Endpoint {
                host,
                port,
                security: security_from_name(&security)?,
            },
            credential: self.credential(),
            tls: self.shared().tls.clone(),
            options: SmtpOptions::default(),
        }))
    }

    /// Sends the due entries of the outbox over `session` (the sync's).
    pub(crate) async fn send_due(
        &self,
        session: &mut ImapSession,
        network: NetworkKind,
        now: i64,
        events: &dyn EventSink,
    ) -> Result<SendReport> {
        let target = self.smtp_target().await?;
        let report = sync::send_outbox(
            Some(session),
            target.as_ref(),
            self.store(),
            self.id,
            now,
            false,
            events,
        )
        .await?;
        self.book_smtp(network, &report).await?;
        Ok(report)
    }

    /// The SMTP session's bytes (its own meter, not the IMAP connection's, which its lease
    /// books) into the ledger, under `send`.
    async fn book_smtp(&self, network: NetworkKind, report: &SendReport) -> Result<()> {
        if report.smtp_written + report.smtp_read > 0 {
            self.store()
                .add_usage(
                    self.id,
                    network.as_str(),
                    Purpose::Send.as_str(),
                    report.smtp_written,
                    report.smtp_read,
                )
                .await?;
        }
        Ok(())
    }

    /// `Engine::flush_outbox`: every open entry now, one run at a time with the sync.
    pub(crate) async fn flush_outbox(
        self: &Arc<Self>,
        network: NetworkKind,
        now: i64,
        every: bool,
        events: &dyn EventSink,
    ) -> Result<SendReport> {
        let _one_at_a_time = self.busy.lock().await;
        let target = self.smtp_target().await?;
        let kind = self
            .store()
            .accounts()
            .await?
            .into_iter()
            .find(|a| a.id == self.id)
            .map(|a| a.kind);
        if kind == Some(AccountKind::Pop3) {
            // No IMAP: no Sent copy.
            let report = sync::send_outbox(
                None,
                target.as_ref(),
                self.store(),
                self.id,
                now,
                every,
                events,
            )
            .await?;
            self.book_smtp(network, &report).await?;
            return Ok(report);
        }
        let _first = self.urgent();
        let mut lease = self.lease(Priority::User, network).await?;
        let result = match lease.session() {
            Ok(session) => {
                sync::send_outbox(
                    Some(session),
                    target.as_ref(),
                    self.store(),
                    self.id,
                    now,
                    every,
                    events,
                )
                .await
            }
            Err(e) => Err(e),
        };
        lease.finish(&result).await?;
        let report = result?;
        self.book_smtp(network, &report).await?;
        Ok(report)
    }
}
