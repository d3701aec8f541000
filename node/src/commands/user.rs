//! `casemesh user …` and `casemesh group …`: local users, their API tokens, and groups.

use super::{Out, list, opt, s, table};
use crate::client::Client;
use anyhow::bail;
use casemesh_api_types::{
    CreateGroup, CreateUser, CreatedUser, EditUser, GroupView, NewToken, Revoked, UserView,
};
use reqwest::Method;
use serde_json::json;

/// `casemesh user` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user; prints the user's first API token.
    Add {
        /// Login name.
        username: String,
        /// Full name.
        #[arg(long)]
        full_name: String,
        /// Email address (for share notifications).
        #[arg(long)]
        email: Option<String>,
        /// Badge id.
        #[arg(long)]
        badge_id: Option<String>,
        /// A permission to grant (repeat, or separate with commas), e.g. `case_edit`.
        #[arg(long = "permission", value_name = "PERMISSION", value_delimiter = ',')]
        permissions: Vec<String>,
        /// A group to join (repeat, or separate with commas).
        #[arg(long = "group", value_name = "GROUP", value_delimiter = ',')]
        groups: Vec<String>,
    },
    /// List users.
    List,
    /// Change a user's details; `--permission`/`--group` replace the current lists.
    Edit {
        /// Login name.
        username: String,
        /// New full name.
        #[arg(long)]
        full_name: Option<String>,
        /// New email address.
        #[arg(long)]
        email: Option<String>,
        /// New badge id.
        #[arg(long)]
        badge_id: Option<String>,
        /// The permissions the user should have (replaces the current list).
        #[arg(long = "permission", value_name = "PERMISSION", value_delimiter = ',')]
        permissions: Vec<String>,
        /// Remove every directly granted permission.
        #[arg(long, conflicts_with = "permissions")]
        no_permissions: bool,
        /// The groups the user should be in (replaces the current list).
        #[arg(long = "group", value_name = "GROUP", value_delimiter = ',')]
        groups: Vec<String>,
        /// Remove the user from every group.
        #[arg(long, conflicts_with = "groups")]
        no_groups: bool,
    },
    /// Issue a new API token for a user and print it; it replaces the user's earlier tokens
    /// (unless --keep). With --revoke, revoke every token of the user instead.
    Token {
        /// Login name.
        username: String,
        /// Keep the earlier tokens working too.
        #[arg(long, conflicts_with = "revoke")]
        keep: bool,
        /// Revoke every token of the user; issue none.
        #[arg(long)]
        revoke: bool,
        /// Without --keep, the earlier tokens stop working (a CLI using one of them, e.g.
        /// DIR/admin.token, gets 401 afterwards): asks first, --yes in scripts.
        #[command(flatten)]
        yes: super::confirm::Yes,
    },
    /// Disable a user: its tokens open nothing until it is enabled again (asks first).
    Disable {
        /// Login name.
        username: String,
        #[command(flatten)]
        yes: super::confirm::Yes,
    },
    /// Enable a disabled user.
    Enable {
        /// Login name.
        username: String,
    },
    /// Set a user's web UI password (asked twice on the terminal, not echoed; or one line read
    /// from standard input with --stdin). API tokens are not affected.
    Passwd {
        /// Login name.
        username: String,
        /// Read the password from the first line of standard input (scripts, tests).
        #[arg(long)]
        stdin: bool,
    },
    /// Delete a user and its tokens (its audit entries stay; asks first, --yes in scripts).
    Delete {
        /// Login name.
        username: String,
        #[command(flatten)]
        yes: super::confirm::Yes,
    },
}

/// `casemesh group` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum GroupCommand {
    /// Add a group.
    Add {
        /// Group name.
        name: String,
        /// A permission members get (repeat, or separate with commas).
        #[arg(long = "permission", value_name = "PERMISSION", value_delimiter = ',')]
        permissions: Vec<String>,
    },
    /// List groups.
    List,
}

/// The new password for `username`: the first line of standard input with `--stdin`, else
/// asked twice on the terminal without echo.
fn read_password(username: &str, stdin: bool) -> anyhow::Result<String> {
    if stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        if password.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(password);
    }
    // rpassword opens /dev/tty; without a controlling terminal that fails with ENXIO
    // ("No such device or address"), which says nothing useful.
    let no_terminal = |e: std::io::Error| {
        anyhow::anyhow!("no terminal to ask the password on ({e}): use --stdin")
    };
    let first = rpassword::prompt_password(format!("New web UI password for {username}: "))
        .map_err(no_terminal)?;
    let again = rpassword::prompt_password("Again: ").map_err(no_terminal)?;
    if first != again {
        bail!("the two passwords differ; nothing changed");
    }
    Ok(first)
}

/// `user disable` / `user enable`.
async fn set_disabled(
    client: &Client,
    out: Out,
    username: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    let user = client
        .send_json(
            Method::PATCH,
            &["v1", "users", username],
            &EditUser {
                disabled: Some(disabled),
                ..EditUser::default()
            },
        )
        .await?;
    if let Some(user) = out.answer::<UserView>(&user)? {
        outln!(
            "{} user {}",
            if disabled { "disabled" } else { "enabled" },
            s(&user.username)
        );
    }
    Ok(())
}

pub(super) async fn run_user(cmd: UserCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            username,
            full_name,
            email,
            badge_id,
            permissions,
            groups,
        } => {
            let body = CreateUser {
                username,
                full_name,
                email,
                badge_id,
                permissions,
                groups,
            };
            let answer = client
                .send_json(Method::POST, &["v1", "users"], &body)
                .await?;
            if let Some(created) = out.answer::<CreatedUser>(&answer)? {
                outln!(
                    "added user {} ({})",
                    s(&created.user.username),
                    created.user.id
                );
                outln!("token: {}", created.token);
            }
        }
        UserCommand::Passwd { username, stdin } => {
            let password = read_password(&username, stdin)?;
            client
                .send_json(
                    Method::PUT,
                    &["v1", "users", &username, "password"],
                    &json!({ "password": password }),
                )
                .await?;
            if !out.json(&json!({ "username": username, "password_set": true }))? {
                outln!("password set for {username}");
            }
        }
        UserCommand::List => {
            let users = client.get(&["v1", "users"]).await?;
            if let Some(users) = out.answer::<Vec<UserView>>(&users)? {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            s(&u.username),
                            s(&u.full_name),
                            opt(u.email.as_deref()),
                            opt(u.badge_id.as_deref()),
                            list(&u.groups),
                            list(&u.permissions),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "USERNAME",
                        "FULL NAME",
                        "EMAIL",
                        "BADGE",
                        "GROUPS",
                        "PERMISSIONS",
                    ],
                    &rows,
                );
            }
        }
        UserCommand::Edit {
            username,
            full_name,
            email,
            badge_id,
            permissions,
            no_permissions,
            groups,
            no_groups,
        } => {
            let body = EditUser {
                full_name,
                email,
                badge_id,
                permissions: (no_permissions || !permissions.is_empty()).then_some(permissions),
                groups: (no_groups || !groups.is_empty()).then_some(groups),
                disabled: None,
            };
            if body == EditUser::default() {
                bail!("nothing to change");
            }
            let user = client
                .send_json(Method::PATCH, &["v1", "users", &username], &body)
                .await?;
            if let Some(user) = out.answer::<UserView>(&user)? {
                outln!("updated user {}", s(&user.username));
            }
        }
        UserCommand::Token {
            username,
            keep,
            revoke: false,
            yes,
        } => {
            if !keep {
                super::confirm::confirm(
                    yes,
                    &format!(
                        "replace every token of {username}: the earlier ones stop working (pass \
                         --keep to keep them)"
                    ),
                )?;
            }
            let answer = client
                .post_query(
                    &["v1", "users", &username, "tokens"],
                    &[("keep", if keep { "true" } else { "false" })],
                )
                .await?;
            if let Some(token) = out.answer::<NewToken>(&answer)? {
                outln!("{}", token.token);
            }
        }
        UserCommand::Token {
            username,
            revoke: true,
            yes,
            ..
        } => {
            super::confirm::confirm(
                yes,
                &format!(
                    "revoke every token of {username}: nothing it runs works until it gets a new one"
                ),
            )?;
            let answer = client.delete(&["v1", "users", &username, "tokens"]).await?;
            if let Some(answer) = out.answer::<Revoked>(&answer)? {
                outln!("revoked {} tokens of {username}", answer.revoked);
            }
        }
        UserCommand::Disable { username, yes } => {
            super::confirm::confirm(
                yes,
                &format!("disable user {username}: its tokens open nothing until it is enabled"),
            )?;
            set_disabled(client, out, &username, true).await?
        }
        UserCommand::Enable { username } => set_disabled(client, out, &username, false).await?,
        UserCommand::Delete { username, yes } => {
            super::confirm::confirm(yes, &format!("delete user {username} and its tokens"))?;
            client.delete(&["v1", "users", &username]).await?;
            if !out.json(&serde_json::json!({ "deleted": username }))? {
                outln!("deleted user {username}");
            }
        }
    }
    Ok(())
}

pub(super) async fn run_group(cmd: GroupCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Add { name, permissions } => {
            let body = CreateGroup { name, permissions };
            let group = client
                .send_json(Method::POST, &["v1", "groups"], &body)
                .await?;
            if let Some(group) = out.answer::<GroupView>(&group)? {
                outln!("added group {} ({})", s(&group.name), group.id);
            }
        }
        GroupCommand::List => {
            let groups = client.get(&["v1", "groups"]).await?;
            if let Some(groups) = out.answer::<Vec<GroupView>>(&groups)? {
                let rows: Vec<Vec<String>> = groups
                    .iter()
                    .map(|g| vec![s(&g.name), list(&g.permissions), g.id.to_string()])
                    .collect();
                table(&["NAME", "PERMISSIONS", "ID"], &rows);
            }
        }
    }
    Ok(())
}
