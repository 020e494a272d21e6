// @ts-check
/**
 * Offline security gate: `npm run security-check` runs
 *   eslint --config eslint.security.config.js . && secretlint "**\/*"
 * Syntax-only (no type information, so it is fast and needs no tsconfig): eslint-plugin-security's
 * recommended rules as errors, eval-like constructs, and the rule that only src/runner spawns processes.
 * Style and type-aware rules live in eslint.config.js (`npm run lint`).
 */
import { defineConfig } from 'eslint/config';
import security from 'eslint-plugin-security';
import tseslint from 'typescript-eslint';
import { IGNORES, JS_FILES, TEST_FILES, TS_FILES, spawnImportRule, spawnSyntax } from './eslint.config.js';

const securityRulesAsErrors = Object.fromEntries(
  Object.keys(security.configs.recommended.rules ?? {}).map((name) => [name, 'error']),
);

export default defineConfig(
  { name: 'waygate-security/ignores', ignores: IGNORES },
  {
    name: 'waygate-security/linter-options',
    // Disable comments aimed at the main config's rules are not "unused" here; that config reports them.
    linterOptions: { reportUnusedDisableDirectives: 'off' },
  },
  {
    name: 'waygate-security/typescript-parser',
    files: TS_FILES,
    // The plugin is registered (no rules enabled) so `eslint-disable @typescript-eslint/...` comments resolve.
    plugins: { '@typescript-eslint': tseslint.plugin },
    languageOptions: { parser: tseslint.parser, sourceType: 'module' },
  },
  {
    name: 'waygate-security/js',
    files: JS_FILES,
    languageOptions: { sourceType: 'module' },
  },
  {
    name: 'waygate-security/rules',
    // no-implied-eval only recognises setTimeout/setInterval/execScript when they are declared globals.
    languageOptions: {
      globals: { setTimeout: 'readonly', setInterval: 'readonly', setImmediate: 'readonly', globalThis: 'readonly' },
    },
    plugins: { security },
    rules: {
      ...securityRulesAsErrors,
      // Off everywhere: on typed TypeScript it flags nearly every `record[key]` and array index, almost all
      // false positives (keys are typed, and zod validates untrusted input at the edges).
      'security/detect-object-injection': 'off',
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
      'no-restricted-imports': spawnImportRule,
      'no-restricted-syntax': ['error', ...spawnSyntax],
    },
  },
  {
    name: 'waygate-security/runner',
    files: ['src/runner/**'],
    rules: { 'no-restricted-imports': 'off', 'no-restricted-syntax': 'off' },
  },
  {
    name: 'waygate-security/tests',
    files: TEST_FILES,
    // Tests read and write temp files and fixtures by computed path all the time.
    rules: { 'security/detect-non-literal-fs-filename': 'off' },
  },
);
