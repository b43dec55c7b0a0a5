# sandbox-kernel session driver for Python. Injected over stdin when the container starts (so any
# image with python3 works) and run with ``python3 -u -c SOURCE TOKEN``. Protocol: requests on the
# original stdin as "VERB ID NBYTES [ARG]\n" + payload; replies are TOKEN + JSON + "\n" on stdout
# (and a flush marker on stderr), interleaved with the user's own output.
import ast
import builtins
import inspect
import io
import json
import linecache
import os
import re
import rlcompleter
import signal
import sys
import traceback
import types

TOKEN = b"\x1e\x1f" + sys.argv[1].encode() + b"\x1f"
DRIVER_FILE = sys._getframe().f_code.co_filename
MAX_VALUE = 1024 * 1024
CGROUP_PEAK = ("/sys/fs/cgroup/memory/memory.max_usage_in_bytes", "/sys/fs/cgroup/memory.peak")

class WholeWrites(io.RawIOBase):
    """Unbuffered output that retries short writes: gVisor's pipes accept part of a large
    write, and Python's unbuffered streams would silently drop the rest."""

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
    _stream = io.TextIOWrapper(WholeWrites(_fd), encoding="utf-8", errors="backslashreplace",
                               write_through=True)
    setattr(sys, _name, _stream)
    setattr(sys, f"__{_name}__", _stream)

proto_in = os.fdopen(os.dup(0), "rb")
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process

main_module = types.ModuleType("__main__")
main_module.__dict__["__builtins__"] = builtins
sys.modules["__main__"] = main_module
namespace = main_module.__dict__
sys.argv = [""]
state = {"allow_stdin": False, "cell": "0", "count": 0, "loop": None}


def send(message, stream=1):
    for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            f.flush()
        except Exception:
            pass
    data = TOKEN + json.dumps(message).encode() + b"\n"
    while data:
        data = data[os.write(stream, data):]


def read_request():
    line = proto_in.readline()
    if not line:
        raise EOFError
    parts = line.decode().split()
    payload = proto_in.read(int(parts[2])) if int(parts[2]) else b""
    return parts[0], parts[1], parts[3:], payload.decode("utf-8", "replace")


def block_interrupts(block):
    if block:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    else:
        while signal.SIGINT in signal.sigpending():  # a late interrupt meant for an earlier cell
            signal.sigwait({signal.SIGINT})
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def request_input(prompt="", password=False):
    if not state["allow_stdin"]:
        raise EOFError("input() is not available: this frontend does not support stdin")
    send({"type": "input", "id": state["cell"], "prompt": str(prompt), "password": password})
    verb, _, args, payload = read_request()
    if verb != "input" or (args and args[0] == "0"):
        raise EOFError("no input was given")
    return payload


class ForwardedStdin:
    """sys.stdin for user code: each readline asks the frontend, like input()."""

    encoding = "utf-8"

    def readline(self, size=-1):
        try:
            return request_input() + "\n"
        except EOFError:
            return ""

    def read(self, size=-1):
        return self.readline()

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("stdin is forwarded from the notebook and has no file descriptor")


builtins.input = lambda prompt="": request_input(prompt)
try:
    import getpass

    getpass.getpass = lambda prompt="Password: ", stream=None: request_input(prompt, True)
except Exception:
    pass


def _without_driver_frames(te, seen):
    te.stack = traceback.StackSummary.from_list(
        [frame for frame in te.stack if frame.filename != DRIVER_FILE])
    for linked in (te.__cause__, te.__context__):
        if linked is not None and id(linked) not in seen:
            seen.add(id(linked))
            _without_driver_frames(linked, seen)


def user_traceback(exc):
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _without_driver_frames(te, set())
    return [piece for chunk in te.format() for piece in chunk.rstrip("\n").split("\n")]


def run_cell(code):
    state["count"] += 1
    filename = f"<cell {state['count']}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tree = ast.parse(code, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    for part, mode in ((tree, "exec"), (last, "eval")):
        if part is None:
            continue
        compiled = compile(part, filename, mode, flags=flags)
        result = eval(compiled, namespace)
        if compiled.co_flags & inspect.CO_COROUTINE:
            if state["loop"] is None:  # asyncio costs start-up time: only for top-level await
                import asyncio

                state["loop"] = asyncio.new_event_loop()
            result = state["loop"].run_until_complete(result)
        if mode == "eval" and result is not None:
            namespace["_"] = result
            text = repr(result)
            return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "..."
    return None


def peak_memory():
    for path in CGROUP_PEAK:
        try:
            with open(path) as f:
                return int(f.read())
        except (OSError, ValueError):
            continue
    return None


def complete(request):
    code, pos = request["code"], request["cursor_pos"]
    match = re.search(r"[\w.]*$", code[:pos])
    text = match.group(0) if match else ""
    completer = rlcompleter.Completer(namespace)
    matches = []
    for i in range(500):
        try:
            item = completer.complete(text, i)
        except Exception:
            break
        if item is None:
            break
        if item not in matches:
            matches.append(item)
    return {"matches": matches, "cursor_start": pos - len(text), "cursor_end": pos}


def serve():
    block_interrupts(True)
    send({"type": "ready", "pid": os.getpid()})
    while True:
        try:
            verb, cell_id, args, payload = read_request()
        except EOFError:
            return
        if verb == "run":
            state["cell"], state["allow_stdin"] = cell_id, bool(args and args[0] == "1")
            sys.stdin = ForwardedStdin() if state["allow_stdin"] else open(os.devnull)  # noqa: SIM115
            status, value, error = 0, None, None
            try:
                block_interrupts(False)
                try:
                    value = run_cell(payload)
                finally:
                    block_interrupts(True)
            except SystemExit:
                raise
            except BaseException as exc:  # noqa: BLE001 - every user error is reported, not fatal
                status = 130 if isinstance(exc, KeyboardInterrupt) else 1
                error = {"ename": type(exc).__name__, "evalue": str(exc),
                         "traceback": user_traceback(exc)}
            send({"type": "flush", "id": cell_id}, stream=2)
            send({"type": "done", "id": cell_id, "status": status, "value": value,
                  "error": error, "peak_memory": peak_memory()})
        elif verb == "complete":
            try:
                reply = complete(json.loads(payload))
            except Exception:
                reply = {"matches": [], "cursor_start": 0, "cursor_end": 0}
            send(dict(reply, type="complete", id=cell_id))
        else:
            send({"type": "done", "id": cell_id, "status": 0, "value": None, "error": None})


serve()
