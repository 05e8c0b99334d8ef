//! POP3 accounts through the same `Engine::sync`: connect (implicit TLS or STLS, never a
//! plaintext fallback), run `sync::sync_pop3_account` into the account's synthetic INBOX,
//! QUIT (which is when the server applies any DELE the deletion policy issued), and add the
//! bytes to the ledger whatever happened. The delete policy is `SyncRequest::pop3_delete`.
//! Deleting POP3 messages in the app (`Engine::delete_messages` calls `delete_pop3_messages`)
//! removes them locally at once and leaves the server copy to the next sync's policy.

use std::collections::BTreeMap;

use super::{Engine, events, unix_now};
use crate::{
    account::{AccountSession, book},
    net::WireMeter,
};
use crate::{
    error::Result,
    policy::SyncRequest,
    pop3::{self, Pop3Options},
    store::{AccountId, FolderId, MessageId},
    sync::{self, SyncEvent, SyncReport},
};

impl Engine {
    /// One POP3 sync pass (the caller checked the network and holds the account's lock).
    pub(super) async fn sync_pop3(
        &self,
        account: AccountId,
        runtime: &AccountSession,
        request: &SyncRequest,
    ) -> Result<SyncReport> {
        // POP3 is never kept warm: the server holds the maildrop lock while connected.
        let _one_at_a_time = runtime.busy.lock().await;
        let meter = WireMeter::new();
        let listener = self.listener();
        let result = async {
            let mut session = self.connect_pop3(runtime, &meter).await?;
            let report = sync::sync_pop3_account(
                &mut session,
                &self.store,
                account,
                request,
                &self.data_dir,
                unix_now(),
                events(&listener),
            )
            .await;
            // QUIT applies DELE; a failed QUIT only means nothing was deleted, and every
            // message stays stored locally either way.
            let _ = session.quit().await;
            report
        }
        .await;
        let spent = meter.totals();
        book(&self.store, account, request.network, &spent).await?;
        let mut report = result?;
        report.bytes = spent;
        Ok(report)
    }

    /// Downloads a headers-only POP3 message in full because the app opened it (POP3 has no
    /// per-part fetch: RETR brings the whole message, parsed into the same rows, body and
    /// attachment files as a sync's). The bytes go to the ledger under `network`.
    pub(super) async fn retrieve_pop3(
        &self,
        message: MessageId,
        network: crate::policy::NetworkKind,
    ) -> Result<()> {
        let location =
            self.store
                .message_location(message)
                .await?
                .ok_or(crate::error::Error::NotFound {
                    what: "message",
                    id: message.0,
                })?;
        let account = location.account;
        let known = self
            .store
            .pop3_known(account)
            .await?
            .into_iter()
            .find(|k| k.message == Some(message))
            .ok_or(crate::error::Error::NotFound {
                what: "POP3 message",
                id: message.0,
            })?;
        if known.state == crate::store::Pop3State::Full {
            return Ok(());
        }
        let runtime = self.runtime(account)?;
        let _one_at_a_time = runtime.busy.lock().await;
        let meter = WireMeter::new();
        let listener = self.listener();
        let prefer_html = crate::policy::ContentPolicy::for_network(network).prefer_html;
        let result = async {
            let mut session = self.connect_pop3(&runtime, &meter).await?;
            let fetched = sync::fetch_pop3_message(
                &mut session,
                &self.store,
                &known,
                location.folder,
                prefer_html,
                &self.data_dir,
                unix_now(),
                events(&listener),
            )
            .await;
            let _ = session.quit().await;
            fetched
        }
        .await;
        book(&self.store, account, network, &meter.totals()).await?;
        match result? {
            true => Ok(()),
            false => Err(crate::error::Error::NotFound {
                what: "message on the server",
                id: message.0,
            }),
        }
    }

    /// A logged-in POP3 session for the account (implicit TLS or STLS, never plaintext
    /// unless the account says `danger_plaintext`).
    async fn connect_pop3(
        &self,
        runtime: &AccountSession,
        meter: &WireMeter,
    ) -> Result<pop3::Pop3Session> {
        let options = Pop3Options {
            timeout: self.connect.timeout,
            ..Pop3Options::default()
        };
        pop3::connect(
            &runtime.endpoint(),
            &runtime.credential(),
            &self.tls,
            meter,
            &options,
        )
        .await
    }

    /// Deletes POP3 messages of `account` in the app: their rows, bodies and attachment files
    /// go now (the listener hears `MessagesRemoved`), and their UIDLs are remembered as
    /// deleted locally, so no sync downloads them again. The next sync whose
    /// `SyncRequest::pop3_delete` is anything but `LeaveOnServer` (e.g.
    /// `Pop3DeletePolicy::WhenDeletedLocally`) sends DELE for them; with `LeaveOnServer` the
    /// server copy stays. Ids of other accounts are ignored.
    pub(super) async fn delete_pop3_messages(
        &self,
        account: AccountId,
        messages: &[MessageId],
    ) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let removed = self.store.pop3_delete_local(account, messages).await?;
        let mut by_folder: BTreeMap<FolderId, Vec<u32>> = BTreeMap::new();
        for (id, folder, uid) in &removed {
            by_folder.entry(*folder).or_default().push(*uid);
            let dir = self.data_dir.join("attachments").join(id.0.to_string());
            match tokio::fs::remove_dir_all(&dir).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        let listener = self.listener();
        for (folder, uids) in by_folder {
            events(&listener).emit(SyncEvent::MessagesRemoved { folder, uids });
        }
        Ok(())
    }
}
