//! Logs for the app: records from `tracing` (the engine) and from `log` (async-imap, rustls,
//! sqlx) go to one optional foreign [`Logger`], for logcat or os_log. The engine logs no
//! personal data at info level and above; secrets never reach a log at any level (and
//! async-imap's command trace, which would show them, is compiled out). Release builds keep
//! info and above only (the `release-log-info` feature): `Debug` then adds nothing.

use std::sync::{Arc, OnceLock, RwLock};

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

fn emit(level: LogLevel, target: &str, message: String) {
    if let Ok(sink) = sink().read()
        && level <= sink.level
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
    if let Ok(mut sink) = sink().write() {
        sink.level = level;
        sink.logger = logger;
    }
    set_log_max(level);
}

/// Sets only the level (keeps the logger): `EngineConfig::log_level` when an engine opens.
pub(crate) fn set_level(level: LogLevel) {
    if let Ok(mut sink) = sink().write()
        && sink.logger.is_some()
    {
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
