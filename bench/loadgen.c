/*
 * loadgen.c - a small epoll load generator for zoo's benchmarks.
 *
 * Every connection keeps exactly one request in flight: it sends a request,
 * reads the whole answer, checks it byte by byte, records the latency and
 * sends the next request at once.
 *
 *   lancelot  sends "What is your name?", expects
 *             "My name is Sir Lancelot of Camelot." (35 bytes)
 *   echo      sends SIZE bytes, expects the same SIZE bytes back
 *   blocks    sends a 4-byte big-endian length (struct '!I') + SIZE bytes,
 *             expects the same frame back
 *
 * Phases: connect all CONNS (non-blocking, a bounded number at a time),
 * warm up for WARMUP seconds (not measured), then measure for SECONDS.
 * The run always ends at its deadline, whatever the server does.
 *
 * Output: one line of JSON on stdout (see print_report()).  On stderr,
 * "loadgen: measuring" and "loadgen: done" mark the measured phase, so that a
 * harness can sample the server's CPU time over exactly that span.
 *
 * Busy share: the time spent handling the events that epoll_wait returned,
 * over the measured time.  Waiting in (or spinning on) epoll_wait is idle.
 *
 * Build: gcc -O2 -Wall -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NSEC 1000000000LL
#define MAX_EVENTS 1024
#define READ_BUF_SIZE (256 * 1024)
#define CHECK_INTERVAL_NS (10 * 1000000LL) /* timeouts and reconnects */
#define RECONNECT_DELAY_NS (100 * 1000000LL)

static const char LANCELOT_QUESTION[] = "What is your name?";
static const char LANCELOT_ANSWER[] = "My name is Sir Lancelot of Camelot.";

/* ------------------------------------------------------------------ */
/* Options                                                             */

struct options {
    const char *mode;
    const char *host;
    int port;
    int conns;
    double duration;
    double warmup;
    long size;
    int spin;
    double request_timeout;
    double connect_timeout;
    int max_connecting;
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: loadgen -m lancelot|echo|blocks -p PORT [options]\n"
        "  -m MODE          lancelot, echo or blocks\n"
        "  -H HOST          server address (default 127.0.0.1)\n"
        "  -p PORT          server port\n"
        "  -c CONNS         concurrent connections, one request in flight each (default 1)\n"
        "  -d SECONDS       measured duration (default 3)\n"
        "  -w SECONDS       warm-up before measuring (default 1)\n"
        "  -s SIZE          payload bytes for echo and blocks (default 64)\n"
        "  -T SECONDS       request timeout, counted as an error (default 2)\n"
        "  -C SECONDS       connect phase limit (default 10)\n"
        "  -M N             connects in progress at once (default 64)\n"
        "  --spin           busy-poll: epoll_wait with timeout 0\n");
}

static double parse_double(const char *s, const char *what)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || v < 0) {
        fprintf(stderr, "loadgen: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static long parse_long(const char *s, const char *what, long min)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min) {
        fprintf(stderr, "loadgen: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"spin", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    *o = (struct options){
        .mode = NULL, .host = "127.0.0.1", .port = 0, .conns = 1,
        .duration = 3.0, .warmup = 1.0, .size = 64, .spin = 0,
        .request_timeout = 2.0, .connect_timeout = 10.0, .max_connecting = 64,
    };
    while ((ch = getopt_long(argc, argv, "m:H:p:c:d:w:s:T:C:M:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'm': o->mode = optarg; break;
        case 'H': o->host = optarg; break;
        case 'p': o->port = (int)parse_long(optarg, "port", 1); break;
        case 'c': o->conns = (int)parse_long(optarg, "connection count", 1); break;
        case 'd': o->duration = parse_double(optarg, "duration"); break;
        case 'w': o->warmup = parse_double(optarg, "warm-up"); break;
        case 's': o->size = parse_long(optarg, "size", 0); break;
        case 'T': o->request_timeout = parse_double(optarg, "request timeout"); break;
        case 'C': o->connect_timeout = parse_double(optarg, "connect timeout"); break;
        case 'M': o->max_connecting = (int)parse_long(optarg, "max connecting", 1); break;
        case 'S': o->spin = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc || o->mode == NULL || o->port == 0 || o->port > 65535) {
        usage(stderr);
        exit(2);
    }
    if (strcmp(o->mode, "lancelot") && strcmp(o->mode, "echo") && strcmp(o->mode, "blocks")) {
        fprintf(stderr, "loadgen: unknown mode %s\n", o->mode);
        exit(2);
    }
    if (strcmp(o->mode, "blocks") == 0 && o->size > 0xffffffffL) {
        fprintf(stderr, "loadgen: blocks size must fit in 4 bytes\n");
        exit(2);
    }
    if ((strcmp(o->mode, "echo") == 0) && o->size == 0) {
        fprintf(stderr, "loadgen: echo size must be at least 1\n");
        exit(2);
    }
}

/* ------------------------------------------------------------------ */
/* Time                                                                */

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
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
         + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* ------------------------------------------------------------------ */
/* Latency histogram: log-linear buckets over nanoseconds, 64 linear
 * sub-buckets per power of two (under 1.6% relative error).           */

#define SUB_BITS 6
#define SUB_COUNT (1 << SUB_BITS)
#define BUCKETS (SUB_COUNT * 48)

static uint64_t histogram[BUCKETS];

static int bucket_of(uint64_t v)
{
    if (v < SUB_COUNT)
        return (int)v;
    int shift = 63 - __builtin_clzll(v) - SUB_BITS;
    int index = (shift + 1) * SUB_COUNT + (int)((v >> shift) - SUB_COUNT);
    return index < BUCKETS ? index : BUCKETS - 1;
}

/* Midpoint of a bucket, in nanoseconds. */
static double bucket_value(int index)
{
    if (index < SUB_COUNT)
        return index;
    int shift = index / SUB_COUNT - 1;
    double low = (double)((uint64_t)(index % SUB_COUNT + SUB_COUNT) << shift);
    return low + (double)((uint64_t)1 << shift) / 2.0;
}

static double percentile_us(uint64_t total, double q)
{
    if (total == 0)
        return 0.0;
    uint64_t rank = (uint64_t)(q * (double)total + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < BUCKETS; i++) {
        seen += histogram[i];
        if (seen >= rank)
            return bucket_value(i) / 1000.0;
    }
    return bucket_value(BUCKETS - 1) / 1000.0;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */

enum conn_state {
    ST_CLOSED,      /* not open; reopened at retry_at */
    ST_CONNECTING,  /* non-blocking connect in progress */
    ST_IDLE,        /* connected, waiting for the load to start */
    ST_BUSY,        /* a request is in flight */
};

static const char *state_names[] = {"closed", "connecting", "idle", "busy"};

struct conn {
    int id;
    int fd;
    enum conn_state state;
    int want_out;      /* EPOLLOUT is registered */
    size_t sent;       /* request bytes written */
    size_t received;   /* answer bytes read */
    int64_t started;   /* request (or connect) start time */
    int64_t retry_at;  /* for ST_CLOSED */
    int settled;       /* has connected or failed at least once */
};

enum phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DONE };

static struct {
    struct options opt;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int epfd;
    struct conn *conns;
    int connecting;     /* connections in ST_CONNECTING */
    int connected;      /* connections in ST_IDLE or ST_BUSY */
    int settled;        /* connections that have connected or failed once */
    char *request;
    size_t request_len;
    char *answer;
    size_t answer_len;
    char *readbuf;
    enum phase phase;
    int64_t timeout_ns;         /* request timeout */
    int64_t connect_timeout_ns;
    /* counters: measured phase unless named otherwise */
    uint64_t requests;
    uint64_t bytes_received;
    uint64_t errors;
    uint64_t warmup_errors;
    int64_t busy_ns;
    char first_error[256];
    volatile sig_atomic_t stop;
} g;

static void set_interest(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g.epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
        perror("loadgen: epoll_ctl");
        exit(1);
    }
    c->want_out = (events & EPOLLOUT) != 0;
}

static void settle(struct conn *c)
{
    if (!c->settled) {
        c->settled = 1;
        g.settled++;
    }
}

static void close_conn(struct conn *c, int64_t t)
{
    settle(c);
    if (c->state == ST_CONNECTING)
        g.connecting--;
    else if (c->state == ST_IDLE || c->state == ST_BUSY)
        g.connected--;
    if (c->fd >= 0)
        close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    c->state = ST_CLOSED;
    c->retry_at = t + RECONNECT_DELAY_NS;
}

/* Count an error, remember the first one, close the connection; it is
 * reopened after RECONNECT_DELAY_NS so that the load goes on. */
static void fail(struct conn *c, int64_t t, const char *fmt, ...)
{
    if (g.phase == PH_MEASURE)
        g.errors++;
    else
        g.warmup_errors++;
    if (g.first_error[0] == '\0') {
        static const char *phase_names[] = {"connect", "warm-up", "measure", "done"};
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(g.first_error, sizeof g.first_error, "conn %d: %s (state %s, %s phase)",
                 c->id, msg, state_names[c->state], phase_names[g.phase]);
    }
    close_conn(c, t);
}

static void start_connect(struct conn *c, int64_t t)
{
    int fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        c->state = ST_CLOSED;
        fail(c, t, "socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->state = ST_CONNECTING;
    c->started = t;
    g.connecting++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("loadgen: epoll_ctl");
        exit(1);
    }
    c->want_out = 1;
    if (connect(fd, (struct sockaddr *)&g.addr, g.addrlen) < 0
        && errno != EINPROGRESS && errno != EAGAIN && errno != EINTR)
        fail(c, t, "connect: %s", strerror(errno));
    /* Completion (or failure) is reported by EPOLLOUT / EPOLLERR. */
}

/* Open closed connections whose retry time has come, keeping at most
 * max_connecting connects in progress. */
static void open_connections(int64_t t)
{
    for (int i = 0; i < g.opt.conns && g.connecting < g.opt.max_connecting; i++) {
        struct conn *c = &g.conns[i];
        if (c->state == ST_CLOSED && c->retry_at <= t)
            start_connect(c, t);
    }
}

static void flush_request(struct conn *c, int64_t t)
{
    while (c->sent < g.request_len) {
        ssize_t n = send(c->fd, g.request + c->sent, g.request_len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                set_interest(c, EPOLLIN | EPOLLOUT);
            return;
        }
        fail(c, t, "send: %s", n < 0 ? strerror(errno) : "wrote nothing");
        return;
    }
    if (c->want_out)
        set_interest(c, EPOLLIN);
}

static void start_request(struct conn *c, int64_t t)
{
    c->state = ST_BUSY;
    c->sent = 0;
    c->received = 0;
    c->started = t;
    flush_request(c, t);
}

static void connect_done(struct conn *c, int64_t t)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        fail(c, t, "connect: %s", strerror(err));
        return;
    }
    g.connecting--;
    g.connected++;
    settle(c);
    c->state = ST_IDLE;
    set_interest(c, EPOLLIN);
    if (g.phase != PH_CONNECT)
        start_request(c, t);
}

static void describe_bytes(char *out, size_t outlen, const char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < outlen; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
    }
    out[o] = '\0';
}

static void read_answer(struct conn *c, int64_t t)
{
    ssize_t n = recv(c->fd, g.readbuf, READ_BUF_SIZE, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        fail(c, t, "recv: %s", strerror(errno));
        return;
    }
    if (n == 0) {
        fail(c, t, "closed by server after %zu of %zu answer bytes", c->received, g.answer_len);
        return;
    }
    if (g.phase == PH_MEASURE)
        g.bytes_received += (uint64_t)n;
    if (c->state != ST_BUSY || c->received + (size_t)n > g.answer_len) {
        char got[64];
        describe_bytes(got, sizeof got, g.readbuf, (size_t)n < 12 ? (size_t)n : 12);
        fail(c, t, "unexpected extra bytes from server: \"%s\"", got);
        return;
    }
    if (memcmp(g.readbuf, g.answer + c->received, (size_t)n) != 0) {
        size_t at = 0;
        while (g.readbuf[at] == g.answer[c->received + at])
            at++;
        char got[64], want[64];
        size_t left = (size_t)n - at;
        describe_bytes(got, sizeof got, g.readbuf + at, left < 12 ? left : 12);
        left = g.answer_len - c->received - at;
        describe_bytes(want, sizeof want, g.answer + c->received + at, left < 12 ? left : 12);
        fail(c, t, "mismatch at answer byte %zu: got \"%s\", expected \"%s\"",
             c->received + at, got, want);
        return;
    }
    c->received += (size_t)n;
    if (c->received < g.answer_len)
        return;
    if (c->sent < g.request_len) {
        fail(c, t, "full answer before the request was sent");
        return;
    }
    if (g.phase == PH_MEASURE) {
        g.requests++;
        histogram[bucket_of((uint64_t)(t - c->started))]++;
    }
    start_request(c, t);
}

static void handle_event(struct conn *c, uint32_t events)
{
    int64_t t = now_ns();
    if (c->state == ST_CONNECTING) {
        connect_done(c, t);
        return;
    }
    if (c->state == ST_CLOSED)
        return; /* closed earlier in this batch */
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        read_answer(c, t);
        if (c->state == ST_CLOSED)
            return;
        if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            fail(c, t, "socket error: %s", err ? strerror(err) : "hang-up");
            return;
        }
    }
    if ((events & EPOLLOUT) && c->state == ST_BUSY && c->sent < g.request_len)
        flush_request(c, t);
}

/* Time out stuck requests and slow connects; reopen closed connections. */
static void periodic_check(int64_t t)
{
    for (int i = 0; i < g.opt.conns; i++) {
        struct conn *c = &g.conns[i];
        if (c->state == ST_BUSY && t - c->started > g.timeout_ns)
            fail(c, t, "timeout after %.1f s (sent %zu/%zu, received %zu/%zu)",
                 (t - c->started) / 1e9, c->sent, g.request_len, c->received, g.answer_len);
        else if (c->state == ST_CONNECTING && t - c->started > g.connect_timeout_ns)
            fail(c, t, "connect timeout after %.1f s", (t - c->started) / 1e9);
    }
    open_connections(t);
}

/* ------------------------------------------------------------------ */
/* Setup and report                                                    */

static void build_messages(void)
{
    const struct options *o = &g.opt;
    if (strcmp(o->mode, "lancelot") == 0) {
        g.request = strdup(LANCELOT_QUESTION);
        g.request_len = strlen(LANCELOT_QUESTION);
        g.answer = strdup(LANCELOT_ANSWER);
        g.answer_len = strlen(LANCELOT_ANSWER);
        return;
    }
    size_t header = strcmp(o->mode, "blocks") == 0 ? 4 : 0;
    g.request_len = header + (size_t)o->size;
    g.request = malloc(g.request_len + 1);
    if (g.request == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    if (header) {
        uint32_t len = htonl((uint32_t)o->size);
        memcpy(g.request, &len, 4);
    }
    for (long i = 0; i < o->size; i++)
        g.request[header + (size_t)i] = (char)('a' + i % 26);
    g.answer = g.request; /* echoed back unchanged */
    g.answer_len = g.request_len;
}

static void resolve(void)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    char port[16];
    snprintf(port, sizeof port, "%d", g.opt.port);
    int rc = getaddrinfo(g.opt.host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "loadgen: %s: %s\n", g.opt.host, gai_strerror(rc));
        exit(2);
    }
    memcpy(&g.addr, res->ai_addr, res->ai_addrlen);
    g.addrlen = res->ai_addrlen;
    freeaddrinfo(res);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)g.opt.conns + 16)
        fprintf(stderr, "loadgen: warning: file limit %llu is below %d connections\n",
                (unsigned long long)rl.rlim_cur, g.opt.conns);
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static void print_report(double elapsed, double cpu_s, int connected_at_start)
{
    double rps = elapsed > 0 ? g.requests / elapsed : 0.0;
    double busy = elapsed > 0 ? 100.0 * (double)g.busy_ns / (elapsed * NSEC) : 0.0;
    double mbps = elapsed > 0 ? g.bytes_received / elapsed / 1e6 : 0.0;
    printf("{\"mode\":\"%s\",\"conns\":%d,\"connected\":%d,\"size\":%ld,\"spin\":%s,"
           "\"duration\":%.3f,\"requests\":%llu,\"rps\":%.1f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":%llu,\"warmup_errors\":%llu,"
           "\"first_error\":",
           g.opt.mode, g.opt.conns, connected_at_start,
           strcmp(g.opt.mode, "lancelot") == 0 ? 0L : g.opt.size,
           g.opt.spin ? "true" : "false", elapsed, (unsigned long long)g.requests, rps,
           percentile_us(g.requests, 0.50), percentile_us(g.requests, 0.99),
           (unsigned long long)g.errors, (unsigned long long)g.warmup_errors);
    print_json_string(g.first_error);
    printf(",\"busy_pct\":%.1f,\"cpu_s\":%.3f,\"mbps\":%.2f}\n", busy, cpu_s, mbps);
    fflush(stdout);
}

static void on_signal(int sig)
{
    (void)sig;
    g.stop = 1;
}

/* Last resort if the loop itself is somehow stuck: never outlive the deadline by much. */
static void on_alarm(int sig)
{
    static const char msg[] = "{\"error\":\"loadgen: watchdog expired\"}\n";
    (void)sig;
    ssize_t ignored = write(STDOUT_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(3);
}

int main(int argc, char **argv)
{
    parse_options(argc, argv, &g.opt);
    const struct options *o = &g.opt;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)(o->connect_timeout + o->warmup + o->duration) + 10);

    raise_fd_limit();
    resolve();
    build_messages();
    g.timeout_ns = (int64_t)(o->request_timeout * NSEC);
    g.connect_timeout_ns = (int64_t)(o->connect_timeout * NSEC);
    g.readbuf = malloc(READ_BUF_SIZE);
    g.conns = calloc((size_t)o->conns, sizeof *g.conns);
    g.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (g.readbuf == NULL || g.conns == NULL || g.epfd < 0) {
        perror("loadgen: setup");
        return 1;
    }
    for (int i = 0; i < o->conns; i++)
        g.conns[i] = (struct conn){.id = i, .fd = -1, .state = ST_CLOSED, .retry_at = 0};

    struct epoll_event events[MAX_EVENTS];
    int64_t t = now_ns();
    int64_t connect_deadline = t + (int64_t)(o->connect_timeout * NSEC);
    int64_t measure_at = 0, end_at = 0, next_check = t + CHECK_INTERVAL_NS;
    int64_t measure_started = 0;
    double cpu_at_start = 0.0;
    int connected_at_start = 0;

    g.phase = PH_CONNECT;
    open_connections(t);

    while (!g.stop) {
        t = now_ns();

        /* Phase changes. */
        /* The connect phase ends when every connection has connected or
         * failed once (failed ones keep retrying), or at its deadline. */
        if (g.phase == PH_CONNECT
            && ((g.settled == o->conns && g.connecting == 0) || t >= connect_deadline)) {
            g.phase = PH_WARMUP;
            measure_at = t + (int64_t)(o->warmup * NSEC);
            end_at = measure_at + (int64_t)(o->duration * NSEC);
            for (int i = 0; i < o->conns; i++)
                if (g.conns[i].state == ST_IDLE)
                    start_request(&g.conns[i], t);
        }
        if (g.phase == PH_WARMUP && t >= measure_at) {
            g.phase = PH_MEASURE;
            measure_started = t;
            cpu_at_start = cpu_seconds();
            connected_at_start = g.connected;
            fputs("loadgen: measuring\n", stderr); /* lets a harness sample the server */
        }
        if (g.phase == PH_MEASURE && t >= end_at)
            break;
        if (t >= next_check) {
            periodic_check(t);
            next_check = t + CHECK_INTERVAL_NS;
        }

        /* Wait for events: never past the next check or phase change. */
        int timeout_ms = 0;
        if (!o->spin) {
            int64_t wake = next_check;
            if (g.phase == PH_WARMUP && measure_at < wake)
                wake = measure_at;
            if (g.phase == PH_MEASURE && end_at < wake)
                wake = end_at;
            timeout_ms = wake > t ? (int)((wake - t + 999999) / 1000000) : 0;
        }
        if (g.phase == PH_CONNECT && g.connecting < o->max_connecting)
            open_connections(t);
        int n = epoll_wait(g.epfd, events, MAX_EVENTS, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("loadgen: epoll_wait");
            return 1;
        }
        if (n == 0)
            continue;
        int64_t busy_from = now_ns();
        for (int i = 0; i < n; i++)
            handle_event(events[i].data.ptr, events[i].events);
        if (g.phase == PH_MEASURE)
            g.busy_ns += now_ns() - busy_from;
    }

    int64_t finished = now_ns();
    fputs("loadgen: done\n", stderr);
    double elapsed = 0.0, cpu_s = 0.0;
    if (g.phase == PH_MEASURE) {
        elapsed = (finished - measure_started) / 1e9;
        cpu_s = cpu_seconds() - cpu_at_start;
    } else if (g.first_error[0] == '\0') {
        snprintf(g.first_error, sizeof g.first_error, "stopped before the measured phase");
    }
    print_report(elapsed, cpu_s, connected_at_start);
    return 0;
}
