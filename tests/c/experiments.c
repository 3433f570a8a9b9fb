/* The TCP experiments people run to learn TCP, on libnet.
 * usage: experiments MODE PORT
 *   bound     bind PORT, never listen; wait for a line on stdin
 *   selfconn  bind 10.77.0.2:PORT and connect to it; echo a message to itself
 *   noaccept  listen on PORT, wait for a line on stdin, then accept and print what was sent
 *   close     accept one connection, leave its data unread, close()      (RST)
 *   shutdown  accept one, read it all, shutdown(SHUT_WR), read EOF, close (FIN)
 *   eofclose  accept one, read to EOF, close at once          (ACK+FIN merged)
 *   quickack  as eofclose, but set TCP_QUICKACK on EOF first  (ACK, then FIN)
 * Prints "ready" when the peer may act, then results. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "libnet.h"

static void ready(void) { printf("ready\n"); fflush(stdout); }
static void wait_line(void) { char b[8]; if (!fgets(b, sizeof b, stdin)) exit(4); }

static int listener(int port) {
    int l = net_socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    net_setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (net_bind(l, (struct sockaddr *)&a, sizeof a) < 0 || net_listen(l, 8) < 0) { perror("listen"); exit(1); }
    return l;
}

int main(int argc, char **argv) {
    const char *mode = argv[1];
    int port = atoi(argv[2]);
    char buf[4096];
    if (!strcmp(mode, "bound")) {
        int s = net_socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
        if (net_bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
        ready();
        wait_line();
        return 0;
    }
    if (!strcmp(mode, "selfconn")) {
        int s = net_socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
        inet_pton(AF_INET, "10.77.0.2", &a.sin_addr);
        if (net_bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
        if (net_connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
        const char *msg = "hello, me";
        net_send(s, msg, strlen(msg), 0);
        ssize_t n = net_recv(s, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        printf("got: %s\n", buf);
        return 0;
    }
    int l = listener(port);
    if (!strcmp(mode, "noaccept")) {
        ready();
        wait_line();
        int c = net_accept(l, NULL, NULL);
        ssize_t n = net_recv(c, buf, sizeof buf - 1, MSG_WAITALL);
        buf[n > 0 ? n : 0] = 0;
        printf("read after accept: %s\n", buf);
        return 0;
    }
    ready();
    int c = net_accept(l, NULL, NULL);
    if (c < 0) { perror("accept"); return 1; }
    if (!strcmp(mode, "close")) {
        /* Wait until the data is here, then close without reading it. */
        struct pollfd p = { .fd = c, .events = POLLIN };
        net_poll(&p, 1, 10000);
        net_close(c);
        printf("closed with unread data\n");
        return 0;
    }
    ssize_t n;
    while ((n = net_recv(c, buf, sizeof buf, 0)) > 0) {
        if (!strcmp(mode, "shutdown")) break;
    }
    if (!strcmp(mode, "shutdown")) {
        net_shutdown(c, SHUT_WR);
        while ((n = net_recv(c, buf, sizeof buf, 0)) > 0) {}
        net_close(c);
        printf("shut down\n");
        return 0;
    }
    if (!strcmp(mode, "quickack")) {
        int one = 1;
        net_setsockopt(c, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    net_close(c);
    printf("closed at EOF\n");
    return 0;
}
