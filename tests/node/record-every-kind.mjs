// Uses the transpiled telemetry component as a library under Node: records one event of
// every kind, flushes them to the endpoint in AGENT_TELEMETRY_CONFIG, and prints the flush
// report and the status as JSON. preview2-shim's HTTP blocks Node's main thread while it
// sends, so the collector must be another process.
//
//   AGENT_TELEMETRY_CONFIG='{"enabled":"true","endpoint":"http://127.0.0.1:4318/v1/batch"}' \
//     node record-every-kind.mjs        (beside telemetry.js, what jco transpile wrote)

import { recorder } from './telemetry.js';

const session = 'node-session-1';
const agent = 'node-agent';
const events = [
  { tag: 'command', val: { action: 'run', outcome: 'success', error: undefined, argCount: 2, flags: [] } },
  { tag: 'session-start', val: { sessionId: session, agent, taskId: 'task-1' } },
  {
    tag: 'tool-call',
    val: { tool: 'read_file', sessionId: session, agent, durationMs: 12n, outcome: 'success', error: undefined },
  },
  {
    tag: 'token-usage',
    val: {
      model: 'gpt-4o', sessionId: session, agent, inputTokens: 1200n, outputTokens: 300n,
      cachedTokens: 0n, reasoningTokens: 0n, costUsd: 0.0105,
    },
  },
  {
    tag: 'session-cost',
    val: {
      sessionId: session, agent, model: 'gpt-4o', costUsd: 0.0105, inputTokens: 1200n,
      outputTokens: 300n, cacheReadTokens: 0n, cacheWriteTokens: 0n, reasoningTokens: 0n,
      thinkingTokens: 0n, turns: 3, isError: false,
    },
  },
  {
    tag: 'session-failure',
    val: { sessionId: session, agent, error: 'tool', wasRateLimited: false, provider: 'openai' },
  },
  {
    tag: 'session-end',
    val: { sessionId: session, agent, taskId: 'task-1', outcome: 'success', error: undefined, tasksProcessed: 1 },
  },
  { tag: 'server', val: { state: 'started', uptimeMs: undefined, sessionsProcessed: undefined } },
  { tag: 'agent-registered', val: { agent, role: 'lead', capabilities: ['code'], isReconnect: false } },
  {
    tag: 'task',
    val: {
      taskId: 'task-1', state: 'completed', previousState: 'started', agent, source: 'api',
      tags: [], hasParent: false, priority: 5, durationMs: 900n,
    },
  },
  {
    tag: 'task-session-completed',
    val: {
      taskId: 'task-1', agent, exitCode: 0, isError: false, durationMs: 900n,
      provider: 'openai', harness: undefined, model: 'gpt-4o',
    },
  },
  {
    tag: 'workflow',
    val: {
      workflowId: 'wf-1', state: 'completed', nodeCount: 3, source: 'api', trigger: 'manual',
      durationMs: 1200n, stepsCompleted: 3, stepsFailed: 0,
    },
  },
  {
    tag: 'schedule',
    val: { state: 'executed', scheduleType: 'cron', triggeredWorkflows: true, wasRecovered: false, consecutiveErrors: undefined },
  },
  {
    tag: 'compaction',
    val: { sessionId: session, agent, trigger: 'auto', preCompactTokens: 90000n, contextTotalTokens: 128000n },
  },
];

const json = (value) => JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? Number(v) : v));
recorder.record(events[0]);
recorder.recordMany(events.slice(1));
console.log(`recorded ${events.length} events`);
console.log(`flush ${json(recorder.flush(10_000))}`);
console.log(`status ${json(recorder.status())}`);
