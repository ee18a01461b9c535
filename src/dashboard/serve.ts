/**
 * Serves the dashboard: the page, with the user's role in it (the page disables its
 * actions for a `basic` user), and its script, bundled from src/dashboard/web by esbuild's
 * JS API once per process on first request (about 50 ms; nothing is downloaded and there is
 * no build step or committed bundle to go stale).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const PAGE = fileURLToPath(new URL('./page.html', import.meta.url));
const ENTRY = fileURLToPath(new URL('./web/main.ts', import.meta.url));

export function dashboardPage(role: string): string {
  const html = readFileSync(PAGE, 'utf8');
  return html.replace('<html lang="en">', `<html lang="en" data-role="${role === 'admin' ? 'admin' : 'basic'}">`);
}

let bundle: Promise<string> | null = null;

/** The page's script: minified, one IIFE, for browsers from 2020 on. */
export function dashboardScript(): Promise<string> {
  bundle ??= build({
    entryPoints: [ENTRY],
    bundle: true,
    format: 'iife',
    minify: true,
    write: false,
    target: ['es2020'],
    legalComments: 'none',
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0]!.text);
  // A failed build is retried on the next request rather than cached.
  bundle.catch(() => (bundle = null));
  return bundle;
}
