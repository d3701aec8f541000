//! Writing `config.toml` back without losing what the operator wrote in it.
//!
//! The node rewrites its configuration when settings change through the API (`casemesh settings
//! set`). A plain re-serialization would drop the operator's comments, key order and blank lines,
//! and spell out every default. Instead the file is edited in place with `toml_edit`: only the
//! keys whose *meaning* changed are touched (compared with what the file meant, defaults
//! included), a changed value keeps the comments around it, a key whose value went away (a
//! cleared option) is removed, and a key that was left to its default gets written only when it
//! changes.
//!
//! The file is written atomically (temp file, fsync, rename) with mode 0600 when it holds a
//! secret (`[smtp] password`), else with the mode it had (0644 for a new file). The mode is set
//! on the temp file before the bytes go in, so the secret is never readable by others, even
//! for an instant, even when a stale temp file was left behind with a wider mode.

use crate::config::Config;
use anyhow::{Context as _, Result};
use std::path::Path;
use toml_edit::{DocumentMut, Item, TableLike};

/// Write `config` to `path`, keeping the existing file's comments and layout.
pub(crate) fn write_back(path: &Path, config: &Config) -> Result<()> {
    let new = toml::Value::try_from(config).context("encode configuration")?;
    let existing = std::fs::read_to_string(path).ok();
    let text = match existing.as_deref().and_then(|t| edited(t, &new)) {
        Some(text) => text,
        None => toml::to_string_pretty(config).context("encode configuration")?,
    };
    let mode = if holds_secret(config) {
        0o600
    } else {
        existing_mode(path).unwrap_or(0o644)
    };
    crate::config::write_atomic(path, text.as_bytes(), mode)
}

/// Whether the file holds a secret others must not read.
pub(crate) fn holds_secret(config: &Config) -> bool {
    config.smtp.as_ref().is_some_and(|s| s.password.is_some())
}

fn existing_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// `old_text` edited to mean `new`; `None` when it cannot be (it no longer parses).
fn edited(old_text: &str, new: &toml::Value) -> Option<String> {
    let mut doc: DocumentMut = old_text.parse().ok()?;
    let old: Config = toml::from_str(old_text).ok()?;
    let old = toml::Value::try_from(&old).ok()?;
    let (toml::Value::Table(old), toml::Value::Table(new)) = (old, new) else {
        return None;
    };
    merge(doc.as_table_mut(), &old, new)?;
    Some(doc.to_string())
}

/// Change `doc` (which means `old`) so that it means `new`, touching only what differs.
fn merge(doc: &mut dyn TableLike, old: &toml::Table, new: &toml::Table) -> Option<()> {
    let empty = toml::Table::new();
    for (key, value) in new {
        let before = old.get(key);
        if before == Some(value) {
            continue;
        }
        match value {
            toml::Value::Table(table) => {
                if !doc.get(key).is_some_and(|i| i.is_table_like()) {
                    doc.insert(key, Item::Table(toml_edit::Table::new()));
                }
                let inner = doc.get_mut(key)?.as_table_like_mut()?;
                let before = before.and_then(toml::Value::as_table).unwrap_or(&empty);
                merge(inner, before, table)?;
            }
            _ => {
                let mut fresh: toml_edit::Value = value.to_string().parse().ok()?;
                match doc.get_mut(key) {
                    Some(item) => {
                        // Keep the comment after the value (`key = 1  # why`).
                        if let Some(v) = item.as_value() {
                            *fresh.decor_mut() = v.decor().clone();
                        }
                        *item = Item::Value(fresh);
                    }
                    None => {
                        doc.insert(key, Item::Value(fresh));
                    }
                }
            }
        }
    }
    for key in old.keys() {
        if !new.contains_key(key) {
            doc.remove(key);
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# Metro PD node — edited by ops, ticket OPS-1234
[org]
name = \"Metro PD\"   # shown to partners

[settings]
# we import by hand after review
auto_import = true  # see runbook
";

    fn write_and_read(text: &str, change: impl FnOnce(&mut Config)) -> (String, u32) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let mut config: Config = toml::from_str(text).unwrap();
        change(&mut config);
        write_back(&path, &config).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        let reread: Config = toml::from_str(&written).unwrap();
        assert_eq!(
            toml::Value::try_from(&reread).unwrap(),
            toml::Value::try_from(&config).unwrap(),
            "the file must mean the new config:\n{written}"
        );
        (written, existing_mode(&path).unwrap())
    }

    #[test]
    fn comments_stay_and_only_changed_keys_are_written() {
        let (text, _) = write_and_read(FILE, |c| {
            c.settings.auto_import = false;
            c.settings.features.case_share_links = false;
            c.settings.intake_address = Some("intake@metro.example".into());
        });
        for kept in [
            "# Metro PD node — edited by ops, ticket OPS-1234",
            "name = \"Metro PD\"   # shown to partners",
            "# we import by hand after review",
            "auto_import = false  # see runbook",
            "intake_address = \"intake@metro.example\"",
            "case_share_links = false",
        ] {
            assert!(text.contains(kept), "{kept:?} missing in\n{text}");
        }
        // Defaults nobody changed are not spelled out.
        assert!(!text.contains("sweep_interval_secs"), "{text}");
        assert!(!text.contains("evidence_share ="), "{text}");
    }

    #[test]
    fn a_cleared_option_is_removed_and_retention_round_trips() {
        let file = format!("{FILE}intake_address = \"a@b.example\"\n");
        let (text, _) = write_and_read(&file, |c| {
            c.settings.intake_address = None;
            c.settings.default_retention =
                Some(casemesh_model::retention::RetentionPolicy::Days(30));
        });
        assert!(!text.contains("intake_address"), "{text}");
        let (text, _) = write_and_read(&text, |c| {
            c.settings.default_retention =
                Some(casemesh_model::retention::RetentionPolicy::Days(60));
        });
        assert!(text.contains("60"), "{text}");
    }

    #[test]
    fn a_secret_makes_the_file_0600() {
        let file = format!(
            "{FILE}\n[smtp]\nhost = \"mail.example\"\nfrom = \"n@example\"\nusername = \"u\"\npassword = \"s3cret\"\n"
        );
        let dir = tempfile::tempdir().unwrap();
        // A leftover temp file with a wide mode does not leak its mode to the new file.
        std::fs::write(dir.path().join("config.tmp"), "x").unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, &file).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut config: Config = toml::from_str(&file).unwrap();
        config.settings.auto_import = false;
        write_back(&path, &config).unwrap();
        assert_eq!(existing_mode(&path), Some(0o600));
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("# see runbook")
        );
        let (_, mode) = write_and_read(FILE, |c| c.settings.auto_import = false);
        assert_eq!(mode, 0o644, "no secret: the file keeps its mode");
    }
}
