/* config/toml_parse.c - the grammar of TOML 1.0 and its definition rules:
 * daq_toml_parse and daq_toml_parse_file.
 *
 * A recursive-descent parser over the reader of toml_scan.c.  Recursion is
 * only through arrays and inline tables, and every container carries its
 * depth, so TOML_MAX_DEPTH bounds the C stack as well as the tree (walkers
 * of a document can recurse safely too).
 *
 * What may be defined where is decided by the kind each table remembers
 * (see toml_table_kind in toml_impl.h):
 *   - [a.b.c] walks a and b (creating IMPLICIT tables, entering the last
 *     element of an array of tables, refusing inline tables, static arrays
 *     and scalars) and then defines c: new, or an IMPLICIT table becoming
 *     HEADER; anything else is a redefinition.
 *   - [[a.b]] walks the same way and appends a HEADER table to the array of
 *     tables b (new, or made by an earlier [[a.b]]; a static array is not).
 *   - a.b.c = v in the current table walks a and b as dotted keys: only
 *     tables made by dotted keys (or IMPLICIT ones, which then count as
 *     made by dotted keys) may be entered; c must not exist.
 *   - an inline table is an INLINE table: built by its own key/values, then
 *     closed to everything (its dotted sub-tables are reachable only
 *     through it, so they are closed too).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml_impl.h"
#include "util/err.h"

typedef struct key_part {
    toml_str k;
    size_t off; /* where it was written */
} key_part;

typedef struct parser {
    toml_reader r;
    toml_doc *doc;
    key_part *keys; /* the key being read; heap, freed by daq_toml_parse */
    size_t nkeys, keys_cap;
} parser;

static daq_toml *parse_value(parser *P, uint32_t depth);

/* ---- messages --------------------------------------------------------------------- */

/* The first n parts of the current key, dotted and quoted, for messages. */
static const char *key_text(const parser *P, size_t n, char *buf, size_t len)
{
    char joined[200];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof joined; i++) {
        if (i > 0)
            joined[o++] = '.';
        size_t m = P->keys[i].k.len;
        if (m > sizeof joined - o)
            m = sizeof joined - o;
        memcpy(joined + o, P->keys[i].k.s, m);
        o += m;
    }
    return toml_quote(joined, o, buf, len);
}

static const char *what_is(const daq_toml *v)
{
    switch ((daq_toml_type)v->type) {
    case DAQ_TOML_TABLE:
        return v->kind == TOML_INLINE   ? "an inline table"
               : v->kind == TOML_DOTTED ? "a table made by dotted keys"
                                        : "a table";
    case DAQ_TOML_ARRAY: return v->kind == TOML_TABLES ? "an array of tables" : "an array";
    case DAQ_TOML_STRING: return "a string";
    case DAQ_TOML_INTEGER: return "an integer";
    case DAQ_TOML_FLOAT: return "a float";
    case DAQ_TOML_BOOL: return "a boolean";
    case DAQ_TOML_DATETIME: return "a date-time";
    case DAQ_TOML_DATETIME_LOCAL: return "a local date-time";
    case DAQ_TOML_DATE_LOCAL: return "a local date";
    case DAQ_TOML_TIME_LOCAL: return "a local time";
    }
    return "a value";
}

/* Fails at key part k because what is there (entry e) cannot be entered or
 * (re)defined; why ends the message. */
static DAQ_NORETURN void conflict(parser *P, size_t k, const toml_entry *e, const char *why)
{
    char key[256];
    key_text(P, k + 1, key, sizeof key);
    toml_fail(&P->r, P->keys[k].off, "%s is already %s (defined at %u:%u); %s", key,
              what_is(e->val), e->key_pos.line, e->key_pos.col, why);
}

/* ---- tree building ---------------------------------------------------------------- */

static daq_toml *new_node(parser *P, daq_toml_type type, uint8_t kind, uint32_t depth, size_t off)
{
    if (depth > TOML_MAX_DEPTH)
        toml_fail(&P->r, off, "nesting deeper than %d levels", TOML_MAX_DEPTH);
    daq_toml *v = toml_node_new(P->r.arena, type, toml_pos_at(&P->r, off));
    if (!v)
        toml_fail(&P->r, off, "out of memory");
    v->kind = kind;
    v->depth = (uint16_t)depth;
    return v;
}

static void add(parser *P, daq_toml *t, const key_part *k, daq_toml_pos kpos, daq_toml *v)
{
    if (!toml_table_add(P->r.arena, t, k->k.s, k->k.len, kpos, v))
        toml_fail(&P->r, k->off, "out of memory");
}

static toml_entry *find(daq_toml *t, const key_part *k)
{
    return toml_table_find(t, k->k.s, k->k.len);
}

/* A new table under key part k of t, written at k (key and value). */
static daq_toml *add_table(parser *P, daq_toml *t, size_t k, enum toml_table_kind kind)
{
    daq_toml *nt = new_node(P, DAQ_TOML_TABLE, kind, t->depth + 1u, P->keys[k].off);
    add(P, t, &P->keys[k], nt->pos, nt);
    return nt;
}

/* ---- keys --------------------------------------------------------------------------- */

/* Reads a (dotted) key into P->keys; returns the number of parts. */
static size_t read_key(parser *P)
{
    toml_reader *r = &P->r;
    P->nkeys = 0;
    for (;;) {
        toml_skip_ws(r);
        size_t off = r->i;
        int c = toml_peek(r, 0);
        toml_str k;
        if (c == '"' || c == '\'') {
            k = toml_read_string(r, false);
        } else if (toml_is_bare_key_char(c)) {
            k = toml_read_bare_key(r);
        } else {
            char d[40];
            toml_fail(r, off, "expected a key, found %s", toml_describe(r, off, d, sizeof d));
        }
        if (P->nkeys == P->keys_cap) {
            size_t cap = P->keys_cap ? P->keys_cap * 2 : 16;
            key_part *nk = realloc(P->keys, cap * sizeof *nk);
            if (!nk)
                toml_fail(r, off, "out of memory");
            P->keys = nk;
            P->keys_cap = cap;
        }
        P->keys[P->nkeys++] = (key_part){k, off};
        toml_skip_ws(r);
        if (toml_peek(r, 0) != '.')
            return P->nkeys;
        r->i++;
    }
}

/* ---- key/value pairs ------------------------------------------------------------------- */

/* Enters the table at key part k on the way of a dotted key. */
static daq_toml *enter_dotted(parser *P, size_t k, toml_entry *e)
{
    daq_toml *v = e->val;
    if (v->type == DAQ_TOML_TABLE && v->kind == TOML_IMPLICIT)
        v->kind = TOML_DOTTED;
    if (v->type == DAQ_TOML_TABLE && v->kind == TOML_DOTTED)
        return v;
    if (v->type == DAQ_TOML_TABLE && v->kind == TOML_HEADER) {
        char key[256];
        toml_fail(&P->r, P->keys[k].off,
                  "cannot add to table %s with dotted keys: it is defined by its header at %u:%u",
                  key_text(P, k + 1, key, sizeof key), v->pos.line, v->pos.col);
    }
    conflict(P, k, e, "dotted keys cannot extend it");
}

/* key = value, into table t. */
static void parse_keyval(parser *P, daq_toml *t)
{
    toml_reader *r = &P->r;
    size_t n = read_key(P);
    if (toml_peek(r, 0) != '=') {
        char d[40];
        toml_fail(r, r->i, "expected '=' after the key, found %s",
                  toml_describe(r, r->i, d, sizeof d));
    }
    r->i++;
    toml_skip_ws(r);
    for (size_t k = 0; k + 1 < n; k++) {
        toml_entry *e = find(t, &P->keys[k]);
        t = e ? enter_dotted(P, k, e) : add_table(P, t, k, TOML_DOTTED);
    }
    toml_entry *e = find(t, &P->keys[n - 1]);
    if (e) {
        char key[256];
        toml_fail(r, P->keys[n - 1].off, "duplicate key %s (first defined at %u:%u)",
                  key_text(P, n, key, sizeof key), e->key_pos.line, e->key_pos.col);
    }
    key_part last = P->keys[n - 1]; /* the value may contain keys of its own */
    daq_toml_pos kpos = toml_pos_at(r, last.off);
    daq_toml *v = parse_value(P, t->depth + 1u);
    add(P, t, &last, kpos, v);
}

/* ---- values ------------------------------------------------------------------------------ */

/* After an element of the container (array or inline table) opened at
 * `open`: true at its closing character `close`, false after the ','
 * that separates it from the next element (consumed); anything else is
 * an error naming what was found. */
static bool end_of_element(toml_reader *r, size_t open, int close, const char *what)
{
    int c = toml_peek(r, 0);
    if (c == close)
        return true;
    if (c < 0)
        toml_fail(r, open, "unterminated %s", what);
    if (c != ',') {
        char d[40];
        toml_fail(r, r->i, "expected ',' or '%c' in the %s, found %s", close, what,
                  toml_describe(r, r->i, d, sizeof d));
    }
    r->i++;
    return false;
}

static daq_toml *parse_array(parser *P, uint32_t depth)
{
    toml_reader *r = &P->r;
    size_t open = r->i;
    daq_toml *a = new_node(P, DAQ_TOML_ARRAY, TOML_STATIC, depth, open);
    r->i++;
    for (;;) {
        toml_skip_ws_nl(r);
        if (toml_peek(r, 0) == ']')
            break;
        if (toml_peek(r, 0) < 0)
            toml_fail(r, open, "unterminated array");
        if (!toml_array_push(r->arena, a, parse_value(P, depth + 1)))
            toml_fail(r, r->i, "out of memory");
        toml_skip_ws_nl(r);
        if (end_of_element(r, open, ']', "array"))
            break;
    }
    r->i++;
    return a;
}

static DAQ_NORETURN void inline_newline(toml_reader *r)
{
    toml_fail(r, r->i, "an inline table must be on one line (newline before its '}')");
}

static daq_toml *parse_inline_table(parser *P, uint32_t depth)
{
    toml_reader *r = &P->r;
    size_t open = r->i;
    daq_toml *t = new_node(P, DAQ_TOML_TABLE, TOML_INLINE, depth, open);
    r->i++;
    toml_skip_ws(r);
    if (toml_peek(r, 0) == '}') {
        r->i++;
        return t;
    }
    for (;;) {
        toml_skip_ws(r);
        int c = toml_peek(r, 0);
        if (c == '\n' || c == '\r')
            inline_newline(r);
        if (c == '}')
            toml_fail(r, r->i, "trailing comma in an inline table");
        parse_keyval(P, t);
        toml_skip_ws(r);
        c = toml_peek(r, 0);
        if (c == '\n' || c == '\r')
            inline_newline(r);
        if (end_of_element(r, open, '}', "inline table"))
            break;
    }
    r->i++;
    return t;
}

/* A value at the cursor; depth is the one a container would have. */
static daq_toml *parse_value(parser *P, uint32_t depth)
{
    toml_reader *r = &P->r;
    int c = toml_peek(r, 0);
    if (c == '[')
        return parse_array(P, depth);
    if (c == '{')
        return parse_inline_table(P, depth);
    if (c != '"' && c != '\'')
        return toml_read_scalar(r);
    daq_toml *v = new_node(P, DAQ_TOML_STRING, 0, 0, r->i);
    toml_str s = toml_read_string(r, true);
    v->u.str.s = s.s;
    v->u.str.len = s.len;
    return v;
}

/* ---- table headers -------------------------------------------------------------------------- */

/* Enters the table at key part k on the way of a header. */
static daq_toml *enter_header(parser *P, size_t k, toml_entry *e)
{
    daq_toml *v = e->val;
    if (v->type == DAQ_TOML_TABLE && v->kind != TOML_INLINE)
        return v;
    if (v->type == DAQ_TOML_ARRAY && v->kind == TOML_TABLES)
        return v->u.arr.v[v->u.arr.n - 1]; /* never empty */
    conflict(P, k, e, "a table header cannot extend it");
}

/* [key] or [[key]] at the cursor; returns the table that follows it. */
static daq_toml *parse_header(parser *P)
{
    toml_reader *r = &P->r;
    size_t open = r->i;
    bool aot = toml_peek(r, 1) == '[';
    r->i += aot ? 2 : 1;
    size_t n = read_key(P);
    if (toml_peek(r, 0) != ']' || (aot && toml_peek(r, 1) != ']')) {
        char d[40];
        toml_fail(r, r->i, "expected '%s' to close the %s header, found %s", aot ? "]]" : "]",
                  aot ? "array-of-tables" : "table", toml_describe(r, r->i, d, sizeof d));
    }
    r->i += aot ? 2 : 1;

    daq_toml *t = &P->doc->root;
    for (size_t k = 0; k + 1 < n; k++) {
        toml_entry *e = find(t, &P->keys[k]);
        t = e ? enter_header(P, k, e) : add_table(P, t, k, TOML_IMPLICIT);
    }
    const key_part *last = &P->keys[n - 1];
    toml_entry *e = find(t, last);
    if (aot) {
        daq_toml *arr;
        if (!e) {
            arr = new_node(P, DAQ_TOML_ARRAY, TOML_TABLES, t->depth + 1u, open);
            add(P, t, last, toml_pos_at(r, last->off), arr);
        } else if (e->val->type == DAQ_TOML_ARRAY && e->val->kind == TOML_TABLES) {
            arr = e->val;
        } else {
            conflict(P, n - 1, e, "an [[array of tables]] header cannot append to it");
        }
        daq_toml *elem = new_node(P, DAQ_TOML_TABLE, TOML_HEADER, arr->depth + 1u, open);
        if (!toml_array_push(r->arena, arr, elem))
            toml_fail(r, open, "out of memory");
        return elem;
    }
    if (!e) {
        daq_toml *nt = new_node(P, DAQ_TOML_TABLE, TOML_HEADER, t->depth + 1u, open);
        add(P, t, last, toml_pos_at(r, last->off), nt);
        return nt;
    }
    daq_toml *v = e->val;
    if (v->type == DAQ_TOML_TABLE && v->kind == TOML_IMPLICIT) {
        /* named on the way to an earlier header; this defines it */
        v->kind = TOML_HEADER;
        v->pos = toml_pos_at(r, open);
        e->key_pos = toml_pos_at(r, last->off);
        return v;
    }
    if (v->type == DAQ_TOML_TABLE && v->kind == TOML_HEADER) {
        char key[256];
        toml_fail(r, last->off, "table %s is defined twice (first at %u:%u)",
                  key_text(P, n, key, sizeof key), v->pos.line, v->pos.col);
    }
    conflict(P, n - 1, e, "a [table] header cannot redefine it");
}

/* ---- document ------------------------------------------------------------------------------- */

static void end_of_line(toml_reader *r)
{
    toml_skip_ws(r);
    toml_skip_comment(r);
    if (toml_peek(r, 0) >= 0 && !toml_newline(r)) {
        char d[40];
        toml_fail(r, r->i, "expected the end of the line, found %s",
                  toml_describe(r, r->i, d, sizeof d));
    }
}

/* Parses the whole text into P->doc; false (message in the reader's err)
 * when it is not TOML.  The setjmp lives here so that nothing of the
 * caller's frame is touched between setjmp and longjmp. */
static bool parse_document(parser *P)
{
    toml_reader *r = &P->r;
    if (setjmp(r->fail))
        return false;
    size_t bad = toml_utf8_check(r->s + r->i, r->len - r->i) + r->i;
    if (bad < r->len)
        toml_fail(r, bad, "invalid UTF-8 (byte 0x%02X)", (unsigned char)r->s[bad]);
    daq_toml *cur = &P->doc->root;
    for (;;) {
        toml_skip_ws(r);
        int c = toml_peek(r, 0);
        if (c < 0)
            return true;
        if (c == '[')
            cur = parse_header(P);
        else if (c != '#' && c != '\n' && c != '\r')
            parse_keyval(P, cur);
        end_of_line(r);
    }
}

daq_toml *daq_toml_parse(const char *text, size_t len, const char *filename, char *err,
                         size_t err_len)
{
    if (err && err_len)
        err[0] = '\0';
    toml_doc *doc = calloc(1, sizeof *doc);
    if (!doc) {
        daq_err(err, err_len, "%s: out of memory", filename ? filename : "<input>");
        return NULL;
    }
    doc->root.type = DAQ_TOML_TABLE;
    doc->root.kind = TOML_HEADER;
    doc->root.pos = (daq_toml_pos){1, 1};
    parser P = {.doc = doc};
    P.r = (toml_reader){.s = text ? text : "",
                        .len = text ? len : 0,
                        .file = filename,
                        .err = err,
                        .err_len = err_len,
                        .arena = &doc->arena,
                        .line = 1};
    if (P.r.len >= 3 && memcmp(P.r.s, "\xEF\xBB\xBF", 3) == 0)
        P.r.i = P.r.origin = P.r.line_off = P.r.line_start = 3; /* byte order mark */
    bool ok = parse_document(&P);
    free(P.r.buf);
    free(P.keys);
    if (!ok) {
        daq_toml_free(&doc->root);
        return NULL;
    }
    return &doc->root;
}

daq_toml *daq_toml_parse_file(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        daq_err(err, err_len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16384;
            char *nt = realloc(text, cap);
            if (!nt) {
                free(text);
                fclose(f);
                daq_err(err, err_len, "%s: out of memory", path);
                return NULL;
            }
            text = nt;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    daq_toml *root = NULL;
    if (read_errno)
        daq_err(err, err_len, "%s: %s", path, strerror(read_errno));
    else
        root = daq_toml_parse(text, len, path, err, err_len);
    free(text);
    return root;
}
