/* tlsload: a small TLS load generator and plain backend for bench/tls.py.
 *
 * Client modes (print one JSON line: count, bytes, seconds, cpu = user+sys of this process):
 *   tlsload hs   HOST PORT SECONDS CONC [QUESTION]
 *       each of CONC threads loops: TCP connect, full TLS handshake (no session
 *       resumption), optionally send QUESTION and read up to the answer's '.',
 *       close_notify, close. count = completed handshakes.
 *   tlsload down HOST PORT SECONDS CONC     read over TLS for SECONDS (server sends)
 *   tlsload up   HOST PORT SECONDS CONC     write over TLS for SECONDS (server reads)
 * Backend modes (plain TCP, thread per connection, runs until killed):
 *   tlsload source PORT    write 64 KiB blocks until the peer goes away
 *   tlsload sink   PORT    read and discard until EOF, then close
 *
 * Certificates are not verified: the benchmark measures the servers, and every
 * server under test presents the same certificate.
 *
 * Build: cc -O2 -pthread -o tlsload tlsload.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 65536

static const char *host;
static int port;
static double seconds;
static const char *question;
static SSL_CTX *ctx;
static atomic_long total_count, total_bytes, errors;
static volatile int stop;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static SSL *tls_open(int fd) {
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

static void *hs_worker(void *arg) {
    (void)arg;
    char buf[4096];
    size_t qlen = question ? strlen(question) : 0;
    while (!stop) {
        int fd = dial();
        if (fd < 0) {
            atomic_fetch_add(&errors, 1);
            usleep(1000);
            continue;
        }
        SSL *ssl = tls_open(fd);
        if (!ssl) {
            atomic_fetch_add(&errors, 1);
            close(fd);
            continue;
        }
        int ok = 1;
        if (qlen) {
            ok = SSL_write(ssl, question, (int)qlen) == (int)qlen;
            int got = 0;
            while (ok) {
                int n = SSL_read(ssl, buf, sizeof buf);
                if (n <= 0) {
                    ok = 0;
                    break;
                }
                got += n;
                if (buf[n - 1] == '.') break;
            }
            atomic_fetch_add(&total_bytes, got);
        }
        SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
        if (ok && !stop)
            atomic_fetch_add(&total_count, 1);
        else if (!ok)
            atomic_fetch_add(&errors, 1);
    }
    return NULL;
}

static void *bulk_worker(void *arg) {
    int up = *(int *)arg;
    static char buf[BLOCK];
    int fd = dial();
    SSL *ssl = fd < 0 ? NULL : tls_open(fd);
    if (!ssl) {
        atomic_fetch_add(&errors, 1);
        return NULL;
    }
    while (!stop) {
        int n = up ? SSL_write(ssl, buf, sizeof buf) : SSL_read(ssl, buf, sizeof buf);
        if (n <= 0) {
            atomic_fetch_add(&errors, 1);
            break;
        }
        atomic_fetch_add(&total_bytes, n);
    }
    SSL_free(ssl);
    close(fd);
    return NULL;
}

static int client(const char *mode, int argc, char **argv) {
    if (argc < 6) return 2;
    host = argv[2];
    port = atoi(argv[3]);
    seconds = atof(argv[4]);
    int conc = atoi(argv[5]);
    question = argc > 6 ? argv[6] : NULL;
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    int up = strcmp(mode, "up") == 0;
    void *(*fn)(void *) = strcmp(mode, "hs") == 0 ? hs_worker : bulk_worker;
    pthread_t *t = calloc(conc, sizeof *t);
    double start = now();
    for (int i = 0; i < conc; i++) pthread_create(&t[i], NULL, fn, &up);
    while (now() - start < seconds) usleep(10000);
    stop = 1;
    double elapsed = now() - start;
    long count = atomic_load(&total_count), bytes = atomic_load(&total_bytes);
    for (int i = 0; i < conc; i++) pthread_join(t[i], NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec / 1e6;
    printf("{\"count\": %ld, \"bytes\": %ld, \"seconds\": %.3f, \"cpu\": %.3f, \"errors\": %ld}\n",
           count, bytes, elapsed, cpu, atomic_load(&errors));
    return 0;
}

static void *serve_one(void *arg) {
    int fd = (int)(long)arg;
    static char zeros[BLOCK];
    char buf[BLOCK];
    if (question) { /* source */
        while (write(fd, zeros, sizeof zeros) > 0) {
        }
    } else {
        while (read(fd, buf, sizeof buf) > 0) {
        }
    }
    close(fd);
    return NULL;
}

static int backend(const char *mode, int argc, char **argv) {
    if (argc < 3) return 2;
    question = strcmp(mode, "source") == 0 ? "source" : NULL;
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1024) < 0) {
        perror("listen");
        return 1;
    }
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_create(&t, &attr, serve_one, (void *)(long)fd);
    }
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) goto usage;
    if (!strcmp(argv[1], "hs") || !strcmp(argv[1], "down") || !strcmp(argv[1], "up"))
        return client(argv[1], argc, argv);
    if (!strcmp(argv[1], "source") || !strcmp(argv[1], "sink")) return backend(argv[1], argc, argv);
usage:
    fprintf(stderr, "usage: tlsload hs|down|up HOST PORT SECONDS CONC [QUESTION] | source|sink PORT\n");
    return 2;
}
