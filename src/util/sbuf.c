/* util/sbuf.c - see util/sbuf.h.  Capacity doubles from 4 KiB: a
 * /metrics scrape of a few cameras is ~60 KiB, so a render grows about
 * four times. */
#include "util/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool daq_sbuf_reserve(daq_sbuf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void daq_sbuf_put(daq_sbuf *b, const char *s, size_t n)
{
    if (!daq_sbuf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void daq_sbuf_puts(daq_sbuf *b, const char *s)
{
    daq_sbuf_put(b, s, strlen(s));
}

void daq_sbuf_printf(daq_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !daq_sbuf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void daq_sbuf_prom_family(daq_sbuf *b, const char *name, const char *type, const char *help)
{
    daq_sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void daq_sbuf_prom_label(daq_sbuf *b, const char *value)
{
    for (const char *s = value; *s; s++) {
        switch (*s) {
        case '\\': daq_sbuf_put(b, "\\\\", 2); break;
        case '"': daq_sbuf_put(b, "\\\"", 2); break;
        case '\n': daq_sbuf_put(b, "\\n", 2); break;
        default: daq_sbuf_put(b, s, 1);
        }
    }
}
