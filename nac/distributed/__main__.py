"""`python -m nac.distributed worker ...` (under torchrun) or `... demo` (the elastic demo).

Exit codes (nac/exit_codes.py): 2 for an unknown or missing command; each command's own codes
otherwise (worker: 0/1/2/143, demo: 0/1/2).
"""

from __future__ import annotations

import argparse
import sys

from nac import exit_codes
from nac.cli_help import HelpFormatter

_COMMANDS = {"worker": "one torchrun rank: train, checkpoint, resume",
             "demo": "the elastic demo: 2 workers, one SIGKILLed, one added"}


def parser() -> argparse.ArgumentParser:
    """Both commands' parsers under one program (help and tests/test_cli_conventions.py);
    `main` hands the arguments to the command's own parser, which the worker needs unchanged
    under torchrun."""
    from nac.distributed import scenario, worker

    p = argparse.ArgumentParser(prog="python -m nac.distributed", description=__doc__,
                                formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name, command in (("worker", worker.parser()), ("demo", scenario.parser())):
        sub.add_parser(name, help=_COMMANDS[name], parents=[command], add_help=False,
                       description=command.description, formatter_class=HelpFormatter)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in _COMMANDS:
        if argv and argv[0] in ("-h", "--help"):
            parser().print_help()
            return exit_codes.OK
        print(f"usage: python -m nac.distributed {{{','.join(_COMMANDS)}}} [options] "
              "(--help per command)", file=sys.stderr)
        return exit_codes.BAD_INPUT
    if argv[0] == "worker":
        from nac.distributed.worker import main as worker_main

        return worker_main(argv[1:])
    from nac.distributed.scenario import main as demo_main

    return demo_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
