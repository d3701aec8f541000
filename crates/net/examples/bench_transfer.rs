//! Transfer benchmark: one 1 GiB blob from a serving process to a fetching process over
//! TCP + Noise + Yamux on 127.0.0.1, verified chunk group by chunk group and fsynced at the
//! receiver. `scripts/bench-transfer` runs the two roles as two processes and compares with a
//! raw loopback TCP baseline measured in the same run.
//!
//! ```text
//! bench_transfer serve <file> <work_dir>
//!     prints `READY <multiaddr> <hash> <size> <pid>` once listening; exits when the fetcher
//!     leaves
//! bench_transfer fetch <multiaddr> <hash> <size> <work_dir> [runs] [server pid]
//!     fetches `runs` times (default 1; the first run makes the server compute its outboard),
//!     prints one `RUN <n> <seconds> <MiB/s> <fetcher CPU s/GiB> <server CPU s/GiB>` line per
//!     run (CPU = user + system time from /proc/<pid>/stat; the server's is 0 without its pid)
//! ```
//!
//! With `BENCH_COLD=1` in the server's environment, the blob file and the server's outboards
//! are evicted from the page cache (`posix_fadvise(DONTNEED)`; they are synced, so every page
//! goes) before each request is answered: the blob is served cold, as evidence shared days
//! after its ingest is.
//!
//! CPU time per GiB is printed next to the wall time because the machine the figures come from
//! is shared: load stretches wall time far more than it changes the CPU a transfer costs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Instant};

use casemesh_model::ids::BlobHash;
use casemesh_net::{
    BlobServer, BlobSource, Config, Event, Multiaddr, Partner, PeerId, Refusal,
    peer_id_from_secret, start,
};

const SERVER_KEY: [u8; 32] = [1; 32];
const FETCHER_KEY: [u8; 32] = [2; 32];
const GRANT: &[u8] = b"bench-grant";

struct OneBlob {
    hash: BlobHash,
    source: BlobSource,
    /// `BENCH_COLD`: the server's work directory, whose files (the outboards) are evicted from
    /// the page cache with the blob before each answer.
    cold: Option<std::path::PathBuf>,
}

/// Drops `path`'s pages from the page cache (they must be clean: the files here are synced).
fn evict(path: &std::path::Path) {
    let Ok(file) = std::fs::File::open(path) else {
        return;
    };
    file.sync_all().unwrap();
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
}

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

impl BlobServer for OneBlob {
    fn open(&self, _: &PeerId, grant: &[u8], hash: &BlobHash) -> Result<BlobSource, Refusal> {
        if grant != GRANT {
            return Err(Refusal::forbidden("bad grant"));
        }
        if hash != &self.hash {
            return Err(Refusal::not_found("unknown blob"));
        }
        if let Some(dir) = &self.cold {
            let mut files = vec![self.source.path.clone()];
            files_under(dir, &mut files);
            files.iter().for_each(|f| evict(f));
        }
        Ok(self.source.clone())
    }
}

struct NoBlobs;

impl BlobServer for NoBlobs {
    fn open(&self, _: &PeerId, _: &[u8], _: &BlobHash) -> Result<BlobSource, Refusal> {
        Err(Refusal::not_found("fetch-only node"))
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match args.first().map(String::as_str) {
        Some("serve") => rt.block_on(serve(&args[1], &args[2])),
        Some("fetch") => {
            let runs = args.get(5).map_or(1, |r| r.parse().unwrap());
            let server_pid = args.get(6).map(|p| p.parse::<u32>().unwrap());
            rt.block_on(fetch(
                &args[1], &args[2], &args[3], &args[4], runs, server_pid,
            ))
        }
        _ => {
            eprintln!(
                "usage: bench_transfer serve <file> <dir> | fetch <addr> <hash> <size> <dir> [runs]"
            );
            std::process::exit(2);
        }
    }
}

async fn serve(file: &str, dir: &str) {
    // The blob store knows the hash of what it holds; computing it here is not timed.
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(std::fs::File::open(file).unwrap())
        .unwrap();
    let hash = BlobHash::from(hasher.finalize());
    let size = std::fs::metadata(file).unwrap().len();
    let server = Arc::new(OneBlob {
        hash,
        source: BlobSource::new(file, size),
        cold: std::env::var_os("BENCH_COLD").map(|_| std::path::PathBuf::from(dir)),
    });
    let config = Config::new(SERVER_KEY, dir);
    let (net, mut events) = start(config, server).await.unwrap();
    net.add_partner(Partner {
        peer_id: peer_id_from_secret(&FETCHER_KEY).unwrap(),
        addrs: vec![],
        name: "fetcher".into(),
    })
    .await
    .unwrap();
    let addr = net.listen_addrs().await.unwrap()[0].clone();
    println!("READY {addr} {hash} {size} {}", std::process::id());
    let mut connected = false;
    while let Some(event) = events.recv().await {
        match event {
            Event::PeerConnected { .. } => connected = true,
            Event::PeerDisconnected { .. } if connected => break,
            _ => {}
        }
    }
}

/// User + system CPU seconds of process `pid` so far (`None`: this process), from
/// `/proc/<pid>/stat` (fields 14 and 15, in clock ticks of 1/100 s on Linux).
fn cpu_seconds(pid: Option<u32>) -> f64 {
    let path = pid.map_or("/proc/self/stat".to_string(), |p| format!("/proc/{p}/stat"));
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    (ticks(11) + ticks(12)) / 100.0
}

async fn fetch(
    addr: &str,
    hash: &str,
    size: &str,
    dir: &str,
    runs: usize,
    server_pid: Option<u32>,
) {
    let addr: Multiaddr = addr.parse().unwrap();
    let hash: BlobHash = hash.parse().unwrap();
    let size: u64 = size.parse().unwrap();
    let server_peer = peer_id_from_secret(&SERVER_KEY).unwrap();
    let config = Config::new(FETCHER_KEY, dir);
    let (net, _events) = start(config, Arc::new(NoBlobs)).await.unwrap();
    net.add_partner(Partner {
        peer_id: server_peer,
        addrs: vec![addr],
        name: "server".into(),
    })
    .await
    .unwrap();
    for run in 1..=runs {
        let (c0, s0) = (
            cpu_seconds(None),
            server_pid.map_or(0.0, |p| cpu_seconds(Some(p))),
        );
        let t0 = Instant::now();
        let fetched = net
            .fetch_blob(server_peer, GRANT.to_vec(), hash, Some(size))
            .await
            .unwrap();
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(fetched.size, size);
        let gib = size as f64 / f64::from(1u32 << 30);
        let fetcher_cpu = (cpu_seconds(None) - c0) / gib;
        let server_cpu = server_pid.map_or(0.0, |p| cpu_seconds(Some(p)) - s0) / gib;
        let mib_s = size as f64 / (1024.0 * 1024.0) / secs;
        println!("RUN {run} {secs:.3} {mib_s:.1} {fetcher_cpu:.2} {server_cpu:.2}");
        std::fs::remove_file(&fetched.path).unwrap();
    }
    net.shutdown();
}
