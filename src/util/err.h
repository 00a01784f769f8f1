/* util/err.h - one-line error messages into a caller's buffer.
 *
 * daq reports failures as a return code plus a plain message the caller can
 * show as is (err, err_len parameters).  A NULL or empty buffer is allowed:
 * the caller only wants the code.
 */
#ifndef DAQ_UTIL_ERR_H
#define DAQ_UTIL_ERR_H

#include <stddef.h>

#include "util/fatal.h"

/* Formats the message into err (if any) and returns -1, so that error paths
 * read `return daq_err(err, err_len, "...", ...);`. */
DAQ_PRINTF(3, 4) int daq_err(char *err, size_t err_len, const char *fmt, ...);

#endif
