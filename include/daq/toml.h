/* daq/toml.h - a TOML 1.0 parser into a read-only document tree.
 *
 * Parses a whole document in one call and returns its root table, or NULL
 * with one error line "FILE:LINE:COL: message" (1-based line and column of
 * the offending character; columns count bytes).  Every node remembers where
 * it was defined, so a schema on top can report its own errors
 * ("FILE:LINE:COL: devices[0].driver.width: expected an integer") with the
 * same precision.
 *
 * Conformance: the TOML 1.0.0 specification, checked against the official
 * toml-test cases (tests/toml/).  Integers are 64-bit signed; floats are
 * doubles; strings are UTF-8 and may contain NUL (use the length); date-times
 * keep their components and the text they were written as.
 *
 * Ownership: the document (root and every node below it) is owned by the
 * caller of daq_toml_parse and freed with daq_toml_free(root).  Every pointer
 * returned by an accessor is borrowed from the document and valid until it is
 * freed.  Keys of a table keep their definition order.
 *
 * Limits: nesting depth (arrays and inline tables) is capped at 128; deeper
 * input is an error, not a stack overflow.  Input must be valid UTF-8.
 */
#ifndef DAQ_TOML_H
#define DAQ_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_toml daq_toml; /* one node: a table, an array or a scalar */

typedef enum daq_toml_type {
    DAQ_TOML_TABLE = 0,
    DAQ_TOML_ARRAY,
    DAQ_TOML_STRING,
    DAQ_TOML_INTEGER,
    DAQ_TOML_FLOAT,
    DAQ_TOML_BOOL,
    DAQ_TOML_DATETIME,       /* offset date-time: 1979-05-27T07:32:00Z */
    DAQ_TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
    DAQ_TOML_DATE_LOCAL,     /* 1979-05-27 */
    DAQ_TOML_TIME_LOCAL,     /* 07:32:00 */
} daq_toml_type;

typedef struct daq_toml_pos {
    uint32_t line, col; /* 1-based */
} daq_toml_pos;

typedef struct daq_toml_datetime {
    int year, month, day;     /* 0 for a local time */
    int hour, minute, second; /* 0 for a local date */
    uint32_t nanosecond;      /* fractional seconds, truncated to ns */
    bool has_offset;          /* DAQ_TOML_DATETIME only */
    int offset_minutes;       /* east of UTC; 0 for "Z" */
} daq_toml_datetime;

/* Parses len bytes of text.  filename (borrowed, may be NULL) is used only in
 * error messages.  Returns the root table (caller owns) or NULL with the
 * message in err. */
DAQ_API daq_toml *daq_toml_parse(const char *text, size_t len, const char *filename, char *err,
                                 size_t err_len);

/* Reads and parses a file: the root table, owned by the caller
 * (daq_toml_free), or NULL; errors opening or reading it are reported as
 * "FILE: reason". */
DAQ_API daq_toml *daq_toml_parse_file(const char *path, char *err, size_t err_len);

DAQ_API void daq_toml_free(daq_toml *root); /* NULL ok */

DAQ_API daq_toml_type daq_toml_type_of(const daq_toml *v);
DAQ_API const char *daq_toml_type_name(daq_toml_type t); /* "table", ... (static) */
DAQ_API daq_toml_pos daq_toml_pos_of(const daq_toml *v); /* where the value starts */

/* Accessors.  Every pointer they return is borrowed from the document,
 * valid until daq_toml_free(root).
 *
 * Tables: entries in definition order. */
DAQ_API size_t daq_toml_table_size(const daq_toml *t);
/* Key i (NUL-terminated; keys cannot contain NUL in daq's use, but a quoted
 * key with \u0000 is truncated there) and where the key was written. */
DAQ_API const char *daq_toml_table_key(const daq_toml *t, size_t i, daq_toml_pos *key_pos);
/* The full length in bytes of key i, NULs included (a generic consumer such
 * as the toml-test decoder needs every key exactly). */
DAQ_API size_t daq_toml_table_key_len(const daq_toml *t, size_t i);
DAQ_API const daq_toml *daq_toml_table_value(const daq_toml *t, size_t i);
/* By key; NULL if absent. */
DAQ_API const daq_toml *daq_toml_table_find(const daq_toml *t, const char *key);

/* Arrays (including arrays of tables). */
DAQ_API size_t daq_toml_array_size(const daq_toml *a);
DAQ_API const daq_toml *daq_toml_array_at(const daq_toml *a, size_t i);

/* Scalars; calling the accessor of another type returns 0 / NULL / false. */
DAQ_API const char *daq_toml_string(const daq_toml *v, size_t *len); /* NUL-terminated too */
DAQ_API int64_t daq_toml_integer(const daq_toml *v);
DAQ_API double daq_toml_float(const daq_toml *v);
DAQ_API bool daq_toml_bool(const daq_toml *v);
DAQ_API const daq_toml_datetime *daq_toml_datetime_get(const daq_toml *v);
/* The date-time as written in the document (e.g. "1979-05-27 07:32:00Z"). */
DAQ_API const char *daq_toml_datetime_text(const daq_toml *v);

#ifdef __cplusplus
}
#endif
#endif
