//! The Config rule's shell around the pure core ([`lifecycle`]): the AWS calls ([`aws`]), the Lambda
//! handler ([`lambda`]) and the command line ([`cli`]). `src/main.rs` only wires them.

pub mod aws;
pub mod cli;
pub mod lambda;

pub use lifecycle;
