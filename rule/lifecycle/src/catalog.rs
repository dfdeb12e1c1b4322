//! The runtime lifecycle catalog: facts as data (`data/runtimes.json`), read by small code.
//!
//! The built-in copy is embedded at compile time; a replacement of the same schema can be loaded at
//! run time (an SSM parameter, or `rule --catalog FILE`) so that new AWS dates need no redeploy.

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::dates::parse_date;

/// The catalog shipped inside the binary.
pub const BUILTIN_JSON: &str = include_str!("../data/runtimes.json");

/// The only `schema_version` this code understands.
pub const SCHEMA_VERSION: u64 = 1;

/// A lifecycle phase, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Supported,
    Deprecated,
    CreateBlocked,
    UpdateBlocked,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Supported,
        Phase::Deprecated,
        Phase::CreateBlocked,
        Phase::UpdateBlocked,
    ];

    /// The name used in rule parameters, CLI output and the Parquet `phase` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Supported => "supported",
            Phase::Deprecated => "deprecated",
            Phase::CreateBlocked => "create-blocked",
            Phase::UpdateBlocked => "update-blocked",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Packaging {
    Zip,
    ImageOnly,
}

/// One runtime identifier and its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    pub runtime: String,
    pub family: String,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub language_version: Option<String>,
    pub os: String,
    pub packaging: Packaging,
    #[serde(default)]
    pub released: Option<Date>,
    pub deprecation_date: Option<Date>,
    pub block_create_date: Option<Date>,
    pub block_update_date: Option<Date>,
    pub successor: Option<String>,
    pub latest: Option<String>,
    #[serde(default)]
    pub sources: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub notes: Option<String>,
}

impl Runtime {
    /// OS-only runtimes (`provided*`): AWS patches the OS, the customer patches the runtime they ship.
    pub fn is_os_only(&self) -> bool {
        self.family == "provided"
    }

    /// The date each phase starts on, as published (possibly out of order, possibly unscheduled).
    pub fn phase_dates(&self) -> [(Phase, Option<Date>); 3] {
        [
            (Phase::Deprecated, self.deprecation_date),
            (Phase::CreateBlocked, self.block_create_date),
            (Phase::UpdateBlocked, self.block_update_date),
        ]
    }

    /// The most severe phase reached on `date`. A missing date is never reached; dates out of order
    /// are fine (AWS has blocked creates before deprecating, e.g. nodejs4.3).
    pub fn phase_on(&self, date: Date) -> Phase {
        self.phase_dates()
            .into_iter()
            .filter(|(_, start)| start.is_some_and(|start| date >= start))
            .map(|(phase, _)| phase)
            .max()
            .unwrap_or(Phase::Supported)
    }

    /// The first day on which the phase is at least `phase`, if any is scheduled. Because dates can be
    /// out of order this is the earliest date among `phase` and every more severe phase.
    pub fn first_day_at_least(&self, phase: Phase) -> Option<Date> {
        self.phase_dates()
            .into_iter()
            .filter(|(p, _)| *p >= phase)
            .filter_map(|(_, start)| start)
            .min()
    }

    /// Where to upgrade to: the minimal-change successor, else the family's latest.
    pub fn upgrade_target(&self) -> Option<&str> {
        self.successor.as_deref().or(self.latest.as_deref())
    }
}

/// Why a catalog document was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog is not valid JSON of the catalog schema: {0}")]
    Json(#[from] serde_json::Error),
    #[error("catalog schema_version {found} is not supported (this build reads {SCHEMA_VERSION})")]
    SchemaVersion { found: u64 },
    #[error("catalog lists runtime {0:?} twice")]
    Duplicate(String),
    #[error("catalog runtime {runtime:?}: {problem}")]
    Invalid { runtime: String, problem: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogDocument {
    #[serde(rename = "$schema", default)]
    _schema: Option<String>,
    schema_version: u64,
    updated_at: String,
    /// Read by people and the reference tests; the rule does not use them.
    #[serde(default, rename = "description")]
    _description: Option<String>,
    #[serde(default, rename = "sources")]
    _sources: serde_json::Map<String, serde_json::Value>,
    runtimes: Vec<Runtime>,
    #[serde(default)]
    known_differences: Vec<KnownDifference>,
}

impl CatalogDocument {
    /// The checks every catalog document passes, whole catalog or overlay: its schema version, its
    /// `updated_at`, each runtime, no runtime twice. Returns the stamp, the runtimes by identifier and
    /// the rest of the document.
    fn parse(text: &str) -> Result<(Date, BTreeMap<String, Runtime>, CatalogDocument), CatalogError> {
        let mut doc: CatalogDocument = serde_json::from_str(text)?;
        if doc.schema_version != SCHEMA_VERSION {
            return Err(CatalogError::SchemaVersion {
                found: doc.schema_version,
            });
        }
        let updated_at = parse_date(&doc.updated_at).map_err(|problem| CatalogError::Invalid {
            runtime: "updated_at".into(),
            problem,
        })?;
        let mut runtimes = BTreeMap::new();
        for runtime in std::mem::take(&mut doc.runtimes) {
            validate_runtime(&runtime)?;
            let id = runtime.runtime.clone();
            if runtimes.insert(id.clone(), runtime).is_some() {
                return Err(CatalogError::Duplicate(id));
            }
        }
        Ok((updated_at, runtimes, doc))
    }
}

/// A place where a reference source disagrees with the catalog, with the reason for the value chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownDifference {
    pub runtime: String,
    pub field: String,
    pub source: String,
    pub source_value: serde_json::Value,
    pub chosen: serde_json::Value,
    pub why: String,
}

/// A runtime identifier split into family prefix, numeric version and suffix, e.g.
/// `nodejs` `22` `.x`, `java` `8` `.al2023`, `python` `3.13` ``.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VersionedId<'a> {
    prefix: &'a str,
    version: Vec<u32>,
    suffix: &'a str,
}

impl<'a> VersionedId<'a> {
    fn parse(id: &'a str) -> Option<Self> {
        let start = id.find(|c: char| c.is_ascii_digit())?;
        let prefix = &id[..start];
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_lowercase()) {
            return None;
        }
        let rest = &id[start..];
        // The version is digits separated by single dots; it stops before a dot not followed by a digit.
        let mut end = 0;
        let bytes = rest.as_bytes();
        while end < bytes.len() {
            let digit = bytes[end].is_ascii_digit();
            let dot_then_digit = bytes[end] == b'.' && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
            if !(digit || dot_then_digit) {
                break;
            }
            end += 1;
        }
        let version = rest[..end]
            .split('.')
            .map(|part| part.parse::<u32>().ok())
            .collect::<Option<Vec<_>>>()?;
        Some(VersionedId {
            prefix,
            version,
            suffix: &rest[end..],
        })
    }
}

/// The lifecycle catalog: runtimes by identifier, plus its "as of" stamp.
#[derive(Debug, Clone)]
pub struct Catalog {
    updated_at: Date,
    runtimes: BTreeMap<String, Runtime>,
    known_differences: Vec<KnownDifference>,
}

impl Catalog {
    /// The catalog compiled into this binary. Its validity is checked by the test suite, so failing
    /// here is a build defect; it is still reported as an error rather than a panic.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Catalog::from_json(BUILTIN_JSON)
    }

    /// Parses and validates a catalog document (same schema as `data/runtimes.json`).
    pub fn from_json(text: &str) -> Result<Catalog, CatalogError> {
        let (updated_at, runtimes, doc) = CatalogDocument::parse(text)?;
        let catalog = Catalog {
            updated_at,
            runtimes,
            known_differences: doc.known_differences,
        };
        catalog.check_upgrade_targets()?;
        Ok(catalog)
    }

    /// This catalog with the runtimes of `text` (a document of the same schema, usually a handful of
    /// runtimes) laid over it: listed identifiers replace or add entries, the rest stay. Its
    /// `updated_at` becomes the overlay's. SSM parameters hold at most 8 KB, which a full catalog
    /// (about 32 KB) does not fit, so the run-time catalog parameter is an overlay.
    pub fn with_overlay(&self, text: &str) -> Result<Catalog, CatalogError> {
        let (updated_at, runtimes, _) = CatalogDocument::parse(text)?;
        let mut merged = self.clone();
        merged.updated_at = updated_at;
        merged.runtimes.extend(runtimes);
        merged.check_upgrade_targets()?;
        Ok(merged)
    }

    fn check_upgrade_targets(&self) -> Result<(), CatalogError> {
        // Upgrade targets must exist, or annotations would send people to a runtime we know nothing of.
        for runtime in self.runtimes.values() {
            for target in [&runtime.successor, &runtime.latest].into_iter().flatten() {
                if !self.runtimes.contains_key(target) {
                    return Err(CatalogError::Invalid {
                        runtime: runtime.runtime.clone(),
                        problem: format!("upgrade target {target:?} is not in the catalog"),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn updated_at(&self) -> Date {
        self.updated_at
    }

    pub fn get(&self, runtime: &str) -> Option<&Runtime> {
        self.runtimes.get(runtime)
    }

    /// Every runtime, sorted by identifier.
    pub fn runtimes(&self) -> impl ExactSizeIterator<Item = &Runtime> {
        self.runtimes.values()
    }

    pub fn known_differences(&self) -> &[KnownDifference] {
        &self.known_differences
    }

    /// For an identifier absent from the catalog: the known runtime of the same family and naming
    /// pattern that it is newer than (e.g. `python3.16` → the newest `python3.x`), meaning AWS has
    /// released something after this data was written. `None` for anything else (typos, retired
    /// naming such as `dotnetcore5.0`, garbage).
    pub fn newer_than_known(&self, runtime: &str) -> Option<&Runtime> {
        let candidate = VersionedId::parse(runtime)?;
        let same_pattern = self.runtimes.values().filter_map(|known| {
            let id = VersionedId::parse(&known.runtime)?;
            (id.prefix == candidate.prefix && id.suffix == candidate.suffix).then_some(known)
        });
        let pattern_seen = same_pattern.clone().next()?;
        // Compare with every version of the family, whatever its naming, so that a retired prefix
        // (dotnetcore) is not mistaken for a new release of the current one (dotnet).
        let family_newest = self
            .runtimes
            .values()
            .filter(|known| known.family == pattern_seen.family)
            .filter_map(|known| VersionedId::parse(&known.runtime).map(|id| (id.version, known)))
            .max_by(|(a, _), (b, _)| a.cmp(b))?;
        (candidate.version > family_newest.0).then_some(family_newest.1)
    }
}

fn validate_runtime(runtime: &Runtime) -> Result<(), CatalogError> {
    let invalid = |problem: String| CatalogError::Invalid {
        runtime: runtime.runtime.clone(),
        problem,
    };
    if !is_runtime_identifier(&runtime.runtime) {
        return Err(invalid(
            "identifier must be 1-64 of [a-z0-9.-], starting with a letter".into(),
        ));
    }
    if runtime.family.is_empty() {
        return Err(invalid("family is empty".into()));
    }
    if runtime.packaging == Packaging::ImageOnly
        && (runtime.block_create_date.is_some() || runtime.block_update_date.is_some())
    {
        return Err(invalid(
            "image-only runtimes have no block dates: AWS does not block image functions".into(),
        ));
    }
    for target in [&runtime.successor, &runtime.latest].into_iter().flatten() {
        if target == &runtime.runtime {
            return Err(invalid(format!("names itself as upgrade target {target:?}")));
        }
    }
    Ok(())
}

/// Whether `text` looks like a Lambda runtime identifier (not whether it exists).
pub fn is_runtime_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && text.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn runtime(dep: Option<Date>, create: Option<Date>, update: Option<Date>) -> Runtime {
        Runtime {
            runtime: "x1".into(),
            family: "x".into(),
            family_name: None,
            language_version: None,
            os: "AL2".into(),
            packaging: Packaging::Zip,
            released: None,
            deprecation_date: dep,
            block_create_date: create,
            block_update_date: update,
            successor: None,
            latest: None,
            sources: BTreeMap::new(),
            notes: None,
        }
    }

    #[test]
    fn builtin_catalog_loads() {
        let catalog = Catalog::builtin().expect("built-in catalog is valid");
        assert_eq!(catalog.runtimes().len(), 54);
        assert_eq!(catalog.updated_at(), date(2026, 11, 22));
    }

    #[test]
    fn phase_boundaries_day_before_of_and_after() {
        let r = runtime(
            Some(date(2024, 10, 14)),
            Some(date(2027, 2, 1)),
            Some(date(2027, 3, 3)),
        );
        assert_eq!(r.phase_on(date(2024, 10, 13)), Phase::Supported);
        assert_eq!(r.phase_on(date(2024, 10, 14)), Phase::Deprecated);
        assert_eq!(r.phase_on(date(2024, 10, 15)), Phase::Deprecated);
        assert_eq!(r.phase_on(date(2027, 1, 31)), Phase::Deprecated);
        assert_eq!(r.phase_on(date(2027, 2, 1)), Phase::CreateBlocked);
        assert_eq!(r.phase_on(date(2027, 2, 2)), Phase::CreateBlocked);
        assert_eq!(r.phase_on(date(2027, 3, 2)), Phase::CreateBlocked);
        assert_eq!(r.phase_on(date(2027, 3, 3)), Phase::UpdateBlocked);
        assert_eq!(r.phase_on(date(2027, 3, 4)), Phase::UpdateBlocked);
    }

    #[test]
    fn out_of_order_dates_give_the_most_severe_phase_reached() {
        // nodejs4.3-edge: create and update blocked a year before deprecation.
        let r = runtime(
            Some(date(2020, 3, 5)),
            Some(date(2019, 3, 31)),
            Some(date(2019, 4, 30)),
        );
        assert_eq!(r.phase_on(date(2019, 3, 30)), Phase::Supported);
        assert_eq!(r.phase_on(date(2019, 3, 31)), Phase::CreateBlocked);
        assert_eq!(r.phase_on(date(2019, 4, 30)), Phase::UpdateBlocked);
        assert_eq!(r.phase_on(date(2020, 3, 5)), Phase::UpdateBlocked);
        assert_eq!(r.first_day_at_least(Phase::Deprecated), Some(date(2019, 3, 31)));
        assert_eq!(
            r.first_day_at_least(Phase::UpdateBlocked),
            Some(date(2019, 4, 30))
        );
    }

    #[test]
    fn missing_dates_are_never_reached() {
        let r = runtime(Some(date(2026, 11, 10)), None, None);
        assert_eq!(r.phase_on(date(2999, 1, 1)), Phase::Deprecated);
        assert_eq!(r.first_day_at_least(Phase::CreateBlocked), None);
        let none = runtime(None, None, None);
        assert_eq!(none.phase_on(date(2999, 1, 1)), Phase::Supported);
        assert_eq!(none.first_day_at_least(Phase::Deprecated), None);
        // Only a block-update date: deprecated-or-worse starts with it.
        let update_only = runtime(None, None, Some(date(2029, 8, 31)));
        assert_eq!(
            update_only.first_day_at_least(Phase::Deprecated),
            Some(date(2029, 8, 31))
        );
        assert_eq!(update_only.phase_on(date(2029, 8, 31)), Phase::UpdateBlocked);
    }

    #[test]
    fn newer_than_catalog_versus_unknown() {
        let catalog = Catalog::builtin().expect("valid");
        for newer in [
            "python3.16",
            "python4.0",
            "nodejs28.x",
            "java27",
            "java26.al2023",
            "dotnet12",
            "ruby4.1",
        ] {
            assert!(
                catalog.newer_than_known(newer).is_some(),
                "{newer} should be newer than the catalog"
            );
        }
        assert_eq!(
            catalog.newer_than_known("nodejs28.x").map(|r| r.runtime.as_str()),
            Some("nodejs26.x")
        );
        for unknown in [
            "python3.1",       // older than anything known, and not listed
            "python3.14",      // known (not newer)
            "pythn3.16",       // typo
            "dotnetcore5.0",   // retired naming, older than dotnet10
            "provided.al2025", // OS-only names carry no version to compare
            "",
            "3.16",
            "PYTHON3.16",
            "python3.16.x.y",
            "java99999999999999999999",
        ] {
            assert!(
                catalog.newer_than_known(unknown).is_none(),
                "{unknown:?} should not count as newer"
            );
        }
    }

    #[test]
    fn overlays_replace_listed_runtimes_only() {
        let builtin = Catalog::builtin().expect("valid");
        let overlay = r#"{"schema_version": 1, "updated_at": "2027-01-15", "runtimes": [
            {"runtime": "python3.13", "family": "python", "os": "AL2023", "packaging": "zip",
             "deprecation_date": "2027-01-01", "block_create_date": null, "block_update_date": null,
             "successor": "python3.14", "latest": "python3.14"},
            {"runtime": "python3.16", "family": "python", "os": "AL2023", "packaging": "zip",
             "deprecation_date": "2031-06-30", "block_create_date": null, "block_update_date": null,
             "successor": null, "latest": null}]}"#;
        assert!(
            overlay.len() < 1024,
            "a typical overlay is tiny next to SSM's 8 KB"
        );
        let merged = builtin.with_overlay(overlay).expect("overlay");
        assert_eq!(merged.updated_at(), date(2027, 1, 15));
        assert_eq!(merged.runtimes().len(), 55);
        assert_eq!(
            merged.get("python3.13").and_then(|r| r.deprecation_date),
            Some(date(2027, 1, 1))
        );
        assert_eq!(merged.get("python3.8"), builtin.get("python3.8"));
        assert!(merged.get("python3.16").is_some());
        let dangling = overlay.replace(r#""successor": "python3.14""#, r#""successor": "python9""#);
        assert!(matches!(
            builtin.with_overlay(&dangling),
            Err(CatalogError::Invalid { .. })
        ));
        assert!(builtin.with_overlay("{}").is_err());
        assert!(
            builtin
                .with_overlay(r#"{"schema_version": 2, "updated_at": "2027-01-01", "runtimes": []}"#)
                .is_err()
        );
    }

    #[test]
    fn refuses_bad_documents() {
        let good: serde_json::Value = serde_json::from_str(BUILTIN_JSON).expect("json");
        let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut doc = good.clone();
            f(&mut doc);
            Catalog::from_json(&doc.to_string())
        };
        assert!(matches!(
            mutate(&|d| d["schema_version"] = 2.into()),
            Err(CatalogError::SchemaVersion { found: 2 })
        ));
        assert!(matches!(
            mutate(&|d| d["runtimes"][0]["deprecation_date"] = "2026-02-30".into()),
            Err(CatalogError::Json(_))
        ));
        assert!(matches!(
            mutate(&|d| {
                let first = d["runtimes"][0].clone();
                d["runtimes"].as_array_mut().expect("array").push(first);
            }),
            Err(CatalogError::Duplicate(_))
        ));
        assert!(matches!(
            mutate(&|d| d["runtimes"][0]["successor"] = "cobol85".into()),
            Err(CatalogError::Invalid { .. })
        ));
        assert!(matches!(
            mutate(&|d| d["updated_at"] = "yesterday".into()),
            Err(CatalogError::Invalid { .. })
        ));
        assert!(matches!(
            mutate(&|d| d["surprise"] = 1.into()),
            Err(CatalogError::Json(_))
        ));
        assert!(Catalog::from_json("[]").is_err());
        assert!(Catalog::from_json("").is_err());
    }
}
