/* A libnet TCP client: sends BYTES of a fixed pattern to HOST:PORT, half-closes,
 * reads the reply to EOF and prints how many bytes came back and their FNV-1a hash.
 * usage: sha_client HOST PORT BYTES */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "libnet.h"

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: sha_client HOST PORT BYTES\n"); return 2; }
    long bytes = atol(argv[3]);
    int s = net_socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) { perror("net_socket"); return 1; }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    if (net_connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("connect: %s\n", strerror(errno));
        return 3;
    }
    char buf[65536];
    long sent = 0;
    while (sent < bytes) {
        size_t n = sizeof buf;
        if ((long)n > bytes - sent) n = bytes - sent;
        for (size_t i = 0; i < n; i++) buf[i] = (char)((sent + i) * 7 % 251);
        ssize_t w = net_send(s, buf, n, 0);
        if (w < 0) { perror("net_send"); return 1; }
        sent += w;
    }
    if (net_shutdown(s, SHUT_WR) < 0) { perror("net_shutdown"); return 1; }
    uint64_t h = 1469598103934665603ULL;
    long got = 0;
    for (;;) {
        ssize_t n = net_recv(s, buf, sizeof buf, 0);
        if (n < 0) { printf("recv: %s\n", strerror(errno)); return 4; }
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) { h ^= (unsigned char)buf[i]; h *= 1099511628211ULL; }
        got += n;
    }
    printf("%ld %016llx\n", got, (unsigned long long)h);
    net_close(s);
    return 0;
}
