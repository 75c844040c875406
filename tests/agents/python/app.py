"""An agent in Python, built with componentize-py against `world agent-command`.

It records a session with two tool calls and a model call through the `recorder` import
(those of tests/events/every-kind.json, read when it is built),
tries to open a socket (`--connect HOST:PORT`; the host must refuse it), prints what it did,
and exits with the code given by `--exit N`. `--repeat N` records a tool call N more times,
one `record` call each, and prints what a call cost as the agent saw it.

Build (componentize-py 0.25.1, from PyPI):

    componentize-py -d wit -w agent-command componentize -p tests/agents/python \\
        -p tests/events app -o python-agent.wasm
"""

import dataclasses
import json
import socket
import sys
import time
import typing
from enum import Enum
from pathlib import Path

from wit_world import exports
from wit_world.imports import exit as wasi_exit
from wit_world.imports import recorder as r

# Read when componentize-py builds the agent, which runs this module then and keeps what it
# made: the component itself reads no file. The build sees only the directories given with
# `-p`, tests/events among them.
EVERY_KIND = json.loads(next(
    path / "every-kind.json" for path in map(Path, sys.path) if (path / "every-kind.json").is_file()
).read_text())


def from_wit_json(event):
    """An event of every-kind.json as these bindings spell it: the case `tool-call` is an
    `Event_ToolCall` holding a `ToolCall`, the field `session-id` is `session_id`, the enum
    case `permission-denied` is `PERMISSION_DENIED`."""
    [(kind, written)] = event.items()
    case = getattr(r, "Event_" + kind.title().replace("-", ""))
    record = typing.get_type_hints(case)["value"]
    values = {}
    for field in dataclasses.fields(record):
        value = written[field.name.replace("_", "-")]
        enums = [t for t in (field.type, *typing.get_args(field.type))
                 if isinstance(t, type) and issubclass(t, Enum)]
        if enums and value is not None:
            value = enums[0][value.upper().replace("-", "_")]
        values[field.name] = value
    return case(record(**values))


def events():
    """The session of every-kind.json: its start, its tool call (and before it one that
    succeeds), its model call and its end."""
    session = [from_wit_json(e) for e in EVERY_KIND
               if next(iter(e)) in ("session-start", "tool-call", "token-usage", "session-end")]
    call = next(e for e in session if isinstance(e, r.Event_ToolCall))
    read_file = dataclasses.replace(
        call.value, tool="read_file", duration_ms=12, outcome=r.Outcome.SUCCESS, error=None)
    session.insert(session.index(call), r.Event_ToolCall(read_file))
    return session


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
