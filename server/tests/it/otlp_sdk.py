"""Exports metrics to Strata with the OpenTelemetry Python SDK (OTLP/HTTP,
protobuf), as two instances of one service; run by tests/it/otlp.rs.

usage: otlp_sdk.py <host:port>
Prints the SDK version; exits 1 when an export did not succeed."""

import sys

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExportResult, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.version import __version__

addr = sys.argv[1]
results = []


class Checked(OTLPMetricExporter):
    def export(self, metrics_data, timeout_millis=10_000, **kwargs):
        r = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        results.append(r)
        return r


def run(k, path):
    resource = Resource.create(
        {
            "service.name": "checkout",
            "service.namespace": "shop",
            "service.instance.id": f"i-{k}",
            "deployment.environment": "test",
            "host.name": f"h{k}",
        }
    )
    exporter = Checked(endpoint=f"http://{addr}{path}")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    views = [
        View(
            instrument_name="latency",
            aggregation=ExplicitBucketHistogramAggregation(boundaries=[10, 100, 1000]),
        )
    ]
    provider = MeterProvider(resource=resource, metric_readers=[reader], views=views)
    meter = provider.get_meter("strata.test", "1.2.3")

    requests = meter.create_counter("requests", unit="1")
    requests.add(5 * k, {"route": "/a"})
    requests.add(2 * k, {"route": "/b"})

    depth = meter.create_up_down_counter("queue.depth", unit="{item}")
    depth.add(10 * k)
    depth.add(-3 * k)

    meter.create_observable_gauge(
        "temperature", callbacks=[lambda _opts: [Observation(21.5 * k, {"room": "r1"})]], unit="Cel"
    )

    latency = meter.create_histogram("latency", unit="ms")
    for v in (5, 50, 500, 5000):
        latency.record(v * k)

    size = meter.create_histogram("size", unit="By")
    for v in (3, 30, 30000):
        size.record(v * k)

    provider.force_flush()
    provider.shutdown()


run(1, "/opentelemetry/v1/metrics")
run(2, "/api/v1/otlp/v1/metrics")
print(__version__)
if not results or any(r != MetricExportResult.SUCCESS for r in results):
    print(f"exports: {results}", file=sys.stderr)
    sys.exit(1)
