"""``doctor --image``'s parser, with no daemon: a probe's output is hostile input."""

from __future__ import annotations

import json

import pytest

from sandbox_kernel.cli.inventory import MAX_FIELD, MAX_PACKAGES, parse_inventory
from sandbox_kernel.errors import SandboxError


def test_a_well_formed_inventory() -> None:
    output = json.dumps({"interpreter": "Python 3.11.2",
                         "packages": [["numpy", "1.24.2"], ["tabulate", "0.9.0"]]})
    found = parse_inventory("img", "python", output + "\n")
    assert (found.interpreter, found.packages) == (
        "Python 3.11.2", (("numpy", "1.24.2"), ("tabulate", "0.9.0")))


@pytest.mark.parametrize("output", [
    "", "not json", "[]", '{"interpreter": 3, "packages": []}',
    '{"interpreter": "x", "packages": {}}', "{" * 100_000, "[" * 100_000,
])
def test_malformed_output_is_a_sandbox_error(output: str) -> None:
    with pytest.raises(SandboxError, match="listing img"):
        parse_inventory("img", "python", output)


def test_everything_is_bounded_and_printable() -> None:
    packages = [["p" * 10_000, "\x1b[31mred\x07"], ["ok", 1], "junk", ["a", "b", "c"]]
    packages += [["n", "1"]] * (MAX_PACKAGES + 10)
    found = parse_inventory("img", "node", json.dumps({"interpreter": "v\n22",
                                                       "packages": packages}))
    assert found.interpreter == "v?22"
    assert found.packages[0] == ("p" * MAX_FIELD, "?[31mred?")
    assert len(found.packages) == MAX_PACKAGES - 3  # the three malformed entries are dropped
