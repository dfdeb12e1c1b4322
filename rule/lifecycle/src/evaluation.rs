//! From an invocation to the evaluations it produces. Pure: what needs AWS (the full item of an
//! oversized notification, the functions of a periodic sweep, the runtime management mode) is either
//! supplied by the caller or reported as needed.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use crate::annotation::fit;
use crate::catalog::Catalog;
use crate::event::{ConfigurationItem, EventError, Invocation, ItemContent, ItemSummary, Message};
use crate::policy::{ParameterError, Policy};
use crate::verdict::{ComplianceType, Observed, UpdateMode, evaluate};

/// One evaluation, in the shape of PutEvaluations' `Evaluation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Evaluation {
    pub compliance_resource_type: String,
    pub compliance_resource_id: String,
    pub compliance_type: ComplianceType,
    pub annotation: String,
    #[serde(serialize_with = "millis")]
    pub ordering_timestamp: Timestamp,
}

fn millis<S: serde::Serializer>(timestamp: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{timestamp:.3}"))
}

/// What every evaluation of one invocation shares.
#[derive(Debug, Clone)]
pub struct Context<'c> {
    pub policy: Result<Policy, ParameterError>,
    pub catalog: &'c Catalog,
    pub today: Date,
}

impl<'c> Context<'c> {
    pub fn new(invocation: &Invocation, catalog: &'c Catalog, today: Date) -> Context<'c> {
        Context {
            policy: Policy::from_rule_parameters(invocation.rule_parameters.as_deref()),
            catalog,
            today,
        }
    }

    /// The compliance and annotation of one resource. NOT_APPLICABLE for what is gone or out of
    /// scope; otherwise an invalid policy or an unreadable item is NON_COMPLIANT, never COMPLIANT.
    pub fn judge(&self, content: &ItemContent) -> (ComplianceType, String) {
        match (content, &self.policy) {
            (ItemContent::Deleted, _) => (ComplianceType::NotApplicable, "Function deleted.".into()),
            (ItemContent::OutOfScope, _) => (
                ComplianceType::NotApplicable,
                "Not a Lambda function: out of this rule's scope.".into(),
            ),
            (_, Err(error)) => (
                ComplianceType::NonCompliant,
                fit(&format!("{error}. Fix the rule parameters.")),
            ),
            (ItemContent::Unreadable(why), Ok(_)) => (ComplianceType::NonCompliant, fit(why)),
            (ItemContent::Function(function), Ok(policy)) => {
                let verdict = evaluate(function, policy, self.catalog, self.today);
                (verdict.compliance, verdict.annotation)
            }
        }
    }

    /// Whether the runtime management mode can change this function's compliance, so that reading it
    /// (GetRuntimeManagementConfig, one Lambda control-plane call, of 15 a second for the whole
    /// account and region) is worth it: the verdicts with mode Auto and with mode Manual differ. Not
    /// for images, exempt functions, functions already failing for another reason, or a policy that
    /// does not check the mode.
    pub fn mode_can_change_compliance(&self, function: &crate::verdict::FunctionSnapshot) -> bool {
        let Ok(policy) = &self.policy else { return false };
        if policy.runtime_update_mode == crate::policy::UpdateModeRequirement::Any {
            return false;
        }
        let with = |mode: UpdateMode| {
            let mut assumed = function.clone();
            assumed.runtime_update_mode = Observed::Known(mode);
            evaluate(&assumed, policy, self.catalog, self.today).compliance
        };
        // Manual can only add a failing finding: when Auto already fails (or the function is not judged
        // on its mode at all), the two agree, and the second evaluation is not needed.
        with(UpdateMode::Auto) == ComplianceType::Compliant
            && with(UpdateMode::Manual) != ComplianceType::Compliant
    }

    /// The evaluation of a full configuration item.
    pub fn evaluate_item(
        &self,
        item: &ConfigurationItem,
        event_left_scope: bool,
        runtime_update_mode: Observed<UpdateMode>,
        ordering_timestamp: Timestamp,
    ) -> Evaluation {
        let (compliance, annotation) = if event_left_scope {
            left_scope()
        } else {
            self.judge(&item.content(runtime_update_mode))
        };
        Evaluation {
            compliance_resource_type: item.summary.resource_type.clone(),
            compliance_resource_id: item.summary.resource_id.clone(),
            compliance_type: compliance,
            annotation,
            ordering_timestamp,
        }
    }
}

impl Context<'_> {
    /// An oversized notification's evaluation when it needs no full item — the resource is gone,
    /// left the rule's scope, or is not a Lambda function. `None`: the full item must be fetched
    /// (GetResourceConfigHistory). The one place this is decided, online and offline.
    pub fn evaluate_oversized_without_item(
        &self,
        summary: &ItemSummary,
        event_left_scope: bool,
        ordering_timestamp: Timestamp,
    ) -> Option<Evaluation> {
        let (compliance, annotation) = if event_left_scope {
            left_scope()
        } else if summary.status.is_deleted() {
            self.judge(&ItemContent::Deleted)
        } else if summary.resource_type != crate::event::LAMBDA_FUNCTION {
            self.judge(&ItemContent::OutOfScope)
        } else {
            return None;
        };
        Some(Evaluation {
            compliance_resource_type: summary.resource_type.clone(),
            compliance_resource_id: summary.resource_id.clone(),
            compliance_type: compliance,
            annotation,
            ordering_timestamp,
        })
    }
}

fn left_scope() -> (ComplianceType, String) {
    (
        ComplianceType::NotApplicable,
        "The resource left the rule's scope.".into(),
    )
}

/// Why an invocation could not be evaluated without AWS calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(
        "{message_type} needs {call}, and --offline makes no AWS call: run without --offline \
         (with credentials for account {account}) to evaluate it"
    )]
    NeedsAws {
        message_type: &'static str,
        call: &'static str,
        account: String,
    },
}

/// The evaluations of an invocation using only what the event carries. The runtime management
/// mode is reported as not checked.
pub fn evaluate_offline(
    invocation: &Invocation,
    catalog: &Catalog,
    today: Date,
) -> Result<Vec<Evaluation>, OfflineError> {
    let context = Context::new(invocation, catalog, today);
    let account = || invocation.account_id.clone().unwrap_or_else(|| "?".into());
    match &invocation.message {
        Message::ConfigurationItemChange { item, .. } => {
            let ordering = invocation.message.ordering_timestamp()?;
            Ok(vec![context.evaluate_item(
                item,
                invocation.event_left_scope,
                Observed::NotChecked("offline".into()),
                ordering,
            )])
        }
        Message::OversizedConfigurationItemChange { summary, .. } => context
            .evaluate_oversized_without_item(
                summary,
                invocation.event_left_scope,
                invocation.message.ordering_timestamp()?,
            )
            .map(|evaluation| vec![evaluation])
            .ok_or_else(|| OfflineError::NeedsAws {
                message_type: "OversizedConfigurationItemChangeNotification",
                call: "the full configuration item from GetResourceConfigHistory",
                account: summary.aws_account_id.clone().unwrap_or_else(account),
            }),
        Message::Scheduled { aws_account_id, .. } => Err(OfflineError::NeedsAws {
            message_type: "ScheduledNotification",
            call: "every function of the account and region from ListFunctions",
            account: aws_account_id.clone().unwrap_or_else(account),
        }),
    }
}

/// The checks [`evaluate_offline`] could not make because they need AWS, as sentences for the
/// user: the SSM catalog overlay the parameters name, and the runtime management mode. An offline
/// verdict is only as good as what it could see, and must say so.
pub fn offline_skipped_checks(invocation: &Invocation) -> Vec<String> {
    let Ok(policy) = Policy::from_rule_parameters(invocation.rule_parameters.as_deref()) else {
        return Vec::new();
    };
    let mut skipped = Vec::new();
    if let Some(name) = &policy.catalog_ssm_parameter {
        skipped.push(format!(
            "catalogSsmParameter {name}: the catalog overlay was not applied (it needs SSM GetParameter); \
             pass the overlaid catalog with --catalog, or evaluate online"
        ));
    }
    if policy.runtime_update_mode != crate::policy::UpdateModeRequirement::Any {
        skipped.push(
            "runtimeUpdateMode: the runtime management mode was not checked (it needs \
             GetRuntimeManagementConfig); a pinned (Manual) function may be judged COMPLIANT here"
                .into(),
        );
    }
    skipped
}

/// What Config holds for one resource under the rule (GetComplianceDetailsByConfigRule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResult {
    pub compliance: String,
    pub annotation: String,
}

/// The annotation of the NOT_APPLICABLE a sweep puts for a function that no longer exists.
pub const GONE: &str = "Function no longer exists.";

/// What a periodic sweep puts, and how many of its functions were left as Config holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepChanges {
    pub put: Vec<Evaluation>,
    /// Functions judged the same as Config holds them (or NOT_APPLICABLE with nothing held).
    pub unchanged: usize,
    /// Resources Config holds that no longer exist (put as NOT_APPLICABLE).
    pub gone: usize,
    /// Functions that exist but were not judged this sweep (their runtime management mode is still to
    /// be read: see [`crate::mode_reads`]); what Config holds for them stays.
    pub deferred: usize,
}

/// What a periodic sweep puts, given every function's evaluation and what Config already holds: the
/// evaluations that are new or differ in compliance or annotation, plus NOT_APPLICABLE for each
/// resource Config holds as COMPLIANT or NON_COMPLIANT that no longer exists. Config bills every
/// evaluation recorded, and annotations carry dates, never day counts, so an ordinary day puts nothing;
/// a verdict that changes because a date passed is put that day. A NOT_APPLICABLE verdict with nothing
/// held is not put: Config marks NOT_APPLICABLE results for deletion, so "nothing held" is how it keeps
/// them, and putting them again every day would be billed every day. `deferred` names functions that
/// exist but were not judged: nothing is put for them, and they are not gone.
pub fn sweep_changes(
    evaluations: Vec<Evaluation>,
    deferred: &[String],
    stored: &std::collections::BTreeMap<String, StoredResult>,
    ordering: Timestamp,
) -> SweepChanges {
    let not_applicable = ComplianceType::NotApplicable.as_str();
    let present: std::collections::BTreeSet<String> = evaluations
        .iter()
        .map(|e| e.compliance_resource_id.clone())
        .chain(deferred.iter().cloned())
        .collect();
    let judged = evaluations.len();
    let mut put: Vec<Evaluation> = evaluations
        .into_iter()
        .filter(|e| match stored.get(&e.compliance_resource_id) {
            None => e.compliance_type != ComplianceType::NotApplicable,
            Some(held) => held.compliance != e.compliance_type.as_str() || held.annotation != e.annotation,
        })
        .collect();
    let unchanged = judged - put.len();
    let mut gone = 0;
    for (id, held) in stored {
        if !present.contains(id) && held.compliance != not_applicable {
            gone += 1;
            put.push(Evaluation {
                compliance_resource_type: crate::event::LAMBDA_FUNCTION.into(),
                compliance_resource_id: id.clone(),
                compliance_type: ComplianceType::NotApplicable,
                annotation: GONE.into(),
                ordering_timestamp: ordering,
            });
        }
    }
    SweepChanges {
        put,
        unchanged,
        gone,
        deferred: deferred.len(),
    }
}

#[cfg(test)]
mod sweep_tests {
    use std::collections::BTreeMap;

    use super::*;

    fn evaluation(id: &str, compliance: ComplianceType, annotation: &str) -> Evaluation {
        Evaluation {
            compliance_resource_type: crate::event::LAMBDA_FUNCTION.into(),
            compliance_resource_id: id.into(),
            compliance_type: compliance,
            annotation: annotation.into(),
            ordering_timestamp: Timestamp::UNIX_EPOCH,
        }
    }

    fn held(compliance: ComplianceType, annotation: &str) -> StoredResult {
        StoredResult {
            compliance: compliance.as_str().into(),
            annotation: annotation.into(),
        }
    }

    #[test]
    fn only_new_changed_and_gone_resources_are_put() {
        use ComplianceType::*;
        let stored = BTreeMap::from([
            ("same".to_string(), held(Compliant, "ok")),
            ("flipped".to_string(), held(Compliant, "ok")),
            ("reworded".to_string(), held(NonCompliant, "old text")),
            ("deleted".to_string(), held(NonCompliant, "x")),
            ("deleted-before".to_string(), held(NotApplicable, GONE)),
        ]);
        let evaluations = vec![
            evaluation("same", Compliant, "ok"),
            evaluation("flipped", NonCompliant, "ok"),
            evaluation("reworded", NonCompliant, "new text"),
            evaluation("new", Compliant, "ok"),
        ];
        let changes = sweep_changes(evaluations, &[], &stored, Timestamp::UNIX_EPOCH);
        let ids: Vec<(&str, ComplianceType)> = changes
            .put
            .iter()
            .map(|e| (e.compliance_resource_id.as_str(), e.compliance_type))
            .collect();
        assert_eq!(
            ids,
            [
                ("flipped", NonCompliant),
                ("reworded", NonCompliant),
                ("new", Compliant),
                ("deleted", NotApplicable)
            ]
        );
        assert_eq!((changes.unchanged, changes.gone), (1, 1));
        // Nothing held yet: everything is put, except NOT_APPLICABLE (Config deletes those results);
        // everything held and unchanged: nothing is.
        let fresh = vec![
            evaluation("same", Compliant, "ok"),
            evaluation("image", NotApplicable, "n/a"),
        ];
        let again = sweep_changes(fresh, &[], &BTreeMap::new(), Timestamp::UNIX_EPOCH);
        assert_eq!(again.put.len(), 1);
        assert_eq!(again.unchanged, 1);
        let unchanged = BTreeMap::from([("same".to_string(), held(Compliant, "ok"))]);
        let quiet = sweep_changes(
            vec![evaluation("same", Compliant, "ok")],
            &[],
            &unchanged,
            Timestamp::UNIX_EPOCH,
        );
        assert!(quiet.put.is_empty());
        // A verdict that becomes NOT_APPLICABLE while Config holds another is put.
        let to_na = sweep_changes(
            vec![evaluation("same", NotApplicable, "n/a")],
            &[],
            &unchanged,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(to_na.put.len(), 1);
        // A function not judged this sweep (its mode is still to be read) keeps what Config holds: it is
        // neither put nor gone.
        let waiting = sweep_changes(
            Vec::new(),
            &["same".to_string()],
            &unchanged,
            Timestamp::UNIX_EPOCH,
        );
        assert!(waiting.put.is_empty());
        assert_eq!((waiting.gone, waiting.deferred), (0, 1));
    }
}
