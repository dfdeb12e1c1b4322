/**
 * Reporting (Config delegated administrator, home region): the reports bucket, the aggregator on a daily UTC
 * schedule — a Lambda (retries + encrypted dead-letter queue), or with `aggregatorEngine=fargate` a scheduled ECS
 * Fargate task of the same binary with the same environment and IAM — the Glue table equal to `aggregator ddl` (from
 * cdk/contracts/dataset.json), the Athena workgroup and one named query per aggregator/queries/*.sql, and the
 * organization Config aggregator the aggregator reads.
 */
import { Aws, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as config from 'aws-cdk-lib/aws-config';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { catalogParameterArn } from './org-rule-stack';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AGGREGATOR_ARCHITECTURE, aggregatorEnvironment, AggregatorTask, dailySchedule } from './aggregator-task';
import { dataset, iamActions, partitionKeys, queries } from './contracts';
import { policyDocument } from './iam';
import { lambdaCode } from './lambda-code';
import { names } from './names';
import type { Settings } from './settings';

export interface ReportingStackProps extends StackProps {
  settings: Settings;
}

/** `s3://bucket/prefix/evaluations/` — the table root the DDL's `{root}` stands for. */
export function tableRoot(s: Settings): string {
  const prefix = s.reportsPrefix ? `${s.reportsPrefix}/` : '';
  return `s3://${s.reportsBucketName}/${prefix}${dataset().layout.prefix}`;
}

/** The table name the named queries read: the layout's directory (`evaluations/` → `evaluations`). */
export function tableName(): string {
  return dataset().layout.prefix.replace(/\/+$/, '');
}

export function tableProperties(s: Settings): Record<string, string> {
  const root = tableRoot(s);
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(dataset().table_properties)) {
    result[key] = value.replace(/\{root\}/g, root).replace(/\{first_day\}/g, s.reportsFirstDay);
  }
  return result;
}

/** What both buckets share: private, TLS-only, encrypted, owner-enforced, versioned. */
const HARDENED_BUCKET = {
  blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
  enforceSSL: true,
  minimumTLSVersion: 1.2,
  encryption: s3.BucketEncryption.S3_MANAGED,
  objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
  versioned: true,
} satisfies s3.BucketProps;

export class ReportingStack extends Stack {
  readonly bucket: s3.Bucket;
  /** the aggregator Lambda (engine `lambda`) */
  readonly function?: lambda.Function;
  /** the aggregator's container task (engine `fargate`) */
  readonly task?: AggregatorTask;
  /** the aggregator's role, with the contract's policy: the Lambda's role, or the task's role */
  readonly role: iam.Role;
  readonly deadLetterQueue: sqs.Queue;
  readonly workGroup: athena.CfnWorkGroup;
  readonly table: glue.CfnTable;
  readonly standIn: boolean;

  constructor(scope: Construct, id: string, props: ReportingStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const n = names(s);
    const data = dataset();
    const outputPrefix = s.reportsPrefix ? `${s.reportsPrefix}/` : '';

    // -- Buckets: the reports bucket logs to a separate access-log bucket.
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...HARDENED_BUCKET,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) },
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.bucket = new s3.Bucket(this, 'Reports', {
      bucketName: s.reportsBucketName,
      ...HARDENED_BUCKET,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'reports/',
      lifecycleRules: [
        // The aggregator uploads multipart and aborts on failure; this is the backstop when it dies first.
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // A rerun of a date replaces that day's object: keep the replaced version a while, then drop it.
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(30) },
        { id: 'expire-athena-results', prefix: 'athena-results/', expiration: Duration.days(30) },
        // A run's checkpoints: removed by the run once it publishes; kept by a killed or failed run for its
        // rerun of the date. Two days is the backstop for a date never run again; their replaced versions go
        // after a day (and the delete markers with them: S3 removes an expired one).
        {
          id: 'expire-run-checkpoints',
          prefix: `${outputPrefix}${data.layout.prefix}${data.layout.staging}`,
          expiration: Duration.days(2),
          noncurrentVersionExpiration: Duration.days(1),
        },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // -- Organization Config aggregator (optional; else an existing one named configAggregatorName).
    let aggregatorArn = `arn:${Aws.PARTITION}:config:${Aws.REGION}:${Aws.ACCOUNT_ID}:config-aggregator/*`;
    if (s.createConfigAggregator) {
      const role = new iam.Role(this, 'ConfigAggregatorRole', {
        description: 'AWS Config organization aggregator (lambda-runtime-guard)',
        assumedBy: new iam.ServicePrincipal('config.amazonaws.com'),
        managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSConfigRoleForOrganizations')],
      });
      const aggregator = new config.CfnConfigurationAggregator(this, 'ConfigAggregator', {
        configurationAggregatorName: s.configAggregatorName,
        organizationAggregationSource: { allAwsRegions: true, roleArn: role.roleArn },
      });
      aggregatorArn = aggregator.attrConfigurationAggregatorArn;
    }

    // -- The aggregator: its policy (iam.json "aggregator", each action on the narrowest resource), for either engine.
    this.deadLetterQueue = new sqs.Queue(this, 'AggregatorDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const evaluationObjects = this.bucket.arnForObjects(`${outputPrefix}${data.layout.prefix}*`);
    const evaluationsPrefix = `${outputPrefix}${data.layout.prefix}`;
    const resourceOf = (action: string): string[] => {
      // ListBucket is a bucket action, held to the snapshots' prefix by the s3:prefix condition below
      if (action === 's3:ListBucket') return [this.bucket.bucketArn];
      if (action.startsWith('s3:')) return [evaluationObjects];
      // the aggregate reads name the aggregator; other Config reads (the rules' own definitions) have no such resource
      if (/^config:\w*Aggregate/.test(action)) return [aggregatorArn];
      // the catalog overlay the rule reads (catalogSsmParameter), the same parameter as the rule's role
      if (action === 'ssm:GetParameter') return [catalogParameterArn(s)];
      if (action === 'sts:AssumeRole') return [`arn:${Aws.PARTITION}:iam::*:role/${n.aggregatorMemberRole}`];
      return ['*'];
    };
    const contract = policyDocument(iamActions('aggregator'), resourceOf, (action): Record<string, Record<string, unknown>> | undefined => {
      if (action === 's3:ListBucket') return { StringLike: { 's3:prefix': [`${evaluationsPrefix}*`] } };
      // only the member reader role, and only in accounts of this organization
      if (action === 'sts:AssumeRole') return { StringEquals: { 'aws:ResourceOrgID': s.organizationId } };
      return undefined;
    });

    if (s.aggregatorEngine === 'fargate') {
      this.task = new AggregatorTask(this, 'AggregatorTask', { settings: s, contract, deadLetterQueue: this.deadLetterQueue });
      this.role = this.task.role;
      this.standIn = false;
    } else {
      const logGroup = new logs.LogGroup(this, 'AggregatorLogs', {
        logGroupName: `/aws/lambda/${n.aggregatorFunction}`,
        retention: s.logRetentionDays as logs.RetentionDays,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      this.role = new iam.Role(this, 'AggregatorRole', {
        // named: the member accounts' reader role trusts this ARN (names.ts); the task role has the same name
        roleName: n.aggregatorRole,
        description: 'lambda-runtime-guard aggregator Lambda',
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com', {
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
        inlinePolicies: {
          contract,
          logs: new iam.PolicyDocument({
            statements: [
              new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`${logGroup.logGroupArn}:*`] }),
            ],
          }),
        },
      });
      const code = lambdaCode('aggregator', s.aggregatorZip, s.standInZips);
      this.standIn = code.standIn;
      this.function = new lambda.Function(this, 'Aggregator', {
        functionName: n.aggregatorFunction,
        description: 'lambda-runtime-guard: daily Parquet snapshot of the organization rule evaluations',
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture: AGGREGATOR_ARCHITECTURE.lambda,
        handler: 'bootstrap',
        code: code.code,
        role: this.role,
        logGroup,
        memorySize: 1024,
        timeout: Duration.minutes(15),
        // A run that fails (an error, or the 15-minute timeout) is run again by Lambda twice, one and then two
        // minutes later (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html);
        // each retry resumes the day's checkpoints, so a run out of time goes on where it stopped. After that
        // it is a dead letter: rerun it by hand (idempotent per date). EventBridge's retries (below) cover
        // only the delivery of the event.
        retryAttempts: 2,
        deadLetterQueue: this.deadLetterQueue,
        environment: aggregatorEnvironment(s),
      });

      // -- Daily, UTC (the snapshot date is the UTC day).
      new events.Rule(this, 'Daily', {
        ruleName: `${s.prefix}-aggregator-daily`,
        description: 'Daily snapshot of the lambda-runtime-guard evaluations (UTC)',
        schedule: dailySchedule(s),
        targets: [
          new targets.LambdaFunction(this.function, {
            retryAttempts: 4,
            maxEventAge: Duration.hours(6),
            deadLetterQueue: this.deadLetterQueue,
          }),
        ],
      });
    }

    // -- Glue table = `aggregator ddl`.
    const database = new glue.CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: { name: n.glueDatabase, description: 'lambda-runtime-guard reports' },
    });
    const column = (c: { name: string; athena_type: string; comment?: string }) => ({
      name: c.name,
      type: c.athena_type,
      comment: c.comment ? c.comment.slice(0, 255) : undefined,
    });
    this.table = new glue.CfnTable(this, 'Evaluations', {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: n.glueDatabase,
      tableInput: {
        name: tableName(),
        description: 'Daily snapshots of the Lambda runtime lifecycle evaluations (aggregator ddl)',
        tableType: 'EXTERNAL_TABLE',
        parameters: { EXTERNAL: 'TRUE', classification: 'parquet', ...tableProperties(s) },
        partitionKeys: partitionKeys(data).map(column),
        storageDescriptor: {
          columns: data.columns.map(column),
          location: tableRoot(s),
          inputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        },
      },
    });
    this.table.addResourceDependency(database);

    // -- Athena.
    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: n.workGroup,
      description: 'lambda-runtime-guard reports',
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: 10 * 1024 * 1024 * 1024,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${s.reportsBucketName}/athena-results/`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });
    for (const query of queries()) {
      const named = new athena.CfnNamedQuery(this, `Query-${query.name}`, {
        name: `${s.prefix}-${query.name}`,
        description: query.description,
        database: n.glueDatabase,
        workGroup: n.workGroup,
        queryString: query.sql,
      });
      named.addResourceDependency(this.workGroup);
      named.addResourceDependency(this.table);
    }
  }
}
