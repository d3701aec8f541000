//! The CLI's standard output: every line a command prints goes through [`outln!`] / [`out!`]
//! (`println!` / `print!` with the write error kept).
//!
//! The binary keeps SIGPIPE ignored, as Rust sets it, for every command: a client whose HTTP
//! upload hits a node that died then gets `EPIPE` on the socket and reports it (`error: …`,
//! exit 1) instead of being killed by the signal with no message (exit 141; issue #9). With
//! SIGPIPE ignored, `println!` panics when a reader such as `head` has closed the pipe; these
//! macros instead end the command: a write error on stdout unwinds (without the panic hook's
//! message) to `main`, which ends quietly with status 0 for a closed pipe (as ripgrep does) and
//! with `error: writing to standard output: …` and status 1 for any other write error (a full
//! disk behind `>`). The unwind, rather than an error return, keeps the ~170 print sites as
//! they are; none runs inside a spawned task, so the unwind always reaches `main`.

use std::io::Write as _;

/// The payload a failed write to stdout unwinds with; caught in `main` ([`ended_by`]).
#[derive(Debug)]
pub(crate) struct StdoutFailed(pub(crate) std::io::Error);

/// `println!` to stdout; a failed write ends the command (see the module doc).
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to stdout; a failed write ends the command (see the module doc).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// Write `args` to stdout (line-buffered, as `println!`), or unwind to `main` with
/// [`StdoutFailed`].
pub(crate) fn write(args: std::fmt::Arguments<'_>) {
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        fail(e)
    }
}

/// Write `bytes` to stdout and flush, or unwind to `main` with [`StdoutFailed`].
pub(crate) fn write_all(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        fail(e)
    }
}

/// End the command because stdout failed: unwinds without running the panic hook (no message).
pub(crate) fn fail(e: std::io::Error) -> ! {
    std::panic::resume_unwind(Box::new(StdoutFailed(e)))
}

/// How the command ends when it unwound with `payload`: `Ok(error)` when stdout failed
/// (`error.kind()` is `BrokenPipe` when the reader went away), else the payload of a real panic
/// to resume.
pub(crate) fn ended_by(
    payload: Box<dyn std::any::Any + Send>,
) -> Result<std::io::Error, Box<dyn std::any::Any + Send>> {
    payload.downcast::<StdoutFailed>().map(|f| f.0)
}
