//! Checkpoints: a run killed midway (a Lambda timeout, a stopped task, SIGKILL) and started again for
//! the same date gathers only what it had not finished, and still publishes exactly one snapshot.
//!
//! Under `<prefix>/evaluations/_staging/dt=YYYY-MM-DD/run-<key>/` ([`crate::layout::staging_path`]),
//! JSON compressed with zstd:
//! - `organization.json.zst`: the account cache as the run refreshed it, with the organization's gaps
//!   and report, written once the triples are listed. A resumed run uses it instead of calling
//!   Organizations again, so every shard's rows carry the same account details (names, OU paths, tags).
//! - `shard-<hash>.json.zst`: a finished inventory shard's rows, written as the shard completes, only
//!   when it has no gap (a shard with a gap is gathered again on resume: the retry may fill it).
//!
//! `<key>` (a [`RunKey`]) is what makes two runs *the same run*: the snapshot date, the Config
//! aggregator, the rules, the rule parameters, the catalog (with its overlay) and this binary's
//! version; another key's checkpoints are never read. `<hash>` names a shard by its region, its accounts
//! and their triples as listed (rule, compliance, non-compliant count): when the plan or the listing
//! changed, the shards that still match are resumed and the rest gathered. Every checkpoint repeats its
//! run key and shard in full and is checked when read; one that does not match, or cannot be read, is
//! gathered again. Shard checkpoints are used only together with their run's organization checkpoint.
//! The rows keep the time they were collected; their `run_id` becomes the publishing run's.
//!
//! A run that publishes, or keeps the day's better snapshot, removes the date's checkpoints (its own and
//! any other run's of that date) and other dates' checkpoints older than a day. A run that fails after
//! gathering keeps them: the retry resumes. The bucket's lifecycle rule on `_staging/` (CDK reporting
//! stack) expires what a run that never came back left behind.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use aws_sdk_s3::Client as S3Client;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use lifecycle::Catalog;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::gather::{Gap, Listed, Shard};
use crate::layout::{staging_path, staging_root};
use crate::organization::{Cache, CacheReport, Organization};
use crate::output::Output;
use crate::row::Row;

/// The checkpoints' format; another one is not read (gathered again).
const FORMAT: u32 = 1;
const ORGANIZATION_FILE: &str = "organization.json.zst";
/// Other dates' checkpoints younger than this may belong to a run still going (a backfill beside the
/// daily run): left to it.
const STALE_AFTER: SignedDuration = SignedDuration::from_hours(24);
/// zstd's default level: checkpoints are written once and read at most once.
const LEVEL: i32 = 3;

/// FNV-1a, 64 bits: a stable name for a run or a shard (not a defence: every checkpoint carries what
/// it was named after and is checked against it).
fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What makes two runs the same run, and its short name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey {
    /// Everything the key stands for, as JSON; stored in each checkpoint and compared on load.
    pub material: String,
    /// 16 hex digits of the material.
    pub hash: String,
}

impl RunKey {
    /// The key of a run of `date` through `aggregator` for `rules` (order and repeats do not matter),
    /// with the rule `parameters` (the JSON used) and the `catalog` the lifecycle columns come from.
    pub fn new(
        date: Date,
        aggregator: &str,
        rules: &[String],
        parameters: &str,
        catalog: &Catalog,
    ) -> RunKey {
        let rules: BTreeSet<&str> = rules.iter().map(String::as_str).collect();
        // Catalog's Debug is deterministic (sorted maps): any change of a date or a runtime changes it.
        let catalog = format!("{:016x}", fnv64(format!("{catalog:?}").as_bytes()));
        let material = serde_json::json!({
            "format": FORMAT,
            "version": env!("CARGO_PKG_VERSION"),
            "snapshot_date": date.to_string(),
            "aggregator": aggregator,
            "rules": rules,
            "rule_parameters": parameters,
            "catalog": catalog,
        })
        .to_string();
        let hash = format!("{:016x}", fnv64(material.as_bytes()));
        RunKey { material, hash }
    }
}

/// A shard as its checkpoint names it: the file name and what it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardKey {
    pub file: String,
    /// The region, the accounts and their triples as listed, one per line.
    pub description: String,
}

impl ShardKey {
    pub fn new(shard: &Shard, by_pair: &BTreeMap<(String, String), Vec<Listed>>) -> ShardKey {
        let mut description = format!("region {}\n", shard.region);
        for account in &shard.accounts {
            description.push_str(&format!("account {account}\n"));
            for listed in by_pair
                .get(&(account.clone(), shard.region.clone()))
                .into_iter()
                .flatten()
            {
                description.push_str(&format!(
                    "triple {} {} {:?}\n",
                    listed.triple.rule_name, listed.compliance, listed.noncompliant
                ));
            }
        }
        ShardKey {
            file: format!("shard-{:016x}.json.zst", fnv64(description.as_bytes())),
            description,
        }
    }
}

/// A shard's rows as its checkpoint holds them.
#[derive(Debug)]
pub struct Finished {
    pub rows: Vec<Row>,
    pub not_evaluated: usize,
}

#[derive(Serialize)]
struct ShardOut<'r> {
    format: u32,
    run: &'r str,
    shard: &'r str,
    not_evaluated: usize,
    rows: &'r [Row],
}

#[derive(Deserialize)]
struct ShardIn {
    format: u32,
    run: String,
    shard: String,
    not_evaluated: usize,
    rows: Vec<Row>,
}

/// A gap as stored; its kind must be one the run knows.
#[derive(Serialize, Deserialize)]
struct StoredGap {
    kind: String,
    #[serde(default)]
    rule_name: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    region: Option<String>,
    reason: String,
}

impl StoredGap {
    fn from_gap(gap: &Gap) -> StoredGap {
        StoredGap {
            kind: gap.kind.to_string(),
            rule_name: gap.rule_name.clone(),
            account_id: gap.account_id.clone(),
            region: gap.region.clone(),
            reason: gap.reason.clone(),
        }
    }

    fn into_gap(self) -> Option<Gap> {
        let kind = [
            "triple",
            "functions",
            "organizations",
            "account",
            "no_results",
            "catalog",
        ]
        .into_iter()
        .find(|k| *k == self.kind)?;
        Some(Gap {
            kind,
            rule_name: self.rule_name,
            account_id: self.account_id,
            region: self.region,
            reason: self.reason,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct OrganizationFile {
    format: u32,
    run: String,
    cache: Cache,
    gaps: Vec<StoredGap>,
    report: serde_json::Value,
    /// The stored account cache could not be read: the run must not write its own over it.
    keep_stored_cache: bool,
}

/// The organization as an interrupted run refreshed it.
pub struct ResumedOrganization {
    pub organization: Organization,
    pub cache: Cache,
    pub keep_stored_cache: bool,
}

/// The report as stored (CacheReport is only serialized elsewhere: read back field by field).
fn report_from(value: &serde_json::Value) -> Option<CacheReport> {
    let count = |name: &str| value.get(name)?.as_u64().and_then(|n| usize::try_from(n).ok());
    Some(CacheReport {
        loaded: value.get("loaded")?.as_str()?.to_string(),
        note: value.get("note").and_then(|n| n.as_str()).map(str::to_string),
        units: count("units")?,
        accounts: count("accounts")?,
        units_refreshed: count("units_refreshed")?,
        accounts_refreshed: count("accounts_refreshed")?,
        accounts_without_tags: count("accounts_without_tags")?,
        oldest_refresh: match value.get("oldest_refresh").and_then(|t| t.as_str()) {
            Some(text) => Some(text.parse().ok()?),
            None => None,
        },
    })
}

/// The checkpoints of one run: what its key's directory held when it started, and what to remove
/// when it ends.
pub struct Checkpoints<'a> {
    output: &'a Output,
    s3: Option<&'a S3Client>,
    key: RunKey,
    /// `…/_staging/dt=D/run-<key>/`, relative to the prefix.
    dir: String,
    /// File names in `dir` when the run started.
    found: BTreeSet<String>,
    /// Shard checkpoints are read only with their run's organization checkpoint.
    resumable: bool,
    /// Paths listed at the start that the run removes when it ends.
    superseded: Vec<String>,
    /// File names this run wrote in `dir`.
    written: Mutex<BTreeSet<String>>,
}

impl<'a> Checkpoints<'a> {
    /// Lists the checkpoints (one ListObjectsV2 a thousand; a failure only means nothing is resumed).
    pub async fn open(
        output: &'a Output,
        s3: Option<&'a S3Client>,
        date: Date,
        key: RunKey,
    ) -> Checkpoints<'a> {
        let dir = format!("{}run-{}/", staging_path(date), key.hash);
        let mut checkpoints = Checkpoints {
            output,
            s3,
            key,
            dir,
            found: BTreeSet::new(),
            resumable: false,
            superseded: Vec::new(),
            written: Mutex::new(BTreeSet::new()),
        };
        let listed = match output.list(s3, &staging_root()).await {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "checkpoints unavailable: nothing is resumed");
                return checkpoints;
            }
        };
        let this_date = staging_path(date);
        let stale_before = Timestamp::now()
            .checked_sub(STALE_AFTER)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        for stored in listed {
            if let Some(name) = stored.relative.strip_prefix(&checkpoints.dir) {
                checkpoints.found.insert(name.to_string());
                checkpoints.superseded.push(stored.relative);
            } else if stored.relative.starts_with(&this_date)
                || stored.modified.is_none_or(|modified| modified < stale_before)
            {
                // Another run of this date (superseded once this one publishes), or an old one.
                checkpoints.superseded.push(stored.relative);
            }
        }
        checkpoints
    }

    async fn read<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let relative = format!("{}{name}", self.dir);
        let parsed = match self.output.get_bytes(self.s3, &relative).await {
            Ok(Some(bytes)) => zstd::decode_all(bytes.as_slice())
                .map_err(anyhow::Error::from)
                .and_then(|json| serde_json::from_slice::<T>(&json).map_err(anyhow::Error::from)),
            Ok(None) => Err(anyhow::anyhow!("gone")),
            Err(error) => Err(error),
        };
        parsed
            .inspect_err(|error| {
                tracing::warn!(checkpoint = %relative, error = %format!("{error:#}"), "checkpoint unreadable: gathered again");
            })
            .ok()
    }

    async fn write<T: Serialize>(&self, name: &str, value: &T) {
        let relative = format!("{}{name}", self.dir);
        let bytes = serde_json::to_vec(value)
            .map_err(anyhow::Error::from)
            .and_then(|json| zstd::encode_all(json.as_slice(), LEVEL).map_err(anyhow::Error::from));
        let written = match bytes {
            Ok(bytes) => {
                self.output
                    .put_bytes(self.s3, &relative, bytes, "application/zstd")
                    .await
            }
            Err(error) => Err(error),
        };
        match written {
            Ok(()) => {
                if let Ok(mut names) = self.written.lock() {
                    names.insert(name.to_string());
                }
            }
            // Only a resume would have used it.
            Err(error) => {
                tracing::warn!(checkpoint = %relative, error = %format!("{error:#}"), "could not write a checkpoint");
            }
        }
    }

    /// The organization as the interrupted run refreshed it, when this run resumes one; from then on
    /// its finished shards are read too.
    pub async fn organization(&mut self) -> Option<ResumedOrganization> {
        if !self.found.contains(ORGANIZATION_FILE) {
            return None;
        }
        let file: OrganizationFile = self.read(ORGANIZATION_FILE).await?;
        if file.format != FORMAT || file.run != self.key.material {
            tracing::warn!(checkpoint = %self.dir, "the organization checkpoint is another run's: not resumed");
            return None;
        }
        let gaps = file
            .gaps
            .into_iter()
            .map(StoredGap::into_gap)
            .collect::<Option<Vec<_>>>();
        let (Some(gaps), Some(mut report)) = (gaps, report_from(&file.report)) else {
            tracing::warn!(checkpoint = %self.dir, "the organization checkpoint is not one this version reads");
            return None;
        };
        let resumed = format!(
            "as refreshed by the interrupted run this one resumes (run-{})",
            self.key.hash
        );
        report.note = Some(match report.note {
            Some(note) => format!("{note}; {resumed}"),
            None => resumed,
        });
        self.resumable = true;
        Some(ResumedOrganization {
            organization: Organization {
                accounts: file.cache.accounts(),
                gaps,
                report,
            },
            cache: file.cache,
            keep_stored_cache: file.keep_stored_cache,
        })
    }

    /// Records the organization this run refreshed (before the first shard is gathered).
    pub async fn save_organization(
        &self,
        organization: &Organization,
        cache: &Cache,
        keep_stored_cache: bool,
    ) {
        let file = OrganizationFile {
            format: FORMAT,
            run: self.key.material.clone(),
            cache: cache.clone(),
            gaps: organization.gaps.iter().map(StoredGap::from_gap).collect(),
            report: serde_json::to_value(&organization.report).unwrap_or_default(),
            keep_stored_cache,
        };
        self.write(ORGANIZATION_FILE, &file).await;
    }

    /// Whether the shard can be resumed: its run's organization was, and its checkpoint is there.
    pub fn has(&self, shard: &ShardKey) -> bool {
        self.resumable && self.found.contains(&shard.file)
    }

    /// The shard's rows as an interrupted run finished them, when its checkpoint is this shard's.
    pub async fn load_shard(&self, shard: &ShardKey) -> Option<Finished> {
        let file: ShardIn = self.read(&shard.file).await?;
        if file.format != FORMAT || file.run != self.key.material || file.shard != shard.description {
            tracing::warn!(checkpoint = %shard.file, "the checkpoint is another shard's: gathered again");
            return None;
        }
        Some(Finished {
            rows: file.rows,
            not_evaluated: file.not_evaluated,
        })
    }

    /// Records a finished shard (one without gaps).
    pub async fn save_shard(&self, shard: &ShardKey, rows: &[Row], not_evaluated: usize) {
        let file = ShardOut {
            format: FORMAT,
            run: &self.key.material,
            shard: &shard.description,
            not_evaluated,
            rows,
        };
        self.write(&shard.file, &file).await;
    }

    /// Removes this run's checkpoints, the date's other runs' and other dates' old ones: the run
    /// published, or kept the day's better snapshot. A failure is logged (the lifecycle rule is the
    /// backstop; meanwhile a rerun of the same date and key would resume them).
    pub async fn remove(&self) {
        let mut paths: BTreeSet<String> = self.superseded.iter().cloned().collect();
        if let Ok(names) = self.written.lock() {
            paths.extend(names.iter().map(|name| format!("{}{name}", self.dir)));
        }
        if paths.is_empty() {
            return;
        }
        let paths: Vec<String> = paths.into_iter().collect();
        if let Err(error) = self.output.delete(self.s3, &paths).await {
            tracing::warn!(error = %format!("{error:#}"), "could not remove the run's checkpoints");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_keys_depend_on_what_the_rows_depend_on_only() {
        let catalog = Catalog::builtin().expect("catalog");
        let date = jiff::civil::date(2026, 11, 23);
        let rules = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let key = RunKey::new(date, "org", &rules(&["a", "b"]), "{}", &catalog);
        assert_eq!(key.hash.len(), 16);
        assert_eq!(
            key,
            RunKey::new(date, "org", &rules(&["b", "a", "a"]), "{}", &catalog),
            "the rules as a set"
        );
        let other_day = jiff::civil::date(2026, 11, 24);
        let overlaid = catalog
            .with_overlay(r#"{"schema_version":1,"updated_at":"2026-11-20","runtimes":[]}"#)
            .expect("overlay");
        for other in [
            RunKey::new(other_day, "org", &rules(&["a", "b"]), "{}", &catalog),
            RunKey::new(date, "other", &rules(&["a", "b"]), "{}", &catalog),
            RunKey::new(date, "org", &rules(&["a"]), "{}", &catalog),
            RunKey::new(
                date,
                "org",
                &rules(&["a", "b"]),
                r#"{"failPhase":"create-blocked"}"#,
                &catalog,
            ),
            RunKey::new(date, "org", &rules(&["a", "b"]), "{}", &overlaid),
        ] {
            assert_ne!(other.hash, key.hash, "{}", other.material);
        }
    }

    #[test]
    fn shard_keys_follow_the_accounts_and_their_listing() {
        let listed = |account: &str, compliance: &str| Listed {
            triple: crate::gather::Triple {
                rule_name: "r".into(),
                account_id: account.into(),
                region: "us-east-1".into(),
            },
            compliance: compliance.into(),
            noncompliant: None,
        };
        let shard = Shard {
            region: "us-east-1".into(),
            accounts: vec!["111".into(), "222".into()],
        };
        let mut by_pair = BTreeMap::from([
            (
                ("111".into(), "us-east-1".into()),
                vec![listed("111", "COMPLIANT")],
            ),
            (
                ("222".into(), "us-east-1".into()),
                vec![listed("222", "COMPLIANT")],
            ),
        ]);
        let key = ShardKey::new(&shard, &by_pair);
        assert!(key.file.starts_with("shard-") && key.file.ends_with(".json.zst"));
        assert_eq!(key, ShardKey::new(&shard, &by_pair));
        let fewer = Shard {
            accounts: vec!["111".into()],
            ..shard.clone()
        };
        assert_ne!(ShardKey::new(&fewer, &by_pair).file, key.file);
        by_pair.insert(
            ("222".into(), "us-east-1".into()),
            vec![listed("222", "NON_COMPLIANT")],
        );
        assert_ne!(
            ShardKey::new(&shard, &by_pair).file,
            key.file,
            "a triple's compliance changed"
        );
    }

    #[test]
    fn gaps_and_reports_read_back_as_written() {
        let gap = Gap {
            kind: "account",
            rule_name: None,
            account_id: Some("111".into()),
            region: None,
            reason: "account tags: denied".into(),
        };
        let json = serde_json::to_string(&StoredGap::from_gap(&gap)).expect("json");
        let stored: StoredGap = serde_json::from_str(&json).expect("read");
        assert_eq!(stored.into_gap(), Some(gap));
        let unknown: StoredGap = serde_json::from_str(r#"{"kind":"invented","reason":"x"}"#).expect("read");
        assert_eq!(unknown.into_gap(), None, "a kind this version does not know");
        let report = CacheReport {
            loaded: "read".into(),
            note: None,
            units: 3,
            accounts: 20,
            units_refreshed: 1,
            accounts_refreshed: 20,
            accounts_without_tags: 0,
            oldest_refresh: Some(Timestamp::from_second(1_763_800_000).expect("time")),
        };
        let value = serde_json::to_value(&report).expect("json");
        assert_eq!(report_from(&value), Some(report));
    }
}
