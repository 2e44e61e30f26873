#!/usr/bin/env bash
# ARM64 check: install the runtime on aarch64 Linux the way README.md tells a Raspberry Pi
# user, then run the ARM64 test set (tests/arm64/) on two CPU classes.
#
#   bash ci/arm64.sh            # everything (CI calls this from .ci/run)
#   bash ci/arm64.sh root       # only build (or find) the cached aarch64 root
#   ARM64_AFTER='anime-detector bench model-fp32.onnx' bash ci/arm64.sh  # then run that there
#   (in the x86 models folder, venv active; emulated only; ARM64_EXTRA=DIR is bound
#   read-only at /extra for it). ARM64_CPUS="cortex-a72" picks the CPU classes,
#   ARM64_TESTS the tests, ARM64_CACHE the cache folder.
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
# The runtime's tests that need no TensorFlow, small models only, and the x86 parity set.
TESTS="tests/arm64 tests/test_import_boundary.py tests/runtime/test_preprocess.py
tests/runtime/test_bad_inputs.py tests/engines/test_onnx_metadata.py tests/engines/test_openvino.py
tests/engines/test_ncnn.py"
TESTS=$(echo ${ARM64_TESTS:-$TESTS}) # one line: it goes into a command line in the root
# On the second and later CPU classes, what depends on the core: parity per engine and
# precision, CPU naming, ncnn fp16, the OpenVINO engine (the rest is numpy/Pillow/Python).
TESTS_AGAIN=${ARM64_TESTS:-tests/arm64 tests/engines/test_openvino.py}

die() { echo "arm64: error: $*" >&2; exit 1; }
say() { echo "arm64: [${SECONDS}s] $*" >&2; }

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

HOST_PACKAGES="qemu-user-static binfmt-support debootstrap zstd"

need_tools() { # installs the host's Debian packages when a tool is missing (a fresh CI machine)
    local tool missing=()
    for tool in qemu-aarch64-static debootstrap zstd update-binfmts chroot; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]}: install $HOST_PACKAGES"
    say "missing ${missing[*]}: apt-get install $HOST_PACKAGES"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $HOST_PACKAGES; } \
        >"${TMPDIR:-/tmp}/anime-detector-arm64-apt.log" 2>&1 \
        || die "apt-get install $HOST_PACKAGES failed; see ${TMPDIR:-/tmp}/anime-detector-arm64-apt.log"
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

build_root() { # build_root DIR: a bookworm arm64 minbase root with Python (3-10 minutes)
    debootstrap --arch=arm64 --foreign --variant=minbase --include="$ROOT_PACKAGES" \
        "$SUITE" "$1" "$MIRROR" >"$1.log" 2>&1 \
        || die "debootstrap (first stage) failed; see $1.log"
    # No terminal (setsid, stdin /dev/null): a package script that opens /dev/tty from a
    # background job would stop it (SIGTTIN) and the build would hang.
    setsid -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        chroot "$1" /debootstrap/debootstrap --second-stage </dev/null >>"$1.log" 2>&1 \
        || die "debootstrap --second-stage failed; see $1.log"
    setsid -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$1" apt-get clean </dev/null
    rm -rf "$1"/var/lib/apt/lists/*
}

root_tarball() { # prints the cached root's path, building it first if it is not there
    local key tarball tmp
    key=$(printf '%s\n' "$SUITE" "$MIRROR" "$ROOT_PACKAGES" "$(declare -f build_root)" \
        | sha256sum | cut -c1-16)
    tarball=$CACHE/arm64-root-$SUITE-$key.tar.zst
    if [[ ! -s $tarball ]]; then
        mkdir -p "$CACHE"
        rm -rf "$CACHE"/build.* # what a failed build left (its log, kept until the next try)
        tmp=$(mktemp -d "$CACHE/build.XXXXXX")
        say "building the $SUITE arm64 root (cold cache: a few minutes) -> $tarball"
        build_root "$tmp/root"
        tar -C "$tmp/root" -I 'zstd -T0 -q' -cf "$tmp/root.tar.zst" . \
            || die "could not pack the root into $tmp"
        mv "$tmp/root.tar.zst" "$tarball"
        rm -rf "$tmp"
    fi
    echo "$tarball"
}

as_cpu() { # as_cpu CPU: make the root's /proc/cpuinfo and sysfs MIDR_EL1 those of that core
    local part variant revision features i
    case $1 in # Features: what the boards' kernels print (Pi 5, Pi 4); never more than qemu has
        cortex-a76) part=0xd0b variant=0x4 revision=1 features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
        cortex-a72) part=0xd08 variant=0x0 revision=3 features="fp asimd evtstrm crc32 cpuid" ;;
        *) die "no /proc/cpuinfo known for QEMU_CPU=$1 (known: cortex-a76, cortex-a72)" ;;
    esac
    for ((i = 0; i < $(nproc); i++)); do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$i" "$features"
        printf 'CPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$variant" "$part" "$revision"
    done >"$WORK/cpuinfo"
    # The host's /sys/devices/system/cpu (counts, caches) plus what an Arm kernel adds and
    # OpenVINO's oneDNN reads to identify the core.
    rm -rf "$WORK/sys-cpu"
    cp -r --no-dereference /sys/devices/system/cpu "$WORK/sys-cpu" 2>/dev/null || true
    for i in "$WORK"/sys-cpu/cpu[0-9]*; do
        mkdir -p "$i/regs/identification"
        printf '0x00000000%x%xf%x%x\n' 0x41 "$variant" "$part" "$revision" >"$i/regs/identification/midr_el1"
        echo 0x0000000000000000 >"$i/regs/identification/revidr_el1"
    done
    mount_into "$WORK/root/proc/cpuinfo" --bind "$WORK/cpuinfo"
    mount_into "$WORK/root/sys/devices/system/cpu" --bind "$WORK/sys-cpu"
}

as_no_cpu() { unmount "$WORK/root/sys/devices/system/cpu" && unmount "$WORK/root/proc/cpuinfo"; }

in_root() { # in_root CPU SCRIPT: run a bash script in the root, clean environment, as that CPU
    setsid -w env -i HOME=/root LANG=C.UTF-8 TERM=dumb QEMU_CPU="$1" ARM64_MODELS=/artifacts \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        chroot "$WORK/root" /bin/bash -euo pipefail -c "$2" </dev/null
}

copy_checkout() { # copy_checkout DEST: the checkout's files (tracked and untracked, not ignored)
    mkdir -p "$1"
    if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$REPO" ls-files -z --cached --others --exclude-standard \
            | (cd "$REPO" && xargs -0 tar --ignore-failed-read -cf - 2>/dev/null) | tar -C "$1" -xf -
    else
        tar -C "$REPO" --exclude=.git -cf - . | tar -C "$1" -xf -
    fi
}

prepare_root() { # unpack the cached root into $WORK/root and mount what a system has
    local root=$WORK/root tarball
    mkdir -p "$root"
    tarball=$(root_tarball) || exit 1
    tar -C "$root" -I zstd -xf "$tarball" || die "could not unpack $tarball"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    cp /etc/hosts "$root/etc/hosts"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" \
        || die "no CA bundle at /etc/ssl/certs/ca-certificates.crt on this host"
    mkdir -p "$root/artifacts" "$root/report"
    mount_into "$root/proc" -t proc proc
    mount_into "$root/sys" -t sysfs -o ro sysfs
    mount_into "$root/dev" --bind /dev
    mount_into "$root/dev/shm" -t tmpfs -o size=1g tmpfs
}

# What README.md "Install on a Raspberry Pi / ARM64 board" tells a user, then the test tools,
# at the versions CI tested (requirements/dev-lock.txt as constraints; each has aarch64 wheels).
INSTALL='cd /src
python3 -m venv .venv
.venv/bin/pip install --quiet -c requirements/dev-lock.txt ".[cpu]"
site=$(echo .venv/lib/python3*/site-packages)
echo "footprint of .[cpu]: $(du -sm --exclude="pip*" --exclude="setuptools*" --exclude="_distutils_hack" --exclude="pkg_resources" "$site" | cut -f1) MB of site-packages, pip and setuptools not counted: $(cd "$site" && ls -d *.dist-info | grep -v -e ^pip- -e ^setuptools- | sed "s/-[0-9].*//" | tr "\n" " ")"
.venv/bin/pip install --quiet -c requirements/dev-lock.txt ".[cpu,ncnn,openvino]" pytest
.venv/bin/pip install --quiet --no-deps -r requirements/no-deps.txt
.venv/bin/python --version'

x86_models() { # x86_models DEST: the x86 models and references, cached by what makes them
    local key tarball
    key=$( (cd "$REPO" && find ci/arm64_models.py tests/helpers/bad_inputs.py examples/sample runtime \
        train export -type f ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
        "$PYTHON" -m pip freeze 2>/dev/null | grep -vi anime) | sha256sum | cut -c1-16)
    tarball=$CACHE/x86-models-$key.tar.zst
    if [[ ! -s $tarball ]]; then
        say "exporting the x86 models and their x86 predictions (ci/arm64_models.py)"
        PYTHONPATH="$REPO/tests${PYTHONPATH:+:$PYTHONPATH}" \
            "$PYTHON" "$REPO/ci/arm64_models.py" "$WORK/x86" >"$WORK/models.log" 2>&1 \
            || die "ci/arm64_models.py failed: $(tail -n 3 "$WORK/models.log" | tr '\n' ' ')"
        tar -C "$WORK/x86" --exclude=./cache --exclude=./run -I 'zstd -q' -cf "$tarball.tmp" . \
            && mv "$tarball.tmp" "$tarball"
    fi
    say "x86 models and references: $tarball"
    tar -C "$1" -I zstd -xf "$tarball" || die "could not unpack $tarball"
}

emulated() {
    [[ $(id -u) == 0 ]] || die "the emulated ARM64 check needs root (debootstrap, chroot, mount)"
    local known
    for known in $CPUS; do # before any work: a typo must not cost a root and an export
        [[ $known == cortex-a76 || $known == cortex-a72 ]] \
            || die "ARM64_CPUS: no /proc/cpuinfo known for '$known' (known: cortex-a76, cortex-a72)"
    done
    need_tools
    register_qemu
    WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/anime-detector-arm64.XXXXXX")
    prepare_root
    x86_models "$WORK/root/artifacts"
    copy_checkout "$WORK/root/src"
    local cpu tests first=${CPUS%% *} status=0
    as_cpu "$first"
    say "installing into a venv in the arm64 root, as README.md says"
    in_root "$first" "$INSTALL" || die "pip install in the arm64 root failed (see above)"
    as_no_cpu
    for cpu in $CPUS; do
        as_cpu "$cpu"
        tests=$TESTS && [[ $cpu == "$first" ]] || tests=$TESTS_AGAIN
        say "ARM64 tests, QEMU_CPU=$cpu: $tests"
        in_root "$cpu" "cd /src && ARM64_REPORT=/report/$cpu.jsonl .venv/bin/python -m pytest \
            -p no:cacheprovider -q --durations=5 $tests" || status=1
        as_no_cpu
    done
    local expect=() # with the default tests, every CPU class must have every parity case
    [[ -n ${ARM64_TESTS:-} ]] || expect=(--expect "fp32,int8,ncnn,openvino,ncnn fp16 vs fp32")
    "$PYTHON" "$REPO/ci/arm64_report.py" "${expect[@]}" "$WORK/root/report"/*.jsonl || status=1
    if [[ -n ${ARM64_AFTER:-} ]]; then # a maintainer's command, e.g. a bench, in the same root
        if [[ -n ${ARM64_EXTRA:-} ]]; then # a host folder it needs, read-only at /extra
            mkdir -p "$WORK/root/extra"
            mount_into "$WORK/root/extra" --bind -o ro "$ARM64_EXTRA"
        fi
        as_cpu "$first"
        in_root "$first" "cd /src && . .venv/bin/activate && cd /artifacts && $ARM64_AFTER" \
            || status=1
        as_no_cpu
    fi
    ((status == 0)) || die "the ARM64 test set failed (output above)"
}

native() { # a real aarch64 machine: no emulation, a venv and the tests
    local python=${PYTHON:-python3}
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/anime-detector-arm64.XXXXXX")
    "$python" -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet -c "$REPO/requirements/dev-lock.txt" \
        "$REPO[cpu,ncnn,openvino]" pytest \
        && "$WORK/venv/bin/pip" install --quiet --no-deps -r "$REPO/requirements/no-deps.txt" \
        || die "pip install failed on this aarch64 machine (see above)"
    [[ -n ${ARM64_MODELS:-} ]] || say "ARM64_MODELS unset: the x86 parity tests will skip"
    (cd "$REPO" && ARM64_REPORT=$WORK/native.jsonl "$WORK/venv/bin/python" -m pytest -q $TESTS) \
        || die "the ARM64 test set failed (output above)"
    [[ -z ${ARM64_MODELS:-} ]] || "$WORK/venv/bin/python" "$REPO/ci/arm64_report.py" "$WORK/native.jsonl"
}

main() {
    local what=${1:-all}
    case $what in
        root)
            [[ $(id -u) == 0 ]] || die "building the arm64 root needs root (debootstrap, chroot)"
            need_tools
            register_qemu
            root_tarball
            ;;
        all) if [[ $(uname -m) == aarch64 ]]; then native; else emulated; fi ;;
        *) die "unknown command '$what' (use: all, root)" ;;
    esac
}

trap cleanup EXIT
main "$@"; exit  # one line: bash reads no further, so editing this file mid-run is safe
