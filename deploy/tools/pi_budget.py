#!/usr/bin/env python3
"""Memory requests and limits per node of a rendering, against a 4 GiB Pi.

    pi_budget.py NAME RENDERED.yaml

The node budget: 4096 MiB of RAM - 1024 MiB for the k3s server and the OS
(k3s server with its embedded datastore, containerd, kubelet, systemd,
journald: about 0.6-0.8 GiB measured on Pis, rounded up) - 256 MiB the
Pi's firmware/GPU and kernel keep = 2816 MiB for pods.

Placement model (what the manifests enforce, not hope):
* a DaemonSet's pod runs on every node;
* pods that carry the same required podAntiAffinity label selector with
  topologyKey kubernetes.io/hostname never share a node: the worst node
  holds the largest one of each such group;
* every other Deployment/StatefulSet/Prometheus pod may land on the same
  node: all of them count on the worst node;
* remote resources that are not in the rendering are counted by the
  figures in EXTRA (the Prometheus Operator's own Deployment), and the
  operator's config-reloader sidecar is added to each Prometheus pod.

Prints the table and fails if requests or limits of the worst node exceed
the budget.
"""

import sys
from collections import defaultdict

import yaml

NODE_MIB = 4096
RESERVED_MIB = 1024 + 256
BUDGET_MIB = NODE_MIB - RESERVED_MIB
# Present when a Prometheus resource is (the operator manages it):
# upstream bundle's prometheus-operator Deployment (requests 100Mi, limits
# 200Mi) and the config-reloader sidecar per Prometheus pod (50Mi/50Mi).
OPERATOR = ("prometheus-operator (upstream bundle, not rendered offline)", 100, 200)
RELOADER = (50, 50)


def mib(q):
    q = str(q)
    for suffix, f in (("Ki", 1 / 1024), ("Mi", 1), ("Gi", 1024), ("k", 1000 / 1048576), ("M", 1e6 / 1048576),
                      ("G", 1e9 / 1048576)):
        if q.endswith(suffix):
            return float(q[: -len(suffix)]) * f
    return float(q) / 1048576


def pods(objs):
    """(name, kind, requests MiB, limits MiB, anti-affinity group or None)"""
    out = []
    for o in objs:
        kind = o["kind"]
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            spec = o["spec"]["template"]["spec"]
            res = [c.get("resources", {}) for c in spec["containers"]]
            replicas = 1 if kind == "DaemonSet" else o["spec"].get("replicas", 1)
        elif kind == "Prometheus":
            spec = o["spec"]
            res = [spec.get("resources", {})]
            replicas = spec.get("replicas", 1)
        else:
            continue
        req = sum(mib(r.get("requests", {}).get("memory", 0)) for r in res)
        lim = sum(mib(r.get("limits", {}).get("memory", 0)) for r in res)
        if kind == "Prometheus":
            req, lim = req + RELOADER[0], lim + RELOADER[1]
        if any("memory" not in r.get("limits", {}) for r in res):
            sys.exit(f"{kind}/{o['metadata']['name']}: a container has no memory limit")
        group = None
        anti = spec.get("affinity", {}).get("podAntiAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
        for term in anti:
            if term.get("topologyKey") == "kubernetes.io/hostname":
                group = repr(sorted(term.get("labelSelector", {}).get("matchLabels", {}).items()))
        for _ in range(replicas if kind != "DaemonSet" else 1):
            out.append((f"{kind}/{o['metadata']['name']}", kind, req, lim, group))
    if any(o["kind"] == "Prometheus" for o in objs):
        out.append((OPERATOR[0], "Deployment", OPERATOR[1], OPERATOR[2], None))
    return out


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    name, path = argv
    with open(path) as fh:
        objs = [o for o in yaml.safe_load_all(fh) if o]
    every, groups, anywhere = [], defaultdict(list), []
    for p in pods(objs):
        if p[1] == "DaemonSet":
            every.append(p)
        elif p[4] is not None:
            groups[p[4]].append(p)
        else:
            anywhere.append(p)
    worst = list(every) + list(anywhere)
    for members in groups.values():
        worst.append(max(members, key=lambda p: p[3]))
    print(f"  {name}: the worst node (budget {BUDGET_MIB} MiB = {NODE_MIB} - {RESERVED_MIB} for k3s server, OS, firmware)")
    for label, rows in (("on every node", every), ("never together (anti-affinity; largest counted)",
                                                    [p for m in groups.values() for p in m]),
                        ("anywhere", anywhere)):
        print(f"    {label}:")
        for p in rows:
            mark = "" if p in worst else "  (not on the worst node)"
            print(f"      {p[0]:58s} requests {p[2]:6.0f} MiB  limits {p[3]:6.0f} MiB{mark}")
    req = sum(p[2] for p in worst)
    lim = sum(p[3] for p in worst)
    need = max((len(m) for m in groups.values()), default=1)
    print(f"    sum: requests {req:.0f} MiB, limits {lim:.0f} MiB of {BUDGET_MIB} MiB; needs at least {need} nodes")
    if lim > BUDGET_MIB or req > BUDGET_MIB:
        print(f"  FAIL {name}: the worst node's memory limits ({lim:.0f} MiB) exceed the {BUDGET_MIB} MiB a 4 GiB Pi "
              "running the k3s server has for pods")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
