// wasi:config/store for the telemetry component transpiled by `jco transpile` (Bytecode
// Alliance's preview2-shim has no wasi:config): a program hands the component its
// configuration through this module. Map it in at transpile time:
//
//   jco transpile agent_telemetry_guest.wasm -o out --map 'wasi:config/store=./wasi-config.js'
//
// Here the pairs are read from AGENT_TELEMETRY_CONFIG, a JSON object of strings (the keys are
// the component's configuration keys: enabled, endpoint, installation-id, hash-key, ...).

const pairs = Object.entries(JSON.parse(process.env.AGENT_TELEMETRY_CONFIG ?? '{}')).map(
  ([key, value]) => [key, String(value)],
);

export function get(key) {
  return pairs.find(([k]) => k === key)?.[1];
}

export function getAll() {
  return pairs;
}
