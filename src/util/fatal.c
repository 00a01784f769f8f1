/* util/fatal.c - see fatal.h.  Formats into a stack buffer and writes it with
 * one write(2) so the message survives a corrupted heap and is not
 * interleaved with other threads' output. */
#include "util/fatal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void daq_fatal(const char *fmt, ...)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "daq: FATAL: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    buf[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, len);
    (void)w;
    abort();
}
