/* tap/server_metrics.c - the tap server's statistics and its Prometheus
 * families (the style of daq_view_metrics_append: HELP and TYPE, then one
 * line per series; per-reader series labelled device, reader, pid, uid).
 *
 * A snapshot takes the server's mutex (the table cannot change under it)
 * and each reader's leaf mutex only to copy its counters: a scrape never
 * holds a reader's lock for longer than a memcpy, so the acquisition
 * thread's deliver never waits on a scrape for more than that.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap/server_internal.h"
#include "util/sbuf.h"

/* ---- statistics ----------------------------------------------------------------------------- */

void daq_tap_server_stats_snapshot(daq_tap_server *t, daq_tap_server_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&t->mu);
    out->readers = t->readers;
    out->accepted = t->accepted;
    out->refused_not_allowed = t->refused_not_allowed;
    out->refused_other = t->refused_other;
    out->disconnects = t->disconnects;
    pthread_mutex_unlock(&t->mu);
}

/* The caller holds t->mu (the conn stays); c->mu only for the copy. */
static void reader_stats(tap_conn *c, daq_tap_reader_stats *s)
{
    memset(s, 0, sizeof *s);
    s->id = c->id;
    memcpy(s->device, c->device, sizeof s->device);
    s->pid = c->pid;
    s->uid = c->uid;
    s->gid = c->gid;
    s->lease_cap = c->lease_cap;
    s->queue_depth = c->queue_depth;
    pthread_mutex_lock(&c->mu);
    s->leases_held = c->held;
    s->frames_sent = c->frames_sent;
    s->releases = c->releases;
    s->stale_releases = c->stale_releases;
    s->drops_lease_cap = c->drops_lease_cap;
    s->drops_socket_full = c->drops_socket_full;
    s->drops_unshareable = c->drops_unshareable;
    s->revoked = c->revoked;
    s->before_ready = c->skipped_before_ready;
    pthread_mutex_unlock(&c->mu);
}

size_t daq_tap_server_readers(daq_tap_server *t, daq_tap_reader_stats *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n_conns_cap && n < max; i++) {
        tap_conn *c = t->conns[i];
        if (c && c->reader)
            reader_stats(c, &out[n++]);
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* ---- metrics -------------------------------------------------------------------------------- */

/* name{device="d",reader="1",pid="2",uid="3"<extra>} */
static void reader_labels(daq_sbuf *b, const char *name, const daq_tap_reader_stats *r)
{
    daq_sbuf_printf(b, "%s{device=\"", name);
    daq_sbuf_prom_label(b, r->device);
    daq_sbuf_printf(b, "\",reader=\"%" PRIu64 "\",pid=\"%d\",uid=\"%u\"", r->id, (int)r->pid,
                    (unsigned)r->uid);
}

size_t daq_tap_metrics_append(daq_tap_server *t, char **buf, size_t len, size_t *cap)
{
    if (!t)
        return len;
    daq_tap_server_stats st;
    daq_tap_server_stats_snapshot(t, &st);
    size_t max = t->cfg.max_readers;
    daq_tap_reader_stats *rs = calloc(max ? max : 1, sizeof *rs);
    if (!rs)
        return (size_t)-1;
    size_t n = daq_tap_server_readers(t, rs, max);
    daq_sbuf b = {*buf, len, *cap, false};
    daq_sbuf_prom_family(&b, "daq_tap_readers", "gauge",
                         "Zero-copy tap readers connected now (past HELLO).");
    daq_sbuf_printf(&b, "daq_tap_readers %u\n", st.readers);
    daq_sbuf_prom_family(
        &b, "daq_tap_connections_total", "counter",
        "Tap connections by outcome: accepted, refused_not_allowed (SO_PEERCRED), "
        "refused_other (bad message or hello, no device, too many, hello timeout).");
    daq_sbuf_printf(&b, "daq_tap_connections_total{outcome=\"accepted\"} %" PRIu64 "\n",
                    st.accepted);
    daq_sbuf_printf(&b, "daq_tap_connections_total{outcome=\"refused_not_allowed\"} %" PRIu64 "\n",
                    st.refused_not_allowed);
    daq_sbuf_printf(&b, "daq_tap_connections_total{outcome=\"refused_other\"} %" PRIu64 "\n",
                    st.refused_other);
    daq_sbuf_prom_family(&b, "daq_tap_disconnects_total", "counter",
                         "Tap readers gone (EOF, BYE, error); their leases were released.");
    daq_sbuf_printf(&b, "daq_tap_disconnects_total %" PRIu64 "\n", st.disconnects);

    daq_sbuf_prom_family(&b, "daq_tap_leases_held", "gauge", "Frames a tap reader holds now.");
    for (size_t i = 0; i < n; i++) {
        reader_labels(&b, "daq_tap_leases_held", &rs[i]);
        daq_sbuf_printf(&b, "} %u\n", rs[i].leases_held);
    }
    daq_sbuf_prom_family(&b, "daq_tap_lease_cap", "gauge",
                         "The most frames a tap reader may hold at once.");
    for (size_t i = 0; i < n; i++) {
        reader_labels(&b, "daq_tap_lease_cap", &rs[i]);
        daq_sbuf_printf(&b, "} %u\n", rs[i].lease_cap);
    }
    daq_sbuf_prom_family(&b, "daq_tap_frames_sent_total", "counter",
                         "FRAMEs sent to a tap reader (leases).");
    for (size_t i = 0; i < n; i++) {
        reader_labels(&b, "daq_tap_frames_sent_total", &rs[i]);
        daq_sbuf_printf(&b, "} %" PRIu64 "\n", rs[i].frames_sent);
    }
    daq_sbuf_prom_family(&b, "daq_tap_releases_total", "counter",
                         "Leases a tap reader returned by RELEASE.");
    for (size_t i = 0; i < n; i++) {
        reader_labels(&b, "daq_tap_releases_total", &rs[i]);
        daq_sbuf_printf(&b, "} %" PRIu64 "\n", rs[i].releases);
    }
    daq_sbuf_prom_family(
        &b, "daq_tap_drops_total", "counter",
        "Frames a tap reader lost, by reason: lease_cap (it held its cap), socket_full (its "
        "socket's queue was full), unshareable (a heap frame or a private pool).");
    for (size_t i = 0; i < n; i++) {
        static const char *const reasons[3] = {"lease_cap", "socket_full", "unshareable"};
        const uint64_t v[3] = {rs[i].drops_lease_cap, rs[i].drops_socket_full,
                               rs[i].drops_unshareable};
        for (int k = 0; k < 3; k++) {
            reader_labels(&b, "daq_tap_drops_total", &rs[i]);
            daq_sbuf_printf(&b, ",reason=\"%s\"} %" PRIu64 "\n", reasons[k], v[k]);
        }
    }
    daq_sbuf_prom_family(&b, "daq_tap_revocations_total", "counter",
                         "Leases revoked after [tap] lease_timeout_ms.");
    for (size_t i = 0; i < n; i++) {
        reader_labels(&b, "daq_tap_revocations_total", &rs[i]);
        daq_sbuf_printf(&b, "} %" PRIu64 "\n", rs[i].revoked);
    }
    free(rs);
    *buf = b.p;
    *cap = b.cap;
    return b.oom ? (size_t)-1 : b.len;
}
