/**
 * The organization rule in one region, in the Config delegated administrator account: the rule Lambda (the Rust
 * binary from `cargo xtask lambda`), its log group and role, Config's permission to invoke it and the
 * AWS::Config::OrganizationConfigRule (org rules are regional: one such stack per rule region).
 */
import { Aws, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as config from 'aws-cdk-lib/aws-config';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { environmentName, iamActions, runtimeUpgrades } from './contracts';
import { policyDocument } from './iam';
import { lambdaCode } from './lambda-code';
import { names } from './names';
import type { Settings } from './settings';

export const TRIGGER_TYPES = [
  'ConfigurationItemChangeNotification',
  'OversizedConfigurationItemChangeNotification',
  'ScheduledNotification',
];

export interface OrgRuleStackProps extends StackProps {
  settings: Settings;
}

/** Where `ssm:GetParameter` may read: the configured catalog overlay, else the deployment's own SSM prefix. */
export function catalogParameterArn(settings: Settings): string {
  const name = settings.ruleParameters.catalogSsmParameter ?? '';
  if (name.startsWith('arn:')) return name;
  if (name !== '') return `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter/${name.replace(/^\//, '')}`;
  return `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${Aws.ACCOUNT_ID}:parameter${runtimeUpgrades().ssm_prefix}/*`;
}

export class OrgRuleStack extends Stack {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly permission: lambda.CfnPermission;
  readonly rule: config.CfnOrganizationConfigRule;
  readonly standIn: boolean;

  constructor(scope: Construct, id: string, props: OrgRuleStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const n = names(s);
    const region = this.region;

    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${n.ruleFunction}`,
      retention: s.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const functionResources = [`arn:${Aws.PARTITION}:lambda:${Aws.REGION}:${Aws.ACCOUNT_ID}:function:*`];
    const resourceOf = (action: string): string[] => {
      if (action === 'ssm:GetParameter') return [catalogParameterArn(s)];
      if (action === 'lambda:ListFunctions') return ['*'];
      if (action.startsWith('lambda:')) return functionResources;
      if (action === 'sts:AssumeRole') return [`arn:${Aws.PARTITION}:iam::*:role/${n.memberRole}`];
      return ['*'];
    };
    const contract = policyDocument(iamActions('rule').filter((a) => a !== 'sts:AssumeRole'), resourceOf);
    // Organization mode: only the member role, and only in accounts of this organization.
    contract.addStatements(
      new iam.PolicyStatement({
        actions: ['sts:AssumeRole'],
        resources: resourceOf('sts:AssumeRole'),
        conditions: { StringEquals: { 'aws:ResourceOrgID': s.organizationId } },
      }),
    );
    this.role = new iam.Role(this, 'Role', {
      roleName: n.ruleRole(region),
      description: 'lambda-runtime-guard rule Lambda (organization rule)',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      inlinePolicies: {
        contract,
        logs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [`${logGroup.logGroupArn}:*`],
            }),
          ],
        }),
      },
    });

    const code = lambdaCode('rule', s.ruleZip, s.standInZips);
    this.standIn = code.standIn;
    this.function = new lambda.Function(this, 'Function', {
      functionName: n.ruleFunction,
      description: `lambda-runtime-guard: organization Config rule ${s.ruleName}`,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: code.code,
      role: this.role,
      logGroup,
      memorySize: 256,
      // A sweep paces its Lambda calls (10 a second by default, under Lambda's 15 a second per account and Region):
      // ListFunctions pages of 50 plus at most 750 mode reads, about 95 s for 10,000 functions and 275 s for
      // 100,000. Lambda's most, so that a large account's sweep finishes; billed only for what runs.
      timeout: Duration.minutes(15),
      environment: { [environmentName('rule', 'RULE_MEMBER_ROLE_NAME')]: n.memberRole },
    });

    // No SourceAccount: Config invokes the function from every member account, and Lambda permissions have no
    // organization condition for service principals (see nag-acknowledgements.ts and cdk/README.md).
    this.permission = new lambda.CfnPermission(this, 'ConfigInvoke', {
      action: 'lambda:InvokeFunction',
      functionName: this.function.functionArn,
      principal: 'config.amazonaws.com',
    });

    this.rule = new config.CfnOrganizationConfigRule(this, 'OrganizationRule', {
      organizationConfigRuleName: s.ruleName,
      excludedAccounts: s.excludedAccounts.length > 0 ? s.excludedAccounts : undefined,
      organizationCustomRuleMetadata: {
        description: 'Lambda functions on deprecated or soon-deprecated runtimes (lambda-runtime-guard)',
        lambdaFunctionArn: this.function.functionArn,
        organizationConfigRuleTriggerTypes: TRIGGER_TYPES,
        resourceTypesScope: ['AWS::Lambda::Function'],
        inputParameters: JSON.stringify(s.ruleParameters),
        maximumExecutionFrequency: s.maximumExecutionFrequency,
      },
    });
    // Config validates the permission when it creates the rule.
    this.rule.addResourceDependency(this.permission);
  }
}
