"""The ``%%sandbox`` magics: run a cell of Python, Bash or Node.js in a sandbox from any kernel.

``%load_ext sandbox_kernel`` registers them in an ordinary IPython kernel, so a notebook can keep
its own code local and send only the untrusted parts to a locked-down container:

* ``%%sandbox LANGUAGE [options]`` runs the cell (``%sandbox LANGUAGE CODE`` runs one line);
* ``%sandbox_config`` shows or sets the defaults of later cells (limits, images, runtime);
* ``%sandbox_sessions`` lists the persistent sandboxes opened with ``--session NAME``;
* ``%sandbox_stop NAME`` ends one of them.

Output streams into the cell as it arrives, like ``%%bash``; a failing program raises
``SandboxCellError`` so that "Run all" and nbclient stop there, unless ``--no-raise-error``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import keyword
import os
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)

from sandbox_kernel.config import load_config
from sandbox_kernel.engine.registry import SessionRegistry, check_session_name
from sandbox_kernel.engine.rich import RichOutput
from sandbox_kernel.engine.sandbox import DockerSandbox
from sandbox_kernel.engine.session import SandboxSession
from sandbox_kernel.engine.workspace import TransferError
from sandbox_kernel.errors import SandboxError, UnknownRuntime
from sandbox_kernel.files import host
from sandbox_kernel.files.globs import check_patterns, selects
from sandbox_kernel.files.rules import TransferRules
from sandbox_kernel.flavours import image_reference
from sandbox_kernel.languages import LANGUAGES, Language, resolve_language
from sandbox_kernel.limits import Limits, format_size
from sandbox_kernel.magic.display import SessionDisplay
from sandbox_kernel.magic.report import (
    SandboxCellError,
    SandboxMagicError,
    SandboxValue,
    cell_label,
    config_table,
    failure_cause,
    table,
)
from sandbox_kernel.magic.runner import (
    Outcome,
    Relay,
    SessionStopper,
    run_here,
    run_in_worker,
)
from sandbox_kernel.output_policy import MAX_PROMPT_BYTES, PROMPT_MARKER, terminal_text
from sandbox_kernel.result import ExecutionResult

__all__ = [
    "SandboxCellError",
    "SandboxMagicError",
    "SandboxMagics",
    "SandboxValue",
    "load_ipython_extension",
    "unload_ipython_extension",
]

F = TypeVar("F", bound=Callable[..., Any])

_TOKEN = re.compile(r"\S+")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+\-]{0,254}")


# -- typed wrappers around IPython's (untyped) magic_arguments ----------------------------------


def _argument(*names: str, **options: Any) -> Callable[[F], F]:
    """``magic_arguments.argument`` with a type, so strict mypy keeps checking the magics."""
    return cast("Callable[[F], F]", magic_arguments.argument(*names, **options))  # type: ignore[no-untyped-call]


def _with_parser(func: F) -> F:
    """``magic_arguments.magic_arguments()``: builds the parser and the ``%magic?`` help."""
    return cast(F, magic_arguments.magic_arguments()(func))  # type: ignore[no-untyped-call]


def _usage_line(usage: str) -> Callable[[F], F]:
    """Set the usage line that ``%magic?`` shows (argparse would put the language last)."""
    return cast("Callable[[F], F]", magic_arguments.kwds(usage=usage))  # type: ignore[no-untyped-call]


def _parser(func: Callable[..., Any]) -> argparse.ArgumentParser:
    return cast(argparse.ArgumentParser, func.parser)  # type: ignore[attr-defined]


def _parse(func: Callable[..., Any], argstring: str) -> argparse.Namespace:
    """Parse a magic's options with shell quoting; every mistake is a ``UsageError``.

    ``magic_arguments.parse_argstring`` splits without POSIX rules, so quotes would stay in the
    values (``--image 'a:b'`` would name the image ``'a:b'``); split like a shell instead.
    """
    try:
        argv = shlex.split(argstring)
    except ValueError as exc:  # unbalanced quotes
        raise UsageError(f"cannot parse the options {argstring!r}: {exc}") from None
    return _parser(func).parse_args(argv)  # MagicArgumentParser raises UsageError


def _check_image(image: str) -> str:
    """Catch a mistyped image name here; Docker's own error for it is far less clear."""
    image = image.strip()
    if not _IMAGE.fullmatch(image):
        raise UsageError(f"{image!r} is not a Docker image name (like name:tag or repo/name)")
    return image


def split_line_magic(parser: argparse.ArgumentParser, line: str) -> tuple[str, str]:
    """Split ``%sandbox [OPTIONS] LANGUAGE [OPTIONS] CODE`` into options and code, verbatim.

    The code must not go through the option parser: shell-style splitting would eat its quotes
    (``print("hi")``) and the options of a sandboxed command (``ls -la``) would look like ours.
    So the line is scanned word by word: before the language any option is ours (argparse then
    judges it); after it, only our own options spelled in full are, and the first other word
    starts the code. ``--`` ends the options explicitly (for code that starts with ``--``).
    """
    takes_value: dict[str, bool] = {}
    for action in parser._actions:
        for option in action.option_strings:
            takes_value[option] = action.nargs != 0
    expect_value = False
    seen_language = False
    for match in _TOKEN.finditer(line):
        token = match.group()
        if expect_value:
            expect_value = False
            continue
        name, has_value, _ = token.partition("=")
        if not seen_language:
            if token.startswith("-"):
                known = [name] if name in takes_value else [
                    option for option in takes_value if option.startswith(name)]
                expect_value = not has_value and len(known) == 1 and takes_value[known[0]]
            else:
                seen_language = True
            continue
        if token == "--":
            return line[: match.start()], _line_code(line[match.end():])
        if name in takes_value:
            expect_value = not has_value and takes_value[name]
            continue
        return line[: match.start()], _line_code(line[match.start():])
    if seen_language:
        return line, _line_code("")
    raise UsageError("%sandbox needs a language and code, e.g. %sandbox python print(1)")


def _line_code(code: str) -> str:
    code = code.strip()
    if not code:
        raise UsageError("%sandbox needs code after the language, e.g. %sandbox python print(1);"
                         " use %%sandbox for a whole cell")
    return code


def _check_variable(option: str, name: str | None) -> None:
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise UsageError(f"{option} needs a Python variable name, not {name!r}")


def _usage(exc: ValueError) -> UsageError:
    return UsageError(str(exc))


class CellWriter:
    """Puts a sandbox's output into the cell: stdout and stderr apart, in arrival order.

    Each write goes to whatever ``sys.stdout``/``sys.stderr`` is at that moment, so
    ``%%capture`` and ipykernel's per-cell routing see it. The stream is flushed only when
    output switches to the other stream (that keeps the order) and at the end; in between,
    ipykernel's own timer sends it, so a program that prints word by word does not become
    one message per word.
    """

    def __init__(self, *, show_stdout: bool = True, show_stderr: bool = True) -> None:
        self.show = {"stdout": show_stdout, "stderr": show_stderr}
        self._last: Any = None

    def write(self, stream: str, text: str) -> None:
        if not self.show.get(stream, True):
            return
        target = sys.stderr if stream == "stderr" else sys.stdout
        text = terminal_text(text)  # colours kept, other escapes and controls removed
        if self._last is not None and self._last is not target:
            with contextlib.suppress(Exception):
                self._last.flush()
        target.write(text)
        self._last = target

    def flush(self) -> None:
        for target in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                target.flush()


def ask_user(prompt: str, password: bool) -> str | None:
    """A session cell's input request, asked in the host kernel as ``input()`` / ``getpass``
    would (ipykernel sends an ``input_request`` to the frontend); ``None`` at end of input.
    A frontend that does not allow stdin makes ipykernel raise ``StdinNotImplementedError``,
    which ``run_in_worker`` turns into end of input too."""
    prompt = terminal_text(prompt, MAX_PROMPT_BYTES, PROMPT_MARKER)
    try:
        if password:
            import getpass

            return getpass.getpass(prompt)
        return input(prompt)
    except EOFError:
        return None


# -- state ----------------------------------------------------------------------------------------


@dataclass
class SessionEntry:
    """A named persistent sandbox and what it was started with (fixed for its lifetime)."""

    name: str
    language: Language
    session: SandboxSession
    image: str
    cells: int = 0

    @property
    def limits(self) -> Limits:
        return self.session.limits

    def state(self) -> str:
        if self.session.alive:
            return "running"
        if self.session.starts == 0:
            return "not started"
        return "stopped (restarts on next cell)"


@dataclass
class CellRequest:
    """A validated ``%%sandbox`` invocation: everything checked before any container exists."""

    language: Language
    code: str
    timeout: float
    limits: Limits
    images: dict[str, str]
    session: str | None
    out: str | None
    err: str | None
    result: str | None
    raise_error: bool
    files: dict[str, bytes]
    """``--upload``: host files read (and checked) before any container exists."""
    collect: list[str]
    """``--download``: sandbox globs, saved to the current directory after the run."""


# -- the magics -----------------------------------------------------------------------------------


@magics_class
class SandboxMagics(Magics):
    """The ``%%sandbox`` family, with the notebook's defaults and its named sessions.

    Defaults set with ``%sandbox_config`` live here (one instance per shell), start from
    the environment (``sandbox_kernel.config``) like every front-end; they apply to later cells.
    """

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell=shell)
        self.limits = load_config().limits
        self.images: dict[str, str] = {}
        """Per-language image overrides set with ``%sandbox_config --image``."""
        self.runtime: str | None = None
        self.sessions: SessionRegistry[str, SessionEntry] = SessionRegistry(
            load_config().max_sessions)
        self._engines: dict[tuple[tuple[tuple[str, str], ...], str | None], DockerSandbox] = {}
        # A kernel shutting down exits its process: the exit hook closes the sessions' containers
        # (the engine's own hook would too, but closing here also tells the engine's bookkeeping).
        atexit.register(self.shutdown)

    # -- helpers ------------------------------------------------------------------------------

    def engine(self, images: dict[str, str]) -> DockerSandbox:
        """One engine (and Docker connection) per image set and runtime, reused across cells."""
        key = (tuple(sorted(images.items())), self.runtime)
        engine = self._engines.get(key)
        if engine is None:
            engine = DockerSandbox(self.limits, images=images, runtime=self.runtime)
            self._engines[key] = engine
        return engine

    def image_for(self, language: Language, images: dict[str, str]) -> str:
        return image_reference(images.get(language.name) or load_config().image_for(language))

    def shutdown(self) -> None:
        """Close every session (removing its container); safe to call more than once."""
        entries = self.sessions.clear()
        for entry in entries:
            with contextlib.suppress(Exception):
                entry.session.close()

    def _user_ns(self) -> dict[str, Any]:
        if self.shell is None:
            raise SandboxMagicError("the %%sandbox magics need an IPython shell")
        return cast("dict[str, Any]", self.shell.user_ns)

    # -- %%sandbox ------------------------------------------------------------------------------

    @_with_parser
    @_usage_line(
        "%%sandbox LANGUAGE [--timeout S] [--memory M] [--cpus C] [--image IMG]\n"
        "                  [--session NAME] [--out VAR] [--err VAR] [--result VAR]\n"
        "                  [--no-raise-error] [--upload PATH ...] [--download GLOB ...]\n"
        "  %%sandbox LANGUAGE [options] CODE")
    @_argument("language", help="python, bash or node (aliases: python3, sh, js, nodejs, ...)")
    @_argument("--timeout", type=float, metavar="S",
               help="Stop the program after S seconds (default: %%sandbox_config's timeout).")
    @_argument("--memory", metavar="M",
               help="Memory limit, in bytes or like 128m or 1g (no swap).")
    @_argument("--cpus", type=float, metavar="C", help="CPU limit, e.g. 0.5.")
    @_argument("--image", metavar="IMG",
               help="Run in this Docker image instead of the language's default one.")
    @_argument("--session", metavar="NAME",
               help="Run in the persistent sandbox NAME (started on first use): variables, "
                    "functions and files survive between the cells that name it.")
    @_argument("--out", metavar="VAR",
               help="Store stdout in the variable VAR instead of showing it.")
    @_argument("--err", metavar="VAR",
               help="Store stderr in the variable VAR instead of showing it.")
    @_argument("--result", metavar="VAR",
               help="Store the ExecutionResult (exit_code, timed_out, ...) in the variable VAR.")
    @_argument("--no-raise-error", action="store_false", dest="raise_error",
               help="Do not raise when the program fails; only print the failure on stderr.")
    @_argument("--upload", action="append", default=[], metavar="PATH",
               help="Copy host files (globs allowed, relative to the current directory, which "
                    "they may not leave) into the sandbox's working directory first; "
                    "repeatable.")
    @_argument("--download", action="append", default=[], metavar="GLOB",
               help="After the run, copy the sandbox's files matching GLOB into the current "
                    "directory under their sandbox names; repeatable.")
    @no_var_expand
    @line_cell_magic
    def sandbox(self, line: str, cell: str | None = None) -> SandboxValue | None:
        """Run the cell in a locked-down Docker sandbox (no network, capped memory/CPU/pids).

        ``%%sandbox LANGUAGE [options]`` runs the rest of the cell; ``%sandbox LANGUAGE CODE``
        runs one line. Output streams into the cell as it arrives. A failing program (non-zero
        exit, timeout, out of memory, an exception in a session, an interrupt) raises
        SandboxCellError naming the exit status and the cause, unless --no-raise-error. In a
        session, the value of a Python or Node.js cell's last expression is the cell's result;
        what a session cell's threads, timers or background jobs print after it ended is shown
        (and captured by --out/--err) with that session's next cell.
        Variables are not expanded in the options or the code ($HOME reaches the sandbox as is).

        Examples::

            %%sandbox python --timeout 5
            print(sum(range(10)))

            %%sandbox bash --out listing
            ls -la /

            %%sandbox python --session work
            x = 41

            %sandbox python --session work x + 1
        """
        if cell is None:
            options, code = split_line_magic(_parser(SandboxMagics.sandbox), line)
        else:
            options, code = line, cell
        request = self._prepare(_parse(SandboxMagics.sandbox, options), code)
        return self._run(request)

    def _prepare(self, args: argparse.Namespace, code: str) -> CellRequest:
        """Check every option before any container exists: a mistake is a ``UsageError``."""
        try:
            language = resolve_language(args.language)
        except ValueError as exc:
            raise _usage(exc) from None
        for option, name in (("--out", args.out), ("--err", args.err),
                             ("--result", args.result)):
            _check_variable(option, name)
        images = dict(self.images)
        if args.image is not None:
            images[language.name] = _check_image(args.image)
        try:
            limits = self.limits.with_overrides(memory=args.memory, cpus=args.cpus)
        except ValueError as exc:
            raise _usage(exc) from None
        name = args.session
        if name is not None:
            try:
                check_session_name(name)
            except ValueError as exc:
                raise UsageError(f"--session: {exc}") from None
            entry = self.sessions.get(name)
            if entry is not None:
                limits = self._check_session_options(entry, language, args, limits, images)
        try:
            timeout = limits.check_timeout(
                args.timeout if args.timeout is not None else self.limits.timeout)
            limits.check_code(code)
            rules = TransferRules.from_limits(limits)
            cwd = os.getcwd()
            files: dict[str, bytes] = {}
            for pattern in args.upload:
                files.update(host.gather(pattern, cwd, cwd, rules))
            files = rules.check_files(files)
            collect = check_patterns(args.download)
        except ValueError as exc:
            raise _usage(exc) from None
        return CellRequest(language, code, timeout, limits, images, name, args.out, args.err,
                           args.result, args.raise_error, files, collect)

    def _check_session_options(
        self,
        entry: SessionEntry,
        language: Language,
        args: argparse.Namespace,
        limits: Limits,
        images: dict[str, str],
    ) -> Limits:
        """A running session keeps its language, image and limits: refuse silent mismatches."""
        if entry.language.name != language.name:
            raise UsageError(
                f"session {entry.name!r} runs {entry.language.name}, not {language.name}; "
                f"use another --session name or %sandbox_stop {entry.name}")
        changed = []
        if args.memory is not None and limits.memory != entry.limits.memory:
            changed.append(f"--memory (it has {format_size(entry.limits.memory)})")
        if args.cpus is not None and limits.cpus != entry.limits.cpus:
            changed.append(f"--cpus (it has {entry.limits.cpus:g})")
        if args.image is not None and self.image_for(language, images) != entry.image:
            changed.append(f"--image (it has {entry.image})")
        if changed:
            raise UsageError(
                f"session {entry.name!r} is already running and keeps its settings: "
                f"{', '.join(changed)}; %sandbox_stop {entry.name} first to change them")
        return entry.limits

    def _run(self, request: CellRequest) -> SandboxValue | None:
        engine = self.engine(request.images)
        writer = CellWriter(show_stdout=request.out is None, show_stderr=request.err is None)
        try:
            if request.session is None:
                outcome = run_here(
                    lambda on_output: engine.run(request.language.name, request.code,
                                                 request.timeout, request.limits,
                                                 on_output=on_output, files=request.files,
                                                 collect=request.collect),
                    writer.write)
            else:
                outcome = self._run_in_session(engine, request, writer)
        finally:
            writer.flush()
        return self._report(request, outcome)

    def _run_in_session(
        self, engine: DockerSandbox, request: CellRequest, writer: CellWriter
    ) -> Outcome:
        assert request.session is not None
        entry = self.sessions.get(request.session)
        new_session = entry is None
        if entry is None:
            session = engine.session(request.language.name, request.limits)
            entry = SessionEntry(request.session, request.language, session,
                                 engine.image_for(request.language))
            try:
                self.sessions.add(request.session, entry)
            except ValueError as exc:
                session.close()
                raise UsageError(f"--session {request.session}: {exc}") from None
        session = entry.session
        shown = SessionDisplay(entry.name)

        def show(item: RichOutput) -> None:
            writer.flush()  # the text before a display shows above it
            shown.show(item)

        def work(relay: Relay) -> ExecutionResult:
            return session.execute(request.code, request.timeout, on_output=relay.output,
                                   on_display=relay.display, on_input=relay.input,
                                   files=request.files, collect=request.collect)

        outcome = run_in_worker(work, SessionStopper(session), writer.write, show=show,
                                ask=ask_user)
        outcome.value = shown.value
        entry.cells += 1
        if outcome.abandoned or (new_session and outcome.result is None and not session.alive):
            # It never started, or it is stuck for good (its container was killed): forget it.
            self.sessions.pop(entry.name)
            if not outcome.abandoned:
                session.close()
        return outcome

    def _report(self, request: CellRequest, outcome: Outcome) -> SandboxValue | None:
        result = outcome.result
        if isinstance(outcome.error, TransferError) and outcome.error.result is not None:
            # The program ran; its files could not come back: report the run, then the error.
            result = outcome.result = outcome.error.result
            self._report(replace(request, collect=[]),
                         Outcome(result=result, output=outcome.output))
            raise SandboxMagicError(str(outcome.error)) from None
        if outcome.error is not None and not outcome.interrupted:
            error = outcome.error
            if isinstance(error, ValueError):
                raise UsageError(str(error)) from None
            if isinstance(error, SandboxError):
                raise SandboxMagicError(str(error)) from None
            raise error
        user_ns = self._user_ns()
        if request.out:
            user_ns[request.out] = (result.stdout if result is not None
                                    else "".join(outcome.output.get("stdout", [])))
        if request.err:
            user_ns[request.err] = (result.stderr if result is not None
                                    else "".join(outcome.output.get("stderr", [])))
        if request.result:
            user_ns[request.result] = result
        if result is not None and result.notice:
            print(f"[sandbox] {result.notice}", file=sys.stderr, flush=True)
        if request.files:
            print(host.describe("uploaded", request.files), flush=True)
        cause = failure_cause(result, timeout=request.timeout, interrupted=outcome.interrupted,
                              killed=outcome.killed)
        if cause is None and result is not None and request.collect:
            self._save_downloads(request, result.files)
        if cause is not None:
            failure = SandboxCellError(
                f"{cell_label(request.language, request.session)} failed: {cause}", result)
            if request.raise_error:
                raise failure
            print("\n".join(failure._render_traceback_()), file=sys.stderr, flush=True)
        value = outcome.value
        if value is not None:
            return SandboxValue(result.value if result and result.value else "", value)
        if result is not None and result.value is not None:
            return SandboxValue(result.value)
        return None

    @staticmethod
    def _save_downloads(request: CellRequest, files: dict[str, bytes]) -> None:
        """Write the ``--download`` files into the current directory (which they may not
        leave), with a one-line report; a glob that matched nothing is an error."""
        for pattern in request.collect:
            if not any(selects(pattern, name) for name in files):
                raise SandboxMagicError(f"--download: no file in the sandbox matches "
                                        f"{pattern!r}")
        cwd = os.getcwd()
        try:
            host.save(files, cwd, cwd)
        except (ValueError, OSError) as exc:
            raise SandboxMagicError(f"--download: {exc}") from None
        print(host.describe("downloaded", files), flush=True)

    # -- %sandbox_config ------------------------------------------------------------------------

    @_with_parser
    @_argument("--timeout", type=float, metavar="S", help="Default timeout of a cell, seconds.")
    @_argument("--memory", metavar="M", help="Memory limit, e.g. 128m or 1g.")
    @_argument("--cpus", type=float, metavar="C", help="CPU limit, e.g. 0.5.")
    @_argument("--pids", type=int, metavar="N", help="Process/thread limit.")
    @_argument("--max-output", metavar="SIZE", help="Output kept per stream, e.g. 1m.")
    @_argument("--max-files", type=int, metavar="N",
               help="Files per --upload/--download transfer (default 1000).")
    @_argument("--image", action="append", metavar="LANGUAGE=IMAGE",
               help="Use IMAGE for LANGUAGE (repeatable); LANGUAGE= restores the default.")
    @_argument("--runtime", metavar="RUNTIME",
               help="Docker runtime for new sandboxes, e.g. runsc (gVisor); 'default' resets.")
    @_argument("--reset", action="store_true", help="Back to the built-in defaults first.")
    @no_var_expand
    @line_magic
    def sandbox_config(self, line: str) -> None:
        """Show (no options) or set the defaults of the %%sandbox cells that follow.

        Limits start from the environment (sandbox_kernel.config). New settings apply
        to later one-shot cells and to sessions started later; a running session keeps what it
        was started with, except the timeout, which applies to every later cell.

        Example::

            %sandbox_config --timeout 5 --memory 128m --image python=my-python:3.12
        """
        args = _parse(SandboxMagics.sandbox_config, line)
        limits = load_config().limits if args.reset else self.limits
        images = {} if args.reset else dict(self.images)
        runtime = None if args.reset else self.runtime
        try:
            limits = limits.with_overrides(timeout=args.timeout, memory=args.memory,
                                           cpus=args.cpus, pids=args.pids,
                                           max_output=args.max_output,
                                           max_files=args.max_files)
        except ValueError as exc:
            raise _usage(exc) from None
        for item in args.image or []:
            language_name, sep, image = item.partition("=")
            if not sep:
                raise UsageError(f"--image needs LANGUAGE=IMAGE, not {item!r}")
            try:
                language = resolve_language(language_name)
            except ValueError as exc:
                raise _usage(exc) from None
            if image.strip():
                images[language.name] = _check_image(image)
            else:
                images.pop(language.name, None)
        if args.runtime is not None:
            runtime = self._check_runtime(args.runtime.strip())
        self.limits, self.images, self.runtime = limits, images, runtime
        effective = {name: self.image_for(lang, images) for name, lang in LANGUAGES.items()}
        # The engine resolves "no runtime" itself (SANDBOX_KERNEL_RUNTIME, else Docker's).
        print(config_table(limits, effective, self.engine({}).runtime))
        if self.sessions and line.strip():
            print(f"Running sessions keep their settings ({', '.join(self.sessions)}); "
                  "%sandbox_stop them to apply the new ones.")

    def _check_runtime(self, runtime: str) -> str | None:
        """A runtime the daemon does not know would only fail at the next cell: check it now."""
        if runtime.lower() in ("", "default", "none"):
            return None
        try:
            self.engine({}).check_runtime(runtime, source="--runtime")
        except UnknownRuntime as exc:
            raise UsageError(str(exc)) from None
        except SandboxError as exc:
            raise SandboxMagicError(f"cannot check the runtime {runtime!r}: {exc}") from None
        return runtime

    # -- sessions -------------------------------------------------------------------------------

    @line_magic
    def sandbox_sessions(self, line: str = "") -> None:
        """List the persistent sandboxes of this notebook (``%%sandbox LANG --session NAME``)."""
        if line.strip():
            raise UsageError("%sandbox_sessions takes no arguments")
        if not self.sessions:
            print("No sandbox sessions; start one with %%sandbox LANGUAGE --session NAME.")
            return
        rows = []
        for entry in self.sessions.values():
            container = (entry.session.container_id or "")[:12] or "-"
            rows.append([entry.name, entry.language.name, entry.state(), container, entry.image,
                         format_size(entry.limits.memory), f"{entry.limits.cpus:g}",
                         str(entry.cells)])
        print(table(["NAME", "LANGUAGE", "STATE", "CONTAINER", "IMAGE", "MEMORY", "CPUS",
                     "CELLS"], rows))

    @_with_parser
    @_argument("names", nargs="*", metavar="NAME", help="The sessions to stop.")
    @_argument("--all", action="store_true", help="Stop every session.")
    @line_magic
    def sandbox_stop(self, line: str) -> None:
        """Stop persistent sandboxes: their containers and all their state are removed."""
        args = _parse(SandboxMagics.sandbox_stop, line)
        names: list[str] = list(self.sessions) if args.all else list(args.names)
        if not names and not args.all:
            raise UsageError("%sandbox_stop needs a session name (or --all); "
                             "%sandbox_sessions lists them")
        unknown = [name for name in names if name not in self.sessions]
        if unknown:
            known = ", ".join(self.sessions.keys()) or "none"
            raise UsageError(f"no sandbox session {', '.join(map(repr, unknown))} "
                             f"(sessions: {known})")
        for name in names:
            entry = self.sessions.pop(name)
            if entry is not None:
                entry.session.close()
            print(f"Stopped sandbox session {name!r}.")
        if args.all and not names:
            print("No sandbox sessions to stop.")


# -- extension entry points -----------------------------------------------------------------------


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics (``%load_ext sandbox_kernel``); a second load keeps the first."""
    registry = ipython.magics_manager.registry
    if isinstance(registry.get(SandboxMagics.__name__), SandboxMagics):
        return
    ipython.register_magics(SandboxMagics(shell=ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """Stop every session and remove the magics (``%unload_ext sandbox_kernel``)."""
    manager = ipython.magics_manager
    instance = manager.registry.pop(SandboxMagics.__name__, None)
    if not isinstance(instance, SandboxMagics):
        return
    instance.shutdown()
    atexit.unregister(instance.shutdown)
    for kind, names in instance.magics.items():
        for name in names:
            manager.magics[kind].pop(name, None)
