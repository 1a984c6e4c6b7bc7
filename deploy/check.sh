#!/usr/bin/env bash
# Checks everything under deploy/ without a cluster. Runs from any directory:
#
#   bash deploy/check.sh
#
# Needs kubectl (with its built-in kustomize), python3 with pip, and promtool
# (Debian: `apt-get install prometheus`); installs the PyPI package
# kubernetes-validate (and with it PyYAML) if it is missing. systemd-analyze
# is used when present. Environment:
#   KUBE_VERSIONS  Kubernetes versions to validate against (default "1.30.0 1.33.0")
#
# What it checks:
#   1. `kubectl kustomize` renders deploy/base, every overlay under
#      deploy/overlays/, and the base with each component of deploy/components/.
#   2. tools/check_rendered.py on every rendering: strict schema validation
#      with kubernetes-validate (custom resources such as ServiceMonitor have
#      no schema there and are listed as skipped), container policy
#      (requests/limits, pinned images, non-root, read-only root filesystem,
#      no privilege escalation, capabilities dropped, probes), in-cluster URLs
#      and references, the OpenTelemetry Collector's routing, the
#      retention/storage table, and the rpi overlay's node selector and
#      storage class.
#   3. promtool: `check config` on the Prometheus configurations (kubernetes
#      SD blocks checked separately when promtool lacks them, as Debian's
#      does), `check rules` and `test rules` (deploy/tests/rules_test.yml).
#   4. tools/check_files.py: dashboards are valid JSON dashboards, compose.yaml
#      and the Dockerfile are consistent with the repository.
#   5. systemd-analyze verify on deploy/systemd/strata.service.
# The dashboards' and rules' PromQL is parsed with Strata's own parser by
# `cargo test -p strata-server --test it deploy`.
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBE_VERSIONS="${KUBE_VERSIONS:-1.30.0 1.33.0}"

step() { printf '\n== %s\n' "$*"; }
die() { printf 'check.sh: %s\n' "$*" >&2; exit 1; }

for tool in kubectl python3 promtool; do
    command -v "$tool" >/dev/null || die "$tool is required (see the header of this script)"
done
if ! python3 -c 'import kubernetes_validate, yaml' 2>/dev/null; then
    step "installing kubernetes-validate"
    # A Debian-managed python3 (PEP 668) refuses plain installs.
    python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate ||
        python3 -m pip install --quiet --disable-pip-version-check --break-system-packages kubernetes-validate
    python3 -c 'import kubernetes_validate, yaml' || die "could not install kubernetes-validate"
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# 1. Render.
step "kubectl kustomize"
renders=()
render() { # name dir
    local out="$TMP/render-$1.yaml"
    kubectl kustomize "$2" >"$out" || die "kustomize failed for $2"
    printf '  %-28s %3d objects\n' "$1" "$(grep -c '^kind:' "$out")"
    renders+=("$1=$out")
}
render base "$DEPLOY/base"
for overlay in "$DEPLOY"/overlays/*/; do
    [ -f "$overlay/kustomization.yaml" ] || continue
    render "$(basename "$overlay")" "$overlay"
done
for component in "$DEPLOY"/components/*/; do
    [ -f "$component/kustomization.yaml" ] || continue
    name="base+$(basename "$component")"
    mkdir -p "$TMP/$name"
    # kustomize wants relative paths to other kustomizations.
    rel() { python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$1" "$TMP/$name"; }
    cat >"$TMP/$name/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(rel "$DEPLOY/base")
components:
  - $(rel "${component%/}")
EOF
    render "$name" "$TMP/$name"
done

# 2. Validate the renderings.
step "kubernetes-validate (strict, Kubernetes $KUBE_VERSIONS) and manifest checks"
versions=()
for v in $KUBE_VERSIONS; do versions+=(--kube-version "$v"); done
python3 "$DEPLOY/tools/check_rendered.py" "${versions[@]}" "${renders[@]}"

# 3. promtool.
step "promtool ($(promtool --version 2>&1 | head -n1))"
k8s_sd_flag=()
cat >"$TMP/sd-probe.yml" <<'EOF'
scrape_configs:
  - job_name: probe
    kubernetes_sd_configs:
      - role: pod
EOF
if ! promtool check config "$TMP/sd-probe.yml" >/dev/null 2>&1; then
    echo "  this promtool has no Kubernetes service discovery: kubernetes_sd_configs checked by tools/promtool_config.py instead"
    k8s_sd_flag=(--no-kubernetes-sd)
fi
for cfg in "$DEPLOY/base/prometheus/prometheus.yml" "$DEPLOY/compose/prometheus.yml"; do
    dir="$TMP/promtool-$(basename "$(dirname "$cfg")")"
    python3 "$DEPLOY/tools/promtool_config.py" "$cfg" "$dir" "${k8s_sd_flag[@]}"
    echo "  ${cfg#"$DEPLOY"/}:"
    promtool check config "$dir/prometheus.yml" | sed 's/^/    /'
done
promtool check rules "$DEPLOY/base/prometheus/rules.yml" | sed 's/^/  /'
(cd "$DEPLOY/tests" && promtool test rules rules_test.yml) | sed 's/^/  /'

# 4. Dashboards, compose, Dockerfile.
step "dashboards, compose.yaml, Dockerfile"
python3 "$DEPLOY/tools/check_files.py" "$DEPLOY"

# 5. systemd unit.
step "systemd unit"
if command -v systemd-analyze >/dev/null; then
    # verify wants ExecStart to exist: check a copy pointing at /bin/true.
    sed 's#^ExecStart=/usr/local/bin/strata#ExecStart=/bin/true#' "$DEPLOY/systemd/strata.service" >"$TMP/strata.service"
    out="$(systemd-analyze verify "$TMP/strata.service" 2>&1 || true)"
    # It exits 0 on unknown keys: any remark about the unit is a failure.
    if grep -F "strata.service" <<<"$out"; then
        die "systemd-analyze verify complains about deploy/systemd/strata.service"
    fi
    echo "  systemd/strata.service: systemd-analyze verify clean"
else
    echo "  SKIP systemd-analyze not installed"
fi

printf '\ndeploy/check.sh: all checks passed\n'
