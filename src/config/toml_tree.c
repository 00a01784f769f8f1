/* config/toml_tree.c - the document tree of daq/toml.h: arena, nodes,
 * tables, arrays and the public accessors.
 *
 * A document is one malloc'd toml_doc (its root table plus an arena); every
 * other node, key, string and entry vector is carved from the arena, so
 * daq_toml_free is "free the chunks" and a failed parse cannot leak.  Vectors
 * grow by doubling inside the arena and abandon the old copy: at most as much
 * again is wasted, in exchange for no per-node frees.
 *
 * Tables keep their entries in definition order (the API promises it) and add
 * an open-addressing hash index once they pass a few entries, so a table of
 * 10 000 keys parses in linear time and daq_toml_table_find stays O(1).
 */
#include <stdlib.h>
#include <string.h>

#include "config/toml_impl.h"

/* ---- arena ---------------------------------------------------------------------- */

#define CHUNK_MIN 4096u
#define CHUNK_MAX (1u << 20)

struct toml_chunk {
    toml_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

void *toml_arena_alloc(toml_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + 15) & ~(size_t)15;
    toml_chunk *c = a->head;
    if (c && c->size - c->used >= n) {
        void *p = c->data + c->used;
        c->used += n;
        return p;
    }
    size_t size = a->next_size ? a->next_size : CHUNK_MIN;
    if (n > size / 4) {
        /* A big block gets a chunk of its own, linked behind the current one
         * so that the current one's free space stays in use. */
        c = malloc(sizeof *c + n);
        if (!c)
            return NULL;
        c->size = c->used = n;
        if (a->head) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = NULL;
            a->head = c;
        }
        return c->data;
    }
    c = malloc(sizeof *c + size);
    if (!c)
        return NULL;
    c->size = size;
    c->used = n;
    c->next = a->head;
    a->head = c;
    if (size < CHUNK_MAX)
        a->next_size = size * 2;
    return c->data;
}

void toml_arena_free(toml_arena *a)
{
    for (toml_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
}

/* ---- nodes ---------------------------------------------------------------------- */

daq_toml *toml_node_new(toml_arena *a, daq_toml_type type, daq_toml_pos pos)
{
    daq_toml *v = toml_arena_alloc(a, sizeof *v);
    if (v) {
        memset(v, 0, sizeof *v);
        v->type = (uint8_t)type;
        v->pos = pos;
    }
    return v;
}

#define INDEX_FROM 8u /* tables with more entries than this get a hash index */

static uint32_t hash_key(const char *k, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

toml_entry *toml_table_find(const daq_toml *t, const char *key, size_t len)
{
    toml_entry *e = t->u.tab.e;
    if (t->u.tab.index) {
        uint32_t mask = t->u.tab.index_cap - 1;
        for (uint32_t h = hash_key(key, len) & mask;; h = (h + 1) & mask) {
            uint32_t slot = t->u.tab.index[h];
            if (slot == 0)
                return NULL;
            if (e[slot - 1].key_len == len && memcmp(e[slot - 1].key, key, len) == 0)
                return &e[slot - 1];
        }
    }
    for (uint32_t i = 0; i < t->u.tab.n; i++)
        if (e[i].key_len == len && memcmp(e[i].key, key, len) == 0)
            return &e[i];
    return NULL;
}

static void index_put(daq_toml *t, uint32_t i)
{
    uint32_t mask = t->u.tab.index_cap - 1;
    const toml_entry *e = &t->u.tab.e[i];
    uint32_t h = hash_key(e->key, e->key_len) & mask;
    while (t->u.tab.index[h] != 0)
        h = (h + 1) & mask;
    t->u.tab.index[h] = i + 1;
}

/* Keeps the index at most half full. */
static bool index_grow(toml_arena *a, daq_toml *t)
{
    uint32_t n = t->u.tab.n + 1;
    if (n <= INDEX_FROM || (t->u.tab.index && n <= t->u.tab.index_cap / 2))
        return true;
    uint32_t cap = t->u.tab.index ? t->u.tab.index_cap * 2 : 4 * INDEX_FROM;
    uint32_t *index = toml_arena_alloc(a, (size_t)cap * sizeof *index);
    if (!index)
        return false;
    memset(index, 0, (size_t)cap * sizeof *index);
    t->u.tab.index = index;
    t->u.tab.index_cap = cap;
    for (uint32_t i = 0; i < t->u.tab.n; i++)
        index_put(t, i);
    return true;
}

/* Doubles an arena vector of elements of size elem; false when out of memory. */
static bool vec_grow(toml_arena *a, void **v, uint32_t n, uint32_t *cap, size_t elem)
{
    if (n < *cap)
        return true;
    if (*cap >= UINT32_MAX / 2)
        return false;
    uint32_t ncap = *cap ? *cap * 2 : 4;
    void *nv = toml_arena_alloc(a, (size_t)ncap * elem);
    if (!nv)
        return false;
    if (n)
        memcpy(nv, *v, (size_t)n * elem);
    *v = nv;
    *cap = ncap;
    return true;
}

bool toml_table_add(toml_arena *a, daq_toml *t, const char *key, size_t len, daq_toml_pos kpos,
                    daq_toml *val)
{
    void *e = t->u.tab.e;
    if (!vec_grow(a, &e, t->u.tab.n, &t->u.tab.cap, sizeof(toml_entry)))
        return false;
    t->u.tab.e = e;
    if (!index_grow(a, t))
        return false;
    t->u.tab.e[t->u.tab.n] = (toml_entry){key, len, kpos, val};
    if (t->u.tab.index)
        index_put(t, t->u.tab.n);
    t->u.tab.n++;
    return true;
}

bool toml_array_push(toml_arena *a, daq_toml *arr, daq_toml *val)
{
    void *v = arr->u.arr.v;
    if (!vec_grow(a, &v, arr->u.arr.n, &arr->u.arr.cap, sizeof(daq_toml *)))
        return false;
    arr->u.arr.v = v;
    arr->u.arr.v[arr->u.arr.n++] = val;
    return true;
}

/* ---- public accessors -------------------------------------------------------------- */

void daq_toml_free(daq_toml *root)
{
    if (!root)
        return;
    toml_doc *d = (toml_doc *)root; /* the root is the first member */
    toml_arena_free(&d->arena);
    free(d);
}

daq_toml_type daq_toml_type_of(const daq_toml *v)
{
    return v ? (daq_toml_type)v->type : DAQ_TOML_TABLE;
}

const char *daq_toml_type_name(daq_toml_type t)
{
    static const char *const names[] = {
        [DAQ_TOML_TABLE] = "table",           [DAQ_TOML_ARRAY] = "array",
        [DAQ_TOML_STRING] = "string",         [DAQ_TOML_INTEGER] = "integer",
        [DAQ_TOML_FLOAT] = "float",           [DAQ_TOML_BOOL] = "bool",
        [DAQ_TOML_DATETIME] = "datetime",     [DAQ_TOML_DATETIME_LOCAL] = "datetime-local",
        [DAQ_TOML_DATE_LOCAL] = "date-local", [DAQ_TOML_TIME_LOCAL] = "time-local",
    };
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

daq_toml_pos daq_toml_pos_of(const daq_toml *v)
{
    return v ? v->pos : (daq_toml_pos){0, 0};
}

static bool is(const daq_toml *v, daq_toml_type t)
{
    return v && v->type == t;
}

static bool is_datetime(const daq_toml *v)
{
    return v && v->type >= DAQ_TOML_DATETIME && v->type <= DAQ_TOML_TIME_LOCAL;
}

size_t daq_toml_table_size(const daq_toml *t)
{
    return is(t, DAQ_TOML_TABLE) ? t->u.tab.n : 0;
}

const char *daq_toml_table_key(const daq_toml *t, size_t i, daq_toml_pos *key_pos)
{
    if (!is(t, DAQ_TOML_TABLE) || i >= t->u.tab.n)
        return NULL;
    if (key_pos)
        *key_pos = t->u.tab.e[i].key_pos;
    return t->u.tab.e[i].key;
}

size_t daq_toml_table_key_len(const daq_toml *t, size_t i)
{
    return is(t, DAQ_TOML_TABLE) && i < t->u.tab.n ? t->u.tab.e[i].key_len : 0;
}

const daq_toml *daq_toml_table_value(const daq_toml *t, size_t i)
{
    return is(t, DAQ_TOML_TABLE) && i < t->u.tab.n ? t->u.tab.e[i].val : NULL;
}

const daq_toml *daq_toml_table_find(const daq_toml *t, const char *key)
{
    if (!is(t, DAQ_TOML_TABLE) || !key)
        return NULL;
    const toml_entry *e = toml_table_find(t, key, strlen(key));
    return e ? e->val : NULL;
}

size_t daq_toml_array_size(const daq_toml *a)
{
    return is(a, DAQ_TOML_ARRAY) ? a->u.arr.n : 0;
}

const daq_toml *daq_toml_array_at(const daq_toml *a, size_t i)
{
    return is(a, DAQ_TOML_ARRAY) && i < a->u.arr.n ? a->u.arr.v[i] : NULL;
}

const char *daq_toml_string(const daq_toml *v, size_t *len)
{
    if (len)
        *len = is(v, DAQ_TOML_STRING) ? v->u.str.len : 0;
    return is(v, DAQ_TOML_STRING) ? v->u.str.s : NULL;
}

int64_t daq_toml_integer(const daq_toml *v)
{
    return is(v, DAQ_TOML_INTEGER) ? v->u.i : 0;
}

double daq_toml_float(const daq_toml *v)
{
    return is(v, DAQ_TOML_FLOAT) ? v->u.f : 0.0;
}

bool daq_toml_bool(const daq_toml *v)
{
    return is(v, DAQ_TOML_BOOL) && v->u.b;
}

const daq_toml_datetime *daq_toml_datetime_get(const daq_toml *v)
{
    return is_datetime(v) ? &v->u.dt.dt : NULL;
}

const char *daq_toml_datetime_text(const daq_toml *v)
{
    return is_datetime(v) ? v->u.dt.text : NULL;
}
