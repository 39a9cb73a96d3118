#!/usr/bin/env bash
# Fails when `buf generate` would change gen/: the committed generated code
# must match proto/. Usage: scripts/check-generated.sh [PROJECT_DIR]
set -euo pipefail
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
tools=$(cd "$(dirname "$0")/.." && pwd)/node_modules/.bin
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r "$root/proto" "$root/buf.yaml" "$root/buf.gen.yaml" "$scratch/"
(cd "$scratch" && PATH="$tools:$PATH" buf generate)
if ! diff -ru "$root/gen" "$scratch/gen"; then
  echo "gen/ is out of date with proto/: run 'npm run generate' and commit the result" >&2
  exit 1
fi
echo "gen/ matches proto/"
