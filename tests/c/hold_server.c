/* Accept N connections and hold them; then read each to EOF and close it.
 * usage: hold_server PORT N   prints "listening", "held N", "closed N". */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include "libnet.h"

int main(int argc, char **argv) {
    int port = atoi(argv[1]), n = atoi(argv[2]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int *fds = calloc(n, sizeof *fds);
    int l = net_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (net_bind(l, (struct sockaddr *)&a, sizeof a) < 0 || net_listen(l, 4096) < 0) { perror("listen"); return 1; }
    printf("listening\n");
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        fds[i] = net_accept(l, NULL, NULL);
        if (fds[i] < 0) { perror("net_accept"); return 1; }
    }
    printf("held %d\n", n);
    fflush(stdout);
    int closed = 0;
    char b[16];
    for (int i = 0; i < n; i++) {
        if (net_recv(fds[i], b, sizeof b, 0) == 0) closed++;
        net_close(fds[i]);
    }
    printf("closed %d\n", closed);
    return 0;
}
