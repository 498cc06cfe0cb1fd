"""`vre`: one command line for every part of the project.

Each subcommand is a module in `vre_cli/commands/` with NAME, HELP, `add_arguments(parser)` and
`run(args) -> int`; they are found by listing that package, so adding a part never edits this
file. Subcommand modules import their heavy dependencies (TF, TFX, Beam) inside `run`, so that
`vre --help` stays fast.
"""

import argparse
import importlib
import pkgutil
import sys

from vre_cli import commands
from vre_common import quiet_output


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{commands.__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vre", description="Watch It Twice video captioning (VRE) on the TensorFlow stack."
    )
    # Every subcommand takes --verbose (read before parsing too: see console_main).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", action="store_true",
        help=f"show third-party logs and warnings (TensorFlow, absl, Beam...); "
        f"also {quiet_output.VERBOSE_ENV}=1",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(
            module.NAME, help=module.HELP, description=module.HELP, parents=[common]
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.verbose = args.verbose or quiet_output.is_verbose([])
    return int(args._run(args) or 0)


def console_main() -> int:
    """The `vre` executable: quiet output (unless --verbose) set up before anything is imported."""
    quiet_output.install()
    return main()


if __name__ == "__main__":
    sys.exit(console_main())
