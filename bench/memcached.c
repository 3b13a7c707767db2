/*
 * memcached.c - a small epoll load generator for memcached's text protocol.
 *
 * Each of CONNS connections keeps exactly one request in flight (pipelining
 * depth 1): a "get key:NNNNNNNN" or, with probability 1 - RATIO, a
 * "set key:NNNNNNNN 0 0 SIZE" with a SIZE-byte value.  Keys are drawn
 * uniformly from KEYS keys, all stored before the run, so every get is a hit
 * and every answer is known in advance: each one is checked byte by byte.
 *
 * Same command line contract and JSON report as loadgen.c, so bench/harness.py
 * runs it: -p PORT -c CONNS -d SECONDS -w WARMUP -C CONNECT_LIMIT [--spin],
 * "loadgen: measuring" / "loadgen: done" on stderr, one JSON line on stdout.
 *
 * Build: gcc -O2 -Wall -o memcached memcached.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NSEC 1000000000LL
#define MAX_EVENTS 1024
#define HIST_US 100000 /* latencies up to 100 ms at 1 us, the rest in the last bucket */
#define KEY_FMT "key:%08d"

struct conn {
    int fd;
    int is_get;
    int key;
    size_t want, got; /* bytes of the expected answer, received so far */
    int64_t sent_at;
    uint64_t rng;
};

static struct {
    const char *host;
    int port, conns, keys, size, spin;
    double ratio, duration, warmup, connect_limit, timeout;
} opt = {"127.0.0.1", 0, 1, 1000, 100, 0, 0.9, 3.0, 1.0, 10.0, 2.0};

static char *value, *set_tail;     /* SIZE bytes; the value + CRLF */
static char get_answer_tail[64];   /* "\r\nEND\r\n" after the value */
static uint64_t hist[HIST_US + 1];
static uint64_t requests, errors, warmup_errors, bytes_in;
static int measuring;
static char first_error[256];

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static uint64_t next_random(uint64_t *s) /* xorshift64 */
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fail(const char *what)
{
    if (measuring)
        errors++;
    else
        warmup_errors++;
    if (!first_error[0])
        snprintf(first_error, sizeof first_error, "%s", what);
}

static int connect_one(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1
        || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("memcached: connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* The answer a request expects, written into buf (only its head for a get). */
static size_t head_of_answer(const struct conn *c, char *buf, size_t len)
{
    if (!c->is_get)
        return (size_t)snprintf(buf, len, "STORED\r\n");
    return (size_t)snprintf(buf, len, "VALUE " KEY_FMT " 0 %d\r\n", c->key, opt.size);
}

static void send_request(struct conn *c, int64_t t)
{
    char head[128];
    size_t n;
    c->is_get = (double)(next_random(&c->rng) % 1000000) < opt.ratio * 1000000;
    c->key = (int)(next_random(&c->rng) % (uint64_t)opt.keys);
    if (c->is_get)
        n = (size_t)snprintf(head, sizeof head, "get " KEY_FMT "\r\n", c->key);
    else
        n = (size_t)snprintf(head, sizeof head, "set " KEY_FMT " 0 0 %d\r\n", c->key, opt.size);
    struct iovec iov[2] = {{head, n}, {set_tail, c->is_get ? 0 : (size_t)opt.size + 2}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    if (w != (ssize_t)(iov[0].iov_len + iov[1].iov_len))
        fail("short write");
    char answer[128];
    c->want = head_of_answer(c, answer, sizeof answer) + (c->is_get ? (size_t)opt.size + 7 : 0);
    c->got = 0;
    c->sent_at = t;
}

/* Check the bytes of an answer as they come; 1 when it is complete. */
static int check(struct conn *c, const char *data, size_t n)
{
    char head[128];
    size_t hlen = head_of_answer(c, head, sizeof head);
    for (size_t i = 0; i < n; i++, c->got++) {
        size_t at = c->got;
        char want;
        if (at < hlen)
            want = head[at];
        else if (at < hlen + (size_t)opt.size)
            want = value[at - hlen];
        else
            want = get_answer_tail[at - hlen - (size_t)opt.size];
        if (at >= c->want || data[i] != want) {
            fail("unexpected answer");
            return -1;
        }
    }
    return c->got == c->want;
}

static void populate(void)
{
    int fd = connect_one();
    char head[128], buf[64];
    for (int k = 0; k < opt.keys; k++) {
        int n = snprintf(head, sizeof head, "set " KEY_FMT " 0 0 %d\r\n", k, opt.size);
        if (write(fd, head, (size_t)n) != n || write(fd, set_tail, (size_t)opt.size + 2) != opt.size + 2
            || read(fd, buf, 8) != 8 || memcmp(buf, "STORED\r\n", 8) != 0) {
            fprintf(stderr, "memcached: could not store key %d\n", k);
            exit(1);
        }
    }
    close(fd);
}

static double percentile_us(double p)
{
    uint64_t total = 0, seen = 0;
    for (int i = 0; i <= HIST_US; i++)
        total += hist[i];
    if (total == 0)
        return 0.0;
    for (int i = 0; i <= HIST_US; i++) {
        seen += hist[i];
        if (seen >= (uint64_t)(p * (double)total))
            return i;
    }
    return HIST_US;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"spin", no_argument, NULL, 'S'}, {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "H:p:c:d:w:C:T:k:s:r:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'c': opt.conns = atoi(optarg); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'w': opt.warmup = atof(optarg); break;
        case 'C': opt.connect_limit = atof(optarg); break;
        case 'T': opt.timeout = atof(optarg); break;
        case 'k': opt.keys = atoi(optarg); break;
        case 's': opt.size = atoi(optarg); break;
        case 'r': opt.ratio = atof(optarg); break;
        case 'S': opt.spin = 1; break;
        default:
            fprintf(stderr, "usage: memcached -p PORT [-c CONNS] [-d S] [-w S] [-k KEYS] "
                            "[-s SIZE] [-r GET_RATIO] [--spin]\n");
            return 2;
        }
    }
    if (opt.port <= 0 || opt.conns < 1 || opt.keys < 1 || opt.size < 1 || opt.ratio < 0 || opt.ratio > 1) {
        fprintf(stderr, "memcached: bad options\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)(opt.connect_limit + opt.warmup + opt.duration) + 30);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    value = malloc((size_t)opt.size + 2);
    set_tail = value;
    for (int i = 0; i < opt.size; i++)
        value[i] = (char)('a' + i % 26);
    memcpy(value + opt.size, "\r\n", 2);
    memcpy(get_answer_tail, "\r\nEND\r\n", 7);
    populate();

    int epfd = epoll_create1(0);
    struct conn *conns = calloc((size_t)opt.conns, sizeof *conns);
    for (int i = 0; i < opt.conns; i++) {
        conns[i].fd = connect_one();
        conns[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
        fcntl(conns[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }

    int64_t t = now_ns(), measure_at = t + (int64_t)(opt.warmup * NSEC);
    int64_t end_at = measure_at + (int64_t)(opt.duration * NSEC), busy_ns = 0, next_check = t;
    double cpu_start = 0;
    for (int i = 0; i < opt.conns; i++)
        send_request(&conns[i], t);

    static char buf[256 * 1024];
    struct epoll_event events[MAX_EVENTS];
    while (1) {
        t = now_ns();
        if (!measuring && t >= measure_at) {
            measuring = 1;
            cpu_start = cpu_seconds();
            fputs("loadgen: measuring\n", stderr);
        }
        if (t >= end_at)
            break;
        if (t >= next_check) { /* an answer that never comes is an error; ask again */
            for (int i = 0; i < opt.conns; i++)
                if (t - conns[i].sent_at > (int64_t)(opt.timeout * NSEC)) {
                    fail("timeout");
                    close(conns[i].fd);
                    conns[i].fd = connect_one();
                    fcntl(conns[i].fd, F_SETFL, O_NONBLOCK);
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev);
                    send_request(&conns[i], t);
                }
            next_check = t + 10 * 1000000LL;
        }
        int n = epoll_wait(epfd, events, MAX_EVENTS, opt.spin ? 0 : 10);
        int64_t started = now_ns();
        for (int e = 0; e < n; e++) {
            struct conn *c = events[e].data.ptr;
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                fail("connection closed");
                c->sent_at = 0; /* reconnected at the next check */
                epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            if (measuring)
                bytes_in += (uint64_t)r;
            int done = check(c, buf, (size_t)r);
            if (done < 0) {
                c->sent_at = 0;
                epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
            } else if (done) {
                int64_t now = now_ns();
                if (measuring) {
                    int64_t us = (now - c->sent_at) / 1000;
                    hist[us > HIST_US ? HIST_US : us]++;
                    requests++;
                }
                send_request(c, now);
            }
        }
        if (measuring && n > 0)
            busy_ns += now_ns() - started;
    }
    double elapsed = (double)(now_ns() - measure_at) / NSEC, cpu = cpu_seconds() - cpu_start;
    fputs("loadgen: done\n", stderr);
    printf("{\"mode\":\"memcached\",\"conns\":%d,\"connected\":%d,\"size\":%d,\"spin\":%s,"
           "\"get_ratio\":%.3f,\"keys\":%d,\"duration\":%.3f,\"requests\":%llu,\"rps\":%.1f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":%llu,\"warmup_errors\":%llu,"
           "\"first_error\":\"%s\",\"busy_pct\":%.1f,\"cpu_s\":%.3f,\"mbps\":%.2f}\n",
           opt.conns, opt.conns, opt.size, opt.spin ? "true" : "false", opt.ratio, opt.keys,
           elapsed, (unsigned long long)requests, requests / elapsed, percentile_us(0.5),
           percentile_us(0.99), (unsigned long long)errors, (unsigned long long)warmup_errors,
           first_error, 100.0 * (double)busy_ns / (elapsed * NSEC), cpu, bytes_in / elapsed / 1e6);
    return 0;
}
