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
* for renderings named rpi*: arm64 node selectors and local-path volumes.

Exits non-zero listing every failure.
"""

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
              "jaeger": ("--badger.span-store-ttl=120h", "10Gi"), "loki": (None, "20Gi")}
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
    jaeger = find(objs, "StatefulSet", "jaeger")
    if jaeger:
        env = {e["name"]: e.get("value") for e in container(jaeger).get("env", [])}
        if env.get("METRICS_STORAGE_TYPE") != "prometheus" or not env.get("PROMETHEUS_SERVER_URL"):
            fail(name, "Jaeger's SPM is not backed by Prometheus")
        if env.get("SPAN_STORAGE_TYPE") != "badger":
            fail(name, "Jaeger does not store spans in Badger")
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
        if o["kind"] == "Secret":
            fail(name, f"{kn(o)}: credentials belong in a Secret the user creates, not in a manifest")


def check_rpi(name, objs):
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
        configmaps = parse_configmaps(name, objs)
        check_references(name, objs)
        check_otel(name, configmaps, objs)
        check_table(name, objs, configmaps)
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
