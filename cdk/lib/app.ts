/**
 * Builds the whole app from the context: used by bin/app.ts (cdk synth/deploy) and by the tests (one app per
 * test file, with test context), so both carry the same stacks, cdk-nag checks and acknowledgements.
 */
import { App, AppProps, Stage, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { acknowledge } from './nag-acknowledgements';
import { MemberStack } from './member-stack';
import { MemberStackSetStack } from './member-stackset-stack';
import { OrgRuleStack } from './org-rule-stack';
import { PerAccountRuleStack } from './per-account-rule-stack';
import { ReportingStack } from './reporting-stack';
import { readSettings, Settings } from './settings';

export interface LambdaRuntimeGuard {
  app: App;
  settings: Settings;
  orgRules: OrgRuleStack[];
  member: MemberStack;
  memberStackSet: MemberStackSetStack;
  managementMembers: MemberStack[];
  perAccountRules: PerAccountRuleStack[];
  reporting: ReportingStack;
}

export function buildApp(props: AppProps = {}): LambdaRuntimeGuard {
  const app = new App(props);
  const settings = readSettings((key) => app.node.tryGetContext(key));
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

  const admin = (region: string) => ({ account: settings.adminAccountId, region });
  const orgRules = settings.ruleRegions.map(
    (region) => new OrgRuleStack(app, `OrgRule-${region}`, { env: admin(region), settings, description: `lambda-runtime-guard organization rule (${region})` }),
  );

  // The member template: env-agnostic, alone in its own Stage, so its synthesized template is the StackSet body.
  const memberStage = new Stage(app, 'Member');
  const member = new MemberStack(memberStage, 'Template', { settings, description: 'lambda-runtime-guard member account (StackSet template)' });
  const memberStackSet = new MemberStackSetStack(app, 'MemberStackSet', {
    env: admin(settings.homeRegion),
    settings,
    member,
    description: 'lambda-runtime-guard member StackSet',
  });
  // Service-managed StackSets never target the management account; org rules include it.
  const managementMembers = settings.managementAccountMemberStack
    ? [settings.homeRegion, ...settings.ruleRegions.filter((r) => r !== settings.homeRegion)].map(
        (region) =>
          new MemberStack(app, `ManagementMember-${region}`, {
            env: { account: settings.managementAccountId, region },
            settings,
            description: 'lambda-runtime-guard member account (management account, plain stack)',
          }),
      )
    : [];
  const perAccountRules = settings.perAccountRuleTargets.map(
    ({ account, region }) =>
      new PerAccountRuleStack(app, `PerAccountRule-${account}-${region}`, {
        env: { account, region },
        settings,
        description: 'lambda-runtime-guard per-account Config rule with remediation (alternative to the organization rule)',
      }),
  );
  const reporting = new ReportingStack(app, 'Reporting', {
    env: admin(settings.homeRegion),
    settings,
    description: 'lambda-runtime-guard reporting: bucket, aggregator, Glue, Athena',
  });

  const result = { app, settings, orgRules, member, memberStackSet, managementMembers, perAccountRules, reporting };
  acknowledge(result);
  return result;
}
