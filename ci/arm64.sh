#!/usr/bin/env bash
# ARM64 check: install the runtime on aarch64 Linux the way README.md tells a Raspberry Pi
# user, then run the ARM64 test set (tests/arm64/) on two CPU classes.
#
#   bash ci/arm64.sh            # everything (CI calls this from .ci/run)
#   bash ci/arm64.sh root       # only build (or find) the cached aarch64 root
#
# On an x86-64 host it runs a Debian bookworm arm64 root under qemu-user (root needed):
# Cortex-A76 (Raspberry Pi 5: ARMv8.2, dotprod, fp16) and Cortex-A72 (Raspberry Pi 4:
# ARMv8.0). The root is built once with debootstrap and cached, packed with zstd, outside
# the checkout: $ARM64_CACHE (default /var/cache/anime-detector), named by a hash of the
# recipe that built it. Models for the x86 parity tests are exported on the host first.
# On a real aarch64 machine nothing is emulated: it makes the venv and runs the tests there.
#
# Timing under emulation says nothing about ARM speed: this is a correctness check only.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${ARM64_CACHE:-/var/cache/anime-detector}
CPUS=${ARM64_CPUS:-cortex-a76 cortex-a72}
PYTHON=${PYTHON:-python}
SUITE=bookworm
MIRROR=${ARM64_MIRROR:-http://deb.debian.org/debian}
# What a Raspberry Pi OS (bookworm) Lite image already has for Python: 3.11, venv, pip.
ROOT_PACKAGES=python3,python3-venv,python3-pip,ca-certificates
EXTRAS=cpu,ncnn,openvino # every runtime extra that publishes aarch64 wheels
TESTS=tests/arm64

die() { echo "arm64: error: $*" >&2; exit 1; }
say() { echo "arm64: $*" >&2; }

MOUNTS=()
WORK=""

cleanup() {
    local i status=0
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null || status=1
    done
    MOUNTS=()
    [[ -n $WORK && -d $WORK ]] || return 0
    # Never delete a tree that still has something mounted inside (a bound /dev would go).
    if ((status)) || grep -q " $WORK/" /proc/mounts; then
        echo "arm64: error: could not unmount everything under $WORK; left it in place" >&2
        return 0
    fi
    rm -rf "$WORK"
}

mount_into() { # mount_into TARGET MOUNT-ARGS...: mount, and remember it for cleanup
    local target=$1
    shift
    mount "$@" "$target" || die "could not mount $target ($*)"
    MOUNTS+=("$target")
}

unmount() { # unmount TARGET (the last mounted one)
    umount "$1" || die "could not unmount $1"
    unset 'MOUNTS[${#MOUNTS[@]}-1]'
}

need_tools() {
    local tool missing=()
    for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    ((${#missing[@]} == 0)) || die "missing ${missing[*]}: apt-get install qemu-user-static binfmt-support debootstrap zstd"
}

register_qemu() {
    [[ -e /proc/sys/fs/binfmt_misc/register ]] \
        || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
        || die "could not mount binfmt_misc (needs root, and a kernel with binfmt_misc)"
    [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64 \
        || die "update-binfmts --enable qemu-aarch64 failed: is qemu-user-static installed?"
    grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
        || die "qemu-aarch64 is registered without the F (fix-binary) flag; chroot needs it"
}

build_root() { # build_root DIR: a bookworm arm64 minbase root with Python (about 10 min)
    debootstrap --arch=arm64 --foreign --variant=minbase --include="$ROOT_PACKAGES" \
        "$SUITE" "$1" "$MIRROR" >"$1.log" 2>&1 \
        || die "debootstrap (first stage) failed; see $1.log"
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$1" /debootstrap/debootstrap --second-stage \
        >>"$1.log" 2>&1 || die "debootstrap --second-stage failed; see $1.log"
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$1" apt-get clean
    rm -rf "$1"/var/lib/apt/lists/*
}

root_tarball() { # prints the cached root's path, building it first if it is not there
    local key tarball tmp
    key=$(printf '%s\n' "$SUITE" "$MIRROR" "$ROOT_PACKAGES" "$(declare -f build_root)" \
        | sha256sum | cut -c1-16)
    tarball=$CACHE/arm64-root-$SUITE-$key.tar.zst
    if [[ ! -s $tarball ]]; then
        mkdir -p "$CACHE"
        tmp=$(mktemp -d "$CACHE/build.XXXXXX")
        say "building the $SUITE arm64 root (cold cache, about 10 minutes) -> $tarball"
        build_root "$tmp/root"
        tar -C "$tmp/root" -I 'zstd -T0 -q' -cf "$tmp/root.tar.zst" . \
            || die "could not pack the root into $tmp"
        mv "$tmp/root.tar.zst" "$tarball"
        rm -rf "$tmp"
    fi
    echo "$tarball"
}

main() {
    local what=${1:-all}
    case $what in
        root)
            [[ $(id -u) == 0 ]] || die "building the arm64 root needs root (debootstrap, chroot)"
            need_tools qemu-aarch64-static debootstrap zstd update-binfmts
            register_qemu
            root_tarball
            ;;
        *) die "unknown command '$what' (use: all, root)" ;;
    esac
}

trap cleanup EXIT
main "$@"
