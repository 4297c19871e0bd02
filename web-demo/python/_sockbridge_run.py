"""How the page runs Python programs: several at once (a server and its client), each with its own
globals, its own output and its own ``Program`` (web-demo/python.js), which holds its sockets and
its Stop.

The running program is found through a context variable: each program runs as its own asyncio task
(``runPythonAsync``), a task keeps its context across the waits of ``run_sync``, so the ``socket``
module, ``print``, ``sys.stdout`` and ``time.sleep`` always act for the program that called them.
"""

import contextvars
import errno
import io
import os
import sys
import threading
import time
import traceback
import types

import _sockbridge
from pyodide import webloop
from pyodide.code import eval_code_async
from pyodide.ffi import run_sync


class _Lines(io.TextIOBase):
    """A text stream that gives each complete line to ``emit`` (a JavaScript function)."""

    def __init__(self, emit):
        self._emit, self._pending = emit, ""

    def writable(self):
        return True

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self):
        if self._pending:
            self._emit(self._pending)
            self._pending = ""


class _Run:
    __slots__ = ("program", "stdout", "stderr")

    def __init__(self, program, out, err):
        self.program = program
        self.stdout = _Lines(out)
        self.stderr = _Lines(err)


_current = contextvars.ContextVar("sockbridge_run", default=None)


def program():
    """The running program's ``Program`` (JavaScript): its session, its sockets, its Stop. Code run
    outside ``run`` (straight through ``pyodide.runPythonAsync``) has the page's default one."""
    run = _current.get()
    return run.program if run is not None else _sockbridge.program


class _Routed(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr``: the running program's own stream, else Pyodide's."""

    def __init__(self, name, fallback):
        self._name, self._fallback = name, fallback

    def _stream(self):
        run = _current.get()
        return getattr(run, self._name) if run is not None else self._fallback

    def writable(self):
        return True

    def write(self, text):
        return self._stream().write(text)

    def flush(self):
        self._stream().flush()

    @property
    def encoding(self):
        return "utf-8"


sys.stdout = _Routed("stdout", sys.stdout)
sys.stderr = _Routed("stderr", sys.stderr)


def _sleep(seconds):
    """``time.sleep``: waits without holding the page (other programs run meanwhile), and ends at
    once when the program is stopped."""
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    outcome = run_sync(program().sleep(float(seconds)))
    if not outcome.ok:
        raise KeyboardInterrupt(outcome.message)


time.sleep = _sleep

# No threads here (Pyodide runs on the page's one thread). What stands in for them is a second
# program: so an Event is waited for cooperatively (socketserver's shutdown(), called by another
# program, waits for serve_forever to stop), and starting a thread says why it cannot.
_NO_THREADS = ("a web page's Python has no threads (Pyodide runs on the page's one thread): run the "
               "work as a second program, or serve several clients with selectors")


def _event_wait(self, timeout=None):
    """``threading.Event.wait``: another program sets it, so wait without holding the page."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not self.is_set():
        if deadline is not None and deadline <= time.monotonic():
            return False
        _sleep(0.01 if deadline is None else min(0.01, max(0.0, deadline - time.monotonic())))
    return True


def _thread_start(self):
    raise RuntimeError(_NO_THREADS)


def _fork():
    raise OSError(errno.ENOSYS, "a web page's Python cannot fork (a page has no processes): run the work as a "
                  "second program")


threading.Event.wait = _event_wait
threading.Thread.start = _thread_start
os.fork = _fork


def _no_asyncio_sockets(*args, **kwargs):
    raise NotImplementedError(
        "asyncio's network calls do not go through sockbridge (its event loop is the browser's): "
        "use blocking sockets, selectors or socketserver, which do")


for _name in ("create_server", "create_connection", "create_datagram_endpoint", "create_unix_server",
              "create_unix_connection"):
    setattr(webloop.WebLoop, _name, _no_asyncio_sockets)


# Frames of the machinery between the page and a program, left out of its tracebacks: CPython's
# socket calls are C, so its tracebacks end at the program's line, and so do these.
_MACHINERY = ("/lib/sockbridge/", "/lib/python314.zip/_pyodide/", "<sockbridge>")


def _trim(summary):
    frames = [f for f in summary if not f.filename.startswith(_MACHINERY)]
    return traceback.StackSummary.from_list(frames)


def _failure(error, filename):
    """What the program's end by ``error`` prints (a traceback, as CPython prints it) and tells the page."""
    report = traceback.TracebackException.from_exception(error)
    for part in _chain(report):
        part.stack = _trim(part.stack)
    lines = [frame.lineno for frame in report.stack if frame.filename == filename]
    return {
        "name": type(error).__name__,
        "message": str(error),
        "line": lines[-1] if lines else None,
        "traceback": "".join(report.format()),
    }


def _chain(report):
    seen = []
    while report is not None and report not in seen:
        seen.append(report)
        report = report.__cause__ or report.__context__
    return seen


def _globals(program):
    """A program's globals: ``__main__``'s, and ``labs``, the daemon's lab services (``labs.echo_tcp``
    is an address such as ``('127.0.0.1', 7007)``), as lesson code in JavaScript has them."""
    names = {"__name__": "__main__"}
    hello = getattr(program.bridge, "hello", None) if program.bridge else None
    labs = getattr(hello, "labs", None)
    if labs is not None:
        names["labs"] = types.SimpleNamespace(**{k: tuple(v) for k, v in labs.to_py().items()})
    return names


async def run(code, program, out, err, filename):
    """Runs ``code`` as the ``__main__`` of a program: ``out`` and ``err`` take its printed lines.

    Returns None when it ends well (``sys.exit()`` and ``sys.exit(0)`` included); else prints its
    traceback to its standard error, as CPython does, and returns what ended it: ``name``,
    ``message``, ``line`` (the program's line it was at) and ``traceback``. Nothing is raised to
    the page, so Pyodide prints nothing of its own.
    """
    run = _Run(program, out, err)
    _current.set(run)
    try:
        await eval_code_async(code, _globals(program), filename=filename, return_mode="none")
    except SystemExit as e:
        if e.code is None or e.code == 0:
            return None
        if not isinstance(e.code, int):
            print(e.code, file=run.stderr)
        return {"name": "SystemExit", "message": str(e.code), "line": None, "traceback": ""}
    except BaseException as e:
        failure = _failure(e, filename)
        run.stderr.write(failure["traceback"])
        return failure
    finally:
        run.stdout.flush()
        run.stderr.flush()
    return None
