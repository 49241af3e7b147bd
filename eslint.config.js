// Lint: typescript-eslint's recommended rules plus the layer rule (docs/architecture.md, "Layers"):
// imports point down the list core → oci → storage → metadata → lifecycle → auth → registry →
// events → gateway → sync → management → observability → client → server → cli, never up.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layers = ['oci', 'storage', 'metadata', 'lifecycle', 'auth', 'registry', 'events', 'gateway', 'sync', 'management', 'observability', 'server', 'cli'];
// client/ talks HTTP and only needs oci/; config/ is plain data read by server/ and cli/.
const allowedBelow = {
  core: [],
  oci: ['core'],
  storage: ['core', 'oci'],
  metadata: ['core', 'oci'],
  // Garbage collection, retention, usage, backup and restore: on the stores (GC asks the metadata what is
  // referenced; retention deletes through the write pipeline the composition root hands it).
  lifecycle: ['core', 'oci', 'storage', 'metadata'],
  auth: ['core', 'oci', 'metadata'],
  registry: ['core', 'oci', 'storage', 'metadata', 'auth'],
  // events/ (notifications and webhooks) uses client/ for the wire types and the parent's gateway.
  events: ['core', 'oci', 'metadata', 'client'],
  gateway: ['core', 'oci', 'storage', 'metadata', 'auth', 'registry', 'events', 'client'],
  client: ['core', 'oci'],
  sync: ['core', 'oci', 'storage', 'metadata', 'auth', 'registry', 'events', 'client'],
  management: ['core', 'oci', 'storage', 'metadata', 'auth', 'registry', 'lifecycle', 'events'],
  config: ['core', 'oci'],
  // Metrics, the audit log and the live log level: fed by the parts below (hooks, the bus, reads at scrape time), wired by server/.
  observability: ['core', 'oci', 'storage', 'metadata', 'auth', 'registry', 'gateway', 'sync', 'client', 'config'],
  server: ['core', 'oci', 'storage', 'metadata', 'lifecycle', 'auth', 'registry', 'events', 'gateway', 'sync', 'management', 'observability', 'config', 'client'],
  cli: ['core', 'oci', 'client', 'config', 'server', 'lifecycle'],
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
