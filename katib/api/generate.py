"""Regenerate the committed Python stubs from ``api.proto`` (``make proto``).

grpcio-tools writes ``import api_pb2`` into the service module, which only works with the
output directory on ``sys.path`` (Katib's way); we rewrite it to a package-relative import so
``katib.api`` is an ordinary package.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "api.proto"
_ABSOLUTE_IMPORT = re.compile(r"^import api_pb2 as ", re.MULTILINE)


def generate(out_dir: Path = HERE) -> list[Path]:
    """Run protoc on api.proto into ``out_dir`` and fix the stub import; return written files."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{HERE}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        str(HERE / PROTO),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for {HERE / PROTO}")
    grpc_module = out_dir / "api_pb2_grpc.py"
    text = grpc_module.read_text()
    grpc_module.write_text(_ABSOLUTE_IMPORT.sub("from . import api_pb2 as ", text))
    return [out_dir / name for name in ("api_pb2.py", "api_pb2.pyi", "api_pb2_grpc.py")]


def main() -> int:
    for path in generate():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
