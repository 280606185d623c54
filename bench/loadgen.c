/*
 * A WebSocket load generator, cheap enough to load the servers it measures: one thread, epoll,
 * one prebuilt masked frame written again and again, responses parsed without copying.
 *
 *   loadgen echo      HOST PORT CONNS INFLIGHT SIZE SECONDS   WebSocket echo (masked binary frames)
 *   loadgen raw       HOST PORT CONNS INFLIGHT SIZE SECONDS   the same bytes, no handshake (raw TCP echo)
 *   loadgen handshake HOST PORT CONCURRENCY SECONDS           upgrade handshakes per second
 *   loadgen idle      HOST PORT CONNS SECONDS                 open CONNS WebSockets, hold them idle
 *   loadgen fanout    HOST PORT CONNS INFLIGHT SIZE SECONDS   pub/sub fan-out: CONNS WebSockets all receive every
 *                     message; the first also publishes, keeping INFLIGHT messages not yet received by all
 *                     CONNS; msgs counts deliveries (messages received, summed over connections)
 *   loadgen fanoutraw HOST PORT CONNS INFLIGHT SIZE SECONDS   the same over raw TCP (no handshake; a message is
 *                     the publisher's frame length in bytes)
 *                     With LOADGEN_PUBLISHERS=P (fan-out modes), the first P connections publish in turn, each
 *                     message from the next one (so the server reads them from P sockets, in separate reads).
 *   loadgen echoz     HOST PORT CONNS INFLIGHT FILE SECONDS   echo of a compressed text message: FILE holds
 *                     its deflated payload (made without context takeover), sent with RSV1 after
 *                     negotiating permessage-deflate with no context takeover both ways
 *
 * Prints one line of key=value pairs: msgs, rate, p50_us, p99_us, cpu_pct (its own CPU use); the echo and
 * fan-out modes add reads (read calls, those that found nothing included) and waits (epoll_wait calls).
 * With LOADGEN_MSGS=N in the environment, echo modes stop after N messages (and handshake mode after N
 * handshakes) whatever the time: a fixed amount of work, for instruction counts (valgrind) and CPU
 * time per message that do not depend on how loaded the machine is.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static const char *REQUEST =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
static const char *REQUEST_DEFLATE =
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n\r\n";
/* echoz: the compressed payload to send, and the request that negotiates it */
static unsigned char *payload_override = NULL;
static size_t payload_override_len = 0;

enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN };

typedef struct {
    int fd;
    int state;
    /* response parsing: bytes of the current frame still to skip, header bytes seen so far */
    uint64_t skip;
    unsigned char hdr[14];
    int hdr_len;
    int counting; /* the frame being skipped ends a message */
    /* raw mode: bytes received toward the next whole message */
    uint64_t raw_got;
    /* fan-out: messages received on this connection (they arrive in publishing order) */
    long received;
    /* sending: whole messages still to send, and offset into the one being sent */
    long to_send;
    size_t send_off;
    int inflight;
    char head[4];       /* last bytes of the handshake response, to find CRLFCRLF */
    double sent_at[64]; /* send times of messages in flight, a ring (latency) */
    int ring_head, ring_tail;
} conn_t;

static unsigned char *frame;
static size_t frame_len;
static struct sockaddr_in addr;
static int ep;
static long messages = 0;
static double *lat;
static long lat_n = 0, lat_cap = 0;
static int raw_mode = 0;
/* fan-out: the publishing connection, how many connections must receive each message, and how many
   have received each of the last 64 messages (a message is done when all have) */
static int fanout = 0;
static conn_t *publishers;
static int n_publishers = 1, next_publisher = 0;
static int fan_conns;
static int fan_got[64];
static long max_msgs = 0; /* LOADGEN_MSGS: stop after this many (0: run for the time given) */
/* system calls of the measured span: read calls (those that found nothing included), epoll waits */
static long n_reads = 0, n_waits = 0;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int open_conn(conn_t *c, void *tag) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct linger lg = {1, 0}; /* close with RST: no TIME_WAIT pile-up during handshake runs */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) die("connect");
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->state = ST_CONNECTING;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    return fd;
}

/* Exits if the connection attempt of `c` failed. */
static void check_connected(conn_t *c) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) { fprintf(stderr, "connect: %s\n", strerror(err)); exit(1); }
}

/* Sends pending messages; returns -1 on a hard error. */
static int pump_send(conn_t *c) {
    while (c->to_send > 0) {
        struct iovec iov[64];
        int n = 0;
        long k = c->to_send;
        size_t off = c->send_off;
        while (n < 64 && k > 0) {
            iov[n].iov_base = frame + off;
            iov[n].iov_len = frame_len - off;
            off = 0;
            n++;
            k--;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        size_t done = (size_t)w + c->send_off;
        c->to_send -= (long)(done / frame_len);
        c->send_off = done % frame_len;
    }
    return 0;
}

static void queue_message(conn_t *c, double t) {
    c->to_send++;
    c->sent_at[c->ring_head] = t;
    c->ring_head = (c->ring_head + 1) & 63;
}

static void message_done(conn_t *c, double t) {
    messages++;
    if (fanout) {
        int slot = (int)(c->received++ & 63);
        if (++fan_got[slot] == fan_conns) {
            fan_got[slot] = 0;
            /* received by every connection: publish the next, from the next publisher */
            queue_message(&publishers[next_publisher], t);
            next_publisher = (next_publisher + 1) % n_publishers;
        }
        return;
    }
    double sent = c->sent_at[c->ring_tail];
    c->ring_tail = (c->ring_tail + 1) & 63;
    if (c->inflight == 1) {
        if (lat_n == lat_cap) {
            lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
            lat = realloc(lat, lat_cap * sizeof *lat);
        }
        lat[lat_n++] = (t - sent) * 1e6;
    }
    queue_message(c, t);
}

/* Parses server frames in buf, counting each final data frame as one echoed message. */
static void parse_frames(conn_t *c, unsigned char *buf, size_t len, double t) {
    size_t i = 0;
    while (i < len) {
        if (c->skip > 0) {
            size_t n = len - i < c->skip ? len - i : (size_t)c->skip;
            c->skip -= n;
            i += n;
            if (c->skip == 0 && c->counting) message_done(c, t);
            continue;
        }
        c->hdr[c->hdr_len++] = buf[i++];
        if (c->hdr_len < 2) continue;
        int l7 = c->hdr[1] & 0x7f;
        int need = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
        if (c->hdr_len < need) continue;
        uint64_t plen = l7;
        if (l7 == 126) plen = (c->hdr[2] << 8) | c->hdr[3];
        if (l7 == 127) {
            plen = 0;
            for (int k = 2; k < 10; k++) plen = (plen << 8) | c->hdr[k];
        }
        int fin = c->hdr[0] & 0x80, op = c->hdr[0] & 0x0f;
        c->hdr_len = 0;
        /* control frames and non-final fragments count nothing */
        c->counting = fin && op < 8;
        if (plen == 0) { if (c->counting) message_done(c, t); }
        else c->skip = plen;
    }
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static unsigned char rbuf[1 << 18];

static void run_echo(int conns, int inflight, size_t size, double seconds) {
    /* one masked frame; the same bytes serve every message */
    if (payload_override) size = payload_override_len;
    size_t hl = size < 126 ? 2 : size < 65536 ? 4 : 10;
    frame_len = hl + 4 + size;
    frame = malloc(frame_len);
    frame[0] = payload_override ? 0xC1 : 0x82; /* FIN + RSV1 + text, or FIN + binary */
    if (hl == 2) frame[1] = 0x80 | size;
    else if (hl == 4) { frame[1] = 0x80 | 126; frame[2] = size >> 8; frame[3] = size & 0xff; }
    else { frame[1] = 0x80 | 127; for (int k = 0; k < 8; k++) frame[2 + k] = (uint64_t)size >> (56 - 8 * k); }
    unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(frame + hl, key, 4);
    for (size_t k = 0; k < size; k++) frame[hl + 4 + k] = (payload_override ? payload_override[k] : (unsigned char)(k * 31)) ^ key[k & 3];

    conn_t *cs = calloc(conns, sizeof *cs);
    for (int i = 0; i < conns; i++) open_conn(&cs[i], &cs[i]);
    publishers = cs;
    if (n_publishers > conns) n_publishers = conns;
    fan_conns = conns;
    int open = 0;
    double start = 0, end = 1e300, cpu0 = 0;
    long msgs0 = 0;
    struct epoll_event evs[256];
    for (;;) {
        double t = now();
        if (open == conns && start == 0) {
            if (fanout) {
                /* A server may subscribe a connection a turn after its handshake response went out:
                   let the last ones settle before publishing (a message some miss would never complete). */
                usleep(300000);
                t = now();
                for (int k = 0; k < inflight; k++) {
                    queue_message(&publishers[next_publisher], t);
                    next_publisher = (next_publisher + 1) % n_publishers;
                }
                for (int k = 0; k < n_publishers; k++)
                    if (pump_send(&publishers[k]) < 0) die("writev");
            }
            start = t;
            end = t + seconds;
            cpu0 = cpu_seconds();
            msgs0 = messages;
            lat_n = 0;
            n_reads = n_waits = 0;
        }
        if (t >= end) break;
        if (max_msgs > 0 && start != 0 && messages - msgs0 >= max_msgs) break;
        int n = epoll_wait(ep, evs, 256, 100);
        n_waits++;
        t = now();
        for (int e = 0; e < n; e++) {
            conn_t *c = evs[e].data.ptr;
            if (c->state == ST_CONNECTING) {
                check_connected(c);
                if (raw_mode && !fanout) {
                    c->state = ST_OPEN;
                    open++;
                } else if (raw_mode) {
                    c->state = ST_HANDSHAKE; /* the raw fan-out server greets with CRLFCRLF once it holds the socket */
                } else {
                    const char *req = payload_override ? REQUEST_DEFLATE : REQUEST;
                    if (write(c->fd, req, strlen(req)) < 0) die("write");
                    c->state = ST_HANDSHAKE;
                }
                c->inflight = inflight;
                if (c->state == ST_OPEN && !fanout) { for (int k = 0; k < inflight; k++) queue_message(c, t); }
            }
            for (;;) {
                ssize_t r = read(c->fd, rbuf, sizeof rbuf);
                n_reads++;
                if (r == 0) { fprintf(stderr, "server closed a connection\n"); exit(1); }
                if (r < 0) { if (errno == EAGAIN) break; die("read"); }
                unsigned char *p = rbuf;
                size_t len = (size_t)r;
                if (c->state == ST_HANDSHAKE) {
                    size_t k = 0;
                    for (; k < len; k++) {
                        memmove(c->head, c->head + 1, 3);
                        c->head[3] = p[k];
                        if (memcmp(c->head, "\r\n\r\n", 4) == 0) break;
                    }
                    if (k == len) continue;
                    c->state = ST_OPEN;
                    open++;
                    if (!fanout) for (int q = 0; q < inflight; q++) queue_message(c, t);
                    p += k + 1;
                    len -= k + 1;
                }
                if (raw_mode) {
                    c->raw_got += len;
                    while (c->raw_got >= frame_len) { c->raw_got -= frame_len; message_done(c, t); }
                } else {
                    parse_frames(c, p, len, t);
                }
            }
            if (pump_send(c) < 0) die("writev");
        }
        if (fanout)
            for (int k = 0; k < n_publishers; k++)
                if (publishers[k].to_send > 0 && pump_send(&publishers[k]) < 0) die("writev");
    }
    double elapsed = now() - start, cpu = cpu_seconds() - cpu0;
    long m = messages - msgs0;
    double p50 = 0, p99 = 0;
    if (lat_n > 0) {
        qsort(lat, lat_n, sizeof *lat, cmp_double);
        p50 = lat[lat_n / 2];
        p99 = lat[(long)(lat_n * 0.99)];
    }
    printf("msgs=%ld rate=%.0f p50_us=%.1f p99_us=%.1f cpu_pct=%.0f reads=%ld waits=%ld\n", m, m / elapsed, p50, p99,
           100 * cpu / elapsed, n_reads, n_waits);
}

static void run_handshakes(int concurrency, double seconds) {
    conn_t *cs = calloc(concurrency, sizeof *cs);
    for (int i = 0; i < concurrency; i++) open_conn(&cs[i], &cs[i]);
    double start = now(), end = start + seconds, cpu0 = cpu_seconds();
    long done = 0;
    struct epoll_event evs[256];
    while (now() < end && (max_msgs == 0 || done < max_msgs)) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < n; e++) {
            conn_t *c = evs[e].data.ptr;
            if (c->state == ST_CONNECTING) {
                check_connected(c);
                if (write(c->fd, REQUEST, strlen(REQUEST)) < 0) die("write");
                c->state = ST_HANDSHAKE;
            }
            for (;;) {
                ssize_t r = read(c->fd, rbuf, sizeof rbuf);
                if (r <= 0) break;
                if (r >= 12 && memcmp(rbuf, "HTTP/1.1 101", 12) != 0) { fprintf(stderr, "refused: %.*s\n", (int)r, rbuf); exit(1); }
                if (memmem(rbuf, r, "\r\n\r\n", 4)) {
                    done++;
                    close(c->fd);
                    open_conn(c, c);
                    break;
                }
            }
        }
    }
    double elapsed = now() - start;
    printf("msgs=%ld rate=%.0f p50_us=0 p99_us=0 cpu_pct=%.0f\n", done, done / elapsed, 100 * (cpu_seconds() - cpu0) / elapsed);
}

static void run_idle(int conns, double seconds) {
    conn_t *cs = calloc(conns, sizeof *cs);
    int open = 0, started = 0;
    struct epoll_event evs[256];
    double end = 1e300;
    while (now() < end) {
        while (started < conns && started - open < 200) { open_conn(&cs[started], &cs[started]); started++; }
        int n = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < n; e++) {
            conn_t *c = evs[e].data.ptr;
            if (c->state == ST_CONNECTING) {
                if (write(c->fd, REQUEST, strlen(REQUEST)) < 0) continue; /* not connected yet */
                c->state = ST_HANDSHAKE;
            }
            if (c->state == ST_HANDSHAKE) {
                ssize_t r = read(c->fd, rbuf, sizeof rbuf);
                if (r > 0 && memmem(rbuf, r, "\r\n\r\n", 4)) {
                    c->state = ST_OPEN;
                    if (++open == conns) {
                        printf("ready conns=%d\n", open);
                        fflush(stdout);
                        end = now() + seconds;
                    }
                }
            }
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: loadgen echo|raw HOST PORT CONNS INFLIGHT SIZE SECONDS | handshake HOST PORT CONC SECONDS | idle HOST PORT CONNS SECONDS\n");
        return 2;
    }
    if (getenv("LOADGEN_MSGS")) max_msgs = atol(getenv("LOADGEN_MSGS"));
    if (getenv("LOADGEN_PUBLISHERS")) n_publishers = atoi(getenv("LOADGEN_PUBLISHERS")) > 0 ? atoi(getenv("LOADGEN_PUBLISHERS")) : 1;
    struct rlimit rl = {200000, 200000};
    setrlimit(RLIMIT_NOFILE, &rl);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(atoi(argv[3]));
    inet_pton(AF_INET, argv[2], &addr.sin_addr);
    ep = epoll_create1(0);
    if (!strcmp(argv[1], "echo") || !strcmp(argv[1], "raw") || !strcmp(argv[1], "fanout") || !strcmp(argv[1], "fanoutraw")) {
        if (argc < 8) return 2;
        raw_mode = !strcmp(argv[1], "raw") || !strcmp(argv[1], "fanoutraw");
        fanout = !strncmp(argv[1], "fanout", 6);
        int inflight = atoi(argv[5]);
        if (inflight < 1 || inflight > 63) { fprintf(stderr, "inflight must be 1..63\n"); return 2; }
        run_echo(atoi(argv[4]), inflight, (size_t)atol(argv[6]), atof(argv[7]));
    } else if (!strcmp(argv[1], "echoz")) {
        if (argc < 8) return 2;
        FILE *f = fopen(argv[6], "rb");
        if (!f) die("payload file");
        payload_override = malloc(1 << 24);
        payload_override_len = fread(payload_override, 1, 1 << 24, f);
        fclose(f);
        run_echo(atoi(argv[4]), atoi(argv[5]), 0, atof(argv[7]));
    } else if (!strcmp(argv[1], "handshake")) {
        run_handshakes(atoi(argv[4]), atof(argv[5]));
    } else if (!strcmp(argv[1], "idle")) {
        run_idle(atoi(argv[4]), atof(argv[5]));
    } else {
        return 2;
    }
    return 0;
}
