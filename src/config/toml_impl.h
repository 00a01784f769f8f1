/* config/toml_impl.h - the insides of daq/toml.h, shared by its three files:
 *
 *   toml_tree.c    the document: an arena, the node type, tables (ordered,
 *                  with a hash index once they grow) and arrays, and the
 *                  public accessors.
 *   toml_scan.c    the reader: a cursor over the text with positions and
 *                  errors, and the scanners of the lexical pieces (strings,
 *                  numbers, date-times, bare keys, white space, comments).
 *   toml_parse.c   the grammar: statements, keys, headers, inline tables,
 *                  arrays, and the rules about what may be defined where.
 *
 * Errors unwind: toml_fail() formats the one-line message and longjmps back
 * to daq_toml_parse, which frees the arena and the reader's scratch buffer.
 * Every allocation lives in one of those two, so no error path can leak and
 * no function below has to propagate a return code.
 */
#ifndef DAQ_CONFIG_TOML_IMPL_H
#define DAQ_CONFIG_TOML_IMPL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/toml.h"
#include "util/fatal.h"

#define TOML_MAX_DEPTH 128 /* tables and arrays below the root */

/* ---- arena (toml_tree.c) ---------------------------------------------------- */

typedef struct toml_chunk toml_chunk;
typedef struct toml_arena {
    toml_chunk *head;
    size_t next_size; /* size of the next ordinary chunk; doubles up to a cap */
} toml_arena;

/* 16-byte aligned; NULL when out of memory. */
void *toml_arena_alloc(toml_arena *a, size_t n);
void toml_arena_free(toml_arena *a);

/* ---- nodes (toml_tree.c) ------------------------------------------------------ */

/* How a table came to exist; decides what may still be added to it.
 *   IMPLICIT  named on the way to a [header] ([a.b] makes a): a later [a]
 *             may define it, dotted keys may extend it (then DOTTED).
 *   HEADER    defined by [header] or as an element of [[header]]: never
 *             again by a header; dotted keys of other sections may not enter.
 *   DOTTED    made by a dotted key (a.b = 1 makes a): dotted keys may extend
 *             it, a header may pass through it ([a.c]) but not define it.
 *   INLINE    an inline table { ... }: complete when closed, nothing enters. */
enum toml_table_kind { TOML_IMPLICIT, TOML_HEADER, TOML_DOTTED, TOML_INLINE };
/* A static array is a value [ ... ]; an array of tables grows by [[header]]. */
enum toml_array_kind { TOML_STATIC, TOML_TABLES };

typedef struct toml_entry {
    const char *key; /* NUL-terminated, may contain NUL: key_len is the truth */
    size_t key_len;
    daq_toml_pos key_pos;
    daq_toml *val;
} toml_entry;

struct daq_toml {
    uint8_t type;   /* daq_toml_type */
    uint8_t kind;   /* toml_table_kind or toml_array_kind */
    uint16_t depth; /* root 0; a container's child one more */
    daq_toml_pos pos;
    union {
        struct {
            toml_entry *e;
            uint32_t n, cap;
            uint32_t *index; /* open addressing, entry index + 1; NULL while small */
            uint32_t index_cap;
        } tab;
        struct {
            daq_toml **v;
            uint32_t n, cap;
        } arr;
        struct {
            const char *s;
            size_t len;
        } str;
        int64_t i;
        double f;
        bool b;
        struct {
            daq_toml_datetime dt;
            const char *text;
        } dt;
    } u;
};

/* The allocation behind a root: the root table and the arena holding every
 * node, key and string of the document. */
typedef struct toml_doc {
    daq_toml root;
    toml_arena arena;
} toml_doc;

daq_toml *toml_node_new(toml_arena *a, daq_toml_type type, daq_toml_pos pos);
/* The entry with this key, or NULL. */
toml_entry *toml_table_find(const daq_toml *t, const char *key, size_t len);
/* Appends an entry (the key must be absent); false when out of memory. */
bool toml_table_add(toml_arena *a, daq_toml *t, const char *key, size_t len, daq_toml_pos kpos,
                    daq_toml *val);
bool toml_array_push(toml_arena *a, daq_toml *arr, daq_toml *val);

/* ---- reader (toml_scan.c) ------------------------------------------------------- */

typedef struct toml_str {
    const char *s; /* in the arena, NUL-terminated */
    size_t len;
} toml_str;

typedef struct toml_reader {
    const char *s;
    size_t len, i; /* text, its length, the cursor */
    size_t origin; /* 3 after a UTF-8 byte order mark, else 0 */
    const char *file;
    char *err;
    size_t err_len;
    jmp_buf fail;
    toml_arena *arena;
    /* line of the last position asked for, so positions cost O(distance) */
    size_t line_off, line_start;
    uint32_t line;
    /* scratch for decoding strings and numbers; freed by daq_toml_parse */
    char *buf;
    size_t buf_len, buf_cap;
} toml_reader;

static inline int toml_peek(const toml_reader *r, size_t ahead)
{
    return r->i + ahead < r->len ? (unsigned char)r->s[r->i + ahead] : -1;
}

daq_toml_pos toml_pos_at(toml_reader *r, size_t off);
/* "FILE:LINE:COL: message" for the byte at off, then unwinds. */
DAQ_NORETURN DAQ_PRINTF(3, 4) void toml_fail(toml_reader *r, size_t off, const char *fmt, ...);
void *toml_alloc(toml_reader *r, size_t n); /* arena; unwinds when out of memory */
/* Describes the byte at off for messages: "'x'", "end of line", "U+0001". */
const char *toml_describe(const toml_reader *r, size_t off, char *buf, size_t n);
/* Quotes a key (or dotted path) for messages, escaping and shortening it. */
const char *toml_quote(const char *s, size_t len, char *buf, size_t n);

/* Offset of the first byte that is not valid UTF-8, or len. */
size_t toml_utf8_check(const char *s, size_t len);

void toml_skip_ws(toml_reader *r);      /* spaces and tabs */
void toml_skip_comment(toml_reader *r); /* a '#' comment up to the newline */
/* Consumes a newline ("\n" or "\r\n") if there is one. */
bool toml_newline(toml_reader *r);
/* White space, newlines and comments (inside arrays). */
void toml_skip_ws_nl(toml_reader *r);

bool toml_is_bare_key_char(int c);
toml_str toml_read_bare_key(toml_reader *r);
/* A string at the cursor (any of the four forms; multi-line ones only when
 * allowed, i.e. not as keys). */
toml_str toml_read_string(toml_reader *r, bool multiline_ok);
/* A number, boolean or date-time at the cursor. */
daq_toml *toml_read_scalar(toml_reader *r);

#endif
