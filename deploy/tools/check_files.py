#!/usr/bin/env python3
"""Checks the non-Kubernetes files of deploy/ (run by deploy/check.sh).

    check_files.py DEPLOY_DIR

* every *.json under deploy/ is valid JSON and a Grafana dashboard (uid,
  title, panels with targets), uids unique, every panel's data source is the
  dashboard's ${datasource} variable or a named one;
* the five dashboards of the stack guide exist (by title), each with a
  description naming where its metrics come from;
* kube-prometheus-stack/values.yaml remote-writes to Strata and adds a
  Strata data source to Grafana;
* compose.yaml: services strata (built from deploy/Dockerfile), prometheus
  (remote-writing to Strata) and node-exporter; the files it mounts exist;
* Dockerfile: what it COPYs from the build context exists and is not
  excluded by Dockerfile.dockerignore; it builds --bin strata, runs as
  65532, exposes 8428, declares /data and serves from it.
"""

import fnmatch
import json
import os
import re
import sys

import yaml

failures = []


def fail(where, msg):
    failures.append(f"{where}: {msg}")


def panels_of(panels):
    for p in panels:
        yield p
        yield from panels_of(p.get("panels", []))


# The dashboards the stack guide lists (each describes where its metrics come from).
GUIDE_DASHBOARDS = ("k3s Cluster Overview", "Node Exporter Full", "MinIO Metrics", "Ray Metrics", "MLFlow Metrics")


def check_dashboards(deploy):
    uids = {}
    count = 0
    seen_titles = set()
    for root, _, files in os.walk(deploy):
        for f in sorted(files):
            if not f.endswith(".json"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, deploy)
            try:
                with open(path) as fh:
                    d = json.load(fh)
            except json.JSONDecodeError as e:
                fail(rel, f"invalid JSON: {e}")
                continue
            count += 1
            seen_titles.add(d.get("title"))
            if d.get("title") in GUIDE_DASHBOARDS and not d.get("description", "").strip():
                fail(rel, "no description naming the metrics' source")
            for key in ("uid", "title", "panels"):
                if key not in d:
                    fail(rel, f"no {key!r}: not a Grafana dashboard")
            if d.get("uid") in uids:
                fail(rel, f"uid {d['uid']!r} also used by {uids[d['uid']]}")
            uids[d.get("uid")] = rel
            targets = 0
            for p in panels_of(d.get("panels", [])):
                if p.get("type") == "row":
                    continue
                ds = p.get("datasource", {})
                if not isinstance(ds, dict) or not ds.get("uid"):
                    fail(rel, f"panel {p.get('title')!r} has no data source uid")
                if not p.get("targets"):
                    fail(rel, f"panel {p.get('title')!r} has no query")
                for t in p.get("targets", []):
                    if not t.get("expr", "").strip():
                        fail(rel, f"panel {p.get('title')!r} target {t.get('refId')} has no expr")
                    targets += 1
            if targets == 0:
                fail(rel, "no queries")
            print(f"  {rel}: {d.get('title')!r}, {targets} queries")
    titles = {d for d in seen_titles}
    for want in GUIDE_DASHBOARDS:
        if want not in titles:
            fail(deploy, f"no dashboard titled {want!r} (the guide lists it)")


def check_compose(deploy):
    path = os.path.join(deploy, "compose.yaml")
    with open(path) as fh:
        c = yaml.safe_load(fh)
    services = c.get("services", {})
    for s in ("strata", "prometheus", "node-exporter"):
        if s not in services:
            fail("compose.yaml", f"no service {s}")
    build = services.get("strata", {}).get("build", {})
    ctx = os.path.normpath(os.path.join(deploy, build.get("context", ".")))
    if not os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))) \
            or os.path.normpath(os.path.join(ctx, build.get("dockerfile", ""))) != os.path.join(deploy, "Dockerfile"):
        fail("compose.yaml", "strata is not built from deploy/Dockerfile with the repository as context")
    for name, svc in services.items():
        if ":" not in svc.get("image", "") or svc.get("image", "").endswith(":latest"):
            fail("compose.yaml", f"{name}: image not pinned")
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                if not os.path.exists(os.path.join(deploy, src)):
                    fail("compose.yaml", f"{name}: mounts missing {src}")
    prom_cfg = os.path.join(deploy, "compose", "prometheus.yml")
    with open(prom_cfg) as fh:
        p = yaml.safe_load(fh)
    if "http://strata:8428/api/v1/write" not in [rw.get("url") for rw in p.get("remote_write", [])]:
        fail("compose/prometheus.yml", "does not remote-write to http://strata:8428/api/v1/write")
    print("  compose.yaml: services " + ", ".join(services))


def check_dockerfile(deploy):
    repo = os.path.dirname(deploy)
    with open(os.path.join(deploy, "Dockerfile")) as fh:
        text = fh.read()
    ignore = []
    ipath = os.path.join(deploy, "Dockerfile.dockerignore")
    with open(ipath) as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                ignore.append(line)

    def ignored(rel):
        result = False
        for pat in ignore:
            neg = pat.startswith("!")
            pat = pat.lstrip("!").rstrip("/")
            parts = rel.split("/")
            prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
            if any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.replace("**/", "")) for p in prefixes):
                result = not neg
        return result

    joined = re.sub(r"\\\n", " ", text)
    copies = 0
    for line in joined.splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        srcs = [w for w in words[1:-1] if not w.startswith("--")]
        for s in srcs:
            copies += 1
            if not os.path.exists(os.path.join(repo, s)):
                fail("Dockerfile", f"COPY {s}: not in the build context")
            elif ignored(s):
                fail("Dockerfile", f"COPY {s}: excluded by Dockerfile.dockerignore")
    if copies == 0:
        fail("Dockerfile", "copies nothing from the build context")
    # Every workspace member must be in the context, or cargo refuses to build.
    with open(os.path.join(repo, "Cargo.toml")) as fh:
        members = re.search(r"members\s*=\s*\[([^\]]*)\]", fh.read())
    for m in re.findall(r'"([^"]+)"', members.group(1) if members else ""):
        if not re.search(rf"^COPY\s+{re.escape(m)}\s", text, re.M):
            fail("Dockerfile", f"workspace member {m}/ is not copied")
    for needle, what in ((r"--bin strata", "builds the strata binary"), (r"^USER 65532", "runs as uid 65532"),
                         (r"^EXPOSE 8428", "exposes 8428"), (r'^VOLUME \["/data"\]', "declares /data"),
                         (r'ENTRYPOINT \["/usr/local/bin/strata", "serve", "--data-dir=/data"\]', "serves /data"),
                         (r"--platform=\$BUILDPLATFORM", "cross-compiles from the build platform"),
                         (r"arm64\)", "knows arm64"), (r"amd64\)", "knows amd64")):
        if not re.search(needle, text, re.M):
            fail("Dockerfile", f"does not {what}")
    if re.search(r"^#\s*syntax=", text, re.M) or re.search(r"^RUN\s+--mount", text, re.M):
        fail("Dockerfile", "needs BuildKit (# syntax= frontend or RUN --mount): the classic builder must work")
    print(f"  Dockerfile: {copies} context paths copied, all present and not ignored; no BuildKit-only syntax")


def check_helm_values(deploy):
    path = os.path.join(deploy, "kube-prometheus-stack", "values.yaml")
    with open(path) as fh:
        v = yaml.safe_load(fh)
    spec = v.get("prometheus", {}).get("prometheusSpec", {})
    urls = [rw.get("url") for rw in spec.get("remoteWrite", [])]
    if "http://strata.observability.svc:8428/api/v1/write" not in urls:
        fail("kube-prometheus-stack/values.yaml", "prometheusSpec.remoteWrite does not reach Strata")
    if spec.get("retention") != "15d":
        fail("kube-prometheus-stack/values.yaml", "retention is not 15d")
    ds = {d.get("name"): d for d in v.get("grafana", {}).get("additionalDataSources", [])}
    if ds.get("Strata", {}).get("url") != "http://strata.observability.svc:8428" or ds["Strata"].get("type") != "prometheus":
        fail("kube-prometheus-stack/values.yaml", "no Prometheus-type Strata data source in grafana.additionalDataSources")
    print("  kube-prometheus-stack/values.yaml: remote_write to Strata, Grafana data source Strata")


def main(argv):
    if len(argv) != 1:
        sys.exit(__doc__)
    deploy = os.path.abspath(argv[0])
    check_dashboards(deploy)
    check_compose(deploy)
    check_dockerfile(deploy)
    check_helm_values(deploy)
    if failures:
        print(f"\n{len(failures)} problem(s):")
        for f in failures:
            print(f"  FAIL {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
