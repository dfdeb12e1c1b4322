//! The aggregator: the organization's Config evaluations as a Parquet dataset for Athena.
//!
//! Built so far: the dataset's schema ([`schema`], defined once), the Athena DDL generated from it
//! ([`ddl`]), the row with its lifecycle columns ([`row`]), and Parquet snapshots in a local directory
//! with atomic publish ([`sink`]). Gathering from the Config aggregator and Organizations, the S3 sink
//! and the CLI/Lambda `run` come next (issue 5).

pub mod ddl;
pub mod row;
pub mod schema;
pub mod sink;
