"""What each image target installs: the one definition docker/Dockerfile and the smoke test share.

    python image_install.py deps    --wheels DIR   # dependency wheels only (no source needed)
    python image_install.py project --wheels DIR   # the bgcut-stream wheel from the source tree
    python image_install.py install TARGET --wheels DIR [--wheels DIR]   # offline, as the image

The Dockerfile runs ``deps`` before it copies the source (a cached layer), ``project`` after, and
``install`` in each runtime stage with the wheels bind-mounted. tests/deploy/test_install_smoke.py
runs the same three commands with a clean venv's python. Every step is pinned by constraints.txt.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Image target -> extras of bgcut-stream it installs. "service" runs `bgcut-stream run`: the
# chart's default artifact store is s3://, so boto3 (the s3 extra) is part of the image.
TARGETS: dict[str, tuple[str, ...]] = {"service": ("s3",), "server": ("server",)}


def _find(name: str, start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / name).exists():
            return folder / name
    raise SystemExit(f"error: {name} not found above {start}")


def requirements(pyproject: Path) -> list[str]:
    """The dependencies of bgcut-stream plus those of every extra an image target uses."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = sorted({e for target in TARGETS.values() for e in target})
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return sorted(set(reqs))


def pip(*args: str) -> None:
    """``python -m pip`` with the interpreter running this script; fail on error."""
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd[2:])} failed")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run one step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["deps", "project", "install"])
    parser.add_argument("target", nargs="?", choices=sorted(TARGETS))
    parser.add_argument("--wheels", type=Path, action="append", required=True)
    parser.add_argument("--source", type=Path, default=None, help="Folder with pyproject.toml.")
    args = parser.parse_args(argv)
    source = args.source or _find("pyproject.toml", Path.cwd()).parent
    constraints = str(_find("constraints.txt", source))
    if args.step == "deps":
        reqs = requirements(source / "pyproject.toml")
        pip("wheel", "-q", "-c", constraints, "--wheel-dir", str(args.wheels[0]), *reqs)
    elif args.step == "project":
        pip("wheel", "-q", "--no-deps", "--wheel-dir", str(args.wheels[0]), str(source))
    else:
        if args.target is None:
            parser.error("install needs a target: " + ", ".join(sorted(TARGETS)))
        spec = f"bgcut-stream[{','.join(TARGETS[args.target])}]"
        links = [arg for folder in args.wheels for arg in ("--find-links", str(folder))]
        pip("install", "-q", "--no-index", *links, "-c", constraints, spec)


if __name__ == "__main__":
    main()
