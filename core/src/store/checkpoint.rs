//! WAL checkpoints on a connection of their own (issue 19).
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that one
//! commit then copies the whole log into the database file and syncs it. On a 100,000-message
//! store that stalled a 1,000-flag delta past its 50 ms budget once in every dozen runs, and
//! it put the copy on the sync's critical path.
//!
//! Here a task with its own connection runs a PASSIVE checkpoint after every
//! [`EVERY_WRITES`]th write transaction begins. PASSIVE neither takes the write lock nor waits
//! for readers, so the writer goes on appending to the log while the task copies what was
//! already committed. Requests coalesce: while one checkpoint runs, at most one more waits.
//!
//! The writer keeps SQLite's automatic checkpoint as a backstop at [`WRITER_BACKSTOP_PAGES`]:
//! should the task fall behind (or be gone), the log still stops growing there. The pages
//! the task has already copied cost that checkpoint nothing.
//!
//! The POP3 sync's "make durable" (a FULL checkpoint before the server deletes anything) goes
//! through the same task, so that two checkpoints never race: SQLite refuses a second
//! checkpointer with SQLITE_BUSY without waiting.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{ConnectOptions, Connection, SqliteConnection, sqlite::SqliteConnectOptions};
use tokio::sync::{mpsc, oneshot};

use super::{invalid, sql};
use crate::Result;

/// Write transactions between two background checkpoints. A header-sync window is a few
/// hundred pages and a flag delta of 1,000 messages about a hundred, so a checkpoint copies a
/// few thousand pages at most.
pub(super) const EVERY_WRITES: u32 = 8;

/// The writer's own automatic checkpoint, in log pages (4 KiB each): only reached when the
/// background task falls behind.
pub(super) const WRITER_BACKSTOP_PAGES: u32 = 16_000;

enum Request {
    Passive,
    Full(oneshot::Sender<Result<()>>),
    Close(oneshot::Sender<()>),
}

/// The handle the store keeps; the task ends when the store closes or its last clone drops.
#[derive(Debug)]
pub(super) struct Checkpointer {
    requests: mpsc::Sender<Request>,
    writes: AtomicU32,
}

impl Checkpointer {
    /// Opens the task's connection and starts it on the current runtime.
    pub(super) async fn start(options: &SqliteConnectOptions) -> Result<Checkpointer> {
        let conn = options
            .connect()
            .await
            .map_err(sql("open the checkpoint connection"))?;
        // One request running, one waiting: a third `Passive` would copy nothing more.
        let (requests, receiver) = mpsc::channel(1);
        tokio::spawn(serve(conn, receiver));
        Ok(Checkpointer {
            requests,
            writes: AtomicU32::new(0),
        })
    }

    /// Called as each write transaction begins: every `EVERY_WRITES`th asks for a PASSIVE
    /// checkpoint of what is committed by then. Never waits.
    pub(super) fn wrote(&self) {
        let n = self.writes.fetch_add(1, Ordering::Relaxed);
        if n % EVERY_WRITES == EVERY_WRITES - 1 {
            // Full: a checkpoint is already waiting, and it will copy these pages too.
            // Closed: the store is closing, and closing checkpoints the whole log.
            let _ = self.requests.try_send(Request::Passive);
        }
    }

    /// Copies the whole log into the database file and syncs it (a FULL checkpoint), waiting
    /// for a writer in progress to commit first.
    pub(super) async fn full(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Full(reply))
            .await
            .map_err(|_| invalid("the store is closed"))?;
        answer
            .await
            .map_err(|_| invalid("the checkpoint task ended"))?
    }

    /// Stops the task and closes its connection.
    pub(super) async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.requests.send(Request::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

async fn serve(mut conn: SqliteConnection, mut requests: mpsc::Receiver<Request>) {
    let mut closed = None;
    while let Some(request) = requests.recv().await {
        match request {
            Request::Passive => {
                if let Err(e) = checkpoint(&mut conn, "PRAGMA wal_checkpoint(PASSIVE)").await {
                    // The writer's backstop keeps the log bounded; the next request retries.
                    tracing::debug!(error = %e, "background checkpoint failed");
                }
            }
            Request::Full(reply) => {
                let _ = reply.send(full(&mut conn).await);
            }
            Request::Close(reply) => {
                closed = Some(reply);
                break;
            }
        }
    }
    let _ = conn.close().await;
    if let Some(reply) = closed {
        let _ = reply.send(());
    }
}

/// A FULL checkpoint. Its busy handler waits for the writer's transaction to end; under a
/// stream of write transactions (other accounts syncing) it may still find no gap within the
/// busy timeout, so it tries [`FULL_ATTEMPTS`] times before reporting the database busy.
async fn full(conn: &mut SqliteConnection) -> Result<()> {
    let mut last = (0, 0, 0);
    for _ in 0..FULL_ATTEMPTS {
        last = checkpoint(conn, "PRAGMA wal_checkpoint(FULL)").await?;
        let (busy, log, copied) = last;
        if busy == 0 && copied >= log {
            return Ok(());
        }
    }
    let (_, log, copied) = last;
    Err(invalid(format!(
        "the checkpoint could not copy the whole log ({copied} of {log} pages): the database \
         stayed busy"
    )))
}

const FULL_ATTEMPTS: u32 = 3;

/// Runs one `wal_checkpoint` pragma: (busy, pages in the log, pages copied).
async fn checkpoint(conn: &mut SqliteConnection, pragma: &'static str) -> Result<(i64, i64, i64)> {
    sqlx::query_as(pragma)
        .fetch_one(&mut *conn)
        .await
        .map_err(sql("checkpoint the database"))
}
