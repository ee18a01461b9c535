// ESLint: typescript-eslint's recommended rules plus the type-aware rules that catch promises
// nobody awaits (a floating promise in a socket handler once let any logged-in client crash Weir).
// Formatting is prettier's job (eslint-config-prettier turns off the rules that would disagree).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['node_modules/', 'generated/', 'clients/', 'weir-data/', '.tmp/', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // ignoreVoid: false — `void this.authenticate()` is exactly how the crash hid: a promise
      // nobody awaits must end in a .catch that handles its failure.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          ignoreVoid: false,
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // Tests read mysql2 result rows, protocol replies and API JSON bodies whose shapes the test
    // itself asserts; typing each row would restate the assertion. src/ keeps the rule.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  prettier,
);
