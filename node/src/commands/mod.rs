//! The client subcommands of `casemesh` (everything but `init` and `run`): each talks to a running
//! node's admin API through [`crate::client::Client`].
//!
//! Every subcommand prints a short human-readable answer, or with `--json` exactly the API's JSON
//! (pretty-printed) and nothing else on stdout. Errors go back to `main` as `anyhow` errors, which
//! prints them as `error: …` and exits with code 1.
//!
//! Layout: one file per noun — [`case`], [`evidence`], [`folder`], [`audit`], [`user`] (users,
//! groups, tokens), [`settings`] (settings, retention sweep, blob store), [`node_info`] (status).

mod audit;
mod case;
mod confirm;
mod custody;
mod evidence;
mod federation;
mod folder;
mod link;
mod migrate;
mod node_info;
mod settings;
mod share;
mod updates;
mod user;
mod verify;

use crate::client::Client;
use serde_json::Value;
use std::path::PathBuf;

/// The global flags every client subcommand needs (parsed by `main`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    /// `--data-dir`: where `admin.addr` and `admin.token` are found.
    pub(crate) data_dir: Option<PathBuf>,
    /// `--node`: base URL of the admin API; overrides `DIR/admin.addr`.
    pub(crate) node: Option<String>,
    /// `--token`: bearer token; overrides `DIR/admin.token`.
    pub(crate) token: Option<String>,
    /// `--json`: print the API's JSON instead of human-readable text.
    pub(crate) json: bool,
    /// `--request-timeout SECS` as given; without it `client` reads `CASEMESH_REQUEST_TIMEOUT`,
    /// else takes its default (see `client::request_timeout`).
    pub(crate) request_timeout: Option<u64>,
}

/// The client subcommands, flattened into the top-level `casemesh` command.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Create, list, show and edit cases.
    #[command(subcommand)]
    Case(case::CaseCommand),
    /// Add, fetch, edit, move and delete evidence; add transcripts.
    #[command(subcommand)]
    Evidence(evidence::EvidenceCommand),
    /// Create, rename, move and delete folders of a case.
    #[command(subcommand)]
    Folder(folder::FolderCommand),
    /// Show and verify a case's hash-chained audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// A case's custody timeline across organizations; `custody export` writes it as CASE/UCO
    /// JSON-LD.
    Custody(custody::CustodyArgs),
    /// Add, list and edit local users; issue API tokens.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Add and list groups.
    #[command(subcommand)]
    Group(user::GroupCommand),
    /// Show and change the organization's settings and feature flags.
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
    /// Apply retention policies now.
    #[command(subcommand)]
    Retention(settings::RetentionCommand),
    /// Inspect and garbage-collect the content-addressed blob store.
    #[command(subcommand)]
    Blobs(settings::BlobsCommand),
    /// Show the node's organization, version and admin address.
    Status,
    /// Create, list, show and revoke download links (ZIP or ISO packages of a case).
    #[command(subcommand)]
    Link(link::LinkCommand),
    /// Print this node's PeerId (org id) and bound listen addresses.
    Id,
    /// Register, list, update and remove partner organizations.
    #[command(subcommand)]
    Partner(federation::PartnerCommand),
    /// List and define sharing policies.
    #[command(subcommand)]
    Policy(federation::PolicyCommand),
    /// The operator view of partner connections, traffic, transfers and outbox.
    Peers,
    /// Share cases with partner organizations (partner share by copy).
    #[command(subcommand)]
    Share(share::ShareCommand),
    /// Shares received from partner organizations: list, import details, import.
    #[command(subcommand)]
    Received(share::ReceivedCommand),
    /// Verify a downloaded package offline (signature, signer, every file's hash, the audit
    /// chain); the signer must be pinned with --org-key or --data-dir, or --allow-unpinned.
    #[command(after_help = "Pinning the signer:\n  \
        --org-key HEX|ORG_ID   the package must be signed by that organization's key\n  \
        --data-dir DIR         ... by the key of the node whose data directory that is, or of one of\n                         \
        its registered partners (read from the running node's admin API;\n                         \
        --node URL --token T reach it the same way)\n  \
        neither                exit 1, unless --allow-unpinned\n\
        Exit 0 when the package is intact and its signer pinned, 1 otherwise.")]
    Verify(verify::VerifyArgs),
}

/// Run one client subcommand against the node `ctx` points at.
pub(crate) async fn run(cmd: Command, ctx: Context) -> anyhow::Result<()> {
    // `verify` works offline, on a file: no node, no token.
    if let Command::Verify(args) = &cmd {
        return verify::run(args, &ctx).await;
    }
    // `blobs migrate` works offline too, on a stopped node's data directory.
    if let Command::Blobs(settings::BlobsCommand::Migrate { to }) = &cmd {
        return migrate::run(*to, &ctx).await;
    }
    let client = Client::from_context(&ctx)?;
    let out = Out { json: ctx.json };
    match cmd {
        Command::Case(c) => case::run(c, &client, out).await,
        Command::Evidence(c) => evidence::run(c, &client, out).await,
        Command::Folder(c) => folder::run(c, &client, out).await,
        Command::Audit(c) => audit::run(c, &client, out).await,
        Command::Custody(c) => custody::run(c, &client, out).await,
        Command::User(c) => user::run_user(c, &client, out).await,
        Command::Group(c) => user::run_group(c, &client, out).await,
        Command::Settings(c) => settings::run_settings(c, &client, out).await,
        Command::Retention(c) => settings::run_retention(c, &client, out).await,
        Command::Blobs(c) => settings::run_blobs(c, &client, out).await,
        Command::Status => node_info::run(&client, out).await,
        Command::Link(c) => link::run(c, &client, out).await,
        Command::Id => federation::id(&client, out).await,
        Command::Partner(c) => federation::partner(c, &client, out).await,
        Command::Policy(c) => federation::policy(c, &client, out).await,
        Command::Peers => federation::peers(&client, out).await,
        Command::Share(c) => share::share(c, &client, out).await,
        Command::Received(c) => share::received(c, &client, out).await,
        Command::Verify(args) => verify::run(&args, &ctx).await,
    }
}

/// How to print answers: `--json` or human-readable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Out {
    json: bool,
}

impl Out {
    /// With `--json`, print `value` pretty and return `true`; the caller prints text otherwise.
    fn json(self, value: &Value) -> anyhow::Result<bool> {
        if self.json {
            outln!("{}", serde_json::to_string_pretty(value)?);
        }
        Ok(self.json)
    }

    /// With `--json`, print `value` (the API's JSON as received) and return `None`; otherwise
    /// read it as the API type `T` (from `casemesh_api_types`) for the human-readable answer.
    /// Fails, naming `T`, when the node's answer does not have that shape (another version).
    fn answer<T: serde::de::DeserializeOwned>(self, value: &Value) -> anyhow::Result<Option<T>> {
        if self.json(value)? {
            return Ok(None);
        }
        typed(value).map(Some)
    }
}

/// The API's JSON answer as its type `T` (`casemesh_api_types`); the error names `T`.
fn typed<T: serde::de::DeserializeOwned>(value: &Value) -> anyhow::Result<T> {
    T::deserialize(value).map_err(|e| {
        anyhow::anyhow!(
            "the node's answer is not a {}: {e}",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("value")
        )
    })
}

/// A string field for people: empty as `-`, control characters escaped (see [`escape`]); the
/// typed twin of [`text`].
fn s(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        escape(text).into_owned()
    }
}

/// An optional string field for people: `None` as `-`, else as [`s`].
fn opt(text: Option<&str>) -> String {
    text.map_or_else(|| "-".to_owned(), s)
}

/// An optional record id for people: `None` as `-`, else its text (which needs no escaping).
fn opt_id(id: Option<impl std::fmt::Display>) -> String {
    id.map_or_else(|| "-".to_owned(), |i| i.to_string())
}

/// A list for people: comma-separated, `-` when empty, each entry as [`s`].
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.iter().map(|i| s(i)).collect::<Vec<_>>().join(", ")
    }
}

/// `text` with every character that could move the cursor, retitle the window, write the
/// clipboard or reorder what is shown made visible instead: `\n`, `\r`, `\t`, `\x1b` (C0 controls
/// and DEL), `\u{9b}` (C1 controls, e.g. the one-byte CSI) and `\u{202e}` (bidirectional
/// overrides and isolates). Whatever a name, title or description holds — typed here or received
/// from a partner —, it prints as one line of inert text.
pub(crate) fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x80 && unsafe_char(c) => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)))
            }
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Print rows under headers, columns padded to their widest cell (display width), two spaces
/// apart, no borders; every cell escaped (see [`escape`]), so a cell is always one line.
fn table(headers: &[&str], rows: &[Vec<String>]) {
    out!("{}", render_table(headers, rows));
}

/// The text [`table`] prints.
fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(headers.iter().map(|h| escape(h).into_owned()));
    for row in rows {
        t.add_row(row.iter().map(|c| escape(c).into_owned()));
    }
    let last = headers.len().saturating_sub(1);
    for (i, column) in t.column_iter_mut().enumerate() {
        column.set_padding((0, if i == last { 0 } else { 2 }));
    }
    let mut out = String::new();
    for line in t.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Human-readable byte count (`1.5 MiB`).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Parse `on`/`off` (also `true`/`false`, `yes`/`no`, `1`/`0`).
fn on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "enabled" => Ok(true),
        "off" | "false" | "no" | "0" | "disabled" => Ok(false),
        _ => Err(format!("expected on or off, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Mirrors how `main` flattens [`Command`] into the top-level parser.
    #[derive(Debug, clap::Parser)]
    struct TestCli {
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: Command,
    }

    pub(super) fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        TestCli::try_parse_from(std::iter::once("casemesh").chain(args.iter().copied()))
            .map(|c| c.command)
    }

    #[test]
    fn the_command_tree_is_consistent() {
        use clap::CommandFactory;
        TestCli::command().debug_assert();
    }

    #[test]
    fn fixed_command_names_parse() {
        for args in [
            &["case", "create", "--case-id", "C-1", "--title", "T"][..],
            &[
                "case",
                "create",
                "--case-id",
                "C-1",
                "--title",
                "T",
                "--description",
                "D",
            ],
            &["case", "list"],
            &["case", "list", "--external"],
            &["case", "show", "C-1"],
            &["case", "edit", "C-1", "--title", "U"],
            &["case", "retention", "C-1", "manual"],
            &["case", "retention", "C-1", "30"],
            &[
                "evidence", "add", "C-1", "f.bin", "--folder", "A/B", "--name", "n",
            ],
            &[
                "evidence",
                "add",
                "C-1",
                "f.bin",
                "--display-id",
                "E1",
                "--description",
                "d",
            ],
            &["evidence", "get", "C-1", "E1", "-o", "out.bin"],
            &["evidence", "show", "C-1", "E1"],
            &[
                "evidence",
                "edit",
                "C-1",
                "E1",
                "--name",
                "x",
                "--category",
                "Photo",
            ],
            &["evidence", "move", "C-1", "E1", "--folder", ""],
            &["evidence", "delete", "C-1", "E1"],
            &[
                "evidence",
                "transcript",
                "add",
                "C-1",
                "E1",
                "t.txt",
                "--name",
                "t",
            ],
            &["folder", "create", "C-1", "Interviews/Day 1"],
            &["folder", "rename", "C-1", "Interviews/Day 1", "Day One"],
            &["folder", "move", "C-1", "Photos", ""],
            &["folder", "delete", "C-1", "Photos"],
            &["audit", "verify", "C-1"],
            &["audit", "show", "C-1"],
            &[
                "user",
                "add",
                "bob",
                "--full-name",
                "Bob",
                "--permission",
                "case_edit",
            ],
            &[
                "user",
                "add",
                "bob",
                "--full-name",
                "Bob",
                "--email",
                "b@x",
                "--badge-id",
                "7",
            ],
            &[
                "user",
                "add",
                "bob",
                "--full-name",
                "B",
                "--group",
                "g1",
                "--group",
                "g2",
            ],
            &["user", "list"],
            &["user", "token", "bob"],
            &[
                "group",
                "add",
                "g",
                "--permission",
                "case_edit",
                "--permission",
                "administer",
            ],
            &["group", "list"],
            &["settings", "show"],
            &[
                "settings",
                "set",
                "--feature",
                "case_share=on",
                "--feature",
                "case_share_links=off",
            ],
            &[
                "settings",
                "set",
                "--default-retention",
                "none",
                "--auto-import",
                "off",
            ],
            &["retention", "sweep"],
            &["blobs", "stats"],
            &["blobs", "gc"],
            &["blobs", "verify"],
            &["status"],
            &["link", "create", "C-1", "--format", "zip"],
            &[
                "link",
                "create",
                "C-1",
                "--format",
                "iso",
                "--days",
                "30",
                "--audit-trail",
                "--transcripts",
                "--toc",
                "--keep-folders",
                "--folder",
                "A",
                "--folder",
                "B/C",
                "--evidence",
                "EV-0001",
                "--to",
                "a@b.org",
                "--message",
                "hi",
                "--wait",
            ],
            &["link", "list", "C-1"],
            &["link", "show", "L"],
            &["link", "revoke", "L"],
            &["verify", "p.zip"],
            &["verify", "p.iso", "--org-key", "ab"],
        ] {
            parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    #[test]
    fn bad_values_are_refused_at_parse_time() {
        for args in [
            &["case", "retention", "C-1", "forever"][..],
            &["settings", "set", "--feature", "case_share"],
            &["settings", "set", "--feature", "case_share=maybe"],
            &["settings", "set", "--auto-import", "perhaps"],
            &["settings", "set", "--default-retention", "soon"],
            &["evidence", "get", "C-1", "E1"],
            &["link", "create", "C-1", "--format", "zip", "--days", "0"],
            &["link", "create", "C-1", "--format", "zip", "--days", "-1"],
        ] {
            assert!(parse(args).is_err(), "{args:?} should not parse");
        }
    }

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(50 << 20), "50.0 MiB");
    }

    #[test]
    fn tables_keep_their_layout() {
        let rows = vec![
            vec!["C-1".to_owned(), "Burglary".to_owned(), "3".to_owned()],
            vec!["2026-CR-0042".to_owned(), "-".to_owned(), "12".to_owned()],
        ];
        assert_eq!(
            render_table(&["CASE ID", "TITLE", "EVIDENCE"], &rows),
            "CASE ID       TITLE     EVIDENCE\n\
             C-1           Burglary  3\n\
             2026-CR-0042  -         12\n"
        );
    }

    #[test]
    fn control_characters_print_as_visible_escapes() {
        let hostile = "Case\u{1b}]0;owned\u{7}\u{1b}[31m\r\nFORGED\u{9b}2J\u{202e}txt.exe\t.";
        let shown = escape(hostile);
        assert_eq!(
            shown,
            "Case\\x1b]0;owned\\x07\\x1b[31m\\r\\nFORGED\\u{9b}2J\\u{202e}txt.exe\\t."
        );
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(escape("Zoë's case, 東京"), "Zoë's case, 東京");
        let table = render_table(
            &["TITLE", "ID"],
            &[vec![hostile.to_owned(), "1".to_owned()]],
        );
        assert_eq!(table.lines().count(), 2, "{table}");
        assert!(
            !table
                .trim_end()
                .chars()
                .any(|c| c.is_control() && c != '\n')
        );
        assert_eq!(s("a\u{1b}b"), "a\\x1bb");
    }
}
