//! Files generated from the clap definitions themselves, so they never drift from the flags:
//! shell completion scripts (`casemesh completions SHELL`, through `clap_complete`) and roff man
//! pages (`casemesh man`, through `clap_mangen`). Neither needs a node or a data directory.

use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

/// `casemesh completions SHELL`.
#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for: bash, zsh, fish, elvish or powershell.
    shell: clap_complete::Shell,
}

/// `casemesh man [-o DIR]`.
#[derive(Debug, clap::Args)]
pub(crate) struct ManArgs {
    /// Write one page per command and subcommand (`casemesh.1`, `casemesh-case.1`,
    /// `casemesh-case-list.1`, …) into DIR instead of printing the top-level page to stdout.
    #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// With `-o`: replace pages already in DIR (refused otherwise, before anything is written).
    #[arg(long, requires = "out_dir")]
    force: bool,
}

/// Print the completion script for `args.shell` to stdout; source it from the shell's startup
/// file or install it where the shell looks (see docs/operations.md).
pub(crate) fn completions(args: &CompletionsArgs, mut cmd: clap::Command) -> Result<()> {
    let name = cmd.get_name().to_owned();
    // Generated in memory first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, name, &mut script);
    crate::out::write_all(&script);
    Ok(())
}

/// Print the top-level man page to stdout, or with `-o DIR` write every command's page there and
/// list the files written.
pub(crate) fn man(args: &ManArgs, cmd: clap::Command) -> Result<()> {
    let Some(dir) = &args.out_dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .context("rendering the man page")?;
        crate::out::write_all(&page);
        return Ok(());
    };
    if dir.as_os_str() == "-" {
        anyhow::bail!(
            "-o takes a directory for one page per command; to print the top-level page to \
             standard output, leave -o out"
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Built first so that each subcommand knows its full name (`casemesh case list`), which
    // becomes its page's title and file name.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    if !args.force {
        let mut names = Vec::new();
        page_names(&cmd, &mut names);
        if let Some(taken) = names
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.symlink_metadata().is_ok())
        {
            anyhow::bail!(
                "{} already exists; pass --force to replace the pages in {} (nothing was written)",
                taken.display(),
                dir.display()
            );
        }
    }
    let mut written = Vec::new();
    write_pages(&cmd, dir, &mut written)?;
    for path in written {
        outln!("{}", path.display());
    }
    Ok(())
}

/// The file names [`write_pages`] writes for `cmd`, in the same order.
fn page_names(cmd: &clap::Command, names: &mut Vec<String>) {
    names.push(clap_mangen::Man::new(cmd.clone()).get_filename());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page_names(sub, names);
    }
}

/// One page for `cmd`, then one for each visible subcommand, depth first.
fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    let page = clap_mangen::Man::new(cmd.clone());
    let path = page
        .generate_to(dir)
        .with_context(|| format!("writing {}", dir.join(page.get_filename()).display()))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
