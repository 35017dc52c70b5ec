"""Generate the Python gRPC code for `ocr.proto` beside it (run at install time).

protoc names imports after the proto's path below its include root, so the proto is staged as
`creativelens/ocr_service/ocr.proto`: the generated `ocr_pb2_grpc.py` then imports
`from creativelens.ocr_service import ocr_pb2`, which resolves wherever the package is installed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROTO_NAME = "ocr.proto"
GENERATED = ("ocr_pb2.py", "ocr_pb2.pyi", "ocr_pb2_grpc.py")


def build(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as staging:
        staging = Path(staging)
        staged_package = staging / "creativelens" / "ocr_service"
        staged_package.mkdir(parents=True)
        shutil.copy(package_dir / PROTO_NAME, staged_package / PROTO_NAME)
        well_known_protos = resources.files("grpc_tools") / "_proto"
        status = protoc.main([
            "grpc_tools.protoc",
            f"-I{staging}",
            f"-I{well_known_protos}",
            f"--python_out={staging}",
            f"--pyi_out={staging}",
            f"--grpc_python_out={staging}",
            str(staged_package / PROTO_NAME),
        ])
        if status != 0:
            raise RuntimeError(f"protoc failed on {package_dir / PROTO_NAME} (exit {status})")
        written = []
        for name in GENERATED:
            target = package_dir / name
            shutil.copy(staged_package / name, target)
            written.append(target)
    return written


def main() -> int:
    for path in build():
        print(f"generated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
