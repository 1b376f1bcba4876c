#!/usr/bin/env bash
# Builds the container image localhost/hollowtrees:<version> with every
# Hollowtrees daemon in it, from scratch (no base image is pulled), and writes
# it as an OCI archive to build/images/hollowtrees-<version>.oci.tar.
#
#   scripts/build-images.sh            install buildah/skopeo if missing, build
#                                      the release binaries, build the image
#
# What the image holds, and nothing else (no shell, no package manager):
#   /usr/local/bin/       the six daemons (stripped release builds)
#   /usr/lib/...          exactly the shared libraries they load (ldd), the
#                         dynamic loader, and each library's Debian copyright
#                         file under /usr/share/doc/<package>/
#   /etc/ssl/certs/       CA certificates (Debian's ca-certificates bundle)
#   /etc/passwd, group    the user hollowtrees, uid/gid 65532 (the image runs
#                         as it; the Kubernetes manifests say the same uid)
#   /var/lib/hollowtrees  the engine's data directory, owned by 65532
#   /tmp                  mode 1777 (SQLite's temporary files)
# Labels: org.opencontainers.image.{version,revision,source,licenses,created,
# title,description}. The version is CMake's project version (the one place it
# is written); the revision is the checkout's commit, with "-dirty" when the
# work tree has uncommitted changes. The creation time is the commit's time,
# so two builds of one commit make the same image configuration.
#
# Environment: HT_BUILD_DIR (default build; it must be a Release build, else
# build-release is used), HT_IMAGE_NAME (default localhost/hollowtrees).
# Needs root (buildah stores images in /var/lib/containers).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --images

BUILD_DIR=${HT_BUILD_DIR:-build}
if [[ -f "$BUILD_DIR/CMakeCache.txt" ]] &&
   ! grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' "$BUILD_DIR/CMakeCache.txt"; then
  echo "build-images: $BUILD_DIR is not a Release build; building the image from build-release" >&2
  BUILD_DIR=build-release
fi
HT_BUILD_DIR="$BUILD_DIR" HT_BUILD_TYPE=Release scripts/build.sh

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD_DIR/CMakeCache.txt")
homepage=$(sed -n 's/^CMAKE_PROJECT_HOMEPAGE_URL:STATIC=//p' "$BUILD_DIR/CMakeCache.txt")
description=$(sed -n 's/^CMAKE_PROJECT_DESCRIPTION:STATIC=//p' "$BUILD_DIR/CMakeCache.txt")
if [[ -z "$version" ]]; then
  echo "build-images: no CMAKE_PROJECT_VERSION in $BUILD_DIR/CMakeCache.txt" >&2
  exit 1
fi
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ "$revision" != unknown && -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  revision="$revision-dirty"
fi
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)
image="${HT_IMAGE_NAME:-localhost/hollowtrees}:$version"

daemons=(hollowtrees ht-log-action-plugin ht-k8s-action-plugin ht-aws-asg-action-plugin
         spot-termination-exporter spot-config-webhook)

out_dir="$BUILD_DIR/images"
rootfs="$out_dir/rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"/{usr/local/bin,usr/lib,usr/lib64,etc/ssl/certs,tmp,var/lib/hollowtrees,usr/share/doc}
# Debian 12 has a merged /usr: /lib and /lib64 are links into /usr, and the
# binaries name their loader /lib64/ld-linux-x86-64.so.2.
ln -s usr/lib "$rootfs/lib"
ln -s usr/lib64 "$rootfs/lib64"

# Copies one file the binaries load to the same path in the image, through
# the merged /usr (a directory's links resolved, the file itself
# dereferenced), with its Debian package's copyright file.
declare -A copied_docs=()
copy_library() {
  local path=$1 dir
  dir=$(readlink -f "$(dirname "$path")")
  mkdir -p "$rootfs$dir"
  cp -L "$path" "$rootfs$dir/$(basename "$path")"
  local pkg
  pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$dir/$(basename "$path")" 2>/dev/null ||
        dpkg -S "$(readlink -f "$path")" 2>/dev/null || true)
  pkg=${pkg%%:*}
  if [[ -z "$pkg" ]]; then
    echo "build-images: no Debian package owns $path" >&2
    exit 1
  fi
  if [[ -z "${copied_docs[$pkg]:-}" && -f "/usr/share/doc/$pkg/copyright" ]]; then
    mkdir -p "$rootfs/usr/share/doc/$pkg"
    cp -L "/usr/share/doc/$pkg/copyright" "$rootfs/usr/share/doc/$pkg/copyright"
    copied_docs[$pkg]=1
  fi
}

declare -A libraries=()
for d in "${daemons[@]}"; do
  bin="$BUILD_DIR/bin/$d"
  if [[ ! -x "$bin" ]]; then
    echo "build-images: $bin is not built" >&2
    exit 1
  fi
  reported=$("$bin" --version)
  if [[ "$reported" != "$d $version" ]]; then
    echo "build-images: $bin --version says '$reported', expected '$d $version'" >&2
    exit 1
  fi
  strip --strip-unneeded -o "$rootfs/usr/local/bin/$d" "$bin"
  # ldd lines: "libx.so.1 => /lib/.../libx.so.1 (0x...)", the loader as
  # "/lib64/ld-linux-x86-64.so.2 (0x...)", and "linux-vdso.so.1 (0x...)"
  # (in the kernel, not a file). "not found" is an error.
  while read -r line; do
    if [[ "$line" == *"not found"* ]]; then
      echo "build-images: $d: $line" >&2
      exit 1
    fi
    if [[ "$line" =~ =\>\ (/[^ ]+) ]]; then
      libraries[${BASH_REMATCH[1]}]=1
    elif [[ "$line" =~ ^(/[^ ]+)\ \( ]]; then
      libraries[${BASH_REMATCH[1]}]=1
    fi
  done < <(ldd "$bin")
done
for lib in "${!libraries[@]}"; do
  copy_library "$lib"
done

# The bundle is generated by update-ca-certificates from the ca-certificates
# package (no package owns the file itself).
cp -L /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
mkdir -p "$rootfs/usr/share/doc/ca-certificates"
cp -L /usr/share/doc/ca-certificates/copyright "$rootfs/usr/share/doc/ca-certificates/copyright"
# OpenSSL's compiled-in default paths (OPENSSLDIR /usr/lib/ssl) point here.
mkdir -p "$rootfs/usr/lib/ssl"
ln -s /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/lib/ssl/cert.pem"
ln -s /etc/ssl/certs "$rootfs/usr/lib/ssl/certs"

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
hollowtrees:x:65532:65532:Hollowtrees:/var/lib/hollowtrees:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
hollowtrees:x:65532:
nogroup:x:65534:
EOF
# glibc 2.36 has the files and dns lookups built in; this says their order.
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
chmod 1777 "$rootfs/tmp"
chown 65532:65532 "$rootfs/var/lib/hollowtrees"
chmod 0750 "$rootfs/var/lib/hollowtrees"

# One layer, from a tar with fixed owners, order and times.
layer="$out_dir/rootfs.tar"
tar --sort=name --numeric-owner --mtime="@$epoch" -C "$rootfs" -cf "$layer" .

ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$ctr" "$layer" / >/dev/null
buildah config \
  --os linux --arch amd64 \
  --user 65532:65532 \
  --workingdir /var/lib/hollowtrees \
  --env PATH=/usr/local/bin \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --port 9092 \
  --stop-signal SIGTERM \
  --cmd '["hollowtrees", "--config=/etc/hollowtrees/rules.yaml", "--data-dir=/var/lib/hollowtrees"]' \
  --created-by "scripts/build-images.sh" \
  --label "org.opencontainers.image.title=hollowtrees" \
  --label "org.opencontainers.image.description=$description" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.source=$homepage" \
  --label "org.opencontainers.image.url=$homepage" \
  --label "org.opencontainers.image.licenses=NOASSERTION" \
  --label "org.opencontainers.image.created=$created" \
  "$ctr"
buildah commit --quiet --format oci --identity-label=false --timestamp "$epoch" \
  "$ctr" "$image" >/dev/null

archive="$out_dir/hollowtrees-$version.oci.tar"
rm -f "$archive"
skopeo copy --quiet "containers-storage:$image" "oci-archive:$archive:$image"
rm -rf "$rootfs" "$layer"
echo "build-images: $image ($(du -h "$archive" | cut -f1) archive) -> $archive"
