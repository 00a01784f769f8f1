#!/bin/sh
# tests/browser/npm_install.sh SRC_DIR BUILD_BROWSER_DIR - puppeteer-core,
# exactly as pinned in SRC_DIR/package-lock.json, into BUILD_BROWSER_DIR
# (the build tree: node_modules never lands in the source tree).  `npm ci`
# (~5 s, 56 MB) runs only when the lock file differs from the one last
# installed there, so the ctest fixture that calls this costs nothing after
# the first run.  Exit 77 (ctest: skipped) when node or npm is missing.
set -eu
src=$1
dst=$2
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "npm_install: node or npm missing: skipped (scripts/install-deps.sh installs them)"
    exit 77
fi
mkdir -p "$dst"
stamp="$dst/.installed-lock.json"
if [ -f "$stamp" ] && [ -d "$dst/node_modules/puppeteer-core" ] &&
   cmp -s "$src/package-lock.json" "$stamp" && cmp -s "$src/package.json" "$dst/package.json"; then
    echo "npm_install: puppeteer-core already installed in $dst"
    exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dst/"
cd "$dst"
npm ci --no-audit --no-fund --loglevel=error
cp package-lock.json "$stamp"
echo "npm_install: installed $(node -p "require('./node_modules/puppeteer-core/package.json').version") into $dst"
