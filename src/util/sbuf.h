/* util/sbuf.h - a growing text buffer for the replies daq renders (the
 * Prometheus exposition, the live view's JSON).
 *
 * Out of memory is sticky: once a grow fails, every later write is
 * ignored and oom stays true, so a renderer writes straight through and
 * checks once at the end instead of after every line.
 *
 * Ownership: the caller owns the struct (zero-initialised: empty) and p,
 * which it frees with free() or hands on (an HTTP body with free_body).
 * p is NUL-terminated whenever it is not NULL.
 */
#ifndef DAQ_UTIL_SBUF_H
#define DAQ_UTIL_SBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct daq_sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} daq_sbuf;

/* Room for more bytes (and the NUL); false when out of memory (sticky). */
bool daq_sbuf_reserve(daq_sbuf *b, size_t more);
void daq_sbuf_put(daq_sbuf *b, const char *s, size_t n);
void daq_sbuf_puts(daq_sbuf *b, const char *s);
/* printf, whole (no truncation). */
__attribute__((format(printf, 2, 3))) void daq_sbuf_printf(daq_sbuf *b, const char *fmt, ...);

/* Prometheus text: a family's "# HELP" and "# TYPE" lines (help is a
 * constant without backslashes or line feeds: not escaped), and a label
 * value with the format's three escapes (backslash, double quote, line
 * feed).  One copy for /metrics, the live view's and the tap's families. */
void daq_sbuf_prom_family(daq_sbuf *b, const char *name, const char *type, const char *help);
void daq_sbuf_prom_label(daq_sbuf *b, const char *value);

#endif
