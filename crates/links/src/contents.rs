//! What goes into a download link's package, and the blocking build that writes it.
//!
//! Layout of a package (every name passes through [`NameAllocator`], which sanitizes it for
//! every OS and keeps it unique case-insensitively):
//!
//! ```text
//! Evidence/<folder>/<subfolder>/<name>        (retain folder structure)
//! Evidence/<folder>/<empty subfolder>/         (retain folder structure: empty folders kept,
//!                                             listed in the manifest's `folders`)
//! Evidence/<name>                             (flat layout; clashes become `name (2).ext`)
//! Transcripts/<display id> - <transcript>     (with transcripts)
//! Audit trail/Case audit trail.csv|.json      (with audit trails: the case trail up to its
//!                                             last change; the JSON with a signed chain head)
//! Audit trail/Evidence/<display id> audit trail.csv|.json   (each item's entries)
//! Table of contents.html|.csv                 (with table of contents)
//! manifest.json, manifest.sig                 (added by casemesh_package::build)
//! ```
//!
//! Evidence and transcript bytes are streamed from the blob store; each blob file is verified
//! against its hash first (`BlobStore::verify`), a blob in an object store is read in verified
//! windows (`[storage] backend = "s3"`, no local copy for a ZIP), and the package's manifest hashes are checked against the
//! evidence hashes afterwards, so a corrupt blob fails the build with the item named instead of
//! being shipped.
//!
//! Deterministic packages (issue #13, item 5): the same selection and options of the same case
//! state give the same bytes. Nothing in a package is dated by the clock: the case's state is its
//! audit trail up to the last entry that changed it ([`state_prefix`]; views, downloads and links
//! do not count), and that entry's time is the manifest's `created_at_ms`, every ZIP entry's
//! modification time, the ISO volume dates and the table of contents' "as of" time. Entry order is
//! fixed by [`select`]'s ordering. The JSON trail carries a head signed with the org key
//! ([`casemesh_package::custody`]); ed25519 signatures are deterministic, so it is stable too.

use crate::{LINKS, LinkError, LinkOptions, LinkRecord, Links, Progress};
use casemesh_model::audit::AuditEntry;
use casemesh_model::audit::actions;
use casemesh_model::case::{Case, Evidence};
use casemesh_model::time::Timestamp;
use casemesh_package::{AUDIT_TRAIL_PATH, AuditTrail, BuildOptions, Entry, NameAllocator};
use casemesh_store::Store;
use casemesh_store::blobs::BlobLocation;
use std::fmt::Write as _;

/// The evidence of `case` that `options` selects (all of it when no folder or item is named),
/// ordered by folder path, then name.
pub fn select(
    store: &Store,
    case: &Case,
    options: &LinkOptions,
) -> Result<Vec<Evidence>, LinkError> {
    let mut folders = Vec::new();
    for path in &options.folders {
        folders.push(case.resolve(path)?);
    }
    let all = store.case_evidence(case.id)?;
    let whole_case = options.folders.is_empty() && options.evidence.is_empty();
    let mut selected: Vec<Evidence> = all
        .into_iter()
        // "Do not disclose" never leaves, whatever was selected (issue #12).
        .filter(|ev| !ev.do_not_disclose)
        .filter(|ev| {
            whole_case
                || options.evidence.contains(&ev.id)
                || folders.iter().any(|f| match f {
                    None => true, // the root folder selects everything
                    Some(id) => case.is_within(ev.folder, *id),
                })
        })
        .collect();
    selected.sort_by(|a, b| {
        (case.path_of(a.folder), &a.name, &a.display_id).cmp(&(
            case.path_of(b.folder),
            &b.name,
            &b.display_id,
        ))
    });
    Ok(selected)
}

/// What a finished build reports.
#[derive(Debug, Clone)]
pub struct Built {
    /// Package size in bytes.
    pub package_size: u64,
    /// Files in the package (without manifest and signature).
    pub files: usize,
    /// BLAKE3 of `manifest.json`.
    pub manifest_blake3: String,
}

/// One row of the table of contents.
struct TocRow {
    folder: String,
    name: String,
    display_id: String,
    size: u64,
    blake3: String,
    added_at: String,
    package_path: String,
}

/// The package folders of the case folders that `options` selects (every folder for the whole
/// case, the selected folders and their subfolders otherwise, none for a selection of items
/// only) that no entry lies in: kept as empty folders when the folder structure is retained
/// (issue #16 item 5). Only the innermost are returned (an empty folder's parent needs no entry
/// of its own), ordered by path.
fn empty_folders(
    case: &Case,
    options: &LinkOptions,
    names: &mut NameAllocator,
    entries: &[Entry],
) -> Vec<String> {
    let selected: Vec<Option<casemesh_model::ids::FolderId>> = options
        .folders
        .iter()
        .filter_map(|path| case.resolve(path).ok())
        .collect();
    let whole_case = options.folders.is_empty() && options.evidence.is_empty();
    let mut paths: Vec<String> = case
        .folders
        .iter()
        .filter(|f| {
            whole_case
                || selected.iter().any(|s| match s {
                    None => true,
                    Some(id) => case.is_within(Some(f.id), *id),
                })
        })
        .map(|f| {
            let folder = case.path_of(Some(f.id));
            let mut segments = vec!["Evidence"];
            segments.extend(folder.split('/'));
            names.folder(&segments)
        })
        .collect();
    paths.sort();
    paths.dedup();
    let holds =
        |path: &str, inner: &str| inner.starts_with(path) && inner[path.len()..].starts_with('/');
    paths
        .iter()
        .filter(|p| {
            !entries.iter().any(|e| holds(p, &e.path)) && !paths.iter().any(|q| holds(p, q))
        })
        .cloned()
        .collect()
}

/// Build the package of link `id` (blocking: run it on a blocking thread). The error is the
/// reason recorded on the link.
pub fn build_package(links: &Links, id: casemesh_model::ids::LinkId) -> Result<Built, String> {
    let inner = &links.inner;
    let link: LinkRecord = inner
        .store
        .get(&LINKS, &id)
        .map_err(|e| e.to_string())?
        .ok_or("the link was deleted")?;
    let case = inner
        .store
        .case(link.case)
        .map_err(|e| e.to_string())?
        .ok_or("the case no longer exists")?;
    let evidence = select(&inner.store, &case, &link.options).map_err(|e| e.to_string())?;
    if evidence.is_empty() {
        return Err("the selection holds no evidence any more".into());
    }
    let blobs = inner.store.blobs();
    // Pinned for the whole build: an item deleted meanwhile keeps its bytes until we are done.
    let _pins = blobs.pin(
        evidence
            .iter()
            .flat_map(|e| std::iter::once(e.hash).chain(e.transcripts.iter().map(|t| t.hash))),
    );
    let payload: u64 = evidence
        .iter()
        .map(|e| e.size + e.transcripts.iter().map(|t| t.size).sum::<u64>())
        .sum();
    // The package is a second copy of the bytes: refuse up front rather than fill the disk.
    blobs
        .check_space(payload)
        .map_err(|e| format!("cannot build the package: {e}"))?;
    // A package entry streaming the blob's verified bytes: a file is checked whole first; an
    // object in the bucket is read in verified windows (no local copy for a ZIP).
    let verified = |path: String, hash: &casemesh_model::ids::BlobHash, what: &str| match blobs
        .locate(hash)
        .map_err(|e| format!("{what}: {e}"))?
    {
        None => Err(format!(
            "{what}: {}",
            casemesh_store::StoreError::BlobMissing { hash: *hash }
        )),
        Some(BlobLocation::File { path: file, .. }) => {
            blobs
                .verify(hash)
                .map(drop)
                .map_err(|e| format!("{what}: {e}"))?;
            Entry::file(path, file).map_err(|e| format!("{what}: {e}"))
        }
        Some(BlobLocation::Remote(remote)) => {
            let size = remote.size();
            let reader = casemesh_package::Reader::new(move || {
                remote
                    .reader()
                    .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>)
            });
            Ok(Entry::reader(path, size, reader))
        }
    };

    // Everything dated inside the package comes from the case's state, never from the clock
    // (deterministic packages): the audit trail up to its last change, and that change's time.
    let (full_trail, _) = inner
        .store
        .audit_trail(case.id)
        .map_err(|e| format!("audit trail: {e}"))?;
    let trail = state_prefix(full_trail);
    let state_time = trail.last().map_or(case.created_at, |e| e.time);

    let mut names = NameAllocator::new();
    let mut entries = Vec::new();
    let mut toc = Vec::new();
    let mut expected = Vec::new(); // (package path, evidence hash)
    for ev in &evidence {
        let what = format!("evidence {} {:?}", ev.display_id, ev.name);
        let folder = case.path_of(ev.folder);
        let mut segments = vec!["Evidence"];
        if link.options.keep_folders && !folder.is_empty() {
            segments.extend(folder.split('/'));
        }
        let path = names.allocate(&segments, &ev.name);
        entries.push(verified(path.clone(), &ev.hash, &what)?);
        expected.push((path.clone(), ev.hash.to_hex()));
        toc.push(TocRow {
            folder,
            name: ev.name.clone(),
            display_id: ev.display_id.clone(),
            size: ev.size,
            blake3: ev.hash.to_hex(),
            added_at: ev.added_at.to_string(),
            package_path: path,
        });
    }
    if link.options.keep_folders {
        for path in empty_folders(&case, &link.options, &mut names, &entries) {
            entries.push(Entry::folder(path));
        }
    }
    if link.options.transcripts {
        for ev in &evidence {
            for t in &ev.transcripts {
                let what = format!("transcript {:?} of evidence {}", t.name, ev.display_id);
                let path =
                    names.allocate(&["Transcripts"], &format!("{} - {}", ev.display_id, t.name));
                entries.push(verified(path.clone(), &t.hash, &what)?);
                expected.push((path, t.hash.to_hex()));
            }
        }
    }
    if link.options.audit_trail {
        let dir = ["Audit trail"];
        // The signed, chain-checkable attachment (`casemesh verify` checks it offline).
        let attachment = AuditTrail::new(
            case.id,
            &case.case_number,
            trail.clone(),
            &inner.signing_key,
        );
        entries.push(Entry::bytes(
            names.allocate(&dir, "Case audit trail.csv"),
            audit_csv(&trail).into_bytes(),
        ));
        let path = names.allocate(&dir, "Case audit trail.json");
        if path != AUDIT_TRAIL_PATH {
            return Err(format!("internal: audit trail allocated at {path:?}"));
        }
        entries.push(Entry::bytes(path, attachment.to_bytes()));
        for ev in &evidence {
            let mine: Vec<AuditEntry> = trail
                .iter()
                .filter(|e| e.evidence == Some(ev.id))
                .cloned()
                .collect();
            let json = serde_json::json!({
                "case": case.id.to_string(),
                "evidence": ev.id.to_string(),
                "display_id": ev.display_id,
                "name": ev.name,
                "entries": mine,
            });
            let base = format!("{} audit trail", ev.display_id);
            entries.push(Entry::bytes(
                names.allocate(&["Audit trail", "Evidence"], &format!("{base}.csv")),
                audit_csv(&mine).into_bytes(),
            ));
            entries.push(Entry::bytes(
                names.allocate(&["Audit trail", "Evidence"], &format!("{base}.json")),
                pretty(&json)?,
            ));
        }
    }
    if link.options.toc {
        entries.push(Entry::bytes(
            names.allocate(&[], "Table of contents.html"),
            toc_html(&case, state_time, &toc).into_bytes(),
        ));
        entries.push(Entry::bytes(
            names.allocate(&[], "Table of contents.csv"),
            toc_csv(&toc).into_bytes(),
        ));
    }

    let out = links.package_path(&link);
    std::fs::create_dir_all(links.packages_dir())
        .map_err(|e| format!("create {}: {e}", links.packages_dir().display()))?;
    let signer = casemesh_model::grant::org_id_from_public_key(
        &inner.signing_key.verifying_key().to_bytes(),
    );
    if signer != inner.org_id {
        return Err("the org key does not belong to this node's org id".into());
    }
    let opts = BuildOptions {
        format: link.format.package(),
        signing_key: inner.signing_key.clone(),
        created_at_ms: state_time.as_millis(),
    };
    let links = links.clone();
    let progress = move |done: u64, total: u64| {
        links.set_progress(id, Some(Progress { done, total }));
    };
    let report = casemesh_package::build(entries, &out, &opts, &progress)
        .map_err(|e| format!("packaging failed: {e}"))?;
    // Belt and braces: what went into the package is what the case says it holds.
    for (path, hash) in &expected {
        let found = report.manifest.files.iter().find(|f| &f.path == path);
        if found.map(|f| &f.blake3) != Some(hash) {
            let _ = std::fs::remove_file(&out);
            return Err(format!(
                "{path}: the bytes packaged do not match the evidence hash"
            ));
        }
    }
    Ok(Built {
        package_size: report.package_size,
        files: report.manifest.files.len(),
        manifest_blake3: report.manifest_blake3,
    })
}

/// Whether an audit action only reads or hands out the case (views, downloads, links, serving
/// bytes to a partner) rather than changing what the case is or where it went. Such entries
/// after the last change are left out of a package, so that two links of an unchanged case give
/// the same bytes; unknown actions count as changes.
pub fn is_read_only(action: &str) -> bool {
    [
        actions::CASE_VIEW,
        actions::EVIDENCE_VIEW,
        actions::EVIDENCE_DOWNLOAD,
        actions::AUDIT_VIEW,
        actions::LINK_CREATE,
        actions::LINK_REVOKE,
        actions::LINK_DOWNLOAD,
        actions::SHARE_SERVE,
    ]
    .contains(&action)
}

/// The case's state as a package sees it: the trail from seq 0 up to and including its last
/// entry that is not [read-only](is_read_only). Its last entry dates the package and is the
/// chain head the package's audit attachment signs.
pub fn state_prefix(mut trail: Vec<AuditEntry>) -> Vec<AuditEntry> {
    let keep = trail
        .iter()
        .rposition(|e| !is_read_only(&e.action))
        .map_or(0, |i| i + 1);
    trail.truncate(keep);
    trail
}

fn pretty(value: &serde_json::Value) -> Result<Vec<u8>, String> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Escape text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One CSV cell (RFC 4180 quoting). Cells that a spreadsheet would run as a formula get a
/// leading `'`, since evidence names are user input.
fn csv_cell(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn csv_line(out: &mut String, cells: &[&str]) {
    let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

fn audit_csv(entries: &[AuditEntry]) -> String {
    let mut out = String::new();
    csv_line(
        &mut out,
        &[
            "seq", "time", "actor", "action", "evidence", "details", "prev", "hash",
        ],
    );
    for e in entries {
        csv_line(
            &mut out,
            &[
                &e.seq.to_string(),
                &e.time.to_string(),
                &e.actor,
                &e.action,
                &e.evidence.map(|id| id.to_string()).unwrap_or_default(),
                &e.details,
                &hex::encode(e.prev),
                &hex::encode(e.hash),
            ],
        );
    }
    out
}

fn toc_csv(rows: &[TocRow]) -> String {
    let mut out = String::new();
    csv_line(
        &mut out,
        &[
            "folder",
            "name",
            "display_id",
            "size",
            "blake3",
            "added_at",
            "package_path",
        ],
    );
    for r in rows {
        csv_line(
            &mut out,
            &[
                &r.folder,
                &r.name,
                &r.display_id,
                &r.size.to_string(),
                &r.blake3,
                &r.added_at,
                &r.package_path,
            ],
        );
    }
    out
}

fn toc_html(case: &Case, state_time: Timestamp, rows: &[TocRow]) -> String {
    let e = html_escape;
    let mut out = String::new();
    let total: u64 = rows.iter().map(|r| r.size).sum();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Table of contents: {title}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}\
         th,td{{border:1px solid #999;padding:4px 6px;text-align:left;vertical-align:top}}\
         td.hash{{font-family:monospace;font-size:80%;word-break:break-all}}\
         @media print{{body{{margin:0}}tr{{page-break-inside:avoid}}}}</style></head><body>\n\
         <h1>{title}</h1>\n<p>Case ID: {number}<br>Case state as of: {created}<br>Items: {count}, {total} bytes</p>\n",
        title = e(&case.title),
        number = e(&case.case_number),
        created = e(&state_time.to_string()),
        count = rows.len(),
    );
    out.push_str(
        "<table>\n<thead><tr><th>#</th><th>Folder</th><th>Name</th><th>Display ID</th>\
         <th>Size (bytes)</th><th>BLAKE3</th><th>Date added</th><th>File in package</th></tr></thead>\n<tbody>\n",
    );
    for (i, r) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"hash\">{}</td>\
             <td>{}</td><td>{}</td></tr>",
            i + 1,
            e(if r.folder.is_empty() { "/" } else { &r.folder }),
            e(&r.name),
            e(&r.display_id),
            r.size,
            e(&r.blake3),
            e(&r.added_at),
            e(&r.package_path),
        );
    }
    out.push_str("</tbody>\n</table>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_ends_at_the_last_change_not_at_the_last_read() {
        use casemesh_model::audit::{ChainHead, NewEntry};
        let mut head = ChainHead::default();
        let trail: Vec<AuditEntry> = [
            actions::CASE_CREATE,
            actions::CASE_VIEW,
            actions::EVIDENCE_ADD,
            actions::LINK_CREATE,
            actions::LINK_DOWNLOAD,
            actions::EVIDENCE_VIEW,
        ]
        .iter()
        .enumerate()
        .map(|(i, action)| {
            let (e, h) = head.append(NewEntry {
                time: Timestamp(100 + i as u64),
                actor: "ada".into(),
                action: (*action).into(),
                evidence: None,
                details: String::new(),
            });
            head = h;
            e
        })
        .collect();
        let state = state_prefix(trail.clone());
        assert_eq!(state.len(), 3, "reads before the last change stay");
        assert_eq!(state.last().map(|e| e.time), Some(Timestamp(102)));
        // More reads and links later leave the state as it was.
        assert_eq!(state_prefix(trail[..4].to_vec()), state);
        assert!(
            !is_read_only("some.future.action"),
            "unknown actions count as changes"
        );
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn csv_quotes_and_guards_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }
}
