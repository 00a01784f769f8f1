/* drivers/registry.c - camera drivers by type name.
 *
 * The table starts with the drivers built into libdaq (sim, then pvcam:
 * libpvcam is loaded only when a camera opens, so it costs nothing to
 * list); drivers living in other libraries append themselves with
 * daq_driver_register (libdaq-aravis).  The registry lives with the
 * drivers, above the camera interface: camera.c knows no driver, and
 * creation by type name (daq_camera_create) is done here.
 *
 * Lookups are exact and case-sensitive, by canonical type or alias (kept
 * for configs of the system daq replaces: "mock_camera").  Entries are
 * only ever appended, each published with a release store before the count
 * that makes it visible, so lookups need no lock; registrations serialise
 * on a mutex.  16 entries: daq has a handful of drivers and no plugin
 * loading.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "camera/camera_impl.h"
#include "daq/camera_driver.h"
#include "drivers/drivers.h"
#include "util/err.h"

#define REGISTRY_MAX 16

static const daq_driver *table[REGISTRY_MAX] = {&daq_sim_driver, &daq_pvcam_driver};
static _Atomic size_t count = 2;
static pthread_mutex_t register_mu = PTHREAD_MUTEX_INITIALIZER;

static bool names(const daq_driver *d, const char *type)
{
    if (strcmp(d->type, type) == 0)
        return true;
    for (size_t a = 0; d->aliases && d->aliases[a]; a++)
        if (strcmp(d->aliases[a], type) == 0)
            return true;
    return false;
}

const daq_driver *daq_driver_find(const char *type)
{
    if (!type)
        return NULL;
    size_t n = atomic_load_explicit(&count, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (names(table[i], type))
            return table[i];
    return NULL;
}

bool daq_camera_type_known(const char *type)
{
    return daq_driver_find(type) != NULL;
}

/* The type and aliases of drv already taken by another driver, or NULL. */
static const char *clash(const daq_driver *drv)
{
    const daq_driver *d = daq_driver_find(drv->type);
    if (d && d != drv)
        return drv->type;
    for (size_t a = 0; drv->aliases && drv->aliases[a]; a++) {
        d = daq_driver_find(drv->aliases[a]);
        if (d && d != drv)
            return drv->aliases[a];
    }
    return NULL;
}

int daq_driver_register(const daq_driver *drv, char *err, size_t err_len)
{
    if (daq_camera__driver_check(drv, err, err_len) != 0)
        return -1;
    pthread_mutex_lock(&register_mu);
    size_t n = atomic_load_explicit(&count, memory_order_relaxed);
    int rc = 0;
    const char *taken = clash(drv);
    bool present = false;
    for (size_t i = 0; i < n; i++)
        present |= table[i] == drv;
    if (taken)
        rc = daq_err(err, err_len, "camera driver '%s': type '%s' is taken by another driver",
                     drv->type, taken);
    else if (!present && n == REGISTRY_MAX)
        rc = daq_err(err, err_len, "camera driver '%s': the registry is full (%d drivers)",
                     drv->type, REGISTRY_MAX);
    else if (!present) {
        table[n] = drv;
        atomic_store_explicit(&count, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&register_mu);
    return rc;
}

size_t daq_camera_types(const char **out, size_t max)
{
    size_t n = atomic_load_explicit(&count, memory_order_acquire), k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k < max)
            out[k] = table[i]->type;
        k++;
        for (size_t a = 0; table[i]->aliases && table[i]->aliases[a]; a++, k++)
            if (k < max)
                out[k] = table[i]->aliases[a];
    }
    return k;
}

/* "sim, mock_camera, pvcam, ..." into buf (truncated to fit). */
static void known_types(char *buf, size_t len)
{
    const char *types[64];
    size_t n = daq_camera_types(types, 64), used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < 64; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", types[i]);
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
}

daq_camera *daq_camera_create(const char *type, const char *id, char *err, size_t err_len)
{
    const daq_driver *drv = daq_driver_find(type);
    if (!drv) {
        char known[256];
        known_types(known, sizeof known);
        daq_err(err, err_len, "unknown camera driver '%s' (known: %s)", type ? type : "(null)",
                known);
        return NULL;
    }
    return daq_camera_create_with(drv, id, err, err_len);
}
