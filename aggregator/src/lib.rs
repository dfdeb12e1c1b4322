//! The aggregator: the organization's Config evaluations as a Parquet dataset for Athena.
//!
//! Built so far: the dataset's schema ([`schema`], defined once), the Athena DDL generated from it
//! ([`ddl`]), and the row with its lifecycle columns ([`row`]). Gathering from the Config aggregator and
//! Organizations, and the Parquet sink to S3, come next (issue 5).

pub mod ddl;
pub mod row;
pub mod schema;
