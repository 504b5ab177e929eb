#!/usr/bin/env bash
# deploy/build-image.sh [TAG] - build static sofsd and sofsctl binaries and
# the container image from them (default tag sofs:dev). The build context is
# a temporary directory holding only the binaries and two empty mount
# points, so no base image is pulled and the source tree is not sent to the
# Docker daemon.
set -euo pipefail

tag=${1:-sofs:dev}
deploy=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$deploy")
ctx=$(mktemp -d "${TMPDIR:-/tmp}/sofs-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

for cmd in sofsd sofsctl; do
    (cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$ctx/$cmd" "./cmd/$cmd")
done
mkdir -p "$ctx/rootfs/var/lib/sofs" "$ctx/rootfs/csv"
chmod 0750 "$ctx/rootfs/var/lib/sofs"
chmod 0755 "$ctx/rootfs/csv"
cp "$deploy/Dockerfile" "$ctx/Dockerfile"
docker build --quiet --tag "$tag" "$ctx" >/dev/null
echo "$tag"
