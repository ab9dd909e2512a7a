//! What the libraries log, on standard error: meanet's own warnings (a cloud link failing for a
//! reason the user can act on, such as a certificate the link refuses; a server that stops),
//! and errors from the crates below them. `MEANET_LOG=debug` (or `info`, `error`, `off`) changes
//! meanet's level; the default is `warn`.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The environment variable that sets meanet's log level.
pub const LOG_ENV: &str = "MEANET_LOG";

/// meanet's level from `value` (`MEANET_LOG`): `warn` when unset or not a level.
pub fn level(value: Option<&str>) -> LevelFilter {
    value
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::WARN)
}

/// Installs the logger (once; a second call does nothing).
pub fn init() {
    let level = level(std::env::var(LOG_ENV).ok().as_deref());
    let filter = Targets::new()
        .with_default(LevelFilter::ERROR.min(level))
        .with_target("meanet", level);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_defaults_to_warn_and_reads_the_variable() {
        assert_eq!(level(None), LevelFilter::WARN);
        assert_eq!(level(Some("debug")), LevelFilter::DEBUG);
        assert_eq!(level(Some("off")), LevelFilter::OFF);
        assert_eq!(level(Some("loud")), LevelFilter::WARN);
    }
}
