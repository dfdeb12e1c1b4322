#!/usr/bin/env node
import { buildApp } from '../lib/app';
import { provisionalSources } from '../lib/contracts';

const built = buildApp();
built.app.synth();
const provisional = provisionalSources();
if (provisional.length > 0) {
  process.stderr.write(`lambda-runtime-guard: PROVISIONAL facts in use (not yet generated/written): ${provisional.join(', ')}\n`);
}
