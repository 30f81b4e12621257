"""``bgcut-stream run`` with cProfile on its main thread (the event loop's) from SIGUSR1 to exit.

Started by ``calls_per_job.py`` in place of ``python -m bgcut_stream run``:
``python bench/profiled_service.py OUT.prof run``; the profile (pstats) is written to OUT.prof.
"""

from __future__ import annotations

import atexit
import cProfile
import signal
import sys

from bgcut_stream.cli.main import app


def main() -> None:
    out = sys.argv.pop(1)
    profile = cProfile.Profile()
    enabled = []

    def enable(*_: object) -> None:
        profile.enable()
        enabled.append(True)

    def dump() -> None:
        if enabled:
            profile.disable()
            profile.dump_stats(out)

    signal.signal(signal.SIGUSR1, enable)
    atexit.register(dump)
    app()


if __name__ == "__main__":
    main()
