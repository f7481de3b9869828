#!/usr/bin/env bash
# Vendor the MQTT.js browser bundle for the example page and its browser test:
# npm install into a cache dir, copy dist/mqtt.min.js to examples/mqtt/vendor/ (gitignored).
# The page never loads it from a CDN. Usage: setup-tests.sh [VENV]  (VENV is not needed)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VERSION=${XQUEUE_MQTTJS_VERSION:-5.16.0}
DEST="$ROOT/examples/mqtt/vendor"
CACHE=${XQUEUE_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xqueue-mqtt/mqttjs-$VERSION}

if [ -f "$DEST/mqtt.min.js" ] && [ "$(cat "$DEST/VERSION" 2>/dev/null)" = "$VERSION" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "setup-tests.sh: npm is not installed; it is needed to vendor MQTT.js (apt-get install npm)" >&2
    exit 1
fi
if [ ! -f "$CACHE/node_modules/mqtt/dist/mqtt.min.js" ]; then
    # install into a private directory, then move it into place in one rename:
    # several checkouts may run this at the same time
    mkdir -p "$(dirname "$CACHE")"
    tmp=$(mktemp -d "$CACHE.tmp.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    npm install --prefix "$tmp" --no-audit --no-fund --no-save --loglevel=error "mqtt@$VERSION" >&2
    [ -f "$CACHE/node_modules/mqtt/dist/mqtt.min.js" ] || rm -rf "$CACHE"  # a broken leftover
    mv -T "$tmp" "$CACHE" 2>/dev/null || true  # another run got there first: use its copy
fi
mkdir -p "$DEST"
cp "$CACHE/node_modules/mqtt/dist/mqtt.min.js" "$DEST/mqtt.min.js.$$"
mv "$DEST/mqtt.min.js.$$" "$DEST/mqtt.min.js"
echo "$VERSION" > "$DEST/VERSION"
echo "vendored MQTT.js $VERSION into $DEST"
