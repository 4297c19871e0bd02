"""Python's socket module for a web page, over sockbridge: real TCP, UDP and Unix sockets, opened by
the bridge daemon, with Python's meaning (blocking calls, timeouts, non-blocking mode, errno values
and exception classes).

It replaces Pyodide's own ``socket`` (which cannot open sockets in a browser) before the page's
code runs, so the tutorial's code runs unchanged::

    from socket import *
    s = socket(AF_INET, SOCK_STREAM)
    s.connect(("127.0.0.1", 9000))

Blocking calls wait with ``pyodide.ffi.run_sync``, so code must run under ``runPythonAsync`` (the
lessons do) in a browser with JavaScript Promise Integration. Differences from CPython's module are
listed in docs/python.md; constants have Linux's values (the daemon's sockets are Linux's), and
errno numbers in exceptions are the page's own ``errno`` module's, so ``e.errno ==
errno.ECONNREFUSED`` holds.
"""

import enum as _enum
import errno as _errno
import io as _io
import ipaddress as _ipaddress
import os as _os
import weakref as _weakref

import _sockbridge
from _sockbridge_run import program as _program
from pyodide.ffi import jsnull as _jsnull
from pyodide.ffi import run_sync as _run_sync
from pyodide.ffi import to_js as _to_js

_sb = _sockbridge.sb

# Constants with the bridge's (Linux's) values: AF_*, SOCK_*, SOL_*, SO_*, IPPROTO_*, TCP_*, SHUT_*,
# MSG_*, AI_*, NI_*, IP_*, IPV6_*, EAI_*; the errno names map the bridge's errno numbers to the page's.
_PREFIXES = ("AF_", "SOCK_", "SOL_", "SO_", "IPPROTO_", "TCP_", "SHUT_", "MSG_", "AI_", "NI_", "IP_", "IPV6_",
             "INADDR_", "SOMAXCONN", "EAI_")
_LINUX_ERRNO_NAMES = {}
for _name in _sockbridge.names:
    if _name.startswith(_PREFIXES):
        globals()[_name] = getattr(_sb, _name)
    elif _name.startswith("E") and _name.isupper():
        _LINUX_ERRNO_NAMES.setdefault(getattr(_sb, _name), _name)
del _name


def _enums(kind, name, prefix):
    """CPython's enums of the constants (``AddressFamily.AF_INET``...), which stand in their place."""
    members = {k: v for k, v in globals().items() if k.startswith(prefix) and isinstance(v, int)}
    converted = kind(name, members, module=__name__)
    globals().update({k: converted[k] for k in members})
    return converted


AddressFamily = _enums(_enum.IntEnum, "AddressFamily", "AF_")
SocketKind = _enums(_enum.IntEnum, "SocketKind", "SOCK_")
MsgFlag = _enums(_enum.IntFlag, "MsgFlag", "MSG_")
AddressInfo = _enums(_enum.IntFlag, "AddressInfo", "AI_")


def _intenum(value, kind):
    try:
        return kind(value)
    except ValueError:
        return value


has_ipv6 = True
SocketType = None  # set below
error = OSError
timeout = TimeoutError


class herror(OSError):
    pass


class gaierror(OSError):
    pass


_GLOBAL_DEFAULT_TIMEOUT = object()
_default_timeout = None


def _page_errno(linux_errno, code=None):
    """The page's errno number for the bridge's (Linux's) one, through its name."""
    name = code or _LINUX_ERRNO_NAMES.get(linux_errno)
    return getattr(_errno, name, linux_errno) if name else linux_errno


def _raise(failure):
    """Raises the Python exception a bridge error stands for."""
    name = failure.name
    code = failure.code
    linux_errno = failure.errno
    message = failure.message
    strerror = failure.strerror or message
    reason = failure.reason
    if reason:
        strerror = f"{strerror}: {reason}"
    if name == "gaierror":
        raise gaierror(linux_errno, strerror)
    if name == "TimeoutError" and linux_errno is None:
        raise TimeoutError("timed out")
    if linux_errno is not None:
        # OSError(errno, strerror) is the subclass the errno names (ConnectionRefusedError, ...).
        raise OSError(_page_errno(linux_errno, code), strerror)
    import builtins

    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, BaseException):
        raise cls(message)
    raise OSError(message)


def _wait(js, method, *args):
    """``js.method(*args)``, a bridge call that may wait: blocks until it answers; its value, or its
    error raised as Python's."""
    outcome = _run_sync(_program().settle(js, method, *args))
    if outcome.ok:
        return outcome.value
    _raise(outcome)


def _now(js, method, *args):
    """A bridge call that answers at once: ``js.method(*args)``."""
    outcome = _program().attempt(js, method, *args)
    if outcome.ok:
        return outcome.value
    _raise(outcome)


def _address_to_js(address):
    if isinstance(address, (str, bytes)):
        return address.decode() if isinstance(address, bytes) else address
    if not isinstance(address, tuple):
        raise TypeError(f"{type(address).__name__!r} object is not an address tuple")
    return _to_js(list(address))


def _is_null(value):
    """JavaScript's null (``pyodide.ffi.jsnull``) or undefined (None)."""
    return value is None or type(value).__name__ == "JsNull"


def _address_from_js(value):
    if _is_null(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return tuple(value)
    return tuple(value.to_py())


def _bytes_to_js(data):
    if isinstance(data, str):
        raise TypeError("a bytes-like object is required, not 'str'")
    return _to_js(bytes(memoryview(data)))


# The open sockets by handle, for select.
_by_fileno = _weakref.WeakValueDictionary()


class socket:
    """A socket: ``socket(family=AF_INET, type=SOCK_STREAM, proto=0)``."""

    __slots__ = ("_js", "_family", "_type", "_proto", "_io_refs", "_closed", "__weakref__")

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is not None:
            raise OSError(_errno.EBADF, "sockets of the bridge cannot be made from a file descriptor")
        family = AF_INET if family == -1 else family
        type = SOCK_STREAM if type == -1 else type
        proto = 0 if proto == -1 else proto
        program = _program()
        # A program runs on one host of a private network: its sockets are made there.
        js = _wait(program.bridge, "socket", family, type, proto, *([program.host] if program.host else []))
        self._adopt(js, family, type, proto)
        if _default_timeout is not None:
            self.settimeout(_default_timeout)

    def _adopt(self, js, family, type, proto):
        self._js = js
        self._family = family
        self._type = type
        self._proto = proto
        self._io_refs = 0
        self._closed = False
        _by_fileno[js.fileno()] = self
        _program().adopt(js)

    @classmethod
    def _from_js(cls, js, family, type, proto):
        sock = cls.__new__(cls)
        sock._adopt(js, family, type, proto)
        return sock

    def __repr__(self):
        """As CPython's: ``<socket.socket fd=3, family=2, type=1, proto=0, laddr=('127.0.0.1', 80)>``,
        with ``raddr`` once connected (each read from the bridge)."""
        closed = " [closed]" if self._closed else ""
        text = (f"<socket.socket{closed} fd={self.fileno()}, family={self._family}, type={self.type}, "
                f"proto={self._proto}")
        if not self._closed:
            for key, method in (("laddr", self.getsockname), ("raddr", self.getpeername)):
                try:
                    address = method()
                except OSError:
                    continue
                if address:
                    text += f", {key}={address}"
        return text + ">"

    def __enter__(self):
        return self

    def __exit__(self, *args):
        if not self._closed:
            self.close()

    def __getstate__(self):
        raise TypeError(f"cannot pickle {self.__class__.__name__!r} object")

    family = property(lambda self: _intenum(self._family, AddressFamily), doc="The address family.")
    type = property(lambda self: _intenum(self._type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), SocketKind),
                    doc="The socket type (without SOCK_NONBLOCK and SOCK_CLOEXEC, as CPython's).")
    proto = property(lambda self: self._proto, doc="The protocol.")

    def fileno(self):
        # -1 once really closed: a close() deferred by an open makefile() file leaves it working.
        return self._js.fileno()

    def bind(self, address):
        _wait(self._js, "bind", _address_to_js(address))

    def listen(self, backlog=None):
        _wait(self._js, "listen") if backlog is None else _wait(self._js, "listen", backlog)

    def accept(self):
        js, address = _wait(self._js, "accept")
        conn = socket._from_js(js, self._family, self._type, self._proto)
        if _default_timeout is not None:
            conn.settimeout(_default_timeout)
        return conn, _address_from_js(address)

    def connect(self, address):
        _wait(self._js, "connect", _address_to_js(address))

    def connect_ex(self, address):
        return _page_errno(_wait(self._js, "connect_ex", _address_to_js(address)))

    def recv(self, bufsize, flags=0):
        return _wait(self._js, "recv", bufsize, flags).to_bytes()

    def recv_into(self, buffer, nbytes=0, flags=0):
        view = memoryview(buffer).cast("B")
        data = self.recv(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data)

    def recvfrom(self, bufsize, flags=0):
        data, address = _wait(self._js, "recvfrom", bufsize, flags)
        return data.to_bytes(), _address_from_js(address)

    def recvfrom_into(self, buffer, nbytes=0, flags=0):
        view = memoryview(buffer).cast("B")
        data, address = self.recvfrom(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data), address

    def send(self, data, flags=0):
        return _wait(self._js, "send", _bytes_to_js(data), flags)

    def sendall(self, data, flags=0):
        if flags:
            raise OSError(_errno.EINVAL, "sendall through the bridge takes no flags")
        _wait(self._js, "sendall", _bytes_to_js(data))

    def sendto(self, data, flags_or_address, address=None):
        if address is None:
            address = flags_or_address
        elif flags_or_address:
            raise OSError(_errno.EINVAL, "sendto through the bridge takes no flags")
        return _wait(self._js, "sendto", _bytes_to_js(data), _address_to_js(address))

    def shutdown(self, how):
        _wait(self._js, "shutdown", how)

    def getsockname(self):
        return _address_from_js(_wait(self._js, "getsockname"))

    def getpeername(self):
        return _address_from_js(_wait(self._js, "getpeername"))

    def setsockopt(self, level, optname, value, optlen=None):
        if optlen is not None:
            raise OSError(_errno.EINVAL, "setsockopt through the bridge takes no optlen")
        js_value = _to_js(bytes(value)) if isinstance(value, (bytes, bytearray, memoryview)) else value
        _wait(self._js, "setsockopt", level, optname, js_value)

    def getsockopt(self, level, optname, buflen=None):
        if buflen is None:
            value = _wait(self._js, "getsockopt", level, optname)
        else:
            value = _wait(self._js, "getsockopt", level, optname, buflen)
        return value if isinstance(value, int) else value.to_bytes()

    def settimeout(self, value):
        # None is JavaScript's null here: an undefined argument would be a missing one.
        _now(self._js, "settimeout", _jsnull if value is None else float(value))

    def gettimeout(self):
        value = self._js.gettimeout()
        return None if _is_null(value) else float(value)

    def setblocking(self, flag):
        _now(self._js, "setblocking", bool(flag))

    def getblocking(self):
        return bool(self._js.getblocking())

    def makefile(self, mode="r", buffering=None, *, encoding=None, errors=None, newline=None):
        """A file object on the socket, as CPython's (text mode ``'r'`` by default)."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        binary = "b" in mode
        raw = SocketIO(self, ("r" if reading else "") + ("w" if writing else ""))
        self._io_refs += 1
        if buffering is None:
            buffering = -1
        if buffering < 0:
            buffering = _io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        if reading and writing:
            buffer = _io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = _io.BufferedReader(raw, buffering)
        else:
            buffer = _io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        text = _io.TextIOWrapper(buffer, encoding, errors, newline)
        text.mode = mode
        return text

    def _decref_socketios(self):
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def _real_close(self):
        _by_fileno.pop(self._js.fileno(), None)
        _program().forget(self._js)
        _wait(self._js, "close")

    def close(self):
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def detach(self):
        raise OSError(_errno.EOPNOTSUPP, "a bridge socket cannot be detached from its session")

    def dup(self):
        raise OSError(_errno.EOPNOTSUPP, "a bridge socket cannot be duplicated")


SocketType = socket


class SocketIO(_io.RawIOBase):
    """The raw I/O under ``makefile()``, as CPython's ``socket.SocketIO``."""

    def __init__(self, sock, mode):
        super().__init__()
        self._sock = sock
        self._mode = mode
        self._reading = "r" in mode
        self._writing = "w" in mode
        self._timeout_occurred = False

    def readinto(self, b):
        self._checkClosed()
        self._checkReadable()
        if self._timeout_occurred:
            raise OSError("cannot read from timed out object")
        try:
            return self._sock.recv_into(b)
        except TimeoutError:
            self._timeout_occurred = True
            raise
        except BlockingIOError:
            return None

    def write(self, b):
        self._checkClosed()
        self._checkWritable()
        try:
            return self._sock.send(b)
        except BlockingIOError:
            return None

    def readable(self):
        return self._reading

    def writable(self):
        return self._writing

    def seekable(self):
        return False

    def fileno(self):
        return self._sock.fileno()

    @property
    def name(self):
        return self.fileno() if not self.closed else -1

    @property
    def mode(self):
        return self._mode

    def close(self):
        if self.closed:
            return
        super().close()
        self._sock._decref_socketios()
        self._sock = None


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    infos = _wait(_program().bridge, "getaddrinfo", host, port, family, type, proto, flags)
    return [(_intenum(f, AddressFamily), _intenum(t, SocketKind), p, c, _address_from_js(a))
            for f, t, p, c, a in (i.to_py() for i in infos)]


def gethostbyname(hostname):
    return _wait(_program().bridge, "gethostbyname", hostname)


def gethostname():
    """The name of the computer the program runs on: its host's, in a private network."""
    host = _program().host
    return host if host else _wait(_program().bridge, "gethostname")


def gethostbyaddr(ip_address):
    """The bridge does not look names up by address: ``herror``, as for an address with no name."""
    raise herror(1, "Unknown host")


def getfqdn(name=""):
    """The fully qualified name: the host's name for ``''`` or a wildcard, else ``name`` itself (the
    bridge does not look names up by address)."""
    name = name.strip()
    if not name or name in ("0.0.0.0", "::"):
        return gethostname()
    return name


def getdefaulttimeout():
    return _default_timeout


def setdefaulttimeout(timeout):
    global _default_timeout
    _default_timeout = None if timeout is None else float(timeout)


def create_connection(address, timeout=_GLOBAL_DEFAULT_TIMEOUT, source_address=None, *, all_errors=False):
    """Connects to ``(host, port)``, trying each address the name resolves to, as CPython's."""
    host, port = address
    errors = []
    for family, type_, proto, _canon, sa in getaddrinfo(host, port, 0, SOCK_STREAM):
        sock = None
        try:
            sock = socket(family, type_, proto)
            if timeout is not _GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sa)
            return sock
        except OSError as e:
            errors.append(e)
            if sock is not None:
                sock.close()
    if not errors:
        raise OSError("getaddrinfo returns an empty list")
    if all_errors:
        raise ExceptionGroup("create_connection failed", errors)
    raise errors[0]


def create_server(address, *, family=AF_INET, backlog=None, reuse_port=False, dualstack_ipv6=False):
    """A listening TCP socket bound to ``address``, as CPython's."""
    if reuse_port:
        raise ValueError("SO_REUSEPORT not supported on this platform")
    if dualstack_ipv6:
        raise ValueError("dualstack_ipv6 not supported on this platform")
    sock = socket(family, SOCK_STREAM)
    try:
        sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        sock.bind(address)
        if backlog is None:
            sock.listen()
        else:
            sock.listen(backlog)
        return sock
    except BaseException:
        sock.close()
        raise


def has_dualstack_ipv6():
    return False


def socketpair(family=None, type=SOCK_STREAM, proto=0):
    """A connected pair, made through the bridge with a listener on loopback."""
    with create_server(("127.0.0.1", 0)) as listener:
        a = socket(AF_INET, type, proto)
        a.connect(listener.getsockname())
        b, _ = listener.accept()
    return a, b


def fromfd(fd, family, type, proto=0):
    raise OSError(_errno.EOPNOTSUPP, "the bridge's sockets are not file descriptors of this page")


def inet_aton(text):
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise OSError("illegal IP address string passed to inet_aton")
    return bytes(int(p) for p in parts)


def inet_ntoa(packed):
    if len(packed) != 4:
        raise OSError("packed IP wrong length for inet_ntoa")
    return ".".join(str(b) for b in packed)


def inet_pton(family, text):
    """An address in packed binary form, as CPython's."""
    kinds = {AF_INET: _ipaddress.IPv4Address, AF_INET6: _ipaddress.IPv6Address}
    if family not in kinds:
        raise OSError(_errno.EAFNOSUPPORT, _os.strerror(_errno.EAFNOSUPPORT))
    try:
        return kinds[family](text).packed
    except ValueError:
        raise OSError("illegal IP address string passed to inet_pton") from None


def inet_ntop(family, packed):
    """An address's text from its packed binary form, as CPython's."""
    sizes = {AF_INET: (4, _ipaddress.IPv4Address), AF_INET6: (16, _ipaddress.IPv6Address)}
    if family not in sizes:
        raise ValueError(f"unknown address family {family}")
    size, kind = sizes[family]
    if len(packed) != size:
        raise ValueError("invalid length of packed IP address string")
    return str(kind(bytes(packed)))


# The page has no /etc/services or /etc/protocols: the well-known entries, as Linux's lists have them.
_SERVICES = {"echo": 7, "discard": 9, "daytime": 13, "chargen": 19, "ftp": 21, "ssh": 22, "telnet": 23,
             "smtp": 25, "domain": 53, "http": 80, "pop3": 110, "imap": 143, "https": 443}
_PROTOCOLS = {"ip": 0, "icmp": 1, "tcp": 6, "udp": 17, "ipv6": 41, "icmpv6": 58}


def getservbyname(name, proto=None):
    if name not in _SERVICES or proto not in (None, "tcp", "udp"):
        raise OSError("service/proto not found")
    return _SERVICES[name]


def getservbyport(port, proto=None):
    if not 0 <= port <= 65535:
        raise OverflowError("getservbyport: port must be 0-65535.")
    for name, number in _SERVICES.items():
        if number == port and proto in (None, "tcp", "udp"):
            return name
    raise OSError("port/proto not found")


def getprotobyname(name):
    if name not in _PROTOCOLS:
        raise OSError("protocol not found")
    return _PROTOCOLS[name]


def htons(x):
    return ((x & 0xFF) << 8) | ((x >> 8) & 0xFF)


ntohs = htons


def htonl(x):
    return int.from_bytes(int(x).to_bytes(4, "little"), "big")


ntohl = htonl


def close(fd):
    sock = _by_fileno.get(fd)
    if sock is None:
        raise OSError(_errno.EBADF, _os.strerror(_errno.EBADF))
    sock.close()


__all__ = [name for name in globals() if not name.startswith("_")]
