#!/bin/bash
# GPU bench for issue 10: onnxruntime-gpu (CUDA provider) fp32 + fp16, and the CPU for scale.
# Run from the repository root:  bash .gpu/run.sh   (DEV=cpu PY=... OUT=... for a dry run)
set -u
DEV=${DEV:-cuda}
PY=${PY:-python3}
OUT=${OUT:?OUT must be set}
SITE=${SITE:-/tmp/site}
WORK=${WORK:-/tmp/gpubench}
ROOT=$PWD
mkdir -p "$OUT" "$WORK"
exec > >(tee "$OUT/log.txt") 2>&1
T0=$(date +%s%N)
stamp() { echo "=== [$(( ($(date +%s%N) - T0) / 1000000 )) ms] $*"; }

stamp "host"; uname -a; nproc; grep -m1 'model name' /proc/cpuinfo
if [ "$DEV" = cuda ]; then
  nvidia-smi -L
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
fi

stamp "unpack onnxruntime-gpu into $SITE"
if [ ! -f "$SITE/onnxruntime/capi/libonnxruntime_providers_cuda.so" ]; then
  mkdir -p "$SITE"
  "$PY" -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" \
    .gpu/ort.tar.xz "$SITE" || { echo "unpack failed"; exit 3; }
fi
du -sh "$SITE"

stamp "project snapshot $(cat .gpu/src/COMMIT) -> $WORK/shim/anime_detector"
rm -rf "$WORK/shim"; mkdir -p "$WORK/shim"
cp -r .gpu/src/runtime "$WORK/shim/anime_detector"
cp -r .gpu/src/export "$WORK/shim/anime_detector/export"
cp -r .gpu/src/train "$WORK/shim/anime_detector/train"
export PYTHONPATH="$SITE:$WORK/shim"
export PYTHONUNBUFFERED=1
export ANIME_DETECTOR_CACHE="$WORK/cache"

# CUDA 13 libraries (cuBLAS, cudart, cuRAND, cuDNN 9, cuFFT) from the image's nvidia-* wheels
SP=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
if [ -d "$SP/nvidia" ]; then
  LIBS=$(find "$SP/nvidia" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)
  export LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9 libcufft.so.12; do
  "$PY" -c "import ctypes,sys; ctypes.CDLL(sys.argv[1])" $lib 2>&1 >/dev/null | tail -1 \
    | sed "s/^/  $lib: /" || true
done
if [ "$DEV" = cuda ]; then
  "$PY" -c "import ctypes; ctypes.CDLL('$SITE/onnxruntime/capi/libonnxruntime_providers_shared.so', mode=ctypes.RTLD_GLOBAL); ctypes.CDLL('$SITE/onnxruntime/capi/libonnxruntime_providers_cuda.so'); print('provider .so dlopen ok')" 2>&1 | tail -2
fi

IMAGES=examples/sample
[ -d "$IMAGES" ] || IMAGES=
stamp "models + provider check + parity vs CPU fp32 ($DEV)"
"$PY" .gpu/prep.py "$DEV" "$WORK/models" "$OUT" $IMAGES || echo "prep.py failed: $?"

M32="$WORK/models/vgg19-head-tempered-fp32.onnx"
M16="$WORK/models/vgg19-head-tempered-fp16.onnx"
IMG_OPT=${IMAGES:+--images $IMAGES}
stamp "bench $DEV fp32 + fp16 (interleaved)"
"$PY" -m anime_detector bench "$M32" "$M16" --engines onnxruntime --device "$DEV" \
  --batch-sizes ${GPU_BATCHES:-1,8,32} --runs ${GPU_RUNS:-30} --warmup ${GPU_WARMUP:-5} $IMG_OPT \
  --no-cold-start --format table --output "$OUT/$DEV-fp32-fp16.json" || echo "bench $DEV failed: $?"

if [ "$DEV" = cuda ]; then
  stamp "bench cpu fp32 on this machine's CPU, for scale"
  "$PY" -m anime_detector bench "$M32" --engines onnxruntime --device cpu \
    --batch-sizes ${CPU_BATCHES:-1,8,32} --runs ${CPU_RUNS:-10} --warmup 2 $IMG_OPT \
    --no-cold-start --format table --output "$OUT/cpu-fp32.json" || echo "bench cpu failed: $?"
  nvidia-smi --query-gpu=name,temperature.gpu,power.draw,memory.used --format=csv
fi
stamp "done"
