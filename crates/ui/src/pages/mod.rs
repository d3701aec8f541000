//! The screens, one module each: [`sign_in`] (sign-in, sign-out), [`cases`] (My cases, Shared
//! with me), [`case`] (case details: folders and evidence, upload, download, people with access),
//! [`share`] (the Share dialog's People tab: what to share, inside my agency or a partner
//! agency, stop sharing), [`link`] (its Link tab: download links), [`received`] (the receiving
//! side: received shares, Import Details, Review updates). Each handler takes [`SignedIn`](crate::session::SignedIn),
//! calls use cases of the node (`node.cases()`, `.evidence()`, `.shares()`, …) and renders one
//! template of `crates/ui/templates/`; a refusal becomes [`UiError`](crate::error::UiError).
//! [`admin`] holds the Administration screens (administrators only).
//!
//! To add a screen: a module here with its handlers and its `#[derive(Template)]` struct (with a
//! [`Layout`] field for `base.html`), a template extending `base.html`, its routes in
//! [`crate::router`], and a step in `tests/tests/ui_browser.rs`.

pub mod admin;
pub mod case;
pub mod cases;
pub mod link;
pub mod received;
pub mod share;
pub mod sign_in;

use crate::UiState;
use crate::session::SignedIn;
use askama::Template;
use axum::response::{Html, IntoResponse, Response};

/// What `base.html` shows on every signed-in page: the organization, the user, the CSRF token
/// of the sign-out form, which main tab is current, and a one-line notice.
#[derive(Debug, Clone)]
pub struct Layout {
    /// This organization's display name.
    pub org: String,
    /// The signed-in user's full name (their username when it has none).
    pub full_name: String,
    /// Their initials, for the profile icon.
    pub initials: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// `"mine"`, `"shared"` or `""`: the current main tab.
    pub section: &'static str,
    /// A notice to show once (e.g. "Shared with …").
    pub notice: Option<String>,
    /// Whether the user administers the node (`node.admin().may_administer`): the navigation
    /// then shows Administration.
    pub admin: bool,
}

impl Layout {
    /// The layout for `who` on this node.
    pub fn new(state: &UiState, who: &SignedIn, section: &'static str) -> Layout {
        let user = &who.caller.user;
        let full_name = if user.full_name.trim().is_empty() {
            user.username.clone()
        } else {
            user.full_name.clone()
        };
        Layout {
            org: state.node.org().name.clone(),
            initials: initials(&full_name),
            full_name,
            csrf: who.csrf.clone(),
            section,
            notice: None,
            admin: state.node.admin().may_administer(&who.caller),
        }
    }
}

/// Up to two initials of a name, upper case: "Jane Doe" → "JD", "admin" → "A".
pub fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

/// A size in bytes as people read it: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.0 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A timestamp as `YYYY-MM-DD HH:MM UTC`.
pub fn when(t: casemesh_model::time::Timestamp) -> String {
    let s = t.to_string();
    match (s.get(0..10), s.get(11..16)) {
        (Some(d), Some(h)) => format!("{d} {h} UTC"),
        _ => s,
    }
}

/// Render a template as an HTML response.
pub fn render(t: &impl Template) -> Result<Response, crate::error::UiError> {
    Ok(Html(t.render()?).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn initials_and_sizes() {
        assert_eq!(super::initials("Jane Doe"), "JD");
        assert_eq!(super::initials("admin"), "A");
        assert_eq!(super::initials("Ana María de la Cruz"), "AM");
        assert_eq!(super::human_size(512), "512 B");
        assert_eq!(super::human_size(1536), "1.5 KiB");
        assert_eq!(super::human_size(3 << 30), "3.0 GiB");
    }
}
