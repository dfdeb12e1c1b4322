/**
 * The alternative to the organization rule for Config-native remediation (organization rules cannot carry a
 * RemediationConfiguration): an AWS::Config::ConfigRule (CUSTOM_LAMBDA) in one account and region that invokes the
 * central rule Lambda of the admin account, plus its AWS::Config::RemediationConfiguration. The account needs the
 * member stack (member role, runbooks, Automation role, topic) first. Config allows one remediation configuration
 * per rule: TagAndNotify (manual by default), or UpgradeLambdaRuntime (automatic) when automaticUpgrades is on.
 */
import { Aws, Stack, StackProps } from 'aws-cdk-lib';
import * as config from 'aws-cdk-lib/aws-config';
import { Construct } from 'constructs';
import { runbooks } from './contracts';
import { names } from './names';
import { TRIGGER_TYPES } from './org-rule-stack';
import type { Settings } from './settings';

export interface PerAccountRuleStackProps extends StackProps {
  settings: Settings;
}

/** RemediationConfiguration parameters, each checked against the runbook's declared parameters. */
function remediationParameters(runbook: string, values: Record<string, unknown>): Record<string, unknown> {
  const found = runbooks().find((r) => r.name === runbook);
  if (!found) throw new Error(`cdk/runbooks/ has no ${runbook}.yaml`);
  const declared = (found.content.parameters ?? {}) as Record<string, { default?: unknown }>;
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    if (!(name in declared)) continue; // the runbook does not take it
    result[name] = value;
  }
  for (const [name, spec] of Object.entries(declared)) {
    if (!(name in result) && spec.default === undefined) {
      throw new Error(`runbook ${runbook} requires parameter ${name}, which the remediation cannot supply`);
    }
  }
  return result;
}

export class PerAccountRuleStack extends Stack {
  readonly rule: config.CfnConfigRule;
  readonly remediation: config.CfnRemediationConfiguration;

  constructor(scope: Construct, id: string, props: PerAccountRuleStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const n = names(s);
    const partition = Aws.PARTITION;

    this.rule = new config.CfnConfigRule(this, 'Rule', {
      configRuleName: s.ruleName,
      description: 'Lambda functions on deprecated or soon-deprecated runtimes (lambda-runtime-guard, central Lambda)',
      scope: { complianceResourceTypes: ['AWS::Lambda::Function'] },
      inputParameters: s.ruleParameters,
      maximumExecutionFrequency: s.maximumExecutionFrequency,
      source: {
        owner: 'CUSTOM_LAMBDA',
        sourceIdentifier: n.ruleFunctionArn(partition, this.region),
        sourceDetails: TRIGGER_TYPES.map((messageType) => ({
          eventSource: 'aws.config',
          messageType,
          maximumExecutionFrequency: messageType === 'ScheduledNotification' ? s.maximumExecutionFrequency : undefined,
        })),
      },
    });

    const automationRoleArn = `arn:${partition}:iam::${Aws.ACCOUNT_ID}:role/${n.automationRole}`;
    const upgrade = s.automaticUpgrades;
    const runbook = upgrade ? 'UpgradeLambdaRuntime' : 'TagAndNotify';
    const statics: Record<string, string> = {
      AutomationAssumeRole: automationRoleArn,
      TopicArn: `arn:${partition}:sns:${Aws.REGION}:${Aws.ACCOUNT_ID}:${n.topic}`,
      DryRun: 'false',
      ConfigRuleName: s.ruleName,
    };
    const values: Record<string, unknown> = { FunctionName: { ResourceValue: { Value: 'RESOURCE_ID' } } };
    for (const [name, value] of Object.entries(statics)) values[name] = { StaticValue: { Values: [value] } };
    this.remediation = new config.CfnRemediationConfiguration(this, 'Remediation', {
      configRuleName: s.ruleName,
      targetType: 'SSM_DOCUMENT',
      targetId: n.document(runbook),
      resourceType: 'AWS::Lambda::Function',
      automatic: upgrade || s.perAccountAutomaticRemediation,
      maximumAutomaticAttempts: 3,
      retryAttemptSeconds: 600,
      executionControls: { ssmControls: { concurrentExecutionRatePercentage: 10, errorPercentage: 10 } },
      parameters: remediationParameters(runbook, values),
    });
    this.remediation.addResourceDependency(this.rule);
  }
}
