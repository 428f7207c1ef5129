#!/usr/bin/env bash
# Refreshes vendor/ from npm: installs the exact versions of package.json
# (as package-lock.json pins them, with their dependencies) into a
# temporary folder and copies the minified production builds that
# index.html loads, with their licences. `make graphiql-assets` runs it;
# to move to other versions, change package.json and run it again (the
# lock file is updated and should be committed with vendor/).
set -euo pipefail
cd "$(dirname "$0")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp package.json package-lock.json "$tmp/"
(cd "$tmp" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
cp "$tmp/package-lock.json" package-lock.json

nm="$tmp/node_modules"
rm -rf vendor
mkdir vendor
cp "$nm/graphiql/graphiql.min.js" "$nm/graphiql/graphiql.min.css" vendor/
cp "$nm/react/umd/react.production.min.js" vendor/
cp "$nm/react-dom/umd/react-dom.production.min.js" vendor/
node notice.js "$nm" > vendor/NOTICE.md
ls -l vendor
