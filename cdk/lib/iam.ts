/** Policy statements from a contract's action list: every action granted, each on the narrowest resource known. */
import * as iam from 'aws-cdk-lib/aws-iam';

/** Resources for one action; `['*']` for actions without resource-level permissions. */
export type ResourceOf = (action: string) => string[];

/** Conditions for one action (e.g. iam:PassedToService for iam:PassRole); undefined for none. */
export type ConditionOf = (action: string) => Record<string, Record<string, unknown>> | undefined;

/** One statement per distinct resource set and condition, actions sorted; never a wildcard action. */
export function statements(actions: string[], resourceOf: ResourceOf, conditionOf: ConditionOf = () => undefined): iam.PolicyStatement[] {
  const groups = new Map<string, { resources: string[]; conditions?: Record<string, Record<string, unknown>>; actions: string[] }>();
  for (const action of [...new Set(actions)].sort()) {
    if (action.includes('*')) throw new Error(`wildcard action ${action}`);
    const resources = [...new Set(resourceOf(action))].sort();
    const conditions = conditionOf(action);
    const key = JSON.stringify([resources, conditions ?? null]);
    const group = groups.get(key) ?? { resources, conditions, actions: [] };
    group.actions.push(action);
    groups.set(key, group);
  }
  return [...groups.values()].map(
    (group) => new iam.PolicyStatement({
      effect: iam.Effect.ALLOW,
      actions: group.actions,
      resources: group.resources,
      ...(group.conditions ? { conditions: group.conditions } : {}),
    }),
  );
}

export function policyDocument(actions: string[], resourceOf: ResourceOf, conditionOf?: ConditionOf): iam.PolicyDocument {
  return new iam.PolicyDocument({ statements: statements(actions, resourceOf, conditionOf) });
}
