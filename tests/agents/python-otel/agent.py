"""A native agent instrumented with the official OpenTelemetry Python SDK and nothing of
ours: the relay's independent producer. It ends the spans of one agent session with the GenAI
semantic conventions (an invoke_agent span, with a model call and a tool call under it), a
workflow, an agent's creation and a span of no GenAI operation, and records the
gen_ai.client.token.usage histogram. Every argument after the mode is a secret it puts in
content attributes, span names, attributes outside the mapping, span events, resource
attributes, and the names the mapping does read (tool, model, agent, conversation,
`error.type`, `service.name`): each secret's tool and model spans become a session start, a
tool call and a token use, so the test can count them.

    agent.py protobuf [SECRET...]   the SDK's OTLP/HTTP exporters (protobuf), to
                                    OTEL_EXPORTER_OTLP_ENDPOINT, as any instrumented agent
    agent.py json [SECRET...]       the same telemetry as OTLP/JSON: the SDK's own OTLP
                                    encoding, in protobuf's JSON mapping with OTLP/JSON's hex
                                    ids, POSTed to the same endpoint; here the model call's
                                    span carries no usage, so the tokens come from the metric
"""

import json
import os
import sys
import urllib.request

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

mode = sys.argv[1]
secrets = sys.argv[2:]
endpoint = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/")

resource = Resource.create(
    {"service.name": secrets[0] if secrets else "python-otel-agent", "service.version": "1.0.0"}
    | {f"host.secret.{i}": s for i, s in enumerate(secrets)}
)

if mode == "protobuf":
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    spans_out = OTLPSpanExporter()
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=3_600_000)
else:
    spans_out = InMemorySpanExporter()
    reader = InMemoryMetricReader()

tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(spans_out))
tracer = tracer_provider.get_tracer("python-otel-agent", "1.0.0")
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
tokens = meter_provider.get_meter("python-otel-agent").create_histogram(
    "gen_ai.client.token.usage", unit="{token}"
)

conversation = {"gen_ai.conversation.id": "conv-python", "gen_ai.agent.name": "planner"}
with tracer.start_as_current_span("invoke_agent planner") as session:
    session.set_attributes({"gen_ai.operation.name": "invoke_agent", **conversation})
    session.set_attribute("gen_ai.system_instructions", "You are a helpful lawyer.")
    with tracer.start_as_current_span("chat gpt-4o") as chat:
        chat.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                **conversation,
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": "summarise my contract"}]}]
                ),
            }
        )
        if mode == "protobuf":
            chat.set_attributes(
                {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300}
            )
        for kind, count in (("input", 1200), ("output", 300)):
            tokens.record(
                count,
                {"gen_ai.token.type": kind, "gen_ai.request.model": "gpt-4o", "gen_ai.operation.name": "chat"},
            )
    with tracer.start_as_current_span("execute_tool read_file") as tool:
        tool.set_attributes(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "read_file",
                "gen_ai.tool.call.id": "call-1",
                **conversation,
                "gen_ai.tool.call.arguments": '{"path": "/home/alice/contract.pdf"}',
                "error.type": "FileNotFoundError",
            }
        )
        tool.set_status(Status(StatusCode.ERROR, "no such file"))
with tracer.start_as_current_span("invoke_workflow nightly") as workflow:
    workflow.set_attributes({"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "nightly"})
with tracer.start_as_current_span("create_agent reviewer") as created:
    created.set_attributes({"gen_ai.operation.name": "create_agent", "gen_ai.agent.name": "reviewer"})
for i, secret in enumerate(secrets):
    with tracer.start_as_current_span(f"execute_tool {secret}") as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": secret,
                "gen_ai.tool.call.id": f"secret-call-{i}",
                "gen_ai.conversation.id": secret,
                "gen_ai.agent.name": secret,
                "gen_ai.tool.call.arguments": secret,
                "gen_ai.tool.call.result": secret,
                "error.type": secret,
            }
        )
        span.set_status(Status(StatusCode.ERROR, secret))
    with tracer.start_as_current_span(f"chat {secret}") as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": secret,
                "gen_ai.response.model": secret,
                "gen_ai.conversation.id": secret,
                "gen_ai.usage.input_tokens": 7,
                "gen_ai.input.messages": json.dumps([{"role": "user", "content": secret}]),
                "gen_ai.output.messages": secret,
                "gen_ai.system_instructions": secret,
                "gen_ai.prompt.0.content": secret,
                "user.note": secret,
                secret: secret,
            }
        )
        span.add_event(secret, {"gen_ai.prompt": secret})
    with tracer.start_as_current_span(secret) as span:
        span.set_attribute("http.url", secret)

tracer_provider.shutdown()
if mode == "protobuf":
    meter_provider.shutdown()
else:
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    def hex_ids(node):
        """OTLP/JSON writes ids in hex where protobuf's JSON mapping has base64."""
        import base64

        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                else:
                    hex_ids(value)
        elif isinstance(node, list):
            for value in node:
                hex_ids(value)
        return node

    def post(path, message):
        body = json.dumps(hex_ids(MessageToDict(message, use_integers_for_enums=True))).encode()
        request = urllib.request.Request(
            endpoint + path, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, response.status

    post("/v1/traces", encode_spans(spans_out.get_finished_spans()))
    post("/v1/metrics", encode_metrics(reader.get_metrics_data()))
    meter_provider.shutdown()
print(f"ended {5 + 3 * len(secrets)} spans in {mode}")
