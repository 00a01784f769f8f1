/* daqd/healthz.c - the /healthz answer: 200 when every configured camera
 * device is up and not in error, 503 otherwise, with a JSON body that names
 * each device, its state and, for one that is not healthy, why:
 *
 *   {"status":"unhealthy","devices_up":1,"devices_total":2,
 *    "unhealthy":["cam1"],
 *    "devices":[{"id":"cam0","driver":"sim","state":"streaming","healthy":true},
 *               {"id":"cam1","driver":"pvcam","state":"absent","healthy":false,
 *                "error":"pvcam: cannot load libpvcam.so.2 ..."}]}
 *
 * States: "idle", "streaming", "error" (the last stream ended by the
 * camera, until the next start), "absent" (not created or opened at start).
 * A device that recovery is retrying also has
 *   "recovery":{"attempts":2,"retry_in_ms":1800,"gave_up":false}
 * (failed attempts in this outage, time to the next one; docs/deploy.md).
 * It is scraped often (every few seconds by each monitor), so it costs one
 * malloc of a bound computed from the table (3 KiB per device: every string
 * escaped at its worst, 6 bytes per byte) and no lock unless a device is in
 * error (daq_device_health_snapshot).  Same rule as grpc.health.v1's
 * "daq.HardwareService" (server/health.h): both read daq_device_healthy.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/devices.h"
#include "daq/http.h"
#include "daqd/daqd.h"

/* PER_DEVICE: id 63 + driver 31 + why 255, each x6 escaped, twice the id,
 * and 80 of recovery numbers. */
#define PER_DEVICE 3072 /* bytes */
#define HEAD       160  /* bytes: status, counts, brackets */

typedef struct out_buf {
    char *p;
    size_t len, cap;
} out_buf;

static void put(out_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n < b->cap) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

/* s as a JSON string, quotes included. */
static void put_str(out_buf *b, const char *s)
{
    put(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char e[8];
        if (*c == '"' || *c == '\\')
            snprintf(e, sizeof e, "\\%c", *c);
        else if (*c < 0x20 || *c == 0x7f)
            snprintf(e, sizeof e, "\\u%04x", *c);
        else
            e[0] = (char)*c, e[1] = '\0';
        put(b, e);
    }
    put(b, "\"");
}

void daqd_healthz(struct daq_devices *ds, struct daq_http_response *out)
{
    size_t n = daq_devices_count(ds);
    daq_device_health hs[DAQ_CONFIG_MAX_DEVICES];
    size_t up = 0, healthy = 0;
    for (size_t i = 0; i < n && i < DAQ_CONFIG_MAX_DEVICES; i++) {
        daq_device *d = daq_devices_at(ds, i);
        daq_device_health_snapshot(d, &hs[i]);
        up += daq_device_is_up(d);
        healthy += hs[i].healthy;
    }
    bool ok = healthy == n;
    out->status = ok ? 200 : 503;
    out->content_type = "application/json";
    out_buf b = {.cap = HEAD + n * PER_DEVICE};
    b.p = malloc(b.cap);
    if (!b.p) {
        out->status = 500;
        return;
    }
    char num[64];
    put(&b, ok ? "{\"status\":\"ok\"" : "{\"status\":\"unhealthy\"");
    snprintf(num, sizeof num, ",\"devices_up\":%zu,\"devices_total\":%zu", up, n);
    put(&b, num);
    put(&b, ",\"unhealthy\":[");
    for (size_t i = 0, k = 0; i < n; i++)
        if (!hs[i].healthy) {
            put(&b, k++ ? "," : "");
            put_str(&b, daq_device_id(daq_devices_at(ds, i)));
        }
    put(&b, "],\"devices\":[");
    for (size_t i = 0; i < n; i++) {
        const daq_device *d = daq_devices_at(ds, i);
        put(&b, i ? ",{\"id\":" : "{\"id\":");
        put_str(&b, daq_device_id(d));
        put(&b, ",\"driver\":");
        put_str(&b, daq_device_driver(d));
        put(&b, ",\"state\":");
        put_str(&b, hs[i].state);
        put(&b, hs[i].healthy ? ",\"healthy\":true" : ",\"healthy\":false,\"error\":");
        if (!hs[i].healthy)
            put_str(&b, hs[i].why);
        const daq_device_recovery *r = &hs[i].recovery;
        if (r->recovering || r->gave_up) {
            snprintf(num, sizeof num, ",\"recovery\":{\"attempts\":%u,\"retry_in_ms\":%llu",
                     r->attempts, (unsigned long long)r->retry_in_ms);
            put(&b, num);
            put(&b, r->gave_up ? ",\"gave_up\":true}" : ",\"gave_up\":false}");
        }
        put(&b, "}");
    }
    put(&b, "]}\n");
    out->body = b.p;
    out->len = b.len;
    out->free_body = true;
}
