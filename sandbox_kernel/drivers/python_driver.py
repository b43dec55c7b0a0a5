# sandbox-kernel session driver for Python (see PROTOCOL.md). Injected over stdin when the container
# starts (so any image with python3 works) and run with ``python3 -u -c SOURCE TOKEN``.
#
# Cells run in IPython's InteractiveShell when the image has IPython (magics, !cmd, ?, the display
# formatter, tracebacks, inline matplotlib: the same library ipykernel uses), with a display
# publisher and display hook that write protocol frames instead of ZMQ messages. Without IPython a
# small plain runner keeps the interpreter's state and reports IPython syntax as unavailable.
#
# Layout: framing (send, read_control, read_request) | process set-up | plain runner |
# IPython runner | serve.
import builtins
import hashlib
import io
import json
import os
import queue
import signal
import sys
import threading
import types

# -- framing (PROTOCOL.md, version 2) ----------------------------------------------------------

# Arguments: MAX_MESSAGE NONCE (the nonce last). MAX_MESSAGE is the host's message cap in bytes.
BOOT_NONCE = sys.argv[-1]
MAX_MESSAGE = int(sys.argv[-2]) if len(sys.argv) > 2 and sys.argv[-2].isdigit() else 4 << 20
RICH = {"display": "display_data", "execute_result": "execute_result"}
# "run": the nonce of the last run request, which displays carry (a thread's, after its cell).
state = {"allow_stdin": False, "nonce": BOOT_NONCE, "run": BOOT_NONCE, "loop": None,
         "error": None, "in_cell": False}
# One input exchange at a time, and only while a cell runs: a thread that asks after its cell
# ended would otherwise read the host's next request as its answer (and the next cell hang).
input_lock = threading.Lock()
requests = queue.Queue()


def _json_default(value):
    if isinstance(value, (bytes, bytearray, memoryview)):  # image/png from formatters
        import base64

        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def _write(fd, data):
    while data:
        data = data[os.write(fd, data):]


def _size_text(size):
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size / 1024:.1f} KiB"


def _shrink(value, limit):
    """``value`` with every string cut to ``limit`` characters and every list and object to
    ``limit`` items; a cut string, and a cut list of strings, end with a visible marker."""
    if isinstance(value, str):
        if len(value) <= limit:
            return value
        return value[:limit] + (f"... [sandbox-kernel: truncated, {len(value) - limit} "
                                "characters not shown]")
    if isinstance(value, (list, tuple)):
        items = [_shrink(item, limit) for item in value[:limit]]
        if len(value) > limit and all(isinstance(item, str) for item in items):
            items.append(f"[sandbox-kernel: truncated, {len(value) - limit} more lines not shown]")
        return items
    if isinstance(value, dict):
        return {key: _shrink(item, limit) for key, item in list(value.items())[:limit]}
    return value


def bounded(message):
    """The JSON body of ``message`` within MAX_MESSAGE bytes, or ``None`` if it is not sent.

    Over the cap, rich output (``display``, ``execute_result``) is dropped with a note on stderr,
    worded as the host's output policy words its own; any other message keeps its kind and its
    small fields, its long strings and lists truncated with a marker (a ``done`` always arrives)."""
    body = json.dumps(message, default=_json_default).encode()
    if len(body) <= MAX_MESSAGE:
        return body
    kind = message.get("type")
    if kind in RICH:
        name = "update_display_data" if message.get("update") else RICH[kind]
        article = "an" if name == "execute_result" else "a"
        _write(2, (f"[sandbox-kernel] dropped {article} {name} output "
                   f"({_size_text(len(body))}): the message is larger than "
                   f"{_size_text(MAX_MESSAGE)}\n").encode())
        return None
    plain = json.loads(body)  # JSON values only: what _shrink cuts is what is sent
    limit = MAX_MESSAGE // 8
    while limit >= 64:
        body = json.dumps(_shrink(plain, limit)).encode()
        if len(body) <= MAX_MESSAGE:
            return body
        limit //= 4
    small = {key: value for key, value in plain.items()
             if isinstance(value, (bool, int, float)) or value is None}
    if kind == "done":
        error = plain.get("error")
        small.update(payload=[], error=error and {
            "ename": _shrink(str(error.get("ename")), 64),
            "evalue": "[sandbox-kernel: the error was too large to send]", "traceback": []})
    return json.dumps(dict(small, type=kind)).encode()


def send(message, stream=1, nonce=None):
    """One frame about the current request (or the request ``nonce``): RS US NONCE US SIZE US
    JSON LF, written whole; flushes the user's streams first so that frames and text keep their
    order. The JSON is at most MAX_MESSAGE bytes (``bounded``): a bigger frame would be dropped
    by the host."""
    for f in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            f.flush()
        except Exception:
            pass
    body = bounded(message)
    if body is not None:
        nonce = nonce or state["nonce"]
        _write(stream, b"\x1e\x1f%s\x1f%d\x1f%s\n" % (nonce.encode(), len(body), body))


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
    """``(verb, nonce, args, payload bytes)`` of the next request."""
    return requests.get()


def acknowledge(data):
    send({"type": "ack", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})


# -- process set-up ----------------------------------------------------------------------------

MAX_VALUE = 1024 * 1024
MAX_EXPRESSION_BYTES = 256 * 1024  # one user_expressions result, as JSON
MAX_EXPRESSIONS_BYTES = 1024 * 1024  # all of them: the done frame stays under the message cap
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
os.set_inheritable(proto_in.fileno(), False)
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
sys.stdin = open(os.devnull)  # noqa: SIM115 - lives as long as the process

main_module = types.ModuleType("__main__")
main_module.__dict__["__builtins__"] = builtins
sys.modules["__main__"] = main_module
namespace = main_module.__dict__
sys.argv = [""]
_tmp = os.environ.get("TMPDIR") or "/tmp"
# Tool state goes to /tmp, not to the user's workspace (HOME).
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_tmp, "matplotlib"))
os.environ.setdefault("IPYTHONDIR", os.path.join(_tmp, "ipython"))


def block_interrupts(block):
    if block:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    else:
        while signal.SIGINT in signal.sigpending():  # a late interrupt meant for an earlier cell
            signal.sigwait({signal.SIGINT})
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def request_input(prompt="", password=False):
    with input_lock:
        if not state["in_cell"]:
            raise EOFError("input() after its cell ended (a background thread): "
                           "there is no cell to ask for it")
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


def peak_memory():
    for path in CGROUP_PEAK:
        try:
            with open(path) as f:
                return int(f.read())
        except (OSError, ValueError):
            continue
    return None


# -- plain runner (no IPython in the image) ----------------------------------------------------

DRIVER_FILE = sys._getframe().f_code.co_filename
IPYTHON_SYNTAX = r"^[ \t]*(%|!)|^[ \t]*\?|\?[ \t]*$"


class PlainRunner:
    """Runs cells with ``compile``/``eval``: the value of a last expression, top-level await."""

    def __init__(self):
        self.count = 0

    def run(self, code):
        import ast
        import linecache

        self.count += 1
        filename = f"<cell {self.count}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        try:
            tree = ast.parse(code, filename, "exec")
        except SyntaxError as exc:
            import re

            if re.search(IPYTHON_SYNTAX, code, re.M):
                raise SyntaxError(
                    "IPython syntax (%magic, !command, ?help) needs IPython: this sandbox image "
                    f"lacks IPython (python {sys.version.split()[0]}); {exc.msg}") from None
            raise
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        for part, mode in ((tree, "exec"), (last, "eval")):
            if part is None:
                continue
            compiled = compile(part, filename, mode, flags=flags)
            result = eval(compiled, namespace)
            if compiled.co_flags & 0x80:  # CO_COROUTINE
                if state["loop"] is None:  # asyncio costs start-up time: only for top-level await
                    import asyncio

                    state["loop"] = asyncio.new_event_loop()
                result = state["loop"].run_until_complete(result)
            if mode == "eval" and result is not None:
                namespace["_"] = result
                text = repr(result)
                text = text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "..."
                send({"type": "execute_result", "data": {"text/plain": text}, "metadata": {},
                      "execution_count": self.count})

    def execute(self, code):
        try:
            self.run(code)
        except BaseException as exc:  # noqa: BLE001 - every user error is reported, not fatal
            if isinstance(exc, SystemExit):
                raise
            return self.error(exc)
        return None

    def user_expressions(self, expressions):
        """``eval`` of each expression in the namespace: its ``repr``, or the error."""
        results = {}
        for name, expression in expressions.items():
            try:
                text = repr(eval(expression, namespace))
                text = text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "..."
                results[name] = {"status": "ok", "data": {"text/plain": text}, "metadata": {}}
            except Exception as exc:  # noqa: BLE001 - reported per expression, as IPython does
                results[name] = dict(self.error(exc), status="error")
        return results

    @staticmethod
    def error(exc):
        import traceback

        def strip(te, seen):
            te.stack = traceback.StackSummary.from_list(
                [frame for frame in te.stack if frame.filename != DRIVER_FILE])
            for linked in (te.__cause__, te.__context__):
                if linked is not None and id(linked) not in seen:
                    seen.add(id(linked))
                    strip(linked, seen)

        te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        strip(te, set())
        lines = [piece for chunk in te.format() for piece in chunk.rstrip("\n").split("\n")]
        return {"ename": type(exc).__name__, "evalue": str(exc), "traceback": lines}

    def complete(self, code, pos):
        import re
        import rlcompleter

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

    def inspect(self, code, pos, detail_level):
        return {"found": False, "data": {}, "metadata": {}}

    def is_complete(self, code):
        import codeop

        try:
            compiled = codeop.compile_command(code, "<cell>", "exec")
        except (SyntaxError, ValueError, OverflowError):
            return {"status": "invalid", "indent": ""}
        return {"status": "incomplete" if compiled is None else "complete", "indent": ""}

    @property
    def execution_count(self):
        return self.count

    def take_payload(self):
        return []


# -- IPython runner ----------------------------------------------------------------------------


def make_ipython_runner():
    """An ``InteractiveShell`` that reports over the protocol; imported only when IPython is."""
    from IPython.core import page
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets import Type
    from traitlets.config import Config

    class FramePublisher(DisplayPublisher):
        """``display()``, ``update_display`` and ``clear_output`` as protocol frames, always
        about the last cell: a thread's display after its cell ended (even during a completion
        request) is that cell's late display (PROTOCOL.md, "Output after the cell")."""

        def publish(self, data, metadata=None, source=None, *, transient=None, update=False,
                    **kwargs):
            send({"type": "display", "data": data, "metadata": metadata or {},
                  "transient": transient or {}, "update": bool(update)}, nonce=state["run"])

        def clear_output(self, wait=False):
            send({"type": "clear_output", "wait": bool(wait)}, nonce=state["run"])

    class FrameDisplayHook(DisplayHook):
        """The value of a cell's last expression (``Out[n]``) as an ``execute_result`` frame."""

        bundle = None

        def start_displayhook(self):
            self.bundle = None

        def write_output_prompt(self):
            pass

        def write_format_data(self, format_dict, md_dict=None):
            self.bundle = (format_dict, md_dict or {})

        def finish_displayhook(self):
            if self.bundle is not None and self.bundle[0]:
                send({"type": "execute_result", "data": self.bundle[0],
                      "metadata": self.bundle[1], "execution_count": self.prompt_count})
            self.bundle = None

    class SandboxShell(InteractiveShell):
        """ipykernel's shell behaviour (payloads, pager, ask_exit) without ZMQ."""

        displayhook_class = Type(FrameDisplayHook)
        display_pub_class = Type(FramePublisher)

        def init_environment(self):
            # As ipykernel: no interactive pagers, colours for tools that support them.
            os.environ.update(TERM="xterm-color", CLICOLOR="1", FORCE_COLOR="1",
                              CLICOLOR_FORCE="1", PAGER="cat", GIT_PAGER="cat")

        def init_virtualenv(self):
            pass

        def init_hooks(self):
            super().init_hooks()
            self.set_hook("show_in_pager", page.as_hook(self.payload_page), 99)

        def payload_page(self, strg, start=0, screen_lines=0, pager_cmd=None):
            data = strg if isinstance(strg, dict) else {"text/plain": strg}
            self.payload_manager.write_payload({"source": "page", "data": data,
                                                "start": max(0, start)})

        def ask_exit(self):
            self.payload_manager.write_payload({"source": "ask_exit", "keepkernel": False})

        def set_next_input(self, text, replace=False):
            self.payload_manager.write_payload({"source": "set_next_input", "text": text,
                                                "replace": replace})

        def enable_gui(self, gui=None):
            if gui not in (None, "inline"):
                raise UsageError(f"GUI event loops ({gui}) are not available in the sandbox; "
                                 "use %matplotlib inline")

        def _showtraceback(self, etype, evalue, stb):
            state["error"] = {"ename": str(etype.__name__), "evalue": str(evalue),
                              "traceback": stb}

    # Headless figures, as ipykernel shows them: matplotlib-inline draws with Agg and displays
    # PNGs at the end of the cell and on plt.show(); an image's plain "Agg" default gives way.
    if os.environ.get("MPLBACKEND", "agg").lower() == "agg":
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = SandboxShell.instance(config=config, user_module=main_module)
    return IPythonRunner(shell)


class IPythonRunner:
    """Cells, completion and inspection by an InteractiveShell, as ipykernel does them."""

    def __init__(self, shell):
        self.shell = shell
        self.execution_count = shell.execution_count

    def execute(self, code):
        self.execution_count = self.shell.execution_count
        state["error"] = None
        result = self.shell.run_cell(code, store_history=True)
        if result.success:
            return None
        err = result.error_before_exec or result.error_in_exec
        error = state["error"] or {"traceback": []}
        return {"ename": type(err).__name__, "evalue": str(err),
                "traceback": error["traceback"]}

    def user_expressions(self, expressions):
        """IPython's own evaluation (``InteractiveShell.user_expressions``), as ipykernel's."""
        return self.shell.user_expressions(expressions)

    def take_payload(self):
        payload = self.shell.payload_manager.read_payload()
        self.shell.payload_manager.clear_payload()
        return payload

    def complete(self, code, pos):
        from IPython.core.completer import provisionalcompleter, rectify_completions

        with provisionalcompleter():
            found = list(rectify_completions(code, self.shell.Completer.completions(code, pos)))
        if not found:
            return {"matches": [], "cursor_start": pos, "cursor_end": pos, "metadata": {}}
        details = [{"start": c.start, "end": c.end, "text": c.text, "type": c.type,
                    "signature": c.signature} for c in found]
        return {"matches": [c.text for c in found], "cursor_start": found[0].start,
                "cursor_end": found[0].end,
                "metadata": {"_jupyter_types_experimental": details}}

    def inspect(self, code, pos, detail_level):
        from IPython.utils.tokenutil import token_at_cursor

        name = token_at_cursor(code, pos)
        try:
            bundle = self.shell.object_inspect_mime(name, detail_level=detail_level)
        except KeyError:
            return {"found": False, "data": {}, "metadata": {}}
        if not self.shell.enable_html_pager:
            bundle.pop("text/html", None)
        return {"found": True, "data": bundle, "metadata": {}}

    def is_complete(self, code):
        status, indent = self.shell.input_transformer_manager.check_complete(code)
        return {"status": status, "indent": " " * (indent or 0)}


# -- serve -------------------------------------------------------------------------------------


def has_ipython():
    from importlib.util import find_spec

    try:
        return find_spec("IPython") is not None
    except (ImportError, ValueError):
        return False


def load_runner(ipython):
    """The IPython runner when the image has IPython, else the plain one; ``(runner, failure)``.

    Loaded before ``ready``: the host's start-up (a kernel starts its sandbox in the background)
    overlaps it, and a cell's timeout never pays for it."""
    if not ipython:
        return PlainRunner(), None
    try:
        return make_ipython_runner(), None
    except BaseException as exc:  # noqa: BLE001 - a broken IPython: run plain, say why
        return PlainRunner(), f"{type(exc).__name__}: {exc}"


def bounded_expressions(results):
    """``user_expressions`` results that fit in a ``done`` frame: each at most
    ``MAX_EXPRESSION_BYTES`` of JSON and all at most ``MAX_EXPRESSIONS_BYTES``, or an error
    entry saying it was too large."""
    bounded, total = {}, 0
    for name, value in results.items():
        size = len(json.dumps(value, default=_json_default))
        if size > MAX_EXPRESSION_BYTES or total + size > MAX_EXPRESSIONS_BYTES:
            value = {"status": "error", "ename": "ValueError", "traceback": [],
                     "evalue": "the result is too large to send "
                               f"({size} bytes; at most {MAX_EXPRESSION_BYTES} each, "
                               f"{MAX_EXPRESSIONS_BYTES} in all)"}
        else:
            total += size
        bounded[name] = value
    return bounded


def run_request(runner, payload, expressions=None):
    """Run one cell; with ``expressions`` (``{name: code}``), evaluate them after a cell that
    succeeded and send the results in ``done.user_expressions`` (``{}`` after a failure, as
    ipykernel does)."""
    status, error, results = 0, None, {}
    state["in_cell"] = True
    try:
        block_interrupts(False)
        try:
            error = runner.execute(payload)
            if error is None and expressions:
                results = bounded_expressions(runner.user_expressions(expressions))
        finally:
            block_interrupts(True)
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - an interrupt outside the cell's own code
        error = PlainRunner.error(exc)
    if error is not None:
        status = 130 if error["ename"] == "KeyboardInterrupt" else 1
    with input_lock:  # a thread's exchange in progress ends first; later ones read end of input
        state["in_cell"] = False
    send({"type": "flush"}, stream=2)
    done = {"type": "done", "status": status, "error": error,
            "execution_count": runner.execution_count, "peak_memory": peak_memory(),
            "payload": runner.take_payload()}
    if expressions is not None:
        done["user_expressions"] = results
    send(done)


def serve():
    block_interrupts(True)
    runner, failure = load_runner(has_ipython())
    threading.Thread(target=read_control, name="control", daemon=True).start()
    send({"type": "ready", "pid": os.getpid(), "ipython": isinstance(runner, IPythonRunner),
          "version": sys.version.split()[0]})
    answers = {"complete": lambda r, q: r.complete(q["code"], q["cursor_pos"]),
               "inspect": lambda r, q: r.inspect(q["code"], q["cursor_pos"],
                                                 q.get("detail_level", 0)),
               "is_complete": lambda r, q: r.is_complete(q["code"])}
    empty = {"complete": {"matches": [], "cursor_start": 0, "cursor_end": 0},
             "inspect": {"found": False, "data": {}, "metadata": {}},
             "is_complete": {"status": "unknown", "indent": ""}}
    while True:
        verb, nonce, args, data = read_request()
        state["nonce"] = nonce
        payload = data.decode("utf-8", "replace")
        if verb == "run":
            acknowledge(data)
            state["run"] = nonce  # after the ack, which must be the run's first frame
            if failure:
                print(f"[sandbox] IPython could not start ({failure}); cells run as plain Python",
                      file=sys.stderr)
                failure = None
            state["allow_stdin"] = bool(args and args[0] == "1")
            sys.stdin = ForwardedStdin() if state["allow_stdin"] else open(os.devnull)  # noqa: SIM115
            expressions = None
            if len(args) > 1 and args[1] == "1":  # the payload is {"code", "user_expressions"}
                envelope = json.loads(payload)
                payload, expressions = envelope["code"], envelope["user_expressions"]
            run_request(runner, payload, expressions)
        elif verb in answers:
            # Interruptible, as a cell: the host interrupts a request that overran its time.
            try:
                block_interrupts(False)
                try:
                    reply = answers[verb](runner, json.loads(payload))
                finally:
                    block_interrupts(True)
            except (Exception, KeyboardInterrupt):
                reply = empty[verb]
            send(dict(reply, type=verb))


serve()
