-- Functions whose language runtime the customer patches: OS-only runtimes (provided.*) and
-- container images, with how long ago their code last changed. Latest snapshot of the past week.
SELECT
  account_id,
  account_name,
  region,
  resource_id,
  package_type,
  coalesce(runtime, 'container image') AS runtime,
  code_last_modified,
  date_diff('day', CAST(code_last_modified AS date), current_date) AS age_days,
  compliance_type,
  element_at(function_tags, 'team') AS team
FROM evaluations
WHERE dt = (
  SELECT max(dt) FROM evaluations
  WHERE dt >= date_format(date_add('day', -7, current_date), '%Y-%m-%d')
)
  AND resource_type = 'AWS::Lambda::Function'
  AND (runtime_family = 'provided' OR package_type = 'Image')
ORDER BY age_days DESC, account_id, region, resource_id
