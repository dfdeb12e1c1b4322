/**
 * The service-managed StackSet (admin account, home region) that deploys the member template to every account of
 * the member OUs in every rule region. Its TemplateBody is the member stack's synthesized template (no assets).
 */
import { Lazy, Stack, StackProps, Stage } from 'aws-cdk-lib';
import * as cloudformation from 'aws-cdk-lib/aws-cloudformation';
import { Construct } from 'constructs';
import type { MemberStack } from './member-stack';
import { names } from './names';
import type { Settings } from './settings';

export interface MemberStackSetStackProps extends StackProps {
  settings: Settings;
  /** the member template's stack, alone in its own Stage */
  member: MemberStack;
}

/** CloudFormation's limit for an inline TemplateBody (bytes). */
export const TEMPLATE_BODY_LIMIT = 51_200;

/**
 * The member template body: the member Stage's own (cached) synthesis, without CDK's construct-path metadata
 * (which only serves the CDK CLI and costs template bytes).
 */
export function memberTemplate(member: MemberStack): Record<string, unknown> {
  const stage = Stage.of(member);
  if (!stage) throw new Error('the member stack must be in a Stage');
  const template = structuredClone(stage.synth().getStackArtifact(member.artifactId).template) as {
    Resources: Record<string, { Metadata?: Record<string, unknown> }>;
  };
  for (const resource of Object.values(template.Resources)) {
    if (resource.Metadata) {
      delete resource.Metadata['aws:cdk:path'];
      if (Object.keys(resource.Metadata).length === 0) delete resource.Metadata;
    }
  }
  return template;
}

/**
 * An `Fn::Join` with an empty delimiter over literal strings, `Ref`s and `Fn::GetAtt`s is the same string as an
 * `Fn::Sub` of one template (a literal `${` is written `${!`; AWS::CloudFormation Fn::Sub reference), which is about
 * 25 bytes shorter: every ARN CDK builds from `Aws.PARTITION`/`Aws.ACCOUNT_ID` is such a join. Resources only
 * (Fn::Sub is not a condition function); anything else is left as it is.
 */
export function compactJoins(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(compactJoins);
  if (!value || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1 && entries[0][0] === 'Fn::Join') {
    const [delimiter, parts] = entries[0][1] as [unknown, unknown];
    if (delimiter === '' && Array.isArray(parts)) {
      let text = '';
      for (const part of parts) {
        const ref = part && typeof part === 'object' ? (part as Record<string, unknown>) : undefined;
        const keys = ref ? Object.keys(ref) : [];
        if (typeof part === 'string') text += part.replace(/\$\{/g, '${!');
        else if (keys.length === 1 && typeof ref?.Ref === 'string') text += `\${${ref.Ref}}`;
        else if (keys.length === 1 && Array.isArray(ref?.['Fn::GetAtt']) && (ref['Fn::GetAtt'] as unknown[]).every((x) => typeof x === 'string')) {
          text += `\${${(ref['Fn::GetAtt'] as string[]).join('.')}}`;
        } else return Object.fromEntries(entries.map(([k, v]) => [k, compactJoins(v)]));
      }
      return { 'Fn::Sub': text };
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, compactJoins(v)]));
}

export function memberTemplateBody(member: MemberStack): string {
  const template = memberTemplate(member) as { Resources: unknown };
  const body = JSON.stringify({ ...template, Resources: compactJoins(template.Resources) });
  if (Buffer.byteLength(body) > TEMPLATE_BODY_LIMIT) {
    throw new Error(
      `the member template is ${Buffer.byteLength(body)} bytes, over CloudFormation's ${TEMPLATE_BODY_LIMIT}-byte TemplateBody limit`,
    );
  }
  return body;
}

export class MemberStackSetStack extends Stack {
  readonly stackSet: cloudformation.CfnStackSet;

  constructor(scope: Construct, id: string, props: MemberStackSetStackProps) {
    super(scope, id, props);
    const s = props.settings;
    // Home region first: the member roles (global) are created by the home-region stack instance.
    const regions = [s.homeRegion, ...s.ruleRegions.filter((r) => r !== s.homeRegion)];
    this.stackSet = new cloudformation.CfnStackSet(this, 'Member', {
      stackSetName: names(s).stackSet,
      description: 'lambda-runtime-guard member accounts: rule member role, runbooks, successor parameters, remediation events',
      permissionModel: 'SERVICE_MANAGED',
      callAs: s.stackSetCallAs,
      autoDeployment: { enabled: true, retainStacksOnAccountRemoval: false },
      managedExecution: { Active: true },
      capabilities: ['CAPABILITY_NAMED_IAM'],
      operationPreferences: {
        regionConcurrencyType: 'SEQUENTIAL',
        regionOrder: regions,
        maxConcurrentPercentage: 25,
        failureTolerancePercentage: 10,
      },
      stackInstancesGroup: [
        {
          deploymentTargets: { organizationalUnitIds: s.memberOuIds },
          regions,
        },
      ],
      templateBody: Lazy.string({ produce: () => memberTemplateBody(props.member) }),
    });
  }
}
