// Layering rule for Sillage, modelled on VS Code's `code-layering`: every file belongs to a layer by its
// path, and each layer may import only from the layers listed for it. Violations are lint errors, so the
// architecture cannot drift silently (e.g. `electron/core` must run headless, without `electron`).
import path from 'node:path';
import { builtinModules } from 'node:module';

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
  const report = (what) =>
    context.report({ node, message: `Layering: ${from} may not import ${what} (${WHY[from]}).` });

  if (spec.startsWith('.') || spec.startsWith('/')) {
    const target = path.resolve(path.dirname(filename), spec);
    const rel = path.relative(ROOT, target);
    if (rel.startsWith('..')) return report(`'${spec}' outside the repository`);
    const to = layerOf(rel + (path.extname(rel) ? '' : '.ts')) ?? layerOf(rel + '/');
    if (to === null) return report(`'${spec}' (not a layer: tests, scripts and tools are not importable)`);
    if (!policy.layers.includes(to)) report(`'${spec}' from layer ${to}`);
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
