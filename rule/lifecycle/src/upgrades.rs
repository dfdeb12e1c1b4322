//! Config-only upgrades: the runtimes a function can move to by changing its `Runtime` setting alone,
//! with no change to its code — what the `UpgradeLambdaRuntime` runbook may do unattended. Written to
//! `cdk/contracts/runtime-upgrades.json`; the deployment turns it into SSM parameters.
//!
//! A target must be in the same family, a zip runtime, released after the source and by the catalog's
//! `updated_at`, and not deprecated on that date. Per family:
//! - python, ruby: the same major language version (Python 2 → 3 and Ruby 2 → 3 need code changes);
//! - nodejs: from nodejs18.x on (every one of them bundles the AWS SDK for JavaScript v3; nodejs16.x
//!   and older bundle v2, so moving them breaks code that imports `aws-sdk`);
//! - java: the same Java version on a newer OS (java8 → java8.al2023); a newer Java is a rebuild;
//! - dotnet, go, provided: never — .NET packages are built for one target framework and do not roll
//!   forward across major versions by default, go1.x moves to an OS-only runtime, and an OS-only
//!   runtime's binary is the customer's.
//!
//! What this cannot see: native extensions in a package (a CPython wheel built for 3.8 does not load
//! on 3.12). The runbook's dry run and rollback exist for that.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::{Catalog, Packaging, Runtime};

/// Where the deployment writes the upgrade parameters in each member account: see
/// `cdk/contracts/README.md` for the names under it.
pub const SSM_PREFIX: &str = "/lambda-runtime-guard";

/// The contract: default target and allowed targets per runtime.
#[derive(Debug, Serialize)]
pub struct Upgrades {
    pub ssm_prefix: &'static str,
    pub catalog_updated_at: String,
    /// The default target: the catalog's successor when it is a config-only target, else the oldest
    /// allowed target (the smallest step).
    pub successors: BTreeMap<String, String>,
    /// Every config-only target, oldest first.
    pub allowed_targets: BTreeMap<String, Vec<String>>,
    /// The SSM parameters the deployment writes in every member account and the runbooks read, name →
    /// value: `<prefix>/successor/<runtime>` = the default target, `<prefix>/upgrade-targets/<runtime>`
    /// = `,a,b,` (commas around every target, so that a runbook's `Contains: ",<target>,"` matches
    /// whole names only). Spelled here once; CDK, the tests and the demo write exactly these.
    pub parameters: BTreeMap<String, String>,
}

/// Whether `to` is a config-only upgrade of `from` (family rules above; dates checked by the caller).
fn same_code_runs(from: &Runtime, to: &Runtime) -> bool {
    let major = |runtime: &Runtime| {
        runtime
            .language_version
            .as_deref()
            .and_then(|version| version.split('.').next())
            .and_then(|major| major.parse::<u32>().ok())
    };
    match from.family.as_str() {
        "python" | "ruby" => major(from).is_some() && major(from) == major(to),
        "nodejs" => major(from).is_some_and(|major| major >= 18),
        "java" => from.language_version.is_some() && from.language_version == to.language_version,
        _ => false,
    }
}

impl Catalog {
    /// The config-only targets of `from`, oldest first.
    pub fn config_only_targets(&self, from: &Runtime) -> Vec<&Runtime> {
        let as_of = self.updated_at();
        let Some(from_released) = from.released else {
            return Vec::new();
        };
        let mut targets: Vec<&Runtime> = self
            .runtimes()
            .filter(|to| to.runtime != from.runtime && to.family == from.family)
            .filter(|to| to.packaging == Packaging::Zip)
            .filter(|to| {
                to.released
                    .is_some_and(|released| released > from_released && released <= as_of)
            })
            .filter(|to| to.deprecation_date.is_none_or(|deprecated| deprecated > as_of))
            .filter(|to| same_code_runs(from, to))
            .collect();
        targets.sort_by_key(|to| (to.released, to.runtime.clone()));
        targets
    }

    /// Every runtime's config-only upgrades, for the contract file.
    pub fn upgrades(&self) -> Upgrades {
        let mut successors = BTreeMap::new();
        let mut allowed_targets = BTreeMap::new();
        for from in self.runtimes().filter(|from| from.packaging == Packaging::Zip) {
            let targets = self.config_only_targets(from);
            let Some(oldest) = targets.first() else {
                continue;
            };
            let default = from
                .successor
                .as_deref()
                .filter(|successor| targets.iter().any(|t| t.runtime == *successor))
                .unwrap_or(&oldest.runtime);
            successors.insert(from.runtime.clone(), default.to_string());
            allowed_targets.insert(
                from.runtime.clone(),
                targets.iter().map(|t| t.runtime.clone()).collect(),
            );
        }
        let mut parameters = BTreeMap::new();
        for (runtime, target) in &successors {
            parameters.insert(format!("{SSM_PREFIX}/successor/{runtime}"), target.clone());
        }
        for (runtime, targets) in &allowed_targets {
            let targets: &Vec<String> = targets;
            parameters.insert(
                format!("{SSM_PREFIX}/upgrade-targets/{runtime}"),
                format!(",{},", targets.join(",")),
            );
        }
        Upgrades {
            ssm_prefix: SSM_PREFIX,
            catalog_updated_at: self.updated_at().to_string(),
            successors,
            allowed_targets,
            parameters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parameters_are_the_successors_and_the_comma_wrapped_targets() {
        let upgrades = Catalog::builtin().expect("catalog").upgrades();
        let successor = &upgrades.parameters[&format!("{SSM_PREFIX}/successor/python3.8")];
        assert_eq!(successor, &upgrades.successors["python3.8"]);
        let targets = &upgrades.parameters[&format!("{SSM_PREFIX}/upgrade-targets/python3.8")];
        assert_eq!(
            targets,
            &format!(",{},", upgrades.allowed_targets["python3.8"].join(","))
        );
        assert_eq!(
            upgrades.parameters.len(),
            upgrades.successors.len() + upgrades.allowed_targets.len()
        );
        assert!(!upgrades.parameters.keys().any(|name| name.ends_with("/go1.x")));
    }

    #[test]
    fn upgrades_stay_in_the_family_and_never_cross_a_code_boundary() {
        let upgrades = Catalog::builtin().expect("catalog").upgrades();
        let targets = |from: &str| upgrades.allowed_targets.get(from).cloned().unwrap_or_default();
        assert_eq!(upgrades.successors["python3.8"], "python3.12");
        assert_eq!(upgrades.successors["java8"], "java8.al2023");
        for never in [
            "go1.x",
            "python2.7",
            "ruby2.7",
            "nodejs16.x",
            "dotnet6",
            "provided.al2",
            "java11.al2023",
        ] {
            assert!(targets(never).is_empty(), "{never} → {:?}", targets(never));
        }
        // Deprecated on the catalog's date: python3.10 is never a target.
        assert!(!targets("python3.9").contains(&"python3.10".to_string()));
        assert!(targets("python3.9").contains(&"python3.14".to_string()));
        for (from, to) in &upgrades.successors {
            assert!(
                targets(from).contains(to),
                "{from} → {to} is its own allowed target"
            );
        }
    }
}
