-- Functions whose runtime reaches a block date (function create, then function update) in the
-- future: what to upgrade, by when, to what. Latest snapshot of the past week; soonest first.
SELECT
  account_id,
  account_name,
  ou_path,
  region,
  resource_id,
  runtime,
  phase,
  next_block,
  next_block_date,
  date_diff('day', current_date, next_block_date) AS days_left,
  successor,
  latest_runtime,
  element_at(function_tags, 'team') AS team
FROM (
  SELECT
    *,
    CASE
      WHEN block_create_date >= current_date THEN 'function create'
      WHEN block_update_date >= current_date THEN 'function update'
    END AS next_block,
    CASE
      WHEN block_create_date >= current_date THEN block_create_date
      WHEN block_update_date >= current_date THEN block_update_date
    END AS next_block_date
  FROM evaluations
  WHERE dt = (
    SELECT max(dt) FROM evaluations
    WHERE dt >= date_format(date_add('day', -7, current_date), '%Y-%m-%d')
  )
    AND resource_type = 'AWS::Lambda::Function'
) AS latest
WHERE next_block_date IS NOT NULL
ORDER BY days_left, account_id, region, resource_id
