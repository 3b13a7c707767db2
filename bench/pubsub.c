/* pubsub: a small epoll load generator for Redis-protocol pub/sub brokers.
 *
 * One publisher and K subscribers, all on one thread:
 *
 *   pubsub HOST PORT K MODE SECONDS WINDOW SIZE
 *
 * MODE is "channel" (SUBSCRIBE bench) or "pattern" (PSUBSCRIBE ben*). Each
 * PUBLISH carries SIZE bytes whose first 8 are the send time (ns). The publisher
 * keeps at most WINDOW messages ahead of the slowest subscriber: with WINDOW=1
 * every message is fanned out completely before the next is sent, and the time
 * from send to its arrival at the last subscriber is the fan-out latency.
 *
 * Every message frame has the same length, so subscribers count frames by bytes.
 * Prints one JSON line: delivered messages/s, fan-out latency p50/p99 (us),
 * messages lost, and this process's own CPU use.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int dial(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *buf, size_t len) {
    while (len) {
        ssize_t n = send(fd, buf, len, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("send");
        }
        buf += n;
        len -= n;
    }
}

/* Read exactly len bytes (blocking socket), used for the subscribe confirmation. */
static void recv_all(int fd, char *buf, size_t len) {
    while (len) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n <= 0) die("recv");
        buf += n;
        len -= n;
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    int fd;
    uint64_t bytes;    /* frame bytes received after the confirmation */
    uint64_t received; /* whole frames */
    char stamp[8];     /* the payload's first 8 bytes, assembled across reads */
} sub_t;

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT K channel|pattern SECONDS WINDOW SIZE\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]), k = atoi(argv[3]);
    int pattern = strcmp(argv[4], "pattern") == 0;
    double seconds = atof(argv[5]);
    int window = atoi(argv[6]);
    size_t size = (size_t)atoi(argv[7]);
    if (size < 8) size = 8;

    /* What a subscriber receives per message: a fixed-length frame. */
    char head[128];
    int head_len = pattern
        ? snprintf(head, sizeof head, "*4\r\n$8\r\npmessage\r\n$4\r\nben*\r\n$5\r\nbench\r\n$%zu\r\n", size)
        : snprintf(head, sizeof head, "*3\r\n$7\r\nmessage\r\n$5\r\nbench\r\n$%zu\r\n", size);
    uint64_t frame = head_len + size + 2;
    char cmd_head[64];
    int cmd_head_len = snprintf(cmd_head, sizeof cmd_head, "*3\r\n$7\r\nPUBLISH\r\n$5\r\nbench\r\n$%zu\r\n", size);
    size_t cmd_len = cmd_head_len + size + 2;
    char *cmd = malloc(cmd_len);
    memcpy(cmd, cmd_head, cmd_head_len);
    memset(cmd + cmd_head_len, 'x', size);
    memcpy(cmd + cmd_head_len + size, "\r\n", 2);

    sub_t *subs = calloc(k, sizeof *subs);
    char confirm[128];
    const char *sub_cmd = pattern ? "*2\r\n$10\r\nPSUBSCRIBE\r\n$4\r\nben*\r\n" : "*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nbench\r\n";
    int confirm_len = pattern ? snprintf(confirm, sizeof confirm, "*3\r\n$10\r\npsubscribe\r\n$4\r\nben*\r\n:1\r\n")
                              : snprintf(confirm, sizeof confirm, "*3\r\n$9\r\nsubscribe\r\n$5\r\nbench\r\n:1\r\n");
    for (int i = 0; i < k; i++) {
        subs[i].fd = dial(host, port);
        send_all(subs[i].fd, sub_cmd, strlen(sub_cmd));
    }
    for (int i = 0; i < k; i++) {
        char got[128];
        recv_all(subs[i].fd, got, confirm_len);
        if (memcmp(got, confirm, confirm_len) != 0) {
            fprintf(stderr, "unexpected subscribe reply\n");
            return 2;
        }
    }
    int pub = dial(host, port);

    int ep = epoll_create1(0);
    for (int i = 0; i <= k; i++) {
        int fd = i < k ? subs[i].fd : pub;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    }

    size_t lat_cap = 1 << 20, lat_n = 0;
    uint64_t *lat = malloc(lat_cap * sizeof *lat);
    uint64_t sent = 0, replies = 0, min_received = 0;
    static char buf[1 << 18], out[1 << 16];
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    uint64_t start = now_ns(), stop = start + (uint64_t)(seconds * 1e9), end = 0;
    int stopping = 0;
    struct epoll_event evs[256];

    for (;;) {
        uint64_t t = now_ns();
        if (!stopping && t >= stop) {
            stopping = 1;
            end = t;
        }
        if (!stopping) {
            /* Keep WINDOW messages ahead of the slowest subscriber. */
            size_t fill = 0;
            uint64_t ts = now_ns();
            while (sent - min_received < (uint64_t)window && fill + cmd_len <= sizeof out) {
                memcpy(cmd + cmd_head_len, &ts, 8);
                memcpy(out + fill, cmd, cmd_len);
                fill += cmd_len;
                sent++;
            }
            if (fill) send_all(pub, out, fill); /* one write for the whole batch, as a pipelining client does */
        } else if (min_received >= sent || t > stop + 2000000000ull) {
            break;
        }
        int n = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < n; e++) {
            uint32_t i = evs[e].data.u32;
            if (i == (uint32_t)k) {
                ssize_t r = recv(pub, buf, sizeof buf, 0);
                if (r <= 0) die("publisher recv");
                for (ssize_t j = 0; j < r; j++) replies += buf[j] == '\n';
                continue;
            }
            sub_t *s = &subs[i];
            ssize_t r = recv(s->fd, buf, sizeof buf, 0);
            if (r <= 0) {
                fprintf(stderr, "subscriber %u closed\n", i);
                return 3;
            }
            if (window != 1) { /* throughput: only count frames */
                s->bytes += r;
                s->received = s->bytes / frame;
                continue;
            }
            /* latency: walk the frames this read completes, keeping each payload's stamp */
            uint64_t pos = s->bytes;
            for (ssize_t j = 0; j < r; j++, pos++) {
                uint64_t off = pos % frame;
                if (off >= (uint64_t)head_len && off < (uint64_t)head_len + 8) s->stamp[off - head_len] = buf[j];
                if (off == frame - 1) {
                    s->received++;
                    int last = 1;
                    for (int q = 0; q < k && last; q++) last = subs[q].received >= s->received;
                    if (last && !stopping && lat_n < lat_cap) {
                        uint64_t ts;
                        memcpy(&ts, s->stamp, 8);
                        lat[lat_n++] = now_ns() - ts;
                    }
                }
            }
            s->bytes = pos;
        }
        uint64_t mn = UINT64_MAX;
        for (int q = 0; q < k; q++)
            if (subs[q].received < mn) mn = subs[q].received;
        min_received = mn;
    }
    getrusage(RUSAGE_SELF, &ru1);
    uint64_t finished = now_ns();
    uint64_t delivered = 0;
    for (int q = 0; q < k; q++) delivered += subs[q].received;
    double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 1e-6 * ((ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec));
    qsort(lat, lat_n, sizeof *lat, cmp_u64);
    double p50 = lat_n ? lat[lat_n / 2] / 1e3 : 0, p99 = lat_n ? lat[(size_t)(lat_n * 0.99)] / 1e3 : 0;
    printf("{\"k\": %d, \"mode\": \"%s\", \"window\": %d, \"sent\": %llu, \"replies\": %llu, "
           "\"delivered_per_s\": %.0f, \"lost\": %llu, \"p50_us\": %.1f, \"p99_us\": %.1f, "
           "\"samples\": %zu, \"loadgen_cpu\": %.3f}\n",
           k, pattern ? "pattern" : "channel", window, (unsigned long long)sent, (unsigned long long)replies,
           delivered / ((finished - start) / 1e9), (unsigned long long)(sent * k - delivered), p50, p99, lat_n,
           cpu / ((finished - start) / 1e9));
    (void)end;
    return 0;
}
