# sitecustomize for one-shot Python programs under gVisor: gVisor's pipes accept part of a large
# write, and Python's unbuffered stdout would drop the rest; these streams retry short writes.
import io
import os
import sys

# Only this directory leaves PYTHONPATH: the one-shot plots backend's (oneshot.sh) stays for
# child Pythons, which inherit MPLBACKEND.
_path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
         if p and p != "/tmp/.sandbox-site"]
if _path:
    os.environ["PYTHONPATH"] = os.pathsep.join(_path)
else:
    os.environ.pop("PYTHONPATH", None)
del _path
sys.path[:] = [p for p in sys.path if p != "/tmp/.sandbox-site"]


class _WholeWrites(io.RawIOBase):
    def __init__(self, fd):
        self._fd = fd

    def writable(self):
        return True

    def fileno(self):
        return self._fd

    def write(self, data):
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            view = view[os.write(self._fd, view):]
        return total


for _name, _fd in (("stdout", 1), ("stderr", 2)):
    setattr(sys, _name, io.TextIOWrapper(_WholeWrites(_fd), encoding="utf-8",
                                         errors="backslashreplace", write_through=True))
