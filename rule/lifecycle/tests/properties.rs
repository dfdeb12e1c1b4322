//! Properties over arbitrary input: no panic, annotations always fit, time only makes things worse.

use std::collections::BTreeMap;

use jiff::civil::Date;
use lifecycle::catalog::Catalog;
use lifecycle::verdict::{ComplianceType, FunctionSnapshot, Observed, PackageType, UpdateMode, evaluate};
use lifecycle::{Invocation, Policy, evaluate_offline};
use proptest::prelude::*;
use serde_json::{Value, json};

fn builtin() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| Catalog::builtin().expect("catalog"))
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,24}".prop_map(Value::String),
        // Values that look like what the rule reads, so that deep paths are reached.
        prop_oneof![
            Just("AWS::Lambda::Function"),
            Just("python3.8"),
            Just("provided.al2023"),
            Just("Image"),
            Just("Zip"),
            Just("ResourceDeleted"),
            Just("OK"),
            Just("2026-03-01T10:00:00.000+0000"),
            Just("2027-01-31"),
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("configuration".to_string()),
                    Just("runtime".to_string()),
                    Just("packageType".to_string()),
                    Just("tags".to_string()),
                    Just("lastModified".to_string()),
                    Just("resourceType".to_string()),
                    Just("resourceId".to_string()),
                    Just("configurationItemStatus".to_string()),
                    Just("configurationItemCaptureTime".to_string()),
                    ".{0,12}",
                ],
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn change_event(item: Value, parameters: Value, left_scope: Value) -> Value {
    json!({
        "invokingEvent": json!({
            "messageType": "ConfigurationItemChangeNotification",
            "configurationItem": item,
            "notificationCreationTime": "2026-11-20T10:00:05.000Z",
        }).to_string(),
        "ruleParameters": parameters,
        "eventLeftScope": left_scope,
        "resultToken": "TESTMODE",
        "accountId": "111122223333",
    })
}

fn date_in(range: std::ops::Range<i64>) -> impl Strategy<Value = Date> + Clone {
    range.prop_map(|offset| lifecycle::dates::add_days(jiff::civil::date(2026, 1, 1), offset))
}

fn runtime_name() -> impl Strategy<Value = String> {
    let known: Vec<String> = builtin().runtimes().map(|r| r.runtime.clone()).collect();
    prop_oneof![
        prop::sample::select(known),
        Just("python3.16".to_string()),
        Just("nodejs28.x".to_string()),
        "[a-z]{1,8}[0-9]{0,2}(\\.[0-9x]{1,2})?",
        ".{0,300}",
    ]
}

fn parameters() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("".to_string()),
        Just("deprecated".to_string()),
        Just("create-blocked".to_string()),
        Just("update-blocked".to_string()),
        Just("auto".to_string()),
        Just("any".to_string()),
        Just("compliant".to_string()),
        Just("python3.8,python3.13".to_string()),
        Just("x".to_string()),
        (0u32..4000).prop_map(|n| n.to_string()),
        ".{0,20}",
    ];
    let name = prop::sample::select(lifecycle::policy::parameter_names().collect::<Vec<_>>());
    prop::collection::btree_map(name, value, 0..6).prop_map(|m| serde_json::to_string(&m).expect("json"))
}

fn snapshot() -> impl Strategy<Value = FunctionSnapshot> {
    (
        any::<bool>(),
        proptest::option::weighted(0.9, runtime_name()),
        proptest::option::of(date_in(-3000..400)),
        proptest::option::of(prop_oneof![
            Just("2027-01-31".to_string()),
            Just("2031-01-01".to_string()),
            ".{0,12}"
        ]),
        prop_oneof![
            Just(Observed::Known(UpdateMode::Auto)),
            Just(Observed::Known(UpdateMode::FunctionUpdate)),
            Just(Observed::Known(UpdateMode::Manual)),
            ".{0,10}".prop_map(|s| Observed::Known(UpdateMode::Other(s))),
            Just(Observed::NotChecked("offline".into())),
            ".{0,300}".prop_map(Observed::Failed),
        ],
    )
        .prop_map(
            |(image, runtime, last_modified, exemption, mode)| FunctionSnapshot {
                name: "f".into(),
                package_type: if image {
                    PackageType::Image
                } else {
                    PackageType::Zip
                },
                runtime: if image { None } else { runtime },
                last_modified,
                tags: exemption
                    .map(|v| BTreeMap::from([("runtime-exempt-until".to_string(), v)]))
                    .unwrap_or_default(),
                runtime_update_mode: mode,
            },
        )
}

/// A one-runtime catalog with arbitrary (possibly missing, possibly out-of-order) dates.
fn arbitrary_dates_catalog() -> impl Strategy<Value = Catalog> {
    let day = proptest::option::of(date_in(-2000..2000));
    (day.clone(), day.clone(), day).prop_map(|(dep, create, update)| {
        let show = |d: Option<Date>| d.map_or(Value::Null, |d| Value::String(d.to_string()));
        let doc = json!({
            "schema_version": 1,
            "updated_at": "2026-11-22",
            "runtimes": [{
                "runtime": "lang1.0", "family": "lang", "os": "AL2023", "packaging": "zip",
                "deprecation_date": show(dep), "block_create_date": show(create), "block_update_date": show(update),
                "successor": null, "latest": null
            }]
        });
        Catalog::from_json(&doc.to_string()).expect("generated catalog")
    })
}

fn severity(compliance: ComplianceType) -> u8 {
    match compliance {
        ComplianceType::NotApplicable => 0,
        ComplianceType::Compliant => 1,
        ComplianceType::NonCompliant => 2,
    }
}

fn assert_fits(annotation: &str) -> Result<(), TestCaseError> {
    let length = annotation.encode_utf16().count();
    prop_assert!(
        (1..=256).contains(&length),
        "annotation of {} units: {:?}",
        length,
        annotation
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_items_never_panic_and_annotations_fit(item in arbitrary_json(), parameters in parameters(), left in arbitrary_json()) {
        let event = change_event(item, Value::String(parameters), left);
        let evaluations = Invocation::from_value(&event)
            .ok()
            .and_then(|invocation| evaluate_offline(&invocation, builtin(), jiff::civil::date(2026, 11, 23)).ok())
            .unwrap_or_default();
        for evaluation in evaluations {
            assert_fits(&evaluation.annotation)?;
        }
    }

    #[test]
    fn arbitrary_events_never_panic(event in arbitrary_json(), text in ".{0,200}") {
        let _ = Invocation::from_value(&event);
        let _ = Invocation::parse(&text);
        let _ = Invocation::parse(&event.to_string());
    }

    #[test]
    fn arbitrary_parameter_strings_never_panic(text in ".{0,200}", map in parameters()) {
        let _ = Policy::from_rule_parameters(Some(&text));
        let _ = Policy::from_rule_parameters(Some(&map));
    }

    #[test]
    fn invalid_parameters_never_give_compliant(parameters in parameters(), function in snapshot()) {
        if let Err(error) = Policy::from_rule_parameters(Some(&parameters)) {
            let item = json!({
                "resourceType": "AWS::Lambda::Function", "resourceId": "f", "configurationItemStatus": "OK",
                "configurationItemCaptureTime": "2026-11-20T10:00:00.000Z",
                "configuration": {"runtime": function.runtime, "packageType": "Zip"},
            });
            let event = change_event(item, Value::String(parameters), Value::Bool(false));
            let invocation = Invocation::from_value(&event).expect("well-formed event");
            let evaluations = evaluate_offline(&invocation, builtin(), jiff::civil::date(2026, 11, 23)).expect("evaluations");
            prop_assert_eq!(evaluations[0].compliance_type, ComplianceType::NonCompliant);
            prop_assert!(evaluations[0].annotation.contains(&error.parameter.chars().take(20).collect::<String>()));
        }
    }

    #[test]
    fn annotations_always_fit(function in snapshot(), parameters in parameters(), today in date_in(-3000..3000)) {
        if let Ok(policy) = Policy::from_rule_parameters(Some(&parameters)) {
            assert_fits(&evaluate(&function, &policy, builtin(), today).annotation)?;
        }
    }

    #[test]
    fn a_later_date_is_never_better(
        function in snapshot(),
        parameters in parameters(),
        earlier in date_in(-3000..3000),
        gap in 0i64..3000,
        catalog in arbitrary_dates_catalog(),
        use_generated in any::<bool>(),
    ) {
        let Ok(mut policy) = Policy::from_rule_parameters(Some(&parameters)) else { return Ok(()) };
        // The one designed exception: an exemption too far ahead (maxExemptionDays) is honoured once it
        // comes within the bound. With the bound out of reach, nothing gets better with time.
        policy.max_exemption_days = 36_500;
        // The other: a lastModified after the earlier day is a data error there, resolved by time.
        if function.last_modified.is_some_and(|day| day > lifecycle::dates::add_days(earlier, 1)) {
            return Ok(());
        }
        let later = lifecycle::dates::add_days(earlier, gap);
        let (catalog, function) = if use_generated {
            (&catalog, FunctionSnapshot { runtime: function.runtime.as_ref().map(|_| "lang1.0".to_string()), ..function })
        } else {
            (builtin(), function)
        };
        if let Some(runtime) = function.runtime.as_deref().and_then(|r| catalog.get(r)) {
            prop_assert!(runtime.phase_on(earlier) <= runtime.phase_on(later));
        }
        let before = evaluate(&function, &policy, catalog, earlier).compliance;
        let after = evaluate(&function, &policy, catalog, later).compliance;
        prop_assert!(severity(before) <= severity(after), "{:?} on {} but {:?} on {}", before, earlier, after, later);
    }
}
