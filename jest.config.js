/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Symbol.dispose / Symbol.asyncDispose as Node defines them, also inside jest's vm context.
  setupFiles: ['<rootDir>/test/helpers/dispose-symbols.js'],
  transform: {
    // Type checking is `npm run typecheck` (run by pretest); the transform only strips types.
    '^.+\\.ts$': ['ts-jest', {}],
  },
  testTimeout: 60000,
  // Kernel tests share the machine's cgroups and namespaces; keep files in few workers.
  maxWorkers: 2,
};
