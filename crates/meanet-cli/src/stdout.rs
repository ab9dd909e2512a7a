//! The one place where every command's standard output goes.
//!
//! Output is what a user pipes on (`meanet --json profile M.onnx | jq`, `meanet runtime | head
//! -1`). When the reader goes away first, the write fails with `EPIPE`: that is the end of the
//! output, not an error. [`is_closed_pipe`] recognises it anywhere in an error's chain, and the
//! binary then stops quietly with status 0, as Unix tools do. Rust's own `println!` would panic
//! instead, so the crate denies `print_stdout` outside this module. The servers' own lines on
//! standard error go through [`note`], which never panics either.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fmt::Display;
use std::io::Write;

use anyhow::{Context, Result};

/// Writes `text` and a newline to standard output.
pub fn line(text: impl Display) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").context("writing to standard output")
}

/// Writes `text` as it is (it brings its own newlines) to standard output.
pub fn text(text: impl Display) -> Result<()> {
    let mut out = std::io::stdout().lock();
    write!(out, "{text}").context("writing to standard output")
}

/// Writes each of `lines` on a line of its own.
pub fn lines<T: Display>(lines: impl IntoIterator<Item = T>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "{l}").context("writing to standard output")?;
    }
    Ok(())
}

/// Writes `text` and a newline to standard error, ignoring a closed stderr: a server whose log
/// reader went away keeps serving (`eprintln!` would panic and take every request with it).
pub fn note(text: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Whether `e` is, or was caused by, a write to a pipe whose reader has gone (`EPIPE`).
pub fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_recognised_through_context_and_nothing_else_is() {
        let pipe = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("writing outcomes to stdout");
        assert!(is_closed_pipe(&pipe));
        let other = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
            .context("writing outcomes to stdout");
        assert!(!is_closed_pipe(&other));
        assert!(!is_closed_pipe(&anyhow::anyhow!(
            "broken pipe, in words only"
        )));
    }
}
