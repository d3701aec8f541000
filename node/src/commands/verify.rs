//! `casemesh verify PACKAGE`: offline verification of a download-link package (ZIP or ISO), and
//! a plain statement of what it proved (issue #16, item 6).
//!
//! It reads the package's `manifest.json` and `manifest.sig`, checks the ed25519 signature, that
//! the manifest's `signer` is the org id of the signing key, every file's BLAKE3 hash, and the
//! audit-trail attachment when there is one (every entry chained up to a head signed by the same
//! key; issue #13, item 5). It reports exactly which files are missing, added or altered and which
//! audit entry breaks the chain.
//!
//! A valid signature only proves that *someone* holding the key in the manifest signed it, so the
//! signer must be **pinned**, or the command fails:
//! - `--org-key HEX|ORG_ID`: the key must be that organization's;
//! - `--data-dir DIR` (or `--node`/`--token`): the key must be the running node's own or one of its
//!   registered partners' (read from its admin API);
//! - neither: the signer is not pinned; exit 1 unless `--allow-unpinned`, which accepts an intact
//!   package while saying that its signer was not checked.
//!
//! A pin that was asked for and does not match is always a failure. Exit code 1 when anything is
//! wrong; `--json` prints the report either way (`ok`, `signer_pinned`, `pinned_as`, …: the
//! type [`PackageVerifyReport`] in `casemesh-api-types`), and the human text is read from it too.

use super::Context;
use super::escape;
use crate::client::Client;
use anyhow::{Context as _, bail};
use casemesh_api_types::links::PackageFormat;
use casemesh_api_types::sharing::{IdView, PartnerView};
use casemesh_api_types::verify::{AuditAttachmentCheck, FileProblemView, PackageVerifyReport};
use casemesh_package::{Format, Problem, TreeIssue, VerifyReport};
use std::path::PathBuf;

/// Arguments of `casemesh verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyArgs {
    /// The package file (.zip or .iso; detected by content).
    package: PathBuf,
    /// Require this signer: the org's ed25519 public key (64 hex characters) or its org id.
    #[arg(long, value_name = "HEX|ORG_ID")]
    org_key: Option<String>,
    /// Accept a package whose signer is not pinned (neither --org-key nor --data-dir given):
    /// the files and signature are still checked, the signer's identity is not.
    #[arg(long)]
    allow_unpinned: bool,
}

/// Whom the signing key was checked against.
enum Pin {
    /// `--org-key`.
    Key(ed25519_dalek::VerifyingKey),
    /// The node's own key and its registered partners': (who, key).
    Known(Vec<(String, ed25519_dalek::VerifyingKey)>),
    /// Nothing to check against.
    None,
}

/// What the pin says about the package's key.
struct Pinned {
    /// Whether the key is the expected one.
    pinned: bool,
    /// Whom it belongs to, when pinned.
    who: Option<String>,
    /// Why not, when not.
    why_not: Option<String>,
}

impl Pin {
    fn check(&self, public_key_hex: &str) -> Pinned {
        let is = |k: &ed25519_dalek::VerifyingKey| {
            hex::encode(k.to_bytes()).eq_ignore_ascii_case(public_key_hex)
        };
        match self {
            Pin::Key(k) if is(k) => Pinned {
                pinned: true,
                who: Some("the key given with --org-key".into()),
                why_not: None,
            },
            Pin::Key(_) => Pinned {
                pinned: false,
                who: None,
                why_not: Some("not signed by the expected organization key (--org-key)".into()),
            },
            Pin::Known(known) => match known.iter().find(|(_, k)| is(k)) {
                Some((who, _)) => Pinned {
                    pinned: true,
                    who: Some(who.clone()),
                    why_not: None,
                },
                None => Pinned {
                    pinned: false,
                    who: None,
                    why_not: Some(
                        "signed by a key that is neither this node's nor a registered partner's"
                            .into(),
                    ),
                },
            },
            Pin::None => Pinned {
                pinned: false,
                who: None,
                why_not: Some(
                    "the signer is not pinned: pass --org-key ORG or --data-dir DIR \
                     (or --allow-unpinned to accept any signer)"
                        .into(),
                ),
            },
        }
    }
}

/// The keys a node trusts: its own and its registered partners', from its admin API
/// (`GET /v1/id`, `GET /v1/partners`).
async fn known_keys(ctx: &Context) -> anyhow::Result<Vec<(String, ed25519_dalek::VerifyingKey)>> {
    let client = Client::from_context(ctx).context("pinning the signer against the node")?;
    let own: IdView = serde_json::from_value(client.get(&["v1", "id"]).await?)
        .context("reading the node's id")?;
    let mut known = vec![(
        format!("this node ({})", own.peer_id),
        parse_org_key(own.peer_id.as_str()).context("the node's own org id")?,
    )];
    let partners: Vec<PartnerView> = serde_json::from_value(client.get(&["v1", "partners"]).await?)
        .context("reading the node's partners")?;
    for p in partners {
        // A partner id that does not embed its key cannot sign anything we could check.
        if let Ok(key) = parse_org_key(p.peer_id.as_str()) {
            known.push((
                format!("registered partner {:?} ({})", p.name, p.peer_id),
                key,
            ));
        }
    }
    Ok(known)
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
        Problem::Collides { with } => format!(
            "collides with {with:?} on case-insensitive or normalizing file systems (Windows, macOS)"
        ),
        Problem::UnsafePath => {
            "unsafe to extract as named (e.g. `..`, an absolute path, a control character)".into()
        }
        Problem::InTree { tree, issue } => match issue {
            TreeIssue::Missing => format!("missing from the {tree} tree"),
            TreeIssue::Added => format!("in the {tree} tree but not in the manifest"),
            TreeIssue::OtherBytes => {
                format!("the {tree} tree points at other bytes than the ones verified")
            }
            TreeIssue::OtherName { found } => format!(
                "named {:?} in the {tree} tree, not the name that tree must give it",
                escape(found)
            ),
            other => format!("{tree} tree: {other:?}"),
        },
        Problem::Archive(issue) => format!("ZIP layout: {issue}"),
        other => format!("{other:?}"),
    }
}

/// The typed `--json` report ([`PackageVerifyReport`]) of `r`, pinned as `pin` says; `key_ok` is
/// the `--org-key` comparison (`None` without `--org-key`), `ok` the verdict.
fn report_view(
    r: &VerifyReport,
    key_ok: Option<bool>,
    pin: &Pinned,
    ok: bool,
) -> PackageVerifyReport {
    PackageVerifyReport {
        ok,
        intact: r.is_ok(),
        format: match r.format {
            Format::Zip => PackageFormat::Zip,
            Format::Iso => PackageFormat::Iso,
        },
        signature_valid: r.signature_valid,
        signer: r.signer.clone(),
        signer_matches_key: r.signer_matches_key,
        signer_pinned: pin.pinned,
        pinned_as: pin.who.clone(),
        public_key: r.public_key.clone(),
        expected_key_matches: key_ok,
        created_at_ms: r.created_at_ms,
        audit: r.audit.as_ref().map(|a| AuditAttachmentCheck {
            ok: a.is_ok(),
            entries: a.entries,
            signed_len: a.signed_len,
            signed_by: a.signer.clone(),
            problem: a.problem.as_ref().map(ToString::to_string),
        }),
        files_ok: u64::try_from(r.files_ok).unwrap_or(u64::MAX),
        missing: r.missing.clone(),
        added: r.added.clone(),
        altered: r.altered.clone(),
        problems: r
            .problems
            .iter()
            .map(|p| FileProblemView {
                path: p.path.clone(),
                problem: problem_text(&p.problem),
            })
            .collect(),
    }
}

/// The org id a hex public key belongs to, for messages.
fn org_of(public_key_hex: &str) -> String {
    let mut key = [0u8; 32];
    match hex::decode_to_slice(public_key_hex, &mut key) {
        Ok(()) => casemesh_model::grant::org_id_from_public_key(&key).to_string(),
        Err(_) => "an invalid key".into(),
    }
}

/// Run `casemesh verify`.
pub(crate) async fn run(args: &VerifyArgs, ctx: &Context) -> anyhow::Result<()> {
    let pin = match &args.org_key {
        Some(k) => Pin::Key(parse_org_key(k)?),
        None if ctx.data_dir.is_some() || ctx.node.is_some() => Pin::Known(known_keys(ctx).await?),
        None => Pin::None,
    };
    let report = casemesh_package::verify(&args.package)
        .with_context(|| format!("cannot read {} as a package", args.package.display()))?;
    let pinned = pin.check(&report.public_key);
    let key_ok = matches!(pin, Pin::Key(_)).then_some(pinned.pinned);
    let pin_ok = pinned.pinned || (matches!(pin, Pin::None) && args.allow_unpinned);
    let view = report_view(&report, key_ok, &pinned, report.is_ok() && pin_ok);
    if ctx.json {
        outln!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print_text(args, &view, &pin, &pinned);
    }
    if !view.ok {
        let mut why = Vec::new();
        if !view.signature_valid {
            why.push("the manifest signature is invalid".to_owned());
        }
        if !view.signer_matches_key {
            why.push(format!(
                "the manifest names signer {} but was signed with the key of {}",
                view.signer,
                org_of(&view.public_key)
            ));
        }
        if !pin_ok && let Some(w) = &pinned.why_not {
            why.push(w.clone());
        }
        if let Some(p) = view.audit.as_ref().and_then(|a| a.problem.as_ref()) {
            why.push(p.clone());
        }
        for (label, list) in [
            ("missing", &view.missing),
            ("added", &view.added),
            ("altered", &view.altered),
        ] {
            if !list.is_empty() {
                why.push(summary(label, list));
            }
        }
        bail!("package verification FAILED: {}", why.join("; "));
    }
    if !ctx.json {
        if view.signer_pinned {
            outln!("ok: every file matches the manifest, signed by a pinned organization key");
        } else {
            outln!(
                "ok (UNPINNED): every file matches the manifest, but its signer was not checked"
            );
        }
    }
    Ok(())
}

/// `label: a, b, c` for at most [`NAMED`] distinct paths of `list`, then how many more: a forged
/// package can list thousands (the report above names each), and the failure line stays one
/// readable line. Paths are escaped where the line is printed (`main`).
fn summary(label: &str, list: &[String]) -> String {
    /// How many paths the failure line names.
    const NAMED: usize = 5;
    let mut distinct: Vec<&str> = Vec::new();
    for path in list {
        if !distinct.contains(&path.as_str()) {
            distinct.push(path);
        }
        if distinct.len() > NAMED {
            break;
        }
    }
    let total = list.iter().collect::<std::collections::BTreeSet<_>>().len();
    let named = distinct[..distinct.len().min(NAMED)].join(", ");
    if total > NAMED {
        format!("{label}: {named} and {} more", total - NAMED)
    } else {
        format!("{label}: {named}")
    }
}

/// The human-readable report of `view`. Paths and names come from the package: escaped, so a
/// forged one cannot rewrite the terminal (issue #16 item 3).
fn print_text(args: &VerifyArgs, view: &PackageVerifyReport, pin: &Pin, pinned: &Pinned) {
    let format = match view.format {
        PackageFormat::Zip => "ZIP",
        PackageFormat::Iso => "ISO",
    };
    outln!(
        "{}: {format} package signed by {} (key {})",
        escape(&args.package.display().to_string()),
        escape(&view.signer),
        view.public_key
    );
    outln!(
        "signature: {}",
        if view.signature_valid {
            "valid"
        } else {
            "INVALID"
        }
    );
    if !view.signer_matches_key {
        outln!(
            "signer:    MISMATCH: the manifest names {} but the key is {}'s",
            escape(&view.signer),
            org_of(&view.public_key)
        );
    }
    match (&view.pinned_as, pin) {
        (Some(who), _) => outln!("pinned:    yes, the key is {}", escape(who)),
        (None, Pin::None) => outln!(
            "pinned:    NO: the signature is valid for the key in the package, but nothing \
             says whose key that is (pass --org-key or --data-dir)"
        ),
        (None, _) => outln!(
            "pinned:    NO: {}",
            escape(pinned.why_not.as_deref().unwrap_or_default())
        ),
    }
    match &view.audit {
        None => outln!("audit:     no audit trail in the package"),
        Some(a) => match &a.problem {
            None => outln!(
                "audit:     {} entries chain up to a head signed by {}",
                a.entries,
                escape(&a.signed_by)
            ),
            Some(p) => outln!("audit:     FAILED: {}", escape(p)),
        },
    }
    outln!("files ok:  {}", view.files_ok);
    for p in &view.problems {
        outln!("  {}: {}", escape(&p.path), escape(&p.problem));
    }
}
