#!/usr/bin/env python3
"""Runs sockbridge conformance scenarios on CPython's own socket module (stdlib only).

    python3 runner.py SCENARIO.json [...]

The same file runs in a web page's Python (Pyodide, with the bridge's ``socket`` and ``select``):
tests/browser/conformance.test.mjs compares that transcript with CPython's too.

prints one JSON object: {"<scenario name>": [<result of each step>, ...], ...}. The Rust runner
executes the same scenarios through the bridge and compares. The format is described in
tests/conformance/README.md; values are written in the shared form that document gives, so both
runners' transcripts can be compared after ports and fds are abstracted.
"""

import errno
import functools
import json
import operator
import os
import select
import shutil
import socket
import sys
import tempfile

# In a page's Python the sockets are the bridge's, and a Unix socket's address is a name in the
# daemon's directory (as the Rust runner gives it), not a path of this (browser) file system.
THROUGH_BRIDGE = sys.platform == "emscripten"

CONSTANTS = {
    name: int(getattr(socket, name))
    for name in dir(socket)
    if name.isupper() and isinstance(getattr(socket, name), int)
}


class Scenario:
    def __init__(self, steps):
        self.steps = steps
        self.env = {}
        self.tmp = tempfile.mkdtemp(prefix="sockbridge-conformance-")
        self.sockets = []

    def arg(self, value):
        if isinstance(value, str):
            if value.startswith("$"):
                return self.env[value[1:]]
            return CONSTANTS.get(value, value)
        if isinstance(value, list):
            return tuple(self.arg(v) for v in value)
        if isinstance(value, dict):
            (kind, inner), = value.items()
            if kind == "bytes":
                return inner.encode("latin-1")
            if kind == "hex":
                return bytes.fromhex(inner)
            if kind == "repeat":
                text, count = inner
                return text.encode("latin-1") * count
            if kind == "unix":
                return inner if THROUGH_BRIDGE else os.path.join(self.tmp, inner)
            if kind == "or":
                return functools.reduce(operator.or_, (self.arg(v) for v in inner))
            if kind == "list":
                return [self.arg(v) for v in inner]
            raise ValueError(f"unknown argument form {kind}")
        return value

    def name_of(self, obj):
        for name, value in self.env.items():
            if value is obj:
                return name
        return "?"

    def addr(self, family, value):
        if family == socket.AF_UNIX:
            if value is None:
                return None
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            prefix = self.tmp + os.sep
            return {"unix": value[len(prefix):] if value.startswith(prefix) else value}
        return {"addr": list(value)}

    def encode(self, method, target, value, as_names):
        if method in ("recv", "read", "readline"):
            return {"bytes": value.decode("latin-1")}
        if method in ("getsockname", "getpeername"):
            return self.addr(target.family, value)
        if method == "accept":
            conn, peer = value
            name = as_names[0] if isinstance(as_names, list) else "?"
            return [{"socket": name}, self.addr(target.family, peer)]
        if method == "recvfrom":
            data, peer = value
            return [{"bytes": data.decode("latin-1")}, self.addr(target.family, peer)]
        if method == "connect_ex":
            # An errno, compared by name as a raised one is (a page's Python numbers them its own way).
            return errno.errorcode.get(value, value) if value else 0
        if method == "fileno":
            return {"fd": value} if value >= 0 else value
        if method == "socket":
            return {"socket": as_names if isinstance(as_names, str) else "?"}
        if method == "makefile":
            return {"file": as_names if isinstance(as_names, str) else "?"}
        if method == "select":
            return [[self.name_of(s) for s in group] for group in value]
        if method == "getaddrinfo":
            return [[int(f), int(t), p, c, {"addr": list(a)}] for f, t, p, c, a in value]
        if isinstance(value, bytes):
            return {"bytes": value.decode("latin-1")}
        if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
            return value
        raise TypeError(f"cannot encode a {type(value).__name__} from {method}")

    def call(self, step):
        target_name, _, method = step["do"].rpartition(".")
        args = [self.arg(a) for a in step.get("args", [])]
        if not target_name:
            target = None
            if method == "socket":
                value = socket.socket(*args)
                self.sockets.append(value)
            elif method == "select":
                value = select.select(*args)
            else:
                value = getattr(socket, method)(*args)
        else:
            target = self.env[target_name]
            attr = getattr(target, method)
            value = attr(*args) if callable(attr) else attr
            if method == "accept":
                self.sockets.append(value[0])
        return method, target, value

    def run(self):
        transcript = []
        try:
            for step in self.steps:
                as_names = step.get("as")
                try:
                    method, target, value = self.call(step)
                except Exception as e:  # the transcript records what was raised
                    transcript.append(raised(e))
                    continue
                transcript.append({"ok": self.encode(method, target, value, as_names)})
                if isinstance(as_names, str):
                    self.env[as_names] = value
                elif isinstance(as_names, list):
                    for name, part in zip(as_names, value):
                        self.env[name] = part
        finally:
            for s in self.sockets:
                s.close()
            shutil.rmtree(self.tmp, ignore_errors=True)
        return transcript


def raised(e):
    """The class, and the errno name; the message too where there is no errno to compare."""
    entry = {"raise": type(e).__name__}
    number = getattr(e, "errno", None)
    if isinstance(e, socket.gaierror):
        entry["errno"] = number
    elif number is not None:
        entry["errno"] = errno.errorcode.get(number, number)
    elif isinstance(e, (OSError, ValueError)):
        entry["message"] = str(e)
    return entry


def main(paths):
    out = {}
    for path in paths:
        with open(path) as f:
            scenario = json.load(f)
        name = os.path.splitext(os.path.basename(path))[0]
        out[name] = Scenario(scenario["steps"]).run()
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
