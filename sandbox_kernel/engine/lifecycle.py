"""How a running cell is stopped, decided once for every front-end.

Stopping goes in steps: SIGINT first (Python raises ``KeyboardInterrupt`` and keeps its state,
Bash stops the cell, Node rejects the cell), then, if the program has not stopped after
``grace`` seconds, SIGKILL to the container (the state is lost). A session abandons a timed-out
cell the same way, and a caller whose engine does not return within ``kill_wait`` seconds of the
kill gives up on it. Front-ends take these numbers from here instead of keeping their own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StopPolicy:
    """Seconds between the steps of stopping a cell."""

    grace: float = 2.0
    """From SIGINT (an interrupt, or a timeout) to SIGKILL or replacing the sandbox."""
    kill_wait: float = 15.0
    """From SIGKILL to giving up on the engine returning (it normally returns at once)."""
    output_grace: float = 1.5
    """After a one-shot container is removed at its deadline: the last bytes of its output."""


STOP = StopPolicy()
"""The policy every front-end uses."""
