/* view/view.h - the live view: the page daqd serves on its HTTP port and
 * the frames and status it reads (docs/adr/0010-live-view.md).
 *
 * Frames go out as HTTP long polls, one binary frame per GET
 * (/api/view/<device>/frame, format in docs/live-view.md): per camera one
 * "tap" subscribes to the camera's bus with the LATEST policy, so the view
 * never back-pressures acquisition, and each request takes the newest
 * frame with a view sequence number above the one it last saw, waiting for
 * it up to wait_ms.  Binning reuses the gRPC stream's reductions
 * (server/frame_encode.h).  The page's assets are compiled in (no CDN: labs
 * are often offline).
 *
 * Ownership: daq_view_create borrows the device table (it must outlive the
 * view).  The view owns its taps and their subscriptions.  Order at stop:
 * daq_view_shutdown (wakes every long poll at once), daq_http_stop (waits
 * for handlers), daq_view_destroy.
 */
#ifndef DAQ_VIEW_VIEW_H
#define DAQ_VIEW_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/devices.h"
#include "daq/http.h"

typedef struct daq_view daq_view;

/* The most frames the view holds per camera at once, however many viewers
 * poll: the tap's LATEST queue (1) and its newest frame (1), plus one per
 * request being encoded, at most 4 at a time (view/view_tap.c).  The
 * daemon adds it to [acquisition] dynamic_allowance so an auto-sized pool
 * keeps room for the view (it subscribes while the stream runs). */
#define DAQ_VIEW_POOL_FRAMES 6u

typedef struct daq_view_config {
    uint32_t max_payload_mb; /* largest frame payload a request may ask for; 0: 32; at most 1024 */
} daq_view_config;

/* NULL when out of memory.  cfg may be NULL (defaults); it is copied. */
daq_view *daq_view_create(daq_devices *devices, const daq_view_config *cfg);

/* Answers the page's assets ("/", "/index.html", "/assets/...") and
 * "/api/view/..."; returns false, touching nothing, for any other path (the
 * caller routes it on).  Thread-safe; may block up to 2 s (a long poll). */
bool daq_view_http(daq_view *v, const daq_http_request *req, daq_http_response *out);

/* true for the paths served without a token (the page and its assets: the
 * login form must load).  Pure function of the path. */
bool daq_view_path_public(const char *path);

/* Appends the daq_view_* metric families (Prometheus text) to buf, growing
 * it with realloc; returns the new length or (size_t)-1 when out of memory
 * (buf unchanged).  v may be NULL (nothing appended). */
size_t daq_view_metrics_append(daq_view *v, char **buf, size_t len, size_t *cap);

/* Wakes every waiting long poll (they answer 204) and makes new ones answer
 * at once.  Idempotent. */
void daq_view_shutdown(daq_view *v);

/* Unsubscribes every tap and frees.  After daq_http_stop.  NULL ok. */
void daq_view_destroy(daq_view *v);

#endif
