/*
 * ftpload.c - a small epoll FTP download load generator for bench/ftp.py.
 *
 * CONC sessions on one thread, each a passive-mode FTP client: connect, read
 * the 220, USER and PASS, TYPE I; then for each transfer EPSV (or PASV),
 * connect the data connection, RETR PATH, read the data to EOF and the 226.
 * After a transfer a session sends QUIT, reads the 221, waits for the server
 * to close and reconnects for the next transfer; or, with --reuse, sends the
 * next EPSV/RETR on the same control connection. It stops when TRANSFERS
 * transfers are done in all. At most -M sessions wait for their 220 at once,
 * so that a burst of connects does not overflow the server's accept queue.
 *
 * Every reply code is checked and every transfer must deliver exactly the
 * file's size (-s, or asked with SIZE on one connection before the run):
 * anything else stops the run with a message naming the session, what it was
 * waiting for and the reply (exit status 1). The data connection goes to the
 * control connection's host, whatever address a 227 reply names.
 *
 * Cheap on purpose, so that the server is the bottleneck: data is counted and
 * dropped in the kernel (recv with MSG_TRUNC; --copy copies it out), and a
 * data connection is closed with a reset once its EOF is read (--fin for a
 * normal close; see data_event() for why). Data connections get a 4 MiB
 * receive buffer (-r): on loopback, whoever makes TCP transmit pays for the
 * whole path, and with a small window a server's queued data goes out when
 * the client's window updates arrive, on the client's CPU. With 300 sessions
 * and autotuned buffers (-r 0) that made the client do zoo-ftp's sending: 86%
 * of a core for it against 35-48% for pyftpdlib; with 4 MiB, 33% for all.
 *
 * Output: one line of JSON on stdout (see report()): transfers, bytes,
 * seconds (first connect to last transfer), MB/s (10^6), transfers/s, the
 * transfer time (RETR sent to 226 and EOF both seen) p50/p99 in ms, data
 * reads and epoll_waits, and this process's own CPU (getrusage, user +
 * system) in seconds and in % of the run: near 100% means the client, not
 * the server, was the limit.
 *
 * Build: gcc -O2 -Wall -Wextra -o ftpload ftpload.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
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
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define DATA_BUF_SIZE (256 * 1024)
#define LINE_MAX_LEN 1024

/* ------------------------------------------------------------------ */
/* Options                                                             */

static struct {
    const char *host;
    int port;
    int conns;
    long transfers;
    const char *path;
    long long size; /* -1: ask with SIZE */
    const char *user;
    const char *pass;
    int reuse;
    int pasv;
    int max_greeting;
    double timeout;
    int copy;
    int fin;
    int rcvbuf;
} opt = {
    .host = "127.0.0.1", .conns = 1, .transfers = 1, .size = -1, .user = "anonymous",
    .pass = "ftpload@example.com", .max_greeting = 64, .timeout = 300, .rcvbuf = 4 << 20,
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: ftpload -p PORT -f PATH [options]\n"
        "  -H HOST          server address, IPv4 or IPv6 (default 127.0.0.1)\n"
        "  -p PORT          control port\n"
        "  -f PATH          file to RETR\n"
        "  -c CONC          concurrent sessions (default 1)\n"
        "  -n TRANSFERS     transfers in all (default 1)\n"
        "  -s BYTES         the file's size (default: ask with SIZE before the run)\n"
        "  -u USER          login name (default anonymous)\n"
        "  -P PASS          password (default ftpload@example.com)\n"
        "  -M N             sessions waiting for their 220 at once (default 64)\n"
        "  -t SECONDS       give up (exit 1) after this long (default 300)\n"
        "  --reuse          next RETR on the same control connection (default: QUIT, reconnect)\n"
        "  --pasv           PASV instead of EPSV\n"
        "  --copy           copy the data into a buffer (default: recv with MSG_TRUNC, no copy)\n"
        "  -r BYTES         data connections' SO_RCVBUF (default 4 MiB; 0: the kernel's autotuning)\n"
        "  --fin            close data connections with FIN (default: RST, see data_event())\n");
}

static long long parse_num(const char *s, const char *what, long long min)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min) {
        fprintf(stderr, "ftpload: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static void parse_options(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"reuse", no_argument, NULL, 'R'},
        {"pasv", no_argument, NULL, 'A'},
        {"copy", no_argument, NULL, 'C'},
        {"fin", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "H:p:f:c:n:s:u:P:M:t:r:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H': opt.host = optarg; break;
        case 'p': opt.port = (int)parse_num(optarg, "port", 1); break;
        case 'f': opt.path = optarg; break;
        case 'c': opt.conns = (int)parse_num(optarg, "session count", 1); break;
        case 'n': opt.transfers = (long)parse_num(optarg, "transfer count", 1); break;
        case 's': opt.size = parse_num(optarg, "size", 0); break;
        case 'u': opt.user = optarg; break;
        case 'P': opt.pass = optarg; break;
        case 'M': opt.max_greeting = (int)parse_num(optarg, "max greeting", 1); break;
        case 't': opt.timeout = (double)parse_num(optarg, "timeout", 1); break;
        case 'R': opt.reuse = 1; break;
        case 'A': opt.pasv = 1; break;
        case 'C': opt.copy = 1; break;
        case 'F': opt.fin = 1; break;
        case 'r': opt.rcvbuf = (int)parse_num(optarg, "receive buffer", 0); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind != argc || opt.port == 0 || opt.port > 65535 || opt.path == NULL) {
        usage(stderr);
        exit(2);
    }
    if (strpbrk(opt.path, "\r\n") || strpbrk(opt.user, "\r\n") || strpbrk(opt.pass, "\r\n")) {
        fprintf(stderr, "ftpload: no line breaks in -f, -u or -P\n");
        exit(2);
    }
}

/* ------------------------------------------------------------------ */
/* Time, failure                                                       */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
         + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ftpload: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "ftpload: time limit (-t) reached before all transfers were done\n";
    if (write(2, msg, sizeof msg - 1) < 0) { /* nothing more to do */ }
    _exit(1);
}

/* ------------------------------------------------------------------ */
/* Addresses                                                           */

static struct sockaddr_storage server;
static socklen_t server_len;

static void resolve(void)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)&server;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&server;
    memset(&server, 0, sizeof server);
    if (inet_pton(AF_INET, opt.host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        server_len = sizeof *a4;
    } else if (inet_pton(AF_INET6, opt.host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        server_len = sizeof *a6;
    } else {
        fprintf(stderr, "ftpload: -H takes a numeric address: %s\n", opt.host);
        exit(2);
    }
}

/* A socket connecting (or, blocking, connected) to the server's address on PORT. */
static int dial(int port, int nodelay, int nonblock)
{
    struct sockaddr_storage a = server;
    if (a.ss_family == AF_INET)
        ((struct sockaddr_in *)&a)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
    int fd = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    if (nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    } else if (opt.rcvbuf) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opt.rcvbuf, sizeof opt.rcvbuf);
    }
    if (connect(fd, (struct sockaddr *)&a, server_len) < 0 && errno != EINPROGRESS)
        die("connect to port %d: %s", port, strerror(errno));
    return fd;
}

/* ------------------------------------------------------------------ */
/* Replies: "ddd text" lines, or "ddd-" ... "ddd " for multi-line ones  */

struct replies {
    char line[LINE_MAX_LEN]; /* the line being assembled */
    size_t len;
    int multi;               /* code of the multi-line reply in progress, or 0 */
};

/* Feed one complete line (no CR LF); return the reply's code once it is complete, else 0. */
static int reply_line(struct replies *r, const char *line, size_t len)
{
    int code = 0;
    if (len >= 3 && line[0] >= '1' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9'
        && line[2] >= '0' && line[2] <= '9')
        code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r->multi) {
        if (code == r->multi && (len == 3 || line[3] == ' ')) {
            r->multi = 0;
            return code;
        }
        return 0; /* a continuation line */
    }
    if (code == 0)
        return -1; /* not a reply */
    if (len > 3 && line[3] == '-') {
        r->multi = code;
        return 0;
    }
    return code;
}

/* ------------------------------------------------------------------ */
/* Sessions                                                            */

enum state {
    S_DONE,        /* no connection, nothing more to do */
    S_CONNECTING,  /* control connect in progress */
    S_GREETING,    /* waiting for 220 */
    S_USER,        /* sent USER, waiting for 331 (or 230) */
    S_PASS,        /* sent PASS, waiting for 230 */
    S_TYPE,        /* sent TYPE I, waiting for 200 */
    S_PASSIVE,     /* sent EPSV/PASV, waiting for 229/227 */
    S_DATA,        /* data connect in progress */
    S_RETR,        /* sent RETR: 150, data to EOF, 226 */
    S_QUIT,        /* sent QUIT, waiting for 221 */
    S_CLOSING,     /* got 221, waiting for the server to close */
};

static const char *state_names[] = {
    "done", "connecting", "220", "USER", "PASS", "TYPE I", "EPSV/PASV", "data connect", "RETR", "QUIT",
    "the server's close",
};

struct session {
    int id;
    int ctl, data;
    enum state state;
    struct replies replies;
    int prelim, final, eof; /* RETR: 1xx seen, 226 seen, data EOF seen */
    long long got;          /* data bytes of this transfer */
    double started;         /* RETR sent */
};

static struct session *sessions;
static int ep;
static long reserved, completed, logins, active, waiting_greeting, data_reads, waits;
static long long total_bytes;
static double *durations;
static double t_end;
static char data_buf[DATA_BUF_SIZE];

static void fail(struct session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ftpload: session %d, waiting for %s: ", s->id, state_names[s->state]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void watch(int fd, uint32_t events, struct session *s, int is_data, int op)
{
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)s->id * 2 + is_data};
    if (epoll_ctl(ep, op, fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void command(struct session *s, enum state next, const char *fmt, ...)
{
    char buf[LINE_MAX_LEN + 16];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 2, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof buf - 2)
        fail(s, "command too long");
    memcpy(buf + n, "\r\n", 2);
    s->state = next;
    /* A few dozen bytes on a connection with nothing else queued: one send takes them. */
    ssize_t w = send(s->ctl, buf, n + 2, MSG_NOSIGNAL);
    if (w != n + 2)
        fail(s, "send: %s", w < 0 ? strerror(errno) : "short write");
}

static int take_transfer(void)
{
    if (reserved >= opt.transfers)
        return 0;
    reserved++;
    return 1;
}

static void open_session(struct session *s)
{
    s->ctl = dial(opt.port, 1, 1);
    s->state = S_CONNECTING;
    s->replies = (struct replies){0};
    waiting_greeting++;
    active++;
    watch(s->ctl, EPOLLOUT, s, 0, EPOLL_CTL_ADD);
}

/* Sessions that have a transfer reserved but no connection yet, while few wait for a 220. */
static int *pending;
static int npending;

static void admit(void)
{
    while (npending > 0 && waiting_greeting < opt.max_greeting)
        open_session(&sessions[pending[--npending]]);
}

static void next_transfer(struct session *s)
{
    if (take_transfer())
        command(s, S_PASSIVE, opt.pasv ? "PASV" : "EPSV");
    else
        command(s, S_QUIT, "QUIT");
}

static void close_session(struct session *s)
{
    close(s->ctl); /* closing removes it from the epoll set */
    s->ctl = -1;
    s->state = S_DONE;
    active--;
    if (!opt.reuse && take_transfer())
        pending[npending++] = s->id;
    admit();
}

static void transfer_done(struct session *s)
{
    if (s->got != opt.size)
        fail(s, "transfer of %lld bytes, the file has %lld", s->got, opt.size);
    t_end = now();
    durations[completed++] = t_end - s->started;
    total_bytes += s->got;
    if (opt.reuse)
        next_transfer(s);
    else
        command(s, S_QUIT, "QUIT");
}

static int passive_port(struct session *s, int code, const char *text)
{
    if (code == 229) {
        const char *p = strchr(text, '(');
        if (p && p[1] && p[1] == p[2] && p[2] == p[3]) {
            char *end;
            long port = strtol(p + 4, &end, 10);
            if (end != p + 4 && *end == p[1] && port > 0 && port < 65536)
                return (int)port;
        }
    } else {
        const char *p = text + 4;
        while (*p && (*p < '0' || *p > '9'))
            p++;
        int h[4], p1, p2;
        if (sscanf(p, "%d,%d,%d,%d,%d,%d", &h[0], &h[1], &h[2], &h[3], &p1, &p2) == 6
            && p1 >= 0 && p1 < 256 && p2 >= 0 && p2 < 256 && p1 * 256 + p2 > 0)
            return p1 * 256 + p2;
    }
    fail(s, "cannot read the data port in: %s", text);
    return -1;
}

static void on_reply(struct session *s, int code, const char *text)
{
    switch (s->state) {
    case S_GREETING:
        if (code == 120)
            return; /* "ready in a moment" */
        if (code != 220)
            break;
        waiting_greeting--;
        admit();
        command(s, S_USER, "USER %s", opt.user);
        return;
    case S_USER:
        if (code == 331) {
            command(s, S_PASS, "PASS %s", opt.pass);
            return;
        }
        if (code != 230) /* or logged in without a password */
            break;
        logins++;
        command(s, S_TYPE, "TYPE I");
        return;
    case S_PASS:
        if (code != 230 && code != 202)
            break;
        logins++;
        command(s, S_TYPE, "TYPE I");
        return;
    case S_TYPE:
        if (code != 200)
            break;
        /* The transfer reserved when this session was opened. */
        command(s, S_PASSIVE, opt.pasv ? "PASV" : "EPSV");
        return;
    case S_PASSIVE:
        if (code != (opt.pasv ? 227 : 229))
            break;
        s->data = dial(passive_port(s, code, text), 0, 1);
        s->state = S_DATA;
        watch(s->data, EPOLLOUT, s, 1, EPOLL_CTL_ADD);
        return;
    case S_RETR:
        if ((code == 150 || code == 125) && !s->prelim) {
            s->prelim = 1;
            return;
        }
        if ((code != 226 && code != 250) || !s->prelim)
            break;
        s->final = 1;
        if (s->eof)
            transfer_done(s);
        return;
    case S_QUIT:
        if (code != 221)
            break;
        s->state = S_CLOSING; /* the server closes first (RFC 959), so its side keeps the TIME_WAIT */
        return;
    default:
        break;
    }
    fail(s, "unexpected reply: %s", text);
}

static void control_readable(struct session *s)
{
    char buf[4096];
    ssize_t n = recv(s->ctl, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n == 0 && s->state == S_CLOSING) {
        close_session(s);
        return;
    }
    if (n <= 0)
        fail(s, "control connection %s", n == 0 ? "closed by the server" : strerror(errno));
    struct replies *r = &s->replies;
    for (ssize_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c != '\n') {
            if (r->len >= sizeof r->line - 1)
                fail(s, "reply line longer than %d bytes", LINE_MAX_LEN);
            r->line[r->len++] = c;
            continue;
        }
        size_t len = r->len;
        if (len && r->line[len - 1] == '\r')
            len--;
        r->line[len] = '\0';
        r->len = 0;
        int code = reply_line(r, r->line, len);
        if (code < 0)
            fail(s, "not an FTP reply: %s", r->line);
        if (code > 0)
            on_reply(s, code, r->line);
    }
}

static void control_writable(struct session *s)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s->ctl, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err)
        fail(s, "connect: %s", strerror(err));
    s->state = S_GREETING;
    watch(s->ctl, EPOLLIN, s, 0, EPOLL_CTL_MOD);
}

static void data_event(struct session *s)
{
    if (s->state == S_DATA) { /* connected (or not) */
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(s->data, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err)
            fail(s, "data connect: %s", strerror(err));
        watch(s->data, EPOLLIN, s, 1, EPOLL_CTL_MOD);
        s->prelim = s->final = s->eof = 0;
        s->got = 0;
        s->started = now();
        command(s, S_RETR, "RETR %s", opt.path);
        return;
    }
    if (s->state != S_RETR)
        fail(s, "data connection event");
    /* One read per event: level-triggered epoll comes back, and 300 sessions share the loop.
     * MSG_TRUNC makes TCP drop the bytes instead of copying them out (tcp(7)): the copy
     * would be most of this client's CPU, and the bytes are only counted. */
    ssize_t n = recv(s->data, data_buf, sizeof data_buf, opt.copy ? 0 : MSG_TRUNC);
    data_reads++;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0)
        fail(s, "data connection: %s", strerror(errno));
    if (n > 0) {
        s->got += n;
        return;
    }
    if (!opt.fin) {
        /* Reset instead of FIN: the server closed first, and its side would otherwise sit
         * in TIME_WAIT on its passive port for a minute. A few thousand of those fill the
         * ephemeral port range and make every later bind(port 0) on it slow, so a run's
         * figures would depend on the runs (anyone's) of the minute before. */
        struct linger hard = {.l_onoff = 1, .l_linger = 0};
        setsockopt(s->data, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    }
    close(s->data);
    s->data = -1;
    s->eof = 1;
    if (s->final)
        transfer_done(s);
}

/* ------------------------------------------------------------------ */
/* SIZE before the run                                                 */

/* Read one whole reply on a blocking socket; return its code, text in out. */
static int blocking_reply(int fd, char *out, size_t outlen)
{
    struct replies r = {0};
    char c;
    for (;;) {
        ssize_t n = recv(fd, &c, 1, 0);
        if (n <= 0)
            die("SIZE query: connection closed");
        if (c != '\n') {
            if (r.len < sizeof r.line - 1)
                r.line[r.len++] = c;
            continue;
        }
        size_t len = r.len;
        if (len && r.line[len - 1] == '\r')
            len--;
        r.line[len] = '\0';
        r.len = 0;
        int code = reply_line(&r, r.line, len);
        if (code < 0)
            die("SIZE query: not an FTP reply: %s", r.line);
        if (code > 0 && code != 120) {
            snprintf(out, outlen, "%s", r.line);
            return code;
        }
    }
}

static void blocking_command(int fd, const char *cmd, const char *arg, int want1, int want2, char *text,
                             size_t textlen)
{
    char buf[LINE_MAX_LEN + 16];
    int n = snprintf(buf, sizeof buf, "%s%s%s\r\n", cmd, arg ? " " : "", arg ? arg : "");
    if (send(fd, buf, n, MSG_NOSIGNAL) != n)
        die("SIZE query: send failed");
    int code = blocking_reply(fd, text, textlen);
    if (code != want1 && code != want2)
        die("SIZE query: %s got: %s", cmd, text);
}

static long long ask_size(void)
{
    char text[LINE_MAX_LEN];
    int fd = dial(opt.port, 1, 0);
    if (blocking_reply(fd, text, sizeof text) != 220)
        die("SIZE query: greeting: %s", text);
    blocking_command(fd, "USER", opt.user, 331, 230, text, sizeof text);
    if (strncmp(text, "331", 3) == 0)
        blocking_command(fd, "PASS", opt.pass, 230, 202, text, sizeof text);
    blocking_command(fd, "TYPE", "I", 200, 200, text, sizeof text);
    blocking_command(fd, "SIZE", opt.path, 213, 213, text, sizeof text);
    char *end;
    long long size = strtoll(text + 4, &end, 10);
    if (end == text + 4 || size < 0)
        die("SIZE query: cannot read the size in: %s", text);
    blocking_command(fd, "QUIT", NULL, 221, 221, text, sizeof text);
    close(fd);
    return size;
}

/* ------------------------------------------------------------------ */
/* Main                                                                */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(double seconds, double cpu)
{
    qsort(durations, completed, sizeof *durations, cmp_double);
    double p50 = completed ? durations[completed / 2] : 0;
    double p99 = completed ? durations[(long)((completed - 1) * 0.99)] : 0;
    printf("{\"transfers\": %ld, \"sessions\": %ld, \"conns\": %d, \"reuse\": %s, \"size\": %lld, "
           "\"bytes\": %lld, \"seconds\": %.4f, \"mbps\": %.1f, \"transfers_per_s\": %.1f, "
           "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"data_reads\": %ld, \"epoll_waits\": %ld, "
           "\"cpu_s\": %.4f, \"cpu_pct\": %.1f}\n",
           completed, logins, opt.conns, opt.reuse ? "true" : "false", opt.size, total_bytes, seconds,
           total_bytes / seconds / 1e6, completed / seconds, p50 * 1e3, p99 * 1e3, data_reads, waits,
           cpu, 100 * cpu / seconds);
}

int main(int argc, char **argv)
{
    parse_options(argc, argv);
    resolve();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)opt.timeout);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max; /* two descriptors per session */
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (opt.size < 0)
        opt.size = ask_size();
    if (opt.conns > opt.transfers)
        opt.conns = (int)opt.transfers;

    sessions = calloc(opt.conns, sizeof *sessions);
    pending = calloc(opt.conns, sizeof *pending);
    durations = calloc(opt.transfers, sizeof *durations);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!sessions || !pending || !durations || ep < 0)
        die("out of memory or descriptors");

    double cpu0 = cpu_seconds(), t0 = now();
    for (int i = opt.conns - 1; i >= 0; i--) {
        sessions[i] = (struct session){.id = i, .ctl = -1, .data = -1, .state = S_DONE};
        take_transfer();
        pending[npending++] = i;
    }
    admit();

    struct epoll_event evs[MAX_EVENTS];
    while (active > 0) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, 1000);
        waits++;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            struct session *s = &sessions[evs[i].data.u64 / 2];
            if (evs[i].data.u64 % 2) {
                if (s->data >= 0)
                    data_event(s);
            } else if (s->ctl >= 0) {
                if (s->state == S_CONNECTING)
                    control_writable(s);
                else
                    control_readable(s);
            }
        }
    }
    double cpu = cpu_seconds() - cpu0;
    if (completed != opt.transfers)
        die("%ld of %ld transfers done", completed, opt.transfers);
    report(t_end - t0, cpu);
    return 0;
}
