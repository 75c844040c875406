// An agent in JavaScript, built with componentize-js against `world agent-command`, with
// the features that would give it network (`http`, `fetch-event`) disabled: the component
// imports no `wasi:http`.
//
// It records a session with two tool calls and a model call through the `recorder` import
// (those of tests/events/every-kind.json, which build.mjs puts beside this file as the module
// `every-kind.js`), prints what it did, and exits with the code given by `--exit N`. `--fetch URL` tries
// `fetch`: with `http` disabled it has nothing to call, and the agent traps there. `--repeat N` records a tool call N more times, one `record` call each,
// and prints what a call cost as the agent saw it.
//
// Build: node tests/agents/javascript/build.mjs OUT.wasm (see build.mjs).

import { record, recordMany } from 'agent:telemetry/recorder@0.2.0';
import { getArguments } from 'wasi:cli/environment@0.2.12';
import { exitWithCode } from 'wasi:cli/exit@0.2.12';
import EVERY_KIND from './every-kind.js';

// An event of every-kind.json as the bindings take it: `{ tag, val }`, the record's fields
// by their lowerCamelCase names, `none` as `undefined`; an enum's case keeps its WIT name.
function fromWitJson(event) {
  const [[tag, record]] = Object.entries(event);
  const camel = (name) => name.replace(/-(.)/g, (_, c) => c.toUpperCase());
  const fields = Object.entries(record).map(([name, value]) => [camel(name), value ?? undefined]);
  return { tag, val: Object.fromEntries(fields) };
}

// The session of every-kind.json: its start, its tool call (and before it one that
// succeeds), its model call and its end.
function events() {
  const kinds = ['session-start', 'tool-call', 'token-usage', 'session-end'];
  const session = EVERY_KIND.map(fromWitJson).filter((e) => kinds.includes(e.tag));
  const call = session.findIndex((e) => e.tag === 'tool-call');
  const readFile = { ...session[call].val, tool: 'read_file', durationMs: 12, outcome: 'success', error: undefined };
  session.splice(call, 0, { tag: 'tool-call', val: readFile });
  return session;
}

function flag(args, name) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(args) {
  const recorded = events();
  // The first alone, the rest in one call: both import functions are used.
  record(recorded[0]);
  recordMany(recorded.slice(1));
  console.log(`js-agent: recorded ${recorded.length} events`);

  const url = flag(args, '--fetch');
  if (url) {
    console.log('js-agent: fetching');
    try {
      await fetch(url);
      console.log('js-agent: fetch succeeded');
    } catch (e) {
      console.log(`js-agent: fetch refused: ${e.name}`);
    }
  }

  const repeat = flag(args, '--repeat');
  if (repeat) {
    const n = Number(repeat);
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      record(recorded[1]);
    }
    const perCall = ((performance.now() - start) / n) * 1000;
    console.log(`js-agent: ${n} record calls, ${perCall.toFixed(2)} us each`);
  }
  return Number(flag(args, '--exit') ?? 0);
}

export const run = {
  async run() {
    const code = await main(getArguments().slice(1));
    if (code) {
      exitWithCode(code);
    }
  },
};
