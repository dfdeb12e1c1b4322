/** Policy statements from a contract's action list: every action granted, each on the narrowest resource known. */
import * as iam from 'aws-cdk-lib/aws-iam';

/** Resources for one action; `['*']` for actions without resource-level permissions. */
export type ResourceOf = (action: string) => string[];

/** One statement per distinct resource set, actions sorted; never a wildcard action. */
export function statements(actions: string[], resourceOf: ResourceOf): iam.PolicyStatement[] {
  const groups = new Map<string, { resources: string[]; actions: string[] }>();
  for (const action of [...new Set(actions)].sort()) {
    if (action.includes('*')) throw new Error(`wildcard action ${action}`);
    const resources = [...new Set(resourceOf(action))].sort();
    const key = JSON.stringify(resources);
    const group = groups.get(key) ?? { resources, actions: [] };
    group.actions.push(action);
    groups.set(key, group);
  }
  return [...groups.values()].map(
    (group) => new iam.PolicyStatement({ effect: iam.Effect.ALLOW, actions: group.actions, resources: group.resources }),
  );
}

export function policyDocument(actions: string[], resourceOf: ResourceOf): iam.PolicyDocument {
  return new iam.PolicyDocument({ statements: statements(actions, resourceOf) });
}
