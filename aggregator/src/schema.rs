//! The Parquet schema of `<prefix>/evaluations/dt=YYYY-MM-DD/part-*.parquet`, defined once here
//! (the column contract in the README). The Athena DDL is generated from it and tested against it.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};

/// Table columns in order. `dt` is not in the files: it is the Hive partition of the path.
pub fn schema() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
            let time = |name: &str, nullable: bool| {
                Field::new(
                    name,
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    nullable,
                )
            };
            let date = |name: &str| Field::new(name, DataType::Date32, true);
            Arc::new(Schema::new(vec![
                text("account_id", false),
                text("account_name", true),
                text("ou_path", true),
                string_map("account_tags"),
                text("region", false),
                text("rule_name", false),
                text("resource_type", false),
                text("resource_id", false),
                text("function_arn", true),
                text("compliance_type", false),
                text("annotation", true),
                time("result_recorded_time", true),
                time("config_rule_invoked_time", true),
                text("runtime", true),
                text("runtime_family", true),
                text("package_type", true),
                string_list("architectures"),
                time("code_last_modified", true),
                string_map("function_tags"),
                text("phase", true),
                date("deprecation_date"),
                date("block_create_date"),
                date("block_update_date"),
                Field::new("days_to_fail", DataType::Int32, true),
                text("successor", true),
                text("latest_runtime", true),
                date("exempt_until"),
                text("qualifier", true),
                string_list("aliases"),
                string_list("blocking_layers"),
                Field::new("invocations_30d", DataType::Int64, true),
                date("last_invoked_date"),
                text("run_id", false),
                time("collected_at", false),
            ]))
        })
        .clone()
}

/// array<string>.
fn string_list(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        true,
    )
}

/// map<string,string> as Parquet writers and Athena expect it (entries of non-null keys).
fn string_map(name: &str) -> Field {
    let entries = Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, true),
    ]);
    Field::new(
        name,
        DataType::Map(
            Arc::new(Field::new("entries", DataType::Struct(entries), false)),
            false,
        ),
        true,
    )
}

/// The Athena (Hive DDL) type of an Arrow type used in [`schema`].
pub fn athena_type(data_type: &DataType) -> Option<String> {
    Some(match data_type {
        DataType::Utf8 => "string".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Date32 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::List(item) => format!("array<{}>", athena_type(item.data_type())?),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => {
                format!(
                    "map<{},{}>",
                    athena_type(fields[0].data_type())?,
                    athena_type(fields[1].data_type())?
                )
            }
            _ => return None,
        },
        _ => return None,
    })
}
