"""The caps of the displays a cell's threads send after it ended (``SandboxSession``'s period
between cells): counted before parsing, against one cell's output caps."""

from __future__ import annotations

from sandbox_kernel.engine.rich import POLICY
from sandbox_kernel.engine.session import LateDisplays


def test_at_most_one_cells_number_of_outputs_then_full_until_the_next_period() -> None:
    late = LateDisplays()
    assert all(late.admit(10) for _ in range(POLICY.max_outputs_per_cell))
    assert not late.admit(10)
    assert late.full and late.messages == POLICY.max_outputs_per_cell
    assert LateDisplays().admit(10)  # the next period starts with fresh caps


def test_at_most_one_cells_bytes_and_a_full_period_admits_nothing_smaller() -> None:
    late = LateDisplays()
    big = POLICY.max_cell_bytes // 2
    assert late.admit(big) and late.admit(big)
    assert not late.admit(1)
    assert not late.admit(0)  # once full, nothing more in this period
    assert late.size == 2 * big


def test_the_budget_keeps_counting_across_clear_output() -> None:
    """A flood alternating displays and clears cannot reset the period's caps."""
    assert LateDisplays().budget.reset_on_clear is False
