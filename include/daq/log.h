/* daq/log.h - levelled, targeted, structured log lines.
 *
 * Every line has a level, a target (a name such as "daq::acq" or, kept from
 * rust-daq, "pvcam_alloc_trace"), a message and typed key=value fields.  A
 * RUST_LOG-style filter chooses what is written:
 *
 *     DAQ_LOG="info,pvcam_alloc_trace=debug,pvcam_pool=warn"
 *
 * a default level, then target=level overrides; a target matches an
 * override equal to it or starting with it followed by "::" (the longest
 * match wins).  Lines are text by default
 *
 *     2026-11-26T18:09:30.123456Z  INFO daq::acq: stream started device="cam0" fps=100
 *
 * or JSON lines (the shape of tracing-subscriber's JSON output):
 *
 *     {"timestamp":"...","level":"INFO","target":"daq::acq",
 *      "fields":{"message":"stream started","device":"cam0","fps":100}}
 *
 * A line is formatted into a stack buffer and written with one write(2):
 * no allocation per call, no interleaving between threads.  Lines longer
 * than DAQ_LOG_LINE_MAX are truncated (marked with "...").
 *
 * All functions are thread-safe.  daq_log_enabled() is a few loads and
 * compares, cheap enough to guard calls on the frame path.
 */
#ifndef DAQ_LOG_H
#define DAQ_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DAQ_LOG_LINE_MAX 2048

typedef enum daq_log_level {
    DAQ_LOG_TRACE = 0,
    DAQ_LOG_DEBUG,
    DAQ_LOG_INFO,
    DAQ_LOG_WARN,
    DAQ_LOG_ERROR,
    DAQ_LOG_OFF, /* only as a filter level */
} daq_log_level;

typedef enum daq_log_format {
    DAQ_LOG_TEXT = 0,
    DAQ_LOG_JSON,
} daq_log_format;

/* Sets the filter.  spec NULL means: $DAQ_LOG, or "info" when unset or
 * empty.  Returns 0, or -1 with a message in err (the filter is then left
 * unchanged).  May be called again at any time. */
DAQ_API int daq_log_set_filter(const char *spec, char *err, size_t err_len);

DAQ_API void daq_log_set_format(daq_log_format fmt);

/* Where lines go: a file descriptor (default 2, stderr).  The caller keeps
 * owning fd and must keep it open while logging may happen. */
DAQ_API void daq_log_set_fd(int fd);

/* true if a line of this level for this target would be written.  target is
 * borrowed for the call. */
DAQ_API bool daq_log_enabled(const char *target, daq_log_level level);

DAQ_API const char *daq_log_level_name(daq_log_level level); /* "INFO", ... (static) */
/* Parses "trace" .. "off" (any case); returns 0 or -1. */
DAQ_API int daq_log_level_parse(const char *s, daq_log_level *out);

/* A typed field.  Build them with the DAQ_F_* macros; strings are borrowed
 * for the call. */
typedef enum daq_log_ftype {
    DAQ_LOG_F_END = 0,
    DAQ_LOG_F_U64,
    DAQ_LOG_F_I64,
    DAQ_LOG_F_F64,
    DAQ_LOG_F_BOOL,
    DAQ_LOG_F_STR,
} daq_log_ftype;

typedef struct daq_log_field {
    const char *key;
    daq_log_ftype type;
    union {
        uint64_t u;
        int64_t i;
        double f;
        bool b;
        const char *s;
    } v;
} daq_log_field;

#define DAQ_F_U64(k, x)  ((daq_log_field){.key = (k), .type = DAQ_LOG_F_U64, .v.u = (uint64_t)(x)})
#define DAQ_F_I64(k, x)  ((daq_log_field){.key = (k), .type = DAQ_LOG_F_I64, .v.i = (int64_t)(x)})
#define DAQ_F_F64(k, x)  ((daq_log_field){.key = (k), .type = DAQ_LOG_F_F64, .v.f = (double)(x)})
#define DAQ_F_BOOL(k, x) ((daq_log_field){.key = (k), .type = DAQ_LOG_F_BOOL, .v.b = (x)})
#define DAQ_F_STR(k, x)  ((daq_log_field){.key = (k), .type = DAQ_LOG_F_STR, .v.s = (x)})
#define DAQ_F_END        ((daq_log_field){.key = NULL, .type = DAQ_LOG_F_END})

/* Writes one line if enabled.  fields: an array ended by DAQ_F_END, or
 * NULL.  Floats are written with up to 3 decimals in text and JSON. */
DAQ_API void daq_log_write(daq_log_level level, const char *target, const char *message,
                           const daq_log_field *fields);

/* printf-style message, no fields. */
DAQ_API void daq_logf(daq_log_level level, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The usual call: checks the filter first, so arguments are not evaluated
 * into fields when the line is off.  At least one field is required; use
 * daq_logf for message-only lines.
 *     DAQ_LOG(DAQ_LOG_INFO, "daq::acq", "stream started",
 *             DAQ_F_STR("device", id), DAQ_F_U64("slots", n));          */
#define DAQ_LOG(level, target, message, ...)                                                       \
    do {                                                                                           \
        if (daq_log_enabled((target), (level)))                                                    \
            daq_log_write((level), (target), (message),                                            \
                          (const daq_log_field[]){__VA_ARGS__, DAQ_F_END});                        \
    } while (0)

/* The ring: the last lines written, kept in memory for diagnostics (the
 * daemon's /debug/log and `daqd diagnose`).  Off until enabled.  Only lines
 * that pass the filter are kept (a line the filter drops costs nothing more).
 * Bounded by max_lines and by max_bytes of text, whichever is reached first
 * (the oldest lines go); one allocation at enable, none per line after,
 * one mutex held for a memcpy of the line.  Calling enable again replaces
 * the ring (its lines are dropped); max_lines 0 frees it and turns it off.
 * Returns 0, or -1 if out of memory (the ring is then off). */
#define DAQ_LOG_RING_LINES 2048
#define DAQ_LOG_RING_BYTES (1u << 20)
DAQ_API int daq_log_ring_enable(size_t max_lines, size_t max_bytes);

/* The ring's lines, oldest first, each ending in '\n', as one malloc'd
 * NUL-ended text (the caller frees it); *len (if not NULL) gets its length
 * without the NUL.  An off or empty ring gives "" (malloc'd too).  NULL
 * only if out of memory. */
DAQ_API char *daq_log_ring_dump(size_t *len);

/* Rate limiting: the first `first` occurrences pass, then every `every`-th
 * (every = 0: none after the first ones).  Lock-free; one per call site or
 * per object, zero-initialised by DAQ_LOG_RATELIMIT_INIT. */
typedef struct daq_log_ratelimit {
    uint64_t first;
    uint64_t every;
    uint64_t count; /* occurrences so far; atomic inside */
} daq_log_ratelimit;

#define DAQ_LOG_RATELIMIT_INIT(first_n, every_m)                                                   \
    {                                                                                              \
        (first_n), (every_m), 0                                                                    \
    }

/* Counts one occurrence; true if it should be logged.  If occurrence is not
 * NULL it receives this occurrence's 1-based number. */
DAQ_API bool daq_log_ratelimit_pass(daq_log_ratelimit *rl, uint64_t *occurrence);

#ifdef __cplusplus
}
#endif
#endif
