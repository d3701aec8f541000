//! The CLI's standard output and error: every line a command prints goes through [`outln!`] /
//! [`out!`] (stdout) or [`errln!`] (stderr), `println!` / `eprintln!` with the write
//! error handled instead of a panic.
//!
//! The binary keeps SIGPIPE ignored, as Rust sets it, for every command: a client whose HTTP
//! upload hits a node that died then gets `EPIPE` on the socket and reports it (`error: …`,
//! exit 1) instead of being killed by the signal with no message (exit 141; issue #9).
//!
//! What a failed write to stdout (a reader such as `head` closed the pipe, a full disk behind
//! `>`) does depends on whether the command changes anything ([`set_changes`], decided in `main`
//! from the subcommand):
//! - **A command that only reads** (`list`, `show`, `status`, …) ends at once: the write unwinds
//!   (without the panic hook's message) to `main`, which ends quietly with status 0 for a closed
//!   pipe (as ripgrep does) and with `error: writing to standard output: …` and status 1
//!   otherwise. The unwind, rather than an error return, keeps the print sites as they are; none
//!   runs inside a spawned task, so the unwind always reaches `main`. `main` flushes stdout when
//!   the command returns, so a last line without its newline fails the same way, and prints
//!   `--help` and `--version` (clap's text) under the same rule.
//! - **A command that changes something** (`evidence add DIR`, `user token`, `link create`, …)
//!   runs to its end, its further output dropped, so a closed pipe never cuts a batch short; then
//!   `main` says on stderr that the changes were made but output (perhaps a new token or URL) was
//!   lost, and exits 1 ([`lost`]). Exit 0 would claim the whole answer reached the caller.
//!
//! A failed write to stderr is ignored: stderr carries messages about the command, and losing
//! them must not change what the command does or its exit status (`eprintln!` panicked: exit 101).
//!
//! With `--json` ([`set_json`]) a failed command writes nothing to stderr but its one JSON error
//! line (`main`, through [`write_err_always`]), so a script reads exactly one object there: the
//! notes of [`errln!`] (a skipped file, a hint) are held back while the command runs, shown when
//! it succeeds and dropped when it fails ([`end_notes`]; what they said is in the JSON on stdout
//! or in the error's message). Progress lines are not written at all ([`json`]). A confirmation
//! prompt still shows.

use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Whether `--json` was given ([`set_json`]).
static JSON: AtomicBool = AtomicBool::new(false);
/// The notes a `--json` command wrote to stderr so far, held until it ends ([`end_notes`]).
static NOTES: Mutex<String> = Mutex::new(String::new());
/// Notes held back at most (bytes); later ones are counted, not kept (a batch of 100,000 files
/// can have a note for each).
const NOTES_MAX: usize = 1 << 20;
/// Notes not kept past [`NOTES_MAX`].
static NOTES_LEFT_OUT: AtomicUsize = AtomicUsize::new(0);
/// Whether the running command changes state ([`set_changes`]).
static CHANGES: AtomicBool = AtomicBool::new(false);
/// The first failed write to stdout of a command that changes state; later output is dropped.
static LOST: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Declare whether the command about to run changes state (see the module doc); `main` calls
/// this once, before the command runs.
pub(crate) fn set_changes(changes: bool) {
    CHANGES.store(changes, Ordering::SeqCst);
}

/// Declare whether `--json` was given (see the module doc); `main` calls this once, before the
/// command runs.
pub(crate) fn set_json(json: bool) {
    JSON.store(json, Ordering::SeqCst);
}

/// Whether `--json` was given: commands leave out progress lines then.
pub(crate) fn json() -> bool {
    JSON.load(Ordering::SeqCst)
}

/// The command ended: with `--json`, write the notes held back if it `succeeded`, drop them if
/// it failed (its JSON error line is then all of stderr). Nothing without `--json`.
pub(crate) fn end_notes(succeeded: bool) {
    let notes = std::mem::take(&mut *NOTES.lock().unwrap_or_else(|e| e.into_inner()));
    let left_out = NOTES_LEFT_OUT.swap(0, Ordering::SeqCst);
    if succeeded {
        write_err_always(format_args!("{notes}"));
        if left_out > 0 {
            write_err_always(format_args!("… and {left_out} more notes left out\n"));
        }
    }
}

/// The failed stdout write of a command that changes state, if there was one: the command ran to
/// its end but some of its output did not reach the reader.
pub(crate) fn lost() -> Option<std::io::Error> {
    LOST.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// The payload a failed write to stdout unwinds with; caught in `main` ([`ended_by`]).
#[derive(Debug)]
pub(crate) struct StdoutFailed(pub(crate) std::io::Error);

/// `println!` to stdout; a failed write is handled as the module doc says.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to stdout; a failed write is handled as the module doc says.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}

/// `eprintln!` that ignores a failed write (see the module doc).
macro_rules! errln {
    () => {
        $crate::out::write_err(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Write `args` to stdout (line-buffered, as `println!`); on failure see the module doc.
pub(crate) fn write(args: std::fmt::Arguments<'_>) {
    if output_dropped() {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        fail(e)
    }
}

/// Write `bytes` to stdout and flush; on failure see the module doc.
pub(crate) fn write_all(bytes: &[u8]) {
    if output_dropped() {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(bytes).and_then(|()| out.flush()) {
        fail(e)
    }
}

/// Flush stdout (what a last line without its newline left buffered); on failure see the
/// module doc. `main` calls it when the command returns, inside the unwind catcher.
pub(crate) fn flush() {
    if output_dropped() {
        return;
    }
    if let Err(e) = std::io::stdout().lock().flush() {
        fail(e)
    }
}

/// Whether stdout already failed for a command that changes state (its output is dropped).
fn output_dropped() -> bool {
    LOST.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}

/// Stdout failed with `e`: a command that changes state goes on with its output dropped (the
/// error is kept for [`lost`]); any other ends by unwinding to `main` without the panic hook's
/// message.
pub(crate) fn fail(e: std::io::Error) {
    if CHANGES.load(Ordering::SeqCst) {
        LOST.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(e);
        return;
    }
    std::panic::resume_unwind(Box::new(StdoutFailed(e)))
}

/// Write `args` to stderr, ignoring a failure; with `--json`, held back until the command ends
/// (see the module doc).
pub(crate) fn write_err(args: std::fmt::Arguments<'_>) {
    if JSON.load(Ordering::SeqCst) {
        use std::fmt::Write as _;
        let mut notes = NOTES.lock().unwrap_or_else(|e| e.into_inner());
        if notes.len() < NOTES_MAX {
            let _ = notes.write_fmt(args);
        } else {
            NOTES_LEFT_OUT.fetch_add(1, Ordering::SeqCst);
        }
        return;
    }
    write_err_always(args);
}

/// Write `args` to stderr, ignoring a failure, `--json` or not: the JSON error line itself and a
/// confirmation prompt.
pub(crate) fn write_err_always(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// How the command ends when it unwound with `payload`: `Ok(error)` when stdout failed
/// (`error.kind()` is `BrokenPipe` when the reader went away), else the payload of a real panic
/// to resume.
pub(crate) fn ended_by(
    payload: Box<dyn std::any::Any + Send>,
) -> Result<std::io::Error, Box<dyn std::any::Any + Send>> {
    payload.downcast::<StdoutFailed>().map(|f| f.0)
}
