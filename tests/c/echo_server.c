/* A libnet TCP echo server: the BSD-sockets program with net_ prefixes.
 * usage: echo_server PORT [CONNECTIONS]   prints "listening" when ready. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "libnet.h"

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 7000;
    int conns = argc > 2 ? atoi(argv[2]) : 1;
    int l = net_socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0) { perror("net_socket"); return 1; }
    int one = 1;
    net_setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY) };
    if (net_bind(l, (struct sockaddr *)&a, sizeof a) < 0) { perror("net_bind"); return 1; }
    if (net_listen(l, 16) < 0) { perror("net_listen"); return 1; }
    printf("listening\n");
    fflush(stdout);
    for (int i = 0; i < conns; i++) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        int c = net_accept(l, (struct sockaddr *)&peer, &plen);
        if (c < 0) { perror("net_accept"); return 1; }
        char buf[65536];
        long total = 0;
        for (;;) {
            ssize_t n = net_recv(c, buf, sizeof buf, 0);
            if (n < 0) { perror("net_recv"); return 1; }
            if (n == 0) break;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = net_send(c, buf + off, n - off, 0);
                if (w < 0) { perror("net_send"); return 1; }
                off += w;
            }
            total += n;
        }
        fprintf(stderr, "echoed %ld bytes\n", total);
        net_close(c);
    }
    net_close(l);
    return 0;
}
