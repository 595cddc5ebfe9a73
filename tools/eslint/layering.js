// Layering rule for Sillage, modelled on VS Code's `code-layering`: every file belongs to a layer by its
// path, and each layer may import only from the layers listed for it. Violations are lint errors, so the
// architecture cannot drift silently (e.g. `electron/core` must run headless, without `electron`).
import fs from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Layer of a repository-relative path, or null when the path is not layered (tests, scripts...). */
export function layerOf(rel) {
  const p = rel.split(path.sep).join('/');
  if (/\.(test|spec)\.[cm]?[jt]sx?$/.test(p)) return null;
  if (p.startsWith('shared/')) return 'shared';
  if (p.startsWith('electron/core/')) return 'core';
  if (p.startsWith('electron/shell/')) return 'shell';
  if (p.startsWith('renderer/src/')) return 'renderer';
  if (p.startsWith('native/')) return 'native';
  if (p.startsWith('server/')) return 'server';
  if (p.startsWith('protocol/')) return 'protocol';
  return null;
}

// What each layer may reach: other layers, node builtins, and npm packages (allow or deny lists).
const POLICY = {
  shared: { layers: ['shared'], node: false, packages: { allow: [] } },
  core: {
    layers: ['shared', 'core', 'native'],
    node: true,
    packages: { deny: ['electron', 'react', 'react-dom', 'react-dom/client'] },
  },
  native: { layers: ['native'], node: true, packages: { deny: ['electron', 'react', 'react-dom'] } },
  shell: { layers: ['shared', 'core', 'native', 'shell'], node: true, packages: { deny: ['react', 'react-dom'] } },
  renderer: {
    layers: ['shared', 'renderer'],
    node: false,
    packages: { allow: ['react', 'react-dom', 'react-dom/client', 'react/jsx-runtime'] },
  },
  server: { layers: ['server'], node: true, packages: { deny: ['electron', 'react', 'react-dom'] } },
  // Reached from core and server by its package name (@sillage/protocol), never by a relative path.
  protocol: { layers: ['protocol'], node: ['node:crypto', 'crypto', 'node:buffer', 'buffer'], packages: { allow: [] } },
};

const WHY = {
  shared: 'the shared contract is pure types and validators, used by every layer',
  core: 'electron/core is plain Node: it must run headless and in tests, without electron or DOM',
  native: 'native glue is plain Node',
  shell: 'electron/shell adapts core to Electron; UI code belongs to renderer/',
  renderer: 'the UI speaks to the agent only through the shared contract (no Node, no electron, no core internals)',
  server: 'the session server is its own package; it shares only @sillage/protocol with the desktop app',
  protocol: 'the agent-server protocol is pure (types, checks, pure crypto): no I/O, no other layer',
};

// The order inside electron/core, lowest first. A core file may import its own group and the groups before
// it, never one after it; groups sharing a rank (an inner array) are siblings and do not import each other.
// A path belongs to the group of its longest matching prefix; a core file outside every group is an error,
// so a new folder is placed in the order on purpose.
export const CORE_ORDER = [
  { util: ['util/', 'logs/', 'version.ts'] },
  { keys: ['keys/'] },
  { audit: ['audit/'] },
  { config: ['config/'] },
  // devices/: what every device backend speaks (card handles, reader events, APDU transport, card classes),
  // then the CPS and badge code, then the PC/SC entry point above them (sees a card, tells CPS from DESFire
  // by its ATR, hands off), the backends from settings and the badge encoding tool.
  { 'device-types': ['devices/types.ts'] },
  { cps: ['devices/cps/'], badge: ['devices/badge/'] },
  { devices: ['devices/'] },
  { 'server-client': ['oidc/'] },
  { auth: ['auth/'] },
  { session: ['session/'] },
  { broker: ['broker/'] },
  { api: ['api/'] },
  { demo: ['demo/'] },
  { agent: ['agent.ts', 'agent/'] },
  { app: ['app/'] },
  { headless: ['headless/'] },
];

const CORE_PREFIX = 'electron/core/';
const CORE_GROUPS = CORE_ORDER.flatMap((rank, i) =>
  Object.entries(rank).flatMap(([group, prefixes]) => prefixes.map((prefix) => ({ group, prefix, rank: i }))),
).sort((a, b) => b.prefix.length - a.prefix.length);

/** Group and rank of a repository-relative core path, or null when no group holds it. */
export function coreGroupOf(rel) {
  const p = rel.split(path.sep).join('/').slice(CORE_PREFIX.length);
  return CORE_GROUPS.find((g) => p.startsWith(g.prefix)) ?? null;
}

// Relative imports of a file on disk, resolved to absolute paths (cached by modification time).
const importsCache = new Map();
function resolveFile(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const c of [base, `${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts')])
    if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  return null;
}
function importsOf(file) {
  const mtime = fs.statSync(file).mtimeMs;
  const hit = importsCache.get(file);
  if (hit && hit.mtime === mtime) return hit.imports;
  const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  const imports = importedFiles
    .map((f) => f.fileName)
    .filter((s) => s.startsWith('.'))
    .map((s) => resolveFile(file, s))
    .filter((f) => f !== null);
  importsCache.set(file, { mtime, imports });
  return imports;
}

/** The chain of core files from `target` back to `file`, when importing `target` from `file` closes a cycle. */
function cycleThrough(file, target) {
  const coreRoot = path.join(ROOT, CORE_PREFIX);
  const seen = new Set();
  const walk = (f, chain) => {
    if (f === file) return chain;
    if (seen.has(f) || !f.startsWith(coreRoot) || layerOf(path.relative(ROOT, f)) !== 'core') return null;
    seen.add(f);
    for (const next of importsOf(f)) {
      const found = walk(next, [...chain, next]);
      if (found) return found;
    }
    return null;
  };
  return walk(target, [target]);
}

const ORDER_WHY = 'core reads in one direction: a group imports only itself and the groups below it (CORE_ORDER)';

function checkCoreOrder(reportWhy, filename, from, target) {
  const report = (what) => reportWhy(what, ORDER_WHY);
  const rel = (f) => path.relative(path.join(ROOT, CORE_PREFIX), f).split(path.sep).join('/');
  const a = coreGroupOf(from);
  if (!a) return report(`anything: '${rel(filename)}' belongs to no group of the core order (CORE_ORDER)`);
  const resolved = resolveFile(filename, target) ?? target;
  const b = coreGroupOf(path.relative(ROOT, resolved));
  if (!b) return report(`'${rel(resolved)}', which belongs to no group of the core order (CORE_ORDER)`);
  if (b.rank > a.rank) return report(`'${rel(resolved)}' (core: ${a.group} sits below ${b.group})`);
  if (b.rank === a.rank && b.group !== a.group)
    return report(`'${rel(resolved)}' (core: ${a.group} and ${b.group} are siblings, neither imports the other)`);
  if (fs.existsSync(resolved)) {
    const chain = cycleThrough(filename, resolved);
    if (chain) report(`'${rel(resolved)}': an import cycle (${[filename, ...chain].map(rel).join(' -> ')})`);
  }
}

function packageName(spec) {
  if (spec.startsWith('@')) return spec.split('/').slice(0, 2).join('/');
  return spec.split('/')[0];
}

function check(context, node, spec) {
  if (typeof spec !== 'string') return;
  const filename = context.filename ?? context.getFilename();
  const from = layerOf(path.relative(ROOT, filename));
  if (!from) return;
  const policy = POLICY[from];
  const report = (what, why = WHY[from]) =>
    context.report({ node, message: `Layering: ${from} may not import ${what} (${why}).` });

  if (spec.startsWith('.') || spec.startsWith('/')) {
    const target = path.resolve(path.dirname(filename), spec);
    const rel = path.relative(ROOT, target);
    if (rel.startsWith('..')) return report(`'${spec}' outside the repository`);
    const to = layerOf(rel + (path.extname(rel) ? '' : '.ts')) ?? layerOf(rel + '/');
    if (to === null) return report(`'${spec}' (not a layer: tests, scripts and tools are not importable)`);
    if (!policy.layers.includes(to)) return report(`'${spec}' from layer ${to}`);
    if (from === 'core' && to === 'core') checkCoreOrder(report, filename, path.relative(ROOT, filename), target);
    return;
  }
  if (NODE_BUILTINS.has(spec) || spec.startsWith('node:')) {
    if (!policy.node || (Array.isArray(policy.node) && !policy.node.includes(spec)))
      report(`the Node built-in '${spec}'`);
    return;
  }
  const pkg = packageName(spec);
  const { allow, deny } = policy.packages;
  if (allow && !allow.includes(spec) && !allow.includes(pkg)) report(`the package '${spec}'`);
  if (deny && (deny.includes(spec) || deny.includes(pkg))) report(`the package '${spec}'`);
}

export const layeringRule = {
  meta: { type: 'problem', docs: { description: 'Enforce the Sillage layering (see DEVELOPERS.md)' }, schema: [] },
  create(context) {
    return {
      ImportDeclaration: (node) => check(context, node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(context, node, node.source.value),
      ExportAllDeclaration: (node) => check(context, node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(context, node, node.source.value),
      CallExpression: (node) => {
        if (
          node.callee.type === 'Identifier' &&
          node.callee.name === 'require' &&
          node.arguments[0]?.type === 'Literal'
        ) {
          check(context, node, node.arguments[0].value);
        }
      },
    };
  },
};

export default { rules: { layering: layeringRule } };
