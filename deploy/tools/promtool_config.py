#!/usr/bin/env python3
"""Prepares a copy of a Prometheus configuration for `promtool check config`.

    promtool_config.py SRC DST_DIR [--no-kubernetes-sd]

The configuration refers to files that exist only in the pod: the rule file
under /etc/prometheus/ and the service account's token and CA under
/var/run/secrets/kubernetes.io/serviceaccount/. The copy, DST_DIR/prometheus.yml,
points those at DST_DIR (rule files copied next to it, placeholder token
and CA), so promtool can check everything, rules included.

--no-kubernetes-sd: Debian's promtool is built without Kubernetes service
discovery and rejects `kubernetes_sd_configs`. With this flag each such block
is checked here (known roles and fields) and replaced by a placeholder
static target, so promtool still checks the rest of the scrape config
(relabelling, TLS, authorization, remote_write) and the rules.
"""

import os
import shutil
import sys

import yaml

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount/"
ROLES = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}
SD_FIELDS = {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata",
             "basic_auth", "authorization", "oauth2", "tls_config", "proxy_url", "follow_redirects",
             "enable_http2", "bearer_token", "bearer_token_file"}


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    src, dst = argv[0], argv[1]
    strip_k8s = "--no-kubernetes-sd" in argv[2:]
    src_dir = os.path.dirname(os.path.abspath(src))
    os.makedirs(os.path.join(dst, "sa"), exist_ok=True)
    for f in ("token", "ca.crt"):
        with open(os.path.join(dst, "sa", f), "w") as fh:
            fh.write("placeholder\n")

    with open(src) as fh:
        cfg = yaml.safe_load(fh)

    rules = []
    for rf in cfg.get("rule_files", []) or []:
        base = os.path.basename(rf)
        shutil.copy(os.path.join(src_dir, base), os.path.join(dst, base))
        rules.append(os.path.join(dst, base))
    if "rule_files" in cfg:
        cfg["rule_files"] = rules

    errors = []
    for sc in cfg.get("scrape_configs", []) or []:
        auth = sc.get("authorization", {})
        if str(auth.get("credentials_file", "")).startswith(SA_DIR):
            auth["credentials_file"] = os.path.join(dst, "sa", os.path.basename(auth["credentials_file"]))
        tls = sc.get("tls_config", {})
        if str(tls.get("ca_file", "")).startswith(SA_DIR):
            tls["ca_file"] = os.path.join(dst, "sa", os.path.basename(tls["ca_file"]))
        if strip_k8s and "kubernetes_sd_configs" in sc:
            for sd in sc["kubernetes_sd_configs"]:
                job = sc.get("job_name")
                if sd.get("role") not in ROLES:
                    errors.append(f"job {job}: kubernetes_sd_configs role {sd.get('role')!r} is not one of {sorted(ROLES)}")
                unknown = set(sd) - SD_FIELDS
                if unknown:
                    errors.append(f"job {job}: unknown kubernetes_sd_configs fields {sorted(unknown)}")
                ns = sd.get("namespaces", {})
                if ns and (set(ns) - {"names", "own_namespace"} or not isinstance(ns.get("names", []), list)):
                    errors.append(f"job {job}: bad kubernetes_sd_configs namespaces {ns}")
            del sc["kubernetes_sd_configs"]
            sc.setdefault("static_configs", []).append({"targets": ["kubernetes-sd-placeholder.invalid:80"]})

    if errors:
        for e in errors:
            print(f"FAIL {src}: {e}")
        return 1
    with open(os.path.join(dst, "prometheus.yml"), "w") as fh:
        yaml.safe_dump(cfg, fh, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
