#!/usr/bin/env bash
# Rebuild ioc/static/vendor/plotly-ioc.min.js: plotly.js with only the trace types the product
# draws (see ioc/delivery.py), from plotly.js's own lib/ modules, bundled and minified by esbuild.
#
#   scripts/build_plotly_bundle.sh [PLOTLY_JS_VERSION]
#
# The version defaults to the plotly.js the installed plotly package bundles (the vendored bundle
# must match it: tests/unit/app/test_bundles.py). Needs node and npm (build time only; the product
# serves the vendored file). A trace type a figure starts to use goes in TRACES below; the test
# that walks every page's figures fails until it is in the bundle.
set -euo pipefail

TRACES=(bar heatmap)  # scatter is in plotly.js's core
ESBUILD_VERSION=0.28.2

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
version="${1:-$("$python" -c 'from plotly.offline import get_plotlyjs_version; print(get_plotlyjs_version())')}"
vendor="$root/ioc/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts "plotly.js@$version" "esbuild@$ESBUILD_VERSION" >/dev/null

{
    echo "'use strict';"
    echo "var Plotly = require('plotly.js/lib/core');"
    echo "Plotly.register(["
    for trace in "${TRACES[@]}"; do echo "    require('plotly.js/lib/$trace'),"; done
    echo "]);"
    echo "module.exports = Plotly;"
} > entry.js

names="scatter$(printf ', %s' "${TRACES[@]}")"
# the first line is V8's compile hint: every function of the file is compiled while it downloads,
# off the main thread, not one by one when first called (the first chart's draw did that on the
# page's main thread; see ioc/delivery.py)
banner="//# allFunctionsCalledOnLoad
/**
* plotly.js (ioc: $names - minified) v$version
* Copyright 2012-$(date +%Y), Plotly, Inc.
* All rights reserved.
* Licensed under the MIT license
* Built by scripts/build_plotly_bundle.sh
*/"
# maplibre's stylesheet, which plotly.js's registry imports for map subplots, is left out
npx esbuild entry.js --bundle --minify --format=iife --global-name=Plotly --target=es2016 \
    --define:global=window --define:define.amd=false --define:process.env.NODE_DEBUG=false \
    --loader:.css=empty "--banner:js=$banner" --log-level=warning --outfile="$vendor/plotly-ioc.min.js"
cp node_modules/plotly.js/LICENSE "$vendor/plotly-LICENSE"
ls -l "$vendor/plotly-ioc.min.js"
