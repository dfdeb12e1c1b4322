-- Non-compliant functions by OU and account, in the latest snapshot of the past week.
-- Who to talk to first: the accounts with the most functions out of policy.
SELECT
  ou_path,
  account_id,
  account_name,
  count_if(compliance_type = 'NON_COMPLIANT') AS non_compliant,
  count(*) AS functions,
  count_if(compliance_type IN ('COMPLIANT', 'NON_COMPLIANT')) AS evaluated,
  round(100.0 * count_if(compliance_type = 'NON_COMPLIANT')
    / nullif(count_if(compliance_type IN ('COMPLIANT', 'NON_COMPLIANT')), 0), 1) AS non_compliant_percent
FROM evaluations
WHERE dt = (
  SELECT max(dt) FROM evaluations
  WHERE dt >= date_format(date_add('day', -7, current_date), '%Y-%m-%d')
)
  AND resource_type = 'AWS::Lambda::Function'
GROUP BY ou_path, account_id, account_name
HAVING count_if(compliance_type = 'NON_COMPLIANT') > 0
ORDER BY non_compliant DESC, account_id
