/* drivers/pvcam/pvcam_lib.c - the process's one libpvcam: loading it with
 * dlopen, the reference-counted pl_pvcam_init / pl_pvcam_uninit, and the
 * lock every SDK call is made under.
 *
 * Why dlopen: daq must build and run its tests where no PVCAM SDK exists,
 * and a lab machine without PVCAM must still serve its other cameras.  A
 * missing library or symbol is therefore an open() failure with one line of
 * text (which the daemon shows as the device's registration failure), never
 * a link error or a crash.  Library choice: the camera's `library`
 * parameter, else $DAQ_PVCAM_LIBRARY, else "libpvcam.so.2" (the SONAME)
 * and then "libpvcam.so" through the normal search path.
 *
 * Why one process-wide state: PVCAM allows one pl_pvcam_init per process (a
 * second one is an error and there is no "is it initialised?" query), so
 * the first camera to open loads and initialises, every later one takes a
 * reference, and the last close uninitialises and unloads.  All cameras of
 * the process therefore share one library; a camera asking for a different
 * library while another holds one is refused.
 *
 * Symbols: every function of PVCAM_FUNCTIONS must resolve (a library
 * missing one is refused at open, naming it); PVCAM_OPTIONAL_FUNCTIONS
 * (pl_exp_trigger, absent before PVCAM_CORE_2.5) may be missing and are
 * then NULL in the table: the driver offers less (no software trigger)
 * instead of refusing the camera.
 *
 * Why one lock for every SDK call, across cameras and threads: the error
 * code is process-global and reset by every call, so the failing call and
 * pl_error_code / pl_error_message must not interleave with another thread's
 * calls (docs/facts/pvcam-api.md §2.2).  The EOF callback never takes this lock (it only
 * records), so holding it across pl_exp_stop_cont or a deregistration that
 * waits for the SDK's callback thread cannot deadlock.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/log.h"
#include "drivers/pvcam/pvcam_impl.h"

#define LOG_PVCAM "daq::pvcam"

static pthread_mutex_t sdk_mu = PTHREAD_MUTEX_INITIALIZER;

/* Under sdk_mu. */
static struct {
    void *handle;
    unsigned refs;
    char spec[DAQ_PARAM_STR_MAX]; /* what was asked for ("" = the defaults) */
    char path[DAQ_PARAM_STR_MAX]; /* what was loaded */
    pvcam_api api;
    unsigned version; /* pl_pvcam_get_ver: 0xMMmt */
} lib;

static const struct {
    const char *name;
    size_t offset;
} symbols[] = {
#define PVCAM_SYMBOL(ret, name, args) {#name, offsetof(pvcam_api, name)},
    PVCAM_FUNCTIONS(PVCAM_SYMBOL)
#undef PVCAM_SYMBOL
};

static const struct {
    const char *name;
    size_t offset;
} optional_symbols[] = {
#define PVCAM_SYMBOL(ret, name, args) {#name, offsetof(pvcam_api, name)},
    PVCAM_OPTIONAL_FUNCTIONS(PVCAM_SYMBOL)
#undef PVCAM_SYMBOL
};

void pvcam_sdk_lock(void)
{
    pthread_mutex_lock(&sdk_mu);
}

void pvcam_sdk_unlock(void)
{
    pthread_mutex_unlock(&sdk_mu);
}

const pvcam_api *pvcam_api_get(void)
{
    return &lib.api;
}

int16 pvcam_sdk_error(const char *call, char *err, size_t err_len)
{
    int16 code = lib.api.pl_error_code();
    char msg[ERROR_MSG_LEN] = "";
    lib.api.pl_error_message(code, msg); /* "Unknown error" for codes it does not know */
    msg[ERROR_MSG_LEN - 1] = '\0';
    daq_err(err, err_len, "pvcam: %s failed: error %d: %s", call, (int)code, msg);
    return code;
}

void pvcam_sdk_warn(const char *call, const char *device)
{
    char why[320];
    pvcam_sdk_error(call, why, sizeof why);
    DAQ_LOG(DAQ_LOG_WARN, LOG_PVCAM, "pvcam call failed", DAQ_F_STR("device", device ? device : ""),
            DAQ_F_STR("error", why));
}

/* dlerror() repeats the file name first; keep the reason only. */
static const char *dl_reason(const char *name, const char *why)
{
    size_t n = strlen(name);
    if (why && strncmp(why, name, n) == 0 && strncmp(why + n, ": ", 2) == 0)
        return why + n + 2;
    return why ? why : "unknown dlopen error";
}

/* Under sdk_mu: opens the library named by spec (or the defaults). */
static int load(const char *spec, char *err, size_t err_len)
{
    const char *defaults[] = {"libpvcam.so.2", "libpvcam.so", NULL};
    const char *one[] = {spec, NULL};
    const char *const *names = spec[0] ? one : defaults;
    char why[512] = ""; /* the first name's reason */
    for (size_t i = 0; names[i]; i++) {
        lib.handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (lib.handle) {
            snprintf(lib.path, sizeof lib.path, "%s", names[i]);
            break;
        }
        if (!why[0])
            snprintf(why, sizeof why, "%s", dl_reason(names[i], dlerror()));
    }
    if (!lib.handle) {
        if (spec[0])
            return daq_err(err, err_len, "pvcam: cannot load %s: %s", spec, why);
        return daq_err(err, err_len,
                       "pvcam: cannot load libpvcam.so.2 (nor libpvcam.so): %s; install PVCAM "
                       "or set the camera's library parameter or DAQ_PVCAM_LIBRARY",
                       why);
    }
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        dlerror();
        void *sym = dlsym(lib.handle, symbols[i].name);
        if (!sym) {
            const char *e = dlerror();
            daq_err(err, err_len, "pvcam: %s has no symbol %s (%s)", lib.path, symbols[i].name,
                    e ? dl_reason(lib.path, e) : "null");
            dlclose(lib.handle);
            lib.handle = NULL;
            return -1;
        }
        /* ISO C has no object-to-function pointer conversion; POSIX
         * guarantees the representations match. */
        memcpy((char *)&lib.api + symbols[i].offset, &sym, sizeof sym);
    }
    /* Optional ones stay NULL when absent (pl_exp_trigger: PVCAM >= 2.5). */
    for (size_t i = 0; i < sizeof optional_symbols / sizeof optional_symbols[0]; i++) {
        void *sym = dlsym(lib.handle, optional_symbols[i].name);
        memcpy((char *)&lib.api + optional_symbols[i].offset, &sym, sizeof sym);
    }
    return 0;
}

static void unload(void)
{
    if (lib.handle)
        dlclose(lib.handle);
    memset(&lib, 0, sizeof lib);
}

int pvcam_lib_acquire(const char *library, char *err, size_t err_len)
{
    const char *env = getenv("DAQ_PVCAM_LIBRARY");
    const char *spec = library && library[0] ? library : env && env[0] ? env : "";
    pvcam_sdk_lock();
    int rc = 0;
    if (lib.refs > 0) {
        if (strcmp(spec, lib.spec) != 0)
            rc = daq_err(err, err_len,
                         "pvcam: libpvcam is already loaded from %s for another camera; "
                         "cannot also use %s",
                         lib.path, spec[0] ? spec : "the default libpvcam.so.2");
        else
            lib.refs++;
        pvcam_sdk_unlock();
        return rc;
    }
    rc = load(spec, err, err_len);
    if (rc == 0 && lib.api.pl_pvcam_init() != PV_OK) {
        pvcam_sdk_error("pl_pvcam_init", err, err_len);
        rc = -1;
    }
    if (rc == 0) {
        snprintf(lib.spec, sizeof lib.spec, "%s", spec);
        uns16 v = 0;
        lib.version = lib.api.pl_pvcam_get_ver(&v) == PV_OK ? v : 0;
        lib.refs = 1;
        DAQ_LOG(DAQ_LOG_INFO, LOG_PVCAM, "libpvcam loaded", DAQ_F_STR("path", lib.path),
                DAQ_F_BOOL("pl_exp_trigger", lib.api.pl_exp_trigger != NULL),
                DAQ_F_U64("pvcam_major", lib.version >> 8),
                DAQ_F_U64("pvcam_minor", (lib.version >> 4) & 0xF),
                DAQ_F_U64("pvcam_trivial", lib.version & 0xF));
    } else {
        unload();
    }
    pvcam_sdk_unlock();
    return rc;
}

void pvcam_lib_release(void)
{
    pvcam_sdk_lock();
    if (lib.refs > 0 && --lib.refs == 0) {
        if (lib.api.pl_pvcam_uninit() != PV_OK)
            pvcam_sdk_warn("pl_pvcam_uninit", NULL);
        unload();
    }
    pvcam_sdk_unlock();
}

unsigned pvcam_lib_refs(void)
{
    pvcam_sdk_lock();
    unsigned r = lib.refs;
    pvcam_sdk_unlock();
    return r;
}
