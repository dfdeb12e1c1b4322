//! Where the dataset lives, spelled once: `<prefix>/evaluations/dt=YYYY-MM-DD/part-00000.parquet` with
//! `_summary.json` beside it (Athena skips files that start with an underscore). The writer
//! ([`crate::output`]), the DDL ([`crate::ddl`]) and the contract `cdk/contracts/dataset.json` read it.

use anyhow::{Context as _, bail};
use jiff::civil::Date;

/// The folder under the prefix that holds the partitions (the Athena table's LOCATION).
pub const DATASET_DIR: &str = "evaluations";
/// The partition column, a `YYYY-MM-DD` string.
pub const PARTITION_KEY: &str = "dt";
/// The partition's format as Athena's partition projection writes it (Java date format).
pub const PARTITION_FORMAT: &str = "yyyy-MM-dd";
/// One object per snapshot, under a fixed name, so that a rerun replaces it in one step.
pub const SNAPSHOT_FILE: &str = "part-00000.parquet";
pub const SUMMARY_FILE: &str = "_summary.json";
/// The account cache (names, OU paths, tags), under the dataset's folder so that the snapshots'
/// permissions cover it; Athena reads only the `dt=` partitions (and skips `_` names anyway).
pub const CACHE_FILE: &str = "_cache/organization.json";
/// Checkpoints of unfinished runs ([`crate::checkpoint`]): `_staging/dt=YYYY-MM-DD/run-<key>/…`, under
/// the dataset's folder for the same permissions as the cache, skipped by Athena (leading underscore,
/// and not a `dt=` partition). Removed when the run publishes or keeps the day's snapshot; the bucket's
/// lifecycle rule expires what a run that never came back left behind.
pub const STAGING_DIR: &str = "_staging";

/// A file's path in the day's partition, relative to the prefix.
pub fn partition_path(date: Date, file: &str) -> String {
    format!("{DATASET_DIR}/{PARTITION_KEY}={date}/{file}")
}

/// The account cache's path, relative to the prefix.
pub fn cache_path() -> String {
    format!("{DATASET_DIR}/{CACHE_FILE}")
}

/// Where every run's checkpoints are, relative to the prefix (ends with `/`).
pub fn staging_root() -> String {
    format!("{DATASET_DIR}/{STAGING_DIR}/")
}

/// Where the checkpoints of runs of `date` are, relative to the prefix (ends with `/`).
pub fn staging_path(date: Date) -> String {
    format!("{}{PARTITION_KEY}={date}/", staging_root())
}

/// `s3://bucket[/prefix]`, validated once for every reader: a bucket name as S3 allows it (3–63
/// lowercase letters, digits, hyphens and dots) and a prefix without quotes (it goes into SQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Without leading or trailing slashes; may be empty.
    pub prefix: String,
}

impl S3Location {
    pub fn parse(text: &str) -> anyhow::Result<S3Location> {
        let rest = text
            .strip_prefix("s3://")
            .with_context(|| format!("{text:?}: expected an s3://bucket/prefix URI"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !valid_bucket {
            bail!("{bucket:?} is not an S3 bucket name (3-63 lowercase letters, digits, hyphens, dots)");
        }
        if prefix.contains('\'') {
            bail!("the prefix must not contain quotes");
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    /// The key of `relative` (a path under the prefix).
    pub fn key(&self, relative: &str) -> String {
        if self.prefix.is_empty() {
            relative.to_string()
        } else {
            format!("{}/{relative}", self.prefix)
        }
    }

    /// `s3://bucket/prefix/evaluations/`: the table's LOCATION.
    pub fn dataset_root(&self) -> String {
        format!("s3://{}/{}/", self.bucket, self.key(DATASET_DIR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_strict_and_keys_join_cleanly() {
        let location = S3Location::parse("s3://reports/lambda/runtime/").expect("valid");
        assert_eq!(location.key("x"), "lambda/runtime/x");
        assert_eq!(
            location.dataset_root(),
            "s3://reports/lambda/runtime/evaluations/"
        );
        let bare = S3Location::parse("s3://reports").expect("valid");
        assert_eq!(bare.dataset_root(), "s3://reports/evaluations/");
        for bad in [
            "s3://Bad_Bucket/x",
            "s3://",
            "s3:///x",
            "s3://ab/x",
            "reports/x",
            "s3://reports/it's",
        ] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            partition_path(jiff::civil::date(2026, 11, 23), SNAPSHOT_FILE),
            "evaluations/dt=2026-11-23/part-00000.parquet"
        );
        assert_eq!(
            staging_path(jiff::civil::date(2026, 11, 23)),
            "evaluations/_staging/dt=2026-11-23/"
        );
    }
}
