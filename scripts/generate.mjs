#!/usr/bin/env node
// Builds generated/ from openapi/: the bundled spec (JSON and YAML) and the TypeScript types.
// `--check` rebuilds into a temporary directory and fails when the committed files differ,
// so CI catches a spec change whose generated/ was not regenerated.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const check = process.argv.includes('--check');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const env = { ...process.env, REDOCLY_TELEMETRY: 'off', NO_COLOR: '1' };
const run = (cmd, args) => execFileSync(bin(cmd), args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });

const out = check ? mkdtempSync(join(tmpdir(), 'weir-generate-')) : join(root, 'generated');
try {
  const bundle = join(out, 'openapi.json');
  run('redocly', ['bundle', 'openapi/openapi.yaml', '--output', bundle, '--ext', 'json']);
  // Stable formatting: two-space JSON with a trailing newline, and a YAML twin for /openapi.yaml.
  const spec = JSON.parse(readFileSync(bundle, 'utf8'));
  writeFileSync(bundle, JSON.stringify(spec, null, 2) + '\n');
  const { default: yaml } = await import('js-yaml');
  writeFileSync(join(out, 'openapi.yaml'), yaml.dump(spec, { lineWidth: 120, noRefs: true }));
  if (check) {
    // openapi-typescript compares its own output with the committed file.
    run('openapi-typescript', ['--check']);
    for (const file of ['openapi.json', 'openapi.yaml']) {
      const committed = join(root, 'generated', file);
      if (!existsSync(committed) || readFileSync(committed, 'utf8') !== readFileSync(join(out, file), 'utf8')) {
        console.error(`generated/${file} is stale: run \`npm run generate\` and commit the result.`);
        process.exit(1);
      }
    }
    console.log('generated/ is up to date.');
  } else {
    run('openapi-typescript', []);
    console.log('generated/openapi.json, generated/openapi.yaml and generated/api.d.ts written.');
  }
} catch (err) {
  const output = [err.stdout, err.stderr].filter(Boolean).map(String).join('\n');
  console.error(output || String(err));
  process.exit(1);
} finally {
  if (check) rmSync(out, { recursive: true, force: true });
}
