//! `casemesh blobs migrate --to s3|fs`: moves a stopped node's evidence blobs between its data
//! directory (`DIR/blobs`) and the S3 bucket its `[storage]` settings describe (issue #18 item 4),
//! with a progress bar. The copying, verifying and resuming is
//! `casemesh_blobs_s3::migrate::{migrate_to_s3, migrate_to_fs}`; this file only finds the two
//! stores, holds the data directory while it runs, and prints.
//!
//! Works offline on `--data-dir DIR`, like `init`: the node must be stopped. Opening the
//! database takes the data directory's lock, so a running node is refused before anything is
//! read ("the data directory is in use"). The source is never changed; see docs/operations.md
//! ("Moving blobs between the data directory and the bucket").

use super::{Context, bytes};
use anyhow::{Context as _, bail};
use casemesh_api_types::{MigrationFailure, MigrationReport};
use casemesh_blobs_s3::migrate::{
    BlobFailure, MigrateError, Migrated, Progress, migrate_to_fs, migrate_to_s3,
};
use casemesh_blobs_s3::{S3Blobs, S3Config, s3_settings_from_toml};
use casemesh_service::config::{BlobLocation, Config};
use indicatif::{ProgressBar, ProgressStyle};

/// Where `blobs migrate` moves the blobs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Destination {
    /// From `DIR/blobs` into the bucket of `[storage]`.
    S3,
    /// From the bucket of `[storage]` into `DIR/blobs`.
    Fs,
}

/// Run `casemesh blobs migrate --to DEST` on the stopped node of `ctx.data_dir`.
///
/// Reads the bucket's settings from `[storage]` whatever its `backend` says. Goes on past a
/// blob it cannot migrate and lists every such blob with why at the end (exit non-zero). Once
/// every blob is at the destination, records it as where the node's blobs live
/// (`casemesh_service::config::BlobLocation`; the start refuses a `[storage]` naming another
/// place).
///
/// Errors: no `--data-dir`; a config without bucket settings in `[storage]` (there is no bucket
/// to move to or from); the data directory in use (the node runs); the bucket unreachable or
/// refusing the credentials; blobs that could not be migrated; any other
/// [`casemesh_blobs_s3::migrate::MigrateError`] (what was migrated before it stays migrated: run
/// the command again).
pub(super) async fn run(to: Destination, ctx: &Context) -> anyhow::Result<()> {
    let dir = ctx.data_dir.clone().context(
        "blobs migrate works on a stopped node's data directory: --data-dir DIR is required",
    )?;
    // Checks the whole file (a typo is refused as at start).
    Config::load(&dir)?;
    let config_path = dir.join("config.toml");
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("read {}", config_path.display()))?;
    // The bucket's settings whatever `backend` says: `--to s3` runs while the node is still on
    // files, `--to fs` may run after `backend` was set back to "fs".
    let settings = s3_settings_from_toml(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config_path.display()))?;
    let Some(settings) = settings else {
        bail!(
            "{}: [storage] has no bucket to migrate {}: add its endpoint, bucket, region and \
             credentials to [storage] first (docs/operations.md, \"Storage on S3-compatible \
             object storage\")",
            config_path.display(),
            if to == Destination::S3 { "to" } else { "from" }
        );
    };
    // The database lock keeps a running node (and its blob gc) out while blobs move; the blob
    // directory of this store is `DIR/blobs`, whatever `[storage]` says.
    let store = casemesh_store::Store::open(&dir).map_err(|e| {
        anyhow::anyhow!("{e} (stop the node before migrating its blobs: `systemctl stop casemesh`)")
    })?;
    let s3_config = S3Config::resolve(&settings, &dir, |k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("{}: {e}", config_path.display()))?;
    let s3 = S3Blobs::connect(&s3_config)?;
    s3.check().await.map_err(|e| {
        anyhow::anyhow!("bucket {} at {}: {e}", s3_config.bucket, s3_config.endpoint)
    })?;
    // One bucket per node: a bucket another organization's node uses is refused (its gc would
    // delete what this migration puts there); a new bucket is marked as this node's.
    let me =
        casemesh_service::config::identity_org_id(&casemesh_service::config::load_identity(&dir)?);
    s3.claim(me.as_str())
        .await
        .map_err(|e| anyhow::anyhow!("bucket {}: {e}", s3_config.bucket))?;
    let bar = progress_bar(ctx.json);
    let progress = |p: &Progress| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
        bar.set_message(format!("{}/{} blobs", p.blobs_done, p.blobs_total));
    };
    let done = match to {
        Destination::S3 => migrate_to_s3(store.blobs(), &s3, progress).await,
        Destination::Fs => migrate_to_fs(&s3, store.blobs(), progress).await,
    };
    bar.finish_and_clear();
    s3.settle().await;
    let done = match done {
        Ok(done) => done,
        Err(MigrateError::Incomplete { migrated, failed }) => {
            print_failures(to, &migrated, &failed, ctx.json)?;
            bail!(
                "{} of {} blobs could not be migrated (listed above); the others were. Fix what \
                 each reason says, then run the command again: what is done is skipped",
                failed.len(),
                migrated.copied + migrated.skipped + failed.len() as u64
            );
        }
        Err(e) => bail!("{e}; blobs migrated before this stay migrated: run the command again"),
    };
    // Every blob is at the destination: the node's blobs live there from now on (its start
    // refuses a `[storage]` that names another place).
    let location = match to {
        Destination::S3 => BlobLocation::S3 {
            endpoint: s3_config.endpoint.clone(),
            bucket: s3_config.bucket.clone(),
        },
        Destination::Fs => BlobLocation::Fs,
    };
    location.save(&dir)?;
    print_summary(to, &done, ctx.json)
}

/// The blobs a run could not migrate, each with why (`--json`: the summary with `failed`).
fn print_failures(
    to: Destination,
    done: &Migrated,
    failed: &[BlobFailure],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let v = report(to, done, failed);
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    outln!(
        "{} blobs copied ({}), {} already there and verified ({}); not migrated:",
        done.copied,
        bytes(done.bytes_copied),
        done.skipped,
        bytes(done.bytes_skipped)
    );
    for f in failed {
        outln!("  {}: {}", f.hash, f.error);
    }
    Ok(())
}

/// The `--json` output of a run.
fn report(to: Destination, done: &Migrated, failed: &[BlobFailure]) -> MigrationReport {
    MigrationReport {
        to: dest_name(to).to_owned(),
        copied: done.copied,
        skipped: done.skipped,
        bytes_copied: done.bytes_copied,
        bytes_skipped: done.bytes_skipped,
        outboards_rebuilt: done.outboards_rebuilt,
        failed: failed
            .iter()
            .map(|f| MigrationFailure {
                hash: f.hash,
                reason: f.error.to_string(),
            })
            .collect(),
    }
}

fn dest_name(to: Destination) -> &'static str {
    match to {
        Destination::S3 => "s3",
        Destination::Fs => "fs",
    }
}

fn progress_bar(json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn print_summary(to: Destination, done: &Migrated, json: bool) -> anyhow::Result<()> {
    let dest = dest_name(to);
    if json {
        let v = report(to, done, &[]);
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    outln!(
        "migrated to {dest}: {} blobs copied ({}), {} already there and verified ({})",
        done.copied,
        bytes(done.bytes_copied),
        done.skipped,
        bytes(done.bytes_skipped)
    );
    if done.outboards_rebuilt > 0 {
        outln!("{} outboards rebuilt", done.outboards_rebuilt);
    }
    outln!(
        "the source is unchanged; set [storage] backend = \"{dest}\" in config.toml (if it is not \
         already), start the node and run `casemesh blobs verify`"
    );
    Ok(())
}
