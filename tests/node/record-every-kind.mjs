// Uses the transpiled telemetry component as a library under Node: records one event of
// every kind (those of tests/events/every-kind.json), flushes them to the endpoint in
// AGENT_TELEMETRY_CONFIG, and prints the flush report and the status as JSON.
// preview2-shim's HTTP blocks Node's main thread while it sends, so the collector must be
// another process.
//
//   AGENT_TELEMETRY_CONFIG='{"enabled":"true","endpoint":"http://127.0.0.1:4318/v1/batch"}' \
//     node record-every-kind.mjs        (beside telemetry.js, what jco transpile wrote)

import { readFileSync } from 'node:fs';
import { recorder } from './telemetry.js';

// tests/events/every-kind.json, which the test puts beside this file.
const EVERY_KIND = JSON.parse(readFileSync(new URL('./every-kind.json', import.meta.url), 'utf8'));
// A session id of this script's own, for the test to look for: the component must not send it
// as written.
const session = 'node-session-1';

// An event of every-kind.json as the bindings take it: `{ tag, val }`, the record's fields
// by their lowerCamelCase names, `none` as `undefined`; an enum's case keeps its WIT name.
function fromWitJson(event) {
  const [[tag, record]] = Object.entries(event);
  const camel = (name) => name.replace(/-(.)/g, (_, c) => c.toUpperCase());
  const fields = Object.entries(record).map(([name, value]) => [camel(name), value ?? undefined]);
  return { tag, val: Object.fromEntries(fields) };
}

const events = EVERY_KIND.map(fromWitJson);
for (const { val } of events) {
  if ('sessionId' in val) {
    val.sessionId = session;
  }
}

const json = (value) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? Number(v) : v));
recorder.record(events[0]);
recorder.recordMany(events.slice(1));
console.log(`recorded ${events.length} events`);
console.log(`flush ${json(recorder.flush(10_000))}`);
console.log(`status ${json(recorder.status())}`);
