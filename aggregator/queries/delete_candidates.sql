-- Functions and alias-referenced versions not invoked at all in the 30 days before the snapshot
-- (invocations_30d = 0; NULL means not read, so not counted) on a runtime past support (deprecated or
-- blocked): candidates for deletion rather than upgrade. Latest snapshot of the past week; oldest code first.
SELECT
  account_id,
  account_name,
  region,
  resource_type,
  resource_id,
  qualifier,
  aliases,
  runtime,
  phase,
  code_last_modified,
  date_diff('day', CAST(code_last_modified AS date), current_date) AS age_days,
  compliance_type,
  element_at(function_tags, 'team') AS team
FROM evaluations
WHERE dt = (
  SELECT max(dt) FROM evaluations
  WHERE dt >= date_format(date_add('day', -7, current_date), '%Y-%m-%d')
)
  AND invocations_30d = 0
  AND phase <> 'supported'
ORDER BY code_last_modified NULLS LAST, account_id, region, resource_id, try_cast(qualifier AS integer) NULLS FIRST
