/* log/log.c - the filter, the settings and the write path of daq's log.
 *
 * daq_log_enabled() guards log calls on the frame path, so it must neither
 * lock nor allocate.  The filter is therefore an immutable object reached
 * through one atomic pointer: daq_log_set_filter() parses a whole new
 * filter off to the side (that may allocate), then publishes it with one
 * atomic exchange (release; readers load with acquire), and a reader sees
 * either the old filter or the new one, never a mix.  The old filter is
 * not freed: a reader may have loaded the pointer an instant before the
 * swap and still be walking it, and knowing when all such readers are gone
 * would cost every reader an atomic read-modify-write (a reference count or
 * hazard pointer) on a shared cache line.  Filters change a handful of
 * times in a process' life (start-up, an operator's request), and each is
 * a few hundred bytes, so replaced filters are kept on a list - reachable,
 * so LeakSanitizer does not count them - for the life of the process.
 *
 * Each filter carries the lowest and highest level any of its directives
 * lets through, so most calls are decided by one compare (a trace line
 * under an "info" filter) without looking at the target at all.
 * Directives are sorted longest target first, so the first match is the
 * most specific one.
 *
 * Until daq_log_set_filter() is first called the filter is "info": the
 * library reads no environment on its own; the program decides when
 * $DAQ_LOG applies (daq_log_set_filter(NULL, ...)).  A spec with no bare
 * level keeps "info" as its default, so DAQ_LOG=pvcam_pool=warn quiets
 * one target and leaves the rest as they were; within one spec a later
 * directive for the same target, or a later bare level, wins.
 *
 * Lines are formatted on the stack (log_line.c) and written with one
 * write(2).  Lines are shorter than PIPE_BUF, so lines from different
 * threads never interleave on a pipe, and O_APPEND files get whole lines
 * too.  errno is saved and restored, so a log call between a failing
 * system call and its error check changes nothing.
 *
 * The ring (daq_log_ring_enable) keeps the last lines for diagnostics: a
 * circular byte buffer (1 MiB by default) and a circular index of line
 * starts (2048), both allocated once; a line is one memcpy (two at the
 * wrap) under one mutex, after its write(2).  At INFO a daemon writes a
 * few lines per stream start/stop, symptom and warning, so 2048 lines reach
 * well back beyond a symptom's 60 s window; 1 MiB caps them when lines run
 * long (2 KB each at most).  An atomic flag keeps the mutex off the path
 * while the ring is off.
 */
#include "daq/log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log/log_line.h"
#include "util/err.h"
#include "util/fatal.h"

#define DEFAULT_TARGET "daq" /* for a NULL target */

_Static_assert(DAQ_LOG_LINE_MAX >= DAQ_LOG_LINE_MIN,
               "a line buffer must hold a line's fixed parts");
_Static_assert(DAQ_LOG_LINE_MAX <= 4096, "one write(2) of a line must stay atomic on a pipe");

typedef struct log_directive {
    const char *target; /* a slice of the filter's copy of the spec: not NUL-ended */
    size_t len;
    daq_log_level level;
} log_directive;

typedef struct log_filter {
    struct log_filter *retired_next; /* written only after the filter is replaced */
    daq_log_level fallback;          /* for a target no directive matches */
    daq_log_level min, max;          /* over fallback and every directive */
    size_t n;
    log_directive dirs[]; /* longest target first; targets distinct */
} log_filter;

static log_filter default_filter = {
    .fallback = DAQ_LOG_INFO,
    .min = DAQ_LOG_INFO,
    .max = DAQ_LOG_INFO,
};

static _Atomic(log_filter *) current_filter = &default_filter;
static pthread_mutex_t set_mu = PTHREAD_MUTEX_INITIALIZER; /* serialises filter swaps */
static log_filter *retired;                                /* under set_mu */
static _Atomic int out_fd = STDERR_FILENO;
static _Atomic int out_format = DAQ_LOG_TEXT;

typedef struct log_ring {
    size_t max_lines, max_bytes;
    size_t first, count; /* index of the oldest line in lines[], lines kept */
    size_t used;         /* bytes of text kept */
    struct {
        size_t off, len;
    } * lines;  /* max_lines entries */
    char *text; /* max_bytes, circular */
} log_ring;

static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static log_ring *ring; /* under ring_mu; NULL: off */
static atomic_bool ring_on;

static const char *const level_names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"};

/* ---- levels ------------------------------------------------------------------ */

const char *daq_log_level_name(daq_log_level level)
{
    return (unsigned)level <= DAQ_LOG_OFF ? level_names[level] : "UNKNOWN";
}

static int level_parse_n(const char *s, size_t n, daq_log_level *out)
{
    for (unsigned i = 0; i <= DAQ_LOG_OFF; i++)
        if (strlen(level_names[i]) == n && strncasecmp(s, level_names[i], n) == 0) {
            *out = (daq_log_level)i;
            return 0;
        }
    return -1;
}

int daq_log_level_parse(const char *s, daq_log_level *out)
{
    if (!s || !out)
        return -1;
    return level_parse_n(s, strlen(s), out);
}

/* ---- filter parsing -------------------------------------------------------- */

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static bool target_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_:-.", s[i]))
            return false;
    return n > 0;
}

static int directive_error(char *err, size_t err_len, const char *item, size_t n, const char *fmt,
                           ...) DAQ_PRINTF(5, 6);
static int directive_error(char *err, size_t err_len, const char *item, size_t n, const char *fmt,
                           ...)
{
    if (!err || err_len == 0)
        return -1;
    int k = snprintf(err, err_len, "invalid DAQ_LOG directive '%.*s': ", (int)n, item);
    if (k < 0 || (size_t)k >= err_len)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + k, err_len - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static void filter_put(log_filter *f, const char *target, size_t len, daq_log_level level)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->dirs[i].len == len && memcmp(f->dirs[i].target, target, len) == 0) {
            f->dirs[i].level = level; /* a later directive for the same target wins */
            return;
        }
    f->dirs[f->n++] = (log_directive){target, len, level};
}

/* One comma-separated item: "", "level" or "target=level". */
static int filter_add(log_filter *f, const char *item, size_t n, char *err, size_t err_len)
{
    trim(&item, &n);
    if (n == 0)
        return 0;
    const char *eq = memchr(item, '=', n);
    const char *lv = eq ? eq + 1 : item;
    size_t lv_n = eq ? n - (size_t)(lv - item) : n;
    const char *tg = item;
    size_t tg_n = eq ? (size_t)(eq - item) : 0;
    trim(&lv, &lv_n);
    trim(&tg, &tg_n);
    daq_log_level level;
    if (eq && tg_n == 0)
        return directive_error(err, err_len, item, n, "missing target before '='");
    if (eq && lv_n == 0)
        return directive_error(err, err_len, item, n, "missing level after '='");
    if (eq && !target_valid(tg, tg_n))
        return directive_error(err, err_len, item, n, "invalid target '%.*s'", (int)tg_n, tg);
    if (level_parse_n(lv, lv_n, &level) < 0)
        return directive_error(err, err_len, item, n, "unknown level '%.*s'", (int)lv_n, lv);
    if (eq)
        filter_put(f, tg, tg_n, level);
    else
        f->fallback = level;
    return 0;
}

/* Sorts the directives longest first and computes min and max. */
static void filter_finish(log_filter *f)
{
    for (size_t i = 1; i < f->n; i++) {
        log_directive d = f->dirs[i];
        size_t j = i;
        for (; j > 0 && f->dirs[j - 1].len < d.len; j--)
            f->dirs[j] = f->dirs[j - 1];
        f->dirs[j] = d;
    }
    f->min = f->max = f->fallback;
    for (size_t i = 0; i < f->n; i++) {
        if (f->dirs[i].level < f->min)
            f->min = f->dirs[i].level;
        if (f->dirs[i].level > f->max)
            f->max = f->dirs[i].level;
    }
}

/* A new filter for spec, in one allocation: the header, room for one
 * directive per item, and a copy of spec that the directives point into. */
static log_filter *filter_parse(const char *spec, char *err, size_t err_len)
{
    size_t len = strlen(spec), items = 1;
    for (const char *p = spec; *p; p++)
        items += *p == ',';
    log_filter *f = malloc(sizeof *f + items * sizeof f->dirs[0] + len + 1);
    if (!f) {
        if (err && err_len)
            daq_err(err, err_len, "DAQ_LOG: out of memory");
        return NULL;
    }
    char *text = (char *)(f->dirs + items);
    memcpy(text, spec, len + 1);
    f->retired_next = NULL;
    f->fallback = DAQ_LOG_INFO;
    f->n = 0;
    for (const char *item = text;;) {
        const char *end = strchr(item, ',');
        size_t n = end ? (size_t)(end - item) : strlen(item);
        if (filter_add(f, item, n, err, err_len) < 0) {
            free(f);
            return NULL;
        }
        if (!end)
            break;
        item = end + 1;
    }
    filter_finish(f);
    return f;
}

int daq_log_set_filter(const char *spec, char *err, size_t err_len)
{
    if (!spec) {
        spec = getenv("DAQ_LOG");
        if (!spec || !*spec)
            spec = "info";
    }
    log_filter *f = filter_parse(spec, err, err_len);
    if (!f)
        return -1;
    pthread_mutex_lock(&set_mu);
    log_filter *old = atomic_exchange_explicit(&current_filter, f, memory_order_acq_rel);
    if (old != &default_filter) {
        old->retired_next = retired;
        retired = old;
    }
    pthread_mutex_unlock(&set_mu);
    return 0;
}

/* ---- the filter on the hot path ------------------------------------------ */

static daq_log_level filter_level_of(const log_filter *f, const char *target)
{
    for (size_t i = 0; i < f->n; i++) {
        const log_directive *d = &f->dirs[i];
        if (strncmp(target, d->target, d->len) != 0)
            continue;
        const char *rest = target + d->len;
        if (rest[0] == '\0' || (rest[0] == ':' && rest[1] == ':'))
            return d->level;
    }
    return f->fallback;
}

bool daq_log_enabled(const char *target, daq_log_level level)
{
    const log_filter *f = atomic_load_explicit(&current_filter, memory_order_acquire);
    if ((unsigned)level >= DAQ_LOG_OFF || level < f->min)
        return false;
    if (level >= f->max)
        return true;
    return level >= filter_level_of(f, target ? target : DEFAULT_TARGET);
}

/* ---- settings ----------------------------------------------------------------- */

void daq_log_set_format(daq_log_format fmt)
{
    atomic_store_explicit(&out_format, fmt == DAQ_LOG_JSON ? DAQ_LOG_JSON : DAQ_LOG_TEXT,
                          memory_order_relaxed);
}

void daq_log_set_fd(int fd)
{
    atomic_store_explicit(&out_fd, fd, memory_order_relaxed);
}

/* ---- writing ------------------------------------------------------------------ */

/* One write(2); a second only if the kernel took part of the line (a full
 * disk, a signal), and errors are dropped: a log has nowhere to report its
 * own failure. */
static void log_output(const char *p, size_t n)
{
    int fd = atomic_load_explicit(&out_fd, memory_order_relaxed);
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* ---- the ring ------------------------------------------------------------------ */

static void ring_free(log_ring *r)
{
    if (r) {
        free(r->lines);
        free(r->text);
        free(r);
    }
}

int daq_log_ring_enable(size_t max_lines, size_t max_bytes)
{
    log_ring *r = NULL;
    if (max_lines > 0 && max_bytes > 0) {
        r = calloc(1, sizeof *r);
        if (r) {
            r->max_lines = max_lines;
            r->max_bytes = max_bytes;
            r->lines = calloc(max_lines, sizeof r->lines[0]);
            r->text = malloc(max_bytes);
        }
        if (!r || !r->lines || !r->text) {
            ring_free(r);
            r = NULL;
            max_lines = 0; /* turned off below, and reported */
        }
    }
    pthread_mutex_lock(&ring_mu);
    log_ring *old = ring;
    ring = r;
    atomic_store(&ring_on, r != NULL);
    pthread_mutex_unlock(&ring_mu);
    ring_free(old);
    return r || max_lines == 0 ? 0 : -1;
}

/* n bytes into the circular text at off, and out of it. */
static void ring_write(log_ring *r, size_t off, const char *src, size_t n)
{
    size_t a = r->max_bytes - off < n ? r->max_bytes - off : n;
    memcpy(r->text + off, src, a);
    memcpy(r->text, src + a, n - a);
}

static void ring_read(const log_ring *r, size_t off, char *dst, size_t n)
{
    size_t a = r->max_bytes - off < n ? r->max_bytes - off : n;
    memcpy(dst, r->text + off, a);
    memcpy(dst + a, r->text, n - a);
}

static void ring_put(const char *line, size_t n)
{
    if (!atomic_load_explicit(&ring_on, memory_order_relaxed))
        return;
    pthread_mutex_lock(&ring_mu);
    log_ring *r = ring;
    if (r) {
        n = n < r->max_bytes ? n : r->max_bytes;
        while (r->count && (r->count == r->max_lines || r->used + n > r->max_bytes)) {
            r->used -= r->lines[r->first].len;
            r->first = (r->first + 1) % r->max_lines;
            r->count--;
        }
        size_t off = 0;
        if (r->count) {
            size_t last = (r->first + r->count - 1) % r->max_lines;
            off = (r->lines[last].off + r->lines[last].len) % r->max_bytes;
        }
        ring_write(r, off, line, n);
        size_t slot = (r->first + r->count) % r->max_lines;
        r->lines[slot].off = off;
        r->lines[slot].len = n;
        r->count++;
        r->used += n;
    }
    pthread_mutex_unlock(&ring_mu);
}

char *daq_log_ring_dump(size_t *len)
{
    pthread_mutex_lock(&ring_mu);
    log_ring *r = ring;
    size_t total = r ? r->used : 0;
    char *out = malloc(total + 1);
    if (out) {
        size_t at = 0;
        for (size_t i = 0; r && i < r->count; i++) {
            size_t k = (r->first + i) % r->max_lines;
            ring_read(r, r->lines[k].off, out + at, r->lines[k].len);
            at += r->lines[k].len;
        }
        out[total] = '\0';
        if (len)
            *len = total;
    }
    pthread_mutex_unlock(&ring_mu);
    return out;
}

/* ---- emitting ------------------------------------------------------------------- */

static void log_emit(daq_log_level level, const char *target, const char *message,
                     const daq_log_field *fields)
{
    daq_log_record r = {
        .level = level,
        .target = target ? target : DEFAULT_TARGET,
        .message = message ? message : "",
        .fields = fields,
    };
    clock_gettime(CLOCK_REALTIME, &r.time);
    daq_log_format fmt = atomic_load_explicit(&out_format, memory_order_relaxed);
    char line[DAQ_LOG_LINE_MAX];
    size_t n = daq_log_line_format(line, sizeof line, fmt, &r);
    log_output(line, n);
    ring_put(line, n);
}

void daq_log_write(daq_log_level level, const char *target, const char *message,
                   const daq_log_field *fields)
{
    if (!daq_log_enabled(target, level))
        return;
    int saved = errno;
    log_emit(level, target, message, fields);
    errno = saved;
}

void daq_logf(daq_log_level level, const char *target, const char *fmt, ...)
{
    if (!daq_log_enabled(target, level))
        return;
    int saved = errno;
    char message[DAQ_LOG_LINE_MAX]; /* a longer message makes the line too long: cut there */
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(message, sizeof message, fmt, ap) < 0)
        message[0] = '\0';
    va_end(ap);
    log_emit(level, target, message, NULL);
    errno = saved;
}

/* ---- rate limiting --------------------------------------------------------------- */

/* Occurrence k (1-based) passes if k <= first, or if every > 0 and k - first
 * is a multiple of every: first = 10, every = 100 lets 1..10, 110, 210, ...
 * through.  first and every are read plainly: they are set once, before
 * the limiter is shared. */
bool daq_log_ratelimit_pass(daq_log_ratelimit *rl, uint64_t *occurrence)
{
    uint64_t k = __atomic_add_fetch(&rl->count, 1, __ATOMIC_RELAXED);
    if (occurrence)
        *occurrence = k;
    if (k <= rl->first)
        return true;
    return rl->every != 0 && (k - rl->first) % rl->every == 0;
}
