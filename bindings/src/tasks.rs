//! Running core work on the engine's runtime: one owned tokio runtime, every exported call
//! spawned onto it and awaited through a handle that aborts the task when the caller's
//! future is dropped (a cancelled Kotlin coroutine or Swift task), and panics caught there
//! and turned into `AnvertError`. Long-running work returns a [`TaskHandle`].

use std::{
    any::Any,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use tokio::{
    runtime::Runtime,
    task::{JoinError, JoinHandle},
};
use tokio_util::sync::CancellationToken;

use crate::error::{AnvertError, from_panic};

/// Worker threads of the engine's runtime: sync work is I/O-bound and phones have few cores.
const WORKERS: usize = 2;

/// Builds the engine's one runtime.
pub(crate) fn runtime() -> Result<Runtime, AnvertError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name("anvert-worker")
        .enable_all()
        .build()
        .map_err(|e| AnvertError::Other {
            reason: format!("could not start the engine's runtime: {e}"),
        })
}

/// A spawned task that is aborted when this handle is dropped before it finished.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// What every spawned call runs as: one future type and one result type, so the runtime's
/// task machinery is compiled once rather than once per exported method (issue 7, library
/// size: about 40 copies of tokio's task harness before).
type Erased = Box<dyn Any + Send>;
type ErasedWork = Pin<Box<dyn Future<Output = anvert_core::Result<Erased>> + Send>>;

fn erase<T, F>(work: F) -> ErasedWork
where
    F: Future<Output = anvert_core::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Box::pin(async move { work.await.map(|value| Box::new(value) as Erased) })
}

/// The value `erase` boxed. The downcast cannot fail: `run` and `block_on` erase and unerase
/// the same `T`; an error rather than a panic keeps even a broken invariant off the FFI.
fn unerase<T: 'static>(value: Erased) -> Result<T, AnvertError> {
    value
        .downcast::<T>()
        .map(|value| *value)
        .map_err(|_| AnvertError::Other {
            reason: "internal error: a call returned an unexpected type".into(),
        })
}

fn joined(result: Result<anvert_core::Result<Erased>, JoinError>) -> Result<Erased, AnvertError> {
    match result {
        Ok(result) => result.map_err(Into::into),
        Err(e) if e.is_panic() => Err(from_panic(e.into_panic().as_ref())),
        Err(_) => Err(AnvertError::Cancelled),
    }
}

/// Runs `work` on `rt` and waits for it from any executor (UniFFI's foreign-driven futures
/// need no tokio context for this). Dropping the returned future aborts the work at its next
/// await point, which the core keeps safe (nothing half-written survives).
pub(crate) async fn run<T, F>(rt: &Runtime, work: F) -> Result<T, AnvertError>
where
    F: Future<Output = anvert_core::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    unerase(run_erased(rt, erase(work)).await?)
}

async fn run_erased(rt: &Runtime, work: ErasedWork) -> Result<Erased, AnvertError> {
    joined(AbortOnDrop(rt.spawn(work)).await)
}

/// Runs `work` to completion on the calling thread (for the few blocking calls, such as
/// opening the engine). Must not be called from inside the runtime.
pub(crate) fn block_on<T, F>(rt: &Runtime, work: F) -> Result<T, AnvertError>
where
    F: Future<Output = anvert_core::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    unerase(joined(rt.block_on(rt.spawn(erase(work))))?)
}

/// Long-running work (a download, push, a watch) that the app can cancel. Dropping the
/// handle (or Kotlin's `close()`, Swift's deinit) cancels it too.
#[derive(Debug, uniffi::Object)]
pub struct TaskHandle {
    cancel: CancellationToken,
    finished: Arc<AtomicBool>,
}

impl TaskHandle {
    /// Spawns `work` with a fresh cancellation token; the handle reports when it ended.
    pub(crate) fn spawn<F, Fut>(rt: &Runtime, work: F) -> Arc<TaskHandle>
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let cancel = CancellationToken::new();
        let finished = Arc::new(AtomicBool::new(false));
        let done = finished.clone();
        let fut = work(cancel.clone());
        let task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            // Set even when `fut` panics (tokio catches that and ends only this task).
            let _finished = SetOnDrop(done);
            fut.await;
        });
        rt.spawn(task);
        Arc::new(TaskHandle { cancel, finished })
    }
}

/// Spawns `work` on the current runtime as the same boxed `()` future type as
/// [`TaskHandle::spawn`]'s, so tokio's task harness is not compiled again for it.
pub(crate) fn spawn_unit(work: impl Future<Output = ()> + Send + 'static) -> JoinHandle<()> {
    let work: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(work);
    tokio::spawn(work)
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[uniffi::export]
impl TaskHandle {
    /// Asks the work to stop. A download stops within one chunk and keeps what it has, so
    /// starting it again resumes; a watch or push stops delivering at once.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether the work has ended (finished, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
