#!/usr/bin/env bash
# Builds Strata's image for amd64 and arm64 and saves each as a tarball that
# k3s nodes import without a registry:
#
#   deploy/image.sh [OUT_DIR]            # default OUT_DIR: ./strata-images
#   scp strata-images/strata-0.1.0-arm64.tar pi1:
#   ssh pi1 sudo k3s ctr images import strata-0.1.0-arm64.tar
#
# The image is tagged localhost/strata:<version> (the version of the
# workspace's Cargo.toml), the name overlays/rpi gives the StatefulSet
# through kustomize `images:`; imagePullPolicy IfNotPresent makes the
# kubelet use the imported copy.
#
# Works with the classic builder (DOCKER_BUILDKIT=0) and with BuildKit: the
# build context is a clean copy of what the Dockerfile needs (the classic
# builder ignores deploy/Dockerfile.dockerignore), and the platform
# arguments are passed explicitly. The builder stage runs natively and
# cross-compiles, so no emulation (binfmt/QEMU) is needed.
#
# Environment: ARCHES (default "amd64 arm64"), IMAGE (default
# localhost/strata), DOCKER (default docker).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-strata-images}"
ARCHES="${ARCHES:-amd64 arm64}"
IMAGE="${IMAGE:-localhost/strata}"
DOCKER="${DOCKER:-docker}"

version="$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$REPO/Cargo.toml" | head -n1)"
[ -n "$version" ] || { echo "image.sh: no version in $REPO/Cargo.toml" >&2; exit 1; }

case "$(uname -m)" in
    x86_64 | amd64) host=amd64 ;;
    aarch64 | arm64) host=arm64 ;;
    *) echo "image.sh: unsupported build machine $(uname -m)" >&2; exit 1 ;;
esac

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
# The workspace members and lock file, without target/ directories.
tar -C "$REPO" --exclude=target -cf - Cargo.toml Cargo.lock engine promql server benches | tar -C "$ctx" -xf -
cp "$REPO/deploy/Dockerfile" "$ctx/Dockerfile"

mkdir -p "$OUT"
for arch in $ARCHES; do
    tag="$IMAGE:$version"
    echo "== $tag for linux/$arch (built on $host)"
    "$DOCKER" build \
        --platform "linux/$arch" \
        --build-arg "BUILDPLATFORM=linux/$host" \
        --build-arg "BUILDARCH=$host" \
        --build-arg "TARGETARCH=$arch" \
        -t "$tag" -f "$ctx/Dockerfile" "$ctx"
    "$DOCKER" save -o "$OUT/strata-$version-$arch.tar" "$tag"
    echo "   $OUT/strata-$version-$arch.tar: on each $arch node, sudo k3s ctr images import strata-$version-$arch.tar"
done
