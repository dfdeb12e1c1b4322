/**
 * The one loader of every fact the CDK app does not own: cdk/contracts/*.json (generated from the Rust code by
 * `cargo xtask codegen`), cdk/runbooks/*.yaml (+ compliance-change-pattern.json) and aggregator/queries/*.sql.
 *
 * A contract file missing from cdk/contracts/ falls back to test/fixtures/contracts-provisional/ (the copy written
 * before codegen existed); runbooks fall back to test/fixtures/runbooks-provisional/ the same way. The fallback is
 * reported by `provisionalSources()` so that the app and the tests can say which facts are not yet the real ones.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';

/** cdk/ */
export const CDK_DIR = path.resolve(__dirname, '..');
/** the repository root */
export const REPO_DIR = path.resolve(CDK_DIR, '..');

const CONTRACTS_DIR = path.join(CDK_DIR, 'contracts');
const PROVISIONAL_CONTRACTS_DIR = path.join(CDK_DIR, 'test', 'fixtures', 'contracts-provisional');
const RUNBOOKS_DIR = path.join(CDK_DIR, 'runbooks');
const PROVISIONAL_RUNBOOKS_DIR = path.join(CDK_DIR, 'test', 'fixtures', 'runbooks-provisional');
const QUERIES_DIR = path.join(REPO_DIR, 'aggregator', 'queries');

const provisional = new Set<string>();

/** Files read from a provisional copy instead of the real location, in this process. */
export function provisionalSources(): string[] {
  return [...provisional].sort();
}

function contractPath(file: string): string {
  const real = path.join(CONTRACTS_DIR, file);
  if (fs.existsSync(real)) return real;
  const fallback = path.join(PROVISIONAL_CONTRACTS_DIR, file);
  if (fs.existsSync(fallback)) {
    provisional.add(path.relative(CDK_DIR, fallback));
    return fallback;
  }
  throw new Error(`contract file cdk/contracts/${file} is missing (run \`cargo xtask codegen\`)`);
}

function readJson<T>(file: string): T {
  const where = contractPath(file);
  try {
    return JSON.parse(fs.readFileSync(where, 'utf8')) as T;
  } catch (error) {
    throw new Error(`${path.relative(REPO_DIR, where)}: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// rule-parameters.schema.json

export interface ParameterSchema {
  type: 'object';
  additionalProperties: boolean;
  properties: Record<string, { type: string; default?: string; description?: string; enum?: string[]; pattern?: string }>;
  [keyword: string]: unknown;
}

export function ruleParametersSchema(): ParameterSchema {
  return readJson<ParameterSchema>('rule-parameters.schema.json');
}

// ---------------------------------------------------------------------------------------------------------------
// iam.json

export type IamPart = 'rule' | 'rule_member' | 'aggregator' | 'aggregator_member';

export interface IamContract {
  [part: string]: { actions: { action: string; why: string }[] };
}

export function iamContract(): IamContract {
  return readJson<IamContract>('iam.json');
}

/** The actions one part calls, sorted and unique; fails when the part is missing or lists a wildcard. */
export function iamActions(part: IamPart): string[] {
  const contract = iamContract();
  const entry = contract[part];
  if (!entry || !Array.isArray(entry.actions)) {
    throw new Error(`cdk/contracts/iam.json has no part "${part}" with actions`);
  }
  const actions = entry.actions.map((a) => a.action);
  for (const action of actions) {
    if (!/^[a-z0-9-]+:[A-Za-z0-9]+$/.test(action)) {
      throw new Error(`cdk/contracts/iam.json part "${part}": "${action}" is not a single IAM action`);
    }
  }
  return [...new Set(actions)].sort();
}

// ---------------------------------------------------------------------------------------------------------------
// environment.json

export interface EnvironmentVariable {
  name: string;
  required: boolean;
  default?: string | null;
  meaning?: string;
}

export function environmentContract(): Record<string, EnvironmentVariable[]> {
  return readJson<Record<string, EnvironmentVariable[]>>('environment.json');
}

/**
 * The name of an environment variable `lambda` reads, checked against environment.json: the CDK code names the
 * variable it sets once, here, and synthesis fails when the contract no longer lists it.
 */
export function environmentName(lambda: string, name: string): string {
  const variables = environmentContract()[lambda];
  if (!variables) throw new Error(`cdk/contracts/environment.json has no Lambda "${lambda}"`);
  if (!variables.some((v) => v.name === name)) {
    throw new Error(
      `cdk/contracts/environment.json: ${lambda} does not read ${name} (it reads ${variables.map((v) => v.name).join(', ')})`,
    );
  }
  return name;
}

// ---------------------------------------------------------------------------------------------------------------
// dataset.json

export interface DatasetColumn {
  name: string;
  athena_type: string;
  comment?: string;
}

export interface Dataset {
  layout: { prefix: string; partition_key: string; partition_format: string; file?: string; summary?: string; staging: string };
  columns: DatasetColumn[];
  table_properties: Record<string, string>;
  partition_keys: (DatasetColumn | string)[];
}

export function dataset(): Dataset {
  return readJson<Dataset>('dataset.json');
}

/** Partition keys as columns (the contract may list names only: they are strings in Hive paths). */
export function partitionKeys(data: Dataset): DatasetColumn[] {
  return data.partition_keys.map((key) => (typeof key === 'string' ? { name: key, athena_type: 'string' } : key));
}

// ---------------------------------------------------------------------------------------------------------------
// runtime-upgrades.json

export interface RuntimeUpgrades {
  ssm_prefix: string;
  catalog_updated_at: string;
  successors: Record<string, string>;
  allowed_targets: Record<string, string[]>;
  /** SSM parameter name → value, as the deployment writes them. */
  parameters: Record<string, string>;
}

export function runtimeUpgrades(): RuntimeUpgrades {
  return readJson<RuntimeUpgrades>('runtime-upgrades.json');
}

// ---------------------------------------------------------------------------------------------------------------
// cdk/runbooks

export interface Runbook {
  /** the runbook's key (file name without .yaml) */
  name: string;
  /** the SSM document name (runbooks.json `name`; else `<prefix>-<name>`) */
  documentName?: string;
  file: string;
  text: string;
  content: Record<string, unknown>;
  /** IAM actions the Automation role needs: runbooks.json `actions`, else the description's "Required IAM permissions" */
  iamActions: string[];
}

/** cdk/runbooks/runbooks.json: `{documents: {key: {file, name, actions}}}` (written by the runbooks' author). */
interface RunbookIndex {
  documents: Record<string, { file: string; name: string; actions: string[] }>;
}

function runbooksDir(): string {
  const hasYaml = (dir: string) => fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith('.yaml'));
  if (hasYaml(RUNBOOKS_DIR)) return RUNBOOKS_DIR;
  if (hasYaml(PROVISIONAL_RUNBOOKS_DIR)) {
    provisional.add(path.relative(CDK_DIR, PROVISIONAL_RUNBOOKS_DIR));
    return PROVISIONAL_RUNBOOKS_DIR;
  }
  throw new Error('cdk/runbooks/ holds no *.yaml runbook');
}

const ACTION = /\b([a-z][a-z0-9-]*:[A-Z][A-Za-z0-9]*)\b/g;

/**
 * The IAM actions a runbook declares: the runbook's `description` after a "Required IAM permissions" heading (the
 * AWS-owned runbooks' convention), or a top-level `x-iam-actions`/comment-free list if the runbook carries one.
 */
export function declaredIamActions(file: string, content: Record<string, unknown>): string[] {
  const description = typeof content.description === 'string' ? content.description : '';
  const marker = description.search(/required iam permissions/i);
  if (marker < 0) {
    throw new Error(`${file}: the description declares no "Required IAM permissions" list`);
  }
  const actions = new Set<string>();
  for (const match of description.slice(marker).matchAll(ACTION)) actions.add(match[1]);
  if (actions.size === 0) throw new Error(`${file}: the "Required IAM permissions" list is empty`);
  return [...actions].sort();
}

export function runbooks(): Runbook[] {
  const dir = runbooksDir();
  const indexFile = path.join(dir, 'runbooks.json');
  if (fs.existsSync(indexFile)) {
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as RunbookIndex;
    const listed = new Set(Object.values(index.documents).map((d) => d.file));
    const unlisted = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml') && !listed.has(f));
    if (unlisted.length > 0) throw new Error(`cdk/runbooks/runbooks.json does not list ${unlisted.join(', ')}`);
    return Object.entries(index.documents)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, entry]) => {
        const file = path.join(dir, entry.file);
        const text = fs.readFileSync(file, 'utf8');
        const content = YAML.parse(text) as Record<string, unknown>;
        for (const action of entry.actions) {
          if (!/^[a-z0-9-]+:[A-Za-z0-9]+$/.test(action)) throw new Error(`runbooks.json ${name}: "${action}" is not a single IAM action`);
        }
        return { name, documentName: entry.name, file, text, content, iamActions: [...new Set(entry.actions)].sort() };
      });
  }
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const file = path.join(dir, f);
      const text = fs.readFileSync(file, 'utf8');
      const content = YAML.parse(text) as Record<string, unknown>;
      return { name: f.replace(/\.yaml$/, ''), file, text, content, iamActions: declaredIamActions(f, content) };
    });
}

/** cdk/runbooks/compliance-change-pattern.json (or its provisional copy): EventBridge pattern + input transformer */
export interface ComplianceChangeWiring {
  file: string;
  raw: Record<string, unknown>;
}

export function complianceChangeWiring(): ComplianceChangeWiring {
  const name = 'compliance-change-pattern.json';
  const real = path.join(RUNBOOKS_DIR, name);
  let file = real;
  if (!fs.existsSync(real)) {
    file = path.join(PROVISIONAL_RUNBOOKS_DIR, name);
    provisional.add(path.relative(CDK_DIR, file));
  }
  return { file, raw: JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown> };
}

// ---------------------------------------------------------------------------------------------------------------
// aggregator/queries

export interface NamedQuery {
  name: string;
  description: string;
  sql: string;
}

export function queries(): NamedQuery[] {
  return fs
    .readdirSync(QUERIES_DIR)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((f) => {
      const sql = fs.readFileSync(path.join(QUERIES_DIR, f), 'utf8');
      const comment = sql.split('\n').find((line) => line.startsWith('--'));
      return {
        name: f.replace(/\.sql$/, ''),
        description: (comment ?? f).replace(/^--\s*/, '').slice(0, 1024),
        sql,
      };
    });
}
