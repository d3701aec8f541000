//! `casemesh verify PACKAGE`: offline verification of a download-link package (ZIP or ISO).
//!
//! Needs no node, no network and no data directory: it reads the package's `manifest.json` and
//! `manifest.sig`, checks the ed25519 signature, hashes every file with BLAKE3 and reports exactly
//! which files are missing, added or altered. With `--org-key` it also requires that the manifest
//! was signed by that organization's key (hex, or the organization id / PeerId it is derived
//! from). Exit code 1 when anything is wrong.

use anyhow::{Context as _, bail};
use casemesh_package::{Problem, VerifyReport};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Arguments of `casemesh verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The package file (.zip or .iso; detected by content).
    package: PathBuf,
    /// Require this signer: the org's ed25519 public key (64 hex characters) or its org id.
    #[arg(long, value_name = "HEX|ORG_ID")]
    org_key: Option<String>,
}

/// Parse `--org-key`: 32-byte hex, or an org id (an ed25519 PeerId, which embeds the key).
fn parse_org_key(s: &str) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
    let s = s.trim();
    if let Ok(bytes) = hex::decode(s)
        && let Ok(arr) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return ed25519_dalek::VerifyingKey::from_bytes(&arr)
            .context("--org-key is not a valid ed25519 public key");
    }
    let peer: libp2p_identity::PeerId = s
        .parse()
        .context("--org-key must be 64 hex characters or an organization id")?;
    // A PeerId is a multihash; ed25519 ones use the identity hash (code 0, then the length),
    // whose digest is the protobuf-encoded public key itself.
    let bytes = peer.to_bytes();
    let digest = match bytes.as_slice() {
        [0, len, digest @ ..] if usize::from(*len) == digest.len() => digest,
        _ => bail!("--org-key: this organization id does not embed its public key"),
    };
    let pk = libp2p_identity::PublicKey::try_decode_protobuf(digest)
        .context("--org-key: cannot decode the key in the organization id")?
        .try_into_ed25519()
        .context("--org-key: not an ed25519 organization id")?;
    ed25519_dalek::VerifyingKey::from_bytes(&pk.to_bytes())
        .context("--org-key is not a valid ed25519 public key")
}

fn problem_text(p: &Problem) -> String {
    match p {
        Problem::Missing => "missing".into(),
        Problem::Added => "added (not in the manifest)".into(),
        Problem::SizeMismatch { expected, actual } => {
            format!("altered: size {actual}, manifest says {expected}")
        }
        Problem::HashMismatch => "altered: BLAKE3 hash differs from the manifest".into(),
        Problem::Duplicate => "duplicated in the package".into(),
        Problem::Unreadable(why) => format!("unreadable: {why}"),
        other => format!("{other:?}"),
    }
}

fn report_json(r: &VerifyReport, key_ok: Option<bool>, ok: bool) -> Value {
    json!({
        "ok": ok,
        "format": r.format.as_str(),
        "signature_valid": r.signature_valid,
        "signer": r.signer,
        "public_key": r.public_key,
        "expected_key_matches": key_ok,
        "created_at_ms": r.created_at_ms,
        "files_ok": r.files_ok,
        "missing": r.missing,
        "added": r.added,
        "altered": r.altered,
        "problems": r.problems.iter().map(|p| json!({
            "path": p.path,
            "problem": problem_text(&p.problem),
        })).collect::<Vec<_>>(),
    })
}

/// Run `casemesh verify`.
pub(crate) fn run(args: &VerifyArgs, json_out: bool) -> anyhow::Result<()> {
    let expected = args.org_key.as_deref().map(parse_org_key).transpose()?;
    let report = casemesh_package::verify(&args.package)
        .with_context(|| format!("cannot read {} as a package", args.package.display()))?;
    let key_ok = expected.map(|k| report.signed_by(&k));
    let ok = report.is_ok() && key_ok != Some(false);
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&report_json(&report, key_ok, ok))?
        );
    } else {
        println!(
            "{}: {} package signed by {} (key {})",
            args.package.display(),
            report.format.as_str().to_uppercase(),
            report.signer,
            report.public_key
        );
        println!(
            "signature: {}",
            if report.signature_valid {
                "valid"
            } else {
                "INVALID"
            }
        );
        if let Some(k) = key_ok {
            println!(
                "signer:    {}",
                if k {
                    "matches --org-key"
                } else {
                    "DOES NOT match --org-key"
                }
            );
        }
        println!("files ok:  {}", report.files_ok);
        for p in &report.problems {
            println!("  {}: {}", p.path, problem_text(&p.problem));
        }
    }
    if !ok {
        let mut why = Vec::new();
        if !report.signature_valid {
            why.push("the manifest signature is invalid".to_owned());
        }
        if key_ok == Some(false) {
            why.push("not signed by the expected organization key".to_owned());
        }
        for (label, list) in [
            ("missing", &report.missing),
            ("added", &report.added),
            ("altered", &report.altered),
        ] {
            if !list.is_empty() {
                why.push(format!("{label}: {}", list.join(", ")));
            }
        }
        bail!("package verification FAILED: {}", why.join("; "));
    }
    if !json_out {
        println!("ok: every file matches the signed manifest");
    }
    Ok(())
}
