/**
 * Typed, validated deployment settings from the CDK context (cdk.json, or `-c key=value`). Every check fails at synth
 * with the context key (and, for rule parameters, the parameter) it is about. No lookups: synth needs no credentials.
 */
import Ajv2020 from 'ajv/dist/2020';
import { ruleParametersSchema } from './contracts';

export const MAXIMUM_EXECUTION_FREQUENCIES = [
  'One_Hour',
  'Three_Hours',
  'Six_Hours',
  'Twelve_Hours',
  'TwentyFour_Hours',
] as const;
export type MaximumExecutionFrequency = (typeof MAXIMUM_EXECUTION_FREQUENCIES)[number];

export interface Settings {
  /** `o-…` */
  organizationId: string;
  managementAccountId: string;
  /** the Config (and config-multiaccountsetup, StackSets) delegated administrator: org rules, reporting */
  adminAccountId: string;
  /** region of the reporting stack and of the member accounts' IAM roles (global resources created once) */
  homeRegion: string;
  /** one organization rule (and rule Lambda) per region */
  ruleRegions: string[];
  /** OUs the member StackSet targets (service-managed, auto-deployment) */
  memberOuIds: string[];
  /** organization rule name; members see `OrgConfigRule-<ruleName>-<suffix>` */
  ruleName: string;
  /** the rule's InputParameters, validated against cdk/contracts/rule-parameters.schema.json */
  ruleParameters: Record<string, string>;
  maximumExecutionFrequency: MaximumExecutionFrequency;
  excludedAccounts: string[];
  /** the role the rule assumes in each member account (RULE_MEMBER_ROLE_NAME) */
  memberRoleName: string;
  /** deploy the member template as a plain stack in the management account (StackSets never target it) */
  managementAccountMemberStack: boolean;
  /** StackSet CallAs: DELEGATED_ADMIN from the admin account, SELF from the management account */
  stackSetCallAs: 'SELF' | 'DELEGATED_ADMIN';
  /** the EventBridge rules also start UpgradeLambdaRuntime (DryRun=false); off: TagAndNotify only */
  automaticUpgrades: boolean;
  reportsBucketName: string;
  /** key prefix of the aggregator's output inside the bucket (no slashes at either end; may be empty) */
  reportsPrefix: string;
  /** first day of the `dt` partition projection range */
  reportsFirstDay: string;
  /** UTC hour of the daily aggregator run */
  reportsHourUtc: number;
  /** also create the organization Config aggregator (with its role) in the reporting stack */
  createConfigAggregator: boolean;
  /** name of the organization Config aggregator the aggregator reads */
  configAggregatorName: string;
  logRetentionDays: number;
  /**
   * where the daily aggregator runs: `lambda` (default; at most Lambda's 15 minutes) or `fargate`, a scheduled ECS
   * Fargate task running the same binary as `aggregator run` (no time limit), with the same environment and IAM
   */
  aggregatorEngine: AggregatorEngine;
  /** fargate: the subnets the task runs in (private, with a NAT gateway or VPC endpoints; see cdk/README.md) */
  aggregatorSubnetIds: string[];
  /** fargate: the task's security groups; empty: the stack creates an egress-only (HTTPS) group in aggregatorVpcId */
  aggregatorSecurityGroupIds: string[];
  /** fargate: the subnets' VPC, needed only to create the security group (no aggregatorSecurityGroupIds) */
  aggregatorVpcId?: string;
  /** fargate: give the task a public IP (public subnets without NAT); default false */
  aggregatorAssignPublicIp: boolean;
  /** fargate: task CPU units (1024 = 1 vCPU) and memory (MiB), a combination Fargate offers */
  aggregatorCpu: number;
  aggregatorMemoryMiB: number;
  /** per-account rule stacks (Config-native remediation, the alternative to the org rule): `account/region` */
  perAccountRuleTargets: { account: string; region: string }[];
  /** automatic (not manual) remediation in the per-account rule stacks */
  perAccountAutomaticRemediation: boolean;
  ruleZip: string;
  aggregatorZip: string;
  /** a generated stand-in bootstrap when a zip is missing (tests, synth without `cargo xtask lambda`) */
  standInZips: boolean;
  /** prefix of every named resource */
  prefix: string;
}

export const AGGREGATOR_ENGINES = ['lambda', 'fargate'] as const;
export type AggregatorEngine = (typeof AGGREGATOR_ENGINES)[number];

/**
 * Fargate's task sizes up to 4 vCPU: CPU units → the memory (MiB) it allows
 * (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html).
 */
export const FARGATE_TASK_SIZES: Record<number, number[]> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
  2048: Array.from({ length: 13 }, (_, i) => 4096 + 1024 * i), // 4 to 16 GiB
  4096: Array.from({ length: 23 }, (_, i) => 8192 + 1024 * i), // 8 to 30 GiB
};

export type Context = (key: string) => unknown;

export class SettingsError extends Error {}

function fail(key: string, message: string): never {
  throw new SettingsError(`context ${key}: ${message}`);
}

function str(ctx: Context, key: string, pattern?: RegExp, fallback?: string): string {
  const value = ctx(key) ?? fallback;
  if (typeof value !== 'string' || value === '') fail(key, 'a non-empty string is required');
  if (pattern && !pattern.test(value)) fail(key, `${JSON.stringify(value)} does not match ${pattern}`);
  return value;
}

function bool(ctx: Context, key: string, fallback: boolean): boolean {
  const value = ctx(key);
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true'; // -c key=true arrives as a string
  return fail(key, `${JSON.stringify(value)} is not true or false`);
}

function int(ctx: Context, key: string, fallback: number, min: number, max: number): number {
  const raw = ctx(key) ?? fallback;
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(key, `${JSON.stringify(raw)} is not a whole number from ${min} to ${max}`);
  }
  return value;
}

function list(ctx: Context, key: string, pattern: RegExp, fallback?: string[], allowEmpty = false): string[] {
  let value: unknown = ctx(key) ?? fallback;
  if (typeof value === 'string') {
    const text = value;
    try {
      value = JSON.parse(text); // -c key='["a","b"]'
    } catch {
      value = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
    }
  }
  if (!Array.isArray(value)) fail(key, 'a list is required');
  if (!allowEmpty && value.length === 0) fail(key, 'the list is empty');
  for (const item of value) {
    if (typeof item !== 'string' || !pattern.test(item)) fail(key, `item ${JSON.stringify(item)} does not match ${pattern}`);
  }
  return [...new Set(value as string[])];
}

const ACCOUNT = /^\d{12}$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/;

/**
 * Rule parameters against the generated JSON Schema. The error names the parameter: `ruleParameters.failPhase: …`
 * or `ruleParameters: unknown parameter "failphase" …`.
 */
export function validateRuleParameters(value: unknown): Record<string, string> {
  const schema = ruleParametersSchema();
  const ajv = new Ajv2020({ allErrors: true, strict: false, unicodeRegExp: true });
  const validate = ajv.compile(schema);
  if (validate(value)) return value as Record<string, string>;
  const known = Object.keys(schema.properties).join(', ');
  const messages = (validate.errors ?? []).map((error) => {
    if (error.keyword === 'additionalProperties') {
      const name = (error.params as { additionalProperty: string }).additionalProperty;
      return `ruleParameters: unknown parameter ${JSON.stringify(name)} (known: ${known})`;
    }
    const name = error.instancePath.replace(/^\//, '').replace(/\//g, '.');
    const where = name ? `ruleParameters.${name}` : 'ruleParameters';
    const allowed =
      error.keyword === 'enum' ? ` ${(error.params as { allowedValues: string[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}` : '';
    const actual = name ? ` (got ${JSON.stringify((value as Record<string, unknown>)[name])})` : '';
    return `${where}: ${error.message ?? 'invalid'}${allowed}${actual}`;
  });
  throw new SettingsError(`context ${[...new Set(messages)].join('; ')}`);
}

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

function retention(ctx: Context): number {
  const days = int(ctx, 'logRetentionDays', 90, 1, 3653);
  if (!LOG_RETENTION_DAYS.includes(days)) fail('logRetentionDays', `${days} is not one of ${LOG_RETENTION_DAYS.join(', ')}`);
  return days;
}

const SUBNET = /^subnet-([0-9a-f]{8}|[0-9a-f]{17})$/;
const SECURITY_GROUP = /^sg-([0-9a-f]{8}|[0-9a-f]{17})$/;
const VPC = /^vpc-([0-9a-f]{8}|[0-9a-f]{17})$/;

/** The aggregator's engine and, for `fargate`, what the task needs — given, never looked up (synth stays offline). */
function aggregatorEngine(ctx: Context) {
  const engine = str(ctx, 'aggregatorEngine', undefined, 'lambda');
  if (!(AGGREGATOR_ENGINES as readonly string[]).includes(engine)) {
    fail('aggregatorEngine', `${JSON.stringify(engine)} is not one of ${AGGREGATOR_ENGINES.join(', ')}`);
  }
  const fargate = engine === 'fargate';
  const subnets = list(ctx, 'aggregatorSubnetIds', SUBNET, [], true);
  const securityGroups = list(ctx, 'aggregatorSecurityGroupIds', SECURITY_GROUP, [], true);
  const vpc = ctx('aggregatorVpcId');
  if (vpc !== undefined && (typeof vpc !== 'string' || !VPC.test(vpc))) fail('aggregatorVpcId', `${JSON.stringify(vpc)} does not match ${VPC}`);
  if (fargate && subnets.length === 0) {
    fail(
      'aggregatorSubnetIds',
      'aggregatorEngine=fargate needs the subnets the task runs in (private subnets with a NAT gateway or VPC endpoints, see cdk/README.md)',
    );
  }
  if (fargate && securityGroups.length === 0 && vpc === undefined) {
    fail('aggregatorVpcId', 'aggregatorEngine=fargate needs aggregatorSecurityGroupIds, or aggregatorVpcId to create an egress-only security group in');
  }
  const cpu = int(ctx, 'aggregatorCpu', 512, 256, 4096);
  const sizes = FARGATE_TASK_SIZES[cpu];
  if (!sizes) fail('aggregatorCpu', `${cpu} is not one of ${Object.keys(FARGATE_TASK_SIZES).join(', ')} (CPU units, 1024 = 1 vCPU)`);
  const memory = int(ctx, 'aggregatorMemoryMiB', 1024, 512, 30720);
  if (!sizes.includes(memory)) {
    fail('aggregatorMemoryMiB', `${memory} is not a size Fargate offers with aggregatorCpu ${cpu}: ${sizes.join(', ')}`);
  }
  return {
    aggregatorEngine: engine as AggregatorEngine,
    aggregatorSubnetIds: subnets,
    aggregatorSecurityGroupIds: securityGroups,
    aggregatorVpcId: vpc as string | undefined,
    aggregatorAssignPublicIp: bool(ctx, 'aggregatorAssignPublicIp', false),
    aggregatorCpu: cpu,
    aggregatorMemoryMiB: memory,
  };
}

export function readSettings(ctx: Context): Settings {
  const adminAccountId = str(ctx, 'adminAccountId', ACCOUNT);
  const managementAccountId = str(ctx, 'managementAccountId', ACCOUNT);
  const prefix = str(ctx, 'prefix', /^[a-z][a-z0-9-]{2,30}$/, 'lambda-runtime-guard');
  const homeRegion = str(ctx, 'homeRegion', REGION);
  const ruleRegions = list(ctx, 'ruleRegions', REGION);
  const frequency = str(ctx, 'maximumExecutionFrequency', undefined, 'TwentyFour_Hours');
  if (!(MAXIMUM_EXECUTION_FREQUENCIES as readonly string[]).includes(frequency)) {
    fail('maximumExecutionFrequency', `${JSON.stringify(frequency)} is not one of ${MAXIMUM_EXECUTION_FREQUENCIES.join(', ')}`);
  }
  const callAs = str(ctx, 'stackSetCallAs', /^(SELF|DELEGATED_ADMIN)$/, adminAccountId === managementAccountId ? 'SELF' : 'DELEGATED_ADMIN');
  const reportsPrefix = ctx('reportsPrefix') ?? prefix;
  if (typeof reportsPrefix !== 'string' || !/^([a-z0-9!_.*()-]+(\/[a-z0-9!_.*()-]+)*)?$/i.test(reportsPrefix)) {
    fail('reportsPrefix', `${JSON.stringify(reportsPrefix)} must be key segments without leading or trailing slashes`);
  }
  const ruleParameters = ctx('ruleParameters') ?? {};
  const perAccount = list(ctx, 'perAccountRuleTargets', /^\d{12}\/[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, [], true);
  return {
    organizationId: str(ctx, 'organizationId', /^o-[a-z0-9]{10,32}$/),
    managementAccountId,
    adminAccountId,
    homeRegion,
    ruleRegions,
    memberOuIds: list(ctx, 'memberOuIds', /^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$/),
    ruleName: str(ctx, 'ruleName', /^[A-Za-z0-9_-]{1,64}$/, 'lambda-runtime-lifecycle'),
    ruleParameters: validateRuleParameters(typeof ruleParameters === 'string' ? JSON.parse(ruleParameters) : ruleParameters),
    maximumExecutionFrequency: frequency as MaximumExecutionFrequency,
    excludedAccounts: list(ctx, 'excludedAccounts', ACCOUNT, [], true),
    memberRoleName: str(ctx, 'memberRoleName', /^[\w+=,.@-]{1,64}$/, `${prefix}-rule-member`),
    managementAccountMemberStack: bool(ctx, 'managementAccountMemberStack', true),
    stackSetCallAs: callAs as Settings['stackSetCallAs'],
    automaticUpgrades: bool(ctx, 'automaticUpgrades', false),
    reportsBucketName: str(ctx, 'reportsBucketName', /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/),
    reportsPrefix,
    reportsFirstDay: str(ctx, 'reportsFirstDay', /^\d{4}-\d{2}-\d{2}$/),
    reportsHourUtc: int(ctx, 'reportsHourUtc', 6, 0, 23),
    createConfigAggregator: bool(ctx, 'createConfigAggregator', true),
    configAggregatorName: str(ctx, 'configAggregatorName', /^[\w-]{1,256}$/, `${prefix}-organization`),
    logRetentionDays: retention(ctx),
    ...aggregatorEngine(ctx),
    perAccountRuleTargets: perAccount.map((target) => {
      const [account, region] = target.split('/');
      return { account, region };
    }),
    perAccountAutomaticRemediation: bool(ctx, 'perAccountAutomaticRemediation', false),
    ruleZip: str(ctx, 'ruleZip', undefined, '../target/lambda/arm64/rule/bootstrap.zip'),
    aggregatorZip: str(ctx, 'aggregatorZip', undefined, '../target/lambda/arm64/aggregator/bootstrap.zip'),
    standInZips: bool(ctx, 'standInZips', process.env.LRG_STAND_IN_ZIPS === '1'),
    prefix,
  };
}
