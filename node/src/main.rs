//! The `casemesh` binary: `init` and `run` for the node itself, and client subcommands that talk
//! to a running node's admin endpoint. Thin on purpose: parse, dispatch, report errors.

mod client;
mod commands;
mod config;
mod daemon;
mod init;

use anyhow::{Context as _, Result};
use clap::Parser;
use std::path::PathBuf;

/// The process allocator. glibc's malloc keeps freed memory in per-thread arenas, so a node that
/// had touched many items stayed hundreds of MiB above what it held (measured in
/// docs/benchmarks.md, "Memory with many items"); mimalloc returns freed pages to the system.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// casemesh: share cases and evidence with partner organizations, peer to peer.
#[derive(Debug, Parser)]
#[command(name = "casemesh", version, about, propagate_version = true)]
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
    #[command(flatten)]
    Client(commands::Command),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // Client commands print to stdout; when a reader such as `head` closes the pipe, end quietly
    // like any Unix tool (Rust ignores SIGPIPE, so println! would panic instead). The daemon
    // keeps ignoring it: its sockets report a closed peer as an error.
    if !matches!(cli.command, Top::Run(_)) {
        sigpipe::reset();
    }
    match real_main(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
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
        command,
    } = cli;
    let required_dir = || data_dir.clone().context("--data-dir DIR is required");
    match command {
        Top::Init(args) => init::run(&required_dir()?, &args, json),
        Top::Run(args) => runtime.block_on(daemon::run(&required_dir()?, &args)),
        Top::Openapi => {
            println!("{}", casemesh_api::openapi_json());
            Ok(())
        }
        Top::Client(cmd) => runtime.block_on(commands::run(
            cmd,
            commands::Context {
                data_dir,
                node,
                token,
                json,
            },
        )),
    }
}
