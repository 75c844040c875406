// An agent in JavaScript, built with componentize-js against `world agent-command`, with
// the features that would give it network (`http`, `fetch-event`) disabled: the component
// imports no `wasi:http`.
//
// It records a session with two tool calls and a model call through the `recorder` import,
// prints what it did, and exits with the code given by `--exit N`. `--fetch URL` tries
// `fetch`: with `http` disabled it has nothing to call, and the agent traps there. `--repeat N` records a tool call N more times, one `record` call each,
// and prints what a call cost as the agent saw it.
//
// Build: node tests/agents/javascript/build.mjs OUT.wasm (see build.mjs).

import { record, recordMany } from 'agent:telemetry/recorder@0.2.0';
import { getArguments } from 'wasi:cli/environment@0.2.12';
import { exitWithCode } from 'wasi:cli/exit@0.2.12';

const SESSION = 'js-session-1';
const AGENT = 'js-planner';

function toolCall(tool, durationMs, ok) {
  return {
    tag: 'tool-call',
    val: {
      tool,
      sessionId: SESSION,
      agent: AGENT,
      durationMs: BigInt(durationMs),
      outcome: ok ? 'success' : 'failure',
      error: ok ? undefined : 'tool',
    },
  };
}

function events() {
  return [
    { tag: 'session-start', val: { sessionId: SESSION, agent: AGENT, taskId: undefined } },
    toolCall('read_file', 12, true),
    toolCall('shell', 250, false),
    {
      tag: 'token-usage',
      val: {
        model: 'gpt-4o',
        sessionId: SESSION,
        agent: AGENT,
        inputTokens: 1200n,
        outputTokens: 300n,
        cachedTokens: 800n,
        reasoningTokens: 0n,
        costUsd: 0.0105,
      },
    },
    {
      tag: 'session-end',
      val: {
        sessionId: SESSION,
        agent: AGENT,
        taskId: undefined,
        outcome: 'success',
        error: undefined,
        tasksProcessed: undefined,
      },
    },
  ];
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
