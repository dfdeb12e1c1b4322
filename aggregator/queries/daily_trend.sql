-- Compliance by day over the past 90 days: is the organization getting better?
-- Functions only (published versions have rows of their own: aliases_on_old_versions.sql).
SELECT
  dt,
  count(*) AS functions,
  count_if(compliance_type IN ('COMPLIANT', 'NON_COMPLIANT')) AS evaluated,
  count_if(compliance_type = 'NON_COMPLIANT') AS non_compliant,
  count_if(compliance_type = 'COMPLIANT') AS compliant,
  count(DISTINCT account_id) AS accounts,
  round(100.0 * count_if(compliance_type = 'NON_COMPLIANT')
    / nullif(count_if(compliance_type IN ('COMPLIANT', 'NON_COMPLIANT')), 0), 1) AS non_compliant_percent
FROM evaluations
WHERE dt >= date_format(date_add('day', -90, current_date), '%Y-%m-%d')
  AND resource_type = 'AWS::Lambda::Function'
GROUP BY dt
ORDER BY dt
