/* daqd/diagnose.c - `daqd diagnose`: fetch a running daemon's diagnostics
 * over its metrics port and write a bundle (bundle.c).
 *
 *   daqd diagnose --address HOST:PORT --out DIR [--token T | --token-file F]
 *                 [--https | --tls-ca FILE]
 *
 * A minimal HTTP/1.1 GET client: one connection per path ("Connection:
 * close"), 5 s per request for connect, send and the whole answer, at most
 * 64 MiB of answer (a daemon's log ring is 1 MiB; /metrics a few hundred
 * KB).  The body ends at Content-Length or at the close.  Errors are
 * contracts a script or an operator can act on:
 *   cannot connect to HOST:PORT: Connection refused (is daqd running ...)
 *   HOST:PORT answered 401 for /debug/log: tokens are configured ...
 *   HOST:PORT has no /debug/log (404): an older daqd ...
 * HTTPS (a daemon with [security] http_tls) through OpenSSL on the same
 * non-blocking socket and deadlines: the certificate is verified against
 * --tls-ca or the system's CAs, and must name HOST (a DNS name or an IP).
 * Exit 0 bundle written, 1 failure, 64 usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "daqd/bundle.h"
#include "daqd/daqd.h"
#include "util/err.h"

#define REQUEST_TIMEOUT_MS 5000
#define RESPONSE_MAX       (64u << 20)

typedef struct target {
    char host[256], port[16];
    const char *address; /* as given, for messages */
    const char *token;   /* NULL: none */
    SSL_CTX *tls;        /* HTTPS; NULL: plain HTTP */
} target;

/* One request's connection: the socket, and its TLS session over HTTPS. */
typedef struct link {
    int fd;
    SSL *ssl; /* NULL: plain */
} link_t;

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

/* Waits for what OpenSSL said it needs after a step that returned r;
 * 0 to retry, -1 on an error or the deadline. */
static int tls_wait(const link_t *l, int r, long long deadline)
{
    switch (SSL_get_error(l->ssl, r)) {
    case SSL_ERROR_WANT_READ: return wait_fd(l->fd, POLLIN, deadline);
    case SSL_ERROR_WANT_WRITE: return wait_fd(l->fd, POLLOUT, deadline);
    default: return -1;
    }
}

static int send_all(const link_t *l, const char *p, size_t n, long long deadline)
{
    while (n > 0) {
        ssize_t w;
        if (l->ssl) {
            int r = SSL_write(l->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
            if (r <= 0) {
                if (tls_wait(l, r, deadline) != 0)
                    return -1;
                continue;
            }
            w = r;
        } else {
            w = send(l->fd, p, n, MSG_NOSIGNAL);
        }
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(l->fd, POLLOUT, deadline) != 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* recv() over the link: > 0 bytes, 0 at the end, -1 with errno (EAGAIN:
 * wait, anything else: failed).  A TLS peer that closes without a
 * close_notify (libmicrohttpd after "Connection: close") ends the answer
 * like a TCP close does; the length is checked against Content-Length. */
static ssize_t link_recv(const link_t *l, char *buf, size_t n, long long deadline)
{
    if (!l->ssl)
        return recv(l->fd, buf, n, 0);
    for (;;) {
        int r = SSL_read(l->ssl, buf, n > INT32_MAX ? INT32_MAX : (int)n);
        if (r > 0)
            return r;
        int e = SSL_get_error(l->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
            return 0;
        if (tls_wait(l, r, deadline) != 0) {
            if (errno != ETIMEDOUT)
                errno = EPROTO;
            return -1;
        }
    }
}

/* The whole answer until the close, at most RESPONSE_MAX; malloc'd. */
static char *recv_all(const link_t *l, long long deadline, size_t *len, char *err, size_t err_len,
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
        ssize_t r = link_recv(l, buf + n, cap - n, deadline);
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
        } else if (wait_fd(l->fd, POLLIN, deadline) != 0) {
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

/* The TLS handshake on l->fd, verifying the daemon's certificate for
 * t->host; 0, or -1 with the reason. */
static int tls_start(const target *t, link_t *l, long long deadline, char *err, size_t err_len)
{
    if (!(l->ssl = SSL_new(t->tls)) || SSL_set_fd(l->ssl, l->fd) != 1)
        return daq_err(err, err_len, "out of memory");
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, t->host, ip) == 1 || inet_pton(AF_INET6, t->host, ip) == 1;
    if (is_ip
            ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(l->ssl), t->host) != 1
            : SSL_set1_host(l->ssl, t->host) != 1 || SSL_set_tlsext_host_name(l->ssl, t->host) != 1)
        return daq_err(err, err_len, "%s: cannot check a certificate for this host", t->host);
    int r;
    while ((r = SSL_connect(l->ssl)) != 1) {
        long v = SSL_get_verify_result(l->ssl);
        if (tls_wait(l, r, deadline) != 0)
            return daq_err(err, err_len, "%s: TLS handshake failed: %s (is it an HTTPS port?)",
                           t->address,
                           v != X509_V_OK       ? X509_verify_cert_error_string(v)
                           : errno == ETIMEDOUT ? "timed out"
                           : ERR_reason_error_string(ERR_peek_last_error())
                               ? ERR_reason_error_string(ERR_peek_last_error())
                               : "connection closed");
    }
    return 0;
}

/* GET path; the body (malloc'd, NUL-ended) of a 200, else NULL with the
 * error.  *status gets the HTTP status (0 if none came). */
static char *http_get(const target *t, const char *path, int *status, char *err, size_t err_len)
{
    *status = 0;
    long long deadline = now_ms() + REQUEST_TIMEOUT_MS;
    link_t l = {.fd = connect_to(t, deadline, err, err_len)};
    if (l.fd < 0)
        return NULL;
    if (t->tls && tls_start(t, &l, deadline, err, err_len) != 0) {
        SSL_free(l.ssl);
        close(l.fd);
        return NULL;
    }
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
    else if (send_all(&l, req, (size_t)rn, deadline) != 0)
        daq_err(err, err_len, "%s: sending the request: %s", t->address, strerror(errno));
    else
        resp = recv_all(&l, deadline, &n, err, err_len, t);
    SSL_free(l.ssl);
    close(l.fd);
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
    if (*status == 403 && blen > 0) {
        body[blen] = '\0';
        body[strcspn(body, "\r\n")] = '\0';
        daq_err(err, err_len, "%s answered 403 for %s: %s", t->address, path, body);
    } else if (*status == 401 || *status == 403) {
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

/* A client context that verifies the peer against ca_file (NULL: the
 * system's CAs); NULL with the reason. */
static SSL_CTX *tls_context(const char *ca_file, char *err, size_t err_len)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c) {
        daq_err(err, err_len, "TLS: out of memory");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    if ((ca_file ? SSL_CTX_load_verify_locations(c, ca_file, NULL)
                 : SSL_CTX_set_default_verify_paths(c)) != 1) {
        daq_err(err, err_len, "--tls-ca %s: no CA certificate could be read from it",
                ca_file ? ca_file : "(system)");
        SSL_CTX_free(c);
        return NULL;
    }
    return c;
}

static int fail(const char *msg)
{
    fprintf(stderr, "daqd diagnose: %s\n", msg);
    return DAQD_EXIT_FAIL;
}

static const char usage_text[] =
    "usage: daqd diagnose --address HOST:PORT --out DIR [--token TOKEN | --token-file FILE]\n"
    "                     [--https | --tls-ca FILE]\n"
    "  fetch a running daqd's diagnostics from its metrics port (/debug/..., /metrics) and\n"
    "  write a bundle to DIR (created; must not exist or be empty): summary.txt, log.txt,\n"
    "  metrics.txt, config.toml, facts.json, rss.csv, histograms.csv, symptoms.txt and\n"
    "  PNG plots.  --https: the port serves TLS ([security] http_tls), its certificate\n"
    "  checked against the system's CAs; --tls-ca FILE: against FILE's.  Exit 0 written,\n"
    "  1 failure, 64 usage.\n";

int daqd_diagnose(int argc, char **argv)
{
    const char *address = NULL, *out = NULL, *token = NULL, *token_file = NULL, *tls_ca = NULL;
    bool https = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return DAQD_EXIT_OK;
        }
        if (strcmp(a, "--https") == 0) {
            https = true;
            continue;
        }
        const char **slot = strcmp(a, "--address") == 0      ? &address
                            : strcmp(a, "--out") == 0        ? &out
                            : strcmp(a, "--token") == 0      ? &token
                            : strcmp(a, "--token-file") == 0 ? &token_file
                            : strcmp(a, "--tls-ca") == 0     ? &tls_ca
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
    if ((https || tls_ca) && !(t.tls = tls_context(tls_ca, err, sizeof err)))
        return fail(err);
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
    SSL_CTX_free(t.tls);
    for (size_t i = 0; i < N_PATHS; i++)
        free(parts[i]);
    return rc;
}
