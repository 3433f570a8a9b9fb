/* Benchmark server, built twice: against libnet (netd) and, with -DKERNEL,
 * against the kernel's own socket calls.
 * usage: bench_server MODE PORT
 *   sink    accept one connection, read to EOF, print bytes
 *   source  accept one connection, send BYTES (env) and close
 *   rr      accept one connection, echo 1-byte messages until EOF
 *   cps     accept connections forever: read 1 byte, write 1 byte, close
 *   cpsmany the same for many clients at once: one epoll loop over
 *           non-blocking descriptors (libnet's are real fds)
 *   hold    accept N (env) connections and keep them, print "held" */
#define _GNU_SOURCE /* accept4 in the kernel build */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef KERNEL
#include <sys/socket.h>
#define net_socket socket
#define net_bind bind
#define net_listen listen
#define net_accept accept
#define net_accept4 accept4
#define net_fcntl fcntl
#define net_recv recv
#define net_send send
#define net_close close
#define net_setsockopt setsockopt
#else
#include "libnet.h"
#endif

int main(int argc, char **argv) {
    const char *mode = argv[1];
    int port = atoi(argv[2]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int l = net_socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    net_setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (net_bind(l, (struct sockaddr *)&a, sizeof a) < 0 || net_listen(l, 4096) < 0) { perror("listen"); return 1; }
    printf("listening\n");
    fflush(stdout);
    static char buf[1 << 16];
    if (!strcmp(mode, "cps")) {
        for (;;) {
            int c = net_accept(l, NULL, NULL);
            if (c < 0) continue;
            if (net_recv(c, buf, 1, 0) == 1) net_send(c, buf, 1, 0);
            net_close(c);
        }
    }
    if (!strcmp(mode, "cpsmany")) {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        net_fcntl(l, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = l };
        epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
        struct epoll_event evs[64];
        for (;;) {
            int n = epoll_wait(ep, evs, 64, -1);
            for (int i = 0; i < n; i++) {
                int fd = evs[i].data.fd;
                if (fd == l) {
                    int c;
                    while ((c = net_accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                        struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };
                        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                    }
                    continue;
                }
                ssize_t r = net_recv(fd, buf, 1, 0);
                if (r < 0 && errno == EAGAIN) continue;
                if (r == 1) net_send(fd, buf, 1, 0);
                net_close(fd);
            }
        }
    }
    if (!strcmp(mode, "hold")) {
        int n = atoi(getenv("N"));
        for (int i = 0; i < n; i++) if (net_accept(l, NULL, NULL) < 0) { perror("accept"); return 1; }
        printf("held\n");
        fflush(stdout);
        pause();
    }
    int c = net_accept(l, NULL, NULL);
    if (!strcmp(mode, "sink")) {
        long total = 0;
        ssize_t n;
        while ((n = net_recv(c, buf, sizeof buf, 0)) > 0) total += n;
        printf("%ld\n", total);
    } else if (!strcmp(mode, "source")) {
        long left = atol(getenv("BYTES"));
        memset(buf, 'x', sizeof buf);
        while (left > 0) {
            ssize_t n = net_send(c, buf, left < (long)sizeof buf ? left : (long)sizeof buf, 0);
            if (n <= 0) break;
            left -= n;
        }
    } else if (!strcmp(mode, "rr")) {
        int nodelay = 1;
        net_setsockopt(c, IPPROTO_TCP, 1 /* TCP_NODELAY */, &nodelay, sizeof nodelay);
        while (net_recv(c, buf, 1, 0) == 1) net_send(c, buf, 1, 0);
    }
    net_close(c);
    return 0;
}
