//! The aggregator: the organization's Config evaluations as a Parquet dataset for Athena.
//!
//! [`gather`] reads the Config aggregator and Organizations, [`row`] joins them with the rule's
//! catalog, [`sink`] encodes Parquet in bounded parts, [`output`] publishes one snapshot a day on S3 or
//! in a directory, [`run`] ties them together; [`schema`] and [`ddl`] define the dataset once.

pub mod ddl;
pub mod gather;
pub mod lambda;
pub mod layout;
pub mod output;
pub mod row;
pub mod run;
pub mod schema;
pub mod sink;
pub mod synthetic;
