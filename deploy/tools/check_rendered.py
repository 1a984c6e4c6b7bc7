#!/usr/bin/env python3
"""Checks the rendered manifests of deploy/ (run by deploy/check.sh).

    check_rendered.py [--kube-version V ...] NAME=RENDERED.yaml ...

For every rendering (the output of `kubectl kustomize`), it checks:

* every object against the Kubernetes OpenAPI schema, strictly (unknown
  fields are errors), with the `kubernetes-validate` package; kinds of API
  groups outside Kubernetes (CRDs such as monitoring.coreos.com/ServiceMonitor)
  have no schema there and are listed as skipped;
* every container: requests and limits for CPU and memory, a pinned image
  tag, no privilege escalation, ALL capabilities dropped, non-root, a
  read-only root filesystem, liveness and readiness probes;
* every ConfigMap entry ending in .yaml/.yml/.json parses;
* every in-cluster URL (`NAME.observability.svc:PORT`) in ConfigMaps,
  arguments and environment names a Service of the rendering with that port;
  every Ingress backend, ConfigMap volume and ServiceAccount exists;
* the OpenTelemetry Collector configuration routes traces to Jaeger,
  metrics to both Prometheus and Strata, logs to Loki, with memory_limiter
  first and batch in every pipeline and a sampler on the traces going to Jaeger;
* the retention and storage table of deploy/README.md (Strata 90d/50Gi,
  Prometheus 15d/20Gi, Loki 30d/20Gi, Jaeger 5d/10Gi) and Strata's probes;
* logs from every pod: the collector's filelog receiver on /var/log/pods
  (CRI, multiline), its own logs excluded, k8sattributes with RBAC, the
  namespace/pod/container/app attributes Loki indexes, the read-only
  hostPath and a non-root reader;
* GOMEMLIMIT on every Go server, between 60% and 90% of its memory limit;
* the guide's troubleshooting targets: pods labelled app=otel-collector and
  app=loki, Deployment jaeger, Service prometheus-kube-prometheus-prometheus
  on 9090; every Service's selector matches a pod template;
* Jaeger v2's configuration: Badger with a 120h span TTL, SPM on Prometheus;
* the collector's and Jaeger's configurations name only components that the
  pinned images contain (OTELCOL_CONTRIB_COMPONENTS, JAEGER_COMPONENTS), and
  the container parser's `format`, if set, is one it accepts;
* Prometheus Operator renderings (a `Prometheus` resource): 15d/20Gi,
  remote_write to Strata, selectors for every ServiceMonitor, PodMonitor and
  PrometheusRule, the plain StatefulSet gone, ServiceMonitors pointing at an
  existing Service port;
* for renderings named rpi*: arm64 node selectors, local-path volumes, the
  locally built Strata image, LoadBalancer Services on 8428, 9090, 3100,
  16686 and 3000.

Exits non-zero listing every failure.
"""

import fnmatch
import json
import re
import sys
from collections import defaultdict

import yaml

try:
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError, ValidationError
except ImportError:  # pragma: no cover - check.sh installs it
    sys.exit("kubernetes-validate is not installed (pip install kubernetes-validate)")

NAMESPACE = "observability"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}
# Secrets the user creates before installing (never in a manifest).
EXTERNAL_SECRETS = {"grafana-admin"}
# Generated Secrets that hold no credential (the operator reads extra scrape
# configurations only from a Secret).
CONFIG_SECRETS = {"prometheus-additional-scrape-configs"}
# Images of Go programs: these containers need GOMEMLIMIT.
GO_IMAGES = ("prom/", "quay.io/prometheus", "grafana/", "jaegertracing/", "otel/")
# The guide's ports on k3s ServiceLB (rpi): port -> app.kubernetes.io/name.
LB_PORTS = {8428: "strata", 9090: "prometheus", 3100: "loki", 16686: "jaeger", 3000: "grafana"}
# Component types of otel/opentelemetry-collector-contrib:0.120.0 that this
# stack uses or might reach for (a subset, written here by hand): each was
# looked up in distributions/otelcol-contrib/manifest.yaml of
# open-telemetry/opentelemetry-collector-releases at tag v0.120.0 (which
# builds the contrib modules v0.120.1 and core v0.120.0). A component not
# listed may still exist in that image: check the manifest before adding it.
OTELCOL_IMAGE = "otel/opentelemetry-collector-contrib:0.120.0"
OTELCOL_CONTRIB_COMPONENTS = {
    "receivers": {"otlp", "filelog", "prometheus", "hostmetrics", "kubeletstats", "k8s_cluster",
                  "k8s_events", "k8sobjects", "journald", "jaeger", "zipkin", "syslog", "nop"},
    "processors": {"batch", "memory_limiter", "k8sattributes", "resource", "resourcedetection",
                   "attributes", "transform", "filter", "probabilistic_sampler", "tail_sampling",
                   "groupbyattrs", "metricstransform", "cumulativetodelta", "deltatocumulative",
                   "redaction"},
    "exporters": {"otlp", "otlphttp", "prometheusremotewrite", "prometheus", "loki", "debug",
                  "nop", "file", "loadbalancing"},
    "connectors": {"spanmetrics", "servicegraph", "forward", "count", "routing", "exceptions"},
    "extensions": {"health_check", "file_storage", "pprof", "zpages", "basicauth",
                   "bearertokenauth", "headers_setter", "oauth2client"},
}
# The container parser's formats (pkg/stanza/operator/parser/container of
# opentelemetry-collector-contrib); leaving `format` out detects it per line.
CONTAINER_FORMATS = {"docker", "crio", "containerd"}
# Every component type of jaegertracing/jaeger:2.10.0, from
# cmd/jaeger/internal/components.go and the factories it registers
# (jaegertracing/jaeger at tag v2.10.0), less the two e2e-test-only
# extensions.
JAEGER_IMAGE = "jaegertracing/jaeger:2.10.0"
JAEGER_COMPONENTS = {
    "receivers": {"otlp", "nop", "jaeger", "kafka", "zipkin"},
    "processors": {"batch", "memory_limiter", "tail_sampling", "attributes", "filter", "adaptive_sampling"},
    "exporters": {"debug", "otlp", "otlphttp", "nop", "jaeger_storage_exporter", "kafka", "prometheus"},
    "connectors": {"forward", "spanmetrics"},
    "extensions": {"healthcheckv2", "pprof", "zpages", "jaeger_query", "jaeger_storage",
                   "remote_sampling", "expvar"},
}
SVC_URL = re.compile(r"\b([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.%s\.svc(?:\.cluster\.local)?:(\d+)" % NAMESPACE)

failures = []


def fail(where, msg):
    failures.append(f"{where}: {msg}")


def builtin_group(api_version):
    """True for API groups served by Kubernetes itself (schema available)."""
    if "/" not in api_version:
        return True  # core v1
    group = api_version.split("/")[0]
    return "." not in group or group.endswith(".k8s.io")


def kn(obj):
    return f"{obj['kind']}/{obj['metadata'].get('name', '?')}"


def validate_schema(name, objs, versions):
    skipped = []
    for obj in objs:
        for version in versions:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                fail(f"{name} {kn(obj)}", f"schema (Kubernetes {version}, strict): {path}: {e.message}")
            except SchemaNotFoundError:
                if builtin_group(obj["apiVersion"]):
                    fail(f"{name} {kn(obj)}", f"no schema for built-in {obj['apiVersion']} {obj['kind']} in Kubernetes {version}")
                else:
                    skipped.append(f"{obj['apiVersion']} {kn(obj)}")
                break
    for s in sorted(set(skipped)):
        print(f"  SKIP {name}: {s} (custom resource: no schema in kubernetes-validate)")
    return len(objs) - len(set(skipped))


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def check_containers(name, obj):
    spec = pod_spec(obj)
    psc = spec.get("securityContext", {})
    for c in spec.get("initContainers", []) + spec["containers"]:
        where = f"{name} {kn(obj)} container {c['name']}"
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(kind, {}):
                    fail(where, f"no {kind}.{r}")
        image = c.get("image", "")
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if not tag or tag == "latest":
            fail(where, f"image {image!r} is not pinned to a version")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(where, "allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            fail(where, "capabilities do not drop ALL")
        if sc.get("privileged"):
            fail(where, "privileged")
        if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
            fail(where, "runAsNonRoot is not set")
        if (sc.get("runAsUser", psc.get("runAsUser", 0))) == 0:
            fail(where, "runs as uid 0 (set runAsUser)")
        if sc.get("readOnlyRootFilesystem") is not True:
            fail(where, "root filesystem is writable")
        if c in spec["containers"]:
            for probe in ("livenessProbe", "readinessProbe"):
                if probe not in c:
                    fail(where, f"no {probe}")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail(f"{name} {kn(obj)}", "pod seccompProfile is not RuntimeDefault")


def parse_configmaps(name, objs):
    """{configmap name: {key: parsed value}}; failures for entries that do not parse."""
    parsed = {}
    for obj in objs:
        if obj["kind"] != "ConfigMap":
            continue
        entries = {}
        for key, text in obj.get("data", {}).items():
            try:
                if key.endswith((".yaml", ".yml")):
                    entries[key] = yaml.safe_load(text)
                elif key.endswith(".json"):
                    entries[key] = json.loads(text)
                else:
                    entries[key] = text
            except (yaml.YAMLError, json.JSONDecodeError) as e:
                fail(f"{name} {kn(obj)}", f"{key} does not parse: {e}")
        parsed[obj["metadata"]["name"]] = (obj, entries)
    return parsed


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


def check_references(name, objs):
    services = {}
    for obj in objs:
        if obj["kind"] == "Service":
            services[obj["metadata"]["name"]] = obj["spec"].get("ports", [])
    configmaps = {o["metadata"]["name"] for o in objs if o["kind"] == "ConfigMap"}
    secrets = {o["metadata"]["name"] for o in objs if o["kind"] == "Secret"} | EXTERNAL_SECRETS
    accounts = {o["metadata"]["name"] for o in objs if o["kind"] == "ServiceAccount"} | {"default"}

    urls = 0
    for obj in objs:
        if obj["kind"] == "ConfigMap":
            texts = obj.get("data", {}).values()
        elif obj["kind"] in WORKLOAD_KINDS:
            texts = []
            for c in pod_spec(obj)["containers"]:
                texts += c.get("args", []) + c.get("command", [])
                texts += [e.get("value", "") for e in c.get("env", [])]
        else:
            continue
        for text in texts:
            for m in SVC_URL.finditer(text):
                urls += 1
                svc, port = m.group(1), int(m.group(3))
                if svc not in services:
                    fail(f"{name} {kn(obj)}", f"{m.group(0)}: no Service {svc!r}")
                elif port not in [p["port"] for p in services[svc]]:
                    fail(f"{name} {kn(obj)}", f"{m.group(0)}: Service {svc!r} has no port {port}")
        if obj["kind"] in WORKLOAD_KINDS:
            spec = pod_spec(obj)
            for v in spec.get("volumes", []):
                if "configMap" in v and v["configMap"]["name"] not in configmaps:
                    fail(f"{name} {kn(obj)}", f"volume {v['name']}: no ConfigMap {v['configMap']['name']!r}")
                if "secret" in v and v["secret"]["secretName"] not in secrets:
                    fail(f"{name} {kn(obj)}", f"volume {v['name']}: no Secret {v['secret']['secretName']!r}")
            for c in spec["containers"]:
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref and ref["name"] not in secrets:
                        fail(f"{name} {kn(obj)}", f"env {e['name']}: no Secret {ref['name']!r}")
            sa = spec.get("serviceAccountName", "default")
            if sa not in accounts:
                fail(f"{name} {kn(obj)}", f"no ServiceAccount {sa!r}")
            if obj["kind"] == "StatefulSet" and obj["spec"]["serviceName"] not in services:
                fail(f"{name} {kn(obj)}", f"serviceName {obj['spec']['serviceName']!r} is no Service")
    if urls == 0:
        fail(name, "no in-cluster URL found at all (the reference check would be vacuous)")

    hosts = set()
    for obj in objs:
        if obj["kind"] != "Ingress":
            continue
        for rule in obj["spec"]["rules"]:
            hosts.add(rule["host"])
            for path in rule["http"]["paths"]:
                be = path["backend"]["service"]
                ports = services.get(be["name"])
                if ports is None:
                    fail(f"{name} {kn(obj)}", f"{rule['host']}: no Service {be['name']!r}")
                elif not any(p.get("name") == be["port"].get("name") or p["port"] == be["port"].get("number") for p in ports):
                    fail(f"{name} {kn(obj)}", f"{rule['host']}: Service {be['name']!r} has no port {be['port']}")
    want = {"prometheus.local", "vm.local", "loki.local", "jaeger.local", "grafana.local"}
    if hosts != want:
        fail(name, f"Ingress hosts {sorted(hosts)} are not {sorted(want)}")
    for obj in objs:
        if obj["kind"] == "Service" and obj["metadata"]["name"] == "strata":
            if not any(p["port"] == 8428 and p.get("name") == "http" for p in obj["spec"]["ports"]):
                fail(name, "Service strata has no port 8428 named http")


def check_otel(name, configmaps, objs):
    cms = [entries["config.yaml"] for cm, (_, entries) in configmaps.items()
           if cm.startswith("otel-collector-config") and "config.yaml" in entries]
    if len(cms) != 1:
        fail(name, f"expected one otel-collector-config ConfigMap with config.yaml, found {len(cms)}")
        return
    cfg = cms[0]
    where = f"{name} otel-collector config"
    exporters = cfg.get("exporters", {})
    connectors = cfg.get("connectors", {}) or {}
    pipelines = cfg.get("service", {}).get("pipelines", {})

    def exporters_of(kind, what):
        def url(c):
            c = c or {}
            return str(c.get("metrics_endpoint", "")) + " " + str(c.get("endpoint", ""))
        return {e for e, c in exporters.items() if e.split("/")[0] == kind and what in url(c)}

    jaeger = exporters_of("otlp", "jaeger.observability.svc:4317")
    prom = exporters_of("prometheusremotewrite", "prometheus.observability.svc:9090/api/v1/write")
    strata = exporters_of("otlphttp", "strata.observability.svc:8428/opentelemetry/v1/metrics")
    loki = exporters_of("otlphttp", "loki.observability.svc:3100/otlp")
    for label, found in (("OTLP exporter to Jaeger", jaeger), ("remote-write exporter to Prometheus", prom),
                         ("OTLP/HTTP metrics exporter to Strata", strata), ("OTLP/HTTP exporter to Loki", loki)):
        if len(found) != 1:
            fail(where, f"expected one {label}, found {sorted(found)}")

    receivers = cfg.get("receivers", {}).get("otlp", {}).get("protocols", {})
    if not str(receivers.get("grpc", {}).get("endpoint", "")).endswith(":4317"):
        fail(where, "OTLP gRPC receiver is not on :4317")
    if not str(receivers.get("http", {}).get("endpoint", "")).endswith(":4318"):
        fail(where, "OTLP HTTP receiver is not on :4318")

    by_signal = defaultdict(set)
    for pname, p in pipelines.items():
        signal = pname.split("/")[0]
        procs = p.get("processors", [])
        if not procs or procs[0] != "memory_limiter":
            fail(where, f"pipeline {pname}: memory_limiter is not the first processor")
        if "batch" not in procs:
            fail(where, f"pipeline {pname}: no batch processor")
        for proc in procs:
            if proc not in cfg.get("processors", {}):
                fail(where, f"pipeline {pname}: processor {proc} is not defined")
        for r in p.get("receivers", []):
            if r not in cfg.get("receivers", {}) and r not in connectors:
                fail(where, f"pipeline {pname}: receiver {r} is not defined")
        for e in p.get("exporters", []):
            if e not in exporters and e not in connectors:
                fail(where, f"pipeline {pname}: exporter {e} is not defined")
            by_signal[signal].add(e)
            if signal == "traces" and e in jaeger and not any(
                    x.split("/")[0] in ("probabilistic_sampler", "tail_sampling") for x in procs):
                fail(where, f"pipeline {pname}: traces to Jaeger are not sampled")
        if signal not in ("traces", "metrics", "logs"):
            fail(where, f"pipeline {pname}: unknown signal {signal}")
        if signal in ("traces", "logs") and "otlp" not in p.get("receivers", []):
            fail(where, f"pipeline {pname}: does not receive OTLP")

    if not jaeger & by_signal["traces"]:
        fail(where, "traces are not exported to Jaeger")
    if not (prom & by_signal["metrics"] and strata & by_signal["metrics"]):
        fail(where, "metrics are not exported to both Prometheus and Strata")
    if not loki & by_signal["logs"]:
        fail(where, "logs are not exported to Loki")
    for signal, exps in by_signal.items():
        wrong = {"traces": prom | strata | loki, "metrics": jaeger | loki, "logs": jaeger | prom | strata}[signal] & exps
        if wrong:
            fail(where, f"{signal} go to {sorted(wrong)}")
    metric_receivers = {r for pn, p in pipelines.items() if pn.split("/")[0] == "metrics" for r in p.get("receivers", [])}
    if "otlp" not in metric_receivers:
        fail(where, "no metrics pipeline receives OTLP")
    if "spanmetrics" in connectors and "spanmetrics" not in metric_receivers:
        fail(where, "spanmetrics connector output reaches no metrics pipeline")

    ds = [o for o in objs if o["kind"] == "DaemonSet" and o["metadata"]["name"] == "otel-collector"]
    if len(ds) != 1:
        fail(name, "no otel-collector DaemonSet")
    else:
        ports = {p["containerPort"]: p.get("hostPort") for c in pod_spec(ds[0])["containers"] for p in c.get("ports", [])}
        for port in (4317, 4318):
            if ports.get(port) != port:
                fail(name, f"otel-collector DaemonSet does not expose {port} as hostPort")
        check_components(where, cfg, container(ds[0])["image"], OTELCOL_IMAGE, OTELCOL_CONTRIB_COMPONENTS)
        # The file_storage extension wants its directory to exist at start.
        mounts = {m["mountPath"].rstrip("/") for m in container(ds[0]).get("volumeMounts", [])}
        for ext, c in (cfg.get("extensions") or {}).items():
            if ext.split("/")[0] == "file_storage" and str((c or {}).get("directory", "")).rstrip("/") not in mounts:
                fail(where, f"extension {ext}: directory {(c or {}).get('directory')!r} is not a mount point "
                            "(it must exist when the collector starts)")


def check_components(where, cfg, image, expected_image, known):
    """Every component the configuration defines (`type` or `type/name`) is in
    `known`, the component list of `expected_image`, and so is every one the
    service uses; the list only holds for that image."""
    if image != expected_image:
        fail(where, f"image {image} is not {expected_image}, whose component list this check holds: "
                    "check the new version's components and update the list")
        return
    for kind, types in known.items():
        for comp in (cfg.get(kind) or {}):
            if comp.split("/")[0] not in types:
                fail(where, f"{kind[:-1]} {comp}: no such component in {expected_image}")
    svc = cfg.get("service", {})
    for ext in svc.get("extensions", []):
        if ext not in (cfg.get("extensions") or {}):
            fail(where, f"service extension {ext} is not defined")


def find(objs, kind, name):
    for o in objs:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    return None


def container(obj):
    return pod_spec(obj)["containers"][0]


def check_table(name, objs, configmaps):
    """The retention/storage table of the issue and README."""
    def storage(sts):
        return sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]

    expect = {"strata": ("--retention=90d", "50Gi"), "prometheus": ("--storage.tsdb.retention.time=15d", "20Gi"),
              "loki": (None, "20Gi")}
    operator = find(objs, "Prometheus", "prometheus")
    if operator is not None:
        del expect["prometheus"]  # checked by check_operator
    for sts_name, (flag, size) in expect.items():
        sts = find(objs, "StatefulSet", sts_name)
        if sts is None:
            fail(name, f"no StatefulSet {sts_name}")
            continue
        if storage(sts) != size:
            fail(name, f"StatefulSet {sts_name}: volume {storage(sts)}, want {size}")
        if flag and flag not in container(sts).get("args", []):
            fail(name, f"StatefulSet {sts_name}: no {flag}")
    loki = [e["loki.yaml"] for cm, (_, e) in configmaps.items() if cm.startswith("loki-config")]
    if not loki or loki[0].get("limits_config", {}).get("retention_period") != "720h" \
            or not loki[0].get("compactor", {}).get("retention_enabled"):
        fail(name, "Loki does not keep 30 days (limits_config.retention_period 720h with compactor retention)")
    strata = find(objs, "StatefulSet", "strata")
    if strata:
        c = container(strata)
        if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/health":
            fail(name, "Strata's liveness probe is not /health")
        if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/-/ready":
            fail(name, "Strata's readiness probe is not /-/ready")
        if find(objs, "PodDisruptionBudget", "strata") is None:
            fail(name, "no PodDisruptionBudget for Strata")
    prom = [e["prometheus.yml"] for cm, (_, e) in configmaps.items() if cm.startswith("prometheus-config")]
    urls = [rw.get("url") for rw in (prom[0].get("remote_write", []) if prom else [])]
    if "http://strata.observability.svc:8428/api/v1/write" not in urls:
        fail(name, "Prometheus does not remote-write to Strata")
    p = find(objs, "StatefulSet", "prometheus")
    if p and "--web.enable-remote-write-receiver" not in container(p).get("args", []):
        fail(name, "Prometheus does not accept remote_write (the collector's metrics)")
    if p and not container(p)["image"].startswith("prom/prometheus:v3.13."):
        fail(name, f"Prometheus image {container(p)['image']} is not the 3.13 LTS line (supported until July 2027)")
    check_jaeger(name, objs, configmaps)
    grafana = find(objs, "Deployment", "grafana")
    if grafana:
        env = {e["name"]: e for e in container(grafana).get("env", [])}
        pw = env.get("GF_SECURITY_ADMIN_PASSWORD", {})
        if "value" in pw or pw.get("valueFrom", {}).get("secretKeyRef", {}).get("name") != "grafana-admin":
            fail(name, "Grafana's admin password does not come from the grafana-admin Secret")
    ds = [e["datasources.yaml"] for cm, (_, e) in configmaps.items() if cm.startswith("grafana-datasources")]
    if ds:
        by_name = {d["name"]: d for d in ds[0]["datasources"]}
        if by_name.get("Strata", {}).get("type") != "prometheus":
            fail(name, "Grafana has no Prometheus-type Strata data source")
        for want in ("Prometheus", "Loki", "Jaeger"):
            if want not in by_name:
                fail(name, f"Grafana has no {want} data source")
        jd = by_name.get("Jaeger", {}).get("jsonData", {})
        if "tracesToLogsV2" not in jd or "tracesToMetrics" not in jd:
            fail(name, "the Jaeger data source lacks trace-to-logs or trace-to-metrics links")
    else:
        fail(name, "no grafana-datasources ConfigMap")
    dashboards = [k for cm, (_, e) in configmaps.items() if cm.startswith("grafana-dashboards") for k in e]
    if len(dashboards) < 3:
        fail(name, f"expected at least 3 dashboards, found {dashboards}")
    # Secrets never ship in a manifest.
    for o in objs:
        if o["kind"] == "Secret" and o["metadata"]["name"] not in CONFIG_SECRETS:
            fail(name, f"{kn(o)}: credentials belong in a Secret the user creates, not in a manifest")


def memory_mib(q):
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", str(q))
    if not m:
        return None
    return int(m.group(1)) * {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, None: 1 / 1048576}[m.group(2)]


def check_gomemlimit(name, obj):
    for c in pod_spec(obj)["containers"]:
        if not c.get("image", "").startswith(GO_IMAGES):
            continue
        where = f"{name} {kn(obj)} container {c['name']}"
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        limit = memory_mib(c.get("resources", {}).get("limits", {}).get("memory"))
        gml = re.fullmatch(r"(\d+)MiB", str(env.get("GOMEMLIMIT")))
        if not gml:
            fail(where, f"GOMEMLIMIT is {env.get('GOMEMLIMIT')!r}, want NNNMiB")
        elif limit and not 0.6 * limit <= int(gml.group(1)) <= 0.9 * limit:
            fail(where, f"GOMEMLIMIT {gml.group(1)}MiB is not 60-90% of the {limit:.0f}Mi limit")


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_labels(objs):
    """(owner, labels) of every pod template, operator-managed Prometheus included."""
    out = []
    for o in objs:
        if o["kind"] in WORKLOAD_KINDS:
            out.append((kn(o), o["spec"]["template"]["metadata"].get("labels", {})))
        elif o["kind"] == "Prometheus":
            labels = dict(o["spec"].get("podMetadata", {}).get("labels", {}))
            labels.update({"app.kubernetes.io/name": "prometheus", "prometheus": o["metadata"]["name"]})
            out.append((kn(o), labels))
    return out


def check_guide(name, objs):
    """The guide's troubleshooting commands find what they name."""
    pods = pod_labels(objs)
    for app in ("otel-collector", "loki", "prometheus", "strata", "jaeger", "grafana"):
        if not any(l.get("app") == app for _, l in pods):
            fail(name, f"no pod labelled app={app} (kubectl logs -n observability -l app={app})")
    if find(objs, "Deployment", "jaeger") is None:
        fail(name, "no Deployment jaeger (kubectl logs -n observability deployment/jaeger)")
    alias = find(objs, "Service", "prometheus-kube-prometheus-prometheus")
    if alias is None or not any(p["port"] == 9090 for p in alias["spec"]["ports"]) \
            or not any(selects(alias["spec"].get("selector"), l) and l.get("app") == "prometheus" for _, l in pods):
        fail(name, "no Service prometheus-kube-prometheus-prometheus on 9090 selecting Prometheus "
             "(kubectl port-forward svc/prometheus-kube-prometheus-prometheus 9090:9090)")
    for o in objs:
        if o["kind"] == "Service" and o["spec"].get("selector"):
            if not any(selects(o["spec"]["selector"], l) for _, l in pods):
                fail(name, f"{kn(o)}: selector {o['spec']['selector']} matches no pod")


def check_jaeger(name, objs, configmaps):
    cfgs = [e["jaeger.yaml"] for cm, (_, e) in configmaps.items() if cm.startswith("jaeger-config")]
    dep = find(objs, "Deployment", "jaeger")
    if not cfgs or dep is None:
        fail(name, "no Jaeger Deployment with a jaeger-config ConfigMap")
        return
    cfg = cfgs[0]
    where = f"{name} jaeger.yaml"
    if not container(dep)["image"].startswith("jaegertracing/jaeger:2."):
        fail(where, f"image {container(dep)['image']} is not Jaeger v2")
    check_components(where, cfg, container(dep)["image"], JAEGER_IMAGE, JAEGER_COMPONENTS)
    ext = cfg.get("extensions", {})
    query = ext.get("jaeger_query", {}).get("storage", {})
    backends = ext.get("jaeger_storage", {}).get("backends", {})
    badger = backends.get(query.get("traces"), {}).get("badger")
    if not badger or badger.get("ttl", {}).get("spans") != "120h" or badger.get("ephemeral") is not False:
        fail(where, "spans are not kept in persistent Badger for 120h (5 days)")
    else:
        mounts = [m["mountPath"] for m in container(dep).get("volumeMounts", [])]
        for d in badger.get("directories", {}).values():
            if not any(d.startswith(m.rstrip("/") + "/") for m in mounts):
                fail(where, f"Badger directory {d} is not on a mounted volume")
    prom = ext.get("jaeger_storage", {}).get("metric_backends", {}).get(query.get("metrics"), {}).get("prometheus")
    if not prom or prom.get("endpoint") != "http://prometheus.observability.svc:9090":
        fail(where, "SPM (jaeger_query.storage.metrics) is not backed by Prometheus")
    for pname, p in cfg.get("service", {}).get("pipelines", {}).items():
        for e in p.get("exporters", []):
            if e.startswith("jaeger_storage_exporter") and \
                    cfg["exporters"][e].get("trace_storage") != query.get("traces"):
                fail(where, f"pipeline {pname} stores spans elsewhere than jaeger_query reads them")
    pvc = find(objs, "PersistentVolumeClaim", "jaeger-data")
    if pvc is None or pvc["spec"]["resources"]["requests"]["storage"] != "10Gi":
        fail(name, "Jaeger's volume jaeger-data is not 10Gi")
    if dep["spec"].get("strategy", {}).get("type") != "Recreate":
        fail(name, "Deployment jaeger must use the Recreate strategy (Badger locks its directory)")


def check_logs(name, configmaps, objs):
    cms = [e["config.yaml"] for cm, (_, e) in configmaps.items() if cm.startswith("otel-collector-config")]
    if not cms:
        return
    cfg = cms[0]
    where = f"{name} otel-collector logs"
    fl = cfg.get("receivers", {}).get("filelog")
    ds = find(objs, "DaemonSet", "otel-collector")
    if not fl or ds is None:
        fail(where, "no filelog receiver")
        return
    if "/var/log/pods/*/*/*.log" not in fl.get("include", []):
        fail(where, "filelog does not read /var/log/pods/*/*/*.log")
    ops = fl.get("operators", [])
    parsers = [o for o in ops if o.get("type") == "container"]
    if not parsers:
        fail(where, "no container parser (CRI lines of /var/log/pods)")
    for o in parsers:
        if "format" in o and o["format"] not in CONTAINER_FORMATS:
            fail(where, f"container parser format {o['format']!r} is not one of {sorted(CONTAINER_FORMATS)} "
                        "(or left out, to detect it per line)")
    if not any(o.get("type") == "recombine" for o in ops):
        fail(where, "no multiline (recombine) operator")
    own = f"/var/log/pods/{NAMESPACE}_otel-collector-x7k2p_0000/{container(ds)['name']}/0.log"
    other = f"/var/log/pods/ml-platform_mlflow-0_0000/mlflow/0.log"
    if not any(fnmatch.fnmatch(own, p) for p in fl.get("exclude", [])):
        fail(where, f"the collector's own logs ({own}) are not excluded")
    if any(fnmatch.fnmatch(other, p) for p in fl.get("exclude", [])):
        fail(where, f"other pods' logs ({other}) are excluded")
    pipes = cfg.get("service", {}).get("pipelines", {})
    for pname, p in pipes.items():
        if "filelog" in p.get("receivers", []):
            procs = p.get("processors", [])
            if "k8sattributes" not in procs:
                fail(where, f"pipeline {pname}: no k8sattributes")
            stmts = " ".join(s for proc in procs if proc.startswith("transform")
                             for st in cfg["processors"][proc].get("log_statements", []) for s in st.get("statements", []))
            for label in ("namespace", "pod", "container", "app"):
                if f'set(attributes["{label}"]' not in stmts:
                    fail(where, f"pipeline {pname}: resource attribute {label} is not set")
    if not any("filelog" in p.get("receivers", []) for p in pipes.values()):
        fail(where, "no pipeline reads the filelog receiver")
    loki = [e["loki.yaml"] for cm, (_, e) in configmaps.items() if cm.startswith("loki-config")]
    attrs = set()
    for ac in (loki[0] if loki else {}).get("limits_config", {}).get("otlp_config", {}) \
            .get("resource_attributes", {}).get("attributes_config", []):
        if ac.get("action") == "index_label":
            attrs |= set(ac.get("attributes", []))
    if not {"namespace", "pod", "container", "app"} <= attrs:
        fail(name, f"Loki does not index namespace, pod, container, app (index_label: {sorted(attrs)})")
    spec = pod_spec(ds)
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in container(ds).get("volumeMounts", [])}
    m = mounts.get("/var/log/pods")
    if not m or not m.get("readOnly") or vols.get(m["name"], {}).get("hostPath", {}).get("path") != "/var/log/pods":
        fail(name, "otel-collector does not mount the host's /var/log/pods read-only")
    psc = spec.get("securityContext", {})
    if psc.get("runAsUser", 0) == 0 or 0 not in psc.get("supplementalGroups", []):
        fail(name, "otel-collector should read the 0640 root:root log files as non-root in group 0")
    sa = spec.get("serviceAccountName")
    bound = set()
    for b in objs:
        if b["kind"] == "ClusterRoleBinding" and any(s.get("name") == sa for s in b.get("subjects", [])):
            role = find(objs, "ClusterRole", b["roleRef"]["name"])
            for r in (role or {}).get("rules", []):
                if {"list", "watch"} <= set(r.get("verbs", [])):
                    bound |= set(r.get("resources", []))
    if not {"pods", "namespaces", "replicasets"} <= bound:
        fail(name, f"otel-collector's ServiceAccount {sa!r} cannot list/watch pods, namespaces, replicasets")


def check_operator(name, objs, configmaps):
    prom = find(objs, "Prometheus", "prometheus")
    if prom is None:
        return
    s = prom["spec"]
    where = f"{name} Prometheus/prometheus"
    if find(objs, "StatefulSet", "prometheus") is not None:
        fail(name, "both the plain Prometheus StatefulSet and the operator's Prometheus are deployed")
    if s.get("retention") != "15d":
        fail(where, "retention is not 15d")
    if s.get("storage", {}).get("volumeClaimTemplate", {}).get("spec", {}).get("resources", {}) \
            .get("requests", {}).get("storage") != "20Gi":
        fail(where, "volume is not 20Gi")
    if "http://strata.observability.svc:8428/api/v1/write" not in [rw.get("url") for rw in s.get("remoteWrite", [])]:
        fail(where, "does not remote-write to Strata")
    if not s.get("enableRemoteWriteReceiver"):
        fail(where, "does not accept remote_write (the collector's metrics)")
    for sel in ("serviceMonitorSelector", "serviceMonitorNamespaceSelector", "podMonitorSelector",
                "podMonitorNamespaceSelector", "ruleSelector", "ruleNamespaceSelector"):
        if s.get(sel) != {}:
            fail(where, f"{sel} is not {{}} (every object in every namespace)")
    if not str(s.get("image", "")).startswith("prom/prometheus:v3.13."):
        fail(where, "image is not the Prometheus 3.13 LTS line (supported until July 2027)")
    if find(objs, "ServiceAccount", s.get("serviceAccountName", "default")) is None:
        fail(where, f"no ServiceAccount {s.get('serviceAccountName')!r}")
    add = s.get("additionalScrapeConfigs", {})
    sec = find(objs, "Secret", add.get("name"))
    if sec is None or add.get("key") not in {**sec.get("data", {}), **sec.get("stringData", {})}:
        fail(where, f"additionalScrapeConfigs {add} names no Secret key")
    if not any(o["kind"] == "PrometheusRule" for o in objs):
        fail(name, "no PrometheusRule (the rules)")
    services = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Service"}
    monitors = [o for o in objs if o["kind"] == "ServiceMonitor"]
    if not monitors:
        fail(name, "no ServiceMonitor")
    for sm in monitors:
        sel = sm["spec"]["selector"]
        hits = []
        for svc in services.values():
            labels = svc["metadata"].get("labels", {})
            if not selects(sel.get("matchLabels", {}), labels):
                continue
            ok = True
            for e in sel.get("matchExpressions", []):
                has = e["key"] in labels
                if e["operator"] == "DoesNotExist" and has or e["operator"] == "Exists" and not has \
                        or e["operator"] == "In" and labels.get(e["key"]) not in e["values"] \
                        or e["operator"] == "NotIn" and labels.get(e["key"]) in e["values"]:
                    ok = False
            if ok:
                hits.append(svc)
        if len(hits) != 1:
            fail(name, f"{kn(sm)} selects {[h['metadata']['name'] for h in hits]}, want exactly one Service")
        for ep in sm["spec"]["endpoints"]:
            for h in hits:
                if not any(p.get("name") == ep.get("port") for p in h["spec"]["ports"]):
                    fail(name, f"{kn(sm)}: Service {h['metadata']['name']} has no port {ep.get('port')!r}")
        for h in hits:
            if h["metadata"].get("annotations", {}).get("prometheus.io/scrape") == "true":
                fail(name, f"{kn(sm)}: Service {h['metadata']['name']} is also scraped by annotation (twice)")


def check_rpi(name, objs):
    strata = find(objs, "StatefulSet", "strata")
    if strata and not container(strata)["image"].startswith("localhost/strata:"):
        fail(name, f"Strata's image {container(strata)['image']} is not the locally built localhost/strata")
    if strata and container(strata).get("imagePullPolicy") != "IfNotPresent":
        fail(name, "Strata's imagePullPolicy must be IfNotPresent (the image is imported, not pulled)")
    pods = pod_labels(objs)
    for port, app in LB_PORTS.items():
        lbs = [o for o in objs if o["kind"] == "Service" and o["spec"].get("type") == "LoadBalancer"
               and any(p["port"] == port for p in o["spec"]["ports"])]
        if len(lbs) != 1 or not any(selects(lbs[0]["spec"]["selector"], l) and l.get("app") == app for _, l in pods):
            fail(name, f"no LoadBalancer Service on port {port} for {app} (http://*.local:{port})")
    for obj in objs:
        if obj["kind"] == "PersistentVolumeClaim" and obj["spec"].get("storageClassName") != "local-path":
            fail(f"{name} {kn(obj)}", "volume not on storage class local-path")
    for obj in objs:
        if obj["kind"] in ("Deployment", "StatefulSet"):
            if pod_spec(obj).get("nodeSelector", {}).get("kubernetes.io/arch") != "arm64":
                fail(f"{name} {kn(obj)}", "no kubernetes.io/arch: arm64 node selector")
        if obj["kind"] == "StatefulSet":
            for vct in obj["spec"].get("volumeClaimTemplates", []):
                if vct["spec"].get("storageClassName") != "local-path":
                    fail(f"{name} {kn(obj)}", "volume not on storage class local-path")


def main(argv):
    versions = []
    renders = []
    args = iter(argv)
    for a in args:
        if a == "--kube-version":
            versions.append(next(args))
        elif "=" in a:
            renders.append(a.split("=", 1))
        else:
            sys.exit(f"usage: {__doc__}")
    if not versions:
        versions = [kubernetes_validate.utils.latest_version()]
    if not renders:
        sys.exit("no rendering given")
    for name, path in renders:
        with open(path) as f:
            objs = [o for o in yaml.safe_load_all(f) if o]
        if not objs:
            fail(name, "renders no object")
            continue
        validated = validate_schema(name, objs, versions)
        for obj in objs:
            ns = obj["metadata"].get("namespace")
            cluster_scoped = obj["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding")
            if not cluster_scoped and ns != NAMESPACE:
                fail(f"{name} {kn(obj)}", f"namespace {ns!r}, want {NAMESPACE!r}")
            if obj["kind"] in WORKLOAD_KINDS:
                check_containers(name, obj)
                check_gomemlimit(name, obj)
        configmaps = parse_configmaps(name, objs)
        check_references(name, objs)
        check_otel(name, configmaps, objs)
        check_table(name, objs, configmaps)
        check_logs(name, configmaps, objs)
        check_guide(name, objs)
        check_operator(name, objs, configmaps)
        if name.startswith("rpi"):
            check_rpi(name, objs)
        kinds = defaultdict(int)
        for o in objs:
            kinds[o["kind"]] += 1
        print(f"  {name}: {len(objs)} objects ({validated} schema-validated against Kubernetes {', '.join(versions)}): "
              + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    if failures:
        print(f"\n{len(failures)} problem(s):")
        for f in failures:
            print(f"  FAIL {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
