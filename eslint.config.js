// @ts-check
/**
 * ESLint flat config for `npm run lint` (type-aware).
 * The offline security gate (`npm run security-check`) uses eslint.security.config.js, which reuses the
 * ignore list and the process-spawning restriction exported below so the two cannot drift apart.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import security from 'eslint-plugin-security';
import tseslint from 'typescript-eslint';

// import.meta.dirname exists from Node 20.11; package.json allows >=20.9, so fall back to the URL.
const rootDir = import.meta.dirname ?? path.dirname(fileURLToPath(import.meta.url));

export const IGNORES = ['dist/**', 'coverage/**', 'node_modules/**', 'data/**'];
export const TS_FILES = ['**/*.ts', '**/*.mts', '**/*.cts'];
export const JS_FILES = ['**/*.js', '**/*.mjs', '**/*.cjs'];
export const TEST_FILES = ['test/**', 'bench/**'];

// --- Processes are spawned in one place: src/runner (argv arrays, no shell, tree-kill on timeout). ---
const SPAWN_MESSAGE = 'spawn processes through src/runner';
const SPAWN_MODULES = ['child_process', 'node:child_process', 'execa'];
const SPAWN_MODULE_RE = '/^(node:)?child_process$|^execa$/';

const spawnPaths = SPAWN_MODULES.map((name) => ({ name, message: SPAWN_MESSAGE }));

/** `no-restricted-imports` value for static imports of child_process / execa. */
export const spawnImportRule = /** @type {const} */ (['error', { paths: spawnPaths }]);

/** `no-restricted-syntax` entries for the forms no-restricted-imports does not see. */
export const spawnSyntax = [
  { selector: `ImportExpression[source.value=${SPAWN_MODULE_RE}]`, message: SPAWN_MESSAGE },
  { selector: `CallExpression[callee.name='require'][arguments.0.value=${SPAWN_MODULE_RE}]`, message: SPAWN_MESSAGE },
];

// --- Time comes from the injected Clock (src/clock); tests move it by hand. ---
const CLOCK_MESSAGE = 'use the injected Clock';
const clockSyntax = [
  { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: `new Date() reads the wall clock: ${CLOCK_MESSAGE}` },
  { selector: "CallExpression[callee.name='Date']", message: `Date() reads the wall clock: ${CLOCK_MESSAGE}` },
  { selector: "CallExpression[callee.name='setTimeout']", message: `setTimeout: ${CLOCK_MESSAGE} (clock.setTimer)` },
  {
    selector: "CallExpression[callee.object.name='globalThis'][callee.property.name='setTimeout']",
    message: `setTimeout: ${CLOCK_MESSAGE} (clock.setTimer)`,
  },
];
const clockProperties = [{ object: 'Date', property: 'now', message: `Date.now(): ${CLOCK_MESSAGE} (clock.nowMs())` }];
const APP_FILES = ['src/**', 'commands/**', 'jobs/**'];
const CLOCK_EXEMPT = ['src/clock/**'];
const RUNNER_FILES = ['src/runner/**'];
const STANDIN_FILES = ['standins/**'];

// --- Dependency direction: product -> nothing of ours outside it; stand-ins -> product; tests -> anything. ---
// The production build compiles only what src/, commands/ and jobs/ import, so one such import would ship
// stand-ins (and their devDependencies, such as ws) in dist/.
const notFromProduct = {
  group: ['**/standins/**', '**/sandbox/**', '**/test/**', '**/bench/**'],
  message: 'product code must not import stand-ins, the sandbox, tests or benchmarks: they are not part of the production build',
};
// Stand-ins are a library (a local sandbox builds on them), so they cannot lean on test helpers.
const notFromStandins = {
  group: ['**/test/**', '**/bench/**'],
  message: 'stand-ins must not import tests or benchmarks',
};

const unsafeRulesOff = Object.fromEntries(
  Object.keys(tseslint.plugin.rules ?? {})
    .filter((name) => name.startsWith('no-unsafe-'))
    .map((name) => [`@typescript-eslint/${name}`, 'off']),
);

export default defineConfig(
  { name: 'waygate/ignores', ignores: IGNORES },

  js.configs.recommended,

  {
    name: 'waygate/typescript',
    files: TS_FILES,
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: rootDir },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
    },
  },

  {
    name: 'waygate/js-config-files',
    files: JS_FILES,
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      sourceType: 'module',
      // Node globals these scripts may touch (the `globals` package is not a direct dependency).
      globals: Object.fromEntries(
        ['process', 'console', 'Buffer', 'URL', 'URLSearchParams', 'fetch', 'setTimeout', 'clearTimeout'].map(
          (name) => [name, 'readonly'],
        ),
      ),
    },
  },

  {
    // The sandbox page's one script runs in the browser.
    name: 'waygate/sandbox-page',
    files: ['sandbox/public/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        ['document', 'window', 'EventSource', 'Option', 'setInterval', 'fetch', 'setTimeout', 'console'].map((name) => [name, 'readonly']),
      ),
    },
  },

  security.configs.recommended,
  {
    name: 'waygate/security-tuning',
    rules: {
      // Off everywhere: on typed TypeScript it flags nearly every `record[key]` and array index, almost all
      // false positives (keys are typed, and zod validates untrusted input at the edges).
      'security/detect-object-injection': 'off',
    },
  },

  {
    name: 'waygate/spawn-only-in-runner',
    rules: {
      'no-restricted-imports': spawnImportRule,
      'no-restricted-syntax': ['error', ...spawnSyntax],
    },
  },
  {
    name: 'waygate/product-imports',
    files: APP_FILES,
    rules: { 'no-restricted-imports': ['error', { paths: spawnPaths, patterns: [notFromProduct] }] },
  },
  {
    name: 'waygate/standin-imports',
    files: STANDIN_FILES,
    rules: { 'no-restricted-imports': ['error', { paths: spawnPaths, patterns: [notFromStandins] }] },
  },
  {
    name: 'waygate/clock-only',
    files: APP_FILES,
    ignores: CLOCK_EXEMPT,
    rules: {
      // Repeats spawnSyntax: a later no-restricted-syntax replaces the earlier options instead of merging.
      'no-restricted-syntax': ['error', ...spawnSyntax, ...clockSyntax],
      'no-restricted-properties': ['error', ...clockProperties],
    },
  },
  {
    name: 'waygate/runner',
    files: RUNNER_FILES,
    rules: {
      'no-restricted-imports': ['error', { patterns: [notFromProduct] }],
      'no-restricted-syntax': ['error', ...clockSyntax],
    },
  },

  {
    name: 'waygate/tests',
    files: TEST_FILES,
    rules: {
      ...unsafeRulesOff,
      '@typescript-eslint/no-explicit-any': 'off',
      'require-await': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'security/detect-non-literal-fs-filename': 'off',
      'security/detect-object-injection': 'off',
    },
  },
);
