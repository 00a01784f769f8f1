/* daqd/diagnose.c - `daqd diagnose`: fetch a running daemon's diagnostics
 * over its metrics port and write a bundle (bundle.c).
 *
 *   daqd diagnose --address HOST:PORT --out DIR [--token T | --token-file F]
 *
 * A minimal HTTP/1.1 GET client: one connection per path ("Connection:
 * close"), 5 s per request for connect, send and the whole answer, at most
 * 64 MiB of answer (a daemon's log ring is 1 MiB; /metrics a few hundred
 * KB).  The body ends at Content-Length or at the close.  Errors are
 * contracts a script or an operator can act on:
 *   cannot connect to HOST:PORT: Connection refused (is daqd running ...)
 *   HOST:PORT answered 401 for /debug/log: tokens are configured ...
 *   HOST:PORT has no /debug/log (404): an older daqd ...
 * Exit 0 bundle written, 1 failure, 64 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daqd/bundle.h"
#include "daqd/daqd.h"
#include "util/err.h"

#define REQUEST_TIMEOUT_MS 5000
#define RESPONSE_MAX       (64u << 20)

typedef struct target {
    char host[256], port[16];
    const char *address; /* as given, for messages */
    const char *token;   /* NULL: none */
} target;

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline; 0, or -1 (errno ETIMEDOUT). */
static int wait_fd(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* "HOST:PORT", "[V6]:PORT". */
static int address_parse(const char *a, target *t, char *err, size_t err_len)
{
    const char *colon = a[0] == '[' ? strstr(a, "]:") : strrchr(a, ':');
    const char *host = a[0] == '[' ? a + 1 : a;
    if (!colon || colon == host)
        return daq_err(err, err_len, "--address '%s': expected HOST:PORT (e.g. 127.0.0.1:9091)", a);
    size_t hn = (size_t)(colon - host);
    const char *port = colon + (a[0] == '[' ? 2 : 1);
    if (hn >= sizeof t->host || !*port || strlen(port) >= sizeof t->port ||
        strspn(port, "0123456789") != strlen(port))
        return daq_err(err, err_len, "--address '%s': expected HOST:PORT (e.g. 127.0.0.1:9091)", a);
    memcpy(t->host, host, hn);
    t->host[hn] = '\0';
    snprintf(t->port, sizeof t->port, "%s", port);
    t->address = a;
    return 0;
}

static int connect_to(const target *t, long long deadline, char *err, size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    int g = getaddrinfo(t->host, t->port, &hints, &res);
    if (g != 0)
        return daq_err(err, err_len, "cannot resolve %s: %s", t->host, gai_strerror(g));
    int fd = -1, why = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            why = errno;
            continue;
        }
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0) {
            socklen_t l = sizeof why;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &why, &l);
            r = why ? -1 : 0;
        } else if (r < 0) {
            why = errno;
        }
        if (r < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return daq_err(err, err_len,
                       "cannot connect to %s: %s (is daqd running, and is this its metrics "
                       "port?)",
                       t->address, strerror(why));
    return fd;
}

static int send_all(int fd, const char *p, size_t n, long long deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* The whole answer until the close, at most RESPONSE_MAX; malloc'd. */
static char *recv_all(int fd, long long deadline, size_t *len, char *err, size_t err_len,
                      const target *t)
{
    size_t cap = 64 << 10, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= RESPONSE_MAX) {
                free(buf);
                daq_err(err, err_len, "%s: answer larger than %u MiB", t->address,
                        RESPONSE_MAX >> 20);
                return NULL;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                break;
            buf = nb;
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r > 0) {
            n += (size_t)r;
        } else if (r == 0) {
            buf[n] = '\0';
            *len = n;
            return buf;
        } else if (errno != EAGAIN && errno != EINTR) {
            daq_err(err, err_len, "%s: reading the answer: %s", t->address, strerror(errno));
            free(buf);
            return NULL;
        } else if (wait_fd(fd, POLLIN, deadline) != 0) {
            daq_err(err, err_len, "%s: no complete answer within %d s", t->address,
                    REQUEST_TIMEOUT_MS / 1000);
            free(buf);
            return NULL;
        }
    }
    free(buf);
    daq_err(err, err_len, "out of memory");
    return NULL;
}

/* GET path; the body (malloc'd, NUL-ended) of a 200, else NULL with the
 * error.  *status gets the HTTP status (0 if none came). */
static char *http_get(const target *t, const char *path, int *status, char *err, size_t err_len)
{
    *status = 0;
    long long deadline = now_ms() + REQUEST_TIMEOUT_MS;
    int fd = connect_to(t, deadline, err, err_len);
    if (fd < 0)
        return NULL;
    char req[1024];
    int rn = snprintf(req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: daqd-diagnose\r\n"
                      "Connection: close\r\n%s%s%s\r\n",
                      path, t->address, t->token ? "Authorization: Bearer " : "",
                      t->token ? t->token : "", t->token ? "\r\n" : "");
    size_t n = 0;
    char *resp = NULL;
    if (rn < 0 || (size_t)rn >= sizeof req)
        daq_err(err, err_len, "token too long");
    else if (send_all(fd, req, (size_t)rn, deadline) != 0)
        daq_err(err, err_len, "%s: sending the request: %s", t->address, strerror(errno));
    else
        resp = recv_all(fd, deadline, &n, err, err_len, t);
    close(fd);
    if (!resp)
        return NULL;
    char *body = strstr(resp, "\r\n\r\n");
    if (strncmp(resp, "HTTP/1.", 7) != 0 || !body || sscanf(resp + 8, " %d", status) != 1) {
        free(resp);
        daq_err(err, err_len, "%s: not an HTTP answer for %s", t->address, path);
        return NULL;
    }
    body += 4;
    size_t blen = n - (size_t)(body - resp);
    for (char *h = strstr(resp, "\r\n"); h && h + 2 < body; h = strstr(h + 2, "\r\n"))
        if (strncasecmp(h + 2, "Content-Length:", 15) == 0) {
            size_t cl = strtoull(h + 17, NULL, 10);
            blen = cl < blen ? cl : blen;
        }
    if (*status == 401 || *status == 403) {
        daq_err(err, err_len,
                "%s answered %d for %s: the daemon has tokens configured; pass --token TOKEN "
                "or --token-file FILE",
                t->address, *status, path);
    } else if (*status == 404) {
        daq_err(err, err_len, "%s has no %s (404): an older daqd without diagnostics?", t->address,
                path);
    } else if (*status != 200) {
        daq_err(err, err_len, "%s answered %d for %s", t->address, *status, path);
    } else {
        memmove(resp, body, blen);
        resp[blen] = '\0';
        return resp;
    }
    free(resp);
    return NULL;
}

/* The token in a file: the first line that is not blank or a comment; of
 * "name token" (the daemon's tokens file) the last word. */
static int token_file_read(const char *path, char *out, size_t n, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return daq_err(err, err_len, "--token-file %s: %s", path, strerror(errno));
    char line[1024];
    int rc = daq_err(err, err_len, "--token-file %s: no token in it", path);
    while (fgets(line, sizeof line, f)) {
        char *w = NULL, *save, *tok = strtok_r(line, " \t\r\n", &save);
        if (!tok || tok[0] == '#')
            continue;
        for (; tok; tok = strtok_r(NULL, " \t\r\n", &save))
            w = tok;
        snprintf(out, n, "%s", w);
        rc = 0;
        break;
    }
    fclose(f);
    return rc;
}

static int fail(const char *msg)
{
    fprintf(stderr, "daqd diagnose: %s\n", msg);
    return DAQD_EXIT_FAIL;
}

static const char usage_text[] =
    "usage: daqd diagnose --address HOST:PORT --out DIR [--token TOKEN | --token-file FILE]\n"
    "  fetch a running daqd's diagnostics from its metrics port (/debug/..., /metrics) and\n"
    "  write a bundle to DIR (created; must not exist or be empty): summary.txt, log.txt,\n"
    "  metrics.txt, config.toml, facts.json, rss.csv, histograms.csv, symptoms.txt and\n"
    "  PNG plots.  Exit 0 written, 1 failure, 64 usage.\n";

int daqd_diagnose(int argc, char **argv)
{
    const char *address = NULL, *out = NULL, *token = NULL, *token_file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return DAQD_EXIT_OK;
        }
        const char **slot = strcmp(a, "--address") == 0      ? &address
                            : strcmp(a, "--out") == 0        ? &out
                            : strcmp(a, "--token") == 0      ? &token
                            : strcmp(a, "--token-file") == 0 ? &token_file
                                                             : NULL;
        if (!slot || !v) {
            fprintf(stderr, "daqd diagnose: %s '%s'\n%s",
                    slot ? "a value is needed after" : "unknown option", a, usage_text);
            return DAQD_EXIT_USAGE;
        }
        *slot = v;
        i++;
    }
    if (!address || !out || (token && token_file)) {
        fprintf(stderr, "daqd diagnose: %s\n%s",
                token && token_file ? "--token and --token-file exclude each other"
                                    : "--address and --out are required",
                usage_text);
        return DAQD_EXIT_USAGE;
    }
    char err[512], tok[300];
    target t = {.token = token};
    if (address_parse(address, &t, err, sizeof err) != 0)
        return fail(err);
    if (token_file) {
        if (token_file_read(token_file, tok, sizeof tok, err, sizeof err) != 0)
            return fail(err);
        t.token = tok;
    }
    static const char *const paths[] = {"/debug/log",     "/metrics",       "/debug/config",
                                        "/debug/facts",   "/debug/rss.csv", "/debug/histograms.csv",
                                        "/debug/symptoms"};
    enum { N_PATHS = sizeof paths / sizeof paths[0] };
    char *parts[N_PATHS] = {0};
    int rc = DAQD_EXIT_OK;
    for (size_t i = 0; i < N_PATHS && rc == DAQD_EXIT_OK; i++) {
        int status;
        if (!(parts[i] = http_get(&t, paths[i], &status, err, sizeof err)))
            rc = fail(err);
    }
    if (rc == DAQD_EXIT_OK) {
        char source[320];
        snprintf(source, sizeof source, "daqd at %s (daqd diagnose)", address);
        daqd_bundle b = {.source = source,
                         .log = parts[0],
                         .metrics = parts[1],
                         .config = parts[2],
                         .facts = parts[3],
                         .rss_csv = parts[4],
                         .hist_csv = parts[5],
                         .symptoms = parts[6]};
        if (daqd_bundle_write(out, &b, err, sizeof err) != 0)
            rc = fail(err);
        else
            printf("diagnostics bundle written to %s\n", out);
    }
    for (size_t i = 0; i < N_PATHS; i++)
        free(parts[i]);
    return rc;
}
