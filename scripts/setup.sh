#!/usr/bin/env bash
# Sets up everything CreativeLens needs on a fresh Debian 12 machine: system packages, the
# virtual environment at .venv/, PyTorch, Detectron2 and the project itself. Idempotent: a
# second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd   # OCR engine + models
  fonts-liberation fonts-dejavu-core                  # fonts for rendered OCR test images
  fonts-noto-core fonts-freefont-ttf fonts-urw-base35 fonts-comfortaa   # the OCR eval's held-out split (other fonts)
  opencv-doc                                          # real sample media: vtest.avi, messi5.jpg, ...
  docker-compose                                      # validates docker-compose.yml (no engine needed)
  curl                                                # the README's wait for a ready server
  openjdk-17-jre-headless                             # Java for PySpark 4 (creativelens spark)
  chromium chromium-driver                            # headless browser for the report's tests (creativelens report)
)
DETECTRON2_WHEEL=sal_detectron2-0.7.2-cp310-none-any.whl
DETECTRON2_SHA256=491af0c7f79bdb2d178e46f6cb16a97c4ac968d45c41ea3f6b6435d59bbee561
PYTHON=${PYTHON:-python3.11}
VENV=.venv

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o=Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)

if ! "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  echo "setup: installing torch (large: a few minutes the first time)"
  "${PIP[@]}" "torch==2.14.1" "torchvision==0.29.1" "setuptools>=77.0.3,<81" "wheel==0.45.1"
fi

# Detectron2 is not on PyPI. sal-detectron2 0.7.2 is upstream Detectron2 (April 2024) packed as a
# cp310 wheel; its pure-Python part runs on 3.11 (Faster R-CNN needs no compiled _C: torchvision
# supplies ROIAlign and NMS). Repack it as py3-none-any without the 3.10-only extension.
if ! "$VENV/bin/python" -c "import detectron2.modeling" 2>/dev/null; then
  echo "setup: installing detectron2 (sal-detectron2 0.7.2, repacked for Python 3.11)"
  work=$(mktemp -d)
  "$VENV/bin/python" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.10 \
    -d "$work" "sal-detectron2==0.7.2"
  echo "$DETECTRON2_SHA256  $work/$DETECTRON2_WHEEL" | sha256sum --check --quiet
  (cd "$work" && "$OLDPWD/$VENV/bin/python" -m wheel unpack --dest unpacked "$DETECTRON2_WHEEL")
  root=$(echo "$work"/unpacked/*)
  rm -f "$root"/detectron2/_C.*.so
  rm -rf "$root/tools"
  distinfo=$(echo "$root"/*.dist-info)
  sed -i '/^tools$/d' "$distinfo/top_level.txt"
  sed -i -E '/^Requires-Dist: (black|tensorboard)/d' "$distinfo/METADATA"  # dev/training-only
  sed -i -e 's/^Root-Is-Purelib: .*/Root-Is-Purelib: true/' -e 's/^Tag: .*/Tag: py3-none-any/' "$distinfo/WHEEL"
  grep -v '^tools/' "$distinfo/RECORD" | grep -v '_C\.cpython' > "$distinfo/RECORD.new"
  mv "$distinfo/RECORD.new" "$distinfo/RECORD"
  mkdir -p "$work/dist"
  "$VENV/bin/python" -m wheel pack --dest-dir "$work/dist" "$root" >/dev/null
  "${PIP[@]}" --no-deps "$work"/dist/*.whl
  rm -rf "$work"
fi

echo "setup: installing creativelens and its pinned dependencies"
"${PIP[@]}" -e ".[dev,spark]"
# The OCR service's text detector: PP-OCRv4 ONNX files inside the wheel (offline). --no-deps:
# it asks for opencv-python (the GUI build), which would clash with opencv-python-headless.
"${PIP[@]}" --no-deps "rapidocr-onnxruntime==1.4.4"
"$VENV/bin/python" -m creativelens.ocr_service.build_protos
echo "setup: done ($VENV)"
