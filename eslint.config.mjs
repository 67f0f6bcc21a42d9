// Type-aware lint (issue 14): typescript-eslint's recommended-type-checked on every TypeScript
// file, ESLint's recommended on the JavaScript ones (examples, bench scripts, pages), which no
// tsconfig covers.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'test-results/'] },
  {
    // The team's guide: no comma expressions (clarity is never traded for bytes or lines).
    rules: { 'no-sequences': ['error', { allowInParentheses: false }] },
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    files: ['**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A `let` read by a callback built before its one assignment must stay a `let`: the callback
      // may run before that line (a const would be in its temporal dead zone and throw).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Off: an async function that awaits nothing still turns a throw into a rejection, which
      // callers of async interfaces (session stores, queue storages) rely on.
      '@typescript-eslint/require-await': 'off',
      // A promise rejected with what a catch caught (unknown by type) passes the error on as it came.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // A leading underscore marks a name that must be there but is not used (a loop counter, a
      // parameter of an interface's signature).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
