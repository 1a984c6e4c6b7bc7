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
#      deploy/overlays/, and the base with each component no overlay uses;
#      remote resources (the Prometheus Operator bundle) are left out and
#      listed, and generated files are checked to be up to date.
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
#   Also: tools/pi_budget.py (memory per node of the rpi overlays), bash -n
#   and shellcheck on image.sh, `docker-compose config` / `docker compose
#   config` on compose.yaml when installed.
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

# 1. Render. Remote resources (the Prometheus Operator's upstream bundle in
# components/prometheus-operator) need the network: everything is rendered
# from a copy of deploy/ without them, and the lines left out are listed.
step "kubectl kustomize"
OFFLINE="$TMP/offline"
cp -r "$DEPLOY" "$OFFLINE"
remote="$(grep -rn --include=kustomization.yaml -E '^\s*-\s*https?://' "$OFFLINE" || true)"
if [ -n "$remote" ]; then
    echo "  NOT RENDERED: remote resources (need the network; \`kubectl apply -k\` fetches them on a cluster):"
    printf '    %s\n' "${remote//"$OFFLINE"\//}"
    echo "  The renderings below lack those objects: the upstream operator, its CRDs and its RBAC are NOT checked here."
    grep -rl --include=kustomization.yaml -E '^\s*-\s*https?://' "$OFFLINE" |
        xargs sed -i -E '/^\s*-\s*https?:\/\//d'
fi
renders=()
render() { # name dir
    local out="$TMP/render-$1.yaml"
    kubectl kustomize "$2" >"$out" || die "kustomize failed for $2"
    printf '  %-28s %3d objects\n' "$1" "$(grep -c '^kind:' "$out")"
    renders+=("$1=$out")
}
render base "$OFFLINE/base"
for overlay in "$OFFLINE"/overlays/*/; do
    [ -f "$overlay/kustomization.yaml" ] || continue
    render "$(basename "$overlay")" "$overlay"
done
# Components that no overlay uses are rendered on top of the base.
for component in "$OFFLINE"/components/*/; do
    [ -f "$component/kustomization.yaml" ] || continue
    cname="$(basename "$component")"
    if grep -rqs --include=kustomization.yaml "components/$cname" "$OFFLINE/overlays"; then
        continue
    fi
    name="base+$cname"
    mkdir -p "$TMP/$name"
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../offline/base\ncomponents:\n  - ../offline/components/%s\n' \
        "$cname" >"$TMP/$name/kustomization.yaml"
    render "$name" "$TMP/$name"
done
python3 "$DEPLOY/tools/gen_operator.py" "$DEPLOY" --check

# 2. Validate the renderings.
step "kubernetes-validate (strict, Kubernetes $KUBE_VERSIONS) and manifest checks"
versions=()
for v in $KUBE_VERSIONS; do versions+=(--kube-version "$v"); done
python3 "$DEPLOY/tools/check_rendered.py" "${versions[@]}" "${renders[@]}"

# 2b. Memory per node on a 4 GiB Pi.
step "Pi memory budget (tools/pi_budget.py)"
for r in "${renders[@]}"; do
    case "${r%%=*}" in rpi*) python3 "$DEPLOY/tools/pi_budget.py" "${r%%=*}" "${r#*=}" ;; esac
done

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

# 4b. image.sh and compose.yaml with the tools that run them.
step "image.sh, compose.yaml"
bash -n "$DEPLOY/image.sh"
if command -v shellcheck >/dev/null; then
    shellcheck "$DEPLOY/image.sh" "$DEPLOY/check.sh"
    echo "  shellcheck: image.sh, check.sh clean"
else
    echo "  SKIP shellcheck not installed (apt-get install shellcheck): image.sh checked with bash -n only"
fi
if command -v docker-compose >/dev/null; then
    docker-compose -f "$DEPLOY/compose.yaml" config -q
    echo "  $(docker-compose version --short 2>/dev/null || echo docker-compose): compose.yaml valid"
else
    echo "  SKIP docker-compose (1.29, Debian) not installed"
fi
if docker compose version >/dev/null 2>&1; then
    docker compose -f "$DEPLOY/compose.yaml" config -q
    echo "  docker compose $(docker compose version --short): compose.yaml valid"
else
    echo "  SKIP docker compose (v2) not installed"
fi

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
