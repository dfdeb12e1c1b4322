/**
 * Every cdk-nag (AwsSolutions) acknowledgement of the app, in one place. Each one is a single finding with the
 * pack-prefixed id (`AwsSolutions::AwsSolutions-IAM5[Resource::…]`, the only form cdk-nag v3 records as suppressed in
 * cdk.out/validation-report.json) and a reason naming the AWS API constraint that makes the wildcard necessary.
 * Findings not listed here fail `cdk synth` and the tests.
 */
import { CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { LambdaRuntimeGuard } from './app';
import type { MemberStack } from './member-stack';
import { dataset, runtimeUpgrades } from './contracts';
import { names } from './names';

export interface Acknowledgement {
  path: string;
  id: string;
  reason: string;
}

/** What this process acknowledged (for the tests and the report). */
export const acknowledged: Acknowledgement[] = [];

function ack(scope: IConstruct, finding: string, reason: string): void {
  const id = `AwsSolutions::${finding}`;
  Validations.of(scope).acknowledge({ id, reason });
  acknowledged.push({ path: scope.node.path, id, reason });
}

/** `<LogicalId.Arn>` as cdk-nag prints a GetAtt. */
function arnOf(element: IConstruct): string {
  const cfn = (element.node.defaultChild ?? element) as CfnElement;
  return `<${Stack.of(cfn).getLogicalId(cfn)}.Arn>`;
}

const NO_RESOURCE_LEVEL =
  'these actions do not support resource-level permissions (the Service Authorization Reference lists no resource type for ' +
  'config:PutEvaluations, config:GetResourceConfigHistory, config:DescribeConfigRules, lambda:ListFunctions, tag:GetResources, ' +
  'organizations:ListRoots/ListOrganizationalUnitsForParent/ListAccountsForParent/ListTagsForResource), so IAM requires Resource "*"; ' +
  'config:GetComplianceDetailsByConfigRule does take the ConfigRule type (config-rule/<rule id>, never a name: at most ' +
  'config-rule/* of the account), but the rule roles still grant it on "*" (the member template has no room for the extra ' +
  'statement under the 51,200-byte TemplateBody limit); the Automation role\'s is scoped';

/**
 * Why each Automation-role action is granted on "*": the Service Authorization Reference (list_config, "Actions defined by
 * AWS Config"; list_amazonresourcegrouptaggingapi) gives it no resource type, so IAM requires Resource "*". An action the
 * role grants on "*" without an entry here fails the synth (acknowledgeMember).
 */
const AUTOMATION_WILDCARD: Record<string, string> = {
  'config:DescribeConfigRules': 'config:DescribeConfigRules (ReconcileNonCompliant finds the rule by name) has no resource type',
  'config:GetComplianceDetailsByResource':
    'config:GetComplianceDetailsByResource (UpgradeLambdaRuntime checks the function is still NON_COMPLIANT) has no resource type',
  'tag:GetResources': 'tag:GetResources (ReconcileNonCompliant skips functions tagged for a human) has no resource type',
};

function automationWildcard(actions: string[]): string {
  const missing = actions.filter((a) => !(a in AUTOMATION_WILDCARD));
  if (missing.length > 0) throw new Error(`Automation role grants ${missing.join(', ')} on "*" without a reason in AUTOMATION_WILDCARD`);
  return `Resource "*" only where IAM requires it, per action: ${[...new Set(actions)].sort().map((a) => AUTOMATION_WILDCARD[a]).join('; ')}`;
}

const reason = {
  memberWildcard: `${NO_RESOURCE_LEVEL}; every other action in this policy is scoped`,
  ruleSts:
    'sts:AssumeRole must reach the member role in every account of the organization, and account ids are not known at ' +
    'synth (auto-deployment adds accounts); scoped to role/<member role name> and aws:ResourceOrgID = the organization',
  functionsAnyName:
    'the rule evaluates (and the runbooks remediate) every Lambda function of the account, whose names are not known ' +
    'at deploy time; scoped to function:* of this account (lambda:GetRuntimeManagementConfig and the runbooks\' lambda actions take a function ARN)',
  functionsAnyRegion:
    'IAM roles are global and created once per account (home region), while the runbooks run in every rule region; ' +
    'lambda actions are scoped to function:* of this account in any region',
  logStreams:
    'Lambda creates one log stream per execution environment with generated names; logs:CreateLogStream/PutLogEvents ' +
    'are scoped to the function\'s own log group (<group ARN>:*, the log-stream resource form)',
  catalogParameter:
    'ssm:GetParameter on the deployment\'s own parameter path (the rule reads the catalog overlay named in catalogSsmParameter); ' +
    'a path wildcard because the parameter name is chosen at run time under that prefix',
  evaluationObjects:
    'the aggregator writes one object per day under <prefix>/evaluations/dt=YYYY-MM-DD/ (a new key each day, and ' +
    'multipart uploads): s3:PutObject/AbortMultipartUpload are scoped to that key prefix of the reports bucket',
  topicAnyRegion:
    'the Automation role is global (created in the home region only) but TagAndNotify publishes to the findings topic of ' +
    'the region it runs in; scoped to the one topic name in this account, any region',
  automationDefinitions:
    'ssm:StartAutomationExecution is authorized on automation-definition/<document>:<version>; EventBridge starts ' +
    '$DEFAULT and the events role is global (home region only) while the rule runs in every region: scoped to our ' +
    'document names in this account',
  layers:
    'the upgrade runbook reads the layers a function uses (lambda:GetLayerVersion), which may belong to any account ' +
    '(public or shared layers) and any region the runbook runs in; layer ARNs are only known at run time',
  successorParameters:
    'the runbooks read the successor parameters the member stack writes under the deployment prefix; the Automation ' +
    'role is global, so the region is a wildcard; scoped to the prefix in this account',
  existingAggregator:
    'with createConfigAggregator=false the aggregator reads an existing organization aggregator, whose ARN ends in a ' +
    'generated id (config-aggregator/config-aggregator-<random>) unknown at synth: scoped to aggregators of this account and region',
  configRules:
    'config:GetComplianceDetailsByConfigRule takes the ConfigRule resource type, arn:<partition>:config:<region>:<account>:' +
    'config-rule/<ConfigRuleId>: a rule\'s ARN ends in its generated id (config-rule/config-rule-<id>), never its name, and ' +
    'ReconcileNonCompliant resolves the name at run time (an organization rule\'s copy is OrgConfigRule-<name>-<suffix>), so no ' +
    'name pattern is possible; the role is global (home region only) while the runbooks run in every rule region: scoped to ' +
    'config-rule/* of this account, any region',
  childAutomation:
    'the runbooks start child runs (aws:executeAutomation: UpgradeLambdaRuntime runs itself once it has resolved the ' +
    'target runtime, ReconcileNonCompliant runs UpgradeLambdaRuntime or TagAndNotify per function); ' +
    'ssm:StartAutomationExecution is authorized on automation-definition/<document>:<version> and the role is global: ' +
    'scoped to those document names in this account, any region and version',
  readerMetrics:
    'cloudwatch:GetMetricData has no resource-level permissions (Service Authorization Reference: resource "*"); the ' +
    'reader role grants only read actions from cdk/contracts/iam.json aggregator_member',
  readerLayers:
    'functions use layer versions of other accounts (shared layers, AWS-published ones); GetLayerVersionByArn is ' +
    'authorized as lambda:GetLayerVersion on that layer version, whose account is not known at synth: any layer version, read only',
  aggregatorSts:
    'sts:AssumeRole must reach the aggregator reader role in every account of the organization, and account ids are not ' +
    'known at synth (auto-deployment adds accounts); scoped to role/<reader role name> and aws:ResourceOrgID = the organization',
  ecrAuthorizationToken:
    'the aggregator task\'s execution role (generated by CDK for the image asset and the awslogs driver) needs ' +
    'ecr:GetAuthorizationToken, which has no resource-level permissions (the Service Authorization Reference lists no ' +
    'resource type for it), so IAM requires Resource "*"; the image pulls are scoped to the CDK asset repository and ' +
    'logs:CreateLogStream/PutLogEvents to the task\'s own log group',
  deadLetterQueue:
    'this queue is the dead-letter queue itself: of the EventBridge schedule target (DeadLetterConfig: schedule events ' +
    'whose RunTask could not be delivered) and the target of the failed-run rule (task stopped with a failure); ' +
    'cdk-nag recognizes only SQS redrive and Lambda DeadLetterConfig as dead-letter use, and a dead-letter queue of ' +
    'this one would only move the same messages',
  taskEnvironment:
    'the container gets exactly the aggregator Lambda\'s environment variables (cdk/contracts/environment.json: the ' +
    'Config aggregator name, the rule name, the s3:// output and the rule parameters JSON) — configuration, no secrets, ' +
    'values this template holds anyway; SSM or Secrets Manager would add look-ups and permissions for values that ' +
    'change only with a deployment of this stack',
  configAggregatorRole:
    'AWS Config organization aggregators require the AWS managed policy AWSConfigRoleForOrganizations (the documented ' +
    'role for OrganizationAggregationSource; it grants only organizations:Describe*/List*)',
};

function acknowledgeMember(stack: MemberStack, s: LambdaRuntimeGuard['settings']): void {
  const n = names(s);
  const functions = 'Resource::arn:<AWS::Partition>:lambda:*:<AWS::AccountId>:function:*';
  const member = stack.node.findChild('RuleMemberRole');
  const reader = stack.node.findChild('AggregatorReaderRole');
  ack(reader, 'AwsSolutions-IAM5[Resource::*]', reason.readerMetrics);
  ack(reader, `AwsSolutions-IAM5[${functions}]`, reason.functionsAnyName);
  ack(reader, 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:*:*:layer:*:*]', reason.readerLayers);
  const automation = stack.node.findChild('AutomationRole');
  const events = stack.node.findChild('EventsRole');
  const kinds = stack.automationResourceKinds;
  ack(member, 'AwsSolutions-IAM5[Resource::*]', reason.memberWildcard);
  ack(member, `AwsSolutions-IAM5[${functions}]`, reason.functionsAnyName);
  ack(automation, `AwsSolutions-IAM5[${functions}]`, reason.functionsAnyRegion);
  ack(automation, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sns:*:<AWS::AccountId>:${n.topic}]`, reason.topicAnyRegion);
  const definition = (runbook: string) =>
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:*:<AWS::AccountId>:automation-definition/${n.document(runbook)}:*]`;
  for (const runbook of stack.startedRunbooks) ack(events, definition(runbook), reason.automationDefinitions);
  if (kinds.has('definition')) for (const runbook of stack.childRunbooks) ack(automation, definition(runbook), reason.childAutomation);
  if (kinds.has('any')) ack(automation, 'AwsSolutions-IAM5[Resource::*]', automationWildcard(stack.automationWildcardActions));
  if (kinds.has('configRule')) {
    ack(automation, 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:config:*:<AWS::AccountId>:config-rule/*]', reason.configRules);
  }
  if (kinds.has('layer')) ack(automation, 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:*:*:layer:*:*]', reason.layers);
  if (kinds.has('execution')) {
    ack(automation, 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:*:<AWS::AccountId>:automation-execution/*]', reason.automationDefinitions);
  }
  if (kinds.has('parameter')) {
    ack(automation, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:*:<AWS::AccountId>:parameter${ruleSsmPrefix()}/*]`, reason.successorParameters);
  }
}

export function acknowledge(built: LambdaRuntimeGuard): void {
  acknowledged.length = 0;
  const s = built.settings;
  const n = names(s);
  for (const stack of built.orgRules) {
    ack(stack.role, 'AwsSolutions-IAM5[Resource::*]', reason.memberWildcard);
    ack(stack.role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/${n.memberRole}]`, reason.ruleSts);
    ack(stack.role, 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]', reason.functionsAnyName);
    ack(stack.role, `AwsSolutions-IAM5[Resource::${arnOf(stack.function.logGroup)}:*]`, reason.logStreams);
    if (!s.ruleParameters.catalogSsmParameter) {
      ack(stack.role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${ruleSsmPrefix()}/*]`, reason.catalogParameter);
    }
  }
  for (const stack of [built.member, ...built.managementMembers]) acknowledgeMember(stack, s);
  const r = built.reporting;
  ack(r.role, 'AwsSolutions-IAM5[Resource::*]', reason.memberWildcard);
  if (r.function) ack(r.role, `AwsSolutions-IAM5[Resource::${arnOf(r.function.logGroup)}:*]`, reason.logStreams);
  ack(r.role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/${n.aggregatorMemberRole}]`, reason.aggregatorSts);
  if (r.task) {
    ack(r.task.taskDefinition.obtainExecutionRole(), 'AwsSolutions-IAM5[Resource::*]', reason.ecrAuthorizationToken);
    ack(r.deadLetterQueue, 'AwsSolutions-SQS3', reason.deadLetterQueue);
    ack(r.task.taskDefinition, 'AwsSolutions-ECS2', reason.taskEnvironment);
  }
  if (!s.ruleParameters.catalogSsmParameter) {
    ack(r.role, `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter${ruleSsmPrefix()}/*]`, reason.catalogParameter);
  }
  ack(r.role, `AwsSolutions-IAM5[Resource::${arnOf(r.bucket)}/${s.reportsPrefix ? `${s.reportsPrefix}/` : ''}${evaluationsPrefix()}*]`, reason.evaluationObjects);
  const aggregatorRole = r.node.tryFindChild('ConfigAggregatorRole');
  if (!aggregatorRole) {
    ack(r.role, 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:config:<AWS::Region>:<AWS::AccountId>:config-aggregator/*]', reason.existingAggregator);
  } else {
    ack(aggregatorRole, 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSConfigRoleForOrganizations]', reason.configAggregatorRole);
  }
}

function ruleSsmPrefix(): string {
  return runtimeUpgrades().ssm_prefix;
}
function evaluationsPrefix(): string {
  return dataset().layout.prefix;
}
