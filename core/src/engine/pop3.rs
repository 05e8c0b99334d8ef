//! POP3 accounts through the same `Engine::sync` and `Engine::fetch_body`: routed to the
//! account (`account/pop3.rs`, which connects, works and QUITs each time). The delete policy
//! is `SyncRequest::pop3_delete`. Deleting POP3 messages in the app
//! (`Engine::delete_messages` calls `delete_pop3_messages`) removes them locally at once and leaves the server copy to the next sync's policy.

use std::collections::BTreeMap;

use super::{Engine, events, unix_now};
use crate::{
    error::Result,
    policy::NetworkKind,
    store::{AccountId, FolderId, MessageId},
    sync::SyncEvent,
};

impl Engine {
    /// Downloads a headers-only POP3 message in full because the app opened it; the bytes go
    /// to the ledger under `network`.
    pub(super) async fn retrieve_pop3(
        &self,
        message: MessageId,
        network: NetworkKind,
    ) -> Result<()> {
        let location =
            self.store
                .message_location(message)
                .await?
                .ok_or(crate::error::Error::NotFound {
                    what: "message",
                    id: message.0,
                })?;
        let listener = self.listener();
        self.runtime(location.account)?
            .retrieve_pop3(
                message,
                &location,
                network,
                unix_now(),
                &self.data_dir,
                events(&listener),
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
            match crate::blobs::fsio::remove_dir_all(&dir).await {
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
