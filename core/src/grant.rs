//! Chat principals and what the configuration grants them (`adapters.<name>.principals`).
//!
//! A Slack or Discord signature proves the platform sent the request, not that its sender may
//! trade: the platform names the member (workspace, user, roles), and only a [`Grant`] naming
//! that member lets it trade a fund, and only the strategies the grant lists.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::ids::{FundId, PlatformId, StrategyId};

/// Who sent a chat command, as the platform signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The Slack team (workspace) or the Discord guild.
    pub workspace: PlatformId,
    /// The user.
    pub user: PlatformId,
    /// The member's roles (Discord; empty on Slack).
    pub roles: Vec<PlatformId>,
}

impl Member {
    /// The most roles a member may carry (Discord allows 250 roles per guild).
    pub const MAX_ROLES: usize = 256;

    /// Returns `workspace/user`: the member's key for per-principal rate limits and logs.
    pub fn key(&self) -> String {
        format!("{}/{}", self.workspace, self.user)
    }
}

/// Which members a grant covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grantee {
    /// One user.
    User(PlatformId),
    /// Every member holding a role (Discord).
    Role(PlatformId),
}

/// One `adapters.<name>.principals.<grant>` entry: members of one workspace, the funds they may
/// trade and, when listed, the only strategies they may name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The grant's name in the configuration (for logs and `check-config`).
    pub name: String,
    /// The Slack team or Discord guild.
    pub workspace: PlatformId,
    /// Who in it.
    pub grantee: Grantee,
    /// The funds they may trade (at least one).
    pub funds: BTreeSet<FundId>,
    /// The strategies they may name; empty means any (the fund's envelope still applies).
    pub strategies: BTreeSet<StrategyId>,
}

impl Grant {
    fn covers(&self, member: &Member) -> bool {
        self.workspace == member.workspace
            && match &self.grantee {
                Grantee::User(user) => *user == member.user,
                Grantee::Role(role) => member.roles.contains(role),
            }
    }

    fn allows(&self, fund: &FundId, strategy: &StrategyId) -> bool {
        self.funds.contains(fund)
            && (self.strategies.is_empty() || self.strategies.contains(strategy))
    }
}

/// Every grant of one adapter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Grants(Vec<Grant>);

static NONE: Grants = Grants(Vec::new());

impl Grants {
    /// The grants, in configuration order.
    pub fn new(grants: Vec<Grant>) -> Self {
        Self(grants)
    }

    /// No grant at all: no member may trade.
    pub fn none() -> &'static Grants {
        &NONE
    }

    /// True when some grant lets `member` trade `strategy` for `fund`.
    pub fn permit(&self, member: &Member, fund: &FundId, strategy: &StrategyId) -> bool {
        self.0
            .iter()
            .any(|g| g.covers(member) && g.allows(fund, strategy))
    }

    /// True when some grant lets `member` trade `fund`, for at least one strategy: what a
    /// modification naming only its target's key may look up there.
    pub fn permit_fund(&self, member: &Member, fund: &FundId) -> bool {
        self.0
            .iter()
            .any(|g| g.covers(member) && g.funds.contains(fund))
    }

    /// True when some grant names `member` (for any fund): a member none names is refused
    /// before anything is kept for it.
    pub fn names(&self, member: &Member) -> bool {
        self.0.iter().any(|g| g.covers(member))
    }

    /// Returns the grants.
    pub fn iter(&self) -> impl Iterator<Item = &Grant> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> PlatformId {
        PlatformId::parse(s).unwrap()
    }

    fn grant(grantee: Grantee, strategies: &[&str]) -> Grant {
        Grant {
            name: "g".into(),
            workspace: id("T1"),
            grantee,
            funds: [FundId::parse("f").unwrap()].into(),
            strategies: strategies
                .iter()
                .map(|s| StrategyId::parse(s).unwrap())
                .collect(),
        }
    }

    fn member(workspace: &str, user: &str, roles: &[&str]) -> Member {
        Member {
            workspace: id(workspace),
            user: id(user),
            roles: roles.iter().map(|r| id(r)).collect(),
        }
    }

    #[test]
    fn a_grant_covers_its_workspace_user_or_role_and_its_funds_and_strategies() {
        let (f, other_fund) = (FundId::parse("f").unwrap(), FundId::parse("g").unwrap());
        let (manual, algo) = (
            StrategyId::parse("manual").unwrap(),
            StrategyId::parse("algo").unwrap(),
        );
        let grants = Grants::new(vec![
            grant(Grantee::User(id("U1")), &["manual"]),
            grant(Grantee::Role(id("R9")), &[]),
        ]);
        assert!(grants.permit(&member("T1", "U1", &[]), &f, &manual));
        assert!(
            !grants.permit(&member("T1", "U1", &[]), &f, &algo),
            "strategy"
        );
        assert!(
            !grants.permit(&member("T1", "U1", &[]), &other_fund, &manual),
            "fund"
        );
        assert!(
            !grants.permit(&member("T2", "U1", &[]), &f, &manual),
            "workspace"
        );
        assert!(
            !grants.permit(&member("T1", "U2", &[]), &f, &manual),
            "user"
        );
        // The role grant lists no strategy: any.
        assert!(grants.permit(&member("T1", "U2", &["R1", "R9"]), &f, &algo));
        assert!(
            !grants.permit(&member("T2", "U2", &["R9"]), &f, &algo),
            "role elsewhere"
        );
        assert!(!Grants::none().permit(&member("T1", "U1", &[]), &f, &manual));
        assert!(grants.names(&member("T1", "U1", &[])));
        assert!(grants.names(&member("T1", "U7", &["R9"])));
        assert!(!grants.names(&member("T1", "U7", &["R1"])));
        assert!(!grants.names(&member("T2", "U1", &[])));
    }
}
