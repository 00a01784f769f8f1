/* bench/bench_pool.c - `daq-bench pool`: what a frame slot costs, next to
 * the alternatives, all measured in this one run on this machine.
 *
 *  bookkeeping  daq raw try_acquire + last unref; the frame-path alloc with
 *               its accounting; a lock-free tagged stack (the design
 *               alternative); GStreamer's GstBufferPool (8 MiB, min=max=16)
 *  heap         glibc malloc + write every page + free, in its default mode
 *               (dynamic mmap threshold) and with the threshold pinned at
 *               128 KiB (every frame a fresh mapping)
 *  copy         8 MiB memcpy into rotating prefaulted buffers (the roofline)
 *               and into one hot buffer; alloc + copy + unref through daq,
 *               both one frame at a time (LIFO reuses one hot slot) and with
 *               15 frames held so slots rotate like the roofline buffers
 */
#define _GNU_SOURCE
#include <gst/gst.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "daq/pool.h"
#include "malloc_count.h"

#define FRAME (8u << 20)
#define PAGE  4096u
#define ROT   16 /* rotating buffers / slots for the copy figures */

/* ---- bookkeeping loops ---------------------------------------------------- */

static void raw_pairs(void *ctx, unsigned n)
{
    daq_pool *p = ctx;
    for (unsigned i = 0; i < n; i++)
        daq_frame_unref(daq_pool_try_acquire(p));
}

static void alloc_pairs(void *ctx, unsigned n)
{
    daq_pool *p = ctx;
    for (unsigned i = 0; i < n; i++)
        daq_frame_unref(daq_pool_alloc(p, NULL));
}

static void gst_pairs(void *ctx, unsigned n)
{
    GstBufferPool *pool = ctx;
    for (unsigned i = 0; i < n; i++) {
        GstBuffer *b = NULL;
        if (gst_buffer_pool_acquire_buffer(pool, &b, NULL) != GST_FLOW_OK)
            abort();
        gst_buffer_unref(b);
    }
}

/* The design alternative to daq's mutex-guarded stack: a lock-free stack of
 * slot indices with a 32-bit ABA tag in the same 64-bit head, plus the same
 * refcount handling as a daq frame.  Pop and push are each a load and a
 * dependent compare-and-swap. */
struct lockfree_stack {
    _Alignas(64) uint64_t head; /* tag << 32 | top index (0xFFFFFFFF: empty) */
    uint32_t next[16];
    uint32_t refcount[16];
};

static uint32_t lf_pop(struct lockfree_stack *s)
{
    uint64_t old = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE), nu;
    do {
        uint32_t top = (uint32_t)old;
        if (top == UINT32_MAX)
            return top;
        uint32_t next = __atomic_load_n(&s->next[top], __ATOMIC_RELAXED);
        nu = ((old >> 32) + 1) << 32 | next;
    } while (
        !__atomic_compare_exchange_n(&s->head, &old, nu, true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    return (uint32_t)old;
}

static void lf_push(struct lockfree_stack *s, uint32_t slot)
{
    uint64_t old = __atomic_load_n(&s->head, __ATOMIC_RELAXED), nu;
    do {
        __atomic_store_n(&s->next[slot], (uint32_t)old, __ATOMIC_RELAXED);
        nu = ((old >> 32) + 1) << 32 | slot;
    } while (
        !__atomic_compare_exchange_n(&s->head, &old, nu, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
}

static void lockfree_pairs(void *ctx, unsigned n)
{
    struct lockfree_stack *s = ctx;
    for (unsigned i = 0; i < n; i++) {
        uint32_t slot = lf_pop(s);
        __atomic_store_n(&s->refcount[slot], 1, __ATOMIC_RELAXED);
        if (__atomic_load_n(&s->refcount[slot], __ATOMIC_ACQUIRE) == 1)
            __atomic_store_n(&s->refcount[slot], 0, __ATOMIC_RELAXED);
        lf_push(s, slot);
    }
}

static GstBufferPool *gst_pool_new(void)
{
    GstBufferPool *pool = gst_buffer_pool_new();
    GstStructure *cfg = gst_buffer_pool_get_config(pool);
    gst_buffer_pool_config_set_params(cfg, NULL, FRAME, 16, 16);
    if (!gst_buffer_pool_set_config(pool, cfg) || !gst_buffer_pool_set_active(pool, TRUE)) {
        fprintf(stderr, "daq-bench: GstBufferPool would not start\n");
        exit(1);
    }
    return pool;
}

/* ---- heap loops ------------------------------------------------------------- */

struct per_op {
    double median_ns;
    double faults_per_op;
    double mallocs_per_op;
};

/* Times each op on its own (they take micro- to milliseconds). */
static struct per_op time_ops(void (*op)(void *), void *ctx, unsigned n)
{
    double *v = malloc(sizeof *v * n);
    op(ctx);
    op(ctx);
    long f0 = bench_minor_faults();
    uint64_t m0 = daq_malloc_count();
    for (unsigned i = 0; i < n; i++) {
        uint64_t t0 = bench_now_ns();
        op(ctx);
        v[i] = (double)(bench_now_ns() - t0);
    }
    struct per_op r = {
        .faults_per_op = (double)(bench_minor_faults() - f0) / n,
        .mallocs_per_op = (double)(daq_malloc_count() - m0) / n,
    };
    r.median_ns = bench_quantile(v, n, 0.5);
    free(v);
    return r;
}

static void malloc_touch_free(void *ctx)
{
    (void)ctx;
    volatile unsigned char *b = malloc(FRAME);
    for (size_t off = 0; off < FRAME; off += PAGE)
        b[off] = 1;
    free((void *)b);
}

/* Measures the heap path in a fresh child process, so that neither mode
 * inherits the other's heap (a pinned threshold is one-way, and chunks freed
 * in default mode would be reused instead of mapped). */
static struct per_op heap_in_child(bool pinned, unsigned n)
{
    int fds[2];
    struct per_op r = {-1, -1, -1};
    if (pipe(fds) != 0)
        return r;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        if (pinned)
            mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        r = time_ops(malloc_touch_free, NULL, n);
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[1]);
    if (pid > 0) {
        if (read(fds[0], &r, sizeof r) != (ssize_t)sizeof r)
            r = (struct per_op){-1, -1, -1};
        waitpid(pid, NULL, 0);
    }
    close(fds[0]);
    return r;
}

/* ---- copy loops -------------------------------------------------------------- */

struct copy_ctx {
    const unsigned char *src;
    unsigned char *dst[ROT];
    unsigned next;
    daq_pool *pool;
    daq_frame *held[ROT];
    unsigned held_n, held_head;
};

static void memcpy_rotating(void *ctx)
{
    struct copy_ctx *c = ctx;
    memcpy(c->dst[c->next++ % ROT], c->src, FRAME);
}

static void memcpy_hot(void *ctx)
{
    struct copy_ctx *c = ctx;
    memcpy(c->dst[0], c->src, FRAME);
}

static void pool_copy_one(void *ctx)
{
    struct copy_ctx *c = ctx;
    daq_frame *f = daq_pool_alloc(c->pool, NULL);
    memcpy(daq_frame_data(f), c->src, FRAME);
    daq_frame_unref(f);
}

/* Keeps ROT-1 frames in flight, releasing the oldest: the copies rotate over
 * ROT slots, as in the roofline. */
static void pool_copy_rotating(void *ctx)
{
    struct copy_ctx *c = ctx;
    daq_frame *f = daq_pool_alloc(c->pool, NULL);
    memcpy(daq_frame_data(f), c->src, FRAME);
    if (c->held_n == ROT - 1) {
        daq_frame_unref(c->held[c->held_head]);
        c->held[c->held_head] = f;
        c->held_head = (c->held_head + 1) % (ROT - 1);
    } else {
        c->held[c->held_n++] = f;
    }
}

static daq_pool *pool_new(uint32_t slots)
{
    daq_pool_config cfg;
    daq_pool_config_init(&cfg);
    cfg.name = "bench";
    cfg.slot_bytes = FRAME;
    cfg.slot_count = slots;
    char err[256];
    daq_pool *p = daq_pool_create(&cfg, err, sizeof err);
    if (!p) {
        fprintf(stderr, "daq-bench: %s\n", err);
        exit(1);
    }
    return p;
}

int bench_pool_main(int argc, char **argv);

int bench_pool_main(int argc, char **argv)
{
    bool json = false;
    unsigned pairs = 2000000, copies = 300;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc)
            pairs = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--copies") == 0 && i + 1 < argc)
            copies = (unsigned)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: daq-bench pool [--json] [--pairs N>=1000000] [--copies N]\n");
            return 2;
        }
    }
    if (getenv("DAQ_USE_POOL") || getenv("PVCAM_USE_POOL"))
        fprintf(stderr,
                "daq-bench: note: DAQ_USE_POOL/PVCAM_USE_POOL set; unset for pool figures\n");
    unsetenv("DAQ_USE_POOL");
    unsetenv("PVCAM_USE_POOL");
    int cpu = bench_pin();
    /* The heap first, in children forked before GStreamer starts threads. */
    struct per_op dyn = heap_in_child(false, 2000);
    struct per_op pin = heap_in_child(true, 100);
    gst_init(NULL, NULL);

    const unsigned per_batch = 100, batches = (pairs + per_batch - 1) / per_batch;
    double med, p99;

    /* Bookkeeping: 16 slots of 8 MiB, as the GStreamer pool. */
    daq_pool *p = pool_new(16);
    bench_batches(raw_pairs, p, batches, per_batch, &med, &p99);
    double daq_ns = med;
    bench_result("daq_pool_ns", med, "ns", "try_acquire + last unref, median of 100-pair batches");
    bench_result("daq_pool_p99_ns", p99, "ns", "same, 99th percentile batch");
    bench_batches(alloc_pairs, p, batches, per_batch, &med, &p99);
    bench_result("daq_alloc_ns", med, "ns", "daq_pool_alloc (policy + 2 clock reads) + unref");
    bench_result("daq_alloc_p99_ns", p99, "ns", "same, 99th percentile batch");

    static struct lockfree_stack lf;
    for (uint32_t i = 0; i < 16; i++)
        lf.next[i] = i + 1 < 16 ? i + 1 : UINT32_MAX;
    lf.head = 0;
    bench_batches(lockfree_pairs, &lf, batches, per_batch, &med, &p99);
    bench_result("lockfree_stack_ns", med, "ns",
                 "design alternative: tagged lock-free index stack, pop + push");
    bench_result("ratio_vs_lockfree", daq_ns / med, "x", "daq_pool_ns / lockfree_stack_ns");

    GstBufferPool *gp = gst_pool_new();
    bench_batches(gst_pairs, gp, batches, per_batch, &med, &p99);
    bench_result("gst_pool_ns", med, "ns", "GstBufferPool acquire + unref, 8 MiB, min=max=16");
    bench_result("gst_pool_p99_ns", p99, "ns", "same, 99th percentile batch");
    bench_result("ratio_vs_gst", daq_ns / med, "x", "daq_pool_ns / gst_pool_ns (target <= 0.2)");
    gst_buffer_pool_set_active(gp, FALSE);
    gst_object_unref(gp);

    /* Copies. */
    struct copy_ctx c = {0};
    unsigned char *src = aligned_alloc(PAGE, FRAME);
    bench_prefault(src, FRAME);
    c.src = src;
    for (unsigned i = 0; i < ROT; i++) {
        c.dst[i] = aligned_alloc(PAGE, FRAME);
        bench_prefault(c.dst[i], FRAME);
    }
    struct per_op roof = time_ops(memcpy_rotating, &c, copies);
    struct per_op hot = time_ops(memcpy_hot, &c, copies);
    daq_pool_destroy(p);
    c.pool = pool_new(ROT + 1);
    struct per_op one = time_ops(pool_copy_one, &c, copies);
    struct per_op rot = time_ops(pool_copy_rotating, &c, copies);
    for (unsigned i = 0; i < c.held_n; i++)
        daq_frame_unref(c.held[i]);
    daq_pool_metrics pm;
    daq_pool_metrics_snapshot(c.pool, &pm);
    daq_pool_destroy(c.pool);
    bench_result("roofline_ms", roof.median_ns / 1e6, "ms",
                 "memcpy 8 MiB into 16 rotating prefaulted buffers (DRAM-bound)");
    bench_result("roofline_hot_ms", hot.median_ns / 1e6, "ms", "memcpy 8 MiB into one hot buffer");
    bench_result("pool_copy_ms", one.median_ns / 1e6, "ms",
                 "alloc + 8 MiB copy + unref; LIFO hands back the same hot slot");
    bench_result("ratio_vs_roofline", one.median_ns / roof.median_ns, "x",
                 "pool_copy_ms / roofline_ms (target <= 1.05)");
    bench_result("ratio_vs_hot", one.median_ns / hot.median_ns, "x",
                 "pool_copy_ms / roofline_hot_ms: overhead over a bare hot copy");
    bench_result("pool_copy_rotating_ms", rot.median_ns / 1e6, "ms",
                 "same with 15 frames held: copies rotate over 16 slots");
    bench_result("ratio_rotating_vs_roofline", rot.median_ns / roof.median_ns, "x",
                 "pool_copy_rotating_ms / roofline_ms: like for like");
    bench_result("faults_per_frame_pool", (one.faults_per_op + rot.faults_per_op) / 2, "",
                 "minor faults per frame, both pool copy loops");
    bench_result("mallocs_per_frame_pool", (one.mallocs_per_op + rot.mallocs_per_op) / 2, "",
                 "heap allocations per frame (interposer), both loops");
    bench_result("pool_hit_rate", pm.hit_rate, "", "pool hit rate over the copy loops");

    bench_result("malloc_dynamic_ns", dyn.median_ns, "ns",
                 "glibc default mode (dynamic mmap threshold): malloc + touch pages + free");
    bench_result("faults_per_frame_heap_dynamic", dyn.faults_per_op, "", "");
    bench_result("malloc_pinned_ns", pin.median_ns, "ns",
                 "M_MMAP_THRESHOLD=131072: mmap + fault every page + munmap");
    bench_result("faults_per_frame_heap_pinned", pin.faults_per_op, "", "");
    bench_result_str("malloc_modes", "dynamic=glibc default; pinned=M_MMAP_THRESHOLD 131072", "");

    char where[64];
    snprintf(where, sizeof where, "cpu %d of %ld, %s", cpu, sysconf(_SC_NPROCESSORS_ONLN),
             daq_malloc_count_mechanism());
    bench_result_str("pinned_to", where, "");
    bench_print("daq-bench pool: 8 MiB frames", json);

    for (unsigned i = 0; i < ROT; i++)
        free(c.dst[i]);
    free(src);
    return 0;
}
