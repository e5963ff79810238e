"""Run the examples of README.md and docs/*.md the way a reader would, and say clearly where they drifted.

Which blocks run (the fence's info string decides):

* ```` ```sh ```` - shell commands, run in order in a temporary folder that holds a copy of ``examples/``.  Lines
  starting with ``$ `` are commands and the lines after them, up to the next command, the output the document shows
  (stdout and stderr together, as on a terminal); a block without ``$ `` lines is commands only, each of which must
  succeed.  ``...`` matches any text inside a line, and a line of its own ``...`` any number of lines.  A command
  exits 0, unless the output shown for it is a ``meterkit ...: error:`` line: then it must fail.
* ```` ```sh illustrative="reason" ```` - shown, never run (real hardware, a cluster, the build itself).
* ```` ```python ```` - a doctest (``>>>`` lines); ``serve="ARGS"`` in the info string serves ``meterkit serve ARGS``
  while it runs.
* ```` ```text ````, ```` ```toml ```` ... - not run; every fence names its language, so none escapes by accident.

How commands run: ``meterkit ...`` in-process through :func:`meterkit.cli.app.main` (fast, same output as the
installed command, whose width is 120 columns when not on a terminal); ``meterkit serve ...`` as a real process
that keeps serving until the next ``meterkit serve`` line or the end of the block, then gets SIGINT (Ctrl-C) and must
exit 0 - its output is the ``listening on ...`` / ``control on ...`` lines it prints once ready; ``export NAME=VALUE``
sets a variable for the rest of the block; ``kill %1`` stops the served meter; ``meterkit ... > FILE`` runs
in-process too; anything else (pipes, other programs) runs in bash.  The documents' ports (``2100``, ``2101``,
and ``meterkit serve``'s default ``tcp://127.0.0.1:2100``) are mapped to free ports on the way in and back to the
documents' numbers in the output, so examples run beside other tests.
"""

from __future__ import annotations

import contextlib
import difflib
import doctest
import io
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOC_PORTS = (2100, 2101)
SERVE_READY_S = 60.0
SERVE_STOP_S = 20.0

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+|~~~+)(?P<info>.*)$")
_ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
_SHELL = re.compile(r"^[|<>;&]|^\d>|[$`*?]")  # a word that needs a shell


@dataclass(frozen=True)
class Block:
    """One fenced block of a document."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    attrs: dict[str, str]
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, in order."""
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        fence, info = m["fence"], m["info"].strip()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j])
            j += 1
        lang = info.split()[0] if info else ""
        out.append(Block(path, i + 1, lang, dict(_ATTR.findall(info)), "\n".join(body) + "\n"))
        i = j + 1
    return out


def all_blocks() -> list[Block]:
    return [b for path in DOCUMENTS for b in blocks(path)]


# --- commands and their expected output ------------------------------------------------------------------------


@dataclass
class Step:
    command: str  # one shell command line (continuations joined)
    line: int  # its line in the document
    expected: list[str] | None = None  # the output shown, or None when the block shows none


def steps(block: Block) -> list[Step]:
    """The commands of an ``sh`` block, each with the output shown after it (``$ `` blocks only)."""
    raw = block.text.splitlines()
    prompted = any(line.startswith("$ ") for line in raw)
    out: list[Step] = []
    pending = ""
    for k, line in enumerate(raw):
        number = block.line + 1 + k
        if prompted and not line.startswith("$ ") and not pending:
            if out:
                assert out[-1].expected is not None
                out[-1].expected.append(line)
            continue
        text = line[2:] if prompted and line.startswith("$ ") else line
        if pending:
            text = pending + " " + text.lstrip()
            pending = ""
        if text.rstrip().endswith("\\"):
            pending = text.rstrip()[:-1].rstrip()
            continue
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        out.append(Step(text, number, [] if prompted else None))
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """Does ``actual`` match ``expected``, where ``...`` stands for any text (a line of its own: any lines)?"""
    pattern = ""
    for line in _trim(expected):
        if line.strip() == "...":
            pattern += r"(?:[^\n]*\n)*?"
        else:
            pattern += ".*?".join(re.escape(part) for part in line.rstrip().split("...")) + r"\n"
    return re.fullmatch(pattern, "".join(line.rstrip() + "\n" for line in _trim(actual))) is not None


def _trim(lines: list[str]) -> list[str]:
    lines = [line.rstrip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def diff(where: str, command: str, expected: list[str], actual: list[str]) -> str:
    body = "\n".join(
        difflib.unified_diff(_trim(expected), _trim(actual), "as documented", "as it runs now", lineterm="")
    )
    return f"{where}: the output of `{command}` differs from the document:\n{body}"


# --- ports ----------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Ports:
    """The documents' port numbers and the free ones they stand for in this run."""

    mapping: dict[int, int] = field(default_factory=lambda: {p: free_port() for p in DOC_PORTS})

    def to_run(self, text: str) -> str:
        for doc, real in self.mapping.items():
            text = re.sub(rf"(?<=:){doc}\b", str(real), text)
        return text

    def to_doc(self, text: str) -> str:
        for doc, real in self.mapping.items():
            text = re.sub(rf"(?<=:){real}\b", str(doc), text)
        return text


# --- running a block ------------------------------------------------------------------------------------------------


class Server:
    """``meterkit serve ...`` as a real process, ready once it printed one line per endpoint."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.argv = argv
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server; a trace can be long: never a pipe nobody reads
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meterkit.cli.app", *argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
        )
        self._buffer = b""
        self.ready_lines = self._wait_ready(argv.count("--listen") or 1)
        if "--control" in argv:
            self.ready_lines += self._wait_ready(1)

    def _wait_ready(self, n: int) -> list[str]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + SERVE_READY_S
        while self._buffer.count(b"\n") < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.stop()
                raise AssertionError(f"`meterkit {shlex.join(self.argv)}` was not ready in {SERVE_READY_S:.0f} s")
            chunk = os.read(fd, 4096)
            if not chunk:
                self.stop()
                err = self.errors()
                raise AssertionError(f"`meterkit {shlex.join(self.argv)}` ended before serving: {err.strip()}")
            self._buffer += chunk
        *lines, rest = self._buffer.split(b"\n", n)
        self._buffer = rest
        return [line.decode() for line in lines]

    def stop(self) -> int:
        """Ctrl-C, as a reader ends it; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(SERVE_STOP_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return int(self.proc.returncode)

    def errors(self) -> str:
        """What it wrote on stderr."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    saved = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)


def _run_meterkit(argv: list[str], cwd: Path, env: dict[str, str], out_file: str | None = None) -> tuple[int, str]:
    """``meterkit ARGV [> OUT_FILE]`` in-process; the exit code and what a terminal shows."""
    from meterkit.cli.app import main

    shown = io.StringIO()
    out = io.StringIO() if out_file else shown
    with _environ(env), _cwd(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(shown):
        code = main(argv)
    if out_file:
        (cwd / out_file).write_text(out.getvalue(), encoding="utf-8")
    return code, shown.getvalue()


def _run_shell(command: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    run = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return run.returncode, run.stdout + run.stderr


def _is_error_output(expected: list[str]) -> bool:
    return any(re.match(r"meterkit( [a-z-]+)*: error: ", line) for line in expected)


def run_sh(block: Block, workdir: Path) -> list[str]:
    """Run an ``sh`` block in ``workdir``; the list of drifts found (empty: the document holds)."""
    ports = Ports()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("COLUMNS", None)
    problems: list[str] = []
    servers: list[Server] = []

    def stop_servers() -> None:
        while servers:
            server = servers.pop()
            code = server.stop()
            if code != 0:
                problems.append(
                    f"{block.where}: `meterkit {shlex.join(server.argv)}` exited {code} on Ctrl-C: {server.errors()[-2000:]}"
                )

    try:
        for step in steps(block):
            where = f"{block.path.relative_to(ROOT)}:{step.line}"
            command = ports.to_run(step.command.strip())
            words = shlex.split(command, comments=True)
            if not words:
                continue
            background = words[-1] == "&"
            if background:
                words.pop()
            if words[0] == "export":
                for assignment in words[1:]:
                    name, _, value = assignment.partition("=")
                    env[name] = value
                continue
            if words[0] == "meterkit" and len(words) > 1 and words[1] == "serve":
                stop_servers()
                argv = words[1:]
                if "--listen" not in argv:
                    argv += ["--listen", f"tcp://127.0.0.1:{ports.mapping[2100]}"]
                server = Server(argv, workdir, env)
                servers.append(server)
                code, output = 0, "\n".join(server.ready_lines)
            elif background:
                problems.append(f"{where}: only `meterkit serve` may run in the background (`&`)")
                continue
            elif words[0] == "kill" and words[1:] in (["%1"], ["%%"]):  # the reader stops the background meter
                stop_servers()
                continue
            elif words[0] == "meterkit" and not any(_SHELL.search(w) for w in words):
                code, output = _run_meterkit(words[1:], workdir, env)
            elif words[0] == "meterkit" and words[-2] == ">" and not any(_SHELL.search(w) for w in words[:-2]):
                code, output = _run_meterkit(words[1:-2], workdir, env, out_file=words[-1])
            else:
                code, output = _run_shell(command, workdir, env)
            actual = ports.to_doc(output).splitlines()
            expects_error = step.expected is not None and _is_error_output(step.expected)
            if expects_error and code == 0:
                problems.append(f"{where}: `{step.command}` should fail as documented but exited 0")
            elif not expects_error and code != 0:
                problems.append(f"{where}: `{step.command}` exited {code}:\n" + "\n".join(actual[-20:]))
                break
            if step.expected is not None and not matches(step.expected, actual):
                problems.append(diff(where, step.command, step.expected, actual))
    finally:
        stop_servers()
    return problems


def run_python(block: Block, workdir: Path) -> list[str]:
    """Run a ``python`` block as a doctest (``serve="ARGS"``: with ``meterkit serve ARGS`` serving); the drifts."""
    ports = Ports()
    env = dict(os.environ)
    server = None
    if "serve" in block.attrs:
        argv = ["serve", *shlex.split(block.attrs["serve"]), "--listen", f"tcp://127.0.0.1:{ports.mapping[2100]}"]
        server = Server(argv, workdir, env)
    try:
        test = doctest.DocTestParser().get_doctest(
            ports.to_run(block.text), {}, block.where, str(block.path), block.line
        )
        if not test.examples:
            return [f"{block.where}: a python block without >>> examples runs nothing (write it as a doctest)"]
        report = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        with _cwd(workdir):
            result = runner.run(test, out=report.write)
        return [ports.to_doc(report.getvalue())] if result.failed else []
    finally:
        if server is not None and server.stop() != 0:
            raise AssertionError(f"{block.where}: the served meter did not stop cleanly")
