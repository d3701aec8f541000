//! Benchmark driver: packages a directory and prints the elapsed time and peak RSS.
//!
//! ```text
//! cargo run --release -p casemesh-package --example bench_package -- zip|iso DIR OUT [--verify]
//! ```
//! Prints `build_s=<seconds> peak_rss_kib=<VmHWM> bytes=<package size>` (and `verify_s=` with
//! `--verify`) on one line, for `scripts/bench-package`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use casemesh_package::{BuildOptions, Entry, Format, NameAllocator, build, verify};

fn collect(
    root: &Path,
    dir: &Path,
    names: &mut NameAllocator,
    out: &mut Vec<Entry>,
) -> std::io::Result<()> {
    let mut children: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let path = child.path();
        if child.file_type()?.is_dir() {
            collect(root, &path, names, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let parts: Vec<String> = rel
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            let (name, folders) = parts.split_last().unwrap_or((&parts[0], &[]));
            let folders: Vec<&str> = folders.iter().map(String::as_str).collect();
            let package_path = names.allocate(&folders, name);
            out.push(Entry::file(package_path, &path).map_err(std::io::Error::other)?);
        }
    }
    Ok(())
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, dir, out, rest @ ..] = args.as_slice() else {
        return Err("usage: bench_package zip|iso DIR OUT [--verify]".into());
    };
    let format = match format.as_str() {
        "zip" => Format::Zip,
        "iso" => Format::Iso,
        other => return Err(format!("unknown format {other}").into()),
    };
    let dir = PathBuf::from(dir);
    let mut entries = Vec::new();
    collect(&dir, &dir, &mut NameAllocator::new(), &mut entries)?;
    let opts = BuildOptions {
        format,
        signing_key: ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]),
        created_at_ms: 1_700_000_000_000,
    };
    let started = Instant::now();
    let report = build(entries, Path::new(out), &opts, &|_, _| {})?;
    let build_s = started.elapsed().as_secs_f64();
    let mut line = format!(
        "build_s={build_s:.3} peak_rss_kib={} bytes={}",
        peak_rss_kib(),
        report.package_size
    );
    if rest.iter().any(|a| a == "--verify") {
        let started = Instant::now();
        let v = verify(Path::new(out))?;
        if !v.is_ok() {
            return Err(format!("verify failed: {v:?}").into());
        }
        line.push_str(&format!(" verify_s={:.3}", started.elapsed().as_secs_f64()));
    }
    println!("{line}");
    Ok(())
}
