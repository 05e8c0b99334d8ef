//! Content on demand, routed: a message's readable body when it is opened, and attachment
//! downloads. The engine checks what the store already has and where the message lives,
//! then hands the network work to the account (`account`), which runs it over its warm
//! connection ahead of background work; the protocol-and-store work itself is in `sync`
//! (`sync::ondemand`, `sync::download`).

use std::path::{Path, PathBuf};

use super::Engine;
use crate::{
    account::ProgressListener,
    blobs,
    error::{Error, Result},
    policy::NetworkKind,
    store::{CachedContent, DownloadState, MessageId},
    sync::{self, Body, Download, Existing},
};

impl Engine {
    /// The readable body of a message: from the store when it is there, else fetched (only
    /// the text/plain or text/html part the policy prefers, never an attachment), stored
    /// compressed, and returned.
    pub async fn fetch_body(&self, message: MessageId, network: NetworkKind) -> Result<Body> {
        if let Some(stored) = sync::stored_body(&self.store, message).await? {
            return Ok(stored);
        }
        if network == NetworkKind::Offline {
            return Err(Error::Offline);
        }
        let (location, detail) = sync::locate(&self.store, message).await?;
        if self.account(location.account).await?.kind == crate::store::AccountKind::Pop3 {
            // Headers-only POP3 message: RETR it whole, then serve the stored body.
            self.retrieve_pop3(message, network).await?;
            return Box::pin(self.fetch_body(message, NetworkKind::Offline)).await;
        }
        let prefer_html = crate::policy::ContentPolicy::for_network(network).prefer_html;
        let part = sync::body_part(&detail.parts, prefer_html)
            .ok_or(Error::NotFound {
                what: "readable part of message",
                id: message.0,
            })?
            .clone();
        self.runtime(location.account)?
            .fetch_body(message, &location, &detail, &part, network)
            .await
    }

    /// Downloads one part into `dir` (under a sanitised version of its file name), resuming
    /// where an earlier attempt stopped. Returns the finished file's path. Cancelling stops
    /// within one chunk and keeps the resumable state; [`Engine::delete_download`] discards it.
    pub async fn download_part(
        &self,
        message: MessageId,
        section: &str,
        dir: &Path,
        network: NetworkKind,
        listener: Option<&dyn ProgressListener>,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<PathBuf> {
        if network != NetworkKind::Offline && self.is_pop3(message).await? {
            // POP3 has no per-part fetch: RETR the message whole unless it is stored in full
            // (that writes its attachments as files), then hand over the stored file.
            self.retrieve_pop3(message, network).await?;
            return Box::pin(self.download_part(
                message,
                section,
                dir,
                NetworkKind::Offline,
                listener,
                cancel,
            ))
            .await;
        }
        let (location, detail) = sync::locate(&self.store, message).await?;
        let part = detail
            .parts
            .iter()
            .find(|p| p.section == section)
            .ok_or(Error::NotFound {
                what: "part of message",
                id: message.0,
            })?
            .clone();
        let existing = match sync::existing_download(&self.store, message, &part).await? {
            Existing::Done(path) => return Ok(path),
            Existing::Partial(record) => Some(record),
            Existing::None => None,
        };
        if network == NetworkKind::Offline {
            return Err(Error::Offline);
        }
        let account = self.runtime(location.account)?;
        let (record, file) = match existing {
            Some(record) => (record, None),
            None => {
                let (record, file) = sync::claim_download(&self.store, message, &part, dir).await?;
                (record, Some(file))
            }
        };
        let download = Download::open(location.clone(), part, record, file).await?;
        let path = account
            .download(download, network, listener, cancel)
            .await?;
        // The file just handed back stays even when it alone exceeds the budget.
        self.keep_cache_budget(location.account, Some((message, section)))
            .await?;
        Ok(path)
    }

    /// Forgets a download (partial or complete) and removes its files.
    pub async fn delete_download(&self, message: MessageId, section: &str) -> Result<()> {
        if let Some(record) = self.store.download(message, section).await? {
            blobs::remove_partial(&record.destination).await?;
            if record.state == DownloadState::Complete {
                match crate::blobs::fsio::remove_file(&record.destination).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
        }
        self.store.delete_download(message, section).await
    }

    /// Frees at least `bytes` of the account's cached bodies and finished downloads, least
    /// recently used first. Message metadata stays, so anything evicted can be fetched again.
    /// Returns the bytes freed.
    pub async fn evict_cache(&self, account: crate::store::AccountId, bytes: u64) -> Result<u64> {
        self.evict_except(account, bytes, None).await
    }

    /// `evict_cache`, sparing the download `keep` (message, section).
    async fn evict_except(
        &self,
        account: crate::store::AccountId,
        bytes: u64,
        keep: Option<(MessageId, &str)>,
    ) -> Result<u64> {
        // With an item to spare, the candidates for `bytes` may include it: ask for all of
        // them (least recently used first) and stop once enough is freed.
        let wanted = if keep.is_some() { u64::MAX } else { bytes };
        let mut freed = 0;
        for item in self.store.eviction_candidates(account, wanted).await? {
            if freed >= bytes {
                break;
            }
            match &item.content {
                CachedContent::Body { message } => self.store.evict_body(*message).await?,
                CachedContent::Download {
                    message,
                    section,
                    destination,
                } => {
                    if keep == Some((*message, section.as_str())) {
                        continue;
                    }
                    match crate::blobs::fsio::remove_file(destination).await {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                        _ => {}
                    }
                    self.store.delete_download(*message, section).await?;
                }
            }
            freed += item.bytes;
        }
        Ok(freed)
    }

    /// Keeps the account's cache (bodies, downloaded files) within `EngineConfig::cache_budget`,
    /// evicting least recently used first but never the download `keep`. Returns the bytes
    /// freed.
    pub(super) async fn keep_cache_budget(
        &self,
        account: crate::store::AccountId,
        keep: Option<(MessageId, &str)>,
    ) -> Result<u64> {
        let Some(budget) = self.cache_budget else {
            return Ok(0);
        };
        let used = self.store.cache_usage(account).await?;
        if used <= budget {
            return Ok(0);
        }
        self.evict_except(account, used - budget, keep).await
    }

    /// Whether a stored message belongs to a POP3 account.
    async fn is_pop3(&self, message: MessageId) -> Result<bool> {
        let account = self.account_of(message).await?;
        Ok(self.account(account).await?.kind == crate::store::AccountKind::Pop3)
    }

    /// The account a stored message belongs to.
    pub async fn account_of(&self, message: MessageId) -> Result<crate::store::AccountId> {
        self.store
            .message_location(message)
            .await?
            .map(|l| l.account)
            .ok_or(Error::NotFound {
                what: "message",
                id: message.0,
            })
    }
}
