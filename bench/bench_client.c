/* Benchmark client on the kernel's sockets.
 * usage: bench_client MODE HOST PORT COUNT
 *   send  send COUNT bytes, print MB/s
 *   recv  read to EOF, print MB/s
 *   rr    COUNT 1-byte round trips, print median and p99 in microseconds
 *   cps   COUNT connect/1-byte exchange/close cycles, print connections per
 *         second and the client's context switches per connection */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }

static int dial(const char *host, int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); exit(1); }
    return s;
}

int main(int argc, char **argv) {
    const char *mode = argv[1], *host = argv[2];
    int port = atoi(argv[3]);
    long count = atol(argv[4]);
    static char buf[1 << 16];
    if (!strcmp(mode, "cps")) {
        double t0 = now();
        for (long i = 0; i < count; i++) {
            int s = dial(host, port);
            send(s, "x", 1, 0);
            if (recv(s, buf, 1, 0) != 1) { fprintf(stderr, "no reply\n"); return 1; }
            close(s);
        }
        double rate = count / (now() - t0);
        /* The second field: this process's context switches per connection,
         * the wake-ups each connection costs the client. */
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("%.0f %.2f\n", rate, (double)(ru.ru_nvcsw + ru.ru_nivcsw) / count);
        return 0;
    }
    int s = dial(host, port);
    if (!strcmp(mode, "send")) {
        memset(buf, 'x', sizeof buf);
        double t0 = now();
        long left = count;
        while (left > 0) {
            ssize_t n = send(s, buf, left < (long)sizeof buf ? left : (long)sizeof buf, 0);
            if (n <= 0) { perror("send"); return 1; }
            left -= n;
        }
        shutdown(s, SHUT_WR);
        while (recv(s, buf, sizeof buf, 0) > 0) {}
        printf("%.1f\n", count / (now() - t0) / 1e6);
    } else if (!strcmp(mode, "recv")) {
        double t0 = now();
        long total = 0;
        ssize_t n;
        while ((n = recv(s, buf, sizeof buf, 0)) > 0) total += n;
        printf("%.1f\n", total / (now() - t0) / 1e6);
    } else if (!strcmp(mode, "rr")) {
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        double *lat = malloc(count * sizeof *lat);
        for (long i = 0; i < count; i++) {
            double t0 = now();
            send(s, "x", 1, 0);
            if (recv(s, buf, 1, 0) != 1) { fprintf(stderr, "no reply\n"); return 1; }
            lat[i] = (now() - t0) * 1e6;
        }
        qsort(lat, count, sizeof *lat, cmp);
        printf("%.1f %.1f\n", lat[count / 2], lat[count * 99 / 100]);
    }
    close(s);
    return 0;
}
