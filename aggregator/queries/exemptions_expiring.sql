-- Exemptions (the rule's exemption tag, default `runtime-exempt-until`, value YYYY-MM-DD) that end
-- within the next 30 days: these functions turn NON_COMPLIANT when they do. Latest snapshot of the
-- past week. exempt_until is the exemption the rule honoured on the snapshot date (its own tag key).
SELECT
  account_id,
  account_name,
  region,
  resource_id,
  runtime,
  exempt_until,
  date_diff('day', current_date, exempt_until) AS days_left,
  successor,
  element_at(function_tags, 'team') AS team
FROM evaluations
WHERE dt = (
  SELECT max(dt) FROM evaluations
  WHERE dt >= date_format(date_add('day', -7, current_date), '%Y-%m-%d')
)
  AND resource_type = 'AWS::Lambda::Function'
  AND exempt_until BETWEEN current_date AND date_add('day', 30, current_date)
ORDER BY days_left, account_id, region, resource_id
