/** Context validation: every bad value fails at synth naming its key (and, for rule parameters, the parameter). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ruleParametersSchema } from '../lib/contracts';
import { lambdaCode } from '../lib/lambda-code';
import { readSettings, validateRuleParameters } from '../lib/settings';
import { cdkJsonContext } from './helpers';

const base = cdkJsonContext();
const settings = (overrides: Record<string, unknown>) => readSettings((key) => ({ ...base, ...overrides })[key]);

test('the example cdk.json context is valid', () => {
  const s = settings({});
  assert.deepEqual(s.ruleParameters, base.ruleParameters);
  assert.equal(s.stackSetCallAs, 'DELEGATED_ADMIN');
});

test('rule parameters: an unknown name is refused naming it', () => {
  assert.throws(() => validateRuleParameters({ failphase: 'deprecated' }), /unknown parameter "failphase"/);
});

test('rule parameters: a value outside its set names the parameter and the allowed values', () => {
  assert.throws(() => validateRuleParameters({ failPhase: 'retired' }), (error: Error) => {
    assert.match(error.message, /ruleParameters\.failPhase/);
    assert.match(error.message, /update-blocked/);
    assert.match(error.message, /"retired"/);
    return true;
  });
  assert.throws(() => validateRuleParameters({ runtimeUpdateMode: 'manual' }), /ruleParameters\.runtimeUpdateMode/);
});

test('rule parameters: values are strings; day counts are digits', () => {
  assert.throws(() => validateRuleParameters({ warnDaysBefore: 30 }), /ruleParameters\.warnDaysBefore/);
  assert.throws(() => validateRuleParameters({ warnDaysBefore: '-1' }), /ruleParameters\.warnDaysBefore/);
  assert.throws(() => validateRuleParameters({ exemptionTag: 'aws:reserved' }), /ruleParameters\.exemptionTag/);
  assert.throws(() => validateRuleParameters(['failPhase']), /ruleParameters/);
  assert.deepEqual(validateRuleParameters({ warnDaysBefore: '90', allowedRuntimes: 'python3.12, nodejs22.x' }), {
    warnDaysBefore: '90',
    allowedRuntimes: 'python3.12, nodejs22.x',
  });
});

test('rule parameters: every default in the contract is itself valid', () => {
  const defaults = Object.fromEntries(Object.entries(ruleParametersSchema().properties).map(([k, v]) => [k, v.default ?? '']));
  assert.deepEqual(validateRuleParameters(defaults), defaults);
});

test('a bad rule parameter in the context fails synth naming the key', () => {
  assert.throws(() => settings({ ruleParameters: { failPhase: 'soon' } }), /context ruleParameters\.failPhase/);
});

test('ids, regions, enums and numbers are checked with the key in the message', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ organizationId: 'org-1' }, /context organizationId/],
    [{ adminAccountId: '12345' }, /context adminAccountId/],
    [{ ruleRegions: ['us-east-1', 'Mars'] }, /context ruleRegions: item "Mars"/],
    [{ ruleRegions: [] }, /context ruleRegions: the list is empty/],
    [{ memberOuIds: ['ou-nope'] }, /context memberOuIds/],
    [{ maximumExecutionFrequency: 'Daily' }, /context maximumExecutionFrequency/],
    [{ reportsBucketName: 'Bad_Bucket' }, /context reportsBucketName/],
    [{ reportsPrefix: '/lead' }, /context reportsPrefix/],
    [{ logRetentionDays: 10 }, /context logRetentionDays: 10 is not one of/],
    [{ automaticUpgrades: 'yes' }, /context automaticUpgrades/],
    [{ perAccountRuleTargets: ['333333333333'] }, /context perAccountRuleTargets/],
    [{ excludedAccounts: ['x'] }, /context excludedAccounts/],
  ];
  for (const [overrides, message] of cases) assert.throws(() => settings(overrides), message, JSON.stringify(overrides));
});

test('-c values arrive as strings and are accepted', () => {
  const s = settings({ automaticUpgrades: 'true', ruleRegions: 'us-east-1,eu-west-1', logRetentionDays: '30', ruleParameters: '{"failPhase":"create-blocked"}' });
  assert.equal(s.automaticUpgrades, true);
  assert.deepEqual(s.ruleRegions, ['us-east-1', 'eu-west-1']);
  assert.equal(s.logRetentionDays, 30);
  assert.deepEqual(s.ruleParameters, { failPhase: 'create-blocked' });
});

test('aggregator engine: lambda by default; fargate needs subnets, and security groups or a VPC; task sizes Fargate offers', () => {
  const defaults = settings({});
  assert.equal(defaults.aggregatorEngine, 'lambda');
  assert.deepEqual([defaults.aggregatorCpu, defaults.aggregatorMemoryMiB, defaults.aggregatorAssignPublicIp], [512, 1024, false]);
  const subnet = 'subnet-0123456789abcdef0';
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ aggregatorEngine: 'ec2' }, /context aggregatorEngine: "ec2" is not one of lambda, fargate/],
    [{ aggregatorEngine: 'fargate' }, /context aggregatorSubnetIds: aggregatorEngine=fargate needs the subnets the task runs in/],
    [{ aggregatorEngine: 'fargate', aggregatorSubnetIds: [subnet] }, /context aggregatorVpcId: aggregatorEngine=fargate needs aggregatorSecurityGroupIds, or aggregatorVpcId/],
    [{ aggregatorSubnetIds: ['subnet-xyz'] }, /context aggregatorSubnetIds: item "subnet-xyz"/],
    [{ aggregatorSecurityGroupIds: ['sg-1'] }, /context aggregatorSecurityGroupIds: item "sg-1"/],
    [{ aggregatorVpcId: 'vpc-nope' }, /context aggregatorVpcId: "vpc-nope" does not match/],
    [{ aggregatorCpu: 300 }, /context aggregatorCpu: 300 is not one of 256, 512, 1024, 2048, 4096/],
    [{ aggregatorMemoryMiB: 8192 }, /context aggregatorMemoryMiB: 8192 is not a size Fargate offers with aggregatorCpu 512: 1024, 2048, 3072, 4096/],
    [{ aggregatorCpu: 1024, aggregatorMemoryMiB: 1024 }, /context aggregatorMemoryMiB: 1024 is not a size Fargate offers with aggregatorCpu 1024/],
    [{ aggregatorAssignPublicIp: 'yes' }, /context aggregatorAssignPublicIp/],
  ];
  for (const [overrides, message] of cases) assert.throws(() => settings(overrides), message, JSON.stringify(overrides));
  // -c values arrive as strings
  const fargate = settings({
    aggregatorEngine: 'fargate',
    aggregatorSubnetIds: `${subnet},subnet-0fedcba9876543210`,
    aggregatorSecurityGroupIds: 'sg-0123456789abcdef0',
    aggregatorAssignPublicIp: 'true',
    aggregatorCpu: '2048',
    aggregatorMemoryMiB: '16384',
  });
  assert.deepEqual(
    [fargate.aggregatorSubnetIds, fargate.aggregatorSecurityGroupIds, fargate.aggregatorAssignPublicIp, fargate.aggregatorCpu, fargate.aggregatorMemoryMiB],
    [[subnet, 'subnet-0fedcba9876543210'], ['sg-0123456789abcdef0'], true, 2048, 16384],
  );
  assert.equal(settings({ aggregatorEngine: 'fargate', aggregatorSubnetIds: [subnet], aggregatorVpcId: 'vpc-0123456789abcdef0' }).aggregatorVpcId, 'vpc-0123456789abcdef0');
});

test('Lambda code: the real zip when built, a stand-in only when allowed, else an error naming cargo xtask lambda', () => {
  assert.throws(() => lambdaCode('rule', '../target/lambda/arm64/nothing-here/bootstrap.zip', false), /cargo xtask lambda/);
  const standIn = lambdaCode('rule', '../target/lambda/arm64/nothing-here/bootstrap.zip', true);
  assert.equal(standIn.standIn, true);
  assert.match(standIn.source, /lambda-runtime-guard-stand-in/);
});
