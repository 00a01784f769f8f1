/* pool/pool.c - the slot arena, its LIFO free list and the frame-path
 * allocator.
 *
 * The free list is an array stack of slot indices under one mutex.  That
 * was measured against a lock-free stack with a tagged 64-bit head (see
 * docs/adr/0001-frame-pool.md and `daq-bench pool`, which times both): a
 * lock-free pop or push is a load plus a dependent compare-and-swap, and on
 * this machine class two of those cost more than two uncontended
 * lock/unlock pairs, whose atomics need no prior load.  The mutex also
 * makes every decision one critical section: exact occupancy and
 * high-water, plain counters, no lost wake-up for waiters, and exactly one
 * party unmapping the arena after destroy.  Critical sections are a few
 * instructions; nothing in them blocks or allocates.
 *
 * Lifetime: the owner's handle and every live heap frame hold a reference
 * (refs); slots out are counted by the stack itself.  The pool is freed by
 * whoever, under the mutex, sees both reach zero: the last reference drop
 * or the last slot return.
 *
 * Hit/miss accounting and latency histograms belong to the frame path
 * (daq_pool_alloc), not to the raw try_acquire/acquire.
 *
 * Heap frames and RSS: glibc raises its mmap threshold to 8 MiB after the
 * first 8 MiB block is freed, so later heap frames come from malloc's
 * arenas and stay mapped after free -- after heap mode or a load with
 * fallbacks RSS stayed at 2.1-3.3x its baseline.  Pinning the threshold
 * instead (mmap per frame) costs 5 ms and 2049 page faults per 8 MiB frame
 * (docs/facts/machine-limits.md), which would make the rollback lever much
 * slower than the rust-daq path it stands for.  So frames stay on malloc
 * and the memory is handed back with malloc_trim(0) when a heap episode
 * ends: use_pool switched back on, and the end of a stream that had heap
 * frames (daq_pool_trim_heap: at once, and again TRIM_LATER_NS later, on
 * the process's one trimmer thread, for the frames its consumers were
 * still letting go of); and when the last heap frame comes home while the
 * pool is on -- that one at most once a second (TRIM_EVERY_NS), so a pool
 * that keeps running dry costs one trim a second, never one per frame.  Measured
 * (hardening.control_plane): after heap mode 2.1-2.4x -> 0.98-1.02x the
 * RSS before it; after a load with 3 readers on a 4-slot pool 2.6x -> 1.1x.
 *
 * Test only: DAQ_TEST_ALLOC_DELAY_US (read at creation into test_delay_ns)
 * makes every frame-path allocation sleep until t0 + N us before its
 * latency is taken, on both paths, so the alloc histograms, avg_alloc_us
 * and the symptom watch see a slow allocator.  A sleep, not a spin: the
 * symptom is latency, and a 1-2 ms spin per frame would eat a core.
 */
#define _GNU_SOURCE
#include "daq/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "frame/frame_impl.h"
#include "pool/latency.h"
#include "pool/test_knob.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/fatal.h"

#define HUGE_PAGE_BYTES (2u << 20)
#define TRIM_EVERY_NS   (1000ull * 1000 * 1000)
/* After a stream ends its consumers let go of its last frames within
 * milliseconds (streams finish, queues drain): the second trim waits this
 * long for them. */
#define TRIM_LATER_NS (300ull * 1000 * 1000)

/* malloc_trim is process-wide: one clock for every pool. */
static _Atomic uint64_t last_trim_ns;

/* Gives freed heap frames back to the OS; rate-limited unless forced. */
static void heap_trim(bool force)
{
    uint64_t now = daq_now_ns(), last = atomic_load_explicit(&last_trim_ns, memory_order_relaxed);
    if (!force && last && now - last < TRIM_EVERY_NS)
        return;
    if (!atomic_compare_exchange_strong(&last_trim_ns, &last, now))
        return; /* another thread is trimming right now */
    malloc_trim(0);
}

typedef struct lat_hist {
    _Atomic uint64_t count, sum_ns, max_ns;
    _Atomic uint64_t buckets[DAQ_LAT_BUCKETS];
} lat_hist;

_Static_assert(sizeof(daq_slot_header) == 64, "daq-slots-v1: one 64-byte header per slot");

/* daq_pool_serial: pools created by this process so far. */
static _Atomic uint64_t pool_serials;

struct daq_pool {
    pthread_mutex_t mu;
    /* Under mu. */
    uint32_t *stack;     /* free slot indices; stack[top - 1] is next out */
    uint32_t top;        /* number of free slots */
    uint32_t high_water; /* most slots out at once since reset */
    uint64_t hits;       /* frame-path pops (counted in the same section) */
    uint64_t slot_returns;
    uint32_t waiters;
    uint64_t flush_gen; /* bumped by flush: current waiters give up */
    bool shut;          /* shutdown: no more waiting */
    bool dead;          /* refs reached 0 */
    pthread_cond_t cv;

    /* Immutable after creation. */
    daq_frame *frames; /* slot headers, count of them */
    unsigned char *arena;
    size_t arena_bytes;
    int memfd; /* the arena's sealed memfd (shareable), else -1 */
    /* Shareable only: the slots' shared headers, in a memfd of their own
     * (a reader maps them apart from the pixels); else NULL / -1. */
    daq_slot_header *headers;
    size_t header_bytes;
    int header_memfd;
    uint64_t serial; /* daq_pool_serial */
    size_t stride;   /* distance between slots' pixels */
    size_t slot_bytes;
    size_t alignment;
    uint32_t count;
    bool prefaulted, huge_pages, memory_locked;
    uint64_t test_delay_ns; /* DAQ_TEST_ALLOC_DELAY_US; 0 in production */
    char name[48];

    /* Settings, changed at run time. */
    _Atomic bool use_pool;
    _Atomic int policy;
    _Atomic int wait_fallback;
    _Atomic uint32_t wait_timeout_ms;

    /* Slow-path counters, relaxed atomics. */
    _Atomic uint64_t misses, disabled, heap_exhausted, heap_disabled, heap_failed, drops, waits,
        wait_timeouts, heap_frees;
    _Atomic uint32_t heap_in_use;
    _Atomic uint64_t last_alloc_ns;
    lat_hist lat_pool, lat_heap;

    _Atomic uint32_t refs; /* owner + live heap frames */
};

/* ---- small helpers ------------------------------------------------------ */

static void count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void lat_record(lat_hist *h, uint64_t ns)
{
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->buckets[daq_lat_bucket(ns)], 1, memory_order_relaxed);
    uint64_t cur = atomic_load_explicit(&h->max_ns, memory_order_relaxed);
    while (ns > cur && !atomic_compare_exchange_weak_explicit(
                           &h->max_ns, &cur, ns, memory_order_relaxed, memory_order_relaxed)) {
    }
}

static void lat_read(const lat_hist *h, daq_latency_hist *out)
{
    out->count = atomic_load_explicit(&h->count, memory_order_relaxed);
    out->sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
    out->max_ns = atomic_load_explicit(&h->max_ns, memory_order_relaxed);
    for (unsigned i = 0; i < DAQ_LAT_BUCKETS; i++)
        out->buckets[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
}

static void lat_reset(lat_hist *h)
{
    atomic_store_explicit(&h->count, 0, memory_order_relaxed);
    atomic_store_explicit(&h->sum_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&h->max_ns, 0, memory_order_relaxed);
    for (unsigned i = 0; i < DAQ_LAT_BUCKETS; i++)
        atomic_store_explicit(&h->buckets[i], 0, memory_order_relaxed);
}

uint64_t daq_latency_bucket_upper_ns(unsigned i)
{
    return i + 1 >= 64 ? UINT64_MAX : (2ull << i);
}

uint64_t daq_latency_quantile_ns(const daq_latency_hist *h, double q)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < DAQ_LAT_BUCKETS; i++)
        total += h->buckets[i];
    if (total == 0)
        return 0;
    double want = q * (double)total;
    uint64_t seen = 0;
    for (unsigned i = 0; i < DAQ_LAT_BUCKETS; i++) {
        seen += h->buckets[i];
        if ((double)seen >= want && h->buckets[i] > 0)
            return daq_latency_bucket_upper_ns(i);
    }
    return daq_latency_bucket_upper_ns(DAQ_LAT_BUCKETS - 1);
}

/* ---- names and parsing ---------------------------------------------------- */

const char *const daq_pool_policy_names[] = {
    [DAQ_POOL_POLICY_HEAP] = "heap",
    [DAQ_POOL_POLICY_DROP] = "drop",
    [DAQ_POOL_POLICY_WAIT] = "wait",
    NULL,
};

const char *daq_pool_policy_name(daq_pool_policy policy)
{
    return (unsigned)policy <= DAQ_POOL_POLICY_WAIT ? daq_pool_policy_names[policy] : "?";
}

int daq_pool_policy_parse(const char *s, daq_pool_policy *out)
{
    for (int i = DAQ_POOL_POLICY_HEAP; i <= DAQ_POOL_POLICY_WAIT; i++)
        if (s && strcmp(s, daq_pool_policy_names[i]) == 0) {
            *out = (daq_pool_policy)i;
            return 0;
        }
    return -1;
}

bool daq_pool_policy_valid(daq_pool_policy policy, daq_pool_policy fallback)
{
    return (unsigned)policy <= DAQ_POOL_POLICY_WAIT &&
           (fallback == DAQ_POOL_POLICY_HEAP || fallback == DAQ_POOL_POLICY_DROP);
}

const char *daq_alloc_outcome_name(daq_alloc_outcome o)
{
    static const char *const names[] = {"pool",          "pool_waited", "heap_exhausted",
                                        "heap_disabled", "dropped",     "failed"};
    return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}

static int env_says(const char *var)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return -1;
    static const char *const off[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        if (strcasecmp(v, off[i]) == 0)
            return 0;
    return 1;
}

int daq_pool_env_use_pool(const char **which)
{
    static const char *const vars[] = {"DAQ_USE_POOL", "PVCAM_USE_POOL"};
    int verdict = -1;
    const char *by = NULL;
    for (size_t i = 0; i < 2; i++) {
        int v = env_says(vars[i]);
        if (v == 0 || (v == 1 && verdict == -1)) {
            verdict = v;
            by = vars[i];
        }
        if (v == 0)
            break; /* off wins: it is the rollback lever */
    }
    if (which)
        *which = by;
    return verdict;
}

bool daq_pool_use_pool_resolve(bool configured)
{
    int env = daq_pool_env_use_pool(NULL);
    return env >= 0 ? env == 1 : configured;
}

/* ---- creation and lifetime ------------------------------------------------ */

void daq_pool_config_init(daq_pool_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->name = "pool";
    cfg->alignment = 4096;
    cfg->prefault = true;
    cfg->use_pool = true;
    cfg->policy = DAQ_POOL_POLICY_HEAP;
    cfg->wait_timeout_ms = 10;
    cfg->wait_fallback = DAQ_POOL_POLICY_HEAP;
}

static size_t round_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

/* Maps len bytes aligned to align (a multiple of the page size): private
 * anonymous memory, or fd (shared) placed over the aligned part of an
 * anonymous reservation. */
static void *map_aligned(size_t len, size_t align, int fd)
{
    size_t span = len + align;
    unsigned char *raw =
        mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    unsigned char *start = (unsigned char *)round_up((uintptr_t)raw, align);
    if (start > raw)
        munmap(raw, (size_t)(start - raw));
    size_t tail = (size_t)(raw + span - (start + len));
    if (tail)
        munmap(start + len, tail);
    if (fd >= 0 &&
        mmap(start, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        int e = errno;
        munmap(start, len);
        errno = e;
        return NULL;
    }
    return start;
}

/* A memfd of len bytes, sealable; mem_seal seals it once mapped.  -1 with
 * errno. */
static int memfd_sized(const char *kind, const char *name, size_t len)
{
    char label[64];
    snprintf(label, sizeof label, "daq-%s:%s", kind, name);
    int fd = memfd_create(label, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* After the pool's own writable mapping exists: no grow, no shrink (a
 * shrink under a reader's mapping would SIGBUS it), no writable mapping or
 * write() by anyone else (F_SEAL_FUTURE_WRITE keeps ours), no more seals.
 * A reader that maps the fd can trust its size and can only read it. */
static bool mem_seal(int fd)
{
    return fcntl(fd, F_ADD_SEALS,
                 F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) == 0;
}

static void pool_free(daq_pool *p)
{
    if (p->arena) {
        if (p->memory_locked)
            munlock(p->arena, p->arena_bytes);
        munmap(p->arena, p->arena_bytes);
    }
    if (p->memfd >= 0)
        close(p->memfd);
    if (p->headers)
        munmap(p->headers, p->header_bytes);
    if (p->header_memfd >= 0)
        close(p->header_memfd);
    free(p->frames);
    free(p->stack);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static const char *check_config(const daq_pool_config *cfg)
{
    if (cfg->slot_bytes == 0 || cfg->slot_count == 0 || cfg->slot_count > DAQ_POOL_MAX_SLOTS)
        return "slot_bytes must be > 0 and slot_count in 1..65534";
    if (cfg->alignment < 64 || (cfg->alignment & (cfg->alignment - 1)))
        return "alignment must be a power of two >= 64";
    if (!daq_pool_policy_valid(cfg->policy, cfg->wait_fallback))
        return "invalid exhaustion policy (wait_fallback must be heap or drop)";
    if (round_up(cfg->slot_bytes, cfg->alignment) > SIZE_MAX / 2 / cfg->slot_count)
        return "slot_bytes * slot_count overflows";
    return NULL;
}

/* Maps, advises, prefaults and locks the arena as configured. */
static bool arena_setup(daq_pool *p, const daq_pool_config *cfg)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t map_align = cfg->huge_pages ? HUGE_PAGE_BYTES : page;
    if (cfg->alignment > map_align)
        map_align = cfg->alignment;
    p->arena_bytes = round_up(p->stride * p->count, map_align);
    if (cfg->shareable && (p->memfd = memfd_sized("pool", p->name, p->arena_bytes)) < 0)
        return false;
    p->arena = map_aligned(p->arena_bytes, map_align, p->memfd);
    if (!p->arena || (p->memfd >= 0 && !mem_seal(p->memfd)))
        return false;
    if (cfg->huge_pages)
        p->huge_pages = madvise(p->arena, p->arena_bytes, MADV_HUGEPAGE) == 0;
    if (cfg->prefault) {
        /* One write per page makes the kernel back it now, not mid-stream. */
        for (size_t off = 0; off < p->arena_bytes; off += page)
            ((volatile unsigned char *)p->arena)[off] = 0;
        p->prefaulted = true;
    }
    if (cfg->lock_memory)
        p->memory_locked = mlock(p->arena, p->arena_bytes) == 0;
    return true;
}

/* The shared slot headers of a shareable pool: 64 bytes a slot, written
 * (and so prefaulted) here, generation 0 = never used. */
static bool headers_setup(daq_pool *p)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    p->header_bytes = round_up(sizeof(daq_slot_header) * p->count, page);
    if ((p->header_memfd = memfd_sized("slots", p->name, p->header_bytes)) < 0)
        return false;
    void *h = mmap(NULL, p->header_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, p->header_memfd, 0);
    if (h == MAP_FAILED)
        return false;
    p->headers = h;
    memset(p->headers, 0, p->header_bytes);
    return mem_seal(p->header_memfd);
}

daq_pool *daq_pool_create(const daq_pool_config *cfg, char *err, size_t err_len)
{
    const char *name = cfg->name ? cfg->name : "pool";
    const char *bad = check_config(cfg);
    if (bad) {
        daq_err(err, err_len, "pool '%s': %s", name, bad);
        return NULL;
    }
    uint32_t delay_us;
    if (daq_test_knob_read(DAQ_TEST_ALLOC_DELAY_US, 10000000,
                           "every frame allocation takes value us more", &delay_us, err,
                           err_len) != 0)
        return NULL;
    daq_pool *p = calloc(1, sizeof *p);
    if (!p) {
        daq_err(err, err_len, "pool '%s': out of memory", name);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    daq_cond_init_monotonic(&p->cv);
    p->memfd = -1;
    p->header_memfd = -1;
    p->serial = atomic_fetch_add_explicit(&pool_serials, 1, memory_order_relaxed) + 1;
    snprintf(p->name, sizeof p->name, "%s", name);
    p->count = cfg->slot_count;
    p->slot_bytes = cfg->slot_bytes;
    p->alignment = cfg->alignment;
    p->stride = round_up(cfg->slot_bytes, cfg->alignment);
    p->frames = aligned_alloc(64, round_up(sizeof(daq_frame) * p->count, 64));
    p->stack = calloc(p->count, sizeof *p->stack);
    if (!p->frames || !p->stack || !arena_setup(p, cfg) || (cfg->shareable && !headers_setup(p))) {
        daq_err(err, err_len, "pool '%s': cannot allocate %u slots of %zu bytes: %s", name,
                p->count, cfg->slot_bytes, strerror(errno));
        pool_free(p);
        return NULL;
    }
    /* Slot 0 on top: a fresh pool hands out low slots first. */
    for (uint32_t i = 0; i < p->count; i++) {
        daq_frame__init_slot(&p->frames[i], p, (int32_t)i, p->arena + (size_t)i * p->stride,
                             cfg->slot_bytes);
        p->stack[i] = p->count - 1 - i;
    }
    p->top = p->count;
    atomic_init(&p->refs, 1);
    p->test_delay_ns = (uint64_t)delay_us * 1000;

    atomic_init(&p->use_pool, daq_pool_use_pool_resolve(cfg->use_pool));
    atomic_init(&p->policy, cfg->policy);
    atomic_init(&p->wait_fallback, cfg->wait_fallback);
    atomic_init(&p->wait_timeout_ms, cfg->wait_timeout_ms);
    return p;
}

static void pool_unref(daq_pool *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&p->mu);
    p->dead = true;
    bool last = p->top == p->count;
    pthread_mutex_unlock(&p->mu);
    if (last)
        pool_free(p);
}

void daq_pool_destroy(daq_pool *p)
{
    if (!p)
        return;
    daq_pool_shutdown(p);
    pool_unref(p);
}

/* ---- the free list -------------------------------------------------------- */

/* Under mu: the most recently returned free slot, or NULL. */
static daq_frame *pop_locked(daq_pool *p)
{
    if (DAQ_UNLIKELY(p->dead))
        daq_fatal("acquire from destroyed pool '%s'", p->name);
    if (p->top == 0)
        return NULL;
    daq_frame *f = &p->frames[p->stack[--p->top]];
    uint32_t out = p->count - p->top;
    if (out > p->high_water)
        p->high_water = out;
    return f;
}

/* Hands out a popped slot: refcount 0 -> 1, checked. */
static daq_frame *slot_out(daq_pool *p, daq_frame *f)
{
    if (!f)
        return NULL;
    if (DAQ_UNLIKELY(atomic_load_explicit(&f->refcount, memory_order_relaxed) != 0))
        daq_fatal("pool '%s': free slot %d has refcount %u (a released frame was used)", p->name,
                  f->slot, atomic_load_explicit(&f->refcount, memory_order_relaxed));
    atomic_store_explicit(&f->refcount, 1, memory_order_relaxed);
    /* A full barrier: the new generation is visible before any pixel of
     * the slot's next frame (a reader checks it after reading pixels). */
    if (p->headers)
        __atomic_fetch_add(&p->headers[f->slot].generation, 1, __ATOMIC_SEQ_CST);
    return f;
}

static daq_frame *pool_pop(daq_pool *p, bool count_hit)
{
    pthread_mutex_lock(&p->mu);
    daq_frame *f = pop_locked(p);
    if (f && count_hit)
        p->hits++;
    pthread_mutex_unlock(&p->mu);
    return slot_out(p, f);
}

/* Fatal unless f is slot f->slot of p (catches forged headers). */
static void check_slot(const daq_pool *p, const daq_frame *f)
{
    if (DAQ_UNLIKELY(f->slot < 0 || (uint32_t)f->slot >= p->count || &p->frames[f->slot] != f))
        daq_fatal("foreign pointer: frame %p claims slot %d of pool '%s' but is not that slot",
                  (const void *)f, f->slot, p->name);
}

void daq_pool__slot_home(daq_pool *p, daq_frame *f)
{
    check_slot(p, f);
    pthread_mutex_lock(&p->mu);
    if (DAQ_UNLIKELY(p->top == p->count))
        daq_fatal("double return: pool '%s' got slot %d back with every slot already free", p->name,
                  f->slot);
    p->stack[p->top++] = (uint32_t)f->slot;
    p->slot_returns++;
    if (p->waiters)
        pthread_cond_signal(&p->cv);
    bool last = p->dead && p->top == p->count;
    pthread_mutex_unlock(&p->mu);
    if (last)
        pool_free(p);
}

void daq_pool__heap_gone(daq_pool *p)
{
    atomic_fetch_add_explicit(&p->heap_frees, 1, memory_order_relaxed);
    bool last = atomic_fetch_sub_explicit(&p->heap_in_use, 1, memory_order_relaxed) == 1;
    bool trim = last && atomic_load_explicit(&p->use_pool, memory_order_relaxed);
    pool_unref(p); /* may free p */
    if (trim)
        heap_trim(false); /* the heap episode is over */
}

/* ---- acquiring ------------------------------------------------------------ */

daq_frame *daq_pool_try_acquire(daq_pool *p)
{
    return pool_pop(p, false);
}

/* Waits for a slot; count_hit as in pool_pop. */
static daq_frame *pool_wait(daq_pool *p, int64_t timeout_ns, bool count_hit)
{
    struct timespec dl = daq_deadline_after(timeout_ns < 0 ? 0 : timeout_ns);
    pthread_mutex_lock(&p->mu);
    uint64_t gen = p->flush_gen;
    daq_frame *f;
    while (!(f = pop_locked(p)) && !p->shut && p->flush_gen == gen && timeout_ns != 0) {
        p->waiters++;
        int rc = timeout_ns < 0 ? pthread_cond_wait(&p->cv, &p->mu)
                                : pthread_cond_timedwait(&p->cv, &p->mu, &dl);
        p->waiters--;
        if (rc == ETIMEDOUT) {
            f = pop_locked(p);
            break;
        }
    }
    if (f && count_hit)
        p->hits++;
    pthread_mutex_unlock(&p->mu);
    return slot_out(p, f);
}

daq_frame *daq_pool_acquire(daq_pool *p, int64_t timeout_ns)
{
    return pool_wait(p, timeout_ns, false);
}

static void wake_all(daq_pool *p, bool permanent)
{
    pthread_mutex_lock(&p->mu);
    p->flush_gen++;
    if (permanent)
        p->shut = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void daq_pool_flush(daq_pool *p)
{
    wake_all(p, false);
}

void daq_pool_shutdown(daq_pool *p)
{
    wake_all(p, true);
}

/* ---- the frame path ------------------------------------------------------- */

static daq_frame *heap_frame(daq_pool *p, _Atomic uint64_t *reason, daq_alloc_outcome ok,
                             daq_alloc_outcome *o)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    daq_frame *f = daq_frame__heap_new(p, p->slot_bytes, p->alignment);
    if (!f) {
        pool_unref(p);
        count(&p->heap_failed);
        count(&p->drops);
        *o = DAQ_ALLOC_FAILED;
        return NULL;
    }
    atomic_fetch_add_explicit(&p->heap_in_use, 1, memory_order_relaxed);
    count(reason);
    *o = ok;
    return f;
}

static daq_frame *exhausted(daq_pool *p, daq_alloc_outcome *o)
{
    daq_pool_policy policy =
        (daq_pool_policy)atomic_load_explicit(&p->policy, memory_order_relaxed);
    if (policy == DAQ_POOL_POLICY_WAIT) {
        count(&p->waits);
        uint32_t ms = atomic_load_explicit(&p->wait_timeout_ms, memory_order_relaxed);
        daq_frame *f = pool_wait(p, (int64_t)ms * 1000000, true);
        if (f) {
            *o = DAQ_ALLOC_POOL_WAITED;
            return f;
        }
        count(&p->wait_timeouts);
        policy = (daq_pool_policy)atomic_load_explicit(&p->wait_fallback, memory_order_relaxed);
    }
    count(&p->misses);
    if (policy == DAQ_POOL_POLICY_DROP) {
        count(&p->drops);
        *o = DAQ_ALLOC_DROPPED;
        return NULL;
    }
    return heap_frame(p, &p->heap_exhausted, DAQ_ALLOC_HEAP_EXHAUSTED, o);
}

daq_frame *daq_pool_alloc(daq_pool *p, daq_alloc_outcome *outcome)
{
    uint64_t t0 = daq_now_ns();
    daq_alloc_outcome o = DAQ_ALLOC_POOL;
    daq_frame *f;
    if (!atomic_load_explicit(&p->use_pool, memory_order_relaxed)) {
        count(&p->disabled);
        f = heap_frame(p, &p->heap_disabled, DAQ_ALLOC_HEAP_DISABLED, &o);
    } else if (!(f = pool_pop(p, true))) {
        f = exhausted(p, &o);
    }
    if (f) {
        if (DAQ_UNLIKELY(p->test_delay_ns))
            daq_test_knob_sleep_until(t0 + p->test_delay_ns);
        daq_frame_meta_clear(&f->meta);
        uint64_t ns = daq_now_ns() - t0;
        atomic_store_explicit(&p->last_alloc_ns, ns, memory_order_relaxed);
        lat_record(f->slot == DAQ_FRAME_HEAP_SLOT ? &p->lat_heap : &p->lat_pool, ns);
    }
    if (outcome)
        *outcome = o;
    return f;
}

/* ---- settings and facts --------------------------------------------------- */

void daq_pool_set_use_pool(daq_pool *p, bool on)
{
    bool was = atomic_exchange_explicit(&p->use_pool, on, memory_order_relaxed);
    /* Leaving heap mode: the frames freed so far go back now (a consumer
     * may keep its latest frame for a long time: don't wait for it); the
     * last heap frame's return trims again. */
    if (on && !was)
        daq_pool_trim_heap(p);
}

/* The trimmer: one thread for the process, created at the first request,
 * never joined (it holds nothing but its own lock). */
static pthread_mutex_t trim_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t trim_cv = PTHREAD_COND_INITIALIZER;
static uint64_t trim_due_ns; /* under trim_mu; 0: none */
static pthread_once_t trim_once = PTHREAD_ONCE_INIT;
static bool trim_thread_ok;

static void *trimmer_main(void *arg)
{
    pthread_mutex_lock(&trim_mu);
    for (;;) {
        while (!trim_due_ns)
            pthread_cond_wait(&trim_cv, &trim_mu);
        uint64_t due = trim_due_ns;
        if (daq_now_ns() < due) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts); /* trim_cv's clock */
            uint64_t at =
                (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + (due - daq_now_ns());
            ts.tv_sec = (time_t)(at / 1000000000ull);
            ts.tv_nsec = (long)(at % 1000000000ull);
            pthread_cond_timedwait(&trim_cv, &trim_mu, &ts);
            continue;
        }
        trim_due_ns = 0;
        pthread_mutex_unlock(&trim_mu);
        heap_trim(true);
        pthread_mutex_lock(&trim_mu);
    }
    return NULL;
}

static void trimmer_start(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, trimmer_main, NULL) == 0) {
        pthread_setname_np(t, "daq-trim");
        pthread_detach(t);
        trim_thread_ok = true;
    }
}

void daq_pool_trim_heap(daq_pool *p)
{
    (void)p; /* malloc_trim is process-wide */
    heap_trim(true);
    pthread_once(&trim_once, trimmer_start);
    if (!trim_thread_ok)
        return;
    pthread_mutex_lock(&trim_mu);
    trim_due_ns = daq_now_ns() + TRIM_LATER_NS;
    pthread_cond_signal(&trim_cv);
    pthread_mutex_unlock(&trim_mu);
}

bool daq_pool_use_pool(const daq_pool *p)
{
    return atomic_load_explicit(&p->use_pool, memory_order_relaxed);
}

int daq_pool_set_policy(daq_pool *p, daq_pool_policy policy, uint32_t wait_timeout_ms,
                        daq_pool_policy fallback)
{
    if (!daq_pool_policy_valid(policy, fallback))
        return -1;
    atomic_store_explicit(&p->wait_timeout_ms, wait_timeout_ms, memory_order_relaxed);
    atomic_store_explicit(&p->wait_fallback, fallback, memory_order_relaxed);
    atomic_store_explicit(&p->policy, policy, memory_order_relaxed);
    return 0;
}

daq_pool_policy daq_pool_policy_get(const daq_pool *p, uint32_t *wait_timeout_ms,
                                    daq_pool_policy *fallback)
{
    if (wait_timeout_ms)
        *wait_timeout_ms = atomic_load_explicit(&p->wait_timeout_ms, memory_order_relaxed);
    if (fallback)
        *fallback = (daq_pool_policy)atomic_load_explicit(&p->wait_fallback, memory_order_relaxed);
    return (daq_pool_policy)atomic_load_explicit(&p->policy, memory_order_relaxed);
}

const char *daq_pool_name(const daq_pool *p)
{
    return p->name;
}

int daq_pool_memfd(const daq_pool *p)
{
    return p->memfd;
}

int daq_pool_header_memfd(const daq_pool *p)
{
    return p->header_memfd;
}

size_t daq_pool_header_bytes(const daq_pool *p)
{
    return p->header_bytes;
}

daq_slot_header *daq_pool_slot_header(daq_pool *p, uint32_t slot)
{
    if (slot >= p->count)
        daq_fatal("pool '%s': slot %u of %u", p->name, slot, p->count);
    return p->headers ? &p->headers[slot] : NULL;
}

uint64_t daq_pool_serial(const daq_pool *p)
{
    return p->serial;
}

daq_pool *daq_frame_pool(const daq_frame *f)
{
    return f->slot == DAQ_FRAME_HEAP_SLOT ? NULL : f->pool;
}

size_t daq_pool_arena_bytes(const daq_pool *p)
{
    return p->arena_bytes;
}

size_t daq_pool_slot_offset(const daq_pool *p, uint32_t slot)
{
    if (slot >= p->count)
        daq_fatal("pool '%s': slot %u of %u", p->name, slot, p->count);
    return (size_t)slot * p->stride;
}

size_t daq_pool_slot_bytes(const daq_pool *p)
{
    return p->slot_bytes;
}

uint32_t daq_pool_slot_count(const daq_pool *p)
{
    return p->count;
}

daq_frame *daq_pool_frame_of(daq_pool *p, const void *data)
{
    uintptr_t a = (uintptr_t)data, base = (uintptr_t)p->arena;
    if (a < base || a - base >= p->stride * p->count || (a - base) % p->stride != 0)
        daq_fatal("foreign pointer: %p is not the start of a slot of pool '%s'", data, p->name);
    return &p->frames[(a - base) / p->stride];
}

/* ---- metrics -------------------------------------------------------------- */

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void daq_pool_metrics_snapshot(const daq_pool *p, daq_pool_metrics *m)
{
    memset(m, 0, sizeof *m);
    daq_pool *mp = (daq_pool *)p; /* the mutex is not part of the value */
    pthread_mutex_lock(&mp->mu);
    m->hits = p->hits;
    m->slot_returns = p->slot_returns;
    m->in_use = p->count - p->top;
    m->high_water = p->high_water;
    pthread_mutex_unlock(&mp->mu);
    m->misses = LOAD(p->misses);
    m->disabled = LOAD(p->disabled);
    m->allocs = m->hits + m->misses + m->disabled;
    m->heap_exhausted = LOAD(p->heap_exhausted);
    m->heap_disabled = LOAD(p->heap_disabled);
    m->heap_failed = LOAD(p->heap_failed);
    m->drops = LOAD(p->drops);
    m->waits = LOAD(p->waits);
    m->wait_timeouts = LOAD(p->wait_timeouts);
    m->heap_frees = LOAD(p->heap_frees);
    m->returns = m->slot_returns + m->heap_frees;
    m->slot_count = p->count;
    m->heap_in_use = LOAD(p->heap_in_use);
    m->low_water_free = p->count - m->high_water;
    m->slot_bytes = p->slot_bytes;
    m->use_pool = LOAD(p->use_pool);
    m->hit_rate = m->use_pool && m->allocs ? (double)m->hits / (double)m->allocs : 0.0;
    m->prefaulted = p->prefaulted;
    m->huge_pages = p->huge_pages;
    m->memory_locked = p->memory_locked;
    m->last_alloc_ns = LOAD(p->last_alloc_ns);
    lat_read(&p->lat_pool, &m->alloc_pool);
    lat_read(&p->lat_heap, &m->alloc_heap);
}

void daq_pool_metrics_reset(daq_pool *p)
{
    _Atomic uint64_t *const counters[] = {&p->misses,        &p->disabled,      &p->heap_exhausted,
                                          &p->heap_disabled, &p->heap_failed,   &p->drops,
                                          &p->waits,         &p->wait_timeouts, &p->heap_frees};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        atomic_store_explicit(counters[i], 0, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    p->hits = 0;
    p->slot_returns = 0;
    p->high_water = p->count - p->top;
    pthread_mutex_unlock(&p->mu);
    lat_reset(&p->lat_pool);
    lat_reset(&p->lat_heap);
}
