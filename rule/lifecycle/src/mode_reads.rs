//! Which functions of a periodic sweep get their runtime management mode read.
//!
//! The mode comes from GetRuntimeManagementConfig, one Lambda control-plane call per function, and the
//! whole control plane of an account and Region allows 15 requests a second for every caller together
//! (<https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html#api-requests>). A mode change
//! (PutRuntimeManagementConfig) is not part of the configuration item AWS Config records for a function,
//! so no change notification follows it: only a read sees it. A sweep therefore reads within a budget:
//!
//! 1. functions whose mode cannot change their compliance are not read at all;
//! 2. functions for which Config holds no result that some mode explains (new, changed, or last read
//!    failed) are read first — those it holds nothing for before the others, each group from a point
//!    that moves daily;
//! 3. functions whose stored result is exactly the verdict of one mode are judged with that mode (so
//!    nothing is put for them) and re-read on their day: one of ⌈such functions ÷ budget⌉ day-slots, by a
//!    hash of the name, so that a mode change is seen in about that many days;
//! 4. first-read functions over the budget are deferred: no evaluation this sweep, so Config keeps what
//!    it holds, and the next sweep reads them first. Never a verdict on a mode nobody read.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::evaluation::{Context, StoredResult};
use crate::event::ItemContent;
use crate::verdict::{FunctionSnapshot, Observed, UpdateMode};

/// The modes a stored result may be explained by, in the order they are tried.
const MODES: [UpdateMode; 3] = [UpdateMode::Auto, UpdateMode::FunctionUpdate, UpdateMode::Manual];

/// What a sweep does about one function's runtime management mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeRead {
    /// The mode cannot change this function's compliance: not read.
    NotNeeded,
    /// Read it this sweep.
    Read,
    /// Config holds exactly the verdict this mode gives, and it is not this function's turn to be read:
    /// judged with it, so its evaluation is unchanged and not put.
    Carried(UpdateMode),
    /// Nothing stored explains it and the budget is spent: no evaluation this sweep.
    Deferred,
}

/// The plan for every function (same order as `functions`) with at most `budget` reads.
pub fn plan_mode_reads<F: Borrow<FunctionSnapshot>>(
    context: &Context<'_>,
    functions: &[F],
    stored: &BTreeMap<String, StoredResult>,
    budget: usize,
) -> Vec<ModeRead> {
    let mut plan: Vec<ModeRead> = functions
        .iter()
        .map(|function| {
            let function = function.borrow();
            if !context.mode_can_change_compliance(function) {
                return ModeRead::NotNeeded;
            }
            match stored
                .get(&function.name)
                .and_then(|held| mode_explaining(context, function, held))
            {
                Some(mode) => ModeRead::Carried(mode),
                None => ModeRead::Read,
            }
        })
        .collect();
    let days = days_since_epoch(context.today);
    let name = |i: usize| functions[i].borrow().name.as_str();

    // First reads: functions Config holds nothing for before those whose stored result no mode explains
    // (a failed read, say), each group in name order started at a point that moves every day, so that
    // reads failing day after day cannot keep the same functions waiting.
    let mut first: Vec<usize> = (0..plan.len()).filter(|&i| plan[i] == ModeRead::Read).collect();
    first.sort_by(|&a, &b| {
        (stored.contains_key(name(a)), name(a)).cmp(&(stored.contains_key(name(b)), name(b)))
    });
    let held_from = first.partition_point(|&i| !stored.contains_key(name(i)));
    let (never_held, unexplained) = first.split_at_mut(held_from);
    rotate_by_day(never_held, days, budget);
    rotate_by_day(unexplained, days, budget);
    for (k, &i) in first.iter().enumerate() {
        if k >= budget {
            plan[i] = ModeRead::Deferred;
        }
    }
    let left = budget.saturating_sub(first.len());

    // The rest of the budget re-reads carried modes: each function belongs to one of P day-slots by a hash
    // of its name (P = ⌈carried ÷ budget⌉, so a slot holds about a budget's worth), today's slot is read, so a
    // function's turn comes every P days whatever else is added or removed; a slot larger than what is left
    // today is read from a point that moves every P days.
    let carried: Vec<usize> = (0..plan.len())
        .filter(|&i| matches!(plan[i], ModeRead::Carried(_)))
        .collect();
    if left >= carried.len() {
        for &i in &carried {
            plan[i] = ModeRead::Read;
        }
        return plan;
    }
    let slots = carried.len().div_ceil(budget.max(1));
    let today_slot = days % slots;
    let mut slot: Vec<usize> = carried
        .into_iter()
        .filter(|&i| stable_hash(name(i)) % slots as u64 == today_slot as u64)
        .collect();
    slot.sort_by(|&a, &b| name(a).cmp(name(b)));
    rotate_by_day(&mut slot, days / slots, left);
    for &i in slot.iter().take(left) {
        plan[i] = ModeRead::Read;
    }
    plan
}

/// Days from 1970-01-01 to `today` (0 before it).
fn days_since_epoch(today: Date) -> usize {
    let days = today
        .since(Date::constant(1970, 1, 1))
        .map(|span| span.get_days())
        .unwrap_or(0);
    usize::try_from(days).unwrap_or(0)
}

/// Rotates `items` left by `step` places per `period`, so that a prefix of `step` items covers them all
/// over ⌈len ÷ step⌉ periods.
fn rotate_by_day(items: &mut [usize], period: usize, step: usize) {
    if !items.is_empty() {
        let by = period.wrapping_mul(step.max(1)) % items.len();
        items.rotate_left(by);
    }
}

/// FNV-1a over the name: the same slot for a function on every sweep and in every container (the
/// standard library's hasher is randomly keyed per process).
fn stable_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The mode whose verdict Config holds for `function`, if one does.
fn mode_explaining(
    context: &Context<'_>,
    function: &FunctionSnapshot,
    held: &StoredResult,
) -> Option<UpdateMode> {
    MODES.into_iter().find(|mode| {
        let mut assumed = function.clone();
        assumed.runtime_update_mode = Observed::Known(mode.clone());
        let (compliance, annotation) = context.judge(&ItemContent::Function(assumed));
        compliance.as_str() == held.compliance && annotation == held.annotation
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::catalog::Catalog;
    use crate::policy::Policy;
    use crate::verdict::PackageType;

    fn function(name: &str, runtime: &str) -> FunctionSnapshot {
        FunctionSnapshot {
            name: name.into(),
            package_type: PackageType::Zip,
            runtime: Some(runtime.into()),
            last_modified: None,
            tags: BTreeMap::new(),
            runtime_update_mode: Observed::NotNeeded,
        }
    }

    fn stored_as(context: &Context<'_>, function: &FunctionSnapshot, mode: UpdateMode) -> StoredResult {
        let mut read = function.clone();
        read.runtime_update_mode = Observed::Known(mode);
        let (compliance, annotation) = context.judge(&ItemContent::Function(read));
        StoredResult {
            compliance: compliance.as_str().into(),
            annotation,
        }
    }

    fn context(catalog: &Catalog, today: Date) -> Context<'_> {
        Context {
            policy: Policy::from_rule_parameters(None),
            catalog,
            today,
        }
    }

    #[test]
    fn first_reads_come_first_then_a_daily_slice_of_the_carried() {
        let catalog = Catalog::builtin().expect("catalog");
        let today = Date::constant(2026, 11, 26);
        let judge = context(&catalog, today);
        // 10 supported functions (the mode can change their verdict) and a deprecated one (it cannot).
        let mut functions: Vec<FunctionSnapshot> = (0..10)
            .map(|i| function(&format!("fn-{i}"), "python3.13"))
            .collect();
        functions.push(function("old", "python3.8"));
        let mut stored = BTreeMap::new();
        // fn-0..fn-5 held as read before (fn-5 pinned: Manual); fn-6 held with a failed read's verdict.
        for f in &functions[..5] {
            stored.insert(f.name.clone(), stored_as(&judge, f, UpdateMode::Auto));
        }
        stored.insert(
            "fn-5".into(),
            stored_as(&judge, &functions[5], UpdateMode::Manual),
        );
        let mut failed = functions[6].clone();
        failed.runtime_update_mode = Observed::Failed("AccessDenied".into());
        let (compliance, annotation) = judge.judge(&ItemContent::Function(failed));
        stored.insert(
            "fn-6".into(),
            StoredResult {
                compliance: compliance.as_str().into(),
                annotation,
            },
        );

        // Budget 6: fn-6..fn-9 (nothing stored explains them) first, then 2 of the 6 carried.
        let plan = plan_mode_reads(&judge, &functions, &stored, 6);
        assert_eq!(plan[10], ModeRead::NotNeeded);
        assert!(plan[6..10].iter().all(|d| *d == ModeRead::Read), "{plan:?}");
        let read_carried: Vec<usize> = (0..6).filter(|&i| plan[i] == ModeRead::Read).collect();
        assert_eq!(read_carried.len(), 2, "{plan:?}");
        assert!(
            (0..6)
                .filter(|i| !read_carried.contains(i))
                .all(|i| matches!(plan[i], ModeRead::Carried(_)))
        );
        assert_eq!(
            plan[5],
            if read_carried.contains(&5) {
                ModeRead::Read
            } else {
                ModeRead::Carried(UpdateMode::Manual)
            }
        );

        // Over three days the slices cover every carried function.
        let mut seen = BTreeSet::new();
        for day in 0..3 {
            let later = context(
                &catalog,
                today.checked_add(jiff::Span::new().days(day)).expect("date"),
            );
            let plan = plan_mode_reads(&later, &functions, &stored, 6);
            seen.extend((0..6).filter(|&i| plan[i] == ModeRead::Read));
        }
        assert_eq!(seen.len(), 6, "{seen:?}");

        // Budget 2: only 2 of the 4 first reads; the other 2 are deferred, no carried one is read.
        let plan = plan_mode_reads(&judge, &functions, &stored, 2);
        let count = |wanted: &ModeRead| plan.iter().filter(|d| *d == wanted).count();
        assert_eq!(count(&ModeRead::Read), 2);
        assert_eq!(count(&ModeRead::Deferred), 2);
        // A budget that covers everything reads everything the mode can change.
        let plan = plan_mode_reads(&judge, &functions, &stored, 100);
        assert_eq!(count_of(&plan, &ModeRead::Read), 10);
        // Nothing stored (the stored results could not be read): first reads only, up to the budget.
        let plan = plan_mode_reads(&judge, &functions, &BTreeMap::new(), 3);
        assert_eq!(count_of(&plan, &ModeRead::Read), 3);
        assert_eq!(count_of(&plan, &ModeRead::Deferred), 7);
    }

    #[test]
    fn every_carried_function_gets_its_turn_and_others_keep_theirs() {
        let catalog = Catalog::builtin().expect("catalog");
        let today = Date::constant(2026, 11, 26);
        let judge = context(&catalog, today);
        let functions: Vec<FunctionSnapshot> = (0..100)
            .map(|i| function(&format!("app-{i:03}"), "nodejs22.x"))
            .collect();
        let stored: BTreeMap<String, StoredResult> = functions
            .iter()
            .map(|f| (f.name.clone(), stored_as(&judge, f, UpdateMode::Auto)))
            .collect();
        let reads_on = |day: i64, functions: &[FunctionSnapshot]| -> BTreeSet<String> {
            let later = context(
                &catalog,
                today.checked_add(jiff::Span::new().days(day)).expect("date"),
            );
            let plan = plan_mode_reads(&later, functions, &stored, 40);
            assert!(count_of(&plan, &ModeRead::Read) <= 40);
            functions
                .iter()
                .zip(&plan)
                .filter(|(_, d)| **d == ModeRead::Read)
                .map(|(f, _)| f.name.clone())
                .collect()
        };
        // 100 carried, 40 a sweep: 3 slots of about 33; every function within two rounds of them.
        let seen: BTreeSet<String> = (0..6).flat_map(|day| reads_on(day, &functions)).collect();
        assert_eq!(seen.len(), 100);
        // A function added or removed moves no other function to another day.
        let fewer = &functions[1..];
        for day in 0..3 {
            let mut before = reads_on(day, &functions);
            before.remove("app-000");
            assert_eq!(before, reads_on(day, fewer), "day {day}");
        }
    }

    fn count_of(plan: &[ModeRead], wanted: &ModeRead) -> usize {
        plan.iter().filter(|d| *d == wanted).count()
    }
}
