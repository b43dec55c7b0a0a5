"""Rich outputs of a ``%%sandbox python`` session cell, shown in the host notebook as they come.

The engine has already applied the output policy to every bundle; this module only replays them
through the host's IPython (``display``, ``update_display``, ``clear_output``). Display ids are
prefixed with the session's name so that a sandbox can only update its own displays, never one
of the host notebook's.
"""

from __future__ import annotations

from sandbox_kernel.engine.rich import RichOutput


class SessionDisplay:
    """Shows one session cell's rich outputs in order; keeps its ``execute_result`` in ``value``,
    which the magic returns so that the host's display hook shows it as ``Out[n]``."""

    def __init__(self, session: str) -> None:
        self.session = session
        self.value: RichOutput | None = None

    def show(self, output: RichOutput) -> None:
        from IPython.display import clear_output, display

        if output.kind == "execute_result":
            self.value = output
        elif output.kind == "clear_output":
            clear_output(wait=output.wait)  # type: ignore[no-untyped-call]
        else:
            display_id = (f"sandbox-{self.session}-{output.display_id}"
                          if output.display_id is not None else None)
            update = output.kind == "update_display_data"
            if update and display_id is None:
                return
            display(dict(output.data), raw=True, metadata=dict(output.metadata),
                    display_id=display_id, update=update)  # type: ignore[no-untyped-call]
