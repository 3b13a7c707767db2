/*
 * epoll_echo.c - the C reference for zoo's echo benchmark: a minimal,
 * single-threaded, edge-free epoll echo server with backpressure.
 *
 * Each connection reads into a 256 KiB buffer and writes it back; while any
 * of it is unsent the connection waits for EPOLLOUT and stops reading (the
 * same policy as zoo-echo). TCP_NODELAY on, like zoo's listeners.
 *
 *   epoll_echo PORT [READY_FILE]      (PORT 0 picks a free port)
 *
 * With READY_FILE it writes {"pid": N, "port": P} there once listening.
 * Build: gcc -O2 -Wall -o epoll_echo epoll_echo.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF (256 * 1024)
#define MAX_EVENTS 256

struct conn {
    int fd;
    size_t len, off; /* pending output: buf[off..len) */
    char buf[BUF];
};

static int ep;

static void watch(struct conn *c, int op, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(ep, op, c->fd, &ev);
}

static void drop(struct conn *c)
{
    close(c->fd);
    free(c);
}

/* Flush pending output; return 0 when all sent, 1 when blocked, -1 on error. */
static int flush_out(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0)
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
        c->off += (size_t)n;
    }
    c->off = c->len = 0;
    return 0;
}

static void on_event(struct conn *c, unsigned events)
{
    if (events & EPOLLOUT) {
        int r = flush_out(c);
        if (r < 0) { drop(c); return; }
        if (r == 0) watch(c, EPOLL_CTL_MOD, EPOLLIN);
        return;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->buf, BUF, 0);
        if (n == 0) { drop(c); return; }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            drop(c);
            return;
        }
        c->len = (size_t)n;
        c->off = 0;
        int r = flush_out(c);
        if (r < 0) { drop(c); return; }
        if (r == 1) { watch(c, EPOLL_CTL_MOD, EPOLLOUT); return; }
        if ((size_t)n < BUF) return;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: epoll_echo PORT [READY_FILE]\n");
        return 2;
    }
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 1024)) {
        perror("epoll_echo: listen");
        return 1;
    }
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    if (argc > 2) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
        FILE *f = fopen(tmp, "w");
        if (!f) { perror("epoll_echo: ready file"); return 1; }
        fprintf(f, "{\"pid\": %d, \"port\": %d}\n", getpid(), ntohs(addr.sin_port));
        fclose(f);
        rename(tmp, argv[2]);
    }
    ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *c = malloc(sizeof *c);
                    c->fd = fd;
                    c->len = c->off = 0;
                    watch(c, EPOLL_CTL_ADD, EPOLLIN);
                }
            } else {
                on_event(events[i].data.ptr, events[i].events);
            }
        }
    }
}
