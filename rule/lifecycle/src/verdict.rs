//! The verdict: a pure function of (function, policy, catalog, date). No I/O, no clock.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;

use crate::annotation::{Findings, Rank};
use crate::catalog::{Catalog, Phase, Runtime};
use crate::dates::{add_days, days_between, parse_date, shorten};
use crate::policy::{Policy, UnknownRuntime, UpdateModeRequirement};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComplianceType {
    NotApplicable,
    Compliant,
    NonCompliant,
}

impl ComplianceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ComplianceType::NotApplicable => "NOT_APPLICABLE",
            ComplianceType::Compliant => "COMPLIANT",
            ComplianceType::NonCompliant => "NON_COMPLIANT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageType {
    Zip,
    Image,
}

/// The runtime management mode (`GetRuntimeManagementConfig.UpdateRuntimeOn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateMode {
    Auto,
    FunctionUpdate,
    Manual,
    /// A value this build does not know; never assumed to be fine.
    Other(String),
}

impl UpdateMode {
    pub fn parse(text: &str) -> UpdateMode {
        match text {
            "Auto" => UpdateMode::Auto,
            "FunctionUpdate" => UpdateMode::FunctionUpdate,
            "Manual" => UpdateMode::Manual,
            other => UpdateMode::Other(other.to_string()),
        }
    }
}

/// A fact the shell may or may not have been able to observe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed<T> {
    Known(T),
    /// Deliberately not looked up (e.g. `--offline`); the annotation says so.
    NotChecked(String),
    /// Not looked up because it cannot change the verdict (an image, an exempt function, one already
    /// failing for another reason): nothing to say.
    NotNeeded,
    /// The look-up failed; treated as a failing check, never as a pass.
    Failed(String),
}

/// What the verdict needs to know about one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSnapshot {
    pub name: String,
    pub package_type: PackageType,
    /// `None` for images, and for a Zip function whose item lacks it (a failing case).
    pub runtime: Option<String>,
    /// UTC day the code or configuration last changed.
    pub last_modified: Option<Date>,
    pub tags: BTreeMap<String, String>,
    pub runtime_update_mode: Observed<UpdateMode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub compliance: ComplianceType,
    /// 1-256 characters (UTF-16 units), most severe reason first.
    pub annotation: String,
}

/// Where a catalogued runtime stands on a date under a policy: the lifecycle columns of reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleStatus<'c> {
    pub runtime: &'c Runtime,
    pub phase: Phase,
    /// The first day this policy reports it NON_COMPLIANT (`failPhase` start minus `failDaysBefore`).
    pub fails_from: Option<Date>,
    /// Days from the evaluation date to `fails_from` (0 or negative: failing already).
    pub days_to_fail: Option<i64>,
}

pub fn lifecycle_status<'c>(runtime: &'c Runtime, policy: &Policy, today: Date) -> LifecycleStatus<'c> {
    let fails_from = runtime
        .first_day_at_least(policy.fail_phase)
        .map(|start| add_days(start, -i64::from(policy.fail_days_before)));
    LifecycleStatus {
        runtime,
        phase: runtime.phase_on(today),
        fails_from,
        days_to_fail: fails_from.map(|day| days_between(today, day)),
    }
}

/// Whether the catalog is older than `catalogMaxAgeDays` on `today`.
pub fn catalog_is_stale(catalog: &Catalog, policy: &Policy, today: Date) -> bool {
    policy.catalog_max_age_days > 0
        && days_between(catalog.updated_at(), today) > i64::from(policy.catalog_max_age_days)
}

/// The verdict for one existing function.
pub fn evaluate(function: &FunctionSnapshot, policy: &Policy, catalog: &Catalog, today: Date) -> Verdict {
    let mut findings = Findings::default();
    match function.package_type {
        PackageType::Image => {
            if policy.image_max_age_days == 0 {
                return Verdict {
                    compliance: ComplianceType::NotApplicable,
                    annotation: "Container image: no managed runtime to check (imageMaxAgeDays is 0); \
                                 the image's runtime is yours to patch."
                        .into(),
                };
            }
            check_code_age(
                &mut findings,
                "Container image",
                function.last_modified,
                policy.image_max_age_days,
                today,
            );
        }
        PackageType::Zip => match function.runtime.as_deref().map(str::trim) {
            None | Some("") => findings.fail(
                Rank::Unreadable,
                "Zip function without a runtime in its configuration: cannot check its lifecycle.".into(),
            ),
            Some(runtime) => {
                check_runtime(&mut findings, function, runtime, policy, catalog, today);
                check_update_mode(
                    &mut findings,
                    &function.runtime_update_mode,
                    policy.runtime_update_mode,
                );
            }
        },
    }

    let exempt_until = check_exemption(&mut findings, &function.tags, policy, today);
    if catalog_is_stale(catalog, policy, today) {
        findings.info(format!("Lifecycle data as of {}.", catalog.updated_at()));
    }

    let failing = findings.any_failure();
    let compliance = if failing && exempt_until.is_none() {
        ComplianceType::NonCompliant
    } else {
        ComplianceType::Compliant
    };
    let prefix = exempt_until.map(|until| {
        format!(
            "Exempt until {until} (tag {}).",
            shorten(&policy.exemption_tag, 40)
        )
    });
    Verdict {
        compliance,
        annotation: findings.into_annotation(prefix),
    }
}

fn check_runtime(
    findings: &mut Findings,
    function: &FunctionSnapshot,
    runtime: &str,
    policy: &Policy,
    catalog: &Catalog,
    today: Date,
) {
    let shown = shorten(runtime, 64);
    if policy.blocked_runtimes.contains(runtime) {
        findings.fail(
            Rank::Blocked,
            format!("{shown} is blocked by this rule (blockedRuntimes)."),
        );
    }
    if !policy.allowed_runtimes.is_empty() && !policy.allowed_runtimes.contains(runtime) {
        let allowed: Vec<&str> = policy.allowed_runtimes.iter().map(String::as_str).collect();
        findings.fail(
            Rank::NotAllowed,
            format!(
                "{shown} is not in allowedRuntimes ({}).",
                shorten(&allowed.join(", "), 80)
            ),
        );
    }
    match catalog.get(runtime) {
        Some(entry) => {
            check_lifecycle(findings, entry, policy, today);
            if entry.is_os_only() {
                check_os_only(
                    findings,
                    function.last_modified,
                    policy.custom_runtime_max_age_days,
                    today,
                );
            }
        }
        None => match catalog.newer_than_known(runtime) {
            Some(newest) => findings.info(format!(
                "{shown} is newer than the lifecycle data (as of {}; newest known {}): assumed supported.",
                catalog.updated_at(),
                newest.runtime
            )),
            None => {
                let text = format!(
                    "{shown} is not in the lifecycle data (as of {}).",
                    catalog.updated_at()
                );
                match policy.unknown_runtime {
                    UnknownRuntime::NonCompliant => findings.fail(Rank::UnknownRuntime, text),
                    UnknownRuntime::Compliant => {
                        findings.info(format!("{text} unknownRuntime is compliant."))
                    }
                }
            }
        },
    }
}

fn check_lifecycle(findings: &mut Findings, entry: &Runtime, policy: &Policy, today: Date) {
    let status = lifecycle_status(entry, policy, today);
    let timeline = timeline(entry);
    let upgrade = upgrade_sentence(entry);
    let name = &entry.runtime;
    match (status.fails_from, status.days_to_fail) {
        (Some(fails_from), Some(days)) if days <= 0 => {
            if status.phase >= policy.fail_phase {
                findings.fail(Rank::Lifecycle, format!("{name} {timeline}.{upgrade}"));
            } else {
                findings.fail(
                    Rank::Lifecycle,
                    format!(
                        "{name} non-compliant from {fails_from} ({} days before {}): {timeline}.{upgrade}",
                        policy.fail_days_before, policy.fail_phase
                    ),
                );
            }
        }
        // Dates only, never a day count: an annotation that changes every day would make every sweep
        // re-submit every warned function (Config bills each evaluation recorded).
        (Some(fails_from), Some(days)) if days <= i64::from(policy.warn_days_before) => findings.warn(
            format!("{name} non-compliant from {fails_from}: {timeline}.{upgrade}"),
        ),
        _ if entry.phase_dates().iter().all(|(_, day)| day.is_none()) => {
            findings.info(format!("{name} supported; no deprecation scheduled."));
        }
        _ => findings.info(format!("{name} {}: {timeline}.", status.phase)),
    }
}

/// `deprecated 2024-10-14; create blocked 2027-02-01; update blocked 2027-03-03` (scheduled dates only).
fn timeline(entry: &Runtime) -> String {
    let parts: Vec<String> = entry
        .phase_dates()
        .into_iter()
        .filter_map(|(phase, day)| {
            let label = match phase {
                Phase::Deprecated => "deprecated",
                Phase::CreateBlocked => "create blocked",
                Phase::UpdateBlocked => "update blocked",
                Phase::Supported => return None,
            };
            day.map(|day| format!("{label} {day}"))
        })
        .collect();
    if parts.is_empty() {
        "no deprecation scheduled".into()
    } else {
        parts.join("; ")
    }
}

/// ` Upgrade to python3.12 (latest python3.14).`, or empty when the catalog knows nothing newer.
fn upgrade_sentence(entry: &Runtime) -> String {
    match (entry.upgrade_target(), entry.latest.as_deref()) {
        (Some(target), Some(latest)) if target != latest => {
            format!(" Upgrade to {target} (latest {latest}).")
        }
        (Some(target), _) => format!(" Upgrade to {target}."),
        (None, _) => String::new(),
    }
}

fn check_os_only(findings: &mut Findings, last_modified: Option<Date>, max_age_days: u32, today: Date) {
    if max_age_days == 0 {
        findings.info(
            "OS-only runtime: the language runtime you ship in the package or a layer is yours to patch."
                .into(),
        );
    } else {
        check_code_age(
            findings,
            "OS-only runtime: code",
            last_modified,
            max_age_days,
            today,
        );
    }
}

fn check_code_age(
    findings: &mut Findings,
    what: &str,
    last_modified: Option<Date>,
    max_age_days: u32,
    today: Date,
) {
    match last_modified {
        None => findings.fail(
            Rank::CodeAge,
            format!("{what} age unknown (no readable lastModified); the limit is {max_age_days} days."),
        ),
        // A date after today is not a young function: the clock or the data is wrong, so nothing
        // can be judged (a negative age would otherwise pass every limit). One day of slack: Lambda's
        // clock and ours may straddle midnight UTC.
        Some(day) if day > add_days(today, 1) => findings.fail(
            Rank::CodeAge,
            format!("{what} lastModified {day} is in the future: cannot judge the code age."),
        ),
        Some(day) => {
            // The last day within the limit: dates, not an age in days, so the text stays the same
            // from one day to the next.
            let last_day = add_days(day, i64::from(max_age_days));
            if today > last_day {
                findings.fail(
                    Rank::CodeAge,
                    format!(
                        "{what} last modified {day}, past the {max_age_days}-day limit since {}: rebuild with a patched runtime.",
                        add_days(last_day, 1)
                    ),
                );
            } else {
                findings.info(format!(
                    "{what} last modified {day}, within the {max_age_days}-day limit until {last_day}."
                ));
            }
        }
    }
}

fn check_update_mode(
    findings: &mut Findings,
    observed: &Observed<UpdateMode>,
    required: UpdateModeRequirement,
) {
    if required == UpdateModeRequirement::Any {
        return;
    }
    match observed {
        Observed::Known(UpdateMode::Auto) => {}
        Observed::Known(UpdateMode::FunctionUpdate) if required == UpdateModeRequirement::NotManual => {}
        Observed::Known(UpdateMode::FunctionUpdate) => findings.fail(
            Rank::UpdateMode,
            "Runtime updates only on function update (FunctionUpdate); this rule requires Auto.".into(),
        ),
        Observed::Known(UpdateMode::Manual) => findings.fail(
            Rank::UpdateMode,
            "Runtime version pinned (update mode Manual): it receives no security patches.".into(),
        ),
        Observed::Known(UpdateMode::Other(mode)) => findings.fail(
            Rank::UpdateMode,
            format!(
                "Runtime update mode {:?} is not one this rule knows.",
                shorten(mode, 32)
            ),
        ),
        Observed::NotChecked(why) => findings.info(format!("Runtime update mode not checked ({why}).")),
        Observed::NotNeeded => {}
        Observed::Failed(error) => findings.fail(
            Rank::UpdateMode,
            format!("Runtime update mode unknown: {}.", shorten(error, 120)),
        ),
    }
}

/// The last day of the exemption the function's tags hold, when it is honoured on `today` (the
/// dataset's `exempt_until`): the same reading as [`evaluate`]'s.
pub fn honoured_exemption(tags: &BTreeMap<String, String>, policy: &Policy, today: Date) -> Option<Date> {
    check_exemption(&mut Findings::default(), tags, policy, today)
}

/// Returns the exemption's last day when the function is exempt on `today`.
fn check_exemption(
    findings: &mut Findings,
    tags: &BTreeMap<String, String>,
    policy: &Policy,
    today: Date,
) -> Option<Date> {
    let tag = &policy.exemption_tag;
    let value = tags.get(tag)?;
    let shown_tag = shorten(tag, 40);
    match parse_date(value.trim()) {
        Ok(_) if policy.max_exemption_days == 0 => {
            findings.info(format!(
                "Exemption tag {shown_tag} ignored: exemptions are off (maxExemptionDays 0)."
            ));
            None
        }
        // An exemption must end in sight: anyone who can tag the function could otherwise exempt it
        // forever. The text names the limit, not a day count, so it reads the same every day.
        Ok(until) if days_between(today, until) > i64::from(policy.max_exemption_days) => {
            findings.fail(
                Rank::Exemption,
                format!(
                    "Exemption until {until} (tag {shown_tag}) not honoured: it ends more than {} days ahead (maxExemptionDays).",
                    policy.max_exemption_days
                ),
            );
            None
        }
        // "Until" includes the day itself: a function tagged 2027-01-31 is exempt on 2027-01-31.
        Ok(until) if today <= until => Some(until),
        Ok(until) => {
            findings.warn(format!("Exemption expired {until} (tag {shown_tag})."));
            None
        }
        Err(_) => {
            findings.fail(
                Rank::Exemption,
                format!(
                    "Exemption tag {shown_tag}={:?} is not a YYYY-MM-DD date.",
                    shorten(value, 32)
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests;
