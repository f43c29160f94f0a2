// ESLint flat config: typescript-eslint with type information, so that
// floating promises (a classic source of lost Kafka commits) are errors.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers, bottom up. A folder may import its own layer and those below, never one above:
 *   lib/         shared ground: config, errors, logger, calendar, Kafka client, topics
 *   schemas/     event contracts and their codec
 *   model/       the pure forecaster (tensors in, tensors out)
 *   clickhouse/  storage: the client, migrations, one repository per table family (its rows are
 *                the model's series and forecasts, so it may take model/'s types)
 *   producers/, consumers/, api/   the roles (none imports another role)
 *   app/         the composition root: builds the roles from config, starts and stops them
 *   cli/, bench/ entry points on top
 * Production code never imports test/ (model/testing/ is the tests' own helper folder).
 */
const FOLDERS = [
  'lib',
  'schemas',
  'clickhouse',
  'model',
  'producers',
  'consumers',
  'api',
  'app',
  'cli',
  'bench',
];
const MAY_NOT_IMPORT = {
  lib: ['schemas', 'clickhouse', 'model', 'producers', 'consumers', 'api', 'app', 'cli', 'bench'],
  schemas: ['clickhouse', 'model', 'producers', 'consumers', 'api', 'app', 'cli', 'bench'],
  clickhouse: ['producers', 'consumers', 'api', 'app', 'cli', 'bench'],
  model: ['clickhouse', 'producers', 'consumers', 'api', 'app', 'cli', 'bench'],
  producers: ['clickhouse', 'consumers', 'api', 'app', 'cli', 'bench'],
  consumers: ['producers', 'api', 'app', 'cli', 'bench'],
  api: ['producers', 'consumers', 'app', 'cli', 'bench'],
  app: ['cli', 'bench'],
  cli: ['bench'],
  bench: [],
};
/** Matches a relative import that climbs out of the folder into one of `folders`. */
const into = (folders) => `^(\\.\\./)+(${folders.join('|')})(/|$)`;
const PURE_MODEL_PACKAGES = ['kafkajs', '@clickhouse/*', 'chdb', 'chdb/*', 'koa', '@koa/*'];

function layering() {
  const entry = (folder, files, ignores, banTests) => {
    const banned = [...MAY_NOT_IMPORT[folder], ...(banTests ? ['test'] : [])];
    const patterns = [];
    if (banned.length > 0)
      patterns.push({
        regex: into(banned),
        message: `${folder}/ sits below ${banned.join(', ')} (layers in eslint.config.mjs): move the shared part down, or the caller up.`,
      });
    if (folder === 'model') {
      patterns.push({ group: PURE_MODEL_PACKAGES, message: 'model/ is pure: tensors in, tensors out.' });
      patterns.push({
        regex: '^(\\.\\./)+lib/(kafka|topics|config)',
        message: 'model/ is pure: no I/O modules.',
      });
    }
    return {
      files,
      ignores: ['**/*.test.ts', ...ignores],
      rules: { 'no-restricted-imports': ['error', { patterns }] },
    };
  };
  return [
    // bench/ measures the real stack and starts it with the tests' own helpers (broker, facade).
    ...FOLDERS.map((f) =>
      entry(f, [`${f}/**/*.ts`], f === 'model' ? ['model/testing/**'] : [], f !== 'bench'),
    ),
    // The tests' helpers for model/ read the shared export through test/.
    entry('model', ['model/testing/**/*.ts'], [], false),
  ];
}

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.stack/**',
      '.data/**',
      'coverage/**',
      '**/*.js',
      '**/*.mjs',
      '!api/static/**/*.js',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  ...layering(),
  {
    // The dashboard: browser ES modules in plain JS, type-checked from JSDoc by tsconfig.dashboard.json
    // (lib DOM, so tsc reports unknown globals: no-undef is redundant there, as for TypeScript).
    files: ['api/static/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      parserOptions: { projectService: false, project: './tsconfig.dashboard.json' },
    },
    rules: { 'no-undef': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
