//! Log lines no user or partner string can forge (issue #16 item 3).
//!
//! Case numbers, titles, names, reasons and error texts reach the log as field values and
//! messages, from local users and from partners alike. A CR/LF in one of them would start a
//! line of the attacker's choosing; an ESC or C1 control would drive the terminal of whoever
//! tails the log (retitle the window, write the clipboard through OSC 52, hide text). So the
//! subscriber escapes at the one place every value passes, not at each call site:
//!
//! - human format: [`EscapedFields`] formats every event's and span's fields (the message is a
//!   field) through [`crate::commands::escape`], the rule the CLI's tables use: C0 and C1
//!   controls, DEL and bidirectional overrides become visible text (`\r`, `\n`, `\x1b`,
//!   `\u{9b}`, `\u{202e}`). The level, target and timestamp the formatter writes are ours.
//! - JSON format: `serde_json` already escapes C0 controls inside strings; [`JsonEscaping`]
//!   escapes what JSON lets through raw (DEL, C1 controls, bidirectional overrides) as `\uXXXX`,
//!   which keeps every line valid JSON with the same decoded value.
//!
//! Each event is then exactly one line: the formatter's final `\n` is the only raw line break.

use std::fmt;
use std::io;

use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{DefaultFields, FormatFields, Writer};

/// A [`FormatFields`] that runs `F` (by default tracing's [`DefaultFields`]) and escapes
/// everything it writes with [`crate::commands::escape`].
#[derive(Debug, Default)]
pub(crate) struct EscapedFields<F = DefaultFields>(F);

impl<'w, F> FormatFields<'w> for EscapedFields<F>
where
    F: for<'a> FormatFields<'a>,
{
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut escaper = Escaper { out: &mut writer };
        self.0.format_fields(Writer::new(&mut escaper), fields)
    }
}

/// Escapes each piece written through it before passing it on.
struct Escaper<'a, W> {
    out: &'a mut W,
}

impl<W: fmt::Write> fmt::Write for Escaper<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.write_str(&crate::commands::escape(s))
    }
}

/// A [`MakeWriter`] for the JSON format: writes each formatted line with DEL, C1 controls and
/// bidirectional overrides as JSON `\uXXXX` escapes (they can only occur inside JSON strings).
#[derive(Debug)]
pub(crate) struct JsonEscaping<M>(pub(crate) M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for JsonEscaping<M> {
    type Writer = JsonEscapingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        JsonEscapingWriter(self.0.make_writer())
    }
}

/// The writer [`JsonEscaping`] makes.
pub(crate) struct JsonEscapingWriter<W>(W);

/// Characters JSON allows raw in a string that must not reach a terminal or log viewer.
fn json_unsafe(c: char) -> bool {
    c == '\u{7f}'
        || ('\u{80}'..='\u{9f}').contains(&c)
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `line` with [`json_unsafe`] characters as `\uXXXX`; raw C0 controls other than the final
/// line feed (never written by `serde_json`) as `\uXXXX` too.
fn escape_json_line(line: &str) -> std::borrow::Cow<'_, str> {
    let body = line.strip_suffix('\n').unwrap_or(line);
    let unsafe_char = |c: char| json_unsafe(c) || c.is_ascii_control();
    if !body.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 12);
    for c in body.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    if body.len() < line.len() {
        out.push('\n');
    }
    std::borrow::Cow::Owned(out)
}

impl<W: io::Write> io::Write for JsonEscapingWriter<W> {
    /// The fmt layer writes each event whole, in one call.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(escape_json_line(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_stay_valid_and_inert() {
        let value = "a\u{7f}b\u{9b}c\u{202e}d";
        let line = format!("{}\n", serde_json::json!({ "title": value }));
        let escaped = escape_json_line(&line);
        assert!(escaped.ends_with('\n'));
        assert!(
            !escaped
                .trim_end()
                .chars()
                .any(|c| c.is_control() || json_unsafe(c))
        );
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back["title"], value);
    }
}
