//! `casemesh evidence add CASE PATH...` as one resumable batch: plan the files (directories,
//! `--recursive` trees as folders), skip what the case already holds (same folder, name and
//! BLAKE3), upload the rest one at a time under one progress bar, report every file.

use super::*;
use casemesh_model::ids::{BlobHash, EvidenceId};

/// A path as the CLI prints it: control characters (newlines, terminal escapes) in a hostile
/// file name are escaped, never written to the terminal as they are.
fn shown(path: &Path) -> String {
    path.to_string_lossy().escape_debug().to_string()
}

pub(super) fn single_file(mut paths: Vec<PathBuf>) -> Result<PathBuf, Vec<PathBuf>> {
    match paths.pop() {
        Some(file) if paths.is_empty() && !file.is_dir() => Ok(file),
        Some(last) => {
            paths.push(last);
            Err(paths)
        }
        None => Err(paths),
    }
}

/// The options of a batch `evidence add`.
#[derive(Debug)]
pub(super) struct Batch {
    /// The folder the batch goes to (`""` = the case's root): files named on the command line and
    /// the top-level files of a directory land here, subdirectories below it.
    pub(super) folder: String,
    /// Descend into subdirectories, keeping them as folders.
    pub(super) recursive: bool,
    /// A description given to every file added.
    pub(super) description: Option<String>,
}

/// One local file of a batch and where it goes in the case.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LocalFile {
    path: PathBuf,
    /// Target folder path (`""` = root).
    folder: String,
    /// Evidence name: the file's own name.
    name: String,
    /// Size when the batch was planned; only used to pick candidate duplicates and for progress.
    size: u64,
}

impl LocalFile {
    /// The file's place in the case, `folder/name`.
    fn target(&self) -> String {
        join(&self.folder, &self.name)
    }
}

/// What a batch will do, worked out from the file system before anything is sent.
#[derive(Debug, Default)]
struct Plan {
    /// In the order they are added: paths in the order given, each directory sorted by name.
    files: Vec<LocalFile>,
    /// Every folder the batch needs (with `--recursive`, empty subdirectories too).
    folders: BTreeSet<String>,
    /// What was left out (links, special files, subdirectories without `--recursive`).
    notes: Vec<String>,
}

/// Work out a batch: every file under `paths` with its target folder under `base`. Fails, before
/// anything is sent, on a path that does not exist or is not a file or directory, and on names
/// the node would refuse (all of them listed).
fn plan(paths: &[PathBuf], base: &str, recursive: bool) -> anyhow::Result<Plan> {
    split_path(base).map_err(|e| anyhow!("--folder {base:?}: {e} (nothing was added)"))?;
    let mut plan = Plan::default();
    let mut bad = Vec::new();
    for path in paths {
        // Named on the command line: followed if it is a link (the user chose it).
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("{} does not exist (nothing was added)", shown(path))
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading {} (nothing was added)", shown(path)));
            }
        };
        if meta.is_file() {
            match checked_name(path) {
                Ok(name) => plan.files.push(LocalFile {
                    path: path.clone(),
                    folder: base.to_owned(),
                    name,
                    size: meta.len(),
                }),
                Err(e) => bad.push(e),
            }
        } else if meta.is_dir() {
            walk(path, base, recursive, &mut plan, &mut bad)
                .map_err(|e| anyhow!("{e:#} (nothing was added)"))?;
        } else {
            bail!(
                "{} is neither a regular file nor a directory (nothing was added)",
                shown(path)
            );
        }
    }
    if !bad.is_empty() {
        const SHOWN: usize = 10;
        let mut msg = format!(
            "{} name{} the node would refuse (nothing was added):",
            bad.len(),
            if bad.len() == 1 { "" } else { "s" }
        );
        for b in bad.iter().take(SHOWN) {
            msg.push_str("\n  ");
            msg.push_str(b);
        }
        if bad.len() > SHOWN {
            msg.push_str(&format!("\n  … and {} more", bad.len() - SHOWN));
        }
        bail!(msg);
    }
    let anything = !plan.files.is_empty() || !plan.folders.is_empty();
    if !base.is_empty() && anything {
        plan.folders.insert(base.to_owned());
    }
    // The node's folder limit, checked before anything is sent (a re-run would fail the same).
    let max = casemesh_model::case::MAX_FOLDER_DEPTH;
    if let Some(deep) = plan.folders.iter().find(|f| f.split('/').count() > max) {
        bail!(
            "{} is {} folders deep; folders may be nested at most {max} deep (nothing was added)",
            shown(Path::new(deep)),
            deep.split('/').count()
        );
    }
    Ok(plan)
}

/// Add the entries of `dir` (sorted by name) to `plan` as going to `folder`; subdirectories too
/// with `recursive`. Links are not followed: a link to a directory could add a tree twice or loop.
fn walk(
    dir: &Path,
    folder: &str,
    recursive: bool,
    plan: &mut Plan,
    bad: &mut Vec<String>,
) -> anyhow::Result<()> {
    let mut entries = std::fs::read_dir(dir)
        .and_then(|list| list.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading directory {}", shown(dir)))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    let mut subdirs_left = 0usize;
    for entry in entries {
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("reading {}", shown(&path)))?;
        if kind.is_symlink() {
            plan.notes.push(format!(
                "skipped symbolic link {} (links are not followed)",
                shown(&path)
            ));
        } else if kind.is_file() {
            let size = entry
                .metadata()
                .with_context(|| format!("reading the size of {}", shown(&path)))?
                .len();
            match checked_name(&path) {
                Ok(name) => plan.files.push(LocalFile {
                    path,
                    folder: folder.to_owned(),
                    name,
                    size,
                }),
                Err(e) => bad.push(e),
            }
        } else if kind.is_dir() {
            if !recursive {
                subdirs_left += 1;
                continue;
            }
            match checked_name(&path) {
                Ok(name) => {
                    let sub = join(folder, &name);
                    plan.folders.insert(sub.clone());
                    walk(&path, &sub, recursive, plan, bad)?;
                }
                Err(e) => bad.push(e),
            }
        } else {
            plan.notes.push(format!(
                "skipped {} (not a regular file or directory)",
                shown(&path)
            ));
        }
    }
    if subdirs_left > 0 {
        plan.notes.push(format!(
            "left out {subdirs_left} subdirector{} of {} (add --recursive to include them)",
            if subdirs_left == 1 { "y" } else { "ies" },
            shown(dir)
        ));
    }
    Ok(())
}

/// The file or directory name of `path` as an evidence or folder name, or why the node would
/// refuse it.
fn checked_name(path: &Path) -> Result<String, String> {
    let Some(name) = path.file_name() else {
        return Err(format!("{}: has no file name", shown(path)));
    };
    let Some(name) = name.to_str() else {
        return Err(format!("{}: the name is not valid UTF-8", shown(path)));
    };
    validate_name(name).map_err(|e| format!("{}: {e}", shown(path)))?;
    Ok(name.to_owned())
}

/// `folder/name`, or `name` at the root.
fn join(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_owned()
    } else {
        format!("{folder}/{name}")
    }
}

/// An evidence item the case already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    id: EvidenceId,
    display_id: String,
    hash: BlobHash,
}

/// What the case already holds: items keyed by folder, name and size (a local file is hashed only
/// when an item with the same three exists), and the folder paths.
#[derive(Debug, Default)]
struct Present {
    items: HashMap<(String, String, u64), Vec<Known>>,
    folders: BTreeSet<String>,
}

impl Present {
    /// From a case as `GET /v1/cases/{case}` shows it.
    fn from_case(case: &CaseView) -> Present {
        Present::from_parts(
            &case.folders,
            case.evidence.iter().map(|e| {
                let known = Known {
                    id: e.id,
                    display_id: e.display_id.clone(),
                    hash: e.hash,
                };
                ((e.folder.clone(), e.name.clone(), e.size), known)
            }),
        )
    }

    /// From the folder paths and the items keyed by folder, name and size.
    fn from_parts(
        folders: &[String],
        items: impl IntoIterator<Item = ((String, String, u64), Known)>,
    ) -> Present {
        let mut present = Present::default();
        for (key, known) in items {
            present.items.entry(key).or_default().push(known);
        }
        present.set_folders(folders);
        present
    }

    /// Take the folder list of a case (the answer to a folder operation is its case view).
    fn set_folders(&mut self, folders: &[String]) {
        self.folders = folders.iter().cloned().collect();
    }

    /// Whether an item with `file`'s folder, name and size exists (then `file` must be hashed).
    fn has_candidates(&self, file: &LocalFile) -> bool {
        self.items.contains_key(&key(file))
    }

    /// The item with `file`'s folder and name whose content hashes to `hash`, if any.
    fn find(&self, file: &LocalFile, hash: &BlobHash) -> Option<&Known> {
        self.items.get(&key(file))?.iter().find(|k| k.hash == *hash)
    }

    /// Record an item just added.
    fn insert(&mut self, file: &LocalFile, known: Known) {
        self.items.entry(key(file)).or_default().push(known);
    }
}

fn key(file: &LocalFile) -> (String, String, u64) {
    (file.folder.clone(), file.name.clone(), file.size)
}

/// One file of the batch: its `--json` entry, and what the text line shows besides.
#[derive(Debug)]
struct Entry {
    out: BatchEntry,
    display_id: String,
    size: u64,
}

impl Entry {
    fn line(&self) -> String {
        let target = join(&self.out.folder, &self.out.name);
        if self.out.skipped {
            format!("skipped {} {target} (already present)", self.display_id)
        } else {
            format!(
                "added   {} {target} ({}, blake3 {})",
                self.display_id,
                bytes(self.size),
                self.out.hash
            )
        }
    }
}

/// The progress of a batch, kept outside the future that does the work so that it can be
/// reported after an error or Ctrl-C.
#[derive(Debug)]
struct Run {
    /// What the case holds, kept up to date as files and folders are added.
    present: Present,
    entries: Vec<Entry>,
    /// Files of the plan dealt with (added or skipped); the next one is `plan.files[done]`.
    done: usize,
    /// An upload was in flight when the run stopped: the node may or may not have stored it.
    sending: bool,
    /// What the run was doing, for the error report.
    at: String,
}

impl Run {
    async fn go(
        &mut self,
        client: &Client,
        case: &str,
        plan: &Plan,
        description: Option<&str>,
        bar: &ProgressBar,
        out: Out,
    ) -> anyhow::Result<()> {
        let total = plan.files.len();
        let say = |line: String| {
            if !out.json {
                bar.suspend(|| outln!("{line}"));
            }
        };
        // Folders first, while the case is smallest: creating one answers with the whole case,
        // so creating them between uploads cost more the more items were already added.
        if self.done == 0 {
            for folder in &plan.folders {
                self.at = format!("folder {folder}");
                if let Some(created) =
                    ensure_folder(client, case, folder, &mut self.present).await?
                {
                    say(format!("created folder {created}"));
                }
            }
        }
        for file in &plan.files[self.done..] {
            let target = file.target();
            self.at = shown(&file.path).to_string();
            bar.set_message(target.clone());
            if self.present.has_candidates(file) {
                let hash = hash_file(&file.path).await?;
                if let Some(k) = self.present.find(file, &hash) {
                    let entry = Entry {
                        out: BatchEntry {
                            id: k.id,
                            hash: k.hash,
                            name: file.name.clone(),
                            folder: file.folder.clone(),
                            skipped: true,
                        },
                        display_id: k.display_id.clone(),
                        size: file.size,
                    };
                    say(entry.line());
                    self.entries.push(entry);
                    self.done += 1;
                    // Nothing to send: take it out of the total, so rate and ETA stay those of
                    // the uploads.
                    bar.set_length(bar.length().unwrap_or(0).saturating_sub(file.size));
                    bar.set_prefix(format!("{}/{total} files", self.done));
                    continue;
                }
            }
            if let Some(created) =
                ensure_folder(client, case, &file.folder, &mut self.present).await?
            {
                say(format!("created folder {created}"));
            }
            let mut query = vec![("name", file.name.clone())];
            if !file.folder.is_empty() {
                query.push(("folder", file.folder.clone()));
            }
            if let Some(d) = description {
                query.push(("description", d.to_owned()));
            }
            self.sending = true;
            let up = client
                .upload_counted(&["v1", "cases", case, "evidence"], &query, &file.path, bar)
                .await;
            // "Was being sent" only when the node was reached: a file that could not be opened
            // or read here never left this machine.
            self.sending = up.as_ref().is_err_and(|e| {
                e.chain()
                    .any(|c| c.downcast_ref::<crate::client::RequestError>().is_some())
            });
            let up = up?;
            let ev: EvidenceView = typed(&up.answer)?;
            let entry = Entry {
                out: BatchEntry {
                    id: ev.id,
                    hash: ev.hash,
                    name: file.name.clone(),
                    folder: file.folder.clone(),
                    skipped: false,
                },
                display_id: ev.display_id,
                size: ev.size,
            };
            self.present.insert(
                file,
                Known {
                    id: entry.out.id,
                    display_id: entry.display_id.clone(),
                    hash: entry.out.hash,
                },
            );
            say(entry.line());
            self.entries.push(entry);
            self.done += 1;
            bar.set_prefix(format!("{}/{total} files", self.done));
            // Added either way; a mismatch means the file changed while it was sent.
            up.check_hash(
                Some(&self.entries[self.entries.len() - 1].out.hash),
                &file.path,
            )?;
        }
        // Folders no file needed (on a resumed run): empty subdirectories, or a --folder whose
        // files were all present.
        for folder in &plan.folders {
            self.at = format!("folder {folder}");
            if let Some(created) = ensure_folder(client, case, folder, &mut self.present).await? {
                say(format!("created folder {created}"));
            }
        }
        Ok(())
    }
}

/// Add a batch, then print the entries (`--json`) or a summary; on an error or Ctrl-C, say what
/// was added and what not, and fail.
pub(super) async fn add_batch(
    client: &Client,
    out: Out,
    case: &str,
    paths: &[PathBuf],
    batch: &Batch,
) -> anyhow::Result<()> {
    let plan = plan(paths, &batch.folder, batch.recursive)?;
    let case_view: CaseView = typed(&client.get(&["v1", "cases", case]).await?)?;
    // Address the case by the record id from now on, so a concurrent change of its case number
    // cannot send half of the batch elsewhere.
    let present = Present::from_case(&case_view);
    let case_id = case_view.id.to_string();

    let total_bytes = plan.files.iter().map(|f| f.size).sum();
    let bar = batch_bar(plan.files.len(), total_bytes);
    for note in &plan.notes {
        bar.suspend(|| errln!("note: {note}"));
    }
    let mut run = Run {
        present,
        entries: Vec::new(),
        done: 0,
        sending: false,
        at: String::new(),
    };
    let result = tokio::select! {
        r = run.go(client, &case_id, &plan, batch.description.as_deref(), &bar, out) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    bar.finish_and_clear();

    let skipped = run.entries.iter().filter(|e| e.out.skipped).count();
    let added = run.entries.len() - skipped;
    let added_bytes: u64 = run
        .entries
        .iter()
        .filter(|e| !e.out.skipped)
        .map(|e| e.size)
        .sum();
    if out.json {
        let entries: Vec<&BatchEntry> = run.entries.iter().map(|e| &e.out).collect();
        outln!("{}", serde_json::to_string_pretty(&entries)?);
    }
    let summary = format!(
        "added {added} file{} ({}); {skipped} already present, skipped",
        if added == 1 { "" } else { "s" },
        bytes(added_bytes)
    );
    let Err(e) = result else {
        if !out.json {
            if plan.files.is_empty() {
                outln!("no files to add");
            } else {
                outln!("{summary}");
            }
        }
        return Ok(());
    };
    let left = &plan.files[run.done.min(plan.files.len())..];
    errln!("{summary}");
    if run.sending
        && let Some(f) = left.first()
    {
        errln!(
            "{} was being sent when the batch stopped: if the node stored it, a re-run skips it",
            shown(&f.path)
        );
    }
    if !left.is_empty() {
        const SHOWN: usize = 20;
        errln!("not added ({} of {}):", left.len(), plan.files.len());
        for f in left.iter().take(SHOWN) {
            errln!("  {}", shown(&f.path));
        }
        if left.len() > SHOWN {
            errln!("  … and {} more", left.len() - SHOWN);
        }
    }
    Err(e.context(format!(
        "stopped at {} ({} of {} files not added; run the same command again to add the rest)",
        run.at,
        left.len(),
        plan.files.len()
    )))
}

/// Create the folder at `path` unless the case has it; returns the path when it was created.
async fn ensure_folder(
    client: &Client,
    case: &str,
    path: &str,
    present: &mut Present,
) -> anyhow::Result<Option<String>> {
    if path.is_empty() || present.folders.contains(path) {
        return Ok(None);
    }
    let body = FolderRequest {
        path: path.to_owned(),
        ..FolderRequest::default()
    };
    match client
        .send_json(Method::POST, &["v1", "cases", case, "folders"], &body)
        .await
    {
        Ok(view) => {
            present.set_folders(&typed::<CaseView>(&view)?.folders);
            Ok(Some(path.to_owned()))
        }
        Err(e) => {
            // The node refuses to create a folder that exists: someone may have made it meanwhile.
            let view: CaseView = typed(&client.get(&["v1", "cases", case]).await?)?;
            present.set_folders(&view.folders);
            if present.folders.contains(path) {
                Ok(None)
            } else {
                Err(e.context(format!("creating folder {path}")))
            }
        }
    }
}

/// The BLAKE3 of a file, read as a stream off the async runtime.
async fn hash_file(path: &Path) -> anyhow::Result<BlobHash> {
    let owned = path.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<BlobHash> {
        let file =
            std::fs::File::open(&owned).with_context(|| format!("opening {}", shown(&owned)))?;
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_reader(file)
            .with_context(|| format!("reading {}", shown(&owned)))?;
        Ok(hasher.finalize().into())
    })
    .await
    .context("hashing task")?
}

/// One bar for the whole batch: files done of total, bytes, rate, ETA. Hidden unless stderr is a
/// terminal (it never mixes with stdout, so `--json` keeps it).
fn batch_bar(files: usize, bytes: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(bytes);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {wide_msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("0/{files} files"));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// `root/a/x.bin`, `root/a/b/y.bin`, `root/c.txt`, `root/.hidden`, `root/empty/`, and a
    /// link `root/link` to `c.txt`.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        fs::write(root.join("a/x.bin"), "xx").unwrap();
        fs::write(root.join("a/b/y.bin"), "yyy").unwrap();
        fs::write(root.join("c.txt"), "c").unwrap();
        fs::write(root.join(".hidden"), "h").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("c.txt"), root.join("link")).unwrap();
        dir
    }

    fn targets(plan: &Plan) -> Vec<String> {
        plan.files.iter().map(LocalFile::target).collect()
    }

    #[test]
    fn a_recursive_plan_keeps_the_tree_in_path_order() {
        let dir = tree();
        let plan = plan(&[dir.path().to_owned()], "Seized", true).unwrap();
        assert_eq!(
            targets(&plan),
            [
                "Seized/.hidden",
                "Seized/a/b/y.bin",
                "Seized/a/x.bin",
                "Seized/c.txt"
            ]
        );
        assert_eq!(plan.files[1].size, 3);
        assert_eq!(plan.files[1].path, dir.path().join("a/b/y.bin"));
        let folders: Vec<&str> = plan.folders.iter().map(String::as_str).collect();
        assert_eq!(
            folders,
            ["Seized", "Seized/a", "Seized/a/b", "Seized/empty"]
        );
        #[cfg(unix)]
        assert!(
            plan.notes.iter().any(|n| n.contains("symbolic link")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn a_flat_plan_takes_top_level_files_only() {
        let dir = tree();
        let plan = plan(&[dir.path().to_owned()], "", false).unwrap();
        assert_eq!(targets(&plan), [".hidden", "c.txt"]);
        assert!(plan.folders.is_empty());
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("2 subdirectories") && n.contains("--recursive")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn files_named_on_the_command_line_keep_their_order() {
        let dir = tree();
        let (c, x) = (dir.path().join("c.txt"), dir.path().join("a/x.bin"));
        let plan = plan(&[c, x], "", false).unwrap();
        assert_eq!(targets(&plan), ["c.txt", "x.bin"]);
    }

    #[test]
    fn bad_input_is_refused_while_planning() {
        let dir = tree();
        let missing = dir.path().join("nope");
        let err = plan(&[dir.path().to_owned(), missing], "", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        let err = plan(&[dir.path().to_owned()], "/abs", true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--folder"), "{err}");
        fs::write(dir.path().join(" padded "), "p").unwrap();
        let err = plan(&[dir.path().to_owned()], "", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("padded"), "{err}");
        // A hostile name is reported escaped: no raw newline or terminal escape reaches stderr.
        fs::remove_file(dir.path().join(" padded ")).unwrap();
        fs::write(dir.path().join("evil\n\u{1b}[2Jname"), "e").unwrap();
        let err = plan(&[dir.path().to_owned()], "", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("evil\\n\\u{1b}[2Jname"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err}");
    }

    #[test]
    fn present_items_match_on_folder_name_size_and_hash() {
        let (i1, i2) = (EvidenceId::random(), EvidenceId::random());
        let (ab, cd) = (BlobHash::of(b"ab"), BlobHash::of(b"cd"));
        let known = Known {
            id: i1,
            display_id: "EV-0001".into(),
            hash: ab,
        };
        let mut present = Present::from_parts(
            &["a".to_owned()],
            [(("a".to_owned(), "x.bin".to_owned(), 2), known)],
        );
        assert!(present.folders.contains("a"));
        let file = |folder: &str, name: &str, size| LocalFile {
            path: PathBuf::from(name),
            folder: folder.to_owned(),
            name: name.to_owned(),
            size,
        };
        let x = file("a", "x.bin", 2);
        assert!(present.has_candidates(&x));
        assert_eq!(present.find(&x, &ab).map(|k| k.id), Some(i1));
        assert!(present.find(&x, &cd).is_none(), "new content is added");
        assert!(
            !present.has_candidates(&file("", "x.bin", 2)),
            "other folder"
        );
        assert!(
            !present.has_candidates(&file("a", "x.bin", 3)),
            "other size"
        );
        assert!(
            !present.has_candidates(&file("a", "y.bin", 2)),
            "other name"
        );
        present.insert(
            &x,
            Known {
                id: i2,
                display_id: "EV-0002".into(),
                hash: cd,
            },
        );
        assert_eq!(present.find(&x, &cd).map(|k| k.id), Some(i2));
    }

    #[test]
    fn entries_carry_skipped_only_when_skipped() {
        let (id, hash) = (EvidenceId::random(), BlobHash::of(b"n"));
        let mut e = BatchEntry {
            id,
            hash,
            name: "n".into(),
            folder: "".into(),
            skipped: false,
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"id": id.to_string(), "hash": hash.to_hex(), "name": "n", "folder": ""})
        );
        e.skipped = true;
        assert_eq!(serde_json::to_value(&e).unwrap()["skipped"], true);
    }
}
