-- Runtime mix in the latest snapshot of the past week: how many functions and accounts run each
-- runtime, and where each stands in its lifecycle. Container images have no runtime.
SELECT
  coalesce(runtime_family, 'container image') AS runtime_family,
  coalesce(runtime, 'container image') AS runtime,
  phase,
  count(*) AS functions,
  count(DISTINCT account_id) AS accounts,
  count_if(compliance_type = 'NON_COMPLIANT') AS non_compliant
FROM evaluations
WHERE dt = (
  SELECT max(dt) FROM evaluations
  WHERE dt >= date_format(date_add('day', -7, current_date), '%Y-%m-%d')
)
  AND resource_type = 'AWS::Lambda::Function'
GROUP BY 1, 2, 3
ORDER BY functions DESC, runtime
