//! The organization's accounts (names, states, OU paths, tags), cached between runs.
//!
//! Organizations answers ~1–2 calls a second (research/scale-and-beyond-peers.md §1.2), and a full
//! read costs 1 + 2 per OU + 1 per account (5,000 accounts in 300 OUs: ~5,600 calls, ~47 minutes at
//! 2/s). So the accounts are kept in a cache beside the snapshots
//! (`<prefix>/evaluations/_cache/organization.json`, or the same path under a local output) and each run
//! refreshes one slice of it: the items (OUs and accounts' tags) never read first, then the stalest,
//! [`slice_size`] of them — every item at least every [`REFRESH_RUNS`] runs, a small organization
//! entirely on every run. A run never waits for a full refresh; what it did not reach is used as
//! cached, and the summary's `organization_cache` says how old the oldest part is.
//!
//! The cache is written back only when the run publishes its snapshot (a run that publishes nothing
//! writes nothing under `evaluations/`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_organizations::types::{AccountState, AccountStatus};
use awsbase::error_text;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::gather::Gap;
use crate::row::AccountDetails;

/// Every cached item is refreshed at least once in this many runs (daily runs: a week).
pub const REFRESH_RUNS: usize = 7;
/// A run refreshes at least this many items: a small organization is read entirely on every run.
pub const MIN_SLICE: usize = 64;
/// The cache's format; another version is ignored (read again from scratch).
const CACHE_VERSION: u32 = 1;

/// An account as Organizations lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationAccount {
    pub id: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_CLOSURE`, `CLOSED`, …
    pub state: String,
    pub details: AccountDetails,
}

#[derive(Debug, Default)]
pub struct Organization {
    pub accounts: BTreeMap<String, OrganizationAccount>,
    pub gaps: Vec<Gap>,
    pub report: CacheReport,
}

/// What the run's slice did, for the summary (`organization_cache`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CacheReport {
    /// The cache as read: `none` (first run, or unreadable: see `note`), or `read`.
    pub loaded: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub units: usize,
    pub accounts: usize,
    /// OUs and accounts (tags) refreshed by this run.
    pub units_refreshed: usize,
    pub accounts_refreshed: usize,
    /// Accounts whose tags were never read (they come in later slices).
    pub accounts_without_tags: usize,
    /// The oldest refresh among the cached items: the data is at most this old.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_refresh: Option<Timestamp>,
}

/// An OU (or the root) in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    pub name: String,
    /// None for a root.
    pub parent: Option<String>,
    /// When its children (OUs and accounts) were last listed.
    pub read_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedAccount {
    pub name: Option<String>,
    pub state: String,
    /// The OU it was last listed in (None: it left that OU, and its new one is not read yet).
    pub parent: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub tags_read_at: Option<Timestamp>,
    /// When it left the OU it was listed in. Once every OU has been listed since and none lists it,
    /// it has left the organization and is dropped ([`Cache::prune`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphaned_at: Option<Timestamp>,
}

/// The cache object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    pub version: u32,
    pub units: BTreeMap<String, Unit>,
    pub accounts: BTreeMap<String, CachedAccount>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            version: CACHE_VERSION,
            units: BTreeMap::new(),
            accounts: BTreeMap::new(),
        }
    }
}

/// One refresh step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// List the OUs and accounts under this parent.
    Unit(String),
    /// Read this account's tags.
    Tags(String),
}

/// How many items a run refreshes when the cache holds `items`: ⌈items / REFRESH_RUNS⌉, at least
/// [`MIN_SLICE`].
pub fn slice_size(items: usize) -> usize {
    items.div_ceil(REFRESH_RUNS).max(MIN_SLICE)
}

impl Cache {
    /// From the cache object; None when it is not one of this version.
    pub fn parse(text: &str) -> Option<Cache> {
        serde_json::from_str::<Cache>(text)
            .ok()
            .filter(|cache| cache.version == CACHE_VERSION)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn items(&self) -> usize {
        self.units.len() + self.accounts.len()
    }

    /// The next item to refresh in a run that started at `started`, or None when the run's slice
    /// is done: OUs never read, then accounts whose tags were never read, then the stalest item
    /// not refreshed in this run; accounts in `failed` (tried in this run) are skipped.
    pub fn next_work(&self, started: Timestamp, refreshed: usize, failed: &BTreeSet<String>) -> Option<Work> {
        if refreshed >= slice_size(self.items()) {
            return None;
        }
        if let Some((id, _)) = self.units.iter().find(|(_, u)| u.read_at.is_none()) {
            return Some(Work::Unit(id.clone()));
        }
        if let Some((id, _)) = self
            .accounts
            .iter()
            .find(|(id, a)| a.tags_read_at.is_none() && !failed.contains(*id))
        {
            return Some(Work::Tags(id.clone()));
        }
        let units = self
            .units
            .iter()
            .filter_map(|(id, u)| Some((u.read_at?, Work::Unit(id.clone()))));
        let accounts = self
            .accounts
            .iter()
            .filter(|(id, _)| !failed.contains(*id))
            .filter_map(|(id, a)| Some((a.tags_read_at?, Work::Tags(id.clone()))));
        units
            .chain(accounts)
            .filter(|(at, _)| *at < started)
            .min_by_key(|(at, _)| *at)
            .map(|(_, work)| work)
    }

    /// The roots as listed now: a different root (another organization) starts the cache afresh.
    pub fn set_roots(&mut self, roots: &[(String, String)]) {
        let known: BTreeSet<&String> = self
            .units
            .iter()
            .filter(|(_, u)| u.parent.is_none())
            .map(|(id, _)| id)
            .collect();
        let listed: BTreeSet<&String> = roots.iter().map(|(id, _)| id).collect();
        if known != listed {
            *self = Cache::default();
        }
        for (id, name) in roots {
            let unit = self.units.entry(id.clone()).or_insert_with(|| Unit {
                name: name.clone(),
                parent: None,
                read_at: None,
            });
            unit.name = name.clone();
        }
    }

    /// What listing the children of `parent` returned at `now`: OUs under it that are gone are
    /// dropped with their subtree; accounts no longer in it lose their OU until it is read again.
    pub fn listed_unit(
        &mut self,
        parent: &str,
        units: Vec<(String, String)>,
        accounts: Vec<(String, Option<String>, String)>,
        now: Timestamp,
    ) {
        let listed: BTreeSet<String> = units.iter().map(|(id, _)| id.clone()).collect();
        let gone: Vec<String> = self
            .units
            .iter()
            .filter(|(id, u)| u.parent.as_deref() == Some(parent) && !listed.contains(*id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.drop_subtree(&id, now);
        }
        for (id, name) in units {
            let unit = self.units.entry(id).or_insert_with(|| Unit {
                name: name.clone(),
                parent: Some(parent.to_string()),
                read_at: None,
            });
            unit.name = name;
            unit.parent = Some(parent.to_string());
        }
        let listed: BTreeSet<String> = accounts.iter().map(|(id, _, _)| id.clone()).collect();
        for account in self.accounts.values_mut() {
            if account.parent.as_deref() == Some(parent) {
                account.parent = None;
                account.orphaned_at = Some(now);
            }
        }
        for (id, name, state) in accounts {
            let account = self.accounts.entry(id).or_insert_with(|| CachedAccount {
                name: None,
                state: state.clone(),
                parent: None,
                tags: BTreeMap::new(),
                tags_read_at: None,
                orphaned_at: None,
            });
            account.name = name;
            account.state = state;
            account.parent = Some(parent.to_string());
            account.orphaned_at = None;
        }
        debug_assert!(listed.iter().all(|id| self.accounts.contains_key(id)));
        if let Some(unit) = self.units.get_mut(parent) {
            unit.read_at = Some(now);
        }
    }

    fn drop_subtree(&mut self, id: &str, now: Timestamp) {
        let children: Vec<String> = self
            .units
            .iter()
            .filter(|(_, u)| u.parent.as_deref() == Some(id))
            .map(|(child, _)| child.clone())
            .collect();
        for child in children {
            self.drop_subtree(&child, now);
        }
        self.units.remove(id);
        for account in self.accounts.values_mut() {
            if account.parent.as_deref() == Some(id) {
                account.parent = None;
                account.orphaned_at = Some(now);
            }
        }
    }

    /// Drops the accounts no OU has listed since each one left its OU, once every OU (and the root)
    /// has been listed since: they have left the organization (an account is always in exactly one
    /// OU or the root). Without this a removed account would stay among `accounts_without_results`,
    /// its tags read again, for ever. Returns how many were dropped.
    pub fn prune(&mut self) -> usize {
        let Some(oldest) = self
            .units
            .values()
            .map(|u| u.read_at)
            .collect::<Option<Vec<_>>>()
            .and_then(|reads| reads.into_iter().min())
        else {
            return 0; // an OU not listed yet may still list them
        };
        let before = self.accounts.len();
        // No orphaned_at (a cache written before it existed): orphaned since before any listing.
        self.accounts
            .retain(|_, a| a.parent.is_some() || a.orphaned_at.unwrap_or(Timestamp::UNIX_EPOCH) > oldest);
        before - self.accounts.len()
    }

    /// `Root/Workloads/Payments` for an OU, None when its chain is broken.
    pub fn path(&self, unit: &str) -> Option<String> {
        let mut names = Vec::new();
        let mut current = Some(unit.to_string());
        while let Some(id) = current {
            let found = self.units.get(&id)?;
            names.push(found.name.clone());
            current = found.parent.clone();
            if names.len() > 32 {
                return None; // a cycle: never in Organizations (at most 5 levels of OUs)
            }
        }
        names.reverse();
        Some(names.join("/"))
    }

    /// The accounts as rows use them.
    pub fn accounts(&self) -> BTreeMap<String, OrganizationAccount> {
        self.accounts
            .iter()
            .map(|(id, account)| {
                (
                    id.clone(),
                    OrganizationAccount {
                        id: id.clone(),
                        state: account.state.clone(),
                        details: AccountDetails {
                            name: account.name.as_deref().map(Arc::from),
                            ou_path: account
                                .parent
                                .as_deref()
                                .and_then(|p| self.path(p))
                                .map(Arc::from),
                            tags: Arc::new(account.tags.clone()),
                        },
                    },
                )
            })
            .collect()
    }

    fn report(&self, loaded: &str, note: Option<String>, refreshed: (usize, usize)) -> CacheReport {
        let oldest = self
            .units
            .values()
            .filter_map(|u| u.read_at)
            .chain(self.accounts.values().filter_map(|a| a.tags_read_at))
            .min();
        CacheReport {
            loaded: loaded.to_string(),
            note,
            units: self.units.len(),
            accounts: self.accounts.len(),
            units_refreshed: refreshed.0,
            accounts_refreshed: refreshed.1,
            accounts_without_tags: self
                .accounts
                .values()
                .filter(|a| a.tags_read_at.is_none())
                .count(),
            oldest_refresh: oldest,
        }
    }
}

/// The account's state: `State` where Organizations sends it (`Status` was retired on 2026-09-09),
/// else the older `Status`.
#[allow(deprecated)]
fn account_state(account: &aws_sdk_organizations::types::Account) -> String {
    if let Some(state) = account.state() {
        return match state {
            AccountState::Active => "ACTIVE".into(),
            other => other.as_str().to_string(),
        };
    }
    match account.status() {
        Some(AccountStatus::Active) => "ACTIVE".into(),
        Some(other) => other.as_str().to_string(),
        None => "UNKNOWN".into(),
    }
}

async fn list_roots(client: &aws_sdk_organizations::Client) -> Result<Vec<(String, String)>, String> {
    let mut roots = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_roots()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        roots.extend(
            page.roots()
                .iter()
                .filter_map(|r| Some((r.id()?.to_string(), r.name().unwrap_or("Root").to_string()))),
        );
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(roots),
        }
    }
}

type Listing = (Vec<(String, String)>, Vec<(String, Option<String>, String)>);

async fn list_unit(client: &aws_sdk_organizations::Client, parent: &str) -> Result<Listing, String> {
    let mut units = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_organizational_units_for_parent()
            .parent_id(parent)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        units.extend(page.organizational_units().iter().filter_map(|u| {
            let id = u.id()?;
            Some((id.to_string(), u.name().unwrap_or(id).to_string()))
        }));
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    let mut accounts = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_accounts_for_parent()
            .parent_id(parent)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        accounts.extend(page.accounts().iter().filter_map(|a| {
            Some((
                a.id()?.to_string(),
                a.name().map(str::to_string),
                account_state(a),
            ))
        }));
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok((units, accounts)),
        }
    }
}

async fn list_tags(
    client: &aws_sdk_organizations::Client,
    account: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    let mut token = None;
    loop {
        let page = client
            .list_tags_for_resource()
            .resource_id(account)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| error_text(&e))?;
        tags.extend(page.tags().iter().map(|t| (t.key.clone(), t.value.clone())));
        match page.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(tags),
        }
    }
}

fn organizations_gap(reason: String) -> Gap {
    Gap {
        kind: "organizations",
        rule_name: None,
        account_id: None,
        region: None,
        reason,
    }
}

/// Refreshes one slice of `cache` (as loaded: None for none) and returns the organization as rows
/// use it, with the cache to write back after publishing. A failure to list the tree stops the slice
/// (one `organizations` gap; the cache is used as it is); an account whose tags cannot be read and
/// were never read is an `account` gap.
pub async fn refresh(
    client: &aws_sdk_organizations::Client,
    loaded: Result<Option<Cache>, String>,
) -> (Organization, Cache) {
    let started = Timestamp::now();
    let (mut cache, loaded_as, note) = match loaded {
        Ok(Some(cache)) => (cache, "read", None),
        Ok(None) => (Cache::default(), "none", None),
        Err(note) => (Cache::default(), "none", Some(note)),
    };
    let mut gaps = Vec::new();
    let (mut units, mut accounts) = (0, 0);
    let mut failed = BTreeSet::new();
    match list_roots(client).await {
        Err(reason) => gaps.push(organizations_gap(format!(
            "listing the organization's roots: {reason}"
        ))),
        Ok(roots) => {
            cache.set_roots(&roots);
            while let Some(work) = cache.next_work(started, units + accounts, &failed) {
                match work {
                    Work::Unit(id) => match list_unit(client, &id).await {
                        Ok((children, members)) => {
                            cache.listed_unit(&id, children, members, Timestamp::now());
                            units += 1;
                        }
                        Err(reason) => {
                            let path = cache.path(&id).unwrap_or(id);
                            gaps.push(organizations_gap(format!(
                                "listing the OUs and accounts in {path}: {reason}"
                            )));
                            break;
                        }
                    },
                    Work::Tags(id) => {
                        let tagged = list_tags(client, &id).await;
                        let Some(account) = cache.accounts.get_mut(&id) else {
                            continue;
                        };
                        match tagged {
                            Ok(tags) => {
                                account.tags = tags;
                                account.tags_read_at = Some(Timestamp::now());
                            }
                            Err(reason) => {
                                // Kept as it was (cached tags, or none): tried first again next run.
                                tracing::warn!(account = %id, %reason, "account tags unavailable");
                                if account.tags_read_at.is_none() {
                                    gaps.push(Gap {
                                        kind: "account",
                                        rule_name: None,
                                        account_id: Some(id.clone()),
                                        region: None,
                                        reason: format!("account tags: {reason}"),
                                    });
                                }
                                failed.insert(id);
                            }
                        }
                        accounts += 1;
                    }
                }
            }
        }
    }
    let dropped = cache.prune();
    if dropped > 0 {
        tracing::info!(dropped, "accounts no OU lists any more dropped from the cache");
    }
    let report = cache.report(loaded_as, note, (units, accounts));
    (
        Organization {
            accounts: cache.accounts(),
            gaps,
            report,
        },
        cache,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("timestamp")
    }

    fn account_id(i: usize) -> String {
        format!("{:012}", 100_000_000_000 + i)
    }

    /// An organization of `units` OUs under the root with `per_unit` accounts each, fully read at `when`.
    fn read_organization(units: usize, per_unit: usize, when: Timestamp) -> Cache {
        let mut cache = Cache::default();
        cache.set_roots(&[("r-root".into(), "Root".into())]);
        let children: Vec<(String, String)> = (0..units)
            .map(|u| (format!("ou-{u}"), format!("OU{u}")))
            .collect();
        cache.listed_unit("r-root", children.clone(), Vec::new(), when);
        for (u, (id, _)) in children.iter().enumerate() {
            let members = (0..per_unit)
                .map(|a| {
                    (
                        account_id(u * per_unit + a),
                        Some(format!("acct-{a}")),
                        "ACTIVE".to_string(),
                    )
                })
                .collect();
            cache.listed_unit(id, Vec::new(), members, when);
        }
        for account in cache.accounts.values_mut() {
            account.tags_read_at = Some(when);
        }
        cache
    }

    #[test]
    fn slices_cover_every_item_within_refresh_runs() {
        assert_eq!(slice_size(10), MIN_SLICE);
        assert_eq!(slice_size(5_300), 758);
        // 300 OUs, 5,000 accounts: each run refreshes the stalest seventh.
        let mut cache = read_organization(300, 17, at(0));
        let items = cache.items();
        let mut refreshed_at: BTreeMap<String, usize> = BTreeMap::new();
        for run in 1..=REFRESH_RUNS {
            let started = at(run as i64 * 86_400);
            let mut done = 0;
            while let Some(work) = cache.next_work(started, done, &BTreeSet::new()) {
                let now = started + jiff::SignedDuration::from_secs(done as i64);
                match &work {
                    Work::Unit(id) => cache.units.get_mut(id).expect("unit").read_at = Some(now),
                    Work::Tags(id) => cache.accounts.get_mut(id).expect("account").tags_read_at = Some(now),
                }
                refreshed_at.insert(format!("{work:?}"), run);
                done += 1;
            }
            assert_eq!(done, slice_size(items), "run {run}");
        }
        assert_eq!(
            refreshed_at.len(),
            items,
            "every item once in {REFRESH_RUNS} runs"
        );
    }

    #[test]
    fn items_never_read_come_first_and_a_small_organization_is_read_whole() {
        let mut cache = read_organization(3, 5, at(0));
        cache.listed_unit(
            "ou-1",
            vec![("ou-new".into(), "New".into())],
            vec![(account_id(99), Some("new".into()), "ACTIVE".into())],
            at(10),
        );
        let started = at(100);
        assert_eq!(
            cache.next_work(started, 0, &BTreeSet::new()),
            Some(Work::Unit("ou-new".into()))
        );
        cache.units.get_mut("ou-new").expect("new").read_at = Some(at(101));
        assert_eq!(
            cache.next_work(started, 1, &BTreeSet::new()),
            Some(Work::Tags(account_id(99)))
        );
        assert_eq!(cache.path("ou-new").as_deref(), Some("Root/OU1/New"));
        assert_eq!(
            cache.accounts()[&account_id(99)].details.ou_path.as_deref(),
            Some("Root/OU1")
        );
        // Everything (1 root + 4 OUs + 16 accounts) fits the minimum slice: all of it each run.
        let mut done = 1;
        while let Some(work) = cache.next_work(started, done, &BTreeSet::new()) {
            match work {
                Work::Unit(id) => cache.units.get_mut(&id).expect("unit").read_at = Some(at(200)),
                Work::Tags(id) => cache.accounts.get_mut(&id).expect("account").tags_read_at = Some(at(200)),
            }
            done += 1;
        }
        assert_eq!(done, cache.items());
    }

    #[test]
    fn a_moved_account_and_a_removed_ou_are_followed() {
        let mut cache = read_organization(2, 2, at(0));
        let moved = account_id(0);
        assert_eq!(
            cache.accounts()[&moved].details.ou_path.as_deref(),
            Some("Root/OU0")
        );
        // ou-0 now lists only one of its two accounts; the other shows up in ou-1 later.
        cache.listed_unit(
            "ou-0",
            vec![],
            vec![(account_id(1), None, "ACTIVE".into())],
            at(5),
        );
        assert_eq!(cache.accounts()[&moved].details.ou_path, None);
        cache.listed_unit(
            "ou-1",
            vec![],
            vec![
                (moved.clone(), Some("acct-0".into()), "ACTIVE".into()),
                (account_id(2), None, "SUSPENDED".into()),
                (account_id(3), None, "ACTIVE".into()),
            ],
            at(6),
        );
        assert_eq!(
            cache.accounts()[&moved].details.ou_path.as_deref(),
            Some("Root/OU1")
        );
        assert_eq!(cache.accounts()[&account_id(2)].state, "SUSPENDED");
        // The root no longer lists ou-0: it goes, and its accounts lose their path.
        cache.listed_unit("r-root", vec![("ou-1".into(), "OU1".into())], vec![], at(7));
        assert!(!cache.units.contains_key("ou-0"));
        assert_eq!(cache.accounts()[&account_id(1)].details.ou_path, None);
        // Not every OU listed since it lost its OU: it may still turn up. Once every one has been,
        // it has left the organization and is dropped; the others stay.
        assert_eq!(cache.prune(), 0);
        assert!(cache.accounts.contains_key(&account_id(1)));
        cache.listed_unit(
            "ou-1",
            vec![],
            vec![
                (moved.clone(), Some("acct-0".into()), "ACTIVE".into()),
                (account_id(2), None, "SUSPENDED".into()),
                (account_id(3), None, "ACTIVE".into()),
            ],
            at(8),
        );
        assert_eq!(cache.prune(), 1);
        assert!(!cache.accounts.contains_key(&account_id(1)));
        assert_eq!(cache.accounts.len(), 3);
        assert_eq!(cache.prune(), 0);
        // Another organization: the cache starts afresh.
        cache.set_roots(&[("r-other".into(), "Root".into())]);
        assert_eq!(cache.items(), 1);
        let text = read_organization(1, 1, at(0)).to_json();
        assert_eq!(Cache::parse(&text), Some(read_organization(1, 1, at(0))));
        assert_eq!(Cache::parse(r#"{"version":0,"units":{},"accounts":{}}"#), None);
        assert_eq!(Cache::parse("nonsense"), None);
    }
}
