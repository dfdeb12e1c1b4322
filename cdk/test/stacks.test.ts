/**
 * One app (cdk.json's example context, stand-in zips, cdk-nag on) and assertions on every stack. Template.fromStack
 * runs the AwsSolutions checks and throws on any unacknowledged finding, so each test also proves "no violation".
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import * as YAML from 'yaml';
import {
  dataset,
  environmentContract,
  iamActions,
  partitionKeys,
  queries,
  REPO_DIR,
  runbooks,
  runtimeUpgrades,
} from '../lib/contracts';
import { compactJoins, memberTemplate, memberTemplateBody, TEMPLATE_BODY_LIMIT } from '../lib/member-stackset-stack';
import { names } from '../lib/names';
import { acknowledged } from '../lib/nag-acknowledgements';
import { TRIGGER_TYPES } from '../lib/org-rule-stack';
import { tableName } from '../lib/reporting-stack';
import { Json, only, policyActions, policyStatements, resources, sorted, template, testApp } from './helpers';

const built = testApp();
const s = built.settings;
const n = names(s);
const [firstRule] = built.orgRules;
const orgRule = template(firstRule);
const member = template(built.member);
const reporting = template(built.reporting);

const noWildcardActions = (actions: string[]) => assert.ok(actions.every((a) => !a.includes('*')), `wildcard in ${actions}`);

// ------------------------------------------------------------------------------------------------ org rule

test('org rule: one stack per rule region, each with its own Lambda and rule', () => {
  assert.deepEqual(built.orgRules.map((r) => r.region), s.ruleRegions);
  for (const stack of built.orgRules) template(stack).resourceCountIs('AWS::Config::OrganizationConfigRule', 1);
});

test('org rule: triggers, scope, InputParameters, frequency, DependsOn the permission', () => {
  const rules = resources(orgRule, 'AWS::Config::OrganizationConfigRule');
  const [rule] = Object.values(rules) as Json[];
  const meta = rule.Properties.OrganizationCustomRuleMetadata;
  assert.equal(rule.Properties.OrganizationConfigRuleName, s.ruleName);
  assert.deepEqual(sorted(meta.OrganizationConfigRuleTriggerTypes), sorted([
    'ConfigurationItemChangeNotification',
    'OversizedConfigurationItemChangeNotification',
    'ScheduledNotification',
  ]));
  assert.deepEqual(meta.ResourceTypesScope, ['AWS::Lambda::Function']);
  assert.deepEqual(JSON.parse(meta.InputParameters), s.ruleParameters);
  assert.deepEqual(JSON.parse(meta.InputParameters), (built.app.node.tryGetContext('ruleParameters')));
  assert.equal(meta.MaximumExecutionFrequency, s.maximumExecutionFrequency);
  const [functionId] = Object.keys(resources(orgRule, 'AWS::Lambda::Function'));
  assert.deepEqual(meta.LambdaFunctionArn, { 'Fn::GetAtt': [functionId, 'Arn'] });
  const [permissionId] = Object.keys(resources(orgRule, 'AWS::Lambda::Permission'));
  assert.ok((rule.DependsOn ?? []).includes(permissionId), `DependsOn ${JSON.stringify(rule.DependsOn)} lacks ${permissionId}`);
});

test('org rule: Config may invoke the function (no SourceAccount: members invoke it)', () => {
  const permission = only(orgRule, 'AWS::Lambda::Permission');
  assert.equal(permission.Properties.Principal, 'config.amazonaws.com');
  assert.equal(permission.Properties.Action, 'lambda:InvokeFunction');
  assert.equal(permission.Properties.SourceAccount, undefined);
});

test('org rule: Lambda is provided.al2023 arm64 with RULE_MEMBER_ROLE_NAME and a log group with retention', () => {
  const fn = only(orgRule, 'AWS::Lambda::Function');
  assert.equal(fn.Properties.Runtime, 'provided.al2023');
  assert.deepEqual(fn.Properties.Architectures, ['arm64']);
  assert.equal(fn.Properties.Handler, 'bootstrap');
  // Lambda's most: a paced sweep of a large account-region takes minutes (see org-rule-stack.ts).
  assert.equal(fn.Properties.Timeout, 900);
  const names = environmentContract().rule.map((v) => v.name);
  const env = fn.Properties.Environment.Variables;
  assert.deepEqual(Object.keys(env).filter((k) => !names.includes(k)), [], 'variables the rule does not read');
  assert.equal(env[names.find((name) => name.endsWith('MEMBER_ROLE_NAME'))!], s.memberRoleName);
  const logs = only(orgRule, 'AWS::Logs::LogGroup');
  assert.equal(logs.Properties.RetentionInDays, s.logRetentionDays);
  assert.equal(logs.Properties.LogGroupName, `/aws/lambda/${fn.Properties.FunctionName}`);
});

test('org rule: role = iam.json "rule" actions + sts:AssumeRole on the member role in the organization only', () => {
  const role = only(orgRule, 'AWS::IAM::Role');
  assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no managed policies');
  const expected = sorted(new Set([...iamActions('rule'), 'sts:AssumeRole']));
  const actual = policyActions(role, 'contract');
  noWildcardActions(actual);
  assert.deepEqual(actual, expected);
  const assume = policyStatements(role, 'contract').find((st: Json) => st.Action === 'sts:AssumeRole');
  assert.deepEqual(assume.Resource, { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::*:role/${s.memberRoleName}`]] });
  assert.deepEqual(assume.Condition, { StringEquals: { 'aws:ResourceOrgID': s.organizationId } });
  assert.deepEqual(policyActions(role, 'logs'), ['logs:CreateLogStream', 'logs:PutLogEvents']);
  assert.deepEqual(role.Properties.Policies.map((p: Json) => p.PolicyName).sort(), ['contract', 'logs']);
});

// ------------------------------------------------------------------------------------------------ member template

test('member: no assets, Rules, Parameters, Lambda or CDK bootstrap check in the template', () => {
  const body = memberTemplate(built.member) as Json;
  assert.equal(body.Rules, undefined);
  assert.equal(body.Parameters, undefined);
  assert.equal(JSON.stringify(body).includes('cdk-bootstrap'), false);
  member.resourceCountIs('AWS::Lambda::Function', 0);
  assert.equal(built.app.synth().getStackArtifact(built.member.artifactId).assets.length, 0);
});

test('member: rule member role trusts the admin account only with the rule roles\' ARNs and the organization', () => {
  const role = member.findResources('AWS::IAM::Role', { Properties: { RoleName: s.memberRoleName } });
  const [only1] = Object.values(role) as Json[];
  assert.ok(only1, 'member role named RULE_MEMBER_ROLE_NAME');
  assert.equal(only1.Condition, 'IsHomeRegion');
  assert.deepEqual(only1.Properties.AssumeRolePolicyDocument.Statement, [
    {
      Action: 'sts:AssumeRole',
      Effect: 'Allow',
      Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${s.adminAccountId}:root`]] } },
      Condition: {
        ArnEquals: {
          'aws:PrincipalArn': s.ruleRegions.map((region) => ({
            'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${s.adminAccountId}:role/${n.ruleRole(region)}`]],
          })),
        },
        StringEquals: { 'aws:PrincipalOrgID': s.organizationId },
      },
    },
  ]);
  const actual = policyActions(only1, 'contract');
  noWildcardActions(actual);
  assert.deepEqual(actual, iamActions('rule_member'));
  // the org rule's role names are the ones the trust pins
  for (const stack of built.orgRules) {
    const r = only(template(stack), 'AWS::IAM::Role');
    assert.equal(r.Properties.RoleName, n.ruleRole(stack.region));
  }
});

test('member: aggregator reader role trusts only the aggregator role\'s ARN in the organization; read-only contract actions', () => {
  const roles = member.findResources('AWS::IAM::Role', { Properties: { RoleName: n.aggregatorMemberRole } });
  const [role] = Object.values(roles) as Json[];
  assert.ok(role, 'reader role named AGGREGATOR_MEMBER_ROLE_NAME');
  assert.equal(role.Condition, 'IsHomeRegion');
  assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement, [
    {
      Action: 'sts:AssumeRole',
      Effect: 'Allow',
      Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${s.adminAccountId}:root`]] } },
      Condition: {
        ArnEquals: {
          'aws:PrincipalArn': [{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${s.adminAccountId}:role/${n.aggregatorRole}`]] }],
        },
        StringEquals: { 'aws:PrincipalOrgID': s.organizationId },
      },
    },
  ]);
  const actual = policyActions(role, 'contract');
  noWildcardActions(actual);
  assert.deepEqual(actual, iamActions('aggregator_member'));
  assert.deepEqual(actual, [
    'cloudwatch:GetMetricData',
    'lambda:GetFunctionConfiguration',
    'lambda:GetLayerVersion',
    'lambda:ListVersionsByFunction',
  ]);
  for (const st of policyStatements(role, 'contract')) {
    const actions: string[] = Array.isArray(st.Action) ? st.Action : [st.Action];
    const text = JSON.stringify(st.Resource);
    if (actions.some((a) => a.startsWith('lambda:'))) {
      // this account's functions and layer versions, nothing else
      assert.equal(st.Resource.length, 2, text);
      assert.ok(text.includes(':function:*') && text.includes(':layer:*:*'), text);
    } else assert.deepEqual(st.Resource, '*');
  }
  // the aggregator's role is the one the trust pins
  const aggregatorRole = Object.values(reporting.findResources('AWS::IAM::Role', { Properties: { RoleName: n.aggregatorRole } }));
  assert.equal(aggregatorRole.length, 1);
});

test('member: Automation role = the runbooks\' declared IAM lists, home region only', () => {
  const roles = member.findResources('AWS::IAM::Role', { Properties: { RoleName: n.automationRole } });
  const [role] = Object.values(roles) as Json[];
  assert.equal(role.Condition, 'IsHomeRegion');
  const expected = sorted(new Set(runbooks().flatMap((r) => r.iamActions)));
  const actual = policyActions(role, 'runbooks');
  noWildcardActions(actual);
  assert.deepEqual(actual, expected);
  assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal, { Service: 'ssm.amazonaws.com' });
  // StartAutomationExecution only on the documents the runbooks' aws:executeAutomation steps start:
  // UpgradeLambdaRuntime (itself, with the resolved target; and per function from the reconciliation) and
  // TagAndNotify (per function from the reconciliation) — never the reconciliation or SetRuntimeUpdateModeAuto.
  const start = policyStatements(role, 'runbooks').find((st: Json) => [st.Action].flat().includes('ssm:StartAutomationExecution'));
  assert.deepEqual(built.member.childRunbooks, ['TagAndNotify', 'UpgradeLambdaRuntime']);
  const allowed = JSON.stringify(start.Resource);
  for (const book of runbooks()) {
    const startable = built.member.childRunbooks.includes(book.name);
    assert.equal(allowed.includes(`automation-definition/${n.document(book.name)}:*`), startable, book.name);
  }
});

test('member: Automation role — "*" only for actions without a resource type, Config rules of this account, PassRole to SSM only', () => {
  const roles = member.findResources('AWS::IAM::Role', { Properties: { RoleName: n.automationRole } });
  const [role] = Object.values(roles) as Json[];
  const statements = policyStatements(role, 'runbooks');
  const granting = (action: string) => statements.filter((st: Json) => [st.Action].flat().includes(action));
  // exactly the actions the Service Authorization Reference gives no resource type are on "*"
  const any = statements.filter((st: Json) => st.Resource === '*');
  assert.equal(any.length, 1);
  assert.deepEqual(sorted([any[0].Action].flat()), ['config:DescribeConfigRules', 'config:GetComplianceDetailsByResource', 'tag:GetResources']);
  assert.deepEqual(built.member.automationWildcardActions.slice().sort(), sorted([any[0].Action].flat()));
  // GetComplianceDetailsByConfigRule: ConfigRule (config-rule/<rule id>) of this account, any region, no "*"
  const byRule = granting('config:GetComplianceDetailsByConfigRule');
  assert.equal(byRule.length, 1);
  assert.deepEqual(byRule[0].Action, 'config:GetComplianceDetailsByConfigRule');
  assert.deepEqual(byRule[0].Resource, {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':config:*:', { Ref: 'AWS::AccountId' }, ':config-rule/*']],
  });
  // iam:PassRole: the Automation role itself, and only to SSM (Automation starts the child runbooks with it)
  const pass = granting('iam:PassRole');
  assert.equal(pass.length, 1);
  assert.deepEqual(pass[0].Action, 'iam:PassRole');
  assert.deepEqual(pass[0].Resource, {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, `:role/${n.automationRole}`]],
  });
  assert.deepEqual(pass[0].Condition, { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } });
  // no other statement carries a condition
  for (const st of statements) if (st !== pass[0]) assert.equal(st.Condition, undefined, JSON.stringify(st.Action));
  // the same with Template assertions on the synthesized template
  member.hasResourceProperties('AWS::IAM::Role', {
    RoleName: n.automationRole,
    Policies: [Match.objectLike({
      PolicyName: 'runbooks',
      PolicyDocument: Match.objectLike({
        // (arrayWith keeps order: statements are sorted by their first action)
        Statement: Match.arrayWith([
          { Action: 'config:GetComplianceDetailsByConfigRule', Effect: 'Allow', Resource: byRule[0].Resource },
          { Action: 'iam:PassRole', Effect: 'Allow', Resource: pass[0].Resource, Condition: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } } },
        ]),
      }),
    })],
  });
  // the nag acknowledgement of "*" names each of those actions, and the config-rule wildcard has its own reason
  const automationAcks = acknowledged.filter((a) => a.path === built.member.node.findChild('AutomationRole').node.path);
  const star = automationAcks.find((a) => a.id === 'AwsSolutions::AwsSolutions-IAM5[Resource::*]');
  assert.ok(star, 'the "*" acknowledgement');
  for (const action of [any[0].Action].flat()) assert.ok(star.reason.includes(`${action} (`), `${action} in ${star.reason}`);
  assert.ok(!star.reason.includes('config:GetComplianceDetailsByConfigRule'), star.reason);
  const rules = automationAcks.find((a) => a.id.endsWith(':config-rule/*]'));
  assert.ok(rules && /ConfigRuleId/.test(rules.reason) && /never its name/.test(rules.reason), rules?.reason);
});

test('member: every runbook is an Automation document with its file\'s content, YAML, NewVersion, stable name', () => {
  const docs = Object.values(resources(member, 'AWS::SSM::Document')) as Json[];
  const books = runbooks();
  assert.equal(docs.length, books.length);
  for (const book of books) {
    const doc = docs.find((d) => d.Properties.Name === n.document(book.name));
    assert.ok(doc, `document for ${book.name}`);
    assert.equal(doc.Properties.DocumentType, 'Automation');
    assert.equal(doc.Properties.DocumentFormat, 'YAML');
    assert.equal(doc.Properties.UpdateMethod, 'NewVersion');
    assert.deepEqual(doc.Properties.Content, YAML.parse(fs.readFileSync(book.file, 'utf8')));
  }
});

test('member: successor and upgrade-target parameters equal runtime-upgrades.json', () => {
  const upgrades = runtimeUpgrades();
  const params = Object.values(resources(member, 'AWS::SSM::Parameter')) as Json[];
  const byName = new Map<string, string>(params.map((p) => [p.Properties.Name, p.Properties.Value]));
  const expected = new Map<string, string>();
  for (const [rt, target] of Object.entries(upgrades.successors)) expected.set(`${upgrades.ssm_prefix}/successor/${rt}`, target);
  for (const [rt, targets] of Object.entries(upgrades.allowed_targets)) {
    if (targets.length > 0) expected.set(`${upgrades.ssm_prefix}/upgrade-targets/${rt}`, `,${targets.join(',')},`);
  }
  assert.deepEqual(new Map([...byName].sort()), new Map([...expected].sort()));
  for (const p of params) assert.equal(p.Properties.Type, 'String');
  // never a family change (go1.x → provided.*)
  for (const [rt, target] of Object.entries(upgrades.successors)) assert.ok(!rt.startsWith('go') && !target.startsWith('provided'), rt);
});

test('member: findings topic is KMS-encrypted and TLS-only', () => {
  const topic = only(member, 'AWS::SNS::Topic');
  assert.equal(topic.Properties.TopicName, n.topic);
  assert.equal(topic.Properties.KmsMasterKeyId, 'alias/aws/sns');
  member.hasResourceProperties('AWS::SNS::TopicPolicy', {
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
  });
});

test('member: compliance-change rule = the wiring file\'s pattern and transformer, targets $DEFAULT', () => {
  const rule = Object.values(member.findResources('AWS::Events::Rule', { Properties: { EventPattern: Match.anyValue() } }))[0] as Json;
  const pattern = rule.Properties.EventPattern;
  assert.deepEqual(pattern.source, ['aws.config']);
  assert.deepEqual(pattern['detail-type'], ['Config Rules Compliance Change']);
  assert.deepEqual(pattern.detail.configRuleName, [{ prefix: `OrgConfigRule-${s.ruleName}-` }]);
  assert.deepEqual(pattern.detail.newEvaluationResult, { complianceType: ['NON_COMPLIANT'] });
  assert.deepEqual(pattern.detail.resourceType, ['AWS::Lambda::Function']);
  assert.deepEqual(pattern, built.member.wiring.pattern);
  const targets = rule.Properties.Targets as Json[];
  assert.deepEqual(targets.map((t) => t.Id).sort(), built.member.wiring.targets.map((t) => t.runbook).sort());
  // placeholders filled; upgrades are dry runs unless automaticUpgrades is on
  const templates = JSON.stringify(targets.map((t) => t.InputTransformer.InputTemplate));
  assert.doesNotMatch(templates, /%[A-Z_]+%/);
  if (templates.includes('DryRun')) assert.match(templates, /DryRun\\": \[\\"true\\"\]/);
  for (const target of targets) {
    assert.deepEqual(target.Arn, {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' },
        `:automation-definition/${built.member.wiring.targets.find((w) => w.runbook === target.Id)!.document}:$DEFAULT`]],
    });
    const wiring = built.member.wiring.targets.find((t) => t.runbook === target.Id)!;
    assert.deepEqual(target.InputTransformer.InputPathsMap, wiring.inputPathsMap);
    assert.ok(JSON.stringify(target.InputTransformer.InputTemplate).includes('<'), 'input template uses an input path');
  }
  // the events role may start exactly these documents and pass only the Automation role
  const role = Object.values(member.findResources('AWS::IAM::Role', { Properties: { RoleName: n.eventsRole } }))[0] as Json;
  assert.deepEqual(policyActions(role, 'start'), ['iam:PassRole', 'ssm:StartAutomationExecution']);
});

test('member: the management account gets the same template as a plain stack per rule region', () => {
  const body = memberTemplate(built.member) as Json;
  const strip = (t: Json) => JSON.parse(JSON.stringify(t.Resources, (k, v) => (k === 'Metadata' ? undefined : v)));
  assert.deepEqual(built.managementMembers.map((m) => m.region).sort(), [...s.ruleRegions].sort());
  for (const stack of built.managementMembers) {
    assert.equal(stack.account, s.managementAccountId);
    assert.deepEqual(strip(template(stack).toJSON()), strip(body));
  }
});

test('member: daily reconciliation = a schedule starting ReconcileNonCompliant $DEFAULT with the wiring file\'s input', () => {
  const rules = member.findResources('AWS::Events::Rule', { Properties: { ScheduleExpression: Match.anyValue() } });
  const [rule] = Object.values(rules) as Json[];
  assert.ok(rule, 'a scheduled rule');
  const r = built.member.wiring.reconciliation!;
  assert.equal(r.runbook, 'ReconcileNonCompliant');
  assert.equal(r.document, n.document('ReconcileNonCompliant'));
  assert.equal(rule.Properties.ScheduleExpression, 'cron(30 7 * * ? *)');
  assert.equal(rule.Properties.State, 'ENABLED');
  const [target] = rule.Properties.Targets as Json[];
  assert.equal(rule.Properties.Targets.length, 1);
  assert.equal(target.Id, 'ReconcileNonCompliant');
  assert.deepEqual(target.Arn, {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ssm:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' },
      `:automation-definition/${n.document('ReconcileNonCompliant')}:$DEFAULT`]],
  });
  assert.deepEqual(target.RoleArn, {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, `:role/${n.eventsRole}`]],
  });
  // the input: placeholders filled, CloudFormation references resolved as the deployment would
  const [, parts] = target.Input['Fn::Join'];
  const text = (parts as Json[]).map((p) => (typeof p === 'string' ? p
    : ({ 'AWS::Partition': 'aws', 'AWS::Region': 'us-east-1', 'AWS::AccountId': '123456789012' } as Record<string, string>)[p.Ref])).join('');
  assert.doesNotMatch(text, /%[A-Z_]+%/);
  assert.deepEqual(JSON.parse(text), {
    ConfigRuleName: [s.ruleName],
    RemediationDocument: [n.document('TagAndNotify')], // automatic upgrades off: the safe default
    DryRun: ['true'],
    TopicArn: [`arn:aws:sns:us-east-1:123456789012:${n.topic}`],
    AutomationAssumeRole: [`arn:aws:iam::123456789012:role/${n.automationRole}`],
  });
  // every key is a parameter of the runbook it starts
  const reconcile = runbooks().find((b) => b.name === 'ReconcileNonCompliant')!;
  const declared = Object.keys(reconcile.content.parameters as Json);
  for (const key of Object.keys(JSON.parse(text))) assert.ok(declared.includes(key), key);
  // the events role may start it, with the Automation role passed
  const role = Object.values(member.findResources('AWS::IAM::Role', { Properties: { RoleName: n.eventsRole } }))[0] as Json;
  const start = policyStatements(role, 'start').find((st: Json) => st.Action === 'ssm:StartAutomationExecution');
  const startable = JSON.stringify(start.Resource);
  for (const book of ['ReconcileNonCompliant', 'TagAndNotify', 'UpgradeLambdaRuntime']) {
    assert.ok(startable.includes(`automation-definition/${n.document(book)}:*`), book);
  }
  assert.ok(!startable.includes(n.document('SetRuntimeUpdateModeAuto')));
});

test('member: the template stays within the 51,200-byte TemplateBody limit', () => {
  // as the StackSet carries it: CDK's ARN joins written as Fn::Sub (compactJoins)
  const bytes = Buffer.byteLength(memberTemplateBody(built.member));
  assert.ok(bytes <= 51_200, `${bytes} bytes`);
});

// ------------------------------------------------------------------------------------------------ StackSet

test('StackSet: service-managed, auto-deployment without retained stacks, the member OUs and regions', () => {
  const set = only(template(built.memberStackSet), 'AWS::CloudFormation::StackSet');
  const p = set.Properties;
  assert.equal(p.PermissionModel, 'SERVICE_MANAGED');
  assert.deepEqual(p.AutoDeployment, { Enabled: true, RetainStacksOnAccountRemoval: false });
  assert.deepEqual(p.Capabilities, ['CAPABILITY_NAMED_IAM']);
  assert.equal(p.CallAs, s.stackSetCallAs);
  assert.equal(p.OperationPreferences.RegionOrder[0], s.homeRegion, 'home region first: it creates the roles');
  assert.equal(p.OperationPreferences.RegionConcurrencyType, 'SEQUENTIAL');
  assert.ok(p.OperationPreferences.FailureTolerancePercentage >= 0 && p.OperationPreferences.MaxConcurrentPercentage > 0);
  assert.deepEqual(p.StackInstancesGroup, [
    { DeploymentTargets: { OrganizationalUnitIds: s.memberOuIds }, Regions: [s.homeRegion, ...s.ruleRegions.filter((r) => r !== s.homeRegion)] },
  ]);
  assert.equal(p.TemplateURL, undefined);
  const synthesized = memberTemplate(built.member) as Json;
  assert.deepEqual(JSON.parse(p.TemplateBody), { ...synthesized, Resources: compactJoins(synthesized.Resources) });
  assert.ok(Buffer.byteLength(p.TemplateBody) <= 51_200);
});

// ------------------------------------------------------------------------------------------------ per-account rule

test('per-account rule: CUSTOM_LAMBDA on the central Lambda with manual TagAndNotify remediation', () => {
  const [stack] = built.perAccountRules;
  const t = template(stack);
  const rule = only(t, 'AWS::Config::ConfigRule');
  assert.equal(rule.Properties.Source.Owner, 'CUSTOM_LAMBDA');
  assert.deepEqual(rule.Properties.Source.SourceIdentifier, {
    'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:lambda:${stack.region}:${s.adminAccountId}:function:${n.ruleFunction}`]],
  });
  assert.deepEqual(sorted(rule.Properties.Source.SourceDetails.map((d: Json) => d.MessageType)), sorted(TRIGGER_TYPES));
  assert.deepEqual(rule.Properties.Scope.ComplianceResourceTypes, ['AWS::Lambda::Function']);
  assert.deepEqual(rule.Properties.InputParameters, s.ruleParameters);
  const remediation = only(t, 'AWS::Config::RemediationConfiguration');
  const p = remediation.Properties;
  assert.equal(p.TargetId, n.document('TagAndNotify'));
  assert.equal(p.TargetType, 'SSM_DOCUMENT');
  assert.equal(p.Automatic, false);
  assert.deepEqual(p.Parameters.FunctionName, { ResourceValue: { Value: 'RESOURCE_ID' } });
  assert.ok(p.Parameters.AutomationAssumeRole.StaticValue, 'AutomationAssumeRole');
  assert.deepEqual(p.ExecutionControls, { SsmControls: { ConcurrentExecutionRatePercentage: 10, ErrorPercentage: 10 } });
  assert.equal(p.MaximumAutomaticAttempts, 3);
  assert.equal(p.RetryAttemptSeconds, 600);
});

// ------------------------------------------------------------------------------------------------ reporting

test('reporting: reports bucket is private, TLS-only, encrypted, versioned, aborts multipart uploads, logs access', () => {
  const bucket = Object.values(reporting.findResources('AWS::S3::Bucket', { Properties: { BucketName: s.reportsBucketName } }))[0] as Json;
  const p = bucket.Properties;
  assert.deepEqual(p.PublicAccessBlockConfiguration, {
    BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
  });
  assert.equal(p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm, 'AES256');
  assert.deepEqual(p.VersioningConfiguration, { Status: 'Enabled' });
  const rules = p.LifecycleConfiguration.Rules as Json[];
  assert.ok(rules.some((r) => r.AbortIncompleteMultipartUpload?.DaysAfterInitiation === 1 && r.Status === 'Enabled'));
  assert.ok(rules.some((r) => r.NoncurrentVersionExpiration?.NoncurrentDays > 0 && r.Status === 'Enabled'));
  // the aggregator's run checkpoints (dataset.json's staging folder) expire: the backstop for a killed run
  const staging = `${s.reportsPrefix}/${dataset().layout.prefix}${dataset().layout.staging}`;
  assert.equal(staging, `${s.reportsPrefix}/evaluations/_staging/`);
  const checkpoints = rules.filter((r) => r.Prefix === staging);
  assert.equal(checkpoints.length, 1, JSON.stringify(rules));
  assert.equal(checkpoints[0].Status, 'Enabled');
  assert.equal(checkpoints[0].ExpirationInDays, 2);
  assert.equal(checkpoints[0].NoncurrentVersionExpiration?.NoncurrentDays, 1);
  assert.ok(p.LoggingConfiguration?.DestinationBucketName, 'server access logging');
  const [bucketId] = Object.keys(reporting.findResources('AWS::S3::Bucket', { Properties: { BucketName: s.reportsBucketName } }));
  reporting.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: bucketId },
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
      ]),
    },
  });
});

test('reporting: aggregator Lambda environment follows environment.json and the settings', () => {
  const fn = Object.values(reporting.findResources('AWS::Lambda::Function', { Properties: { FunctionName: n.aggregatorFunction } }))[0] as Json;
  assert.equal(fn.Properties.Runtime, 'provided.al2023');
  assert.deepEqual(fn.Properties.Architectures, ['arm64']);
  const env = fn.Properties.Environment.Variables as Record<string, string>;
  const contract = environmentContract().aggregator;
  for (const v of contract.filter((v) => v.required)) assert.ok(v.name in env, `required ${v.name} is set`);
  assert.deepEqual(Object.keys(env).filter((k) => !contract.some((v) => v.name === k)), [], 'only variables the aggregator reads');
  const values = Object.values(env);
  assert.ok(values.includes(`s3://${s.reportsBucketName}/${s.reportsPrefix}`), 'output location');
  assert.ok(values.includes(s.ruleName), 'rule name');
  assert.ok(values.includes(s.configAggregatorName), 'config aggregator');
  assert.ok(values.includes(JSON.stringify(s.ruleParameters)), 'rule parameters, same JSON as InputParameters');
});

test('reporting: aggregator role = iam.json "aggregator" actions; S3 only under <prefix>/evaluations/', () => {
  const role = Object.values(reporting.findResources('AWS::IAM::Role', { Properties: { Policies: Match.arrayWith([Match.objectLike({ PolicyName: 'contract' })]) } }))[0] as Json;
  const actual = policyActions(role, 'contract');
  noWildcardActions(actual);
  assert.deepEqual(actual, iamActions('aggregator'));
  for (const st of policyStatements(role, 'contract')) {
    const actions = Array.isArray(st.Action) ? st.Action : [st.Action];
    if (actions.includes('s3:ListBucket')) {
      // the bucket itself, and only listings under the snapshots' prefix
      assert.deepEqual(actions, ['s3:ListBucket']);
      assert.deepEqual(st.Condition, { StringLike: { 's3:prefix': [`${s.reportsPrefix}/${dataset().layout.prefix}*`] } });
    } else if (actions.some((a: string) => a.startsWith('s3:'))) {
      assert.ok(JSON.stringify(st.Resource).endsWith(`/${s.reportsPrefix}/${dataset().layout.prefix}*"]]}`), JSON.stringify(st.Resource));
    }
  }
});

test('reporting: the aggregator assumes only the member reader role, in accounts of the organization, and is told its name', () => {
  const role = Object.values(reporting.findResources('AWS::IAM::Role', { Properties: { RoleName: n.aggregatorRole } }))[0] as Json;
  const sts = policyStatements(role, 'contract').filter((st) => [st.Action].flat().includes('sts:AssumeRole'));
  assert.equal(sts.length, 1);
  assert.deepEqual([sts[0].Action].flat(), ['sts:AssumeRole']);
  assert.deepEqual(sts[0].Resource, { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::*:role/${n.aggregatorMemberRole}`]] });
  assert.deepEqual(sts[0].Condition, { StringEquals: { 'aws:ResourceOrgID': s.organizationId } });
  const fn = Object.values(reporting.findResources('AWS::Lambda::Function', { Properties: { FunctionName: n.aggregatorFunction } }))[0] as Json;
  assert.equal(fn.Properties.Environment.Variables.AGGREGATOR_MEMBER_ROLE_NAME, n.aggregatorMemberRole);
});

test('reporting: daily UTC schedule with retries and an encrypted dead-letter queue', () => {
  const rule = Object.values(reporting.findResources('AWS::Events::Rule'))[0] as Json;
  assert.equal(rule.Properties.ScheduleExpression, `cron(0 ${s.reportsHourUtc} * * ? *)`);
  const [target] = rule.Properties.Targets;
  assert.ok(target.RetryPolicy.MaximumRetryAttempts > 0);
  assert.ok(target.DeadLetterConfig.Arn);
  // A failed or timed-out run is retried by Lambda (the most it allows), resuming its checkpoints.
  const invokeConfig = only(reporting, 'AWS::Lambda::EventInvokeConfig');
  assert.equal(invokeConfig.Properties.MaximumRetryAttempts, 2);
  const queue = only(reporting, 'AWS::SQS::Queue');
  assert.equal(queue.Properties.SqsManagedSseEnabled, true);
});

test('reporting: Glue table columns, partition keys and properties equal dataset.json', () => {
  const data = dataset();
  const table = only(reporting, 'AWS::Glue::Table').Properties.TableInput;
  assert.equal(table.Name, tableName());
  assert.deepEqual(
    table.StorageDescriptor.Columns.map((c: Json) => [c.Name, c.Type]),
    data.columns.map((c) => [c.name, c.athena_type]),
  );
  assert.deepEqual(table.PartitionKeys.map((c: Json) => [c.Name, c.Type]), partitionKeys(data).map((c) => [c.name, c.athena_type]));
  const root = `s3://${s.reportsBucketName}/${s.reportsPrefix}/${data.layout.prefix}`;
  assert.equal(table.StorageDescriptor.Location, root);
  const expected: Record<string, string> = {};
  for (const [k, v] of Object.entries(data.table_properties)) expected[k] = v.replace('{root}', root).replace('{first_day}', s.reportsFirstDay);
  const { EXTERNAL, classification, ...properties } = table.Parameters;
  assert.deepEqual(properties, expected);
  assert.equal(EXTERNAL, 'TRUE');
  assert.equal(classification, 'parquet');
  assert.equal(properties['storage.location.template'], `${root}dt=\${dt}/`);
  assert.match(table.StorageDescriptor.SerdeInfo.SerializationLibrary, /ParquetHiveSerDe/);
});

test('reporting: Athena workgroup enforced, encrypted, capped; one named query per SQL file', () => {
  const wg = only(reporting, 'AWS::Athena::WorkGroup').Properties.WorkGroupConfiguration;
  assert.equal(wg.EnforceWorkGroupConfiguration, true);
  assert.ok(wg.BytesScannedCutoffPerQuery >= 10_000_000);
  assert.equal(wg.ResultConfiguration.EncryptionConfiguration.EncryptionOption, 'SSE_S3');
  const files = fs.readdirSync(path.join(REPO_DIR, 'aggregator', 'queries')).filter((f) => f.endsWith('.sql')).sort();
  const named = Object.values(resources(reporting, 'AWS::Athena::NamedQuery')) as Json[];
  assert.equal(named.length, files.length);
  for (const file of files) {
    const q = named.find((x) => x.Properties.Name === `${s.prefix}-${file.replace(/\.sql$/, '')}`);
    assert.ok(q, file);
    assert.equal(q.Properties.QueryString, fs.readFileSync(path.join(REPO_DIR, 'aggregator', 'queries', file), 'utf8'));
    assert.equal(q.Properties.WorkGroup, n.workGroup);
    assert.equal(q.Properties.Database, n.glueDatabase);
    assert.ok(q.DependsOn.length >= 1);
  }
  // the queries read the table by the name the Glue table has
  for (const q of queries()) assert.match(q.sql, new RegExp(`\\bFROM\\s+${tableName()}\\b`, 'i'), q.name);
});

// ------------------------------------------------------------------------------------------------ nag

test('cdk-nag: zero violations; every suppression is an AwsSolutions:: acknowledgement with a reason', () => {
  built.app.synth();
  const report = JSON.parse(fs.readFileSync(path.join(built.outdir, 'validation-report.json'), 'utf8'));
  const nag = report.pluginReports.find((p: Json) => p.pluginName === 'AwsSolutions');
  assert.ok(nag, 'AwsSolutions ran');
  assert.deepEqual(nag.violations, []);
  assert.equal(nag.conclusion, 'success');
  assert.ok(acknowledged.length > 0);
  for (const a of acknowledged) {
    assert.match(a.id, /^AwsSolutions::AwsSolutions-[A-Z]+\d+/);
    assert.ok(a.reason.length > 40, `${a.id} has a reason`);
  }
});

test('member StackSet: the TemplateBody writes CDK\'s ARN joins as the equivalent Fn::Sub, and fits the limit', () => {
  assert.deepEqual(
    compactJoins({ Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':lambda:*:', { Ref: 'AWS::AccountId' }, ':function:${x}']] } }),
    { Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:lambda:*:${AWS::AccountId}:function:${!x}' } },
  );
  assert.deepEqual(compactJoins({ 'Fn::Join': ['', ['a', { 'Fn::GetAtt': ['Topic', 'TopicName'] }]] }), { 'Fn::Sub': 'a${Topic.TopicName}' });
  // anything else stays: another delimiter, another function inside
  const kept = [{ 'Fn::Join': [',', ['a', 'b']] }, { 'Fn::Join': ['', ['a', { 'Fn::Select': [0, ['b']] }]] }];
  assert.deepEqual(compactJoins(kept), kept);
  const body = memberTemplateBody(built.member);
  assert.ok(Buffer.byteLength(body) <= TEMPLATE_BODY_LIMIT, `${Buffer.byteLength(body)} bytes`);
  const parsed = JSON.parse(body) as Json;
  // the same resources as the synthesized template, and the reader role's trust still names the aggregator role
  assert.deepEqual(Object.keys(parsed.Resources), Object.keys((memberTemplate(built.member) as Json).Resources));
  assert.ok(body.includes(`"arn:\${AWS::Partition}:iam::${s.adminAccountId}:role/${n.aggregatorRole}"`), 'reader trust');
});
