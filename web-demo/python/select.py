"""Python's select module for a web page, over sockbridge: ``select.select`` on the bridge's sockets.

It replaces Pyodide's own ``select`` before the page's code runs, so ``selectors`` (which takes
``select.select`` when it is imported) and ``socketserver`` work on the bridge's sockets. ``poll``,
``epoll`` and ``kqueue`` are not offered, so ``selectors.DefaultSelector`` is a ``SelectSelector``.
"""

import _sockbridge
import socket as _socket

error = OSError


def _fileno(obj):
    if isinstance(obj, int):
        fd = obj
    else:
        fd = obj.fileno()
        if not isinstance(fd, int):
            raise TypeError("fileno() returned a non-integer")
    if fd < 0:
        raise ValueError(f"file descriptor cannot be a negative integer ({fd})")
    return fd


def _bridge_sockets(objects):
    """The bridge's sockets behind ``objects`` (sockets, files on them, or their fileno numbers)."""
    out = []
    for obj in objects:
        fd = _fileno(obj)
        sock = _socket._by_fileno.get(fd)
        if sock is None:
            raise OSError(9, "Bad file descriptor: not a socket of the bridge")
        out.append((obj, sock))
    return out


def _select(rlist, wlist, xlist, timeout=None):
    """Waits until some of the sockets are ready, as ``select.select``: three lists of the objects
    given that are ready to read, to write, and with an exceptional condition."""
    if timeout is not None:
        timeout = float(timeout)
        if timeout < 0:
            raise ValueError("timeout must be non-negative")
    lists = [_bridge_sockets(list(objects)) for objects in (rlist, wlist, xlist)]
    js = [_socket._to_js([sock._js for _, sock in pairs]) for pairs in lists]
    ready = _socket._wait(_sockbridge.bridge, "select", js[0], js[1], js[2], timeout)
    out = []
    for pairs, ready_list in zip(lists, ready):
        fds = {s.fileno() for s in ready_list}
        out.append([obj for obj, sock in pairs if sock.fileno() in fds])
    return tuple(out)


class _Builtin:
    """A function that, like CPython's built-in ``select.select``, does not become a method when a
    class takes it as an attribute (``selectors.SelectSelector._select = select.select``)."""

    def __init__(self, function):
        self._function = function
        self.__doc__ = function.__doc__
        self.__name__ = function.__name__.lstrip("_")

    def __call__(self, *args, **kwargs):
        return self._function(*args, **kwargs)

    def __repr__(self):
        return f"<built-in function {self.__name__}>"


select = _Builtin(_select)
