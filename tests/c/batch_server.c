/* A libnet server that takes connections in batches: it accepts every
 * connection that comes until none has for QUIET ms, then answers each (one
 * byte read, "ok\n" written) and closes them all, until TOTAL are served.
 * With netd near its descriptor limit, a batch is as large as netd can hand
 * over; the rest must wait in the accept queue, not be lost.
 * usage: batch_server PORT TOTAL QUIET   prints "listening", then
 * "batch N" per batch and "served TOTAL". */
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include "libnet.h"

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: batch_server PORT TOTAL QUIET\n"); return 2; }
    int port = atoi(argv[1]), total = atoi(argv[2]), quiet = atoi(argv[3]);
    int *fds = calloc(total, sizeof *fds);
    int l = net_socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0) { perror("net_socket"); return 1; }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (net_bind(l, (struct sockaddr *)&a, sizeof a) < 0 || net_listen(l, 4096) < 0) { perror("listen"); return 1; }
    printf("listening\n");
    fflush(stdout);
    int served = 0;
    while (served < total) {
        int n = 0;
        struct pollfd p = { .fd = l, .events = POLLIN };
        /* The first of a batch may take as long as it takes; then QUIET. */
        while (served + n < total && poll(&p, 1, n == 0 ? 60000 : quiet) == 1) {
            fds[n] = net_accept(l, NULL, NULL);
            if (fds[n] < 0) { perror("net_accept"); return 1; }
            n++;
        }
        if (n == 0) { fprintf(stderr, "no connection for 60 s after %d\n", served); return 1; }
        for (int i = 0; i < n; i++) {
            char b;
            if (net_recv(fds[i], &b, 1, 0) != 1 || net_send(fds[i], "ok\n", 3, 0) != 3) {
                perror("serve");
                return 1;
            }
            net_close(fds[i]);
        }
        served += n;
        printf("batch %d\n", n);
        fflush(stdout);
    }
    printf("served %d\n", served);
    return 0;
}
