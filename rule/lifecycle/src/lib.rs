//! The pure core of the Lambda runtime lifecycle rule: no AWS SDK, no async runtime, no CLI.
//!
//! [`verdict::evaluate`] is a pure function of (function, policy, catalog, date). Around it: the
//! catalog and its data ([`catalog`], `data/runtimes.json`), the rule parameters ([`policy`]), the
//! Config event and item ([`event`]), the evaluations an invocation produces ([`evaluation`]), which
//! functions of a sweep get their runtime management mode read ([`mode_reads`]), and
//! the wording of annotations ([`annotation`]). The `rule` and `aggregator` crates are the shells.

pub mod annotation;
pub mod catalog;
pub mod dates;
pub mod evaluation;
pub mod event;
pub mod mode_reads;
pub mod policy;
pub mod upgrades;
pub mod verdict;

pub use catalog::{Catalog, Phase, Runtime};
pub use evaluation::{Context, Evaluation, evaluate_offline};
pub use event::Invocation;
pub use policy::Policy;
pub use verdict::{ComplianceType, FunctionSnapshot, Verdict, evaluate};
