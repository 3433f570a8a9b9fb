/* A libnet echo server driven by epoll on libnet descriptors: non-blocking
 * listener and connections, level-triggered. Serves CLIENTS connections to
 * EOF, then prints "served CLIENTS bytes TOTAL".
 * usage: epoll_server PORT CLIENTS */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include "libnet.h"

int main(int argc, char **argv) {
    int port = atoi(argv[1]), clients = atoi(argv[2]);
    int l = net_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (net_bind(l, (struct sockaddr *)&a, sizeof a) < 0 || net_listen(l, 64) < 0) { perror("listen"); return 1; }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = l };
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    printf("listening\n");
    fflush(stdout);
    int done = 0;
    long total = 0;
    char buf[16384];
    while (done < clients) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 10000);
        if (n <= 0) { fprintf(stderr, "epoll_wait: %d\n", n); return 1; }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                for (;;) {
                    int c = net_accept4(l, NULL, NULL, SOCK_NONBLOCK);
                    if (c < 0) {
                        if (errno != EAGAIN) { perror("accept"); return 1; }
                        break;
                    }
                    struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            ssize_t r = net_recv(fd, buf, sizeof buf, 0);
            if (r > 0) {
                total += r;
                for (ssize_t off = 0; off < r;) {
                    ssize_t w = net_send(fd, buf + off, r - off, 0);
                    if (w < 0 && errno != EAGAIN) { perror("send"); return 1; }
                    if (w > 0) off += w;
                }
            } else if (r == 0 || errno != EAGAIN) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                net_close(fd);
                done++;
            }
        }
    }
    printf("served %d bytes %ld\n", done, total);
    return 0;
}
