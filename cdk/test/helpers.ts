/** Test apps: cdk.json's context + overrides, stand-in zips, nag on (Template.fromStack throws on a violation). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { Stack } from 'aws-cdk-lib';
import { buildApp, LambdaRuntimeGuard } from '../lib/app';
import { CDK_DIR } from '../lib/contracts';

export function cdkJsonContext(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(CDK_DIR, 'cdk.json'), 'utf8')).context;
}

export function testApp(overrides: Record<string, unknown> = {}): LambdaRuntimeGuard & { outdir: string } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'lrg-cdk-test-'));
  const built = buildApp({
    outdir,
    context: { ...cdkJsonContext(), standInZips: true, ...overrides },
    builtinCloudFormationValidation: false,
  });
  return { ...built, outdir };
}

const cache = new Map<Stack, Template>();
export function template(stack: Stack): Template {
  let t = cache.get(stack);
  if (!t) {
    t = Template.fromStack(stack);
    cache.set(stack, t);
  }
  return t;
}

export type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Resources of one type: logical id → resource. */
export function resources(t: Template, type: string): Record<string, Json> {
  return t.findResources(type);
}

export function only(t: Template, type: string): Json {
  const found = Object.values(resources(t, type));
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0];
}

/** Actions of a role's inline policy, sorted. */
export function policyActions(role: Json, policyName: string): string[] {
  const policy = (role.Properties.Policies ?? []).find((p: Json) => p.PolicyName === policyName);
  if (!policy) throw new Error(`role has no inline policy ${policyName}`);
  const actions = policy.PolicyDocument.Statement.flatMap((s: Json) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
  return [...new Set<string>(actions)].sort();
}

export function policyStatements(role: Json, policyName: string): Json[] {
  return role.Properties.Policies.find((p: Json) => p.PolicyName === policyName).PolicyDocument.Statement;
}

export function sorted<T>(items: Iterable<T>): T[] {
  return [...items].sort();
}
