#!/usr/bin/env node
// Runs Weir's TypeScript sources through tsx, so that no build step is needed.
import { register } from 'tsx/esm/api';
register();
await import('../src/main.ts');
