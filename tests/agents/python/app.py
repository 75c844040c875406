"""An agent in Python, built with componentize-py against `world agent-command`.

It records a session with two tool calls and a model call through the `recorder` import,
tries to open a socket (`--connect HOST:PORT`; the host must refuse it), prints what it did,
and exits with the code given by `--exit N`. `--repeat N` records a tool call N more times,
one `record` call each, and prints what a call cost as the agent saw it.

Build (componentize-py 0.25.1, from PyPI):

    componentize-py -d wit -w agent-command componentize -p tests/agents/python app \\
        -o python-agent.wasm
"""

import socket
import sys
import time

from wit_world import exports
from wit_world.imports import exit as wasi_exit
from wit_world.imports import recorder as r

SESSION = "py-session-1"
AGENT = "py-planner"


def tool_call(name, duration_ms, ok):
    return r.Event_ToolCall(r.ToolCall(
        tool=name,
        session_id=SESSION,
        agent=AGENT,
        duration_ms=duration_ms,
        outcome=r.Outcome.SUCCESS if ok else r.Outcome.FAILURE,
        error=None if ok else r.ErrorKind.TOOL,
    ))


def events():
    return [
        r.Event_SessionStart(r.SessionStart(session_id=SESSION, agent=AGENT, task_id=None)),
        tool_call("read_file", 12, True),
        tool_call("shell", 250, False),
        r.Event_TokenUsage(r.TokenUsage(
            model="gpt-4o",
            session_id=SESSION,
            agent=AGENT,
            input_tokens=1200,
            output_tokens=300,
            cached_tokens=800,
            reasoning_tokens=0,
            cost_usd=0.0105,
        )),
        r.Event_SessionEnd(r.SessionEnd(
            session_id=SESSION,
            agent=AGENT,
            task_id=None,
            outcome=r.Outcome.SUCCESS,
            error=None,
            tasks_processed=None,
        )),
    ]


def flag(args, name):
    return args[args.index(name) + 1] if name in args else None


class Run(exports.Run):
    def run(self) -> None:
        args = sys.argv[1:]
        recorded = events()
        # The first alone, the rest in one call: both import functions are used.
        r.record(recorded[0])
        r.record_many(recorded[1:])
        print(f"python-agent: recorded {len(recorded)} events")

        address = flag(args, "--connect")
        if address:
            host, port = address.rsplit(":", 1)
            try:
                probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                probe.connect((host, int(port)))
                print("python-agent: socket connected")
            except OSError as e:
                print(f"python-agent: socket refused: {type(e).__name__}")

        repeat = flag(args, "--repeat")
        if repeat:
            n = int(repeat)
            start = time.perf_counter()
            for _ in range(n):
                r.record(recorded[1])
            per_call = (time.perf_counter() - start) / n * 1e6
            print(f"python-agent: {n} record calls, {per_call:.2f} us each")

        code = int(flag(args, "--exit") or 0)
        if code:
            sys.stdout.flush()
            # `sys.exit` gives only 0 or 1 through WASI's `exit`; this passes the code itself.
            wasi_exit.exit_with_code(code)
