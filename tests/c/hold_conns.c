/* Open N TCP connections to HOST:PORT from the kernel, spread over the
 * source addresses given, without waiting for each handshake, and hold
 * them: for filling a netd listener's accept queue. RLIMIT_NOFILE must
 * exceed N (the caller sets it).
 * usage: hold_conns HOST PORT N SRC...   prints "opened N" then waits for
 * a line on stdin (or EOF) and exits, closing everything. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: hold_conns HOST PORT N SRC...\n"); return 2; }
    long n = atol(argv[3]);
    int nsrc = argc - 4;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)n + 16 > rl.rlim_cur) { fprintf(stderr, "RLIMIT_NOFILE %ld is below N\n", (long)rl.rlim_cur); return 1; }
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &dst.sin_addr);
    long opened = 0;
    for (long i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (s < 0) { perror("socket"); break; }
        struct sockaddr_in src = { .sin_family = AF_INET };
        inet_pton(AF_INET, argv[4 + i % nsrc], &src.sin_addr);
        /* The port is chosen by connect() (quick), not by bind() (a search
         * of every port the address holds, per socket). */
        int one = 1;
        setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(s, (struct sockaddr *)&src, sizeof src) < 0) { perror("bind"); close(s); break; }
        if (connect(s, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
            perror("connect");
            close(s);
            break;
        }
        opened++;
        /* Pace the SYNs a little so the handshakes keep up. */
        if (i % 1000 == 999) usleep(20000);
    }
    printf("opened %ld\n", opened);
    fflush(stdout);
    char b[8];
    if (fgets(b, sizeof b, stdin)) {}
    return 0;
}
