/**
 * What every member account gets in every rule region (the StackSet's template; also deployed as a plain stack in
 * the management account, which service-managed StackSets never target):
 *   - the role the rule assumes (RULE_MEMBER_ROLE_NAME), trust pinned to the rule roles' ARNs and the organization
 *   - the aggregator's reader role (AGGREGATOR_MEMBER_ROLE_NAME: versions behind aliases, layers, invocations), trust
 *     pinned to the aggregator's role ARN and the organization
 *   - the Automation role, the runbooks (AWS::SSM::Document from cdk/runbooks/*.yaml, as they are)
 *   - the successor SSM parameters from cdk/contracts/runtime-upgrades.json
 *   - the SNS topic TagAndNotify publishes to
 *   - EventBridge: compliance change → SSM Automation, and the daily reconciliation
 * No assets, no Rules, no Parameters (BootstraplessSynthesizer). IAM is global, so the roles exist only in the
 * home-region stack instance (condition IsHomeRegion); every other reference uses the role's ARN by name.
 */
import { Aws, BootstraplessSynthesizer, CfnCondition, Fn, Stack, StackProps } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { complianceChangeWiring, iamActions, Runbook, runbooks, runtimeUpgrades } from './contracts';
import { policyDocument } from './iam';
import { names } from './names';
import type { Settings } from './settings';

export interface MemberStackProps extends StackProps {
  settings: Settings;
}

/** One EventBridge target the wiring file describes: which runbook, with which input. */
export interface WiringTarget {
  /** runbook key (cdk/runbooks/runbooks.json) */
  runbook: string;
  /** SSM document name the wiring file names for it */
  document: string;
  inputPathsMap: Record<string, string>;
  inputTemplate: string;
}

export interface Wiring {
  file: string;
  pattern: Record<string, unknown>;
  targets: WiringTarget[];
  /** the runbook (and its input) a daily schedule starts, when the wiring file names one */
  reconciliation?: { runbook: string; document: string; input: Record<string, unknown> };
}

/** Fills the wiring file's `%NAME%` placeholders; an unknown placeholder is an error naming it. */
export function fill(text: string, values: Record<string, string>, file: string): string {
  return text.replace(/%([A-Z][A-Z0-9_]*)%/g, (_, key: string) => {
    if (!(key in values)) throw new Error(`${file}: unknown placeholder %${key}% (known: ${Object.keys(values).join(', ')})`);
    return values[key];
  });
}

/**
 * cdk/runbooks/compliance-change-pattern.json: `eventPattern`, `targets: {runbook: {document, inputTransformer:
 * {InputPathsMap, InputTemplate}}}`, optional `reconciliation: {runbook, document, input}`; `%NAME%` placeholders.
 */
export function readWiring(values: Record<string, string>): Wiring {
  const { file, raw } = complianceChangeWiring();
  const filled = JSON.parse(fill(JSON.stringify(raw), values, file)) as Record<string, unknown>;
  const pattern = filled.eventPattern as Record<string, unknown> | undefined;
  if (!pattern) throw new Error(`${file}: no "eventPattern"`);
  const targets: WiringTarget[] = [];
  for (const [runbook, spec] of Object.entries((filled.targets ?? {}) as Record<string, Record<string, unknown>>)) {
    const transformer = spec.inputTransformer as { InputPathsMap?: Record<string, string>; InputTemplate?: string } | undefined;
    if (typeof spec.document !== 'string' || !transformer?.InputPathsMap || typeof transformer.InputTemplate !== 'string') {
      throw new Error(`${file}: target ${runbook} needs document and inputTransformer {InputPathsMap, InputTemplate}`);
    }
    targets.push({ runbook, document: spec.document, inputPathsMap: transformer.InputPathsMap, inputTemplate: transformer.InputTemplate });
  }
  if (targets.length === 0) throw new Error(`${file}: no targets`);
  if (targets.length > 5) throw new Error(`${file}: EventBridge allows at most 5 targets per rule`);
  const reconciliation = filled.reconciliation as Wiring['reconciliation'];
  return { file, pattern, targets, reconciliation };
}

/**
 * The runbooks one runbook's aws:executeAutomation steps start: a literal DocumentName (one of the deployed
 * documents), a parameter's allowedValues, or, for a step output (UpgradeLambdaRuntime reads its own name and
 * version with GetAutomationExecution), the runbook itself. A name that is not deployed here is an error.
 */
export function childRunbooks(book: Runbook, all: Runbook[]): string[] {
  const steps = ((book.content.mainSteps ?? []) as { action?: string; name?: string; inputs?: { DocumentName?: unknown } }[])
    .filter((step) => step.action === 'aws:executeAutomation');
  const parameters = (book.content.parameters ?? {}) as Record<string, { allowedValues?: string[] }>;
  const byDocument = (name: string, step?: string) => {
    const found = all.find((r) => r.documentName === name);
    if (!found) throw new Error(`${book.file}: step ${step} starts ${name}, which is not a runbook in runbooks.json`);
    return found.name;
  };
  return steps.flatMap((step) => {
    const name = String(step.inputs?.DocumentName ?? '');
    const reference = /^\{\{\s*([A-Za-z0-9_.]+)\s*\}\}$/.exec(name)?.[1];
    if (!reference) return [byDocument(name, step.name)];
    if (reference in parameters) {
      const allowed = parameters[reference].allowedValues;
      if (!allowed) throw new Error(`${book.file}: step ${step.name} starts {{ ${reference} }} without allowedValues`);
      return allowed.map((value) => byDocument(value, step.name));
    }
    return [book.name];
  });
}

export class MemberStack extends Stack {
  readonly documents = new Map<string, ssm.CfnDocument>();
  readonly runbooks: Runbook[];
  readonly wiring: Wiring;
  /** runbooks that the runbooks' aws:executeAutomation steps start (the Automation role may start only these) */
  readonly childRunbooks: string[];
  /** runbooks the EventBridge rules start */
  readonly startedRunbooks: string[];
  /** which kinds of resources the Automation role's policy names (for the nag acknowledgements) */
  readonly automationResourceKinds = new Set<'any' | 'function' | 'layer' | 'topic' | 'parameter' | 'execution' | 'definition' | 'configRule'>();
  /** the Automation role's actions granted on `*` (each needs its reason in the nag acknowledgement) */
  readonly automationWildcardActions: string[] = [];

  constructor(scope: Construct, id: string, props: MemberStackProps) {
    super(scope, id, { ...props, synthesizer: new BootstraplessSynthesizer(), analyticsReporting: false });
    // Template bytes matter (TemplateBody and `cdk deploy` without a bootstrap bucket: ≤ 50 KiB): no construct paths.
    this.node.setContext('aws:cdk:enable-path-metadata', false);
    const s = props.settings;
    const n = names(s);
    const partition = Aws.PARTITION;
    const account = Aws.ACCOUNT_ID;
    const upgrades = runtimeUpgrades();
    this.runbooks = runbooks();
    // ssm:StartAutomationExecution (aws:executeAutomation: UpgradeLambdaRuntime runs itself with the resolved
    // target, ReconcileNonCompliant runs UpgradeLambdaRuntime or TagAndNotify per function): only those documents.
    this.childRunbooks = [...new Set(this.runbooks.flatMap((r) => childRunbooks(r, this.runbooks)))].sort();

    const isHome = new CfnCondition(this, 'IsHomeRegion', { expression: Fn.conditionEquals(Aws.REGION, s.homeRegion) });
    const homeOnly = (role: iam.Role) => {
      (role.node.defaultChild as iam.CfnRole).cfnOptions.condition = isHome;
    };
    const roleArn = (name: string) => `arn:${partition}:iam::${account}:role/${name}`;
    const automationRoleArn = roleArn(n.automationRole);

    // -- The role the rule assumes (RULE_MEMBER_ROLE_NAME).
    const functionArns = `arn:${partition}:lambda:*:${account}:function:*`;
    const memberResourceOf = (action: string) =>
      action.startsWith('lambda:') && action !== 'lambda:ListFunctions' ? [functionArns] : ['*'];
    const memberRole = new iam.Role(this, 'RuleMemberRole', {
      roleName: n.memberRole,
      description: 'Assumed by the lambda-runtime-guard organization rule Lambda (admin account) to evaluate this account',
      assumedBy: new iam.ArnPrincipal(`arn:${partition}:iam::${s.adminAccountId}:root`).withConditions({
        ArnEquals: { 'aws:PrincipalArn': s.ruleRegions.map((region) => n.ruleRoleArn(partition, region)) },
        StringEquals: { 'aws:PrincipalOrgID': s.organizationId },
      }),
      inlinePolicies: { contract: policyDocument(iamActions('rule_member'), memberResourceOf) },
    });
    homeOnly(memberRole);

    // -- The reader role the aggregator assumes (AGGREGATOR_MEMBER_ROLE_NAME): read-only, from the contract. One
    // Lambda statement on this account's functions and any layer version (a layer action on a function ARN, or
    // the reverse, authorizes nothing: the resource types differ), and no description: the template is at its
    // TemplateBody limit.
    const readerResourceOf = (action: string): string[] =>
      action.startsWith('lambda:') ? [functionArns, `arn:${partition}:lambda:*:*:layer:*:*`] : ['*'];
    const readerRole = new iam.Role(this, 'AggregatorReaderRole', {
      roleName: n.aggregatorMemberRole,
      assumedBy: new iam.ArnPrincipal(`arn:${partition}:iam::${s.adminAccountId}:root`).withConditions({
        ArnEquals: { 'aws:PrincipalArn': [n.aggregatorRoleArn(partition)] },
        StringEquals: { 'aws:PrincipalOrgID': s.organizationId },
      }),
      inlinePolicies: { contract: policyDocument(iamActions('aggregator_member'), readerResourceOf) },
    });
    homeOnly(readerRole);

    // -- SNS topic for TagAndNotify (AWS managed key, TLS only).
    const topic = new sns.Topic(this, 'Findings', {
      topicName: n.topic,
      displayName: 'lambda-runtime-guard findings',
      enforceSSL: true,
    });
    // The AWS managed key by alias: the same text in every account and region (a key ARN would pin one).
    (topic.node.defaultChild as sns.CfnTopic).kmsMasterKeyId = 'alias/aws/sns';
    const topicArns = `arn:${partition}:sns:*:${account}:${n.topic}`;

    // -- Automation role: the union of the runbooks' declared IAM lists.
    const ssmPrefix = upgrades.ssm_prefix;
    const automationResourceOf = (action: string): string[] => {
      const resources = automationResources(action);
      for (const r of resources) {
        const kind = r === '*' ? 'any' : /:layer:/.test(r) ? 'layer' : /:function:/.test(r) ? 'function' : /:sns:/.test(r) ? 'topic'
          : /:parameter/.test(r) ? 'parameter' : /automation-execution/.test(r) ? 'execution' : /automation-definition/.test(r) ? 'definition'
            : /:config-rule\//.test(r) ? 'configRule' : undefined;
        if (kind) this.automationResourceKinds.add(kind);
        if (r === '*') this.automationWildcardActions.push(action);
      }
      return resources;
    };
    const automationResources = (action: string): string[] => {
      const [service, name] = action.split(':');
      if (service === 'lambda') {
        if (/Layer/.test(name)) return [`arn:${partition}:lambda:*:*:layer:*:*`];
        if (name === 'ListFunctions' || name === 'ListLayers') return ['*'];
        return [functionArns];
      }
      if (service === 'sns') return [topicArns];
      if (service === 'ssm' && /Parameter/.test(name)) return [`arn:${partition}:ssm:*:${account}:parameter${ssmPrefix}/*`];
      if (service === 'ssm' && /AutomationExecution/.test(name)) {
        return name === 'StartAutomationExecution'
          ? this.childRunbooks.map((r) => `arn:${partition}:ssm:*:${account}:automation-definition/${n.document(r)}:*`)
          : [`arn:${partition}:ssm:*:${account}:automation-execution/*`];
      }
      if (service === 'iam' && name === 'PassRole') return [automationRoleArn];
      // ConfigRule (config-rule/${ConfigRuleId}) is the only resource type the Service Authorization Reference gives
      // this action; a rule's ARN ends in its generated id, never its name, so: every rule of this account.
      if (action === 'config:GetComplianceDetailsByConfigRule') return [`arn:${partition}:config:*:${account}:config-rule/*`];
      return ['*'];
    };
    // The role is passed only to Automation (aws:executeAutomation starts the children with it).
    const automationConditionOf = (action: string) =>
      action === 'iam:PassRole' ? { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } } : undefined;
    const automationActions = [...new Set(this.runbooks.flatMap((r) => r.iamActions))].sort();
    const automationRole = new iam.Role(this, 'AutomationRole', {
      roleName: n.automationRole,
      description: 'Runs the lambda-runtime-guard runbooks (SSM Automation)',
      assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
      inlinePolicies: { runbooks: policyDocument(automationActions, automationResourceOf, automationConditionOf) },
    });
    homeOnly(automationRole);

    // -- Runbooks as they are in cdk/runbooks/ (stable names; a content change becomes a new default version).
    for (const runbook of this.runbooks) {
      const document = new ssm.CfnDocument(this, `Runbook${runbook.name}`, {
        name: n.document(runbook.name),
        documentType: 'Automation',
        documentFormat: 'YAML',
        updateMethod: 'NewVersion',
        content: runbook.content,
      });
      this.documents.set(runbook.name, document);
    }

    // -- Successor parameters: {prefix}/successor/{runtime} and {prefix}/upgrade-targets/{runtime}. Created 8 at a
    // time (each depends on the one 8 before) so SSM's PutParameter rate limit is not hit.
    const parameters: ssm.CfnParameter[] = [];
    // No descriptions: the member template is embedded as a TemplateBody (51,200-byte limit).
    const parameter = (id: string, name: string, value: string) => {
      const p = new ssm.CfnParameter(this, id, { name, type: 'String', value, tier: 'Standard' });
      if (parameters.length >= 8) p.addResourceDependency(parameters[parameters.length - 8]);
      parameters.push(p);
    };
    const idOf = (runtime: string) => runtime.replace(/[^A-Za-z0-9]/g, '');
    // Names and values from the contract (rule/lifecycle/src/upgrades.rs spells them once); the logical id
    // from the name's last two segments (successor|upgrade-targets, runtime).
    const kinds: Record<string, string> = { successor: 'Successor', 'upgrade-targets': 'UpgradeTargets' };
    for (const [name, value] of Object.entries(upgrades.parameters).sort()) {
      const [kind, runtime] = name.slice(ssmPrefix.length + 1).split('/');
      if (!kinds[kind] || !runtime) throw new Error(`runtime-upgrades.json: unexpected parameter ${name}`);
      parameter(`${kinds[kind]}${idOf(runtime)}`, name, value);
    }

    // -- EventBridge: compliance change → SSM Automation (StartAutomationExecution on the $DEFAULT version).
    this.wiring = readWiring({
      RULE_NAME: s.ruleName,
      AUTOMATION_ROLE_ARN: automationRoleArn,
      TOPIC_ARN: `arn:${partition}:sns:${Aws.REGION}:${account}:${n.topic}`,
      SSM_PREFIX: ssmPrefix,
      DRY_RUN: s.automaticUpgrades ? 'false' : 'true',
      // what the daily reconciliation runs per function: upgrades when they are on, else the safe default
      REMEDIATION_DOCUMENT: n.document(s.automaticUpgrades ? 'UpgradeLambdaRuntime' : 'TagAndNotify'),
    });
    const targets = this.wiring.targets;
    const started = (this.startedRunbooks = [...new Set([...targets.map((t) => t.runbook), ...(this.wiring.reconciliation ? [this.wiring.reconciliation.runbook] : [])])]);
    for (const target of [...targets, ...(this.wiring.reconciliation ? [this.wiring.reconciliation] : [])]) {
      const document = this.documents.get(target.runbook);
      if (!document) throw new Error(`${this.wiring.file}: target ${target.runbook} is not a runbook in cdk/runbooks/`);
      if (document.name !== target.document) {
        throw new Error(`${this.wiring.file}: target ${target.runbook} names document ${target.document}, deployed as ${document.name}`);
      }
    }
    const definition = (runbook: string) =>
      `arn:${partition}:ssm:${Aws.REGION}:${account}:automation-definition/${n.document(runbook)}:$DEFAULT`;
    const eventsRole = new iam.Role(this, 'EventsRole', {
      roleName: n.eventsRole,
      description: 'EventBridge starts the lambda-runtime-guard runbooks',
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
      inlinePolicies: {
        start: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['ssm:StartAutomationExecution'],
              resources: started.map((r) => `arn:${partition}:ssm:*:${account}:automation-definition/${n.document(r)}:*`),
            }),
            new iam.PolicyStatement({
              actions: ['iam:PassRole'],
              resources: [automationRoleArn],
              conditions: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } },
            }),
          ],
        }),
      },
    });
    homeOnly(eventsRole);
    const eventsRoleArn = roleArn(n.eventsRole);

    new events.CfnRule(this, 'ComplianceChange', {
      name: `${s.prefix}-compliance-change`,
      description: `NON_COMPLIANT Lambda functions of organization rule ${s.ruleName} start remediation`,
      eventPattern: this.wiring.pattern,
      state: 'ENABLED',
      targets: targets.map((t) => ({
        id: t.runbook,
        arn: definition(t.runbook),
        roleArn: eventsRoleArn,
        inputTransformer: { inputPathsMap: t.inputPathsMap, inputTemplate: t.inputTemplate },
      })),
    });

    // -- Daily reconciliation: the change event fires once; a function left NON_COMPLIANT (failed or skipped
    // remediation) is picked up again by the runbook the wiring file names for it, once a day in every member
    // account and region.
    if (this.wiring.reconciliation) {
      const r = this.wiring.reconciliation;
      new events.CfnRule(this, 'DailyReconciliation', {
        name: `${s.prefix}-daily-reconciliation`,
        description: `Daily: re-run remediation for functions still NON_COMPLIANT under ${s.ruleName}`,
        scheduleExpression: 'cron(30 7 * * ? *)',
        state: 'ENABLED',
        targets: [{ id: r.runbook, arn: definition(r.runbook), roleArn: eventsRoleArn, input: JSON.stringify(r.input) }],
      });
    }
    void topic;
  }
}
