/* errno_diff: the same random sequences of socket calls on a kernel socket
 * and on a libnet socket, side by side; every return value and errno must
 * match, as the issue asks ("the errno values Linux would give").
 *
 * usage: errno_diff [data|udp] SEED CASES PORT_BASE
 *
 * With "data", each case is instead one connection per stack, to the other
 * stack as its peer, and random sends, receives (MSG_PEEK, MSG_WAITALL,
 * blocking where nothing can wait), shutdowns and SO_ERROR reads on it,
 * between the peer's sends, half-closes, closes and resets; the test waits
 * until each of the peer's actions has arrived, so timing decides nothing.
 * With "udp", one UDP socket per stack and a UDP peer on the other stack:
 * sendto, send, recv (MSG_PEEK, MSG_TRUNC), connect, AF_UNSPEC, bind and
 * SO_ERROR, between datagrams from the peer, empty to fragmented.
 * With "kernel" (usage: errno_diff kernel PORT_BASE), kernel sockets only:
 * checks the behaviours netd reproduces where Linux versions differ, so a
 * new kernel shows up as a named difference rather than a random mismatch.
 *
 * Each stack has a peer across netd's TUN device: kernel sockets talk to
 * netd's address, libnet sockets to the kernel's. Both peers have a TCP
 * listener and a bound UDP socket on port L (PORT_BASE), and nothing on
 * port C (PORT_BASE + 1). Each case uses two sockets and ports of its own,
 * so one case's TIME-WAIT cannot touch the next. A mismatch prints the case
 * and the call; the exit status is the number of mismatches (capped).
 * Run inside the test's own network namespace only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "libnet.h"

#define KERNEL_ADDR "10.77.0.1"
#define NETD_ADDR "10.77.0.2"
#define FOREIGN_ADDR "10.77.0.99"

/* One stack's calls, so one sequence can run on both. */
struct api {
    const char *name;
    const char *own, *peer;
    int (*socket)(int, int, int);
    int (*bind)(int, const struct sockaddr *, socklen_t);
    int (*listen)(int, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*recv)(int, void *, size_t, int);
    int (*shutdown)(int, int);
    int (*close)(int);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    int (*getsockname)(int, struct sockaddr *, socklen_t *);
    int (*getpeername)(int, struct sockaddr *, socklen_t *);
    int (*fcntl)(int, int, long);
};

static int k_fcntl(int fd, int cmd, long arg) { return fcntl(fd, cmd, arg); }

struct api;
static ssize_t net_or_kernel_sendto(const struct api *s, int fd, const void *b, size_t n, int f,
                                    const struct sockaddr *to, socklen_t tl);
static ssize_t net_or_kernel_recvfrom(const struct api *s, int fd, void *b, size_t n, int f,
                                      struct sockaddr *from, socklen_t *fl);

static const struct api kernel = {
    "kernel", KERNEL_ADDR, NETD_ADDR, socket, bind, listen, connect, accept4, send, recv,
    shutdown, close, setsockopt, getsockopt, getsockname, getpeername, k_fcntl,
};
static const struct api libnet = {
    "libnet", NETD_ADDR, KERNEL_ADDR, net_socket, net_bind, net_listen, net_connect,
    net_accept4, net_send, net_recv, net_shutdown, net_close, net_setsockopt,
    net_getsockopt, net_getsockname, net_getpeername, net_fcntl,
};

static ssize_t net_or_kernel_sendto(const struct api *s, int fd, const void *b, size_t n, int f,
                                    const struct sockaddr *to, socklen_t tl) {
    return s == &kernel ? sendto(fd, b, n, f, to, tl) : net_sendto(fd, b, n, f, to, tl);
}

static ssize_t net_or_kernel_recvfrom(const struct api *s, int fd, void *b, size_t n, int f,
                                      struct sockaddr *from, socklen_t *fl) {
    return s == &kernel ? recvfrom(fd, b, n, f, from, fl) : net_recvfrom(fd, b, n, f, from, fl);
}

static uint64_t rng;
static char current[2048];

/* A call that hangs is a mismatch too: say which, then stop. */
static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "HANG in ";
    ssize_t w = write(1, msg, sizeof msg - 1);
    w += write(1, current, strlen(current));
    w += write(1, "\n", 1);
    (void)w;
    _exit(98);
}
static unsigned rnd(unsigned n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static struct sockaddr_in sin_of(const char *ip, int port) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

/* A call's outcome: the return value (or a value it produced) and errno. */
struct outcome {
    long ret;
    int err;
};

enum { BIND, LISTEN, CONNECT, SHUTDOWN, SETOPT, GETOPT, SOCKNAME, PEERNAME, SEND, RECV,
       ACCEPT, NONBLOCK, NOPS };

/* One call, described by its random choices. */
struct call {
    int op, sock, a, b, c;
};

static const int opts[][2] = {
    { SOL_SOCKET, SO_REUSEADDR }, { SOL_SOCKET, SO_KEEPALIVE }, { SOL_SOCKET, SO_TYPE },
    { SOL_SOCKET, SO_ERROR }, { SOL_SOCKET, SO_ACCEPTCONN }, { IPPROTO_TCP, TCP_NODELAY },
    { SOL_SOCKET, SO_LINGER }, { IPPROTO_TCP, TCP_KEEPIDLE }, { IPPROTO_TCP, TCP_KEEPCNT },
    { IPPROTO_TCP, TCP_SYNCNT }, { SOL_SOCKET, 9999 }, { 9999, 1 },
    { SOL_SOCKET, SO_RCVBUF }, { SOL_SOCKET, SO_SNDBUF }, { IPPROTO_TCP, TCP_MAXSEG },
    { IPPROTO_TCP, TCP_QUICKACK }, { IPPROTO_TCP, TCP_USER_TIMEOUT },
    { IPPROTO_TCP, TCP_KEEPINTVL }, { IPPROTO_UDP, 9999 },
};
#define NOPTS (int)(sizeof opts / sizeof opts[0])

static void describe(const struct call *c, char *out, size_t n) {
    static const char *names[] = { "bind", "listen", "connect", "shutdown", "setsockopt",
        "getsockopt", "getsockname", "getpeername", "send", "recv", "accept", "O_NONBLOCK" };
    snprintf(out, n, "%s(sock %d, %d, %d, %d)", names[c->op], c->sock, c->a, c->b, c->c);
}

static struct outcome run(const struct api *s, int *fds, const struct call *c, int ports) {
    int fd = fds[c->sock];
    struct outcome o = { 0, 0 };
    errno = 0;
    switch (c->op) {
    case BIND: {
        /* a: address (any, own, the peer's, foreign); b: port (0, a case port, another). */
        const char *ip[] = { "0.0.0.0", s->own, s->peer, FOREIGN_ADDR };
        int port[] = { 0, ports, ports + 1 };
        struct sockaddr_in a = sin_of(ip[c->a % 4], port[c->b % 3]);
        socklen_t len = c->c % 5 == 0 ? 4 : sizeof a; /* sometimes too short */
        o.ret = s->bind(fd, (struct sockaddr *)&a, len);
        break;
    }
    case LISTEN: {
        int backlog[] = { 0, 1, 16, -1 };
        o.ret = s->listen(fd, backlog[c->a % 4]);
        break;
    }
    case CONNECT: {
        /* a: the peer's listener, its closed port (TCP only: a UDP
         * datagram there would bring back an ICMP error at a moment of
         * its own), or AF_UNSPEC. Nothing ever connects to a case socket,
         * so no data or close can arrive at a time of its own. */
        int target = c->a % 3;
        struct sockaddr_in a;
        int type = 0;
        socklen_t tl = sizeof type;
        s->getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl);
        if (target == 1 && type == SOCK_DGRAM) target = 0;
        if (target == 0) a = sin_of(s->peer, c->b);
        else if (target == 1) a = sin_of(s->peer, c->c);
        else { memset(&a, 0, sizeof a); a.sin_family = AF_UNSPEC; }
        errno = 0;
        o.ret = s->connect(fd, (struct sockaddr *)&a, sizeof a);
        o.err = o.ret < 0 ? errno : 0;
        if (o.err == EINPROGRESS) {
            /* Wait for the outcome, so what follows does not race it. */
            struct pollfd p = { fd, POLLOUT, 0 };
            poll(&p, 1, 5000);
        }
        return o;
    }
    case SHUTDOWN: {
        int how[] = { SHUT_RD, SHUT_WR, SHUT_RDWR, 7 };
        o.ret = s->shutdown(fd, how[c->a % 4]);
        break;
    }
    case SETOPT: {
        int v[] = { 0, 1, 5, -1 };
        int val = v[c->b % 4];
        const int *opt = opts[c->a % NOPTS];
        if (opt[1] == SO_LINGER) {
            struct linger l = { val != 0, 1 };
            o.ret = s->setsockopt(fd, opt[0], opt[1], &l, c->c % 4 ? sizeof l : 2);
        } else {
            o.ret = s->setsockopt(fd, opt[0], opt[1], &val, c->c % 4 ? sizeof val : 2);
        }
        break;
    }
    case GETOPT: {
        const int *opt = opts[c->a % NOPTS];
        int val[2] = { -7, -7 };
        socklen_t len = opt[1] == SO_LINGER ? sizeof(struct linger) : sizeof(int);
        o.ret = s->getsockopt(fd, opt[0], opt[1], val, &len);
        /* Values that do not depend on timing or buffer sizing are compared. */
        if (o.ret == 0) o.ret = 1000 + val[0] * 10 + (opt[1] == SO_LINGER ? val[1] : 0);
        break;
    }
    case SOCKNAME:
    case PEERNAME: {
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        o.ret = (c->op == SOCKNAME ? s->getsockname : s->getpeername)(fd, (struct sockaddr *)&a, &len);
        /* Whether a port was chosen, not which. */
        if (o.ret == 0) o.ret = a.sin_port != 0 ? 100 : 10;
        break;
    }
    case SEND:
        o.ret = s->send(fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
    case RECV: {
        char b[4];
        o.ret = s->recv(fd, b, sizeof b, MSG_DONTWAIT | (c->a % 2 ? MSG_PEEK : 0));
        break;
    }
    case ACCEPT: {
        /* No connection ever reaches a case socket: a blocking listener
         * would wait forever, in both stacks, so that is the outcome. */
        int on = 0;
        socklen_t l = sizeof on;
        long fl = s->fcntl(fd, F_GETFL, 0);
        if (s->getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &l) == 0 && on && !(fl & O_NONBLOCK)) {
            o.ret = -3;
            return o;
        }
        errno = 0;
        o.ret = s->accept4(fd, NULL, NULL, SOCK_NONBLOCK);
        if (o.ret >= 0) {
            s->close((int)o.ret);
            o.ret = 0;
        }
        break;
    }
    case NONBLOCK: {
        long fl = s->fcntl(fd, F_GETFL, 0);
        o.ret = s->fcntl(fd, F_SETFL, c->a % 2 ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
        break;
    }
    }
    o.err = o.ret < 0 ? errno : 0;
    return o;
}

/* The peers: a listener and a bound UDP socket on port L of each stack,
 * whose pending connections are accepted and closed between cases. */
static int peer_tcp[2], peer_udp[2];

static void peers(int L) {
    const struct api *s[2] = { &kernel, &libnet };
    for (int i = 0; i < 2; i++) {
        struct sockaddr_in a = sin_of(s[i]->own, L);
        int one = 1;
        peer_tcp[i] = s[i]->socket(AF_INET, SOCK_STREAM, 0);
        s[i]->setsockopt(peer_tcp[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (s[i]->bind(peer_tcp[i], (struct sockaddr *)&a, sizeof a) < 0 ||
            s[i]->listen(peer_tcp[i], 128) < 0) {
            fprintf(stderr, "%s peer listener: %s\n", s[i]->name, strerror(errno));
            exit(100);
        }
        s[i]->fcntl(peer_tcp[i], F_SETFL, O_NONBLOCK);
        peer_udp[i] = s[i]->socket(AF_INET, SOCK_DGRAM, 0);
        if (s[i]->bind(peer_udp[i], (struct sockaddr *)&a, sizeof a) < 0) {
            fprintf(stderr, "%s peer udp: %s\n", s[i]->name, strerror(errno));
            exit(100);
        }
    }
}

static void drain_peers(void) {
    const struct api *s[2] = { &kernel, &libnet };
    for (int i = 0; i < 2; i++) {
        int c;
        while ((c = s[i]->accept4(peer_tcp[i], NULL, NULL, 0)) >= 0) s[i]->close(c);
        char b[64];
        while (s[i]->recv(peer_udp[i], b, sizeof b, MSG_DONTWAIT) > 0) {}
    }
}

/* --- data mode: one connection per stack, the other stack as its peer --- */

/* SO_ERROR read through stack s, as 1000 + the error (or the call's -1). */
static struct outcome so_error(const struct api *s, int fd) {
    struct outcome o = { 0, 0 };
    int v = -7;
    socklen_t l = sizeof v;
    errno = 0;
    o.ret = s->getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &l);
    if (o.ret == 0) o.ret = 1000 + v;
    o.err = o.ret < 0 ? errno : 0;
    return o;
}

/* poll() readiness at once, as 100000 + revents without the bits in `ignore`. */
static struct outcome readiness(int fd, short ignore) {
    struct outcome o = { 0, 0 };
    struct pollfd p = { fd, POLLIN | POLLOUT | POLLRDHUP | POLLPRI, 0 };
    errno = 0;
    o.ret = poll(&p, 1, 0);
    if (o.ret > 0) o.ret = 100000 + (p.revents & ~ignore);
    o.err = o.ret < 0 ? errno : 0;
    return o;
}

/* Wait up to 2 s for any of `events` on fd. */
static void wait_for(int fd, short events) {
    struct pollfd p = { fd, events, 0 };
    for (int i = 0; i < 40 && poll(&p, 1, 50) == 0; i++) {}
}

/* Wait up to 2 s until `want` bytes are readable on fd (peeked, not taken).
 * Polling for POLLIN would return at once while fewer are there. */
static void wait_bytes(const struct api *s, int fd, long want) {
    static char b[1 << 16];
    for (int i = 0; i < 2000; i++) {
        if (s->recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT) >= want) return;
        usleep(1000);
    }
}

/* One stack's connection and what the test knows of its state. */
struct side {
    const struct api *s, *p; /* our stack, the peer's stack */
    int fd, peer;            /* our socket, the peer's accepted one */
    long unread_ours;        /* sent by the peer, not read by us */
    long unread_peer;        /* sent by us, not read by the peer */
    int peer_eof, peer_gone; /* the peer shut its write side; closed or reset */
    int shut, shut_rd;       /* we called shutdown(), with SHUT_RD or SHUT_RDWR */
};

enum { D_SEND, D_RECV, D_SHUTDOWN, D_SOERROR, D_POLL, P_SEND, P_SHUT_WR, P_CLOSE, P_RESET, P_READ, DOPS };

static const char *dnames[] = { "send", "recv", "shutdown", "SO_ERROR", "poll", "peer send",
    "peer shutdown(SHUT_WR)", "peer close", "peer reset", "peer reads all" };

static char pattern[256];

/* Our side's calls (compared) and the peer's (actions: they run on the
 * other stack, and the test waits until their effect has arrived). */
static struct outcome data_call(struct side *d, int op, int a, int b) {
    struct outcome o = { 0, 0 };
    errno = 0;
    switch (op) {
    case D_SEND:
        o.ret = d->s->send(d->fd, pattern, 1 + a % 100, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (o.ret > 0) d->unread_peer += o.ret;
        o.err = o.ret < 0 ? errno : 0;
        /* A closed peer answers with RST: let it arrive. */
        if (d->peer_gone) wait_for(d->fd, POLLHUP);
        return o;
    case D_RECV: {
        char buf[256];
        int len = 1 + a % 200;
        int flags[] = { MSG_DONTWAIT, MSG_DONTWAIT | MSG_PEEK, MSG_DONTWAIT | MSG_WAITALL, 0, MSG_WAITALL };
        int f = flags[b % 5];
        /* A blocking call only where it cannot wait: data or end of file. */
        if (!(f & MSG_DONTWAIT) && !(d->peer_eof || ((f & MSG_WAITALL) ? d->unread_ours >= len : d->unread_ours > 0)))
            f |= MSG_DONTWAIT;
        o.ret = d->s->recv(d->fd, buf, len, f);
        o.err = o.ret < 0 ? errno : 0;
        if (o.ret > 0) {
            long sum = 0;
            for (long i = 0; i < o.ret; i++) sum += (unsigned char)buf[i];
            if (!(f & MSG_PEEK)) d->unread_ours -= o.ret;
            o.ret = o.ret * 1000 + sum % 997;
        }
        return o;
    }
    case D_SHUTDOWN:
        /* Once: a second shutdown's ENOTCONN would depend on whether the
         * peer's ACK of our FIN has arrived yet. */
        if (d->shut) return o;
        d->shut = 1;
        d->shut_rd = a % 3 != SHUT_WR;
        o.ret = d->s->shutdown(d->fd, a % 3);
        break;
    case D_SOERROR:
        return so_error(d->s, d->fd);
    case D_POLL:
        /* Without POLLERR: a Unix socket cannot raise it for netd (README),
         * so a libnet socket reports the failure as POLLHUP with POLLIN
         * and POLLOUT. */
        return readiness(d->fd, POLLERR);
    case P_SEND:
        /* Not after our SHUT_RD: Linux still queues what arrives, libnet
         * has already given the program its end of file (README). */
        if (d->peer_eof || d->shut_rd) return o;
        if (d->p->send(d->peer, pattern + 7, 1 + a % 100, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
            d->unread_ours += 1 + a % 100;
            wait_bytes(d->s, d->fd, d->unread_ours);
        }
        return o;
    case P_SHUT_WR:
        if (d->peer_eof) return o;
        d->p->shutdown(d->peer, SHUT_WR);
        d->peer_eof = 1;
        wait_for(d->fd, POLLRDHUP);
        return o;
    case P_CLOSE:
    case P_RESET:
        /* Not after our own shutdown: our descriptor then already reports
         * POLLHUP, so nothing would tell when the peer's RST has arrived. */
        if (d->peer_gone || d->shut) return o;
        /* What we sent must have arrived: it decides FIN or RST. */
        if (d->unread_peer > 0) wait_bytes(d->p, d->peer, d->unread_peer);
        if (op == P_RESET) {
            struct linger l = { 1, 0 };
            d->p->setsockopt(d->peer, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        d->p->close(d->peer);
        d->peer_gone = d->peer_eof = 1;
        wait_for(d->fd, (op == P_RESET || d->unread_peer > 0) ? POLLHUP : POLLRDHUP);
        return o;
    case P_READ: {
        static char b[1 << 16];
        if (d->peer_gone || d->unread_peer == 0) return o;
        wait_bytes(d->p, d->peer, d->unread_peer);
        while (d->unread_peer > 0) {
            ssize_t n = d->p->recv(d->peer, b, sizeof b, MSG_DONTWAIT);
            if (n <= 0) break;
            d->unread_peer -= n;
        }
        return o;
    }
    }
    o.err = o.ret < 0 ? errno : 0;
    return o;
}

typedef struct outcome (*call_fn)(void *side, int op, int a, int b);

/* One case of the data or udp mode: up to 12 random operations, each run on
 * the kernel's side then on libnet's; those from `first_action` on are the
 * peer's actions, not compared. Returns 1 after printing a mismatch. */
static int run_case(const char *mode, int k, int nops, int first_action, const char **names,
                    call_fn call, void *kside, void *lside, int *calls) {
    int n = 1 + rnd(12);
    char log[16][64];
    for (int j = 0; j < n; j++) {
        int op = rnd(nops), a = rnd(1000), b = rnd(1000);
        snprintf(log[j], sizeof log[j], "%s(%d, %d)", names[op], a, b);
        snprintf(current, sizeof current, "%s case %d, call %d: %s", mode, k, j, log[j]);
        alarm(20);
        struct outcome ko = call(kside, op, a, b);
        struct outcome lo = call(lside, op, a, b);
        alarm(0);
        if (op >= first_action) continue;
        (*calls)++;
        if (ko.ret != lo.ret || ko.err != lo.err) {
            printf("MISMATCH %s case %d: ", mode, k);
            for (int i = 0; i < j; i++) printf("%s; ", log[i]);
            printf("%s: kernel %ld %s, libnet %ld %s\n", log[j], ko.ret,
                   ko.err ? strerror(ko.err) : "", lo.ret, lo.err ? strerror(lo.err) : "");
            return 1;
        }
    }
    return 0;
}

/* The summary line, and the exit status: the number of mismatches. */
static int finish(int calls, int mismatches) {
    printf("%d calls, %d mismatches\n", calls, mismatches);
    fflush(stdout);
    return mismatches > 99 ? 99 : mismatches;
}

static struct outcome data_call_v(void *d, int op, int a, int b) { return data_call(d, op, a, b); }

static int data_mode(int cases, int L) {
    const struct api *st[2] = { &kernel, &libnet };
    for (int i = 0; i < (int)sizeof pattern; i++) pattern[i] = (char)(i * 7 + 3);
    int mismatches = 0, calls = 0;
    for (int k = 0; k < cases && mismatches < 20; k++) {
        struct side d[2];
        for (int i = 0; i < 2; i++) {
            const struct api *s = st[i], *p = st[1 - i];
            struct sockaddr_in a = sin_of(s->peer, L);
            d[i] = (struct side){ s, p, s->socket(AF_INET, SOCK_STREAM, 0), -1, 0, 0, 0, 0, 0, 0 };
            if (s->connect(d[i].fd, (struct sockaddr *)&a, sizeof a) < 0) {
                fprintf(stderr, "%s connect: %s\n", s->name, strerror(errno));
                return 100;
            }
            for (int t = 0; t < 40 && d[i].peer < 0; t++) {
                d[i].peer = p->accept4(peer_tcp[1 - i], NULL, NULL, 0);
                if (d[i].peer < 0) wait_for(peer_tcp[1 - i], POLLIN);
            }
            if (d[i].peer < 0) {
                fprintf(stderr, "%s peer accept: %s\n", p->name, strerror(errno));
                return 100;
            }
        }
        mismatches += run_case("data", k, DOPS, P_SEND, dnames, data_call_v, &d[0], &d[1], &calls);
        for (int i = 0; i < 2; i++) {
            d[i].s->close(d[i].fd);
            if (!d[i].peer_gone) d[i].p->close(d[i].peer);
        }
    }
    return finish(calls, mismatches);
}

/* --- udp mode: one UDP socket per stack, a UDP peer on the other stack --- */

struct usock {
    const struct api *s, *p;
    int fd, peer;        /* our socket, the peer's (bound, never connected) */
    struct sockaddr_in peer_addr;
    int queued;          /* datagrams the peer sent that we have not read */
    int peer_queued;     /* datagrams we sent that the peer has not read */
};

enum { U_SENDTO, U_SEND, U_RECV, U_CONNECT, U_BIND, U_SOERROR, U_POLL, U_PEER_SEND, U_PEER_READ, UOPS };

static const char *unames[] = { "sendto peer", "send", "recv", "connect", "bind",
    "SO_ERROR", "poll", "peer sendto", "peer reads all" };

/* Datagram sizes: empty, small, one past the receive buffers used here,
 * and larger than one IP packet (fragmented). */
static int dgram_len(int a) {
    int lens[] = { 0, 1, 17, 199, 201, 1472, 1473, 3000 };
    return lens[a % 8];
}

static char big[4096];

static struct outcome udp_call(struct usock *u, int op, int a, int b) {
    struct outcome o = { 0, 0 };
    errno = 0;
    switch (op) {
    case U_SENDTO:
        o.ret = net_or_kernel_sendto(u->s, u->fd, big, dgram_len(a), MSG_DONTWAIT,
                                     (struct sockaddr *)&u->peer_addr, sizeof u->peer_addr);
        o.err = o.ret < 0 ? errno : 0;
        if (o.ret >= 0) {
            u->peer_queued++;
            /* Until it is there: the peer's queue is read whole below. */
            wait_for(u->peer, POLLIN);
        }
        return o;
    case U_SEND:
        o.ret = u->s->send(u->fd, big, dgram_len(a), MSG_DONTWAIT | MSG_NOSIGNAL);
        o.err = o.ret < 0 ? errno : 0;
        if (o.ret >= 0) {
            u->peer_queued++;
            wait_for(u->peer, POLLIN);
        }
        return o;
    case U_RECV: {
        char buf[256];
        int len = 1 + a % 200;
        int flags[] = { MSG_DONTWAIT, MSG_DONTWAIT | MSG_PEEK, MSG_DONTWAIT | MSG_TRUNC,
                        MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC, 0 };
        int f = flags[b % 5];
        if (!(f & MSG_DONTWAIT) && u->queued == 0) f |= MSG_DONTWAIT;
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        memset(&from, 0, sizeof from);
        o.ret = net_or_kernel_recvfrom(u->s, u->fd, buf, len, f, (struct sockaddr *)&from, &fl);
        o.err = o.ret < 0 ? errno : 0;
        if (o.ret >= 0) {
            long sum = 0;
            for (long i = 0; i < o.ret && i < len; i++) sum += (unsigned char)buf[i];
            if (!(f & MSG_PEEK)) u->queued--;
            /* The sender's port is the peer's: compared as a yes or no. */
            int from_peer = from.sin_port == u->peer_addr.sin_port;
            o.ret = o.ret * 10000 + (sum % 997) * 10 + from_peer;
        }
        return o;
    }
    case U_CONNECT: {
        struct sockaddr_in to = u->peer_addr;
        if (a % 3 == 1) { memset(&to, 0, sizeof to); to.sin_family = AF_UNSPEC; }
        o.ret = u->s->connect(u->fd, (struct sockaddr *)&to, sizeof to);
        break;
    }
    case U_BIND: {
        struct sockaddr_in any = sin_of("0.0.0.0", 0);
        o.ret = u->s->bind(u->fd, (struct sockaddr *)&any, sizeof any);
        break;
    }
    case U_SOERROR:
        return so_error(u->s, u->fd);
    case U_POLL:
        return readiness(u->fd, 0);
    case U_PEER_SEND: {
        /* Only to a socket with a port, and one datagram at a time, so
         * waiting for POLLIN means waiting for this one. */
        struct sockaddr_in me;
        socklen_t ml = sizeof me;
        if (u->queued || u->s->getsockname(u->fd, (struct sockaddr *)&me, &ml) < 0 || me.sin_port == 0)
            return o;
        me.sin_addr.s_addr = inet_addr(u->s->own);
        if (net_or_kernel_sendto(u->p, u->peer, big + 3, dgram_len(a), MSG_DONTWAIT,
                                 (struct sockaddr *)&me, sizeof me) >= 0) {
            u->queued++;
            wait_for(u->fd, POLLIN);
        }
        return o;
    }
    case U_PEER_READ: {
        char b2[4096];
        while (u->peer_queued > 0 && u->p->recv(u->peer, b2, sizeof b2, MSG_DONTWAIT) >= 0)
            u->peer_queued--;
        u->peer_queued = 0;
        return o;
    }
    }
    o.err = o.ret < 0 ? errno : 0;
    return o;
}

static struct outcome udp_call_v(void *u, int op, int a, int b) { return udp_call(u, op, a, b); }

static int udp_mode(int cases) {
    const struct api *st[2] = { &kernel, &libnet };
    for (int i = 0; i < (int)sizeof big; i++) big[i] = (char)(i * 13 + 1);
    int mismatches = 0, calls = 0;
    for (int k = 0; k < cases && mismatches < 20; k++) {
        struct usock u[2];
        for (int i = 0; i < 2; i++) {
            const struct api *s = st[i], *p = st[1 - i];
            u[i] = (struct usock){ s, p, s->socket(AF_INET, SOCK_DGRAM, 0), p->socket(AF_INET, SOCK_DGRAM, 0) };
            struct sockaddr_in pa = sin_of(p->own, 0);
            socklen_t pl = sizeof pa;
            if (u[i].fd < 0 || u[i].peer < 0 || p->bind(u[i].peer, (struct sockaddr *)&pa, sizeof pa) < 0 ||
                p->getsockname(u[i].peer, (struct sockaddr *)&u[i].peer_addr, &pl) < 0) {
                fprintf(stderr, "udp setup: %s\n", strerror(errno));
                return 100;
            }
        }
        mismatches += run_case("udp", k, UOPS, U_PEER_SEND, unames, udp_call_v, &u[0], &u[1], &calls);
        for (int i = 0; i < 2; i++) {
            u[i].s->close(u[i].fd);
            u[i].p->close(u[i].peer);
        }
    }
    return finish(calls, mismatches);
}

/* --- kernel mode: what netd assumes of the kernel it is compared with --- */

/* Linux 6.18 (measured on 6.18.44): a TCP socket that has held a connection
 * never listens again, whether connect() was refused or the socket was
 * disconnected with AF_UNSPEC after that. Earlier kernels let it listen once
 * __inet_stream_connect() had left it SS_UNCONNECTED. Connects to the
 * closed port C of netd, which answers with an RST. */
static int kernel_mode(int C) {
    struct sockaddr_in closed = sin_of(NETD_ADDR, C);
    struct sockaddr unspec = { .sa_family = AF_UNSPEC };
    int differences = 0;
    for (int disconnect = 0; disconnect < 2; disconnect++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        errno = 0;
        int r = connect(fd, (struct sockaddr *)&closed, sizeof closed);
        int cerr = errno;
        if (disconnect) connect(fd, &unspec, sizeof unspec);
        errno = 0;
        int l = listen(fd, 5);
        int lerr = errno;
        const char *what = disconnect ? "refused connect, AF_UNSPEC, listen" : "refused connect, listen";
        int as_modelled = r < 0 && cerr == ECONNREFUSED && l < 0 && lerr == EINVAL;
        printf("kernel: %s: connect %s, listen %s: %s\n", what, r < 0 ? strerror(cerr) : "0",
               l < 0 ? strerror(lerr) : "0",
               as_modelled ? "as netd reproduces (Linux 6.18)" : "DIFFERS from what netd reproduces (Linux 6.18: EINVAL)");
        differences += !as_modelled;
        close(fd);
    }
    return differences;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "kernel")) return kernel_mode(atoi(argv[2]) + 1);
    int data = argc == 5 && !strcmp(argv[1], "data");
    int udp = argc == 5 && !strcmp(argv[1], "udp");
    if (argc != 4 && !data && !udp) {
        fprintf(stderr, "usage: errno_diff [data|udp] SEED CASES PORT_BASE\n");
        return 100;
    }
    argv += data || udp;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    rng = strtoull(argv[1], NULL, 0) | 1;
    int cases = atoi(argv[2]);
    int base = atoi(argv[3]);
    int L = base, C = base + 1;
    peers(L);
    if (data) return data_mode(cases, L);
    if (udp) return udp_mode(cases);
    int mismatches = 0, calls = 0;
    for (int k = 0; k < cases && mismatches < 20; k++) {
        int ports = base + 10 + 2 * k;
        int types[2] = { rnd(3) ? SOCK_STREAM : SOCK_DGRAM, rnd(3) ? SOCK_STREAM : SOCK_DGRAM };
        int kfd[2], lfd[2];
        for (int i = 0; i < 2; i++) {
            kfd[i] = kernel.socket(AF_INET, types[i], 0);
            lfd[i] = libnet.socket(AF_INET, types[i], 0);
            if (kfd[i] < 0 || lfd[i] < 0) {
                fprintf(stderr, "socket: %s\n", strerror(errno));
                return 100;
            }
        }
        int n = 1 + rnd(10);
        char log[16][96];
        for (int j = 0; j < n; j++) {
            struct call c = { rnd(NOPS), rnd(2), rnd(64), L, C };
            if (c.op != CONNECT) c.b = rnd(2) ? L : (int)rnd(16), c.c = rnd(16);
            describe(&c, log[j], sizeof log[j]);
            snprintf(current, sizeof current, "case %d, call %d: %s", k, j, log[j]);
            alarm(20);
            struct outcome ko = run(&kernel, kfd, &c, ports);
            struct outcome lo = run(&libnet, lfd, &c, ports);
            alarm(0);
            calls++;
            if (ko.ret != lo.ret || ko.err != lo.err) {
                mismatches++;
                printf("MISMATCH case %d (%s, %s): ", k, types[0] == SOCK_STREAM ? "tcp" : "udp",
                       types[1] == SOCK_STREAM ? "tcp" : "udp");
                for (int i = 0; i < j; i++) printf("%s; ", log[i]);
                printf("%s: kernel %ld %s, libnet %ld %s\n", log[j], ko.ret,
                       ko.err ? strerror(ko.err) : "", lo.ret, lo.err ? strerror(lo.err) : "");
                break;
            }
        }
        for (int i = 0; i < 2; i++) {
            kernel.close(kfd[i]);
            libnet.close(lfd[i]);
        }
        drain_peers();
    }
    return finish(calls, mismatches);
}
