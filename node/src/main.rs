//! The `casemesh` binary: `init` and `run` for the node itself, and client subcommands that talk
//! to a running node's admin endpoint. Thin on purpose: parse, dispatch, report errors.
//!
//! Errors go to stderr as `error: …` and exit 1 (2 for a command line that does not parse). With
//! `--json` they are one JSON object instead, for scripts:
//! `{"error":{"kind":"api","message":"…","status":404,"code":"not_found"}}`, where `kind` is
//! `api` (the node answered an error; `status` and `code` are its HTTP status and error code),
//! `unreachable` (no connection to the node), `transport` (the exchange broke off), `usage` (the
//! command line) or `failed` (anything else: a local file, a failed verification, …).

#[macro_use]
mod out;
mod client;
mod commands;
mod config;
mod daemon;
mod generate;
mod init;
mod log_escape;

use anyhow::{Context as _, Result};
use casemesh_api_types::{CliError, CliErrorBody, CliErrorKind};
use clap::{CommandFactory as _, FromArgMatches as _, Parser};
use std::path::PathBuf;

/// The process allocator. glibc's malloc keeps freed memory in per-thread arenas, so a node that
/// had touched many items stayed hundreds of MiB above what it held (measured in
/// docs/benchmarks.md, "Memory with many items"); mimalloc returns freed pages to the system.
/// It is built with `no_thp` (Cargo.toml): otherwise it advises the kernel to back its arenas with
/// 2 MiB transparent huge pages, and an idle node held ~43 MiB instead of ~4 MiB
/// (tests/tests/memory.rs; docs/benchmarks.md, "Transparent huge pages").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// casemesh: share cases and evidence with partner organizations, peer to peer.
#[derive(Debug, Parser)]
// The global flags are listed under their own heading, after each command's own options
// (`casemesh share create --help` shows --partner and --to first; issue #15).
#[command(
    name = "casemesh",
    version,
    about,
    propagate_version = true,
    next_help_heading = "Global options"
)]
struct Cli {
    /// The node's data directory (init/run), or where clients find the node's address and token.
    #[arg(long, global = true, env = "CASEMESH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Base URL of a node's admin endpoint, e.g. http://127.0.0.1:7070 (overrides DIR/admin.addr).
    #[arg(long, global = true, env = "CASEMESH_NODE")]
    node: Option<String>,
    /// API token (overrides DIR/admin.token).
    #[arg(long, global = true, env = "CASEMESH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds a client command waits for a node that sends nothing before it gives up (0:
    /// forever; default 60, or CASEMESH_REQUEST_TIMEOUT). Long operations (blobs verify/gc,
    /// retention sweep, uploads once sent, a download's first byte) are not cut short by it, nor
    /// is `share create/status --wait --timeout SECS`, the wait's own limit.
    #[arg(long, global = true, value_name = "SECS")]
    request_timeout: Option<u64>,
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, clap::Subcommand)]
enum Top {
    /// Create a data directory: identity key, config, database, first administrator.
    Init(init::InitArgs),
    /// Run the node daemon in the foreground (SIGINT/SIGTERM stop it).
    Run(daemon::RunArgs),
    /// Print the admin API's OpenAPI document.
    Openapi,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(generate::CompletionsArgs),
    /// Print the man page (roff), or write one page per subcommand with -o DIR.
    Man(generate::ManArgs),
    #[command(flatten)]
    Client(commands::Command),
}

/// The last word of the subcommands that only read (`case list`, `audit verify`, `status`, …);
/// every other command is taken to change state (see `out`: its output lost to a closed pipe
/// never cuts it short, and is reported). Unknown or new commands fall on the safe side.
const READ_ONLY: &[&str] = &[
    "list",
    "show",
    "get",
    "status",
    "verify",
    "stats",
    "directory",
    "view",
    "updates",
    "meta",
    "custody",
    "export",
    "id",
    "peers",
    "openapi",
    "completions",
    "man",
];

/// Whether the command line's subcommand changes state: its last subcommand word is not in
/// [`READ_ONLY`].
fn changes_state(matches: &clap::ArgMatches) -> bool {
    let mut leaf = None;
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        leaf = Some(name);
        m = sub;
    }
    leaf.is_none_or(|name| !READ_ONLY.contains(&name))
}

fn main() -> std::process::ExitCode {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, changes_state(&m))));
    let cli = match parsed {
        Ok((cli, changes)) => {
            out::set_changes(changes);
            cli
        }
        // `--help` and `--version` (any subcommand's): printed by clap, then handled as every
        // read-only command's stdout is (see `out`): a closed pipe ends quietly with status 0, a
        // failed write (a full disk behind `>`) is an error, status 1. `e.exit()` ignored both.
        Err(e) if !e.use_stderr() => {
            let printed = e.print().and_then(|()| {
                use std::io::Write as _;
                std::io::stdout().flush()
            });
            return match printed {
                Ok(()) => std::process::ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1)),
                Err(w) if w.kind() == std::io::ErrorKind::BrokenPipe => {
                    std::process::ExitCode::SUCCESS
                }
                Err(w) => {
                    errln!("error: writing to standard output: {w}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        // A bad command line without `--json`: clap prints it on stderr as usual (status 2).
        Err(e) if !std::env::args_os().any(|a| a == "--json") => e.exit(),
        Err(e) => {
            let text = e.render().to_string();
            let text = text.trim().trim_start_matches("error: ");
            print_json_error(CliErrorKind::Usage, text, None);
            return std::process::ExitCode::from(2);
        }
    };
    let json = cli.json;
    out::set_json(json);
    // SIGPIPE stays ignored (Rust's default) for every command: a socket to a node that died
    // reports EPIPE as an error the client prints, instead of the signal killing it without a
    // word (issue #9). A reader that closes stdout (`casemesh … | head`) is handled by `out`.
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ran = real_main(cli);
        // Output still buffered (a last line without its newline) is written now, its failure
        // handled like any other write's; left to the exit, a failed flush went unnoticed.
        out::flush();
        ran
    }));
    let ran = match ran {
        Ok(r) => r,
        Err(payload) => match out::ended_by(payload) {
            // The reader went away: end quietly, as ripgrep does.
            Ok(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return std::process::ExitCode::SUCCESS;
            }
            Ok(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
            Err(panic) => std::panic::resume_unwind(panic),
        },
    };
    // A command that changes state ran to its end although its stdout failed: the changes are
    // made, but the reader did not get everything (perhaps a new token or URL).
    let ran = match (ran, out::lost()) {
        (Ok(()), Some(e)) => Err(anyhow::Error::new(e).context(
            "writing to standard output (the command ran to its end and its changes were made, \
             but part of its output was lost)",
        )),
        (ran, _) => ran,
    };
    out::end_notes(ran.is_ok());
    match ran {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if json => {
            let (kind, api) = classify(&e);
            print_json_error(kind, &render(&e), api);
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            // One line of inert text: an error can quote a name from a package or a partner.
            errln!("error: {}", commands::escape(&render(&e)));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes joined by `": "` (as anyhow's `{:#}`), each cause once: a cause whose
/// text is already part of what is printed (an error that prints its source itself *and*
/// returns it as `source()`, as many libraries' errors do) is left out.
fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The `kind` of a failed command for `--json`, and the node's answer when it gave one.
fn classify(e: &anyhow::Error) -> (CliErrorKind, Option<&client::RequestError>) {
    let request = e
        .chain()
        .find_map(|cause| cause.downcast_ref::<client::RequestError>());
    match request {
        Some(api @ client::RequestError::Api { .. }) => (CliErrorKind::Api, Some(api)),
        Some(client::RequestError::Transport { connect: true, .. }) => {
            (CliErrorKind::Unreachable, None)
        }
        Some(client::RequestError::Transport { .. }) => (CliErrorKind::Transport, None),
        None => (CliErrorKind::Failed, None),
    }
}

/// One line on stderr: a [`CliErrorBody`], `{"error":{"kind","message"[,"status","code"]}}`.
fn print_json_error(kind: CliErrorKind, message: &str, api: Option<&client::RequestError>) {
    let (status, code) = match api {
        Some(client::RequestError::Api { status, code, .. }) => {
            (Some(status.as_u16()), code.clone())
        }
        _ => (None, None),
    };
    let body = CliErrorBody {
        error: CliError {
            kind,
            message: message.to_owned(),
            status,
            code,
        },
    };
    let line = serde_json::to_string(&body)
        .unwrap_or_else(|_| r#"{"error":{"kind":"failed","message":""}}"#.into());
    out::write_err_always(format_args!("{line}\n"));
}

fn real_main(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the runtime")?;
    let Cli {
        data_dir,
        node,
        token,
        json,
        request_timeout,
        command,
    } = cli;
    let required_dir = || data_dir.clone().context("--data-dir DIR is required");
    match command {
        Top::Init(args) => init::run(&required_dir()?, &args, json),
        Top::Run(args) => runtime.block_on(daemon::run(&required_dir()?, &args)),
        Top::Openapi => {
            outln!("{}", casemesh_api::openapi_json());
            Ok(())
        }
        Top::Completions(args) => generate::completions(&args, Cli::command()),
        Top::Man(args) => generate::man(&args, Cli::command()),
        Top::Client(cmd) => runtime.block_on(commands::run(
            cmd,
            commands::Context {
                data_dir,
                node,
                token,
                json,
                request_timeout,
            },
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    /// An error that prints its source itself and also returns it, like object_store's.
    #[derive(Debug, thiserror::Error)]
    #[error("list failed: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn each_cause_is_printed_once() {
        let e = anyhow::Error::new(Repeats(std::io::Error::other("connection refused")))
            .context("the blob store is not usable");
        assert_eq!(
            render(&e),
            "the blob store is not usable: list failed: connection refused"
        );
        assert_eq!(format!("{e:#}").matches("connection refused").count(), 2);
    }
}
