/* view/view_internal.h - the live view's pieces shared by its files:
 * view.c (routing, status JSON, metrics), view_tap.c (the per-camera tap
 * and the binary frame endpoint) and view_assets.c (the page).
 *
 * Locks, in the only order they are ever taken:
 *   view.mu (the tap table, the janitor's wait)
 *   tap.pull_mu -> the bus subscription's own lock (daq_sub_next, unsubscribe)
 *   tap.mu: a leaf.  The bus's notify hook takes it on the acquisition
 *   thread under the subscription's lock, so nothing is called with tap.mu
 *   held that could take a bus or pool lock (no daq_sub_*, no frame unref).
 */
#ifndef DAQ_VIEW_INTERNAL_H
#define DAQ_VIEW_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "view/view.h"

/* Concurrent encodes per device: each holds one frame reference. */
#define VIEW_MAX_ENCODES 4u
/* A tap nobody asked for a frame for this long gives its subscription and
 * its frame back (test only: DAQ_TEST_VIEW_IDLE_MS overrides it). */
#define VIEW_IDLE_NS (10ull * 1000000000ull)
/* Distinct viewer ids remembered per device; "viewers" counts those seen in
 * the last VIEW_VIEWER_WINDOW_NS. */
#define VIEW_MAX_VIEWER_IDS   64u
#define VIEW_VIEWER_WINDOW_NS (5ull * 1000000000ull)
#define VIEW_VIEWER_ID_MAX    32u

typedef struct view_viewer {
    char id[VIEW_VIEWER_ID_MAX + 1];
    uint64_t seen_ns;
} view_viewer;

typedef struct view_tap {
    daq_view *v;
    daq_device *dev;         /* borrowed from the table */
    const char *id;          /* the device's, borrowed */
    pthread_mutex_t pull_mu; /* guards sub (its life and daq_sub_next on it) */
    daq_sub *sub;            /* NULL while idle */
    pthread_mutex_t mu;      /* guards everything below */
    pthread_cond_t cv;       /* a frame came, an encode slot freed, shutdown */
    bool notified;           /* the bus queued something since the last pull */
    bool subscribed;         /* sub != NULL, readable under mu */
    daq_frame *latest;       /* the newest frame taken (owned reference) or NULL */
    uint64_t seq;            /* frames taken so far; latest's view sequence number */
    uint64_t last_request_ns;
    unsigned encodes; /* frame references held by requests being answered */
    /* camera_fps: frames_delivered over the last ~1 s */
    uint64_t fps_t0_ns, fps_d0;
    double fps;
    bool fps_known;
    view_viewer viewers[VIEW_MAX_VIEWER_IDS];
    /* metrics */
    uint64_t served[3]; /* by bin: 1, 2, 4 */
    uint64_t req_frame, req_timeout, req_error;
} view_tap;

struct daq_view {
    daq_devices *devices; /* borrowed */
    daq_view_config cfg;
    char *assets_dir; /* DAQ_VIEW_ASSETS_DIR, or NULL */
    size_t n;
    view_tap *taps;      /* per device index */
    uint64_t idle_ns;    /* VIEW_IDLE_NS, or the test knob's */
    uint64_t janitor_ns; /* the janitor's period */
    atomic_bool shutdown;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the janitor at shutdown */
    bool stop_janitor;
    bool janitor_running;
    pthread_t janitor;
};

/* Answers GET /api/view/<device>/frame for t. */
void view_frame_answer(view_tap *t, const daq_http_request *req, daq_http_response *out);

/* Initialises / frees the tap of device d (index in the table). */
void view_tap_init(view_tap *t, daq_view *v, daq_device *d);
void view_tap_fini(view_tap *t);
/* Unsubscribes and drops the held frame if nobody asked for VIEW_IDLE_NS. */
void view_tap_idle_check(view_tap *t, uint64_t now);
/* Wakes every waiter (shutdown). */
void view_tap_wake(view_tap *t);

/* Updates and returns the camera fps from the acq's delivered counter
 * (NAN when unknown), the distinct viewers of the last 5 s. */
double view_tap_fps(view_tap *t, bool streaming, uint64_t delivered, double stream_avg_fps,
                    uint64_t now);
unsigned view_tap_viewers(view_tap *t, uint64_t now);

/* Sets a text answer (static text or formatted: copied). */
void view_text(daq_http_response *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
