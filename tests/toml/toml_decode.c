/* tests/toml/toml_decode.c - the toml-test decoder for daq's TOML parser.
 *
 *   toml_decode [FILE]      (stdin without FILE)
 *
 * Prints the document as toml-test's tagged JSON on stdout and exits 0, or
 * prints the parser's one-line error on stderr and exits 1.  Tables become
 * objects, arrays arrays, and every scalar {"type": T, "value": "<text>"};
 * date-times are written back from their parsed components (not their text),
 * so the suite checks the components too.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/toml.h"

static void json_string(const char *s, size_t len)
{
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\b': fputs("\\b", stdout); break;
        case '\f': fputs("\\f", stdout); break;
        default:
            if (c < 0x20 || c == 0x7F)
                printf("\\u%04x", c);
            else
                putchar(c); /* the parser guarantees valid UTF-8 */
        }
    }
    putchar('"');
}

static void datetime_value(const daq_toml *v, char *out, size_t n)
{
    const daq_toml_datetime *d = daq_toml_datetime_get(v);
    char frac[16] = "";
    if (d->nanosecond) {
        snprintf(frac, sizeof frac, ".%09u", (unsigned)d->nanosecond);
        for (size_t k = strlen(frac); frac[k - 1] == '0'; k--)
            frac[k - 1] = '\0';
    }
    char date[16], time[32];
    snprintf(date, sizeof date, "%04d-%02d-%02d", d->year, d->month, d->day);
    snprintf(time, sizeof time, "%02d:%02d:%02d%s", d->hour, d->minute, d->second, frac);
    switch (daq_toml_type_of(v)) {
    case DAQ_TOML_DATE_LOCAL: snprintf(out, n, "%s", date); break;
    case DAQ_TOML_TIME_LOCAL: snprintf(out, n, "%s", time); break;
    case DAQ_TOML_DATETIME_LOCAL: snprintf(out, n, "%sT%s", date, time); break;
    default: {
        int off = d->offset_minutes, a = off < 0 ? -off : off;
        if (off == 0)
            snprintf(out, n, "%sT%sZ", date, time);
        else
            snprintf(out, n, "%sT%s%c%02d:%02d", date, time, off < 0 ? '-' : '+', a / 60, a % 60);
    }
    }
}

static void emit(const daq_toml *v)
{
    char buf[64];
    daq_toml_type t = daq_toml_type_of(v);
    switch (t) {
    case DAQ_TOML_TABLE:
        putchar('{');
        for (size_t i = 0; i < daq_toml_table_size(v); i++) {
            if (i)
                putchar(',');
            json_string(daq_toml_table_key(v, i, NULL), daq_toml_table_key_len(v, i));
            putchar(':');
            emit(daq_toml_table_value(v, i));
        }
        putchar('}');
        return;
    case DAQ_TOML_ARRAY:
        putchar('[');
        for (size_t i = 0; i < daq_toml_array_size(v); i++) {
            if (i)
                putchar(',');
            emit(daq_toml_array_at(v, i));
        }
        putchar(']');
        return;
    case DAQ_TOML_STRING: {
        size_t len;
        const char *s = daq_toml_string(v, &len);
        printf("{\"type\":\"string\",\"value\":");
        json_string(s, len);
        putchar('}');
        return;
    }
    case DAQ_TOML_INTEGER: snprintf(buf, sizeof buf, "%" PRId64, daq_toml_integer(v)); break;
    case DAQ_TOML_FLOAT: {
        double f = daq_toml_float(v);
        if (isnan(f))
            snprintf(buf, sizeof buf, "nan");
        else if (isinf(f))
            snprintf(buf, sizeof buf, "%sinf", f < 0 ? "-" : "");
        else
            snprintf(buf, sizeof buf, "%.17g", f);
        break;
    }
    case DAQ_TOML_BOOL: snprintf(buf, sizeof buf, "%s", daq_toml_bool(v) ? "true" : "false"); break;
    default: datetime_value(v, buf, sizeof buf); break;
    }
    printf("{\"type\":\"%s\",\"value\":\"%s\"}", daq_toml_type_name(t), buf);
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0, got;
    char *text = malloc(cap);
    while (text && (got = fread(text + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nt = realloc(text, cap *= 2);
            if (!nt)
                free(text);
            text = nt;
        }
    }
    *len = n;
    return text;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "<stdin>";
    FILE *f = argc > 1 ? fopen(argv[1], "rb") : stdin;
    if (!f) {
        perror(name);
        return 1;
    }
    size_t len;
    char *text = read_all(f, &len);
    if (f != stdin)
        fclose(f);
    if (!text) {
        fprintf(stderr, "%s: out of memory\n", name);
        return 1;
    }
    char err[512];
    daq_toml *root = daq_toml_parse(text, len, name, err, sizeof err);
    free(text);
    if (!root) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    emit(root);
    putchar('\n');
    daq_toml_free(root);
    return 0;
}
