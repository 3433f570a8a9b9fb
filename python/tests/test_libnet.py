"""The libnet Python module against the Linux kernel, through netd.

Run inside a network namespace where netd owns 10.77.0.2 and the kernel
10.77.0.1 (netd/tests/e2e_python.rs sets that up), with NETD_SOCKET and
LIBNET in the environment.
"""
import errno
import select
import selectors
import socket
import struct
import threading

import pytest

import libnet

NETD, HOST = "10.77.0.2", "10.77.0.1"
_port = [20000]


def port():
    _port[0] += 1
    return _port[0]


def kernel_listener(p):
    k = socket.socket()
    k.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    k.bind((HOST, p))
    k.listen(128)
    return k


def test_echo_server_with_a_kernel_client():
    p = port()
    with libnet.socket() as srv:
        srv.setsockopt(libnet.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("0.0.0.0", p))
        srv.listen()
        data = bytes(range(256)) * 400

        def client():
            with socket.create_connection((NETD, p), timeout=10) as c:
                c.sendall(data)
                c.shutdown(socket.SHUT_WR)
                got = b""
                while True:
                    b = c.recv(65536)
                    if not b:
                        break
                    got += b
                result.append(got)

        result = []
        t = threading.Thread(target=client)
        t.start()
        conn, peer = srv.accept()
        assert peer[0] == HOST
        with conn:
            buf = bytearray(65536)
            while True:
                n = conn.recv_into(buf)
                if n == 0:
                    break
                conn.sendall(buf[:n])
        t.join()
        assert result == [data]


def test_client_to_a_kernel_server():
    p = port()
    k = kernel_listener(p)

    def serve():
        c, _ = k.accept()
        c.sendall(c.recv(100).upper())
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    with libnet.socket() as s:
        s.settimeout(10)
        s.connect((HOST, p))
        assert s.getpeername() == (HOST, p)
        s.sendall(b"hello kernel")
        assert s.recv(100) == b"HELLO KERNEL"
    t.join()
    k.close()


def test_selectors_server_handles_100_clients():
    p = port()
    srv = libnet.socket()
    srv.bind(("0.0.0.0", p))
    srv.listen(128)
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ, None)
    results = []

    def client(i):
        with socket.create_connection((NETD, p), timeout=20) as c:
            msg = b"client %d" % i
            c.sendall(msg)
            results.append(c.recv(100) == msg)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    served = 0
    while served < 100:
        for key, _ in sel.select(timeout=20):
            if key.data is None:
                conn, _ = key.fileobj.accept()
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, "conn")
            else:
                data = key.fileobj.recv(100)
                if data:
                    key.fileobj.sendall(data)
                else:
                    sel.unregister(key.fileobj)
                    key.fileobj.close()
                    served += 1
    for t in threads:
        t.join()
    srv.close()
    assert results.count(True) == 100


def test_connection_refused():
    with libnet.socket() as s:
        with pytest.raises(ConnectionRefusedError):
            s.connect((HOST, 9))


def test_connection_refused_with_a_timeout():
    with libnet.socket() as s:
        s.settimeout(10)
        with pytest.raises(ConnectionRefusedError):
            s.connect((HOST, 9))


def test_connect_times_out_when_nobody_answers():
    # 10.77.0.9 is on netd's link but nobody has it: the SYN goes unanswered.
    with libnet.socket() as s:
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.connect(("10.77.0.9", 9))


def test_connect_with_a_timeout_then_send():
    p = port()
    k = kernel_listener(p)
    with libnet.socket() as s:
        s.settimeout(10)
        s.connect((HOST, p))
        s.sendall(b"hello")
        c, _ = k.accept()
        c.settimeout(10)
        assert c.recv(10) == b"hello"
        c.close()
    k.close()


def test_connection_reset_and_broken_pipe():
    s, c, k = libnet_to_kernel()
    # SO_LINGER {1, 0}: the kernel closes with an RST.
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    with pytest.raises(ConnectionResetError):
        s.recv(10)
    with pytest.raises(BrokenPipeError):
        s.send(b"too late")
    s.close()
    k.close()


def libnet_to_kernel():
    """A libnet socket connected to a kernel socket: (libnet socket,
    accepted kernel socket, kernel listener)."""
    p = port()
    k = kernel_listener(p)
    s = libnet.socket()
    s.connect((HOST, p))
    c, _ = k.accept()
    return s, c, k


def wait_hup(sock, timeout_ms=2000):
    p = select.poll()
    p.register(sock.fileno(), select.POLLHUP)
    return p.poll(timeout_ms)


def test_so_linger_zero_close_resets_without_a_fin_first():
    s, c, k = libnet_to_kernel()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    c.settimeout(2)
    with pytest.raises(ConnectionResetError):
        c.recv(10)
    c.close()
    k.close()


def peer_fin_then_reset():
    """A libnet socket whose kernel peer sent a FIN and then an RST."""
    s, c, k = libnet_to_kernel()
    c.shutdown(socket.SHUT_WR)
    assert s.recv(10) == b""
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    k.close()
    assert wait_hup(s), "the reset never reached the libnet socket"
    return s


def test_a_reset_after_the_peers_fin_fails_the_next_send_with_epipe():
    s = peer_fin_then_reset()
    # CLOSE_WAIT then RST: Linux's sk_err is EPIPE.
    with pytest.raises(BrokenPipeError):
        s.send(b"x")
    s.close()


def test_recv_after_the_peers_fin_reads_end_of_file_even_after_a_reset():
    s = peer_fin_then_reset()
    assert s.recv(10) == b""
    assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.EPIPE
    s.close()


def test_shutdown_wr_queues_the_fin_before_a_close_that_resets():
    s, c, k = libnet_to_kernel()
    c.sendall(b"unread")
    c.settimeout(2)
    # Once shutdown() returns, the FIN is queued: the close that follows,
    # with "unread" still queued, adds an RST behind it, as in Linux.
    s.shutdown(socket.SHUT_WR)
    s.close()
    assert c.recv(10) == b""
    c.close()
    k.close()


def test_shutdown_rd_reads_end_of_file_at_once():
    s, c, k = libnet_to_kernel()
    s.setblocking(False)
    s.shutdown(socket.SHUT_RD)
    assert s.recv(10) == b""
    s.close()
    c.close()
    k.close()


def test_timeout():
    p = port()
    k = kernel_listener(p)
    with libnet.socket() as s:
        s.connect((HOST, p))
        s.settimeout(0.2)
        with pytest.raises(TimeoutError):
            s.recv(10)
    k.close()


def test_udp_both_ways():
    ku = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ku.bind((HOST, 0))
    ku.settimeout(10)
    with libnet.socket(type=libnet.SOCK_DGRAM) as u:
        u.bind(("0.0.0.0", port()))
        u.sendto(b"to the kernel", ku.getsockname())
        data, src = ku.recvfrom(100)
        assert data == b"to the kernel"
        ku.sendto(b"back", src)
        u.settimeout(10)
        data, frm = u.recvfrom(100)
        assert (data, frm) == (b"back", ku.getsockname())
    ku.close()


def test_close_right_after_a_large_send_still_delivers_every_byte():
    """close(2) leaves the send queue to drain: bytes still waiting between
    the program and netd when it closes reach the peer, then a FIN."""
    p = port()
    # More than the peer's initial window and the stack's send buffer hold,
    # less than those and the socketpair do: the tail is in the socketpair
    # when close() comes.
    data = bytes((i * 13) % 251 for i in range(400_000))
    got = bytearray()
    closed = threading.Event()
    with kernel_listener(p) as k:
        c = libnet.socket()
        c.connect((HOST, p))
        srv, _ = k.accept()

        def reader():
            # Not reading until close() (or 5 s, should the buffers between
            # be smaller than the data) leaves bytes queued in the socketpair
            # beyond what the stack's send buffer holds.
            closed.wait(5)
            srv.settimeout(20)
            while True:
                b = srv.recv(1 << 20)
                if not b:
                    break
                got.extend(b)
            srv.close()

        t = threading.Thread(target=reader)
        t.start()
        c.sendall(data)
        c.close()
        closed.set()
        t.join(30)
    assert len(got) == len(data)
    assert got == data
