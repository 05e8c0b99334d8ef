//! Logs for the app: records from `tracing` (the engine) and from `log` (async-imap, rustls,
//! sqlx) go to one optional foreign [`Logger`], for logcat or os_log. The engine logs no
//! personal data at info level and above; secrets never reach a log at any level (and
//! async-imap's command trace, which would show them, is compiled out). Release builds keep
//! info and above only (the `release-log-info` feature): `Debug` then adds nothing.

use std::sync::{Arc, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How much to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
}

/// Receives log lines (on whatever thread logged them: keep it quick).
#[uniffi::export(with_foreign)]
pub trait Logger: Send + Sync {
    fn log(&self, level: LogLevel, target: String, message: String);
}

struct Sink {
    logger: Option<Arc<dyn Logger>>,
    level: LogLevel,
}

fn sink() -> &'static RwLock<Sink> {
    static SINK: OnceLock<RwLock<Sink>> = OnceLock::new();
    SINK.get_or_init(|| {
        RwLock::new(Sink {
            logger: None,
            level: LogLevel::Off,
        })
    })
}

/// The sink for reading. Its writers only assign its two fields, so a panic cannot leave it
/// half-written: a poisoned lock is cleared (and said so in the log) rather than leaving the
/// app without logs. The warning goes out with no guard held (it comes back through `emit`).
fn read_sink() -> RwLockReadGuard<'static, Sink> {
    if let Ok(guard) = sink().read() {
        return guard;
    }
    sink().clear_poison();
    tracing::warn!("a panic poisoned the log sink's lock; cleared");
    sink().read().unwrap_or_else(PoisonError::into_inner)
}

/// The sink for writing; a poisoned lock is cleared as in [`read_sink`].
fn write_sink() -> RwLockWriteGuard<'static, Sink> {
    if let Ok(guard) = sink().write() {
        return guard;
    }
    sink().clear_poison();
    tracing::warn!("a panic poisoned the log sink's lock; cleared");
    sink().write().unwrap_or_else(PoisonError::into_inner)
}

fn emit(level: LogLevel, target: &str, message: String) {
    let sink = read_sink();
    if level <= sink.level
        && let Some(logger) = &sink.logger
    {
        logger.log(level, target.to_string(), message);
    }
}

/// Sends log lines at `level` and above to `logger` (`None` stops logging). Process-wide:
/// the last call wins. Installs the bridges on first use.
#[uniffi::export]
pub fn set_logger(logger: Option<Arc<dyn Logger>>, level: LogLevel) {
    install_bridges();
    let level = if logger.is_some() {
        level
    } else {
        LogLevel::Off
    };
    {
        let mut sink = write_sink();
        sink.level = level;
        sink.logger = logger;
    }
    set_log_max(level);
}

/// Sets only the level (keeps the logger): `EngineConfig::log_level` when an engine opens.
pub(crate) fn set_level(level: LogLevel) {
    let mut sink = write_sink();
    if sink.logger.is_some() {
        sink.level = level;
        set_log_max(level);
    }
}

fn set_log_max(level: LogLevel) {
    log::set_max_level(match level {
        LogLevel::Off => log::LevelFilter::Off,
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
    });
}

fn install_bridges() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Either may already be taken by the app's own setup; then that one wins.
        let _ = log::set_logger(&LogBridge);
        let _ = tracing::subscriber::set_global_default(TracingBridge);
    });
}

struct LogBridge;

impl log::Log for LogBridge {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = match record.level() {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug | log::Level::Trace => LogLevel::Debug,
        };
        emit(level, record.target(), record.args().to_string());
    }

    fn flush(&self) {}
}

/// Events only: the engine's messages carry their context in fields, so spans are not
/// tracked (every span gets the same id). A registry and layer did the same with about
/// 8 KB more code (issue 7, library size).
struct TracingBridge;

impl tracing::Subscriber for TracingBridge {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let meta = event.metadata();
        let level = match *meta.level() {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            _ => LogLevel::Debug,
        };
        let mut text = Text(String::new());
        event.record(&mut text);
        emit(level, meta.target(), text.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Formats an event's fields as `message key=value ...`.
struct Text(String);

impl tracing::field::Visit for Text {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        } else {
            self.0.push_str(&format!("{}={value:?}", field.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);

    impl Logger for Lines {
        fn log(&self, _: LogLevel, _: String, message: String) {
            if let Ok(mut lines) = self.0.lock() {
                lines.push(message);
            }
        }
    }

    #[test]
    fn a_poisoned_log_sink_still_logs() {
        std::thread::scope(|s| {
            let held = s.spawn(|| {
                let _guard = sink().write();
                panic!("poisoning the lock on purpose");
            });
            assert!(held.join().is_err());
        });
        assert!(sink().is_poisoned());
        let lines = Arc::new(Lines::default());
        set_logger(Some(lines.clone()), LogLevel::Debug);
        emit(LogLevel::Info, "test", "after the panic".into());
        set_logger(None, LogLevel::Off);
        let got = lines.0.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(got.iter().any(|l| l == "after the panic"), "{got:?}");
    }
}
