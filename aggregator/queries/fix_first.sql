-- Non-compliant functions and alias-referenced versions, the most invoked first: what to fix first.
-- invocations_30d counts the 30 days before the snapshot; NULL (not read) is listed last, after 0.
-- Latest snapshot of the past week; the owner is the function's team tag, else the account's owner tag.
SELECT
  account_id,
  account_name,
  region,
  resource_type,
  resource_id,
  qualifier,
  invocations_30d,
  last_invoked_date,
  runtime,
  phase,
  successor,
  deprecation_date,
  block_create_date,
  block_update_date,
  days_to_fail,
  element_at(function_tags, 'team') AS team,
  element_at(account_tags, 'owner') AS account_owner
FROM evaluations
WHERE dt = (
  SELECT max(dt) FROM evaluations
  WHERE dt >= date_format(date_add('day', -7, current_date), '%Y-%m-%d')
)
  AND compliance_type = 'NON_COMPLIANT'
ORDER BY invocations_30d DESC NULLS LAST, account_id, region, resource_id,
  try_cast(qualifier AS integer) NULLS FIRST
