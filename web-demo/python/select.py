"""Python's select module for a web page, over sockbridge: ``select.select`` on the bridge's sockets.

It replaces Pyodide's own ``select`` before the page's code runs, so ``selectors`` (which takes
``select.select`` and ``select.poll`` when it is imported) and ``socketserver`` work on the bridge's
sockets. ``select`` and ``poll`` are offered; ``epoll`` and ``kqueue`` are not, so
``selectors.DefaultSelector`` is a ``PollSelector``.
"""

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
    ready = _socket._wait(_socket._program().bridge, "select", js[0], js[1], js[2], timeout)
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


# poll's event bits, with Linux's values.
POLLIN = 0x001
POLLPRI = 0x002
POLLOUT = 0x004
POLLERR = 0x008
POLLHUP = 0x010
POLLNVAL = 0x020
POLLRDNORM = 0x040
POLLRDBAND = 0x080
POLLWRNORM = 0x100
POLLWRBAND = 0x200


class _Poll:
    """``select.poll()``: register sockets (or their fileno numbers) with the events to wait for,
    then ``poll(timeout_ms)`` returns ``[(fd, events), ...]`` for those ready. It is ``select``
    underneath: readable is ``POLLIN``, writable ``POLLOUT``, exceptional ``POLLPRI``; a socket
    that is no longer the bridge's is ``POLLNVAL``."""

    def __init__(self):
        self._registered = {}

    def register(self, fd, eventmask=POLLIN | POLLPRI | POLLOUT):
        self._registered[_fileno(fd)] = eventmask

    def modify(self, fd, eventmask):
        fd = _fileno(fd)
        if fd not in self._registered:
            raise FileNotFoundError(2, "No such file or directory")
        self._registered[fd] = eventmask

    def unregister(self, fd):
        del self._registered[_fileno(fd)]

    def poll(self, timeout=None):
        if timeout is not None:
            timeout = float(timeout)
            timeout = None if timeout < 0 else timeout / 1000
        invalid = [(fd, POLLNVAL) for fd in self._registered if _socket._by_fileno.get(fd) is None]
        if invalid:
            return invalid
        r = [fd for fd, mask in self._registered.items() if mask & (POLLIN | POLLRDNORM)]
        w = [fd for fd, mask in self._registered.items() if mask & (POLLOUT | POLLWRNORM)]
        x = [fd for fd, mask in self._registered.items() if mask & (POLLPRI | POLLRDBAND)]
        readable, writable, exceptional = _select(r, w, x, timeout)
        events = {}
        for fd in readable:
            events[fd] = events.get(fd, 0) | (self._registered[fd] & (POLLIN | POLLRDNORM))
        for fd in writable:
            events[fd] = events.get(fd, 0) | (self._registered[fd] & (POLLOUT | POLLWRNORM))
        for fd in exceptional:
            events[fd] = events.get(fd, 0) | (self._registered[fd] & (POLLPRI | POLLRDBAND))
        return list(events.items())


def _poll():
    """A new polling object (``select.poll()``)."""
    return _Poll()


poll = _Builtin(_poll)
