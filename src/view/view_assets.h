/* view/view_assets.h - the live view's page as compiled into the daemon.
 *
 * cmake/DaqAssets.cmake turns every file of src/view/www/ into one entry of
 * daq_view_assets (generated: build/gen/view_assets.c), so the page loads
 * with nothing from the network and nothing installed beside daqd.  The
 * ETag is computed at build time (16 hex digits of the file's SHA-256).
 *
 * For the page author's edit loop, DAQ_VIEW_ASSETS_DIR=DIR makes the
 * daemon read the same names from DIR at each request instead (names not in
 * the compiled-in list stay 404: the variable cannot widen what is served).
 */
#ifndef DAQ_VIEW_ASSETS_H
#define DAQ_VIEW_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

#include "daq/http.h"

typedef struct daq_view_asset {
    const char *name;          /* "index.html", "view.js"; NULL ends the table */
    const unsigned char *data; /* static storage */
    size_t len;
    const char *etag; /* quoted, as sent: "\"0123456789abcdef\"" */
} daq_view_asset;

/* Ends with an entry whose name is NULL. */
extern const daq_view_asset daq_view_assets[];

/* The compiled-in asset called name, or NULL. */
const daq_view_asset *daq_view_asset_find(const char *name);

/* The Content-Type for a file name, by its extension (static storage). */
const char *daq_view_asset_type(const char *name);

/* Answers a GET/HEAD of the asset name from dir (NULL: the compiled-in
 * copy): 200 with its type, ETag, "Cache-Control: no-cache", nosniff and,
 * for HTML, the page's Content-Security-Policy; 304 with no body when
 * if_none_match (the request's If-None-Match, NULL: none) names its ETag;
 * 404 "no such asset" when name is not compiled in. */
void daq_view_asset_answer(const char *dir, const char *name, const char *if_none_match,
                           daq_http_response *out);

#endif
