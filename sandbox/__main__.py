"""`python -m sandbox`: the sandbox in its own process (benchmarks, memory measurements).

The same command and flags as `hcp sandbox` (`sandbox.cli`). The first stdout line is the base
URL, so a parent process can read it. Stops on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

from sandbox.cli import main

if __name__ == "__main__":
    main()
