//! The local store: the only module that runs SQL. SQLite through sqlx, in WAL mode, with
//! exactly one writer connection and a small pool of query-only readers; the schema comes from
//! the numbered files in `core/migrations`, embedded at build time and applied on open.
//!
//! The store knows nothing of the network: the sync layer converts protocol data into the
//! record types defined here (`NewMessage`, `FolderRecord`, `Delta`, ...). Every write is one
//! transaction, so a crash or a dropped future never leaves half a window, and the folder sync
//! state (UIDVALIDITY, HIGHESTMODSEQ, ...) only moves together with the rows it describes.
//! Functions that write take the writer (`BEGIN IMMEDIATE`); functions that read take a reader.
//!
//! Batches (flag changes, Message-ID links, re-sent messages) are sent to SQLite as one JSON
//! array bound to a single parameter and unpacked with `json_each`, so a window of hundreds
//! of messages costs a handful of statements instead of thousands of round trips, and every
//! statement text is fixed (and so prepared once per connection). New messages, the bulk of
//! a sync, go in as multi-row `INSERT … VALUES` of bound parameters in power-of-two chunks
//! (a few statement texts), which spares SQLite the JSON unpacking (see `messages`).
//!
//! It must never store a password or a token, and never put message content into an error.

/// The columns a `MessageSummary` is read from (see `query::summary_from_row`); the messages
/// table is always aliased `m`. A macro so that queries stay `&'static str` via `concat!`.
macro_rules! summary_columns {
    () => {
        "m.id, m.folder_id, m.uid, m.thread_id, m.flags, m.keywords, m.local_keywords, \
         m.internal_date, m.date, m.size, m.subject, m.from_addrs, m.to_addrs, m.preview, \
         m.has_attachments"
    };
}

mod accounts;
mod checkpoint;
mod codec;
mod content;
mod delta;
mod folders;
mod hits;
mod json;
mod ledger;
mod locate;
mod messages;
mod migrate;
mod moves;
mod moves_wait;
mod objectid;
mod ops;
mod outbox;
mod parts;
mod pop3;
mod prepared;
mod previews;
mod query;
mod search;
pub(crate) mod sqltext;
#[cfg(test)]
mod test_support;
mod threads;
mod upsert;

use std::{path::Path, sync::Arc, time::Duration};

use sqlx::{
    Sqlite, SqlitePool, Transaction,
    pool::PoolConnection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::{Error, Result};

pub use accounts::{Account, AccountKind, NewAccount};
pub use content::{CachedContent, DownloadRecord, Evictable, StoredBody, TransferMode};
pub use delta::{Delta, DeltaApplied, FlagChange, UidRange};
pub use folders::{FolderRecord, FolderSummary, FolderSyncState, Role};
pub use hits::SEARCH_HIT_TTL;
pub use ledger::UsageRow;
pub use locate::MessageLocation;
pub use messages::{Address, DownloadState, Flags, NewMessage, NewPart, SystemFlags};
pub use moves::{
    DraftRecord, LOCAL_UID_BASE, LocalChanges, MailboxOp, MailboxOpKind, MailboxSettled,
    PendingMailboxOp, Rekey,
};
pub use objectid::{EmailOwner, Takeover};
pub use ops::{
    FlagOpChange, LocalKeyword, MessageFlagOps, PendingOp, QueuedFlags, has_flag, keeps_flag,
    set_flag,
};
pub use outbox::{
    NewOutgoing, OriginalPlace, OutPart, OutboxId, OutboxItem, OutboxState, OutboxUpdate,
    OutgoingSource, OutgoingWork, RejectedRecipient,
};
pub use pop3::{NewPop3Message, Pop3Content, Pop3Download, Pop3Known, Pop3State};
pub use prepared::Prepared;
pub use previews::{PrefetchPart, PreviewSource};
pub use query::{Cursor, HotQuery, MAX_PAGE, MessageDetail, MessageSummary, Page, PartDetail};

/// How many query-only reader connections the store keeps at most.
const READERS: u32 = 4;

/// How long a connection waits on a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An account's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub i64);

/// A folder's row id; stable while the folder exists under the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FolderId(pub i64);

/// A message's row id, the id apps see; stable while the message exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub i64);

/// A conversation's id. It groups messages; when a new message links two conversations they
/// merge and one of the two ids disappears, so apps should not keep it for long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(pub i64);

/// The local SQLite store. Cheap to clone (the pools are shared).
#[derive(Debug, Clone)]
pub struct Store {
    writer: SqlitePool,
    readers: SqlitePool,
    /// WAL checkpoints off the writer's path (see `checkpoint`).
    checkpointer: Arc<checkpoint::Checkpointer>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings it to the current schema.
    /// Re-running migrations on an up-to-date file does nothing.
    pub async fn open(path: impl AsRef<Path>) -> Result<Store> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);

        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    // The writer's temporary files in memory, as SQLite on Android always
                    // keeps them (libsqlite3-sys builds it with SQLITE_TEMP_STORE=3 there).
                    // Chiefly statement journals: the undo copy of every page a multi-row
                    // INSERT changes, past 64 KiB spilled to a temporary file that is written
                    // and never read. At 100,000 messages a header sync wrote 1,252 MiB, about
                    // 490 MiB of it such journals; now 740 MiB (README, issue 19). Their size
                    // is bounded by what one statement changes (about 250 KiB per window
                    // insert here), for about 1.4 MiB more peak memory. Raising the spill
                    // threshold instead (SQLITE_STMTJRNL_SPILL) is not safe: SQLite writes a
                    // spilled journal in one call, and its file layer caps one write at
                    // 128 KiB, so a 1 MiB threshold failed a window with SQLITE_FULL.
                    .pragma("temp_store", "MEMORY")
                    .pragma(
                        "wal_autocheckpoint",
                        checkpoint::WRITER_BACKSTOP_PAGES.to_string(),
                    ),
            )
            .await
            .map_err(sql("open the database for writing"))?;
        {
            let mut conn = writer
                .acquire()
                .await
                .map_err(sql("open the database for writing"))?;
            migrate::run(&mut conn).await?;
        }

        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .connect_with(options.clone().pragma("query_only", "ON"))
            .await
            .map_err(sql("open the database for reading"))?;
        let checkpointer = Arc::new(checkpoint::Checkpointer::start(&options).await?);

        Ok(Store {
            writer,
            readers,
            checkpointer,
        })
    }

    /// Closes both pools, waiting for connections in use to come back, and the checkpoint
    /// task's connection (the last to close checkpoints the whole log).
    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
        self.checkpointer.close().await;
    }

    /// Starts the one write transaction; waits while another write is in progress.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.checkpointer.wrote();
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(sql("begin a write transaction"))
    }

    /// A query-only connection for single-statement reads.
    async fn read(&self) -> Result<PoolConnection<Sqlite>> {
        self.readers
            .acquire()
            .await
            .map_err(sql("acquire a reader"))
    }

    /// A read transaction, for reads that need one consistent snapshot over several statements.
    async fn read_snapshot(&self) -> Result<Transaction<'static, Sqlite>> {
        self.readers
            .begin()
            .await
            .map_err(sql("begin a read transaction"))
    }
}

/// Maps a sqlx error to the core's error, naming what the store was doing.
fn sql(during: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |source| Error::Store {
        reason: format!("could not {during}"),
        source: Some(source),
    }
}

/// A store error without an underlying SQL error (bad value, broken invariant).
fn invalid(reason: impl Into<String>) -> Error {
    Error::Store {
        reason: reason.into(),
        source: None,
    }
}
