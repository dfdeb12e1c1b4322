/**
 * Lambda code from `cargo xtask lambda` (target/lambda/arm64/<name>/bootstrap.zip, staged by CDK as is), or — when
 * `standInZips` is on (context `-c standInZips=true` or env `LRG_STAND_IN_ZIPS=1`) and the zip is missing — a
 * stand-in: a directory with a one-line `bootstrap` under os.tmpdir that CDK zips itself. The stand-in only lets
 * synth and the tests run without a Rust build; never deploy it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { CDK_DIR } from './contracts';

export function standInDir(name: string): string {
  const dir = path.join(os.tmpdir(), 'lambda-runtime-guard-stand-in', name);
  fs.mkdirSync(dir, { recursive: true });
  const bootstrap = path.join(dir, 'bootstrap');
  const text = `#!/bin/sh\necho "stand-in for ${name}: build it with cargo xtask lambda" >&2\nexit 1\n`;
  if (!fs.existsSync(bootstrap) || fs.readFileSync(bootstrap, 'utf8') !== text) fs.writeFileSync(bootstrap, text, { mode: 0o755 });
  return dir;
}

export interface LambdaCode {
  code: lambda.Code;
  /** true when the stand-in is used */
  standIn: boolean;
  source: string;
}

export function lambdaCode(name: string, zip: string, allowStandIn: boolean): LambdaCode {
  const file = path.resolve(CDK_DIR, zip);
  if (fs.existsSync(file)) return { code: lambda.Code.fromAsset(file), standIn: false, source: file };
  if (!allowStandIn) {
    throw new Error(
      `${file} does not exist: run \`cargo xtask lambda\` first (or synthesize with -c standInZips=true / LRG_STAND_IN_ZIPS=1 for a stand-in that must not be deployed)`,
    );
  }
  const dir = standInDir(name);
  return { code: lambda.Code.fromAsset(dir), standIn: true, source: dir };
}
