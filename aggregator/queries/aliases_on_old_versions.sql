-- Aliases that still point at published versions on a runtime past support, or failing within the
-- warning window (warnDaysBefore, 180 days by default: change 180 here if the rule's parameter is set),
-- whatever runtime the function's $LATEST has moved to. Latest snapshot of the past week; soonest first.
WITH latest AS (
  SELECT * FROM evaluations
  WHERE dt = (
    SELECT max(dt) FROM evaluations
    WHERE dt >= date_format(date_add('day', -7, current_date), '%Y-%m-%d')
  )
)
SELECT
  v.account_id,
  v.account_name,
  v.region,
  v.resource_id AS function_name,
  v.qualifier AS version,
  v.aliases,
  v.runtime AS version_runtime,
  v.phase AS version_phase,
  v.days_to_fail,
  v.compliance_type,
  v.successor,
  f.runtime AS function_runtime,
  f.phase AS function_phase,
  element_at(v.function_tags, 'team') AS team
FROM latest AS v
LEFT JOIN latest AS f
  ON f.resource_type = 'AWS::Lambda::Function'
  AND f.account_id = v.account_id
  AND f.region = v.region
  AND f.rule_name = v.rule_name
  AND f.resource_id = v.resource_id
WHERE v.resource_type = 'AWS::Lambda::Version'
  AND (v.phase <> 'supported' OR v.days_to_fail <= 180)
ORDER BY v.days_to_fail, v.account_id, v.region, v.resource_id, try_cast(v.qualifier AS integer)
