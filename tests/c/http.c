/* Minimal HTTP/1.0 on libnet, for curl and python3 -m http.server as peers.
 * usage: http serve PORT BYTES     answer one GET with BYTES of the pattern i*7%251
 *        http get HOST PORT PATH   fetch PATH; print "<status> <body bytes> <fnv1a64>" */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "libnet.h"

static int send_all(int fd, const char *p, long n) {
    while (n > 0) {
        ssize_t w = net_send(fd, p, n, 0);
        if (w < 0) return -1;
        p += w;
        n -= w;
    }
    return 0;
}

int main(int argc, char **argv) {
    static char buf[65536];
    if (!strcmp(argv[1], "serve")) {
        int port = atoi(argv[2]);
        long bytes = atol(argv[3]);
        int l = net_socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        net_setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
        if (net_bind(l, (struct sockaddr *)&a, sizeof a) < 0 || net_listen(l, 8) < 0) { perror("listen"); return 1; }
        printf("listening\n");
        fflush(stdout);
        int c = net_accept(l, NULL, NULL);
        /* Read the request head. */
        long got = 0;
        while (got < (long)sizeof buf - 1) {
            ssize_t n = net_recv(c, buf + got, sizeof buf - 1 - got, 0);
            if (n <= 0) return 1;
            got += n;
            buf[got] = 0;
            if (strstr(buf, "\r\n\r\n")) break;
        }
        char head[256];
        int hl = snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %ld\r\n\r\n", bytes);
        if (send_all(c, head, hl) < 0) return 1;
        for (long sent = 0; sent < bytes;) {
            long n = bytes - sent < (long)sizeof buf ? bytes - sent : (long)sizeof buf;
            for (long i = 0; i < n; i++) buf[i] = (char)((sent + i) * 7 % 251);
            if (send_all(c, buf, n) < 0) return 1;
            sent += n;
        }
        net_close(c);
        return 0;
    }
    int s = net_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
    inet_pton(AF_INET, argv[2], &a.sin_addr);
    if (net_connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
    char req[256];
    int rl = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", argv[4], argv[2]);
    if (send_all(s, req, rl) < 0) return 1;
    int status = 0, in_body = 0;
    long body = 0;
    uint64_t h = 1469598103934665603ULL;
    char head[8192];
    long hl = 0;
    for (;;) {
        ssize_t n = net_recv(s, buf, sizeof buf, 0);
        if (n < 0) { perror("recv"); return 1; }
        if (n == 0) break;
        ssize_t i = 0;
        while (!in_body && i < n) {
            if (hl < (long)sizeof head - 1) head[hl++] = buf[i];
            i++;
            head[hl] = 0;
            if (hl >= 4 && !memcmp(head + hl - 4, "\r\n\r\n", 4)) {
                in_body = 1;
                sscanf(head, "HTTP/%*s %d", &status);
            }
        }
        for (; i < n; i++) { h ^= (unsigned char)buf[i]; h *= 1099511628211ULL; body++; }
    }
    printf("%d %ld %016llx\n", status, body, (unsigned long long)h);
    return 0;
}
