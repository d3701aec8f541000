//! The Administration screens (issue #17, "Administration (administrators only)"), under
//! `/ui/admin`:
//!
//! - **Partners** ([`partners`], [`add_partner`], [`partner_policy`]): the partner agencies with
//!   their connection state (from the operators' peers view) and sharing policy; add one by name,
//!   org id and address; change its policy (`node.partners()`: `list`, `peers`, `add`, `edit`).
//! - **Sharing policies** ([`policies`]): every policy, what it allows and discloses, which
//!   partners have it; `?name=` shows one (`node.partners().policies`).
//! - **Users and groups** ([`users`], [`create_user`], [`add_to_group`], [`create_group`]): users
//!   with their permissions, groups and whether they have a password; create a user with a web
//!   UI password (`node.users().create_with_password`), add a user to a group
//!   (`node.users().edit`), create a group.
//! - **Settings** ([`settings`], [`save_settings`]): auto-import, directory sharing, default
//!   retention, intake address and the feature flags (`node.admin().edit_settings`, saved to
//!   `config.toml` before they take effect).
//! - **Peers** ([`peers`]): the operators' view of every partner: state, last seen, round-trip
//!   time, traffic, transfers, outbox and dead letters with their reasons
//!   (`node.partners().peers`).
//!
//! Who may do what is decided by the service with the signed-in user's `Caller`: every handler
//! calls a use case that requires `administer` before it reads or changes anything, so a user
//! without it gets the service's refusal as a `403` page; the navigation shows Administration
//! only when `node.admin().may_administer` says so ([`super::Layout::admin`]).
//!
//! Every form carries the session's CSRF token (checked by [`crate::session::csrf_guard`] before
//! any handler runs) and answers `303 See Other` back to its screen with a fixed notice
//! (`?done=…`, never text from the URL). Input the use case refuses (a bad org id, an unknown
//! policy, a short password, a taken name, a bad number of days) is answered on the same screen
//! with the message, status `400` (or `404` for something named that does not exist), the typed
//! values kept, and nothing changed.

use super::{Layout, human_size, render};
use crate::UiState;
use crate::error::UiError;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use casemesh_model::org::{FeatureFlags, Permission};
use casemesh_model::retention::RetentionPolicy;
use casemesh_service::{AdminError, NewPartner, NewUser, PartnerEdit, SettingsEdit, UserEdit};

/// A form's fields as sent, in order, repeated keys kept (`permission`, `group`, `feature`).
type Fields = Vec<(String, String)>;

/// The first value of `name` in `fields`, trimmed; `""` when absent.
fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.trim())
}

/// The first value of `name` in `fields` exactly as sent (passwords keep their spaces).
fn raw<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Every non-blank value of `name` in `fields`, trimmed, in order.
fn all(fields: &Fields, name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// An administration use case's refusal or failure as the UI answers it (status from
/// `casemesh_service::error::http_answer`, as for every use case: [`UiError::of`]).
fn admin_error(e: AdminError) -> UiError {
    UiError::of(&e)
}

/// `Denied` (a 403 page) unless the signed-in user administers the node; the service decides.
fn require_admin(state: &UiState, who: &SignedIn) -> Result<(), UiError> {
    state
        .node
        .admin()
        .require_admin(&who.caller)
        .map_err(admin_error)
}

/// `?done=CODE` after a form: which fixed notice to show.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
    /// Sharing policies: the one to show.
    #[serde(default)]
    name: Option<String>,
}

/// The notice for a `done` code (fixed texts: nothing from the URL is shown).
fn notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "partner-added" => "Partner added. It connects once it has registered this node too.",
        "policy-changed" => "The partner's sharing policy was changed.",
        "user-created" => "User created. They can sign in with the password you gave them.",
        "group-added" => "User added to the group.",
        "group-created" => "Group created.",
        "settings-saved" => "Settings saved.",
        _ => return None,
    };
    Some(text.to_owned())
}

/// How a screen with a form is shown: after a `GET` (200, with the notice its `?done=` code
/// names) or answering its refused form (400 or 404 with the message; the typed values are the
/// screen's to keep).
enum Shown {
    /// `GET`: 200 and the notice, if any.
    Fresh(Option<String>),
    /// A refused form: its status and message.
    Refused(StatusCode, String),
}

impl Shown {
    /// After `GET …?done=CODE`.
    fn after(q: &Done) -> Shown {
        Shown::Fresh(notice(q.done.as_deref()))
    }

    /// A form refused before any use case ran (400).
    fn bad_request(message: &str, then: &str) -> Shown {
        Shown::Refused(StatusCode::BAD_REQUEST, format!("{message} {then}"))
    }

    /// A use case's refusal `e`, its message followed by `then` ("Nothing was added."): a bad
    /// request, a clash (a name taken) or something not found keeps the screen with its status;
    /// anything else (403, 503, 500) is the error page (`Err`).
    fn refused(e: UiError, then: &str) -> Result<Shown, UiError> {
        match e.status() {
            StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::NOT_FOUND => Ok(
                Shown::Refused(e.status(), format!("{}. {then}", e.message())),
            ),
            _ => Err(e),
        }
    }

    /// The screen's layout (with the notice), status and error message.
    fn parts(self, state: &UiState, who: &SignedIn) -> (Layout, StatusCode, Option<String>) {
        let mut layout = Layout::new(state, who, "admin");
        match self {
            Shown::Fresh(notice) => {
                layout.notice = notice;
                (layout, StatusCode::OK, None)
            }
            Shown::Refused(status, message) => (layout, status, Some(message)),
        }
    }
}

/// A page with `status` (200, or 400/404 answering a refused form).
fn page_with(status: StatusCode, t: &impl Template) -> Result<Response, UiError> {
    Ok((status, Html(t.render()?)).into_response())
}

/// A form done: `303` back to its screen with the fixed notice in `to` (`…?done=CODE`).
fn done(to: &str) -> Result<Response, UiError> {
    Ok(Redirect::to(to).into_response())
}

/// `GET /ui/admin`: administrators go to Partners; anybody else gets the service's 403.
pub async fn index(State(state): State<UiState>, who: SignedIn) -> Result<Response, UiError> {
    require_admin(&state, &who)?;
    Ok(Redirect::to("/ui/admin/partners").into_response())
}

// ---------------------------------------------------------------------------------------------
// Partners.

/// One partner as the Partners screen lists it.
struct PartnerRow {
    name: String,
    peer_id: String,
    addrs: String,
    policy: String,
    /// `connected`, `offline` or "not registered by partner" (the peers view's words).
    state: String,
    connected: bool,
}

/// What was typed into the add-partner form (kept when it is refused).
#[derive(Default)]
struct PartnerForm {
    name: String,
    peer_id: String,
    addr: String,
    policy: String,
}

#[derive(Template)]
#[template(path = "admin_partners.html")]
struct PartnersPage {
    layout: Layout,
    tab: &'static str,
    rows: Vec<PartnerRow>,
    policies: Vec<String>,
    form: PartnerForm,
    error: Option<String>,
}

async fn partners_page(
    state: &UiState,
    who: &SignedIn,
    shown: Shown,
    form: PartnerForm,
) -> Result<Response, UiError> {
    let svc = state.node.partners();
    // The peers view needs `administer`: a non-administrator stops here with a 403.
    let peers = svc.peers(&who.caller).await?;
    let rows = svc
        .list(&who.caller)?
        .into_iter()
        .map(|p| {
            let peer = peers.iter().find(|v| v.peer_id == p.peer_id);
            PartnerRow {
                state: peer.map_or_else(|| "offline".to_owned(), |v| v.state.clone()),
                connected: peer.is_some_and(|v| v.connected),
                addrs: p.addrs.join(" "),
                name: p.name,
                peer_id: p.peer_id.to_string(),
                policy: p.policy,
            }
        })
        .collect();
    let policies = svc
        .policies(&who.caller)?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let (layout, status, error) = shown.parts(state, who);
    page_with(
        status,
        &PartnersPage {
            layout,
            tab: "partners",
            rows,
            policies,
            form,
            error,
        },
    )
}

/// `GET /ui/admin/partners`: the partners, their connection state and policy; add one.
pub async fn partners(
    State(state): State<UiState>,
    who: SignedIn,
    Query(q): Query<Done>,
) -> Result<Response, UiError> {
    partners_page(&state, &who, Shown::after(&q), PartnerForm::default()).await
}

/// `POST /ui/admin/partners` (`name`, `peer_id`, `addr` — one or more multiaddrs separated by
/// spaces, commas or lines, may be empty —, `policy` — empty for the default): registers the
/// partner through `node.partners().add`; `303` back to Partners. A refusal (bad org id or
/// address, a taken name, an unknown policy, this node's own id) is shown on the screen with
/// the typed values and nothing added.
pub async fn add_partner(
    State(state): State<UiState>,
    who: SignedIn,
    Form(f): Form<Fields>,
) -> Result<Response, UiError> {
    let form = PartnerForm {
        name: field(&f, "name").to_owned(),
        peer_id: field(&f, "peer_id").to_owned(),
        addr: field(&f, "addr").to_owned(),
        policy: field(&f, "policy").to_owned(),
    };
    let then = "Nothing was added.";
    let shown = if form.name.is_empty() || form.peer_id.is_empty() {
        Shown::bad_request("Give the name of the partner agency and its org id.", then)
    } else {
        // The org id as typed is checked here: a bad one is refused with the others' errors.
        match casemesh_sharing::parse_org(&form.peer_id) {
            Err(e) => Shown::refused(e.into(), then)?,
            Ok(peer_id) => {
                let new = NewPartner {
                    name: form.name.clone(),
                    peer_id,
                    addrs: form
                        .addr
                        .split([' ', ',', '\n', '\r', '\t'])
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    policy: (!form.policy.is_empty()).then(|| form.policy.clone()),
                };
                match state.node.partners().add(&who.caller, &new).await {
                    Ok(_) => return done("/ui/admin/partners?done=partner-added"),
                    Err(e) => Shown::refused(e.into(), then)?,
                }
            }
        }
    };
    partners_page(&state, &who, shown, form).await
}

/// `POST /ui/admin/partners/{partner}/policy` (`policy`): assign another sharing policy to the
/// partner (display name or org id) through `node.partners().edit`; `303` back to Partners.
pub async fn partner_policy(
    State(state): State<UiState>,
    who: SignedIn,
    Path(partner): Path<String>,
    Form(f): Form<Fields>,
) -> Result<Response, UiError> {
    let edit = PartnerEdit {
        policy: Some(field(&f, "policy").to_owned()),
        ..PartnerEdit::default()
    };
    match state
        .node
        .partners()
        .edit(&who.caller, &partner, &edit)
        .await
    {
        Ok(_) => done("/ui/admin/partners?done=policy-changed"),
        Err(e) => {
            let shown = Shown::refused(e.into(), "Nothing was changed.")?;
            partners_page(&state, &who, shown, PartnerForm::default()).await
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sharing policies.

/// One sharing policy as the Sharing policies screen shows it.
struct PolicyRow {
    name: String,
    allowed: Vec<&'static str>,
    data: Vec<&'static str>,
    two_person_approval: bool,
    /// The partners that have it.
    partners: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_policies.html")]
struct PoliciesPage {
    layout: Layout,
    tab: &'static str,
    rows: Vec<PolicyRow>,
    /// The policy `?name=` asks for.
    selected: Option<PolicyRow>,
}

/// `GET /ui/admin/policies[?name=NAME]`: every sharing policy; with `name`, that one in full
/// (`404` when there is none).
pub async fn policies(
    State(state): State<UiState>,
    who: SignedIn,
    Query(q): Query<Done>,
) -> Result<Response, UiError> {
    require_admin(&state, &who)?;
    let svc = state.node.partners();
    let partners = svc.list(&who.caller)?;
    let row = |p: casemesh_model::policy::SharingPolicy| PolicyRow {
        partners: partners
            .iter()
            .filter(|x| x.policy == p.name)
            .map(|x| x.name.clone())
            .collect(),
        allowed: p.allowed.iter().map(|a| a.name()).collect(),
        data: p.data.iter().map(|d| d.name()).collect(),
        two_person_approval: p.two_person_approval,
        name: p.name,
    };
    let selected = match q.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => Some(row(svc.policy(&who.caller, name)?)),
        None => None,
    };
    let rows = svc.policies(&who.caller)?.into_iter().map(row).collect();
    render(&PoliciesPage {
        layout: Layout::new(&state, &who, "admin"),
        tab: "policies",
        rows,
        selected,
    })
}

// ---------------------------------------------------------------------------------------------
// Users and groups.

/// One user as the Users screen lists it.
struct UserRow {
    username: String,
    full_name: String,
    email: String,
    permissions: Vec<&'static str>,
    groups: Vec<String>,
    disabled: bool,
    has_password: bool,
}

/// One group.
struct GroupRow {
    name: String,
    permissions: Vec<&'static str>,
    members: usize,
}

/// What was typed into the new-user form (kept when it is refused; never the password).
#[derive(Default)]
struct UserForm {
    username: String,
    full_name: String,
    email: String,
    badge_id: String,
    permissions: Vec<String>,
    groups: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    layout: Layout,
    tab: &'static str,
    users: Vec<UserRow>,
    groups: Vec<GroupRow>,
    /// Every permission name (`Permission::name`), for the checkboxes.
    permissions: Vec<&'static str>,
    form: UserForm,
    error: Option<String>,
}

impl UsersPage {
    fn checked_permission(&self, p: &str) -> bool {
        self.form.permissions.iter().any(|x| x == p)
    }

    fn checked_group(&self, g: &str) -> bool {
        self.form.groups.iter().any(|x| x == g)
    }
}

fn users_page(
    state: &UiState,
    who: &SignedIn,
    shown: Shown,
    form: UserForm,
) -> Result<Response, UiError> {
    // `list` needs `administer`: a non-administrator stops here with a 403.
    let (users, groups) = state.node.users().list(&who.caller)?;
    let group_name = |id: &casemesh_model::ids::GroupId| {
        groups
            .iter()
            .find(|g| &g.id == id)
            .map_or_else(|| id.to_string(), |g| g.name.clone())
    };
    let group_rows = groups
        .iter()
        .map(|g| GroupRow {
            name: g.name.clone(),
            permissions: g.permissions.iter().map(|p| p.name()).collect(),
            members: users.iter().filter(|u| u.groups.contains(&g.id)).count(),
        })
        .collect();
    let user_rows = users
        .iter()
        .map(|u| UserRow {
            username: u.username.clone(),
            full_name: u.full_name.clone(),
            email: u.email.clone().unwrap_or_default(),
            permissions: u.permissions.iter().map(|p| p.name()).collect(),
            groups: u.groups.iter().map(group_name).collect(),
            disabled: u.disabled,
            has_password: u.password_hash.is_some(),
        })
        .collect();
    let (layout, status, error) = shown.parts(state, who);
    page_with(
        status,
        &UsersPage {
            layout,
            tab: "users",
            users: user_rows,
            groups: group_rows,
            permissions: Permission::ALL.iter().map(|p| p.name()).collect(),
            form,
            error,
        },
    )
}

/// `GET /ui/admin/users`: users and groups; create a user, add one to a group, create a group.
pub async fn users(
    State(state): State<UiState>,
    who: SignedIn,
    Query(q): Query<Done>,
) -> Result<Response, UiError> {
    users_page(&state, &who, Shown::after(&q), UserForm::default())
}

/// `POST /ui/admin/users` (`username`, `full_name`, `email`, `badge_id`, `password`,
/// `password2`, `permission`…, `group`…): create the user with a web UI password through
/// `node.users().create_with_password` (the password is checked before anything is created);
/// `303` back to Users. Two different passwords, a short one, a bad or taken name, an unknown
/// permission or group: shown on the screen, nothing created.
pub async fn create_user(
    State(state): State<UiState>,
    who: SignedIn,
    Form(f): Form<Fields>,
) -> Result<Response, UiError> {
    let form = UserForm {
        username: field(&f, "username").to_owned(),
        full_name: field(&f, "full_name").to_owned(),
        email: field(&f, "email").to_owned(),
        badge_id: field(&f, "badge_id").to_owned(),
        permissions: all(&f, "permission"),
        groups: all(&f, "group"),
    };
    let password = raw(&f, "password");
    if password != raw(&f, "password2") {
        let shown = Shown::bad_request("The two passwords differ.", "Nothing was created.");
        return users_page(&state, &who, shown, form);
    }
    let new = NewUser {
        username: form.username.clone(),
        full_name: form.full_name.clone(),
        email: (!form.email.is_empty()).then(|| form.email.clone()),
        badge_id: (!form.badge_id.is_empty()).then(|| form.badge_id.clone()),
        permissions: form.permissions.clone(),
        groups: form.groups.clone(),
    };
    match state
        .node
        .users()
        .create_with_password(&who.caller, &new, password)
        .await
    {
        Ok(_) => done("/ui/admin/users?done=user-created"),
        Err(e) => users_page(
            &state,
            &who,
            Shown::refused(e.into(), "Nothing was created.")?,
            form,
        ),
    }
}

/// `POST /ui/admin/users/groups` (`username`, `group`): add the user to the group (keeping their
/// other groups) through `node.users().edit`; `303` back to Users.
pub async fn add_to_group(
    State(state): State<UiState>,
    who: SignedIn,
    Form(f): Form<Fields>,
) -> Result<Response, UiError> {
    let username = field(&f, "username");
    let group = field(&f, "group");
    let result = (|| {
        let (users, groups) = state.node.users().list(&who.caller)?;
        let user = users
            .iter()
            .find(|u| u.username == username)
            .ok_or_else(|| casemesh_service::UserError::NoSuchUser(username.to_owned()))?;
        let mut names: Vec<String> = groups
            .iter()
            .filter(|g| user.groups.contains(&g.id))
            .map(|g| g.name.clone())
            .collect();
        if !names.iter().any(|n| n == group) {
            names.push(group.to_owned());
        }
        let edit = UserEdit {
            groups: Some(names),
            ..UserEdit::default()
        };
        state.node.users().edit(&who.caller, username, &edit)
    })();
    match result {
        Ok(_) => done("/ui/admin/users?done=group-added"),
        Err(e) => {
            let shown = Shown::refused(e.into(), "Nothing was changed.")?;
            users_page(&state, &who, shown, UserForm::default())
        }
    }
}

/// `POST /ui/admin/groups` (`name`, `permission`…): create a group through
/// `node.users().create_group`; `303` back to Users.
pub async fn create_group(
    State(state): State<UiState>,
    who: SignedIn,
    Form(f): Form<Fields>,
) -> Result<Response, UiError> {
    let name = field(&f, "name");
    match state
        .node
        .users()
        .create_group(&who.caller, name, &all(&f, "permission"))
    {
        Ok(_) => done("/ui/admin/users?done=group-created"),
        Err(e) => {
            let shown = Shown::refused(e.into(), "No group was created.")?;
            users_page(&state, &who, shown, UserForm::default())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Settings.

/// One feature flag: its name (as `config.toml` and `casemesh settings set --feature` spell it),
/// the seed's words for it, and whether it is on.
struct Flag {
    name: &'static str,
    label: &'static str,
    on: bool,
}

/// The feature flags in order (a new field of [`FeatureFlags`] fails to compile here until it
/// is listed).
fn flags(f: &FeatureFlags) -> Vec<Flag> {
    let FeatureFlags {
        evidence_share,
        evidence_share_external,
        evidence_share_links,
        case_share,
        case_share_by_copy,
        case_share_links,
        configurable_retention,
        advanced_sharing,
    } = *f;
    let flag = |name, label, on| Flag { name, label, on };
    vec![
        flag(
            "evidence_share",
            "Evidence Management: Share",
            evidence_share,
        ),
        flag(
            "evidence_share_external",
            "Evidence Management: Share Externally to Authenticated Users",
            evidence_share_external,
        ),
        flag(
            "evidence_share_links",
            "Evidence Management: Share External Download Links",
            evidence_share_links,
        ),
        flag("case_share", "Cases: Share", case_share),
        flag(
            "case_share_by_copy",
            "Cases: Share by Copy with Partner Agencies",
            case_share_by_copy,
        ),
        flag(
            "case_share_links",
            "Cases: Share External Download Links",
            case_share_links,
        ),
        flag(
            "configurable_retention",
            "Configurable Case Retention Policies",
            configurable_retention,
        ),
        flag("advanced_sharing", "Advanced sharing", advanced_sharing),
    ]
}

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsPage {
    layout: Layout,
    tab: &'static str,
    auto_import: bool,
    share_directory: bool,
    /// `none`, `manual` or `days`.
    retention_kind: &'static str,
    /// The days of a `days` retention, else `""`.
    retention_days: String,
    intake_address: String,
    flags: Vec<Flag>,
    error: Option<String>,
}

fn settings_page(state: &UiState, who: &SignedIn, shown: Shown) -> Result<Response, UiError> {
    let s = state
        .node
        .admin()
        .settings_for_admin(&who.caller)
        .map_err(admin_error)?;
    let (retention_kind, retention_days) = match s.default_retention {
        None => ("none", String::new()),
        Some(RetentionPolicy::UntilManuallyDeleted) => ("manual", String::new()),
        Some(RetentionPolicy::Days(d)) => ("days", d.to_string()),
    };
    let (layout, status, error) = shown.parts(state, who);
    page_with(
        status,
        &SettingsPage {
            layout,
            tab: "settings",
            auto_import: s.auto_import,
            share_directory: s.share_directory,
            retention_kind,
            retention_days,
            intake_address: s.intake_address.unwrap_or_default(),
            flags: flags(&s.features),
            error,
        },
    )
}

/// `GET /ui/admin/settings`: auto-import, directory sharing, default retention, intake address,
/// feature flags.
pub async fn settings(
    State(state): State<UiState>,
    who: SignedIn,
    Query(q): Query<Done>,
) -> Result<Response, UiError> {
    settings_page(&state, &who, Shown::after(&q))
}

/// The default retention the form names: `retention` is `none` (no default), `manual` (Until
/// Manually Deleted) or `days` with `retention_days` a whole number from 1 (0 would remove
/// received evidence at the next sweep: the CLI asks to confirm it, the form refuses it).
fn retention_of(f: &Fields) -> Result<Option<RetentionPolicy>, String> {
    match field(f, "retention") {
        "none" => Ok(None),
        "manual" => Ok(Some(RetentionPolicy::UntilManuallyDeleted)),
        "days" => {
            let text = field(f, "retention_days");
            match text.parse::<u32>() {
                Ok(d) if d >= 1 => Ok(Some(RetentionPolicy::Days(d))),
                _ => Err(format!(
                    "The default retention in days must be a whole number from 1 (got {text:?})"
                )),
            }
        }
        other => Err(format!(
            "The default retention must be None, Until Manually Deleted or a number of days (got {other:?})"
        )),
    }
}

/// `POST /ui/admin/settings` (`auto_import`, `share_directory`: present = on; `retention`,
/// `retention_days`; `intake_address`; `feature`… the flags that are on): every setting as the
/// form shows it, through `node.admin().edit_settings` (an unknown feature name or a bad intake
/// address is refused there); `303` back to Settings. Nothing changes on a refusal.
pub async fn save_settings(
    State(state): State<UiState>,
    who: SignedIn,
    Form(f): Form<Fields>,
) -> Result<Response, UiError> {
    let retention = match retention_of(&f) {
        Ok(r) => r,
        Err(m) => {
            let shown = Shown::bad_request(&format!("{m}."), "Nothing was changed.");
            return settings_page(&state, &who, shown);
        }
    };
    let on = all(&f, "feature");
    let mut features: Vec<(String, serde_json::Value)> = flags(&FeatureFlags::default())
        .iter()
        .map(|fl| {
            let v = on.iter().any(|n| n == fl.name);
            (fl.name.to_owned(), serde_json::Value::Bool(v))
        })
        .collect();
    // A name the form does not know goes to the service, which refuses it by name.
    for n in &on {
        if !features.iter().any(|(k, _)| k == n) {
            features.push((n.clone(), serde_json::Value::Bool(true)));
        }
    }
    let edit = SettingsEdit {
        features,
        default_retention: Some(retention),
        auto_import: Some(!field(&f, "auto_import").is_empty()),
        share_directory: Some(!field(&f, "share_directory").is_empty()),
        intake_address: Some(field(&f, "intake_address").to_owned()),
    };
    match state.node.admin().edit_settings(&who.caller, &edit) {
        Ok(_) => done("/ui/admin/settings?done=settings-saved"),
        Err(e) => {
            let shown = Shown::refused(admin_error(e), "Nothing was changed.")?;
            settings_page(&state, &who, shown)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Peers.

/// One partner as the operators see it.
struct PeerRow {
    name: String,
    peer_id: String,
    state: String,
    connected: bool,
    addrs: String,
    last_seen: String,
    rtt: String,
    sent_messages: u64,
    received_messages: u64,
    sent_bytes: String,
    received_bytes: String,
    transfers: u64,
    outbox: u64,
    dead_letters: Vec<casemesh_sharing::DeadLetterView>,
}

#[derive(Template)]
#[template(path = "admin_peers.html")]
struct PeersPage {
    layout: Layout,
    tab: &'static str,
    rows: Vec<PeerRow>,
}

/// `2026-11-30T12:00:00Z` as `2026-11-30 12:00:00 UTC`; other text as it is.
fn rfc3339_words(t: &str) -> String {
    match (t.get(0..10), t.get(11..19)) {
        (Some(d), Some(h)) if t.as_bytes().get(10) == Some(&b'T') => format!("{d} {h} UTC"),
        _ => t.to_owned(),
    }
}

/// `GET /ui/admin/peers`: the operators' view (`node.partners().peers`): state, addresses, last
/// seen, round-trip time (ms), messages and bytes sent and received, transfers in flight, outbox,
/// dead letters with kind, share, reason and time.
pub async fn peers(State(state): State<UiState>, who: SignedIn) -> Result<Response, UiError> {
    let rows = state
        .node
        .partners()
        .peers(&who.caller)
        .await?
        .into_iter()
        .map(|p| PeerRow {
            last_seen: p
                .last_seen
                .as_deref()
                .map_or_else(|| "never".to_owned(), rfc3339_words),
            rtt: p
                .rtt_ms
                .map_or_else(|| "–".to_owned(), |ms| format!("{ms:.1} ms")),
            sent_messages: p.messages_sent,
            received_messages: p.messages_received,
            sent_bytes: human_size(p.bytes_sent),
            received_bytes: human_size(p.bytes_received),
            addrs: p.addrs.join(" "),
            transfers: p.transfers_in_flight,
            outbox: p.outbox_queued,
            name: p.name,
            peer_id: p.peer_id.to_string(),
            state: p.state,
            connected: p.connected,
            dead_letters: p.dead_letters,
        })
        .collect();
    render(&PeersPage {
        layout: Layout::new(&state, &who, "admin"),
        tab: "peers",
        rows,
    })
}

#[cfg(test)]
mod tests {
    fn fields(pairs: &[(&str, &str)]) -> super::Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn retention_from_the_form() {
        use casemesh_model::retention::RetentionPolicy;
        let r = |pairs: &[(&str, &str)]| super::retention_of(&fields(pairs));
        assert_eq!(r(&[("retention", "none")]), Ok(None));
        assert_eq!(
            r(&[("retention", "manual")]),
            Ok(Some(RetentionPolicy::UntilManuallyDeleted))
        );
        assert_eq!(
            r(&[("retention", "days"), ("retention_days", " 30 ")]),
            Ok(Some(RetentionPolicy::Days(30)))
        );
        assert!(r(&[("retention", "days"), ("retention_days", "0")]).is_err());
        assert!(r(&[("retention", "days"), ("retention_days", "ten")]).is_err());
        assert!(r(&[("retention", "forever")]).is_err());
    }

    #[test]
    fn notices_are_fixed_texts() {
        assert!(super::notice(Some("settings-saved")).is_some());
        assert!(super::notice(Some("<script>")).is_none());
        assert!(super::notice(None).is_none());
    }

    #[test]
    fn timestamps_in_words() {
        assert_eq!(
            super::rfc3339_words("2026-11-30T12:34:56.789Z"),
            "2026-11-30 12:34:56 UTC"
        );
        assert_eq!(super::rfc3339_words("soon"), "soon");
    }
}
