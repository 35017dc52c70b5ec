# The CreativeLens image for the compose `client` and `export` jobs: the project and its pinned
# environment (PyTorch with CUDA, Detectron2, ONNX Runtime, tritonclient), installed by the same
# scripts/setup.sh that sets up a developer machine, so the two cannot drift apart.
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/creativelens
COPY . .
# setup.sh installs its apt packages (it runs as root here, so without sudo), creates .venv with
# python3.11, installs torch/torchvision, repacks Detectron2 for Python 3.11 and installs the
# project; then drop apt's lists to keep the layer small.
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/*

ENV PATH=/opt/creativelens/.venv/bin:$PATH
CMD ["creativelens", "--help"]
