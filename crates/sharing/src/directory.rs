//! Partner directory look-up, for recipient type-ahead: the sharer asks a partner for users and
//! groups matching what was typed; the partner answers only when its administrator allows it
//! (`settings.share_directory`), with names, emails and badge IDs — never more than
//! [`MAX_RESULTS`] entries. The query goes straight to the partner (not through the outbox): an
//! offline partner simply gives no suggestions.

use crate::Engine;
use crate::error::{Bad, Clash, NotAllowed, Result, SharingError, Unavailable};
use crate::wire::{self, DirectoryQuery};
use casemesh_model::names::{check_line, limits};
use casemesh_net::{ControlRequest, ControlStatus};
use serde::{Deserialize, Serialize};

/// Most entries one answer carries.
pub const MAX_RESULTS: usize = 20;

/// Longest query asked of a partner, bytes.
pub const MAX_QUERY: usize = 200;

/// One suggestion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// `user` or `group`.
    pub kind: String,
    /// Username or group name: what to put in `--to` (as `user:NAME` / `group:NAME`).
    pub name: String,
    /// Full name (users).
    pub full_name: Option<String>,
    /// Email (users).
    pub email: Option<String>,
    /// Badge id (users).
    pub badge_id: Option<String>,
}

/// Whether a partner's directory entry is one this node could have answered itself: kind
/// `user` or `group`, a valid name, and one-line person fields within
/// [`limits::PERSON_FIELD`] bytes.
fn is_well_formed(e: &DirectoryEntry) -> bool {
    matches!(e.kind.as_str(), "user" | "group")
        && casemesh_model::names::validate_name(&e.name).is_ok()
        && [&e.full_name, &e.email, &e.badge_id]
            .into_iter()
            .flatten()
            .all(|v| check_line("directory field", v, limits::PERSON_FIELD).is_ok())
}

fn matches(query: &str, fields: &[Option<&str>]) -> bool {
    let q = query.to_lowercase();
    fields.iter().flatten().any(|f| {
        f.to_lowercase().starts_with(&q)
            || f.to_lowercase()
                .split_whitespace()
                .any(|w| w.starts_with(&q))
    })
}

impl Engine {
    /// Ask a partner (by display name or org id, as typed) for directory entries matching
    /// `query`.
    pub async fn lookup_directory(
        &self,
        partner: &str,
        query: &str,
    ) -> Result<Vec<DirectoryEntry>> {
        if query.len() > MAX_QUERY {
            return Err(Bad::QueryTooLong {
                len: query.len(),
                max: MAX_QUERY,
            }
            .into());
        }
        let p = self.partner(partner)?;
        let peer = crate::partners::peer_of(&p.peer_id)?;
        let mut msg_id = [0u8; 16];
        getrandom::fill(&mut msg_id)
            .map_err(|e| SharingError::Internal(format!("no randomness: {e}")))?;
        let request = ControlRequest {
            msg_id,
            kind: wire::KIND_DIRECTORY.as_str().to_owned(),
            payload: wire::encode(&DirectoryQuery {
                query: query.to_owned(),
            })
            .into_bytes(),
        };
        let response = self.inner.net.send_control(peer, request).await?;
        match response.status {
            ControlStatus::Ok => {
                let mut entries: Vec<DirectoryEntry> =
                    wire::decode("directory answer", &response.payload).map_err(Bad::Payload)?;
                entries.truncate(MAX_RESULTS);
                // Partner input, checked like user input: an entry that could not have been
                // typed here (a kind other than user or group, a name no recipient can have, a
                // control character or an overlong field) is left out, never shown.
                let before = entries.len();
                entries.retain(is_well_formed);
                if entries.len() < before {
                    tracing::warn!(partner = %p.name, dropped = before - entries.len(), "directory answer: malformed entries left out");
                }
                Ok(entries)
            }
            ControlStatus::Rejected(reason) => Err(NotAllowed::DirectoryRefused {
                partner: p.name,
                reason,
            }
            .into()),
            status @ (ControlStatus::Busy | ControlStatus::Failed(_)) => {
                Err(Unavailable::Directory {
                    partner: p.name,
                    status,
                }
                .into())
            }
            status => Err(Clash::DirectoryUnanswered {
                partner: p.name,
                status,
            }
            .into()),
        }
    }

    /// The users and groups matching a partner's directory query, at most [`MAX_RESULTS`], as
    /// the response payload (JSON). `Forbidden` when the directory is not shared, `Invalid` for
    /// a query over [`MAX_QUERY`] bytes, `Internal` when the store cannot be read (its detail is
    /// logged, not sent). Reached through [`Engine`]'s dispatch like every control message, so
    /// only registered partners are answered.
    pub(crate) fn answer_directory(&self, query: &DirectoryQuery) -> Result<Vec<u8>> {
        self.directory_matches(query)
            .map(|out| wire::encode(&out).into_bytes())
    }

    fn directory_matches(&self, query: &DirectoryQuery) -> Result<Vec<DirectoryEntry>> {
        if !self.settings().share_directory {
            return Err(NotAllowed::DirectoryNotShared.into());
        }
        if query.query.len() > MAX_QUERY {
            return Err(Bad::QueryTooLong {
                len: query.query.len(),
                max: MAX_QUERY,
            }
            .into());
        }
        let (users, groups) = match (self.inner.store.users(), self.inner.store.groups()) {
            (Ok(u), Ok(g)) => (u, g),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "directory query: store unreadable");
                return Err(SharingError::Internal("directory unavailable".into()));
            }
        };
        let mut out: Vec<DirectoryEntry> = users
            .iter()
            // A disabled account receives nothing: it is no recipient to offer.
            .filter(|u| !u.disabled)
            .filter(|u| {
                matches(
                    &query.query,
                    &[
                        Some(&u.username),
                        Some(&u.full_name),
                        u.email.as_deref(),
                        u.badge_id.as_deref(),
                    ],
                )
            })
            .map(|u| DirectoryEntry {
                kind: "user".into(),
                name: u.username.clone(),
                full_name: Some(u.full_name.clone()),
                email: u.email.clone(),
                badge_id: u.badge_id.clone(),
            })
            .chain(
                groups
                    .iter()
                    .filter(|g| matches(&query.query, &[Some(&g.name)]))
                    .map(|g| DirectoryEntry {
                        kind: "group".into(),
                        name: g.name.clone(),
                        full_name: None,
                        email: None,
                        badge_id: None,
                    }),
            )
            .collect();
        out.sort_by(|a, b| {
            (a.kind.as_str(), a.name.as_str()).cmp(&(b.kind.as_str(), b.name.as_str()))
        });
        out.truncate(MAX_RESULTS);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{DirectoryEntry, is_well_formed, matches};

    /// A partner's answer is input: entries with a hostile kind, name or field are left out.
    #[test]
    fn only_well_formed_partner_entries_are_kept() {
        let user = |name: &str, full: &str| DirectoryEntry {
            kind: "user".into(),
            name: name.into(),
            full_name: Some(full.into()),
            email: Some("ada@da.example".into()),
            badge_id: None,
        };
        assert!(is_well_formed(&user("ada", "Ada Lovelace")));
        assert!(!is_well_formed(&user("ada", "Evil\u{1b}[2J")));
        assert!(!is_well_formed(&user("ada", "line\nbreak")));
        assert!(!is_well_formed(&user("ada", "\u{202E}gnp.exe")));
        assert!(!is_well_formed(&user("ada", &"x".repeat(321))));
        assert!(!is_well_formed(&user("a/b", "Ada")));
        assert!(!is_well_formed(&user("", "Ada")));
        let mut other = user("ada", "Ada");
        other.kind = "admin".into();
        assert!(!is_well_formed(&other));
    }

    #[test]
    fn prefix_matches_any_field_or_word() {
        assert!(matches("ada", &[Some("ada"), None]));
        assert!(matches("LOVE", &[Some("x"), Some("Ada Lovelace")]));
        assert!(matches("", &[Some("anything")]));
        assert!(!matches("bob", &[Some("ada"), Some("Ada Lovelace"), None]));
    }
}
