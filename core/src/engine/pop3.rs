//! POP3 accounts through the same `Engine::sync`: connect (implicit TLS or STLS, never a
//! plaintext fallback), run `sync::sync_pop3_account` into the account's synthetic INBOX,
//! QUIT (which is when the server applies any DELE the deletion policy issued), and add the
//! bytes to the ledger whatever happened. The delete policy is `SyncRequest::pop3_delete`.

use super::{Engine, Runtime, events, unix_now};
use crate::{
    error::Result,
    policy::SyncRequest,
    pop3::{self, Pop3Options},
    store::AccountId,
    sync::{self, SyncReport},
};

impl Engine {
    /// One POP3 sync pass (the caller checked the network and holds the account's lock).
    pub(super) async fn sync_pop3(
        &self,
        account: AccountId,
        runtime: &Runtime,
        request: &SyncRequest,
    ) -> Result<SyncReport> {
        let before = runtime.meter.totals();
        let listener = self.listener();
        let options = Pop3Options {
            timeout: self.connect.timeout,
            ..Pop3Options::default()
        };
        let result = async {
            let mut session = pop3::connect(
                &runtime.endpoint,
                &runtime.credential,
                &self.tls,
                &runtime.meter,
                &options,
            )
            .await?;
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
        let spent = self
            .record_usage(account, request.network, runtime, &before)
            .await?;
        let mut report = result?;
        report.bytes = spent;
        Ok(report)
    }
}
