"""Decodes OTLP/HTTP logs request bodies with the official Python classes (PyPI's
opentelemetry-proto, installed by tests/tools/install.sh): protobuf with the generated
message's parser, JSON with protobuf's own JSON mapping (json_format), which nobody in this
project wrote. Prints, as one JSON document, what each body holds, for the Rust tests to check.

usage: otlp_decode.py (protobuf|json):FILE ...
"""

import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest


def value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    if kind is None:
        return None
    return getattr(any_value, kind)


def attributes(key_values):
    return {kv.key: value(kv.value) for kv in key_values}


def summary(request):
    out = []
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                out.append(
                    {
                        "resource": attributes(resource_logs.resource.attributes),
                        "scope": scope_logs.scope.name,
                        "event_name": record.event_name,
                        "time_unix_nano": record.time_unix_nano,
                        "severity_number": record.severity_number,
                        "severity_text": record.severity_text,
                        "attributes": attributes(record.attributes),
                    }
                )
    return out


def main():
    bodies = []
    for arg in sys.argv[1:]:
        encoding, path = arg.split(":", 1)
        with open(path, "rb") as f:
            data = f.read()
        request = ExportLogsServiceRequest()
        if encoding == "protobuf":
            request.ParseFromString(data)
        else:
            json_format.Parse(data.decode("utf-8"), request)
        bodies.append(summary(request))
    json.dump(bodies, sys.stdout)


main()
