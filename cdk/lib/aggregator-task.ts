/**
 * What the aggregator gets whichever engine runs it — its environment, its architecture, its daily schedule — and the
 * `fargate` engine (context `aggregatorEngine=fargate`): a scheduled ECS Fargate task running the image
 * aggregator/Dockerfile builds (the same binary; its command `run` falls back to the Lambda's environment variables),
 * at the Lambda's time, with the Lambda role's contract policy on its task role.
 *
 * Nothing is looked up: the subnets, the security groups (or the VPC to create one in) come from the settings, and the
 * image is a Docker asset that `cdk synth` only stages (the repository root, filtered by .dockerignore) and
 * `cdk deploy` builds and pushes to the bootstrap ECR repository.
 */
import { Aws, Duration, IgnoreMode, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { environmentName, REPO_DIR } from './contracts';
import { names } from './names';
import type { Settings } from './settings';

/**
 * The aggregator's environment (the names cdk/contracts/environment.json lists): one map, for the Lambda and for the
 * container task alike.
 */
export function aggregatorEnvironment(s: Settings): Record<string, string> {
  const env = (name: string) => environmentName('aggregator', name);
  return {
    [env('AGGREGATOR_CONFIG_AGGREGATOR')]: s.configAggregatorName,
    [env('AGGREGATOR_RULES')]: s.ruleName,
    [env('AGGREGATOR_OUTPUT')]: `s3://${s.reportsBucketName}${s.reportsPrefix ? `/${s.reportsPrefix}` : ''}`,
    [env('AGGREGATOR_RULE_PARAMETERS')]: JSON.stringify(s.ruleParameters),
    [env('AGGREGATOR_MEMBER_ROLE_NAME')]: names(s).aggregatorMemberRole,
  };
}

/** One architecture for the aggregator, whichever engine runs it (`cargo xtask lambda`'s zip is arm64). */
export const AGGREGATOR_ARCHITECTURE = {
  lambda: lambda.Architecture.ARM_64,
  ecs: ecs.CpuArchitecture.ARM64,
  image: Platform.LINUX_ARM64,
};

/** The daily run, UTC (the snapshot date is the UTC day), whichever engine runs it. */
export function dailySchedule(s: Settings): events.Schedule {
  return events.Schedule.cron({ minute: '0', hour: String(s.reportsHourUtc) });
}

/** The image: aggregator/Dockerfile, the repository root as its context (filtered by the root .dockerignore). */
export const AGGREGATOR_DOCKERFILE = 'aggregator/Dockerfile';

/**
 * Exit codes of `aggregator run` that are not a failure (README "Exit status"): 0 published, 2 published with gaps,
 * 3 kept the day's better snapshot. The Lambda returns its summary in those cases; anything else is a dead letter.
 */
export const SUCCESSFUL_EXIT_CODES = [0, 2, 3];

export interface AggregatorTaskProps {
  settings: Settings;
  /** the aggregator's policy (iam.json "aggregator"), the same document the Lambda's role carries */
  contract: iam.PolicyDocument;
  /** undeliverable schedule events and failed runs */
  deadLetterQueue: sqs.IQueue;
}

export class AggregatorTask extends Construct {
  readonly cluster: ecs.CfnCluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  /** the task role: the contract policy only (the log driver writes with the execution role) */
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly securityGroupIds: string[];
  readonly schedule: events.Rule;
  readonly scheduleRole: iam.Role;
  readonly failedRuns: events.Rule;

  constructor(scope: Construct, id: string, props: AggregatorTaskProps) {
    super(scope, id);
    const s = props.settings;
    const n = names(s);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/ecs/${n.aggregatorTask}`,
      retention: s.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.cluster = new ecs.CfnCluster(this, 'Cluster', {
      clusterName: n.aggregatorTask,
      clusterSettings: [{ name: 'containerInsights', value: 'enabled' }],
    });
    this.role = new iam.Role(this, 'TaskRole', {
      // named as the Lambda's role (only one engine is deployed): the member accounts' reader role trusts this ARN
      roleName: n.aggregatorRole,
      description: 'lambda-runtime-guard aggregator task (ECS Fargate)',
      // confused-deputy guard: only ECS tasks of this account and region
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:ecs:${Aws.REGION}:${Aws.ACCOUNT_ID}:*` },
        },
      }),
      inlinePolicies: { contract: props.contract },
    });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      family: n.aggregatorTask,
      cpu: s.aggregatorCpu,
      memoryLimitMiB: s.aggregatorMemoryMiB,
      runtimePlatform: { cpuArchitecture: AGGREGATOR_ARCHITECTURE.ecs, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      taskRole: this.role,
      // the execution role (image pull, log stream) is the one CDK generates, granted exactly the asset's repository
      // and this log group
    });
    this.container = this.taskDefinition.addContainer('aggregator', {
      image: ecs.ContainerImage.fromAsset(REPO_DIR, {
        file: AGGREGATOR_DOCKERFILE,
        platform: AGGREGATOR_ARCHITECTURE.image,
        ignoreMode: IgnoreMode.DOCKER,
      }),
      command: ['run'],
      environment: aggregatorEnvironment(s),
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'aggregator' }),
      // with an s3:// output the aggregator writes no file: the upload is streamed from memory
      readonlyRootFilesystem: true,
      essential: true,
    });

    this.securityGroupIds =
      s.aggregatorSecurityGroupIds.length > 0
        ? s.aggregatorSecurityGroupIds
        : [
            new ec2.CfnSecurityGroup(this, 'SecurityGroup', {
              groupDescription: 'lambda-runtime-guard aggregator task: no inbound; outbound HTTPS only (AWS APIs, ECR, S3)',
              vpcId: s.aggregatorVpcId as string, // readSettings requires it when no group ids are given
              securityGroupEgress: [
                { ipProtocol: 'tcp', fromPort: 443, toPort: 443, cidrIp: '0.0.0.0/0', description: 'HTTPS to AWS endpoints' },
              ],
            }).attrGroupId,
          ];

    // EventBridge starts the task: RunTask of exactly this task definition in this cluster, passing its two roles to ECS.
    const executionRole = this.taskDefinition.obtainExecutionRole();
    this.scheduleRole = new iam.Role(this, 'ScheduleRole', {
      description: 'EventBridge: start the lambda-runtime-guard aggregator task',
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      inlinePolicies: {
        runTask: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['ecs:RunTask'],
              resources: [this.taskDefinition.taskDefinitionArn],
              conditions: { ArnEquals: { 'ecs:cluster': this.cluster.attrArn } },
            }),
            new iam.PolicyStatement({
              actions: ['iam:PassRole'],
              resources: [this.role.roleArn, executionRole.roleArn],
              conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
            }),
          ],
        }),
      },
    });
    const task = this;
    this.schedule = new events.Rule(this, 'Daily', {
      ruleName: `${s.prefix}-aggregator-daily`,
      description: 'Daily snapshot of the lambda-runtime-guard evaluations (UTC): one ECS Fargate task',
      schedule: dailySchedule(s),
    });
    this.schedule.addTarget({
      bind(rule: events.IRule): events.RuleTargetConfig {
        targets.addToDeadLetterQueueResourcePolicy(rule, props.deadLetterQueue);
        return {
          arn: task.cluster.attrArn,
          role: task.scheduleRole,
          ecsParameters: {
            taskDefinitionArn: task.taskDefinition.taskDefinitionArn,
            // one task a day; EventBridge retries only a RunTask call that failed (no task started)
            taskCount: 1,
            launchType: 'FARGATE',
            platformVersion: 'LATEST',
            networkConfiguration: {
              awsVpcConfiguration: {
                subnets: s.aggregatorSubnetIds,
                securityGroups: task.securityGroupIds,
                assignPublicIp: s.aggregatorAssignPublicIp ? 'ENABLED' : 'DISABLED',
              },
            },
          },
          retryPolicy: { maximumRetryAttempts: 4, maximumEventAgeInSeconds: Duration.hours(6).toSeconds() },
          deadLetterConfig: { arn: props.deadLetterQueue.queueArn },
          targetResource: task.taskDefinition,
        };
      },
    });

    // A run that failed (an exit code the Lambda would have turned into an invocation error) or never started is a
    // dead letter too, as the Lambda's failed invocations are: the task's stop event, to rerun it by hand.
    this.failedRuns = new events.Rule(this, 'FailedRuns', {
      ruleName: `${s.prefix}-aggregator-failed`,
      description: 'lambda-runtime-guard aggregator task stopped with a failure: to the dead-letter queue',
      eventPattern: {
        source: ['aws.ecs'],
        detailType: ['ECS Task State Change'],
        detail: {
          clusterArn: [this.cluster.attrArn],
          lastStatus: ['STOPPED'],
          $or: [{ containers: { exitCode: [{ 'anything-but': SUCCESSFUL_EXIT_CODES }] } }, { stopCode: ['TaskFailedToStart'] }],
        },
      },
      targets: [new targets.SqsQueue(props.deadLetterQueue)],
    });
  }
}
