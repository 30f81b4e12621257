"""Usage errors of every command on one line (exit code 2), instead of click's boxed usage."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer._click import exceptions  # typer vendors click; its exceptions live here
from typer.core import TyperGroup


class OneLineErrors(TyperGroup):
    """The top-level group, printing usage errors on one line.

    A missing argument, a bad value or an unknown option prints
    ``error: <what> (see <command> --help)`` on stderr and exits 2; everything else as click.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; see the class docstring for how errors are shown."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except exceptions.ClickException as exc:
            context = getattr(exc, "ctx", None)
            where = context.command_path if context is not None else "bgcut-stream"
            message = " ".join(exc.format_message().split())
            typer.echo(f"error: {message} (see {where} --help)", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        # Non-standalone mode returns the Exit code, or a command's return value (ignored).
        sys.exit(code if isinstance(code, int) else 0)
