"""libnet from Python through ctypes, against the Linux kernel's own sockets.

Run inside a network namespace where netd owns 10.77.0.2 and the kernel
10.77.0.1; NETD_SOCKET names netd's control socket, LIBNET the library.
Every check raises on failure; the last line printed is "all ok".
"""
import ctypes
import errno
import os
import select
import socket
import struct
import threading

lib = ctypes.CDLL(os.environ["LIBNET"], use_errno=True)
NETD, HOST = "10.77.0.2", "10.77.0.1"


class sockaddr_in(ctypes.Structure):
    _fields_ = [("sin_family", ctypes.c_ushort), ("sin_port", ctypes.c_uint16),
                ("sin_addr", ctypes.c_uint32), ("sin_zero", ctypes.c_ubyte * 8)]


def check(result, func, args):
    if result == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return result


c_int, c_ssize, c_size, c_void_p, c_u32 = ctypes.c_int, ctypes.c_ssize_t, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_uint32
for name, argtypes, restype in [
    ("net_socket", [c_int, c_int, c_int], c_int),
    ("net_bind", [c_int, c_void_p, c_u32], c_int),
    ("net_listen", [c_int, c_int], c_int),
    ("net_accept", [c_int, c_void_p, c_void_p], c_int),
    ("net_connect", [c_int, c_void_p, c_u32], c_int),
    ("net_send", [c_int, c_void_p, c_size, c_int], c_ssize),
    ("net_recv", [c_int, c_void_p, c_size, c_int], c_ssize),
    ("net_sendto", [c_int, c_void_p, c_size, c_int, c_void_p, c_u32], c_ssize),
    ("net_recvfrom", [c_int, c_void_p, c_size, c_int, c_void_p, c_void_p], c_ssize),
    ("net_shutdown", [c_int, c_int], c_int),
    ("net_close", [c_int], c_int),
    ("net_getsockopt", [c_int, c_int, c_int, c_void_p, c_void_p], c_int),
    ("net_fcntl", [c_int, c_int, ctypes.c_long], c_int),
]:
    f = getattr(lib, name)
    f.argtypes, f.restype, f.errcheck = argtypes, restype, check


def addr(ip, port):
    return sockaddr_in(socket.AF_INET, socket.htons(port),
                       int.from_bytes(socket.inet_aton(ip), "little"))


def expect_errno(code, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        assert e.errno == code, "expected %s, got %s" % (errno.errorcode[code], e)
        return e
    raise AssertionError("expected %s" % errno.errorcode[code])


def send_all(fd, data):
    view = memoryview(data)
    while view:
        buf = (ctypes.c_char * len(view)).from_buffer_copy(view)
        n = lib.net_send(fd, buf, len(view), 0)
        view = view[n:]


def recv_all(fd):
    out, buf = bytearray(), ctypes.create_string_buffer(65536)
    while True:
        n = lib.net_recv(fd, buf, 65536, 0)
        if n == 0:
            return bytes(out)
        out += buf.raw[:n]


def kernel_recv_all(sock):
    """What a kernel socket reads until the peer's FIN."""
    out = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return out
        out += chunk


# 1. TCP client to a kernel server, and connection refused by RST.
ksrv = socket.socket()
ksrv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ksrv.bind((HOST, 9100))
ksrv.listen()

def kernel_echo():
    c, _ = ksrv.accept()
    data = kernel_recv_all(c)
    c.sendall(data[::-1])
    c.close()

t = threading.Thread(target=kernel_echo)
t.start()
fd = lib.net_socket(socket.AF_INET, socket.SOCK_STREAM, 0)
a = addr(HOST, 9100)
lib.net_connect(fd, ctypes.byref(a), ctypes.sizeof(a))
send_all(fd, b"hello from ctypes")
lib.net_shutdown(fd, socket.SHUT_WR)
assert recv_all(fd) == b"hello from ctypes"[::-1]
lib.net_close(fd)
t.join()
print("tcp client ok")

fd = lib.net_socket(socket.AF_INET, socket.SOCK_STREAM, 0)
closed = addr(HOST, 9)
expect_errno(errno.ECONNREFUSED, lib.net_connect, fd, ctypes.byref(closed), ctypes.sizeof(closed))
lib.net_close(fd)
print("refused ok")

# 2. TCP server via libnet, kernel client.
lfd = lib.net_socket(socket.AF_INET, socket.SOCK_STREAM, 0)
la = addr("0.0.0.0", 9200)
lib.net_bind(lfd, ctypes.byref(la), ctypes.sizeof(la))
lib.net_listen(lfd, 8)
assert select.select([lfd], [], [], 0)[0] == [], "listener not readable while empty"
kc = socket.create_connection((NETD, 9200), timeout=10)
r, _, _ = select.select([lfd], [], [], 10)
assert r == [lfd], "listener readable once a connection is queued"
peer = sockaddr_in()
plen = ctypes.c_uint32(ctypes.sizeof(peer))
cfd = lib.net_accept(lfd, ctypes.byref(peer), ctypes.byref(plen))
assert socket.inet_ntoa(struct.pack("<I", peer.sin_addr)) == HOST and plen.value == 16
kc.sendall(b"ping")
assert select.select([cfd], [], [], 10)[0] == [cfd]
buf = ctypes.create_string_buffer(16)
assert lib.net_recv(cfd, buf, 16, 0) == 4 and buf.raw[:4] == b"ping"
# Non-blocking and empty: EAGAIN.
lib.net_fcntl(cfd, 4, os.O_NONBLOCK)  # F_SETFL
expect_errno(errno.EAGAIN, lib.net_recv, cfd, buf, 16, 0)
kc.close()
assert select.select([cfd], [], [], 10)[0] == [cfd]
assert lib.net_recv(cfd, buf, 16, 0) == 0, "EOF after the kernel closed"
lib.net_close(cfd)
print("tcp server ok")

# 3. fork: the child writes on the inherited socket, the parent reads.
kc = socket.create_connection((NETD, 9200), timeout=10)
select.select([lfd], [], [], 10)
cfd = lib.net_accept(lfd, None, None)
pid = os.fork()
if pid == 0:
    try:
        send_all(cfd, b"from the child")
    finally:
        os._exit(0)
os.waitpid(pid, 0)
kc.settimeout(10)
assert kc.recv(100) == b"from the child"
lib.net_close(cfd)
kc.close()
lib.net_close(lfd)
print("fork ok")

# 4. Non-blocking connect: EINPROGRESS, not writable while the handshake
# runs, then writable with the outcome in SO_ERROR (an event loop's way).
def so_error(fd):
    err = ctypes.c_int(-1)
    elen = ctypes.c_uint32(4)
    lib.net_getsockopt(fd, socket.SOL_SOCKET, socket.SO_ERROR, ctypes.byref(err), ctypes.byref(elen))
    assert elen.value == 4
    return err.value

# Nobody answers for 10.77.0.9 (the kernel side does not forward): SYN-SENT.
fd = lib.net_socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, 0)
a = addr("10.77.0.9", 9)
expect_errno(errno.EINPROGRESS, lib.net_connect, fd, ctypes.byref(a), ctypes.sizeof(a))
assert select.select([], [fd], [], 0.5)[1] == [], "writable while connecting"
expect_errno(errno.EALREADY, lib.net_connect, fd, ctypes.byref(a), ctypes.sizeof(a))
assert so_error(fd) == 0
lib.net_close(fd)
# Refused: writable once the RST is in, SO_ERROR says why.
fd = lib.net_socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, 0)
a = addr(HOST, 9301)
expect_errno(errno.EINPROGRESS, lib.net_connect, fd, ctypes.byref(a), ctypes.sizeof(a))
assert select.select([], [fd], [], 10)[1] == [fd]
assert so_error(fd) == errno.ECONNREFUSED
lib.net_close(fd)
# Accepted: writable, SO_ERROR 0, and the peer gets exactly what was sent.
ksrv2 = socket.socket()
ksrv2.bind((HOST, 9300))
ksrv2.listen()
fd = lib.net_socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK, 0)
a = addr(HOST, 9300)
expect_errno(errno.EINPROGRESS, lib.net_connect, fd, ctypes.byref(a), ctypes.sizeof(a))
assert select.select([], [fd], [], 10)[1] == [fd]
assert so_error(fd) == 0
msg = ctypes.create_string_buffer(b"after the handshake")
assert lib.net_send(fd, msg, 19, 0) == 19
lib.net_shutdown(fd, socket.SHUT_WR)
kc2, _ = ksrv2.accept()
kc2.settimeout(10)
got = kernel_recv_all(kc2)
assert got == b"after the handshake", got[:40]
kc2.close()
lib.net_close(fd)
print("nonblocking connect ok")

# 5. UDP both ways, and ECONNREFUSED from ICMP port unreachable on a connected socket.
ku = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
ku.bind((HOST, 9400))
ku.settimeout(10)
ufd = lib.net_socket(socket.AF_INET, socket.SOCK_DGRAM, 0)
ua = addr("0.0.0.0", 9401)
lib.net_bind(ufd, ctypes.byref(ua), ctypes.sizeof(ua))
dest = addr(HOST, 9400)
msg = ctypes.create_string_buffer(b"datagram to the kernel")
lib.net_sendto(ufd, msg, 22, 0, ctypes.byref(dest), ctypes.sizeof(dest))
data, src = ku.recvfrom(100)
assert data == b"datagram to the kernel" and src == (NETD, 9401)
ku.sendto(b"and back", (NETD, 9401))
assert select.select([ufd], [], [], 10)[0] == [ufd]
frm = sockaddr_in()
flen = ctypes.c_uint32(16)
n = lib.net_recvfrom(ufd, buf, 16, 0, ctypes.byref(frm), ctypes.byref(flen))
assert buf.raw[:n] == b"and back" and socket.ntohs(frm.sin_port) == 9400
lib.net_close(ufd)
cu = lib.net_socket(socket.AF_INET, socket.SOCK_DGRAM, 0)
nowhere = addr(HOST, 9499)
lib.net_connect(cu, ctypes.byref(nowhere), ctypes.sizeof(nowhere))
lib.net_send(cu, msg, 5, 0)
select.select([cu], [], [], 10)
expect_errno(errno.ECONNREFUSED, lib.net_recv, cu, buf, 16, 0)
lib.net_close(cu)
print("udp ok")
print("all ok")
