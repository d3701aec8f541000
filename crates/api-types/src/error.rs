//! The JSON body of every error response of the admin API.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The JSON body of an error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed` (405), `conflict`, `gone`, `payload_too_large`,
    /// `unsupported_media_type` (415), `too_many_requests`, `blob_corrupt`, `insufficient_storage`
    /// (507: the disk is full; nothing was stored), `unavailable` (503: a temporary condition,
    /// e.g. an upload broken off or a partner unreachable; send the request again), `internal`.
    /// Chosen by `casemesh_service::error::http_answer` (405 and 415 by the API's router and
    /// extractors).
    pub code: String,
    /// Explanation for people.
    pub message: String,
}

/// Most characters of an error message the API answers or the CLI repeats ([`clip`]): the
/// node's own messages are far shorter, but many quote what a caller typed (an id, a name), and
/// an error answer is not to grow with a hostile input.
pub const MAX_MESSAGE_CHARS: usize = 1_000;

/// `text` cut to at most `max` characters (not bytes: never inside a UTF-8 sequence), `…`
/// marking a cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// What a failed `casemesh … --json` command writes to stderr: one line holding
/// `{"error":{"kind","message"[,"status","code"]}}` (the CLI's contract for scripts; the binary
/// writes it, the tests read it back as this type). Not an admin API body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CliErrorBody {
    /// The error.
    pub error: CliError,
}

/// A failed command: what failed, a message for people, and the node's answer when it gave one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CliError {
    /// Where it failed.
    pub kind: CliErrorKind,
    /// The error and its causes, joined by `": "` (what the command without `--json` prints
    /// after `error: `).
    pub message: String,
    /// The node's HTTP status (only for [`CliErrorKind::Api`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The node's stable error code, [`ErrorDetail::code`] (only for [`CliErrorKind::Api`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Where a `--json` command failed; serialized in lower case (`"api"`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CliErrorKind {
    /// The node answered an error (`status` and `code` say which); exit status 1.
    Api,
    /// No connection to the node (not running, wrong `--node`); exit status 1.
    Unreachable,
    /// The exchange with the node broke off; exit status 1.
    Transport,
    /// The command line does not parse; exit status 2.
    Usage,
    /// Anything else: a local file, a failed verification, …; exit status 1.
    Failed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_on_characters_and_marks_the_cut() {
        assert_eq!(clip("ééé", 2), "éé…");
        assert_eq!(clip("ab", 2), "ab");
        assert_eq!(clip("", 0), "");
        assert_eq!(clip("abc", 0), "…");
    }

    /// The CLI's `--json` error line keeps its field names and kinds (scripts read them).
    #[test]
    fn the_cli_error_line_keeps_its_shape() {
        let api = CliErrorBody {
            error: CliError {
                kind: CliErrorKind::Api,
                message: "case \"X\" not found".into(),
                status: Some(404),
                code: Some("not_found".into()),
            },
        };
        let text = serde_json::to_string(&api).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"error":{"kind":"api","message":"case \"X\" not found","status":404,"code":"not_found"}}"#
        );
        let usage = CliErrorBody {
            error: CliError {
                kind: CliErrorKind::Usage,
                message: "unrecognized subcommand".into(),
                status: None,
                code: None,
            },
        };
        let text = serde_json::to_string(&usage).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"error":{"kind":"usage","message":"unrecognized subcommand"}}"#
        );
        assert_eq!(
            serde_json::from_str::<CliErrorBody>(&text).ok(),
            Some(usage)
        );
        assert!(
            serde_json::from_str::<CliErrorBody>(r#"{"error":{"kind":"other","message":"m"}}"#)
                .is_err()
        );
    }
}
