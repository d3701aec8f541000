//! Retention: how long evidence in a case is kept, and the rules of the seeds' "Shared case
//! retention information".

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A case's retention policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind", content = "days")]
pub enum RetentionPolicy {
    /// Kept until someone deletes it.
    #[default]
    UntilManuallyDeleted,
    /// Evidence is removed this many days after it was added to the case.
    Days(u32),
}

impl fmt::Display for RetentionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetentionPolicy::UntilManuallyDeleted => f.write_str("Until Manually Deleted"),
            RetentionPolicy::Days(d) => write!(f, "{d} days"),
        }
    }
}

impl RetentionPolicy {
    /// Parse the CLI form: `manual` (or `until-manually-deleted`) or a whole number of days.
    pub fn parse(text: &str) -> Option<RetentionPolicy> {
        match text {
            "manual" | "until-manually-deleted" | "Until Manually Deleted" => {
                Some(RetentionPolicy::UntilManuallyDeleted)
            }
            n => n
                .strip_suffix(" days")
                .unwrap_or(n)
                .parse()
                .ok()
                .map(RetentionPolicy::Days),
        }
    }

    /// When evidence added at `added_at` expires under this policy; `None` for never.
    pub fn expires_at(self, added_at: Timestamp) -> Option<Timestamp> {
        match self {
            RetentionPolicy::UntilManuallyDeleted => None,
            RetentionPolicy::Days(d) => Some(added_at.plus_days(d)),
        }
    }
}

/// The policy a case actually runs under: with Configurable Case Retention disabled, every case
/// keeps everything until manually deleted, whatever policy it names.
pub fn effective_policy(
    case_policy: RetentionPolicy,
    configurable_retention: bool,
) -> RetentionPolicy {
    if configurable_retention {
        case_policy
    } else {
        RetentionPolicy::UntilManuallyDeleted
    }
}

/// Whether evidence added at `added_at` is past retention at `now`.
pub fn is_expired(
    case_policy: RetentionPolicy,
    configurable_retention: bool,
    added_at: Timestamp,
    now: Timestamp,
) -> bool {
    effective_policy(case_policy, configurable_retention)
        .expires_at(added_at)
        .is_some_and(|at| at <= now)
}

/// The policy a case received from a partner starts with: the organization's default, else
/// "Until Manually Deleted".
pub fn received_case_policy(org_default: Option<RetentionPolicy>) -> RetentionPolicy {
    org_default.unwrap_or(RetentionPolicy::UntilManuallyDeleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::DAY_MS;

    #[test]
    fn days_policy_expires_after_the_days() {
        let p = RetentionPolicy::Days(2);
        let added = Timestamp(1_000);
        assert!(!is_expired(
            p,
            true,
            added,
            Timestamp(1_000 + 2 * DAY_MS - 1)
        ));
        assert!(is_expired(p, true, added, Timestamp(1_000 + 2 * DAY_MS)));
    }

    #[test]
    fn zero_days_expires_at_once() {
        assert!(is_expired(
            RetentionPolicy::Days(0),
            true,
            Timestamp(5),
            Timestamp(5)
        ));
    }

    #[test]
    fn manual_never_expires_and_disabled_feature_keeps_everything() {
        assert!(!is_expired(
            RetentionPolicy::UntilManuallyDeleted,
            true,
            Timestamp(0),
            Timestamp(u64::MAX)
        ));
        assert!(!is_expired(
            RetentionPolicy::Days(0),
            false,
            Timestamp(0),
            Timestamp(u64::MAX)
        ));
    }

    #[test]
    fn received_cases_use_org_default_else_manual() {
        assert_eq!(
            received_case_policy(None),
            RetentionPolicy::UntilManuallyDeleted
        );
        assert_eq!(
            received_case_policy(Some(RetentionPolicy::Days(30))),
            RetentionPolicy::Days(30)
        );
    }

    #[test]
    fn parses_cli_forms() {
        assert_eq!(
            RetentionPolicy::parse("manual"),
            Some(RetentionPolicy::UntilManuallyDeleted)
        );
        assert_eq!(
            RetentionPolicy::parse("30"),
            Some(RetentionPolicy::Days(30))
        );
        assert_eq!(
            RetentionPolicy::parse("30 days"),
            Some(RetentionPolicy::Days(30))
        );
        assert_eq!(RetentionPolicy::parse("soon"), None);
    }
}
