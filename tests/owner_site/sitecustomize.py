"""Loaded (through PYTHONPATH) by the processes that tests/test_owner_death.py SIGKILLs.

Their containers are labelled with the owner named in ``SANDBOX_KERNEL_TEST_OWNER``, a process the
test keeps alive, instead of themselves: no janitor of any process on this machine (other test
runs start engines all the time) can then take them for orphans, so when they disappear it was
Docker's AutoRemove. Nothing else about these processes changes.
"""

import os

_owner = os.environ.get("SANDBOX_KERNEL_TEST_OWNER")
if _owner:
    from sandbox_kernel.engine import ownership

    def _test_owner(pid: int | None = None, owner: str = _owner) -> str:
        return owner

    ownership.owner_id = _test_owner
