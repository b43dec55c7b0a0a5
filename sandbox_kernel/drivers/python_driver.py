# sandbox-kernel session driver for Python. Injected over stdin when the container starts (so any
# image with python3 works) and run with ``python3 -u -c SOURCE NONCE``. The protocol (requests on
# the original stdin, frames on stdout and stderr) is drivers/PROTOCOL.md, version 2.
import ast
import builtins
import hashlib
import inspect
import io
import json
import linecache
import os
import queue
import re
import rlcompleter
import signal
import sys
import threading
import traceback
import types

BOOT_NONCE = sys.argv[1]
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

# The control channel moves to a private, close-on-exec descriptor; user code gets /dev/null.
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
state = {"allow_stdin": False, "nonce": BOOT_NONCE, "count": 0, "loop": None}
requests = queue.Queue()


def send(message, stream=1):
    """One frame: RS US NONCE US SIZE US JSON LF, written whole."""
    for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            f.flush()
        except Exception:
            pass
    body = json.dumps(message).encode()
    data = b"\x1e\x1f%s\x1f%d\x1f%s\n" % (state["nonce"].encode(), len(body), body)
    while data:
        data = data[os.write(stream, data):]


def read_control():
    """The control channel's reader: queues requests; at end of file (the host is gone) the
    driver exits at once, even while a cell runs, and the container with it."""
    try:
        while True:
            line = proto_in.readline(256)
            parts = line.decode("ascii", "replace").split()
            if not line.endswith(b"\n") or len(parts) < 3 or not parts[2].isdigit():
                break
            size = int(parts[2])
            payload = proto_in.read(size) if size else b""
            if len(payload) != size:
                break
            requests.put((parts[0], parts[1], parts[3:], payload))
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


def read_request():
    verb, nonce, args, payload = requests.get()
    return verb, nonce, args, payload


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
    send({"type": "input", "prompt": str(prompt), "password": bool(password)})
    verb, _, args, payload = read_request()
    if verb != "input" or (args and args[0] == "0"):
        raise EOFError("no input was given")
    return payload.decode("utf-8", "replace")


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
    threading.Thread(target=read_control, name="control", daemon=True).start()
    send({"type": "ready", "pid": os.getpid(), "ipython": False,
          "version": sys.version.split()[0]})
    while True:
        verb, nonce, args, data = read_request()
        state["nonce"] = nonce
        payload = data.decode("utf-8", "replace")
        if verb == "run":
            send({"type": "ack", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
            state["allow_stdin"] = bool(args and args[0] == "1")
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
            if value is not None:
                send({"type": "execute_result", "data": {"text/plain": value}, "metadata": {},
                      "execution_count": state["count"]})
            send({"type": "flush"}, stream=2)
            send({"type": "done", "status": status, "error": error,
                  "execution_count": state["count"], "peak_memory": peak_memory(),
                  "payload": []})
        elif verb == "complete":
            try:
                reply = complete(json.loads(payload))
            except Exception:
                reply = {"matches": [], "cursor_start": 0, "cursor_end": 0}
            send(dict(reply, type="complete"))
        elif verb == "inspect":
            send({"type": "inspect", "found": False, "data": {}, "metadata": {}})
        elif verb == "is_complete":
            send({"type": "is_complete", "status": "unknown", "indent": ""})


serve()
