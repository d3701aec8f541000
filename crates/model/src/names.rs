//! Validation of names users and partners supply: folder names, evidence names, path segments.
//!
//! A name is one path segment. It must survive every target file system and never be able to
//! climb out of a directory: no `/` or `\`, no `.` or `..`, no NUL or other control characters,
//! no bidirectional overrides ([`is_bidi_control`]), not empty, at most [`MAX_NAME_BYTES`] bytes. Leading or trailing spaces are refused, since
//! Windows drops them silently. (Package writers apply stricter, lossy sanitizing of their own; this
//! module refuses instead of rewriting, so bad input from the API gets a clear error.)

/// Longest accepted name, in UTF-8 bytes (ext4's limit).
pub const MAX_NAME_BYTES: usize = 255;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty name or empty path segment.
    #[error("name is empty")]
    Empty,
    /// Longer than [`MAX_NAME_BYTES`].
    #[error("name is longer than {MAX_NAME_BYTES} bytes")]
    TooLong,
    /// `.` or `..`.
    #[error("name {0:?} is reserved")]
    Reserved(String),
    /// A separator, NUL or control character.
    #[error("name contains a forbidden character {0:?}")]
    ForbiddenChar(char),
    /// Leading or trailing whitespace.
    #[error("name has leading or trailing whitespace")]
    Whitespace,
    /// An absolute path where a relative one is needed.
    #[error("path must be relative, not absolute")]
    Absolute,
}

/// Limits on free-text fields (UTF-8 bytes), checked at the API so that nothing a user types
/// can grow a record or a partner message without bound. A share's manifest carries every item's
/// description: with [`MAX_EVIDENCE_DESCRIPTION_BYTES`] a manifest of hundreds of items stays far
/// under a control message's size limit.
pub mod limits {
    /// Case ID (case number).
    pub const CASE_NUMBER: usize = 200;
    /// Case title.
    pub const TITLE: usize = 1_000;
    /// Case description.
    pub const CASE_DESCRIPTION: usize = 100_000;
    /// Evidence description.
    pub const EVIDENCE_DESCRIPTION: usize = 16_384;
    /// Evidence category, media type.
    pub const LABEL: usize = 255;
    /// A message sent with a share or a link.
    pub const MESSAGE: usize = 10_000;
    /// A person's full name, an email address or a badge id (a user's directory fields, ours
    /// or a partner's).
    pub const PERSON_FIELD: usize = 320;
    /// The organization's display name (`[org] name`, `casemesh init --org`).
    pub const ORG_NAME: usize = 200;
}

/// Why a free-text field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// Empty or only white space, where a value is required.
    #[error("{field} is empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// Longer than its limit (see [`limits`]).
    #[error("{field} is {len} bytes, longer than the {max} bytes allowed")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length, bytes.
        len: usize,
        /// The limit, bytes.
        max: usize,
    },
    /// Contains NUL.
    #[error("{field} contains a NUL byte")]
    Nul {
        /// The field.
        field: &'static str,
    },
    /// Contains a control character it may not hold (an escape sequence or a line break in a
    /// one-line field could rewrite a terminal or forge a log line where it is shown).
    #[error("{field} contains the control character {ch:?}")]
    Control {
        /// The field.
        field: &'static str,
        /// The character.
        ch: char,
    },
}

/// Check a free-text field (a description, a message): at most `max` UTF-8 bytes, and no control
/// character but line feed and tab.
pub fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), TextError> {
    check_chars(field, value, max, |c| matches!(c, '\n' | '\t'))
}

/// What makes `value` a case number people cannot read, type or tell apart, beyond
/// [`check_line`]: empty, spaces at either end, an invisible character (zero-width,
/// bidirectional controls, BOM, soft hyphen) that makes two numbers look alike, or the shape of
/// a record id (a uuid), which every command accepts in its place. `None` when it is fine. One
/// rule for case numbers typed here and for those a partner sends (issues #15, #16 item 3).
pub fn case_number_problem(value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return Some("case_id is empty".into());
    }
    if value.trim() != value {
        return Some(format!("case_id {value:?} has spaces at its start or end"));
    }
    if let Some(c) = value.chars().find(|c| {
        matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
    }) {
        return Some(format!(
            "case_id contains the invisible character U+{:04X}",
            u32::from(c)
        ));
    }
    if value.parse::<crate::ids::CaseId>().is_ok() {
        return Some(
            "case_id may not look like a record id (a uuid): commands take both in one place"
                .into(),
        );
    }
    None
}

/// Check a one-line field (a case number, a title, a label): at most `max` UTF-8 bytes, no
/// control character at all, and no bidirectional override or isolate ([`is_bidi_control`]).
pub fn check_line(field: &'static str, value: &str, max: usize) -> Result<(), TextError> {
    check_chars(field, value, max, |_| false)?;
    match value.chars().find(|c| is_bidi_control(*c)) {
        Some(ch) => Err(TextError::Control { field, ch }),
        None => Ok(()),
    }
}

/// Whether `c` is a bidirectional embedding, override or isolate control (U+202A–U+202E,
/// U+2066–U+2069). Inside a name or a one-line field they reorder what is shown, so that
/// `\u{202E}gnp.exe` reads as `exe.png` ("Trojan Source", CVE-2021-42574; Unicode TR #9). Right-
/// to-left text needs none of them: the marks U+200E/U+200F stay allowed.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_chars(
    field: &'static str,
    value: &str,
    max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), TextError> {
    if value.len() > max {
        return Err(TextError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    if value.contains('\0') {
        return Err(TextError::Nul { field });
    }
    if let Some(ch) = value.chars().find(|c| c.is_control() && !allowed(*c)) {
        return Err(TextError::Control { field, ch });
    }
    Ok(())
}

/// Check one name (a single path segment).
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong);
    }
    if name == "." || name == ".." {
        return Err(NameError::Reserved(name.to_owned()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '\\') || c.is_control() || is_bidi_control(*c))
    {
        return Err(NameError::ForbiddenChar(c));
    }
    if name.trim() != name {
        return Err(NameError::Whitespace);
    }
    Ok(())
}

/// Split a folder path like `Interviews/Day 1` into validated segments. The empty string is the
/// case's root and yields no segments.
pub fn split_path(path: &str) -> Result<Vec<&str>, NameError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    if path.starts_with('/') || path.starts_with('\\') || path.as_bytes().get(1) == Some(&b':') {
        return Err(NameError::Absolute);
    }
    let segments: Vec<&str> = path.split('/').collect();
    for s in &segments {
        validate_name(s)?;
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_fields_refuse_every_control_character_and_text_all_but_newline_and_tab() {
        for hostile in [
            "evil\u{1b}[2J",
            "X-1\r\nBcc: spy@evil.example",
            "bell\u{7}",
            "a\u{85}b",
            "tab\there",
        ] {
            assert!(
                matches!(
                    check_line("title", hostile, 1000),
                    Err(TextError::Control { .. })
                ),
                "{hostile:?}"
            );
        }
        assert!(matches!(
            check_text("description", "a\u{1b}]0;pwned\u{7}", 1000),
            Err(TextError::Control { .. })
        ));
        assert!(matches!(
            check_text("description", "line\r\nnext", 1000),
            Err(TextError::Control { ch: '\r', .. })
        ));
        assert_eq!(
            check_text("description", "line one\nline\ttwo", 1000),
            Ok(())
        );
        assert_eq!(check_line("title", "Homicide — Müller, 証拠", 1000), Ok(()));
    }

    /// The newcomer's finding: `\u{202E}gnp.exe` shows as `exe.png`. Every bidi embedding,
    /// override and isolate is refused in names and one-line fields; right-to-left text itself
    /// (with or without the LRM/RLM marks) is accepted.
    #[test]
    fn bidirectional_overrides_are_refused_in_names_and_lines() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}',
        ] {
            let name = format!("{c}gnp.exe");
            assert_eq!(
                validate_name(&name),
                Err(NameError::ForbiddenChar(c)),
                "{c:?}"
            );
            assert!(
                matches!(check_line("title", &name, 1000), Err(TextError::Control { ch, .. }) if ch == c),
                "{c:?}"
            );
        }
        for ok in [
            "\u{5E2}\u{5D3}\u{5D5}\u{5EA} 1.pdf",
            "شاهد.mp4",
            "a\u{200F}b",
        ] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
            assert_eq!(check_line("title", ok, 1000), Ok(()), "{ok}");
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        for n in [
            "Interviews",
            "Day 1",
            "bodycam-2026-11-23.mp4",
            "Zeugenaussage Müller",
            "証拠",
        ] {
            assert_eq!(validate_name(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn refuses_traversal_and_control_characters() {
        assert_eq!(validate_name(".."), Err(NameError::Reserved("..".into())));
        assert_eq!(validate_name("."), Err(NameError::Reserved(".".into())));
        assert_eq!(validate_name("a/b"), Err(NameError::ForbiddenChar('/')));
        assert_eq!(validate_name("a\\b"), Err(NameError::ForbiddenChar('\\')));
        assert_eq!(validate_name("a\0b"), Err(NameError::ForbiddenChar('\0')));
        assert_eq!(validate_name("a\nb"), Err(NameError::ForbiddenChar('\n')));
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(validate_name(" x"), Err(NameError::Whitespace));
        assert_eq!(validate_name(&"x".repeat(256)), Err(NameError::TooLong));
    }

    #[test]
    fn splits_paths() {
        assert_eq!(
            split_path("Interviews/Day 1"),
            Ok(vec!["Interviews", "Day 1"])
        );
        assert_eq!(split_path(""), Ok(vec![]));
        assert_eq!(split_path("/etc"), Err(NameError::Absolute));
        assert_eq!(split_path("C:/x"), Err(NameError::Absolute));
        assert_eq!(split_path("a/../b"), Err(NameError::Reserved("..".into())));
        assert_eq!(split_path("a//b"), Err(NameError::Empty));
    }
}
