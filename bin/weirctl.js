#!/usr/bin/env node
// weirctl, Weir's maxctrl-shaped command line, run through tsx (no build step).
import { register } from 'tsx/esm/api';
register();
const { weirctl } = await import('../src/cli/weirctl.ts');
process.exitCode = await weirctl(process.argv.slice(2), {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  env: process.env,
});
