-- Layers that hold back runtime upgrades: layer versions a function uses whose compatible runtimes
-- exclude the successor of its runtime. One row per layer version, runtime and successor, with the
-- functions and accounts held back; the layers holding back the most functions first. Latest snapshot of the past week.
SELECT
  layer_arn,
  split_part(layer_arn, ':', 5) AS layer_account,
  runtime,
  successor,
  count(*) AS functions,
  count(DISTINCT account_id) AS accounts,
  count_if(compliance_type = 'NON_COMPLIANT') AS non_compliant,
  min(days_to_fail) AS days_to_fail,
  sum(count(*)) OVER (PARTITION BY layer_arn) AS layer_functions
FROM evaluations
CROSS JOIN UNNEST(blocking_layers) AS blocking (layer_arn)
WHERE dt = (
  SELECT max(dt) FROM evaluations
  WHERE dt >= date_format(date_add('day', -7, current_date), '%Y-%m-%d')
)
  AND resource_type = 'AWS::Lambda::Function'
  AND cardinality(blocking_layers) > 0
  AND successor IS NOT NULL
GROUP BY layer_arn, runtime, successor
ORDER BY layer_functions DESC, layer_arn, functions DESC, runtime
