"""The help formatter of every CLI of the project: line breaks kept, defaults shown.

Why not argparse's `ArgumentDefaultsHelpFormatter` alone: it reflows the module docstrings
that serve as descriptions (their usage blocks would run together), and it prints
"(default: None)" / "(default: False)" for options that have no default, which says nothing.
This formatter keeps the description as written and appends "(default: X)" only where there
is a value to show and the help text does not already show it. tests/test_cli_conventions.py
walks every parser with `shows_default`, so a new option without help fails the suite.
Standard library only (the lean suggestion image uses it).
"""

from __future__ import annotations

import argparse

__all__ = ["HelpFormatter", "add_listen_options", "add_training_flags", "port_number",
           "shows_default"]


def shows_default(action: argparse.Action) -> bool:
    """Whether `action` has a default worth printing in --help.

    Not: flags (store_true, count, help: nargs 0), hidden options, None, "" (the help says
    what empty means) and empty lists of repeatable options; positionals only when they are
    optional (nargs ? or *).
    """
    if action.help == argparse.SUPPRESS or action.nargs == 0:
        return False
    if action.default is argparse.SUPPRESS or action.default in (None, "", []):
        return False
    return bool(action.option_strings) or action.nargs in (argparse.OPTIONAL,
                                                           argparse.ZERO_OR_MORE)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Description and epilog as written; "(default: X)" after every option that has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or not shows_default(action):
            return text
        return f"{text} (default: %(default)s)"


def port_number(text: str) -> int:
    """argparse type of a TCP port (0 = any free one): a bad value exits 2 naming the flag."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0-65535)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (0-65535)")
    return port


def add_listen_options(p: argparse.ArgumentParser, *, port: int, host: str) -> None:
    """--port, --host and --log-level of a gRPC service (suggestion, early stopping)."""
    p.add_argument("--port", type=port_number, default=port, help="listen port (0 = any free port)")
    p.add_argument("--host", default=host, help="listen address")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="level of the log lines on stderr")


def add_training_flags(p: argparse.ArgumentParser, *, seed_help: str) -> None:
    """The network and SGD flags every training CLI shares (the trial CLI, the DDP worker).

    `--batch-size` is the global batch and `--lr` its learning rate in both, so a trial and a
    torchrun job given the same flags train the same recipe (docs/distributed.md).
    """
    p.add_argument("--architecture",
                   help="spec as JSON, b64:<base64url JSON> or @path (default: the initial "
                        "EnvelopeNet for the data's shape)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs")
    p.add_argument("--batch-size", type=int, default=64,
                   help="the global batch size (all workers together)")
    p.add_argument("--lr", type=float, default=0.05, help="learning rate of the global batch")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--weight-decay", type=float, default=3e-4, help="SGD weight decay")
    p.add_argument("--dropout", type=float, default=None,
                   help="overrides the spec's branch and head dropout (default: the spec's)")
    p.add_argument("--seed", type=int, default=0, help=seed_help)
