//! One row of the dataset: an evaluation result, the function's details, the account's, and the
//! lifecycle columns computed from the rule's catalog as of the snapshot date (one source of truth).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use lifecycle::verdict::{
    ComplianceType, FunctionSnapshot, Observed, PackageType, evaluate, lifecycle_status,
};
use lifecycle::{Catalog, Phase, Policy};

/// What Config's aggregator says about one (rule, resource) in one account and region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationRecord {
    pub account_id: String,
    pub region: String,
    pub rule_name: String,
    pub resource_type: String,
    pub resource_id: String,
    pub compliance_type: String,
    pub annotation: Option<String>,
    pub result_recorded_time: Option<Timestamp>,
    pub config_rule_invoked_time: Option<Timestamp>,
}

/// The function's recorded configuration (SelectAggregateResourceConfig).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionDetails {
    pub function_arn: Option<String>,
    pub runtime: Option<String>,
    pub package_type: Option<String>,
    pub architectures: Vec<String>,
    pub code_last_modified: Option<Timestamp>,
    pub tags: BTreeMap<String, String>,
    /// The layer versions the function uses (`configuration.layers[].arn`), for the layer blockers
    /// ([`crate::enrich`]).
    pub layers: Vec<String>,
}

/// The account as Organizations knows it. Shared (`Arc`): every row of the account holds the same
/// values, so a row costs no allocation for them (a million rows over a few thousand accounts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountDetails {
    pub name: Option<Arc<str>>,
    /// e.g. `Root/Workloads/Payments`.
    pub ou_path: Option<Arc<str>>,
    pub tags: Arc<BTreeMap<String, String>>,
}

/// The columns of schema.rs, in order. Serde: a run's checkpoints ([`crate::checkpoint`]). Values that
/// many rows repeat (the account's, the catalog's, the run's) are shared (`Arc`), not copied per row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub account_id: String,
    pub account_name: Option<Arc<str>>,
    pub ou_path: Option<Arc<str>>,
    pub account_tags: Arc<BTreeMap<String, String>>,
    pub region: String,
    pub rule_name: String,
    pub resource_type: String,
    pub resource_id: String,
    pub function_arn: Option<String>,
    pub compliance_type: String,
    pub annotation: Option<String>,
    pub result_recorded_time: Option<Timestamp>,
    pub config_rule_invoked_time: Option<Timestamp>,
    pub runtime: Option<String>,
    pub runtime_family: Option<Arc<str>>,
    pub package_type: Option<String>,
    pub architectures: Vec<String>,
    pub code_last_modified: Option<Timestamp>,
    pub function_tags: BTreeMap<String, String>,
    pub phase: Option<Phase>,
    pub deprecation_date: Option<Date>,
    pub block_create_date: Option<Date>,
    pub block_update_date: Option<Date>,
    /// Days from the snapshot date to the day the policy fails the runtime (negative: failing already).
    pub days_to_fail: Option<i32>,
    pub successor: Option<Arc<str>>,
    pub latest_runtime: Option<Arc<str>>,
    /// The last day of an exemption honoured on the snapshot date (the rule's exemption tag).
    pub exempt_until: Option<Date>,
    /// A published version's number, on `AWS::Lambda::Version` rows.
    pub qualifier: Option<String>,
    /// The aliases that point at this version (`AWS::Lambda::Version` rows).
    pub aliases: Vec<String>,
    /// Layer versions the function uses whose CompatibleRuntimes exclude the successor runtime; None
    /// when not read (the enrichment off, or a layer version that could not be looked up).
    pub blocking_layers: Option<Vec<String>>,
    /// Invocations in the 30 days before the snapshot (CloudWatch AWS/Lambda Invocations), where read.
    pub invocations_30d: Option<i64>,
    /// The last day with an invocation in those 30 days.
    pub last_invoked_date: Option<Date>,
    pub run_id: Arc<str>,
    pub collected_at: Timestamp,
}

/// A function's row as recomputed for [`RunContext::compliant_row`].
#[derive(Debug)]
pub enum Recomputed {
    /// COMPLIANT, NOT_APPLICABLE or INSUFFICIENT_DATA.
    Row(Box<Row>),
    /// The rule's verdict today fails it, yet Config listed no NON_COMPLIANT result for it.
    Fails,
}

/// The annotation of a function the rule holds no result for (compliance `INSUFFICIENT_DATA`, Config's
/// word for "no result").
pub const NOT_EVALUATED: &str = "Not evaluated by the rule yet: Config holds no result for this function.";

/// Everything a run shares.
pub struct RunContext<'c> {
    pub catalog: &'c Catalog,
    /// The policy whose failing day `days_to_fail` counts towards (the rule's parameters).
    pub policy: &'c Policy,
    pub snapshot_date: Date,
    pub run_id: Arc<str>,
    pub collected_at: Timestamp,
    /// Each catalog runtime's columns, shared by its rows.
    runtime_columns: HashMap<String, RuntimeColumns>,
}

/// The catalog's columns of one runtime.
struct RuntimeColumns {
    family: Arc<str>,
    successor: Option<Arc<str>>,
    latest: Option<Arc<str>>,
}

impl<'c> RunContext<'c> {
    /// A context collected now.
    pub fn new(
        catalog: &'c Catalog,
        policy: &'c Policy,
        snapshot_date: Date,
        run_id: &str,
    ) -> RunContext<'c> {
        let runtime_columns = catalog
            .runtimes()
            .map(|entry| {
                let columns = RuntimeColumns {
                    family: Arc::from(entry.family.as_str()),
                    successor: entry.successor.as_deref().map(Arc::from),
                    latest: entry.latest.as_deref().map(Arc::from),
                };
                (entry.runtime.clone(), columns)
            })
            .collect();
        RunContext {
            catalog,
            policy,
            snapshot_date,
            run_id: Arc::from(run_id),
            collected_at: Timestamp::now(),
            runtime_columns,
        }
    }

    /// The same context, collected at `at` (a run stamps its rows with its start).
    pub fn collected_at(self, at: Timestamp) -> RunContext<'c> {
        RunContext {
            collected_at: at,
            ..self
        }
    }

    /// The row of a recorded function Config listed no NON_COMPLIANT result for, so that every function
    /// has a row. In a triple with results (`with_results`): COMPLIANT, its annotation recomputed with
    /// the rule's own verdict (catalog, policy, snapshot date; the runtime update mode counts as passing
    /// — a failing mode is a NON_COMPLIANT result, read from Config). NOT_APPLICABLE, with the verdict's
    /// reason, when the rule does not judge the function (the aggregate APIs return no such results).
    /// In a triple without results (INSUFFICIENT_DATA): INSUFFICIENT_DATA ([`NOT_EVALUATED`]), never a
    /// verdict nobody decided. [`Recomputed::Fails`] when the recomputed verdict fails a function of a
    /// triple with results: Config may hold it COMPLIANT (a catalog overlay, or a date passed since the
    /// rule's last run) or hold nothing (not evaluated yet) — the caller asks Config rather than guess.
    pub fn compliant_row(
        &self,
        key: (&str, &str, &str),
        resource_id: &str,
        function: &FunctionDetails,
        account: Option<&AccountDetails>,
        with_results: bool,
    ) -> Recomputed {
        let verdict = self.recompute(resource_id, function);
        let (compliance, annotation) = match verdict.compliance {
            ComplianceType::NotApplicable => (ComplianceType::NotApplicable.as_str(), verdict.annotation),
            _ if !with_results => ("INSUFFICIENT_DATA", NOT_EVALUATED.to_string()),
            ComplianceType::NonCompliant => return Recomputed::Fails,
            ComplianceType::Compliant => (ComplianceType::Compliant.as_str(), verdict.annotation),
        };
        let record = self.record(key, resource_id, compliance, annotation);
        Recomputed::Row(Box::new(self.row(&record, Some(function), account)))
    }

    /// The row of a function the recomputed verdict fails that Config holds no result for.
    pub fn unevaluated_row(
        &self,
        key: (&str, &str, &str),
        resource_id: &str,
        function: &FunctionDetails,
        account: Option<&AccountDetails>,
    ) -> Row {
        let record = self.record(key, resource_id, "INSUFFICIENT_DATA", NOT_EVALUATED.to_string());
        self.row(&record, Some(function), account)
    }

    /// A record this run derived (no result time: Config's result was not read).
    fn record(
        &self,
        (account_id, region, rule_name): (&str, &str, &str),
        resource_id: &str,
        compliance: &str,
        annotation: String,
    ) -> EvaluationRecord {
        EvaluationRecord {
            account_id: account_id.to_string(),
            region: region.to_string(),
            rule_name: rule_name.to_string(),
            resource_type: lifecycle::event::LAMBDA_FUNCTION.to_string(),
            resource_id: resource_id.to_string(),
            compliance_type: compliance.to_string(),
            annotation: Some(annotation),
            result_recorded_time: None,
            config_rule_invoked_time: None,
        }
    }

    /// The record of a function Config lists NON_COMPLIANT without an annotation (a ResourceCompliance
    /// item): the rule's verdict recomputed, when it fails the function too — its annotation is then
    /// the rule's own (same catalog, policy and date; annotations carry dates, not day counts). None
    /// when the recomputed verdict passes it (it failed for what a configuration item does not hold,
    /// such as the runtime update mode): the caller reads Config's result instead.
    pub fn noncompliant_record(
        &self,
        key: (&str, &str, &str),
        resource_id: &str,
        function: &FunctionDetails,
    ) -> Option<EvaluationRecord> {
        let verdict = self.recompute(resource_id, function);
        (verdict.compliance == ComplianceType::NonCompliant).then(|| {
            self.record(
                key,
                resource_id,
                ComplianceType::NonCompliant.as_str(),
                verdict.annotation,
            )
        })
    }

    /// The rule's verdict on a recorded function as of the snapshot date, the runtime update mode
    /// counted as passing (a configuration item does not hold it).
    fn recompute(&self, resource_id: &str, function: &FunctionDetails) -> lifecycle::Verdict {
        let snapshot = FunctionSnapshot {
            name: resource_id.to_string(),
            package_type: match function.package_type.as_deref() {
                Some("Image") => PackageType::Image,
                _ => PackageType::Zip,
            },
            runtime: function.runtime.clone(),
            last_modified: function
                .code_last_modified
                .map(|t| jiff::tz::Offset::UTC.to_datetime(t).date()),
            tags: function.tags.clone(),
            runtime_update_mode: Observed::NotNeeded,
        };
        evaluate(&snapshot, self.policy, self.catalog, self.snapshot_date)
    }

    pub fn row(
        &self,
        record: &EvaluationRecord,
        function: Option<&FunctionDetails>,
        account: Option<&AccountDetails>,
    ) -> Row {
        // Only the columns: a function's layers are not one of them.
        let function = function.map_or_else(FunctionDetails::default, |f| FunctionDetails {
            function_arn: f.function_arn.clone(),
            runtime: f.runtime.clone(),
            package_type: f.package_type.clone(),
            architectures: f.architectures.clone(),
            code_last_modified: f.code_last_modified,
            tags: f.tags.clone(),
            layers: Vec::new(),
        });
        let account = account.cloned().unwrap_or_default();
        let runtime = function.runtime.as_deref();
        let entry = runtime.and_then(|r| self.catalog.get(r));
        let columns = runtime.and_then(|r| self.runtime_columns.get(r));
        let family = columns.map(|c| c.family.clone()).or_else(|| {
            runtime
                .and_then(|r| self.catalog.newer_than_known(r))
                .map(|e| Arc::from(e.family.as_str()))
        });
        let status = entry.map(|e| lifecycle_status(e, self.policy, self.snapshot_date));
        let exempt_until =
            lifecycle::verdict::honoured_exemption(&function.tags, self.policy, self.snapshot_date);
        Row {
            account_id: record.account_id.clone(),
            account_name: account.name,
            ou_path: account.ou_path,
            account_tags: account.tags,
            region: record.region.clone(),
            rule_name: record.rule_name.clone(),
            resource_type: record.resource_type.clone(),
            resource_id: record.resource_id.clone(),
            function_arn: function.function_arn,
            compliance_type: record.compliance_type.clone(),
            annotation: record.annotation.clone(),
            result_recorded_time: record.result_recorded_time,
            config_rule_invoked_time: record.config_rule_invoked_time,
            runtime: function.runtime,
            runtime_family: family,
            package_type: function.package_type,
            architectures: function.architectures,
            code_last_modified: function.code_last_modified,
            function_tags: function.tags,
            phase: status.as_ref().map(|s| s.phase),
            deprecation_date: entry.and_then(|e| e.deprecation_date),
            block_create_date: entry.and_then(|e| e.block_create_date),
            block_update_date: entry.and_then(|e| e.block_update_date),
            days_to_fail: status
                .and_then(|s| s.days_to_fail)
                .map(|d| i32::try_from(d).unwrap_or(if d < 0 { i32::MIN } else { i32::MAX })),
            successor: columns.and_then(|c| c.successor.clone()),
            latest_runtime: columns.and_then(|c| c.latest.clone()),
            exempt_until,
            qualifier: None,
            aliases: Vec::new(),
            blocking_layers: None,
            invocations_30d: None,
            last_invoked_date: None,
            run_id: self.run_id.clone(),
            collected_at: self.collected_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn record(id: &str) -> EvaluationRecord {
        EvaluationRecord {
            account_id: "111122223333".into(),
            region: "eu-west-1".into(),
            rule_name: "OrgConfigRule-lambda-runtime-lifecycle-abc".into(),
            resource_type: "AWS::Lambda::Function".into(),
            resource_id: id.into(),
            compliance_type: "NON_COMPLIANT".into(),
            annotation: Some("python3.8 deprecated 2024-10-14".into()),
            result_recorded_time: None,
            config_rule_invoked_time: None,
        }
    }

    fn function(runtime: Option<&str>) -> FunctionDetails {
        FunctionDetails {
            runtime: runtime.map(str::to_string),
            ..FunctionDetails::default()
        }
    }

    #[test]
    fn lifecycle_columns_come_from_the_catalog_as_of_the_snapshot() {
        let catalog = Catalog::builtin().expect("catalog");
        let policy = Policy::default();
        let run = RunContext::new(&catalog, &policy, date(2026, 11, 23), "run-1")
            .collected_at(Timestamp::UNIX_EPOCH);
        let row = run.row(&record("orders"), Some(&function(Some("python3.8"))), None);
        assert_eq!(row.phase, Some(Phase::Deprecated));
        assert_eq!(row.runtime_family.as_deref(), Some("python"));
        assert_eq!(row.deprecation_date, Some(date(2024, 10, 14)));
        assert_eq!(row.block_update_date, Some(date(2027, 3, 3)));
        assert_eq!(row.days_to_fail, Some(-770)); // failing since 2024-10-14 under failPhase deprecated
        assert_eq!(row.successor.as_deref(), Some("python3.12"));
        assert_eq!(row.latest_runtime.as_deref(), Some("python3.14"));

        let strict = Policy::from_rule_parameters(Some(r#"{"failPhase":"update-blocked"}"#)).expect("policy");
        let later =
            RunContext::new(&catalog, &strict, run.snapshot_date, &run.run_id).collected_at(run.collected_at);
        let row = later.row(&record("orders"), Some(&function(Some("python3.8"))), None);
        assert_eq!(row.days_to_fail, Some(100)); // 2027-03-03

        let image = later.row(&record("model"), Some(&function(None)), None);
        assert_eq!(
            (image.phase, image.runtime_family, image.days_to_fail),
            (None, None, None)
        );
        let newer = later.row(&record("next"), Some(&function(Some("python3.16"))), None);
        assert_eq!(
            (newer.phase, newer.runtime_family.as_deref()),
            (None, Some("python"))
        );
        let key = (
            "111122223333",
            "eu-west-1",
            "OrgConfigRule-lambda-runtime-lifecycle-abc",
        );
        let Recomputed::Row(supported) =
            run.compliant_row(key, "fresh", &function(Some("nodejs24.x")), None, true)
        else {
            panic!("judged COMPLIANT")
        };
        assert_eq!(supported.compliance_type, "COMPLIANT");
        assert_eq!(supported.phase, Some(Phase::Supported));
        assert!(supported.annotation.is_some_and(|a| a.contains("nodejs24.x")));
        let image = FunctionDetails {
            package_type: Some("Image".into()),
            ..FunctionDetails::default()
        };
        let Recomputed::Row(not_judged) = run.compliant_row(key, "model", &image, None, true) else {
            panic!("a row for a function the rule does not judge")
        };
        assert_eq!(not_judged.compliance_type, "NOT_APPLICABLE");
        assert!(
            not_judged.annotation.is_some_and(|a| !a.is_empty()),
            "with its reason"
        );
        // Failing today while Config listed no NON_COMPLIANT result: the caller asks Config.
        assert!(matches!(
            run.compliant_row(key, "old", &function(Some("python3.8")), None, true),
            Recomputed::Fails
        ));
        // In a triple without results nothing was decided: INSUFFICIENT_DATA, passing or failing.
        for runtime in ["python3.8", "nodejs24.x"] {
            let Recomputed::Row(row) = run.compliant_row(key, "new", &function(Some(runtime)), None, false)
            else {
                panic!("a row for every function")
            };
            assert_eq!(
                (row.compliance_type.as_str(), row.annotation.as_deref()),
                ("INSUFFICIENT_DATA", Some(NOT_EVALUATED))
            );
        }
        let image_there = run.compliant_row(key, "model", &image, None, false);
        assert!(matches!(image_there, Recomputed::Row(row) if row.compliance_type == "NOT_APPLICABLE"));
        let unknown = later.row(&record("odd"), None, None);
        assert_eq!(unknown.runtime, None);
        assert_eq!(unknown.account_name, None);
    }
}
