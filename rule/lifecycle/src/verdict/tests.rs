//! The verdict on hand-picked cases: every parameter, every phase boundary, odd dates and inputs.

use std::collections::BTreeMap;

use jiff::civil::{Date, date};

use super::*;
use crate::catalog::Catalog;
use crate::policy::Policy;

fn catalog() -> Catalog {
    Catalog::builtin().expect("built-in catalog")
}

fn zip(runtime: &str) -> FunctionSnapshot {
    FunctionSnapshot {
        name: "fn".into(),
        package_type: PackageType::Zip,
        runtime: Some(runtime.into()),
        last_modified: Some(date(2026, 6, 1)),
        tags: BTreeMap::new(),
        runtime_update_mode: Observed::Known(UpdateMode::Auto),
    }
}

fn image(last_modified: Option<Date>) -> FunctionSnapshot {
    FunctionSnapshot {
        package_type: PackageType::Image,
        runtime: None,
        last_modified,
        ..zip("unused")
    }
}

fn policy(json: &str) -> Policy {
    Policy::from_rule_parameters(Some(json)).expect("valid parameters")
}

fn verdict(function: &FunctionSnapshot, parameters: &str, today: Date) -> Verdict {
    let verdict = evaluate(function, &policy(parameters), &catalog(), today);
    let length = verdict.annotation.encode_utf16().count();
    assert!(
        (1..=256).contains(&length),
        "annotation length {length}: {}",
        verdict.annotation
    );
    verdict
}

fn compliance(function: &FunctionSnapshot, parameters: &str, today: Date) -> ComplianceType {
    verdict(function, parameters, today).compliance
}

use ComplianceType::{Compliant, NonCompliant, NotApplicable};

#[test]
fn the_architecture_example_annotation() {
    let v = verdict(&zip("python3.8"), "{}", date(2026, 11, 23));
    assert_eq!(v.compliance, NonCompliant);
    assert_eq!(
        v.annotation,
        "python3.8 deprecated 2024-10-14; create blocked 2027-02-01; update blocked 2027-03-03. \
         Upgrade to python3.12 (latest python3.14)."
    );
}

#[test]
fn fail_phase_boundaries_day_before_of_and_after() {
    // python3.10: deprecated 2026-10-31, create blocked 2027-02-01, update blocked 2027-03-03.
    let f = zip("python3.10");
    for (parameters, start) in [
        (r#"{"failPhase":"deprecated"}"#, date(2026, 10, 31)),
        (r#"{"failPhase":"create-blocked"}"#, date(2027, 2, 1)),
        (r#"{"failPhase":"update-blocked"}"#, date(2027, 3, 3)),
    ] {
        assert_eq!(
            compliance(&f, parameters, start.yesterday().expect("date")),
            Compliant,
            "{parameters}"
        );
        assert_eq!(compliance(&f, parameters, start), NonCompliant, "{parameters}");
        assert_eq!(
            compliance(&f, parameters, start.tomorrow().expect("date")),
            NonCompliant,
            "{parameters}"
        );
    }
}

#[test]
fn fail_days_before_moves_the_failing_day_earlier() {
    let f = zip("python3.11"); // deprecated 2027-06-30
    let p = r#"{"failDaysBefore":"30"}"#;
    assert_eq!(compliance(&f, p, date(2027, 5, 30)), Compliant);
    let v = verdict(&f, p, date(2027, 5, 31));
    assert_eq!(v.compliance, NonCompliant);
    assert!(
        v.annotation
            .starts_with("python3.11 non-compliant from 2027-05-31 (30 days before deprecated)"),
        "{}",
        v.annotation
    );
    assert_eq!(compliance(&f, p, date(2027, 6, 1)), NonCompliant);
}

#[test]
fn warn_days_before_warns_with_the_date_and_stays_compliant() {
    let f = zip("nodejs22.x"); // deprecated 2027-04-30
    let in_window = verdict(&f, r#"{"warnDaysBefore":"180"}"#, date(2026, 11, 22));
    assert_eq!(in_window.compliance, Compliant);
    assert!(
        in_window
            .annotation
            .starts_with("nodejs22.x non-compliant from 2027-04-30: deprecated 2027-04-30;"),
        "{}",
        in_window.annotation
    );
    assert!(
        in_window.annotation.contains("Upgrade to nodejs24.x."),
        "{}",
        in_window.annotation
    );
    // Boundary: exactly warnDaysBefore days ahead warns, one more day does not.
    let warn = r#"{"warnDaysBefore":"159"}"#;
    assert!(
        verdict(&f, warn, date(2026, 11, 22))
            .annotation
            .starts_with("nodejs22.x non-compliant from 2027-04-30:")
    );
    assert!(
        verdict(&f, warn, date(2026, 11, 21))
            .annotation
            .starts_with("nodejs22.x supported: deprecated")
    );
    assert!(
        verdict(&f, r#"{"warnDaysBefore":"0"}"#, date(2026, 11, 22))
            .annotation
            .starts_with("nodejs22.x supported")
    );
}

#[test]
fn supported_runtimes_say_so_and_name_their_dates() {
    let v = verdict(&zip("python3.13"), "{}", date(2026, 11, 23));
    assert_eq!(v.compliance, Compliant);
    assert_eq!(
        v.annotation,
        "python3.13 supported: deprecated 2029-06-30; create blocked 2029-07-31; update blocked 2029-08-31."
    );
    let no_dates = verdict(&zip("nodejs26.x"), "{}", date(2026, 11, 23));
    assert_eq!(no_dates.compliance, Compliant);
    assert_eq!(
        no_dates.annotation,
        "nodejs26.x supported; no deprecation scheduled."
    );
    // A missing create-block date is never reached: java8.al2023 fails only on deprecation.
    assert_eq!(
        compliance(
            &zip("java8.al2023"),
            r#"{"failPhase":"create-blocked"}"#,
            date(2029, 8, 30)
        ),
        Compliant
    );
    assert_eq!(
        compliance(
            &zip("java8.al2023"),
            r#"{"failPhase":"create-blocked"}"#,
            date(2029, 8, 31)
        ),
        NonCompliant
    );
}

#[test]
fn out_of_order_dates() {
    // nodejs4.3-edge: create blocked 2019-03-31 before deprecation 2020-03-05.
    let f = zip("nodejs4.3-edge");
    assert_eq!(compliance(&f, "{}", date(2019, 3, 30)), Compliant);
    // Deprecated-or-worse starts with the create block, though the deprecation date is later.
    assert_eq!(compliance(&f, "{}", date(2019, 3, 31)), NonCompliant);
    assert_eq!(
        compliance(&f, r#"{"failPhase":"update-blocked"}"#, date(2019, 4, 29)),
        Compliant
    );
    assert_eq!(
        compliance(&f, r#"{"failPhase":"update-blocked"}"#, date(2019, 4, 30)),
        NonCompliant
    );
}

#[test]
fn image_functions() {
    let today = date(2026, 11, 23);
    let v = verdict(&image(Some(date(2020, 1, 1))), "{}", today);
    assert_eq!(v.compliance, NotApplicable);
    assert!(v.annotation.contains("imageMaxAgeDays is 0"), "{}", v.annotation);
    let p = r#"{"imageMaxAgeDays":"90"}"#;
    assert_eq!(compliance(&image(Some(date(2026, 8, 25))), p, today), Compliant); // 90 days
    let old = verdict(&image(Some(date(2026, 8, 24))), p, today); // 91 days
    assert_eq!(old.compliance, NonCompliant);
    assert_eq!(
        old.annotation,
        "Container image last modified 2026-08-24, past the 90-day limit since 2026-11-23: rebuild with a patched runtime."
    );
    let unknown_age = verdict(&image(None), p, today);
    assert_eq!(
        unknown_age.compliance, NonCompliant,
        "an unknown age is never a pass"
    );
    // Runtime lists do not apply to images (Security Hub Lambda.2 skips them too).
    assert_eq!(
        compliance(
            &image(Some(date(2026, 11, 1))),
            r#"{"imageMaxAgeDays":"90","allowedRuntimes":"python3.13"}"#,
            today
        ),
        Compliant
    );
}

#[test]
fn every_os_only_runtime() {
    let today = date(2026, 11, 23);
    for (runtime, expected) in [
        ("provided", NonCompliant),     // create blocked 2024-02-08
        ("provided.al2", NonCompliant), // deprecated 2026-07-31
        ("provided.al2023", Compliant), // supported until 2029-06-30
    ] {
        let v = verdict(&zip(runtime), "{}", today);
        assert_eq!(v.compliance, expected, "{runtime}: {}", v.annotation);
        assert!(v.annotation.contains("OS-only runtime"), "{}", v.annotation);
    }
    assert!(
        verdict(&zip("provided.al2"), "{}", today)
            .annotation
            .contains("Upgrade to provided.al2023.")
    );
    // customRuntimeMaxAgeDays: the runtime shipped in the package is the customer's to patch.
    let mut f = zip("provided.al2023");
    f.last_modified = Some(date(2025, 11, 23)); // 365 days before today
    let p = r#"{"customRuntimeMaxAgeDays":"365"}"#;
    assert_eq!(compliance(&f, p, today), Compliant);
    let v = verdict(&f, p, date(2026, 11, 24));
    assert_eq!(v.compliance, NonCompliant);
    assert!(
        v.annotation.contains(
            "OS-only runtime: code last modified 2025-11-23, past the 365-day limit since 2026-11-24"
        ),
        "{}",
        v.annotation
    );
    f.last_modified = None;
    assert_eq!(compliance(&f, p, today), NonCompliant);
    // Off (0): no age check, whatever the age.
    assert_eq!(compliance(&f, "{}", today), Compliant);
    // Not applied to managed runtimes.
    let mut python = zip("python3.13");
    python.last_modified = Some(date(2000, 1, 1));
    assert_eq!(compliance(&python, p, today), Compliant);
}

#[test]
fn allowed_and_blocked_runtimes() {
    let today = date(2026, 11, 23);
    let allowed = r#"{"allowedRuntimes":"python3.13,python3.14"}"#;
    assert_eq!(compliance(&zip("python3.13"), allowed, today), Compliant);
    let v = verdict(&zip("nodejs24.x"), allowed, today);
    assert_eq!(v.compliance, NonCompliant);
    assert!(
        v.annotation
            .starts_with("nodejs24.x is not in allowedRuntimes (python3.13, python3.14)."),
        "{}",
        v.annotation
    );
    let blocked = verdict(&zip("python3.13"), r#"{"blockedRuntimes":"python3.13"}"#, today);
    assert_eq!(blocked.compliance, NonCompliant);
    assert!(
        blocked
            .annotation
            .starts_with("python3.13 is blocked by this rule"),
        "{}",
        blocked.annotation
    );
    // Allowing a deprecated runtime does not excuse its lifecycle.
    assert_eq!(
        compliance(&zip("python3.8"), r#"{"allowedRuntimes":"python3.8"}"#, today),
        NonCompliant
    );
}

#[test]
fn unknown_and_newer_runtimes() {
    let today = date(2026, 11, 23);
    let v = verdict(&zip("cobol85"), "{}", today);
    assert_eq!(v.compliance, NonCompliant);
    assert_eq!(
        v.annotation,
        "cobol85 is not in the lifecycle data (as of 2026-11-22)."
    );
    let lenient = verdict(&zip("cobol85"), r#"{"unknownRuntime":"compliant"}"#, today);
    assert_eq!(lenient.compliance, Compliant);
    for newer in ["python3.16", "nodejs28.x", "java27"] {
        let v = verdict(&zip(newer), "{}", today);
        assert_eq!(v.compliance, Compliant, "{newer}: {}", v.annotation);
        assert!(
            v.annotation.contains("newer than the lifecycle data"),
            "{}",
            v.annotation
        );
        // The allowed list still applies to it.
        assert_eq!(
            compliance(&zip(newer), r#"{"allowedRuntimes":"python3.14"}"#, today),
            NonCompliant
        );
    }
    let mut missing = zip("");
    assert_eq!(compliance(&missing, "{}", today), NonCompliant);
    missing.runtime = None;
    assert_eq!(compliance(&missing, "{}", today), NonCompliant);
}

#[test]
fn runtime_update_mode() {
    let today = date(2026, 11, 23);
    let mut f = zip("python3.13");
    let cases = [
        (UpdateMode::Auto, "not-manual", Compliant),
        (UpdateMode::FunctionUpdate, "not-manual", Compliant),
        (UpdateMode::Manual, "not-manual", NonCompliant),
        (UpdateMode::Auto, "auto", Compliant),
        (UpdateMode::FunctionUpdate, "auto", NonCompliant),
        (UpdateMode::Manual, "auto", NonCompliant),
        (UpdateMode::Manual, "any", Compliant),
        (UpdateMode::Other("Sometimes".into()), "not-manual", NonCompliant),
    ];
    for (mode, required, expected) in cases {
        f.runtime_update_mode = Observed::Known(mode.clone());
        let parameters = format!(r#"{{"runtimeUpdateMode":"{required}"}}"#);
        assert_eq!(
            compliance(&f, &parameters, today),
            expected,
            "{mode:?} under {required}"
        );
    }
    f.runtime_update_mode = Observed::Known(UpdateMode::Manual);
    let v = verdict(&f, "{}", today);
    assert!(
        v.annotation
            .starts_with("Runtime version pinned (update mode Manual)"),
        "{}",
        v.annotation
    );
    f.runtime_update_mode = Observed::NotChecked("offline".into());
    let v = verdict(&f, "{}", today);
    assert_eq!(v.compliance, Compliant);
    assert!(
        v.annotation
            .ends_with("Runtime update mode not checked (offline)."),
        "{}",
        v.annotation
    );
    f.runtime_update_mode = Observed::Failed("AccessDeniedException".into());
    assert_eq!(
        compliance(&f, "{}", today),
        NonCompliant,
        "a failed look-up is never a pass"
    );
    // Images have no runtime management.
    let mut img = image(Some(today));
    img.runtime_update_mode = Observed::Known(UpdateMode::Manual);
    assert_eq!(compliance(&img, r#"{"imageMaxAgeDays":"30"}"#, today), Compliant);
}

#[test]
fn exemptions_valid_expired_malformed() {
    let mut f = zip("python3.8");
    f.tags.insert("runtime-exempt-until".into(), "2027-01-31".into());
    let on_last_day = verdict(&f, "{}", date(2027, 1, 31));
    assert_eq!(on_last_day.compliance, Compliant);
    assert!(
        on_last_day.annotation.starts_with(
            "Exempt until 2027-01-31 (tag runtime-exempt-until). python3.8 deprecated 2024-10-14;"
        ),
        "{}",
        on_last_day.annotation
    );
    let expired = verdict(&f, "{}", date(2027, 2, 1));
    assert_eq!(expired.compliance, NonCompliant);
    assert!(
        expired.annotation.contains("Exemption expired 2027-01-31"),
        "{}",
        expired.annotation
    );
    for malformed in ["31/01/2027", "2027-02-30", "soon", "", "2027-1-31"] {
        f.tags.insert("runtime-exempt-until".into(), malformed.into());
        let v = verdict(&f, "{}", date(2026, 11, 23));
        assert_eq!(v.compliance, NonCompliant, "{malformed:?}");
        assert!(
            v.annotation.contains("is not a YYYY-MM-DD date"),
            "{}",
            v.annotation
        );
        // Malformed on a compliant function is still a finding that fails.
        let mut good = zip("python3.13");
        good.tags = f.tags.clone();
        assert_eq!(compliance(&good, "{}", date(2026, 11, 23)), NonCompliant);
    }
    // A custom tag key; the default key is then ignored.
    f.tags.clear();
    f.tags.insert("lifecycle/exempt".into(), "2027-06-01".into());
    assert_eq!(
        compliance(&f, r#"{"exemptionTag":"lifecycle/exempt"}"#, date(2026, 11, 23)),
        Compliant
    );
    assert_eq!(compliance(&f, "{}", date(2026, 11, 23)), NonCompliant);
}

#[test]
fn exemptions_are_bounded_by_max_exemption_days() {
    let mut f = zip("python3.8");
    let today = date(2026, 11, 23);
    // The default bound is 365 days: 2027-11-23 is honoured, one day later is not.
    f.tags.insert("runtime-exempt-until".into(), "2027-11-23".into());
    assert_eq!(compliance(&f, "{}", today), Compliant);
    f.tags.insert("runtime-exempt-until".into(), "9999-12-31".into());
    let forever = verdict(&f, "{}", today);
    assert_eq!(forever.compliance, NonCompliant);
    assert!(
        forever.annotation.contains(
            "Exemption until 9999-12-31 (tag runtime-exempt-until) not honoured: it ends more than 365 days ahead (maxExemptionDays)."
        ),
        "{}",
        forever.annotation
    );
    // The same text every day until the exemption comes within the bound (no day counts).
    assert_eq!(
        verdict(&f, "{}", date(2026, 11, 24)).annotation,
        forever.annotation
    );
    // Even on a compliant runtime an over-long exemption is a finding: someone tried to exempt it.
    let mut good = zip("python3.13");
    good.tags = f.tags.clone();
    assert_eq!(compliance(&good, "{}", today), NonCompliant);
    // A larger bound honours it; 0 turns exemptions off (the tag is ignored, the verdict stands).
    f.tags.insert("runtime-exempt-until".into(), "2029-01-01".into());
    assert_eq!(compliance(&f, r#"{"maxExemptionDays":"1000"}"#, today), Compliant);
    let off = verdict(&f, r#"{"maxExemptionDays":"0"}"#, today);
    assert_eq!(off.compliance, NonCompliant);
    assert!(
        off.annotation.contains("exemptions are off"),
        "{}",
        off.annotation
    );
    good.tags = f.tags.clone();
    assert_eq!(compliance(&good, r#"{"maxExemptionDays":"0"}"#, today), Compliant);
}

#[test]
fn a_last_modified_date_in_the_future_is_never_a_pass() {
    let today = date(2026, 11, 23);
    let p = r#"{"imageMaxAgeDays":"90"}"#;
    let v = verdict(&image(Some(date(2026, 12, 1))), p, today);
    assert_eq!(v.compliance, NonCompliant);
    assert_eq!(
        v.annotation,
        "Container image lastModified 2026-12-01 is in the future: cannot judge the code age."
    );
    assert_eq!(compliance(&image(Some(today)), p, today), Compliant);
    // One day of slack for clocks on either side of midnight UTC.
    assert_eq!(compliance(&image(Some(date(2026, 11, 24))), p, today), Compliant);
}

#[test]
fn annotations_carry_dates_not_day_counts() {
    // The same function judged on consecutive days gets the same text unless a boundary passed, so a
    // sweep that puts only changed evaluations puts nothing on an ordinary day.
    let p = r#"{"imageMaxAgeDays":"90","warnDaysBefore":"400"}"#;
    for f in [
        zip("nodejs22.x"),
        zip("python3.8"),
        image(Some(date(2026, 10, 1))),
    ] {
        let monday = verdict(&f, p, date(2026, 11, 23));
        let tuesday = verdict(&f, p, date(2026, 11, 24));
        assert_eq!(monday, tuesday);
    }
}

#[test]
fn catalog_max_age_adds_the_data_date() {
    let f = zip("python3.13");
    let fresh = verdict(&f, r#"{"catalogMaxAgeDays":"120"}"#, date(2027, 3, 22)); // 120 days
    assert!(
        !fresh.annotation.contains("Lifecycle data as of"),
        "{}",
        fresh.annotation
    );
    let stale = verdict(&f, r#"{"catalogMaxAgeDays":"120"}"#, date(2027, 3, 23)); // 121 days
    assert!(
        stale.annotation.ends_with("Lifecycle data as of 2026-11-22."),
        "{}",
        stale.annotation
    );
    let off = verdict(&f, r#"{"catalogMaxAgeDays":"0"}"#, date(2040, 1, 1));
    assert!(
        !off.annotation.contains("Lifecycle data as of"),
        "{}",
        off.annotation
    );
}

#[test]
fn catalog_ssm_parameter_does_not_change_the_verdict_itself() {
    // The parameter tells the Lambda where to load a catalog from; the verdict sees the loaded one.
    let f = zip("python3.8");
    assert_eq!(
        compliance(
            &f,
            r#"{"catalogSsmParameter":"/guard/catalog"}"#,
            date(2026, 11, 23)
        ),
        compliance(&f, "{}", date(2026, 11, 23))
    );
}

#[test]
fn most_severe_reason_leads() {
    let mut f = zip("python3.8");
    f.runtime_update_mode = Observed::Known(UpdateMode::Manual);
    let v = verdict(&f, r#"{"blockedRuntimes":"python3.8"}"#, date(2026, 11, 23));
    let blocked = v.annotation.find("blocked by this rule").expect("blocked");
    let lifecycle = v.annotation.find("deprecated 2024-10-14").expect("lifecycle");
    let pinned = v.annotation.find("pinned").expect("pinned");
    assert!(blocked < lifecycle && lifecycle < pinned, "{}", v.annotation);
}

#[test]
fn longest_runtime_names_fit() {
    let today = date(2026, 11, 23);
    let longest_known = catalog()
        .runtimes()
        .map(|r| r.runtime.clone())
        .max_by_key(String::len)
        .expect("runtimes");
    let mut f = zip(&longest_known);
    f.runtime_update_mode = Observed::Failed("x".repeat(500));
    f.tags
        .insert("runtime-exempt-until".into(), "not-a-date".repeat(30));
    let everything = r#"{"allowedRuntimes":"python3.13,python3.14,nodejs24.x,java25,dotnet10,ruby4.0,provided.al2023","blockedRuntimes":"nodejs4.3-edge","catalogMaxAgeDays":"1"}"#;
    let v = verdict(&f, everything, today);
    assert_eq!(v.compliance, NonCompliant);
    assert!(v.annotation.ends_with("..."), "{}", v.annotation);
    for name in ["a".repeat(64), "b".repeat(300), "é".repeat(300), "😀".repeat(300)] {
        let v = verdict(&zip(&name), everything, today);
        assert_eq!(v.compliance, NonCompliant);
    }
}
