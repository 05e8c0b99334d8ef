//! A POP3 account's operations: a sync pass, and retrieving one headers-only message the
//! app opened. Never kept warm (the server holds the maildrop lock while a session is open):
//! each connects (implicit TLS or STLS, never a plaintext fallback), works, and QUITs,
//! which is when the server applies any DELE the deletion policy issued. Each connection
//! has its own meter; its bytes go to the ledger whatever happened.

use std::sync::Arc;

use super::{AccountSession, book};
use crate::{
    error::{Error, Result},
    net::WireMeter,
    policy::{ContentPolicy, NetworkKind, SyncRequest},
    pop3::{self, Pop3Options},
    store::{MessageId, MessageLocation, Pop3State},
    sync::{self, EventSink, SyncReport},
};

impl AccountSession {
    /// One POP3 sync pass into the account's synthetic INBOX.
    pub(crate) async fn sync_pop3(
        self: &Arc<Self>,
        request: &SyncRequest,
        now: i64,
        data_dir: &std::path::Path,
        events: &dyn EventSink,
    ) -> Result<SyncReport> {
        let _one_at_a_time = self.busy.lock().await;
        let meter = WireMeter::new();
        let result = async {
            let mut session = self.connect_pop3(&meter).await?;
            let report = sync::sync_pop3_account(
                &mut session,
                self.store(),
                self.id,
                request,
                data_dir,
                now,
                events,
            )
            .await;
            // QUIT applies DELE; a failed QUIT only means nothing was deleted, and every
            // message stays stored locally either way.
            let _ = session.quit().await;
            report
        }
        .await;
        let spent = meter.totals();
        book(self.store(), self.id, request.network, &spent).await?;
        let mut report = result?;
        report.bytes = spent;
        Ok(report)
    }

    /// Downloads a headers-only POP3 message in full (POP3 has no per-part fetch: RETR
    /// brings the whole message, parsed into the same rows, body and attachment files as a
    /// sync's). Nothing happens when it is stored in full already.
    pub(crate) async fn retrieve_pop3(
        self: &Arc<Self>,
        message: MessageId,
        location: &MessageLocation,
        network: NetworkKind,
        now: i64,
        data_dir: &std::path::Path,
        events: &dyn EventSink,
    ) -> Result<()> {
        let known = self
            .store()
            .pop3_known(self.id)
            .await?
            .into_iter()
            .find(|k| k.message == Some(message))
            .ok_or(Error::NotFound {
                what: "POP3 message",
                id: message.0,
            })?;
        if known.state == Pop3State::Full {
            return Ok(());
        }
        let _one_at_a_time = self.busy.lock().await;
        let meter = WireMeter::new();
        let prefer_html = ContentPolicy::for_network(network).prefer_html;
        let result = async {
            let mut session = self.connect_pop3(&meter).await?;
            let fetched = sync::fetch_pop3_message(
                &mut session,
                self.store(),
                &known,
                location.folder,
                prefer_html,
                data_dir,
                now,
                events,
            )
            .await;
            let _ = session.quit().await;
            fetched
        }
        .await;
        book(self.store(), self.id, network, &meter.totals()).await?;
        match result? {
            true => Ok(()),
            false => Err(Error::NotFound {
                what: "message on the server",
                id: message.0,
            }),
        }
    }

    /// A logged-in POP3 session (implicit TLS or STLS, never plaintext unless the account
    /// says `danger_plaintext`).
    async fn connect_pop3(&self, meter: &WireMeter) -> Result<pop3::Pop3Session> {
        let options = Pop3Options {
            timeout: self.shared().connect.timeout,
            ..Pop3Options::default()
        };
        pop3::connect(
            &self.endpoint(),
            &self.credential(),
            &self.shared().tls,
            meter,
            &options,
        )
        .await
    }
}
