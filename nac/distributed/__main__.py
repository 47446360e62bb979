"""`python -m nac.distributed worker ...` (under torchrun) or `... demo` (the elastic demo)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("worker", "demo"):
        print("usage: python -m nac.distributed {worker,demo} [options] (--help per command)",
              file=sys.stderr)
        return 2
    if argv[0] == "worker":
        from nac.distributed.worker import main as worker_main

        return worker_main(argv[1:])
    from nac.distributed.scenario import main as demo_main

    return demo_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
