//! The catalog against its JSON Schema and against three independent copies of AWS's runtime table
//! (cfn-lint, tflint, endoflife.date) plus the merged table. Every disagreement must be listed in the
//! catalog's `known_differences` with the value chosen and why, so new drift fails here.
//!
//! The reference copies live in rule/lifecycle/data/reference/ (so a clone tests on its own); when the shared
//! reference folder sits beside the repository (../shared/reference/lambda-runtimes, as in CI), the
//! copies must be identical to it, so an update there is noticed too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use lifecycle::Catalog;
use lifecycle::catalog::{BUILTIN_JSON, Packaging, Phase};
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

fn reference(name: &str) -> String {
    std::fs::read_to_string(data_dir().join("reference").join(name)).expect("reference copy")
}

fn json_reference(name: &str) -> Value {
    serde_json::from_str(&reference(name)).expect("reference JSON")
}

fn catalog() -> Catalog {
    Catalog::builtin().expect("built-in catalog")
}

/// A reference date (`2026-06-30`, `2026-06-30T00:00:00Z`, null, false) as `Some("YYYY-MM-DD")`/`None`;
/// anything else (endoflife.date's `true`) is returned verbatim as JSON for the difference list.
fn reference_date(value: Option<&Value>) -> Result<Option<String>, Value> {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::String(s)) if s.len() >= 10 => Ok(Some(s[..10].to_string())),
        Some(other) => Err(other.clone()),
    }
}

/// One disagreement between a source and the catalog.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Difference {
    runtime: String,
    field: String,
    source: String,
    source_value: String,
    chosen: String,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// (catalog field, the source's key for it; None where the source has no such date).
type FieldMap = [(&'static str, Option<&'static str>); 3];

fn found_differences() -> BTreeSet<Difference> {
    let catalog = catalog();
    let mut found = BTreeSet::new();
    let mut differ = |runtime: &str, field: &str, source: &str, source_value: Value, chosen: Value| {
        if source_value != chosen {
            found.insert(Difference {
                runtime: runtime.into(),
                field: field.into(),
                source: source.into(),
                source_value: text(&source_value),
                chosen: text(&chosen),
            });
        }
    };
    let date_json = |d: Option<jiff::civil::Date>| d.map_or(Value::Null, |d| Value::String(d.to_string()));
    let as_json = |r: Result<Option<String>, Value>| match r {
        Ok(Some(s)) => Value::String(s),
        Ok(None) => Value::Null,
        Err(v) => v,
    };

    let sources: [(&str, Value, FieldMap); 3] = [
        (
            "cfn-lint",
            json_reference("cfn-lint_LmbdRuntimeLifecycle.json"),
            [
                ("deprecation_date", Some("deprecated")),
                ("block_create_date", Some("create-block")),
                ("block_update_date", Some("update-block")),
            ],
        ),
        (
            "tflint",
            json_reference("tflint_deprecated_runtimes.json")["runtimes"].clone(),
            [
                ("deprecation_date", Some("end_of_support_date")),
                ("block_create_date", Some("block_create_date")),
                ("block_update_date", Some("block_update_date")),
            ],
        ),
        (
            "endoflife-date",
            json_reference("endoflife-release-data_aws-lambda.json")["releases"].clone(),
            [
                ("deprecation_date", Some("eoas")),
                ("block_create_date", None), // endoflife.date has no create-block date
                ("block_update_date", Some("eol")),
            ],
        ),
    ];
    for (source, table, fields) in &sources {
        let table = table.as_object().expect("reference table is an object");
        for id in table.keys() {
            if catalog.get(id).is_none() {
                differ(id, "*", source, Value::String("listed".into()), Value::Null);
            }
        }
        for runtime in catalog.runtimes() {
            let Some(entry) = table.get(&runtime.runtime) else {
                differ(
                    &runtime.runtime,
                    "*",
                    source,
                    Value::Null,
                    Value::String("listed".into()),
                );
                continue;
            };
            for (field, key) in fields {
                let Some(key) = key else { continue };
                let chosen = match *field {
                    "deprecation_date" => runtime.deprecation_date,
                    "block_create_date" => runtime.block_create_date,
                    _ => runtime.block_update_date,
                };
                differ(
                    &runtime.runtime,
                    field,
                    source,
                    as_json(reference_date(entry.get(key))),
                    date_json(chosen),
                );
            }
            // cfn-lint's "successor" is the newest of the family: our `latest`.
            if *source == "cfn-lint" {
                let theirs = entry.get("successor").cloned().unwrap_or(Value::Null);
                let ours = runtime.latest.clone().map_or(Value::Null, Value::String);
                differ(&runtime.runtime, "latest", source, theirs, ours);
            }
        }
    }
    found
}

#[test]
fn catalog_validates_against_its_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(data_dir().join("runtimes.schema.json")).expect("schema"),
    )
    .expect("schema JSON");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let document: Value = serde_json::from_str(BUILTIN_JSON).expect("catalog JSON");
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "schema violations:\n{}", errors.join("\n"));

    // The schema has teeth: it refuses what the loader refuses.
    for (pointer, bad) in [
        ("/updated_at", Value::String("2026-13-01".into())),
        ("/runtimes/0/packaging", Value::String("tarball".into())),
        ("/runtimes/0/runtime", Value::String("Python3.8".into())),
        ("/schema_version", Value::from(2)),
    ] {
        let mut doc = document.clone();
        *doc.pointer_mut(pointer).expect("pointer") = bad;
        assert!(!validator.is_valid(&doc), "schema accepted a bad {pointer}");
        assert!(
            Catalog::from_json(&doc.to_string()).is_err(),
            "loader accepted a bad {pointer}"
        );
    }
}

#[test]
fn every_disagreement_with_a_reference_is_a_known_difference() {
    let found = found_differences();
    let catalog = catalog();
    let listed: BTreeSet<Difference> = catalog
        .known_differences()
        .iter()
        .map(|k| Difference {
            runtime: k.runtime.clone(),
            field: k.field.clone(),
            source: k.source.clone(),
            source_value: text(&k.source_value),
            chosen: text(&k.chosen),
        })
        .map(|mut d| {
            // "*" rows record presence: normalise the same way as found_differences does.
            if d.field == "*" {
                d.chosen = if d.source_value == "null" {
                    "listed".into()
                } else {
                    "null".into()
                };
            }
            d
        })
        .collect();
    let unlisted: Vec<_> = found.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&found).collect();
    assert!(
        unlisted.is_empty(),
        "disagreements not in known_differences:\n{unlisted:#?}"
    );
    assert!(
        stale.is_empty(),
        "known_differences that no longer occur:\n{stale:#?}"
    );
    // The one the reference README calls out is among them.
    assert!(
        found
            .iter()
            .any(|d| d.runtime == "nodejs4.3-edge" && d.source == "endoflife-date")
    );
    for known in catalog.known_differences() {
        assert!(
            catalog.get(&known.runtime).is_some(),
            "{} is not in the catalog",
            known.runtime
        );
        assert!(known.why.len() >= 20, "{}: say why", known.runtime);
    }
}

#[test]
fn catalog_matches_the_merged_table() {
    let catalog = catalog();
    let merged = reference("runtimes-merged.csv");
    let mut reader = csv::Reader::from_reader(merged.as_bytes());
    let mut seen = BTreeSet::new();
    let source_names = BTreeMap::from([("TF", "tflint"), ("RD", "endoflife-date"), ("CL", "cfn-lint")]);
    for row in reader.deserialize::<BTreeMap<String, String>>() {
        let row = row.expect("csv row");
        let id = &row["identifier"];
        seen.insert(id.clone());
        let r = catalog
            .get(id)
            .unwrap_or_else(|| panic!("{id} from the merged table is not in the catalog"));
        let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
        let date = |d: Option<jiff::civil::Date>| d.map(|d| d.to_string());
        assert_eq!(
            r.family_name.as_deref(),
            Some(row["family"].as_str()),
            "{id} family"
        );
        assert_eq!(
            r.language_version.as_deref(),
            Some(row["language_version"].as_str()),
            "{id} language_version"
        );
        assert_eq!(r.os, row["os"].trim_end_matches(" (assumed)"), "{id} os");
        let packaging = if r.packaging == Packaging::ImageOnly {
            "image-only"
        } else {
            "zip"
        };
        assert_eq!(packaging, row["packaging"], "{id} packaging");
        assert_eq!(date(r.released), opt(&row["released"]), "{id} released");
        assert_eq!(
            date(r.deprecation_date),
            opt(&row["deprecation_date"]),
            "{id} deprecation"
        );
        assert_eq!(
            date(r.block_create_date),
            opt(&row["block_create_date"]),
            "{id} block create"
        );
        assert_eq!(
            date(r.block_update_date),
            opt(&row["block_update_date"]),
            "{id} block update"
        );
        assert_eq!(
            r.successor,
            opt(&row["successor_minimal_change"]),
            "{id} successor"
        );
        assert_eq!(r.latest, opt(&row["successor_latest"]), "{id} latest");
        for (field, column) in [
            ("deprecation_date", "deprecation_src"),
            ("block_create_date", "block_create_src"),
            ("block_update_date", "block_update_src"),
        ] {
            let expected: Vec<String> = row[column]
                .split('+')
                .filter(|s| !s.is_empty())
                .map(|s| source_names[s].to_string())
                .collect();
            assert_eq!(
                r.sources.get(field).cloned().unwrap_or_default(),
                expected,
                "{id} {field} sources"
            );
        }
        // The merged table's phase on 2026-11-22 (DEPRECATION_WITHIN_180D and SUPPORTED_NO_DATE are supported).
        let expected_phase = match row["phase_2026_11_22"].as_str() {
            "UPDATE_BLOCKED" => Phase::UpdateBlocked,
            "CREATE_BLOCKED" => Phase::CreateBlocked,
            "DEPRECATED" => Phase::Deprecated,
            "SUPPORTED" | "DEPRECATION_WITHIN_180D" | "SUPPORTED_NO_DATE" => Phase::Supported,
            other => panic!("{id}: unexpected phase {other}"),
        };
        assert_eq!(
            r.phase_on(jiff::civil::date(2026, 11, 22)),
            expected_phase,
            "{id} phase"
        );
    }
    let catalogued: BTreeSet<String> = catalog.runtimes().map(|r| r.runtime.clone()).collect();
    assert_eq!(
        catalogued, seen,
        "the catalog and the merged table list the same identifiers"
    );
}

#[test]
fn vendored_copies_match_the_shared_reference_when_present() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/lambda-runtimes");
    if !shared.is_dir() {
        eprintln!(
            "{} not present; the vendored copies stand alone",
            shared.display()
        );
        return;
    }
    for entry in std::fs::read_dir(data_dir().join("reference")).expect("vendored dir") {
        let name = entry.expect("entry").file_name();
        let theirs = std::fs::read(shared.join(&name)).unwrap_or_default();
        let ours = std::fs::read(data_dir().join("reference").join(&name)).expect("vendored file");
        assert!(
            ours == theirs,
            "{name:?} differs from {}: update the vendored copy and the catalog",
            shared.display()
        );
    }
}
