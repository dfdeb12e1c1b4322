//! The aggregator: the organization's Config evaluations as a Parquet dataset for Athena.
//!
//! [`gather`] reads the Config aggregator, [`organization`] the accounts (cached between runs), each
//! call held to a rate of its API family and counted ([`api`]); [`row`] joins them with the rule's
//! catalog, [`sink`] encodes Parquet in bounded parts, [`output`] publishes one snapshot a day on S3 or
//! in a directory, [`checkpoint`] lets a killed run resume, [`run`] ties them together; [`enrich`]
//! adds what still runs an old runtime (versions behind aliases, layer blockers, invocations) through a
//! reader role in the member accounts ([`members`]); [`schema`] and [`ddl`] define the dataset once.

pub mod api;
pub mod checkpoint;
pub mod ddl;
pub mod enrich;
pub mod gather;
pub mod lambda;
pub mod layout;
pub mod members;
pub mod organization;
pub mod output;
pub mod row;
pub mod run;
pub mod schema;
pub mod sink;
pub mod synthetic;
