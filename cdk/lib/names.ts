/** Names shared by stacks that live in different accounts: one definition, used by both sides of a trust. */
import { runbooks } from './contracts';
import type { Settings } from './settings';

export const names = (s: Settings) => ({
  /** rule Lambda (regional name, one per rule region) */
  ruleFunction: `${s.prefix}-rule`,
  /** rule Lambda role: IAM is global, so one role per rule region */
  ruleRole: (region: string) => `${s.prefix}-rule-${region}`,
  ruleRoleArn: (partition: string, region: string) => `arn:${partition}:iam::${s.adminAccountId}:role/${s.prefix}-rule-${region}`,
  ruleFunctionArn: (partition: string, region: string) =>
    `arn:${partition}:lambda:${region}:${s.adminAccountId}:function:${s.prefix}-rule`,
  memberRole: s.memberRoleName,
  automationRole: `${s.prefix}-automation`,
  eventsRole: `${s.prefix}-start-automation`,
  topic: `${s.prefix}-findings`,
  /** the SSM document of a runbook: its declared name (cdk/runbooks/runbooks.json), else `<prefix>-<key>` */
  document: (key: string) => runbooks().find((r) => r.name === key)?.documentName ?? `${s.prefix}-${key}`,
  stackSet: `${s.prefix}-member`,
  aggregatorFunction: `${s.prefix}-aggregator`,
  /** the aggregator's role (admin account): the member reader role trusts this ARN */
  aggregatorRole: `${s.prefix}-aggregator`,
  aggregatorRoleArn: (partition: string) => `arn:${partition}:iam::${s.adminAccountId}:role/${s.prefix}-aggregator`,
  /** the reader role the aggregator assumes in each member account (AGGREGATOR_MEMBER_ROLE_NAME) */
  aggregatorMemberRole: `${s.prefix}-aggregator-reader`,
  /** the aggregator's ECS cluster and task definition family (aggregatorEngine=fargate) */
  aggregatorTask: `${s.prefix}-aggregator`,
  glueDatabase: s.prefix.replace(/-/g, '_'),
  workGroup: s.prefix,
});
