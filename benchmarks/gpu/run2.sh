#!/bin/bash
# Second device step: TF32 on/off comparison (needs run.sh's setup; redoes it when the machine is fresh).
set -u
DEV=${DEV:-cuda}; PY=${PY:-python3}; OUT=${OUT:?}; SITE=${SITE:-/tmp/site}; WORK=${WORK:-/tmp/gpubench}
mkdir -p "$OUT" "$WORK"
exec > >(tee "$OUT/log2.txt") 2>&1
nvidia-smi -L 2>/dev/null
if [ ! -f "$SITE/onnxruntime/capi/libonnxruntime_providers_cuda.so" ]; then
  mkdir -p "$SITE"; "$PY" -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" .gpu/ort.tar.xz "$SITE"
fi
rm -rf "$WORK/shim"; mkdir -p "$WORK/shim"
cp -r .gpu/src/runtime "$WORK/shim/anime_detector"; cp -r .gpu/src/export "$WORK/shim/anime_detector/export"
export PYTHONPATH="$SITE:$WORK/shim" PYTHONUNBUFFERED=1 ANIME_DETECTOR_CACHE="$WORK/cache"
SP=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
[ -d "$SP/nvidia" ] && export LD_LIBRARY_PATH="$(find "$SP/nvidia" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
IMAGES=examples/sample; [ -d "$IMAGES" ] || IMAGES=
[ -f "$WORK/models/vgg19-head-tempered-fp16.onnx" ] || "$PY" .gpu/prep.py "$DEV" "$WORK/models" "$WORK/prep" $IMAGES
"$PY" .gpu/tf32.py "$DEV" "$WORK/models" "$OUT" ${IMAGES:-""} ${TF32_BATCHES:-1,8,32}
