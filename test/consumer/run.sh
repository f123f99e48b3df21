#!/usr/bin/env bash
# Packs fiberloop (`npm pack`, which builds dist), installs the tarball into a
# throwaway app in a temp dir with effect, @effect/platform-node and
# @types/node at the versions this repo pins, typechecks the app with the
# repo's tsc (declarations included: skipLibCheck is off) and runs it on the
# repo's Node 24. Only the npm registry is reached over the network.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/test/consumer"
work="$(mktemp -d "${TMPDIR:-/tmp}/fiberloop-consumer.XXXXXX")"
trap 'rm -rf "$work"' EXIT
node="$repo/node_modules/.bin/node"

cd "$repo"
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
test -f "$tarball"

mkdir "$work/app"
cp "$here/main.ts" "$here/tsconfig.json" "$work/app/"
"$node" -e '
  const fs = require("node:fs")
  const [template, out, repoJson, tarball] = process.argv.slice(1)
  const dev = JSON.parse(fs.readFileSync(repoJson, "utf8")).devDependencies
  const text = fs.readFileSync(template, "utf8")
    .replace("@EFFECT_PLATFORM_NODE@", dev["@effect/platform-node"])
    .replace("@EFFECT@", dev.effect)
    .replace("@TYPES_NODE@", dev["@types/node"])
    .replace("@TARBALL@", tarball)
  fs.writeFileSync(out, text)
' "$here/package.template.json" "$work/app/package.json" "$repo/package.json" "$tarball"

cd "$work/app"
npm install --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null
"$repo/node_modules/.bin/tsc" -p .
"$node" main.ts
