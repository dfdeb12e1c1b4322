/**
 * aggregatorEngine=fargate: the reporting stack runs the aggregator as a scheduled ECS Fargate task instead of the
 * Lambda — the same environment, the same contract policy, the same schedule — and the rest of the stack is unchanged.
 * Two apps side by side (the default Lambda variant and the Fargate one), both with cdk-nag on.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { AGGREGATOR_DOCKERFILE, SUCCESSFUL_EXIT_CODES } from '../lib/aggregator-task';
import { environmentContract, iamActions } from '../lib/contracts';
import { names } from '../lib/names';
import { acknowledged } from '../lib/nag-acknowledgements';
import { SettingsError } from '../lib/settings';
import { Json, only, policyActions, resources, template, testApp } from './helpers';

const SUBNETS = ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'];
const VPC = 'vpc-0123456789abcdef0';

const lambdaApp = testApp();
const lambdaReporting = template(lambdaApp.reporting);
const fargateApp = testApp({ aggregatorEngine: 'fargate', aggregatorSubnetIds: SUBNETS, aggregatorVpcId: VPC });
const fargate = template(fargateApp.reporting);
const s = fargateApp.settings;
const n = names(s);
// the acknowledgements of the last app built (acknowledge() starts the list afresh per app)
const fargateAcknowledgements = [...acknowledged];

const byId = (t: Json, id: string): Json => t.toJSON().Resources[id];
const idOf = (t: Json, type: string): string => {
  const ids = Object.keys(resources(t, type));
  assert.equal(ids.length, 1, `one ${type}: ${ids}`);
  return ids[0];
};
const lambdaFunction = (): Json =>
  Object.values(lambdaReporting.findResources('AWS::Lambda::Function', { Properties: { FunctionName: n.aggregatorFunction } }))[0];
const contractRoleId = (t: Json): string => {
  const ids = Object.entries(resources(t, 'AWS::IAM::Role'))
    .filter(([, r]: [string, Json]) => (r.Properties.Policies ?? []).some((p: Json) => p.PolicyName === 'contract'))
    .map(([id]) => id);
  assert.equal(ids.length, 1, 'one role carries the contract policy');
  return ids[0];
};
const contractRole = (t: Json): Json => byId(t, contractRoleId(t));
const policy = (role: Json, name: string): Json => role.Properties.Policies.find((p: Json) => p.PolicyName === name)?.PolicyDocument;
const container = (): Json => {
  const definitions = only(fargate, 'AWS::ECS::TaskDefinition').Properties.ContainerDefinitions;
  assert.equal(definitions.length, 1);
  return definitions[0];
};
const scheduleRule = (t: Json): Json => {
  const rules = Object.values(t.findResources('AWS::Events::Rule')).filter((r: Json) => r.Properties.ScheduleExpression);
  assert.equal(rules.length, 1, 'one scheduled rule');
  return rules[0];
};

test('fargate: no Lambda and no Lambda log group; one cluster with container insights, one task definition', () => {
  fargate.resourceCountIs('AWS::Lambda::Function', 0);
  assert.equal(fargateApp.reporting.function, undefined);
  assert.deepEqual(
    Object.values(resources(fargate, 'AWS::Logs::LogGroup')).map((g: Json) => g.Properties.LogGroupName),
    [`/ecs/${n.aggregatorTask}`],
  );
  const cluster = only(fargate, 'AWS::ECS::Cluster').Properties;
  assert.equal(cluster.ClusterName, n.aggregatorTask);
  assert.deepEqual(cluster.ClusterSettings, [{ Name: 'containerInsights', Value: 'enabled' }]);
  fargate.resourceCountIs('AWS::ECS::TaskDefinition', 1);
});

test('fargate: the container runs `run` from the Dockerfile image, read-only, on the Lambda\'s architecture', () => {
  const c = container();
  assert.deepEqual(c.Command, ['run']);
  assert.equal(c.Essential, true);
  assert.equal(c.ReadonlyRootFilesystem, true);
  const task = only(fargate, 'AWS::ECS::TaskDefinition').Properties;
  assert.deepEqual(task.RequiresCompatibilities, ['FARGATE']);
  assert.equal(task.NetworkMode, 'awsvpc');
  assert.equal(task.Family, n.aggregatorTask);
  assert.deepEqual([task.Cpu, task.Memory], [String(s.aggregatorCpu), String(s.aggregatorMemoryMiB)]);
  assert.deepEqual([s.aggregatorCpu, s.aggregatorMemoryMiB], [512, 1024], 'defaults: 0.5 vCPU, 1 GiB (the Lambda has 1024 MB)');
  // ARM64 like the Lambda (one constant, AGGREGATOR_ARCHITECTURE)
  assert.deepEqual(lambdaFunction().Properties.Architectures, ['arm64']);
  assert.deepEqual(task.RuntimePlatform, { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
  // the image: the bootstrap container-assets repository, tagged with the asset hash
  assert.match(JSON.stringify(c.Image), /cdk-hnb659fds-container-assets-.*:[0-9a-f]{64}"/);
});

test('fargate: the image asset is aggregator/Dockerfile for linux/arm64, its context the repository root without build outputs', () => {
  fargateApp.app.synth(); // stages the asset (no Docker needed: the CLI builds it on deploy)
  const manifest = JSON.parse(fs.readFileSync(path.join(fargateApp.outdir, 'Reporting.assets.json'), 'utf8'));
  const images = Object.values(manifest.dockerImages ?? {}) as Json[];
  assert.equal(images.length, 1);
  const [image] = images;
  assert.equal(image.source.dockerFile, AGGREGATOR_DOCKERFILE);
  assert.equal(image.source.platform, 'linux/arm64');
  const staged = path.join(fargateApp.outdir, image.source.directory);
  for (const needed of ['Cargo.toml', 'Cargo.lock', AGGREGATOR_DOCKERFILE, 'aggregator/src/main.rs', 'rule/lifecycle/data/runtimes.json', 'xtask/Cargo.toml', 'tests/Cargo.toml']) {
    assert.ok(fs.existsSync(path.join(staged, needed)), `${needed} in the build context`);
  }
  const top = fs.readdirSync(staged).sort();
  assert.deepEqual(top, ['.dockerignore', 'Cargo.lock', 'Cargo.toml', 'aggregator', 'rule', 'tests', 'xtask']);
  const unwanted: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (['target', 'node_modules', '.venv', 'cdk.out', '__pycache__'].includes(entry.name)) unwanted.push(path.join(dir, entry.name));
      else if (entry.isDirectory()) walk(path.join(dir, entry.name));
    }
  };
  walk(staged);
  assert.deepEqual(unwanted, []);
});

test('fargate: the container\'s environment equals the Lambda variant\'s, names from environment.json', () => {
  const env = Object.fromEntries(container().Environment.map((e: Json) => [e.Name, e.Value]));
  assert.deepEqual(env, lambdaFunction().Properties.Environment.Variables);
  const contract = environmentContract().aggregator;
  for (const v of contract.filter((v) => v.required)) assert.ok(v.name in env, `required ${v.name} is set`);
});

test('fargate: the task role carries exactly the Lambda role\'s contract policy, and nothing else', () => {
  const taskRole = contractRole(fargate);
  const lambdaRole = contractRole(lambdaReporting);
  assert.deepEqual(policy(taskRole, 'contract'), policy(lambdaRole, 'contract'));
  assert.deepEqual(policyActions(taskRole, 'contract'), iamActions('aggregator'));
  assert.deepEqual(taskRole.Properties.Policies.map((p: Json) => p.PolicyName), ['contract']);
  assert.equal(taskRole.Properties.ManagedPolicyArns, undefined);
  const [trust] = taskRole.Properties.AssumeRolePolicyDocument.Statement;
  assert.deepEqual(trust.Principal, { Service: 'ecs-tasks.amazonaws.com' });
  assert.ok(trust.Condition.StringEquals['aws:SourceAccount'], 'confused-deputy guard');
  assert.ok(trust.Condition.ArnLike['aws:SourceArn'], 'confused-deputy guard');
  const task = only(fargate, 'AWS::ECS::TaskDefinition').Properties;
  assert.deepEqual(task.TaskRoleArn, { 'Fn::GetAtt': [contractRoleId(fargate), 'Arn'] });
});

test('fargate: the execution role only pulls the asset image and writes the task\'s log group', () => {
  const task = only(fargate, 'AWS::ECS::TaskDefinition').Properties;
  const executionRoleId = task.ExecutionRoleArn['Fn::GetAtt'][0];
  assert.notDeepEqual(task.ExecutionRoleArn, task.TaskRoleArn);
  const policies = Object.values(resources(fargate, 'AWS::IAM::Policy')).filter((p: Json) =>
    p.Properties.Roles.some((r: Json) => r.Ref === executionRoleId),
  ) as Json[];
  assert.equal(policies.length, 1);
  const statements = policies[0].Properties.PolicyDocument.Statement as Json[];
  const logGroupId = idOf(fargate, 'AWS::Logs::LogGroup');
  const summary = statements.map((st) => [[st.Action].flat().sort(), st.Resource]);
  assert.deepEqual(summary, [
    [['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'], summary[0][1]],
    [['ecr:GetAuthorizationToken'], '*'],
    [['logs:CreateLogStream', 'logs:PutLogEvents'], { 'Fn::GetAtt': [logGroupId, 'Arn'] }],
  ]);
  assert.match(JSON.stringify(summary[0][1]), /:repository\/cdk-hnb659fds-container-assets-/);
  const logGroup = byId(fargate, logGroupId).Properties;
  assert.equal(logGroup.RetentionInDays, s.logRetentionDays);
  assert.deepEqual(container().LogConfiguration.Options['awslogs-group'], { Ref: logGroupId });
});

test('fargate: the daily schedule equals the Lambda\'s and starts one task in the given subnets, no public IP', () => {
  const rule = scheduleRule(fargate).Properties;
  assert.equal(rule.ScheduleExpression, scheduleRule(lambdaReporting).Properties.ScheduleExpression);
  assert.equal(rule.ScheduleExpression, `cron(0 ${s.reportsHourUtc} * * ? *)`);
  assert.equal(rule.Name, scheduleRule(lambdaReporting).Properties.Name);
  const [target] = rule.Targets;
  const clusterId = idOf(fargate, 'AWS::ECS::Cluster');
  const taskId = idOf(fargate, 'AWS::ECS::TaskDefinition');
  assert.deepEqual(target.Arn, { 'Fn::GetAtt': [clusterId, 'Arn'] });
  const ecs = target.EcsParameters;
  assert.deepEqual(ecs.TaskDefinitionArn, { Ref: taskId });
  assert.equal(ecs.TaskCount, 1);
  assert.equal(ecs.LaunchType, 'FARGATE');
  assert.deepEqual(ecs.NetworkConfiguration.AwsVpcConfiguration.Subnets, SUBNETS);
  assert.equal(ecs.NetworkConfiguration.AwsVpcConfiguration.AssignPublicIp, 'DISABLED');
  const sgId = idOf(fargate, 'AWS::EC2::SecurityGroup');
  assert.deepEqual(ecs.NetworkConfiguration.AwsVpcConfiguration.SecurityGroups, [{ 'Fn::GetAtt': [sgId, 'GroupId'] }]);
  const sg = byId(fargate, sgId).Properties;
  assert.equal(sg.VpcId, VPC);
  assert.equal(sg.SecurityGroupIngress, undefined, 'no inbound');
  assert.deepEqual(sg.SecurityGroupEgress.map((e: Json) => [e.IpProtocol, e.FromPort, e.ToPort]), [['tcp', 443, 443]]);
  assert.ok(target.RetryPolicy.MaximumRetryAttempts > 0);
  assert.deepEqual(target.DeadLetterConfig.Arn, { 'Fn::GetAtt': [idOf(fargate, 'AWS::SQS::Queue'), 'Arn'] });
  // EventBridge's role: RunTask of this task definition in this cluster, and passing exactly the task's two roles to ECS
  const role = byId(fargate, target.RoleArn['Fn::GetAtt'][0]);
  assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal, { Service: 'events.amazonaws.com' });
  const [run, pass] = policy(role, 'runTask').Statement as Json[];
  assert.deepEqual([run.Action, run.Resource, run.Condition], ['ecs:RunTask', { Ref: taskId }, { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [clusterId, 'Arn'] } } }]);
  const task = only(fargate, 'AWS::ECS::TaskDefinition').Properties;
  assert.equal(pass.Action, 'iam:PassRole');
  const sortedJson = (items: Json[]) => items.map((i) => JSON.stringify(i)).sort();
  assert.deepEqual(sortedJson(pass.Resource), sortedJson([task.TaskRoleArn, task.ExecutionRoleArn]));
  assert.deepEqual(pass.Condition, { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
});

test('fargate: a run that failed or never started is a dead letter, like a failed Lambda invocation', () => {
  const rule = Object.values(fargate.findResources('AWS::Events::Rule')).find((r: Json) => r.Properties.EventPattern) as Json;
  const pattern = rule.Properties.EventPattern;
  assert.deepEqual(pattern.source, ['aws.ecs']);
  assert.deepEqual(pattern['detail-type'], ['ECS Task State Change']);
  assert.deepEqual(pattern.detail.clusterArn, [{ 'Fn::GetAtt': [idOf(fargate, 'AWS::ECS::Cluster'), 'Arn'] }]);
  assert.deepEqual(pattern.detail.lastStatus, ['STOPPED']);
  assert.deepEqual(pattern.detail.$or, [
    { containers: { exitCode: [{ 'anything-but': [0, 2, 3] }] } },
    { stopCode: ['TaskFailedToStart'] },
  ]);
  assert.deepEqual(SUCCESSFUL_EXIT_CODES, [0, 2, 3]);
  assert.deepEqual(rule.Properties.Targets.map((t: Json) => t.Arn), [{ 'Fn::GetAtt': [idOf(fargate, 'AWS::SQS::Queue'), 'Arn'] }]);
  // the queue accepts both rules' messages, and nothing else
  const queuePolicy = only(fargate, 'AWS::SQS::QueuePolicy').Properties.PolicyDocument.Statement as Json[];
  const senders = queuePolicy.filter((st) => st.Effect === 'Allow').map((st) => st.Condition.ArnEquals['aws:SourceArn']['Fn::GetAtt'][0]).sort();
  assert.deepEqual(senders, Object.keys(fargate.findResources('AWS::Events::Rule')).sort());
});

test('fargate: everything else in the reporting stack is the Lambda variant\'s, resource for resource', () => {
  const a = lambdaReporting.toJSON().Resources as Record<string, Json>;
  const b = fargate.toJSON().Resources as Record<string, Json>;
  const lambdaOnly = Object.keys(a).filter((id) => !(id in b)).map((id) => a[id].Type).sort();
  // the Lambda, its role (and the role's dead-letter policy), log group, async-invoke config, schedule and permission
  assert.deepEqual(lambdaOnly, [
    'AWS::Events::Rule',
    'AWS::IAM::Policy',
    'AWS::IAM::Role',
    'AWS::Lambda::EventInvokeConfig',
    'AWS::Lambda::Function',
    'AWS::Lambda::Permission',
    'AWS::Logs::LogGroup',
  ]);
  for (const [id, resource] of Object.entries(a)) {
    if (!(id in b) || resource.Type === 'AWS::SQS::QueuePolicy' || resource.Type === 'AWS::CDK::Metadata') continue;
    assert.deepEqual(b[id], resource, id);
  }
});

test('fargate: given security groups, a public IP and a larger task are used as given; no group is created', () => {
  const built = testApp({
    aggregatorEngine: 'fargate',
    aggregatorSubnetIds: 'subnet-0123456789abcdef0',
    aggregatorSecurityGroupIds: ['sg-0123456789abcdef0'],
    aggregatorAssignPublicIp: 'true',
    aggregatorCpu: '1024',
    aggregatorMemoryMiB: '2048',
  });
  const t = template(built.reporting);
  t.resourceCountIs('AWS::EC2::SecurityGroup', 0);
  const vpc = scheduleRule(t).Properties.Targets[0].EcsParameters.NetworkConfiguration.AwsVpcConfiguration;
  assert.deepEqual(vpc, { Subnets: ['subnet-0123456789abcdef0'], SecurityGroups: ['sg-0123456789abcdef0'], AssignPublicIp: 'ENABLED' });
  const task = only(t, 'AWS::ECS::TaskDefinition').Properties;
  assert.deepEqual([task.Cpu, task.Memory], ['1024', '2048']);
});

test('fargate without subnets (or without a security group or VPC) is refused at synth, naming the key', () => {
  assert.throws(() => testApp({ aggregatorEngine: 'fargate' }), (error: Error) => {
    assert.ok(error instanceof SettingsError);
    assert.match(error.message, /^context aggregatorSubnetIds: aggregatorEngine=fargate needs the subnets/);
    return true;
  });
  assert.throws(() => testApp({ aggregatorEngine: 'fargate', aggregatorSubnetIds: SUBNETS }), /context aggregatorVpcId: .*aggregatorSecurityGroupIds/);
});

test('fargate: cdk-nag clean; the three new acknowledgements carry reasons', () => {
  fargateApp.app.synth();
  const report = JSON.parse(fs.readFileSync(path.join(fargateApp.outdir, 'validation-report.json'), 'utf8'));
  const nag = report.pluginReports.find((p: Json) => p.pluginName === 'AwsSolutions');
  assert.deepEqual(nag.violations, []);
  assert.equal(nag.conclusion, 'success');
  const ids = fargateAcknowledgements.filter((a) => a.path.startsWith('Reporting/')).map((a) => `${a.path} ${a.id}`);
  for (const wanted of [
    'Reporting/AggregatorTask/TaskDefinition/ExecutionRole AwsSolutions::AwsSolutions-IAM5[Resource::*]',
    'Reporting/AggregatorDeadLetters AwsSolutions::AwsSolutions-SQS3',
    'Reporting/AggregatorTask/TaskDefinition AwsSolutions::AwsSolutions-ECS2',
  ]) {
    assert.ok(ids.includes(wanted), `${wanted} in ${ids.join('\n')}`);
  }
  // the Lambda's log-stream acknowledgement is not made for a Lambda that does not exist
  assert.ok(!ids.some((id) => id.includes('AggregatorLogs')), ids.join('\n'));
});
