/* view/view_assets.c - serving the live view's page and its assets.
 *
 * The compiled-in bytes go out without a copy (free_body = false: they are
 * static).  Every asset carries its ETag and "Cache-Control: no-cache", so
 * a browser revalidates each load and a new daqd build's page is never
 * mixed with an old cached script.  The page itself also carries a
 * Content-Security-Policy that allows nothing but this origin (plus inline
 * styles and data:/blob: images, which the canvas and colormap previews
 * use): a page that shows a token-protected camera must not be able to
 * load or send anything elsewhere, even if an asset were compromised.
 *
 * A reload revalidates with If-None-Match and gets 304 without the bytes
 * (the page is ~100 KB, its assets change only with the build).
 *
 * DAQ_VIEW_ASSETS_DIR reads the file from disk at each request (a page
 * author's edit loop, not production): up to 16 MiB, ETag an FNV-1a hash of
 * the bytes.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view/view_assets.h"

#define PAGE_CSP     "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'"
#define DIR_FILE_MAX (16u << 20)

const daq_view_asset *daq_view_asset_find(const char *name)
{
    for (const daq_view_asset *a = daq_view_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

const char *daq_view_asset_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (ends_with(name, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

/* The file dir/name, whole, in a malloc'd buffer; NULL when it cannot be
 * read or is larger than DIR_FILE_MAX. */
static unsigned char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && (unsigned long)n <= DIR_FILE_MAX &&
        fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    if (buf)
        *len = (size_t)n;
    return buf;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* If-None-Match: "*" or a comma list of ETags (weak ones, W/"...", compare
 * by their tag: RFC 9110 uses the weak comparison here). */
static bool etag_matches(const char *list, const char *etag)
{
    size_t n = strlen(etag);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (*p == '*' || (strncmp(p, etag, n) == 0 && strchr(" \t,", p[n])))
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

void daq_view_asset_answer(const char *dir, const char *name, const char *if_none_match,
                           daq_http_response *out)
{
    const daq_view_asset *a = daq_view_asset_find(name);
    if (!a) {
        out->status = 404;
        out->body = (char *)"no such asset";
        out->len = strlen(out->body);
        return;
    }
    char etag[40];
    unsigned char *disk = NULL;
    size_t disk_len = 0;
    if (dir && (disk = read_file(dir, name, &disk_len)) != NULL) {
        snprintf(etag, sizeof etag, "\"d%016llx\"", (unsigned long long)fnv1a(disk, disk_len));
        out->body = (char *)disk;
        out->len = disk_len;
        out->free_body = true;
    } else {
        /* Not in DIR (or no DIR): the compiled-in copy, static, not copied. */
        snprintf(etag, sizeof etag, "%s", a->etag);
        out->body = (char *)a->data;
        out->len = a->len;
        out->free_body = false;
    }
    out->status = 200;
    if (if_none_match && etag_matches(if_none_match, etag)) {
        /* The browser's copy is current: headers only (RFC 9110 §15.4.5). */
        if (out->free_body)
            free(out->body);
        out->body = NULL;
        out->len = 0;
        out->free_body = false;
        out->status = 304;
    }
    out->content_type = daq_view_asset_type(name);
    daq_http_response_header(out, "ETag", etag);
    daq_http_response_header(out, "Cache-Control", "no-cache");
    daq_http_response_header(out, "X-Content-Type-Options", "nosniff");
    if (ends_with(name, ".html"))
        daq_http_response_header(out, "Content-Security-Policy", PAGE_CSP);
}
