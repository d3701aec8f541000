//! Guards for commands that destroy something (issue #15 item 7): a question before deleting
//! data, and no silent overwrite of an existing output file.
//!
//! The rules:
//! - A command that deletes data or cuts someone off (`evidence delete`, `retention sweep`,
//!   `blobs gc`, `user delete`, `link revoke`, `case retention CASE DAYS` and `settings set
//!   --default-retention 0`, after which the sweeper deletes; `share stop`, which cascades to
//!   onward shares; `partner remove`; `user disable`; `user token` without `--keep`, which
//!   replaces every earlier token, and `user token --revoke`) takes `--yes`/`-y`. Without it, on a terminal it asks `[y/N]` on stderr and goes on only on `y` or
//!   `yes`; when stdin is not a terminal (a script, a pipe) it refuses, saying to pass `--yes`.
//!   Refused or answered no, the command sends nothing and exits 1.
//! - A command that writes `-o FILE` refuses an existing FILE unless `--force` is given, before
//!   anything is downloaded.

use anyhow::bail;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;

/// `--yes` of a command that deletes data.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(crate) struct Yes {
    /// Do not ask for confirmation (needed when stdin is not a terminal, e.g. in scripts).
    #[arg(short = 'y', long)]
    pub(crate) yes: bool,
}

/// What to do before a destructive command; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Proceed,
    Ask,
    Refuse,
}

fn decide(yes: bool, stdin_is_terminal: bool) -> Decision {
    match (yes, stdin_is_terminal) {
        (true, _) => Decision::Proceed,
        (false, true) => Decision::Ask,
        (false, false) => Decision::Refuse,
    }
}

/// Whether an answer to `[y/N]` is a yes (`y`/`yes`, any case); anything else is no.
fn accepted(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Go on with a destructive command only when the user confirmed it: `--yes`, or a yes typed on
/// the terminal. `what` says what will be lost, e.g. `delete evidence EV-0001 of case C-1`.
///
/// # Errors
/// Refused without `--yes` when stdin is not a terminal, or answered no; nothing was sent.
pub(crate) fn confirm(yes: Yes, what: &str) -> anyhow::Result<()> {
    match decide(yes.yes, std::io::stdin().is_terminal()) {
        Decision::Proceed => Ok(()),
        Decision::Refuse => bail!(
            "this would {what}; stdin is not a terminal, so nobody can confirm it: pass --yes to \
             go ahead (nothing was changed)"
        ),
        Decision::Ask => {
            crate::out::write_err_always(format_args!(
                "This will {what}. It cannot be undone. Continue? [y/N] "
            ));
            std::io::stderr().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            if accepted(&answer) {
                Ok(())
            } else {
                bail!("cancelled (nothing was changed)")
            }
        }
    }
}

/// Whether an output path is `-`: standard output (`-o -`), as for most Unix tools.
pub(crate) fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Refuse to write `path` when something is there already, unless `force`: every command that
/// writes an output file (`evidence get`, `evidence transcript get`, `received get`, `custody
/// export`) checks it before it fetches or writes anything. A download is written to
/// `path.part` and renamed onto `path`, which would replace a device, a named pipe or a socket
/// with a regular file (`-o /dev/null --force` run as root replaced `/dev/null`); a file written
/// in place would write into the device (`/dev/full`) or block on a pipe: anything there that is
/// not a regular file is refused, even with `force`. `-` (standard output) is refused too: the
/// callers that can stream handle it before calling this; the others verify their bytes before
/// they keep them, which a stream cannot undo.
///
/// # Errors
/// `path` is `-`; a directory, or (after following links) anything but a regular file; or
/// `path` exists (a file or link) and `force` is false.
pub(crate) fn check_output(path: &Path, force: bool) -> anyhow::Result<()> {
    if is_stdout(path) {
        bail!(
            "this command cannot write to standard output (`-o -`): the bytes are verified \
             before they are kept, so they go to a file; name one (nothing was written)"
        );
    }
    if path.is_dir() {
        bail!(
            "{} is a directory; name the file to write (nothing was written)",
            path.display()
        );
    }
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        bail!(
            "{} is not a regular file (a device, pipe or socket): name a regular file (nothing \
             was written)",
            path.display()
        );
    }
    if !force && path.symlink_metadata().is_ok() {
        bail!(
            "{} already exists; pass --force to overwrite it (nothing was written)",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destructive_command_asks_on_a_terminal_and_needs_yes_elsewhere() {
        assert_eq!(decide(true, false), Decision::Proceed);
        assert_eq!(decide(true, true), Decision::Proceed);
        assert_eq!(decide(false, true), Decision::Ask);
        assert_eq!(decide(false, false), Decision::Refuse);
        // Under `cargo test` stdin is usually not a terminal; there the command is refused.
        if !std::io::stdin().is_terminal() {
            let e = confirm(Yes { yes: false }, "delete x")
                .unwrap_err()
                .to_string();
            assert!(e.contains("pass --yes") && e.contains("delete x"), "{e}");
        }
    }

    #[test]
    fn only_yes_is_yes() {
        for a in ["y\n", "Y", " yes ", "YES\r\n"] {
            assert!(accepted(a), "{a:?}");
        }
        for a in ["", "\n", "n", "no", "yess", "ok"] {
            assert!(!accepted(a), "{a:?}");
        }
    }

    #[test]
    fn an_existing_output_needs_force() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("out.bin");
        assert!(check_output(&f, false).is_ok());
        std::fs::write(&f, b"mine").unwrap();
        let e = check_output(&f, false).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        assert!(check_output(&f, true).is_ok());
        assert!(check_output(d.path(), false).is_err());
        let e = check_output(Path::new("-"), true).unwrap_err().to_string();
        assert!(e.contains("standard output"), "{e}");
    }

    #[test]
    fn a_device_or_pipe_is_refused_even_with_force() {
        for special in ["/dev/null", "/dev/zero"] {
            let e = check_output(Path::new(special), true)
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a regular file"), "{special}: {e}");
        }
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let e = check_output(&fifo, true).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        // A link to a regular file is still replaced with --force, as before.
        let file = d.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        std::os::unix::fs::symlink(&file, d.path().join("l")).unwrap();
        assert!(check_output(&d.path().join("l"), true).is_ok());
    }
}
