// Lint: typescript-eslint's recommended rules plus the layer rule (docs/architecture.md, "Layers"):
// imports point down the list core → oci → storage → metadata → lifecycle → auth → registry →
// gateway → sync → management → client → server → cli, never up.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layers = ['oci', 'storage', 'metadata', 'lifecycle', 'auth', 'registry', 'gateway', 'sync', 'management', 'server', 'cli'];
// client/ talks HTTP and only needs oci/; config/ is plain data read by server/ and cli/.
const allowedBelow = {
  core: [],
  oci: ['core'],
  storage: ['core', 'oci'],
  metadata: ['core', 'oci'],
  // Garbage collection (and what else keeps storage in shape): it asks the metadata what is referenced.
  lifecycle: ['core', 'oci', 'storage', 'metadata'],
  auth: ['core', 'oci', 'metadata'],
  registry: ['core', 'oci', 'storage', 'metadata', 'auth'],
  gateway: ['core', 'oci', 'storage', 'metadata', 'auth', 'registry', 'client'],
  client: ['core', 'oci'],
  sync: ['core', 'oci', 'storage', 'metadata', 'auth', 'registry', 'client'],
  management: ['core', 'oci', 'storage', 'metadata', 'auth', 'registry'],
  config: ['core', 'oci'],
  server: ['core', 'oci', 'storage', 'metadata', 'lifecycle', 'auth', 'registry', 'gateway', 'sync', 'management', 'config', 'client'],
  cli: ['core', 'oci', 'client', 'config', 'server'],
};
const allFolders = [...new Set(['core', ...layers, 'client', 'config'])];

const layerRules = Object.entries(allowedBelow).map(([folder, allowed]) => ({
  files: [`src/${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: allFolders
        .filter((other) => other !== folder && !allowed.includes(other))
        .map((other) => ({ group: [`../${other}/*`, `../../${other}/*`], message: `${folder}/ must not import ${other}/ (docs/architecture.md, "Layers")` })),
    }],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', '.bench/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/ban-ts-comment': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layerRules,
  // A RemoteError is the parent's answer (or the link's failure): only client/ makes one, so a
  // local failure can never pass for it (sync/ throws LocalSyncError for those).
  {
    files: ['src/**/*.ts'],
    ignores: ['src/client/**'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "NewExpression[callee.name='RemoteError']",
        message: 'Only client/ creates RemoteError (an answer of the parent); a local failure is a LocalSyncError or a RegistryError.',
      }],
    },
  },
);
