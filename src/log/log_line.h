/* log/log_line.h - one log line, text or JSON, formatted into a caller's
 * buffer.  Internal to the log module: log.c decides whether and where a
 * line goes, log_line.c only what its bytes are. */
#ifndef DAQ_LOG_LINE_H
#define DAQ_LOG_LINE_H

#include <stddef.h>
#include <time.h>

#include "daq/log.h"

/* Smallest buffer daq_log_line_format accepts: room for the fixed parts of
 * a line (timestamp, level, braces) and the truncation tail. */
#define DAQ_LOG_LINE_MIN 128

typedef struct daq_log_record {
    struct timespec time;        /* CLOCK_REALTIME */
    daq_log_level level;         /* TRACE .. ERROR */
    const char *target;          /* not NULL */
    const char *message;         /* not NULL */
    const daq_log_field *fields; /* ended by DAQ_F_END, or NULL */
} daq_log_record;

/* Formats r as one line ending in '\n' into buf (size >= DAQ_LOG_LINE_MIN
 * bytes); returns its length, at most size.  A line that does not fit is
 * cut and marked with "..." (see log_line.c for where and how). */
size_t daq_log_line_format(char *buf, size_t size, daq_log_format fmt, const daq_log_record *r);

#endif
