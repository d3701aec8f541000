//! Peak memory: building packages of a 1 GiB file stays flat (streaming). Its own test binary,
//! so VmHWM (peak resident set) of this process measures only this build.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap too

use casemesh_package::{BuildOptions, Entry, Format, build, verify};

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn one_gib_file_does_not_raise_peak_memory() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    // Sparse: costs no disk, but every byte is still read, hashed and written.
    std::fs::File::create(&src)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let before = vm_hwm_kib();
    for format in [Format::Zip, Format::Iso] {
        let out = dir.path().join(format!("big.{}", format.as_str()));
        let opts = BuildOptions {
            format,
            signing_key: ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]),
            created_at_ms: 0,
        };
        build(
            vec![Entry::file("big.bin", &src).unwrap()],
            &out,
            &opts,
            &|_, _| {},
        )
        .unwrap();
        assert!(verify(&out).unwrap().is_ok());
        std::fs::remove_file(&out).unwrap();
    }
    let after = vm_hwm_kib();
    eprintln!("VmHWM before {before} KiB, after {after} KiB");
    assert!(
        after < before + 48 * 1024,
        "peak RSS grew by {} KiB",
        after - before
    );
}
