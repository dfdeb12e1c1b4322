//! Lambda runtime lifecycle compliance for AWS Config.
//!
//! Functional core: [`verdict::evaluate`] is a pure function of (function, policy, catalog, date).
//! Around it: the catalog ([`catalog`]), the rule parameters ([`policy`]), the Config event and
//! item ([`event`]), and the evaluations an invocation produces ([`evaluation`]). The binary
//! (`src/main.rs`, [`cli`]) is the imperative shell.

pub mod annotation;
pub mod aws;
pub mod catalog;
pub mod cli;
pub mod dates;
pub mod evaluation;
pub mod event;
pub mod lambda;
pub mod policy;
pub mod verdict;

pub use catalog::{Catalog, Phase, Runtime};
pub use evaluation::{Context, Evaluation, evaluate_offline};
pub use event::Invocation;
pub use policy::Policy;
pub use verdict::{ComplianceType, FunctionSnapshot, Verdict, evaluate};
