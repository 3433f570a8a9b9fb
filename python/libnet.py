"""Sockets on netd for Python, in the spirit of the standard ``socket`` module.

    import libnet
    with libnet.socket() as s:
        s.connect(("10.77.0.1", 80))
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        print(s.recv(4096))

libnet.so is loaded by path: ``LIBNET``, else ``/usr/local/lib/libnet.so``
(where dist/install.sh puts it) -- never by bare name, which the loader could
resolve to Debian's unrelated libnet1. netd's control socket is ``NETD_SOCKET``. Errors are the standard ``OSError``
subclasses (ConnectionRefusedError, ConnectionResetError, TimeoutError,
BrokenPipeError, ...) with Linux's errno. ``fileno()`` is a real descriptor,
so ``selectors`` and ``select`` work on these sockets.
"""

import ctypes
import errno as _errno
import os
import select
import socket as _socket
import time

AF_INET = _socket.AF_INET
SOCK_STREAM = _socket.SOCK_STREAM
SOCK_DGRAM = _socket.SOCK_DGRAM
SOL_SOCKET = _socket.SOL_SOCKET

_path = os.environ.get("LIBNET", "/usr/local/lib/libnet.so")
_lib = ctypes.CDLL(_path, use_errno=True)
if not hasattr(_lib, "net_socket"):
    raise ImportError(f"{_path} is not netd's libnet (no net_socket)")


class _sockaddr_in(ctypes.Structure):
    _fields_ = [("sin_family", ctypes.c_ushort), ("sin_port", ctypes.c_uint16),
                ("sin_addr", ctypes.c_uint32), ("sin_zero", ctypes.c_ubyte * 8)]


def _check(result, func, args):
    if result == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return result


_int, _ssize, _size, _ptr, _u32 = ctypes.c_int, ctypes.c_ssize_t, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_uint32
for _name, _args, _res in [
    ("net_socket", [_int, _int, _int], _int),
    ("net_bind", [_int, _ptr, _u32], _int),
    ("net_listen", [_int, _int], _int),
    ("net_accept4", [_int, _ptr, _ptr, _int], _int),
    ("net_connect", [_int, _ptr, _u32], _int),
    ("net_send", [_int, _ptr, _size, _int], _ssize),
    ("net_recv", [_int, _ptr, _size, _int], _ssize),
    ("net_sendto", [_int, _ptr, _size, _int, _ptr, _u32], _ssize),
    ("net_recvfrom", [_int, _ptr, _size, _int, _ptr, _ptr], _ssize),
    ("net_shutdown", [_int, _int], _int),
    ("net_close", [_int], _int),
    ("net_setsockopt", [_int, _int, _int, _ptr, _u32], _int),
    ("net_getsockopt", [_int, _int, _int, _ptr, _ptr], _int),
    ("net_getsockname", [_int, _ptr, _ptr], _int),
    ("net_getpeername", [_int, _ptr, _ptr], _int),
    ("net_fcntl", [_int, _int, ctypes.c_long], _int),
]:
    _f = getattr(_lib, _name)
    _f.argtypes, _f.restype, _f.errcheck = _args, _res, _check

_F_GETFL, _F_SETFL = 3, 4


def _to_sockaddr(address):
    host, port = address
    packed = _socket.inet_aton(_socket.gethostbyname(host) if host else "0.0.0.0")
    return _sockaddr_in(AF_INET, _socket.htons(port), int.from_bytes(packed, "little"))


def _from_sockaddr(sa):
    return (_socket.inet_ntoa(sa.sin_addr.to_bytes(4, "little")), _socket.ntohs(sa.sin_port))


class socket:
    """A netd socket with the methods of ``socket.socket`` used most."""

    def __init__(self, family=AF_INET, type=SOCK_STREAM, proto=0, fileno=None):
        self.family, self.type = family, type
        self._fd = fileno if fileno is not None else _lib.net_socket(family, type, proto)
        self._timeout = None
        self._closed = False

    # descriptors and modes
    def fileno(self):
        return self._fd

    def _set_nonblocking(self, flag):
        fl = _lib.net_fcntl(self._fd, _F_GETFL, 0)
        fl = fl | os.O_NONBLOCK if flag else fl & ~os.O_NONBLOCK
        _lib.net_fcntl(self._fd, _F_SETFL, fl)

    def settimeout(self, value):
        """None blocks, 0 never blocks, a number waits that many seconds then raises TimeoutError."""
        self._timeout = value
        self._set_nonblocking(value is not None)

    def gettimeout(self):
        return self._timeout

    def setblocking(self, flag):
        self.settimeout(None if flag else 0.0)

    def _wait(self, write, deadline):
        """Wait for readiness within the timeout (as CPython's sock_call does)."""
        if self._timeout is None or self._timeout == 0:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        r, w, _ = select.select([] if write else [self._fd], [self._fd] if write else [], [], left)
        if not r and not w:
            raise TimeoutError("timed out")
        return True

    def _call(self, write, op):
        deadline = time.monotonic() + (self._timeout or 0)
        while True:
            try:
                return op()
            except BlockingIOError:
                if not self._wait(write, deadline):
                    raise

    # connection setup
    def bind(self, address):
        sa = _to_sockaddr(address)
        _lib.net_bind(self._fd, ctypes.byref(sa), ctypes.sizeof(sa))

    def listen(self, backlog=128):
        _lib.net_listen(self._fd, backlog)

    def accept(self):
        sa = _sockaddr_in()
        ln = ctypes.c_uint32(ctypes.sizeof(sa))
        fd = self._call(False, lambda: _lib.net_accept4(self._fd, ctypes.byref(sa), ctypes.byref(ln), 0))
        return socket(self.family, self.type, fileno=fd), _from_sockaddr(sa)

    def connect(self, address):
        sa = _to_sockaddr(address)
        if self._timeout is None:
            _lib.net_connect(self._fd, ctypes.byref(sa), ctypes.sizeof(sa))
            return
        # Non-blocking: follow connect()'s errno sequence until the handshake is over.
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                _lib.net_connect(self._fd, ctypes.byref(sa), ctypes.sizeof(sa))
                return
            except OSError as e:
                if e.errno == _errno.EISCONN:
                    return
                if e.errno not in (_errno.EINPROGRESS, _errno.EALREADY):
                    raise
                if self._timeout == 0 and e.errno == _errno.EINPROGRESS:
                    raise
            # The descriptor turns writable when the handshake is decided.
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out")
            select.select([], [self._fd], [], remaining)

    # data
    def send(self, data, flags=0):
        buf = (ctypes.c_char * len(data)).from_buffer_copy(bytes(data))
        return self._call(True, lambda: _lib.net_send(self._fd, buf, len(data), flags | _socket.MSG_NOSIGNAL))

    def sendall(self, data, flags=0):
        view = memoryview(bytes(data))
        while view:
            n = self.send(view, flags)
            view = view[n:]

    def recv_into(self, buffer, nbytes=0, flags=0):
        nbytes = nbytes or len(buffer)
        c = (ctypes.c_char * nbytes).from_buffer(buffer)
        return self._call(False, lambda: _lib.net_recv(self._fd, c, nbytes, flags))

    def recv(self, bufsize, flags=0):
        buf = ctypes.create_string_buffer(bufsize)
        n = self._call(False, lambda: _lib.net_recv(self._fd, buf, bufsize, flags))
        return buf.raw[:n]

    def sendto(self, data, address):
        sa = _to_sockaddr(address)
        buf = (ctypes.c_char * len(data)).from_buffer_copy(bytes(data))
        return self._call(True, lambda: _lib.net_sendto(self._fd, buf, len(data), 0, ctypes.byref(sa), ctypes.sizeof(sa)))

    def recvfrom(self, bufsize, flags=0):
        buf = ctypes.create_string_buffer(bufsize)
        sa = _sockaddr_in()
        ln = ctypes.c_uint32(ctypes.sizeof(sa))
        n = self._call(False, lambda: _lib.net_recvfrom(self._fd, buf, bufsize, flags, ctypes.byref(sa), ctypes.byref(ln)))
        return buf.raw[:n], (_from_sockaddr(sa) if ln.value else None)

    # options and names
    def setsockopt(self, level, optname, value):
        # An int, or the option's bytes (struct linger), as socket.setsockopt takes.
        if isinstance(value, (bytes, bytearray)):
            v = ctypes.create_string_buffer(bytes(value), len(value))
            _lib.net_setsockopt(self._fd, level, optname, v, len(value))
            return
        v = ctypes.c_int(int(value))
        _lib.net_setsockopt(self._fd, level, optname, ctypes.byref(v), ctypes.sizeof(v))

    def getsockopt(self, level, optname):
        v = ctypes.c_int(0)
        ln = ctypes.c_uint32(ctypes.sizeof(v))
        _lib.net_getsockopt(self._fd, level, optname, ctypes.byref(v), ctypes.byref(ln))
        return v.value

    def getsockname(self):
        sa = _sockaddr_in()
        ln = ctypes.c_uint32(ctypes.sizeof(sa))
        _lib.net_getsockname(self._fd, ctypes.byref(sa), ctypes.byref(ln))
        return _from_sockaddr(sa)

    def getpeername(self):
        sa = _sockaddr_in()
        ln = ctypes.c_uint32(ctypes.sizeof(sa))
        _lib.net_getpeername(self._fd, ctypes.byref(sa), ctypes.byref(ln))
        return _from_sockaddr(sa)

    # ending
    def shutdown(self, how):
        _lib.net_shutdown(self._fd, how)

    def close(self):
        if not self._closed:
            self._closed = True
            _lib.net_close(self._fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<libnet.socket fd=%d>" % self._fd
