"""`onnxscore` entry point: a click group whose default subcommand is `score`."""
from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import traceback


def _interrupted_while_starting(signum, frame):  # noqa: ARG001 - signal handler signature
    """Ctrl-C before main() runs (Python still importing): one line, no traceback."""
    os.write(2, b"onnxscore: interrupted\n")
    os._exit(130)


_AS_COMMAND = __name__ == "__main__" or os.path.basename(sys.argv[0]).split(".")[0] == "onnxscore"
if _AS_COMMAND and signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # the command, not an import
    signal.signal(signal.SIGINT, _interrupted_while_starting)

import click  # noqa: E402

from onnxscore import __version__  # noqa: E402
from onnxscore.errors import OnnxscoreError, first_line  # noqa: E402

# Each name is a module onnxscore/cli/<name>.py exposing a click command called `command`.
SUBCOMMANDS = ["score", "proxies", "rank", "convert", "evaluate", "search", "select"]
DEFAULT = "score"


class DefaultGroup(click.Group):
    """`onnxscore model.onnx ...` means `onnxscore score model.onnx ...`."""

    def list_commands(self, ctx):
        return list(SUBCOMMANDS)

    def get_command(self, ctx, name):
        if name not in SUBCOMMANDS:
            return None
        return importlib.import_module(f"onnxscore.cli.{name.replace('-', '_')}").command

    def parse_args(self, ctx, args):
        if args and args[0] not in SUBCOMMANDS and args[0] not in ("--help", "-h", "--version"):
            args = [DEFAULT, *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]},
             invoke_without_command=False)
@click.version_option(__version__, prog_name="onnxscore")
def cli():
    """Score untrained ONNX models with training-free NAS proxies: activation patterns (ePADS, NASWOT,
    SWAP), gradients (SNIP, GraSP, synflow, NTK, ZiCo, ...), AZ-NAS, VKDNW and their ensembles.

    `onnxscore MODEL --proxy epads` is short for `onnxscore score MODEL --proxy epads`.
    Add --debug anywhere to see tracebacks.
    """


@contextlib.contextmanager
def _debug_environment(debug: bool):
    """With --debug, ONNXSCORE_DEBUG=1 for the command (worker processes inherit it): onnxruntime's own
    log lines are then shown (onnxscore.runtime.ort_log_severity). The previous value is restored."""
    if not debug:
        yield
        return
    saved = os.environ.get("ONNXSCORE_DEBUG")
    os.environ["ONNXSCORE_DEBUG"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("ONNXSCORE_DEBUG", None)
        else:
            os.environ["ONNXSCORE_DEBUG"] = saved


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's flush at exit cannot fail a second time."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line on stderr and exit 2 (tracebacks only with --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        if args and not {"-h", "--help", "--version"} & set(args):
            import onnxscore.scorer  # noqa: F401  (numpy, onnx, onnxruntime: a Ctrl-C here exits quietly too)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # from here Ctrl-C raises KeyboardInterrupt
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    if not args:
        click.echo(cli.get_help(click.Context(cli, info_name="onnxscore")))
        click.echo("onnxscore: error: no model or command given; e.g. onnxscore samples/tiny_cnn.onnx", err=True)
        return 2
    try:
        with _debug_environment(debug):
            code = cli.main(args=args, prog_name="onnxscore", standalone_mode=False)
            sys.stdout.flush()  # a full disk or closed pipe behind stdout shows here, not at exit
    except OnnxscoreError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"onnxscore: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("onnxscore: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"onnxscore: error: {exc.format_message()}", err=True)
        return exc.exit_code if exc.exit_code else 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("onnxscore: interrupted", err=True)
        return 130
    except OSError as exc:  # the environment (full disk, closed pipe, too long a name), not a bug of ours
        if debug:
            traceback.print_exc()
        _silence_stdout()
        where = f": {exc.filename}" if exc.filename else " writing the output"
        click.echo(f"onnxscore: error: {(exc.strerror or first_line(exc)).lower()}{where}", err=True)
        return 2
    except Exception as exc:  # a bug of ours: still one line unless --debug
        if debug:
            traceback.print_exc()
        msg = first_line(exc, "")
        click.echo(f"onnxscore: internal error: {type(exc).__name__}: {msg} (rerun with --debug "
                   "for the traceback and report it)", err=True)
        return 1
    return code if type(code) is int else 0  # a command's exit code (e.g. score: some model failed)


if __name__ == "__main__":
    sys.exit(main())
