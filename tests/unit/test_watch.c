/* tests/unit/test_watch.c - the rollback symptom watch's judgement
 * (src/devices/watch_eval.c) driven with synthetic samples and a fake
 * clock, and the [rollback] table of the config.
 *
 * The clock is plain numbers: T(s) is s seconds after an arbitrary
 * monotonic origin (not 0, which means "never" in the module).  The
 * config is small on purpose: window 10 s, warm-up 5 s, clear 3 s,
 * interval 1 s, thresholds 0 exhaustion/min, 1000 us, 0 lost frames,
 * RSS 10 % / 20 %, auto after 4 s.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "daq/config.h"
#include "daq/watch.h"
#include "devices/watch_eval.h"
#include "test_main.h"

#define S      1000000000ull
#define T(s)   (1000 * S + (uint64_t)((s) * (double)S))
#define ROSE   (1u << 0)
#define EXH    0
#define SLOW   1
#define LOSS   2
#define CLR(i) (1u << (WATCH_CLEARED_SHIFT + (i)))

static daq_config_rollback small_cfg(void)
{
    daq_config_rollback c;
    daq_config_rollback_init(&c);
    c.interval_ms = 1000;
    c.window_s = 10;
    c.warmup_s = 5;
    c.clear_s = 3;
    c.auto_after_s = 4;
    return c;
}

/* A stream started at T(0) with the given counters at time t. */
static watch_cam_sample at(double t, uint64_t streams, uint64_t misses, uint64_t lost)
{
    return (watch_cam_sample){
        .t_ns = T(t), .streams = streams, .stream_start_ns = T(0), .misses = misses, .lost = lost};
}

static void cam_up(watch_cam *c)
{
    daq_config_rollback cfg = small_cfg();
    assert_int_equal(watch_cam_init(c, &cfg), 0);
}

/* Feeds samples every second from t0 to t1 (inclusive) with constant
 * counters; returns the OR of the changes. */
static unsigned feed_flat(watch_cam *c, int t0, int t1, uint64_t streams, uint64_t misses,
                          uint64_t lost)
{
    unsigned ch = 0;
    for (int t = t0; t <= t1; t++) {
        watch_cam_sample s = at(t, streams, misses, lost);
        ch |= watch_cam_step(c, &s);
    }
    return ch;
}

static void rises_above_threshold(void **state)
{
    (void)state;
    watch_cam c;
    cam_up(&c);
    assert_int_equal(feed_flat(&c, 0, 8, 1, 0, 0), 0); /* warm, nothing happens */
    watch_cam_sample s = at(9, 1, 2, 0);               /* two exhaustion events */
    assert_int_equal(watch_cam_step(&c, &s), 1u << EXH);
    assert_true(c.sym[EXH].s.active);
    assert_true(c.sym[EXH].s.value > 11.9 && c.sym[EXH].s.value < 12.1); /* 2 / 10 s * 60 */
    assert_int_equal(c.sym[EXH].s.raised_total, 1);
    assert_int_equal(c.sym[EXH].s.since_ns, T(9));
    assert_false(c.sym[SLOW].s.active);
    assert_false(c.sym[LOSS].s.active);
    /* alloc_slow: 10 allocations of 2 ms each; frame loss: 1 lost */
    s = at(10, 1, 2, 1);
    s.alloc_count = 10;
    s.alloc_sum_ns = 10 * 2000000ull;
    assert_int_equal(watch_cam_step(&c, &s), (1u << SLOW) | (1u << LOSS));
    assert_true(c.sym[SLOW].s.value > 1999.0 && c.sym[SLOW].s.value < 2001.0);
    assert_true(c.sym[LOSS].s.value == 1.0);
    /* at the threshold is not above it: 1 ms mean does not raise alloc_slow */
    watch_cam d;
    cam_up(&d);
    feed_flat(&d, 0, 6, 1, 0, 0);
    s = at(7, 1, 0, 0);
    s.alloc_count = 4;
    s.alloc_sum_ns = 4 * 1000000ull;
    assert_int_equal(watch_cam_step(&d, &s), 0);
    assert_false(d.sym[SLOW].s.active);
    watch_cam_free(&d);
    watch_cam_free(&c);
}

static void no_rise_during_warmup(void **state)
{
    (void)state;
    watch_cam c;
    cam_up(&c);
    /* exhaustion at every second of the first 4 s: warm-up, not counted */
    unsigned ch = 0;
    for (int t = 0; t <= 4; t++) {
        watch_cam_sample s = at(t, 1, (uint64_t)t * 5, (uint64_t)t);
        ch |= watch_cam_step(&c, &s);
    }
    assert_int_equal(ch, 0);
    /* warm from T(5): the counters as they are then are the baseline */
    ch = feed_flat(&c, 5, 9, 1, 20, 4);
    assert_int_equal(ch, 0);
    assert_false(c.sym[EXH].s.active);
    assert_true(c.sym[EXH].s.value == 0.0);
    /* a real event after warm-up does raise it */
    watch_cam_sample s = at(10, 1, 21, 4);
    assert_int_equal(watch_cam_step(&c, &s), 1u << EXH);
    watch_cam_free(&c);
}

static void hysteresis_holds_until_clear_s(void **state)
{
    (void)state;
    watch_cam c;
    cam_up(&c);
    feed_flat(&c, 0, 6, 1, 0, 0);
    watch_cam_sample s = at(7, 1, 0, 1);
    assert_int_equal(watch_cam_step(&c, &s), 1u << LOSS);
    /* the loss happened between T(6) and T(7): it is in the window while
     * the T(6) sample is (until T(16)); active all along */
    assert_int_equal(feed_flat(&c, 8, 16, 1, 0, 1), 0);
    assert_true(c.sym[LOSS].s.active);
    assert_true(c.sym[LOSS].s.value == 1.0);
    /* T(17): value 0, below since then; it clears clear_s = 3 s later,
     * at T(20), not before */
    assert_int_equal(feed_flat(&c, 17, 19, 1, 0, 1), 0);
    assert_true(c.sym[LOSS].s.active);
    assert_true(c.sym[LOSS].s.value == 0.0);
    /* a new loss within clear_s restarts the wait */
    s = at(19.5, 1, 0, 2);
    assert_int_equal(watch_cam_step(&c, &s), 0);
    assert_true(c.sym[LOSS].s.active);
    assert_int_equal(c.sym[LOSS].s.raised_total, 1); /* the same episode */
    /* in the window while T(19) is (to T(29)); below from T(30); cleared at T(33) */
    assert_int_equal(feed_flat(&c, 20, 32, 1, 0, 2), 0);
    assert_true(c.sym[LOSS].s.active);
    assert_int_equal(feed_flat(&c, 33, 33, 1, 0, 2), CLR(LOSS));
    assert_false(c.sym[LOSS].s.active);
    watch_cam_free(&c);
}

static void stopped_stream_window_ages(void **state)
{
    (void)state;
    watch_cam c;
    cam_up(&c);
    feed_flat(&c, 0, 6, 1, 0, 0);
    watch_cam_sample s = at(7, 1, 3, 0);
    assert_int_equal(watch_cam_step(&c, &s), 1u << EXH);
    /* the engine goes away (down): ticks without samples age the window */
    unsigned ch = 0;
    int cleared_at = -1;
    for (int t = 8; t <= 30 && cleared_at < 0; t++) {
        ch = watch_cam_idle(&c, T(t));
        if (ch & CLR(EXH))
            cleared_at = t;
    }
    /* the event (between T(6) and T(7)) leaves the window with the T(6)
     * sample at T(17); cleared clear_s = 3 s after that */
    assert_int_equal(cleared_at, 20);
    /* a stopped stream (same counters, still sampled) ages the same way */
    watch_cam d;
    cam_up(&d);
    feed_flat(&d, 0, 6, 1, 0, 0);
    s = at(7, 1, 3, 0);
    watch_cam_step(&d, &s);
    cleared_at = -1;
    for (int t = 8; t <= 30 && cleared_at < 0; t++) {
        s = at(t, 1, 3, 0);
        if (watch_cam_step(&d, &s) & CLR(EXH))
            cleared_at = t;
    }
    assert_int_equal(cleared_at, 20);
    watch_cam_free(&d);
    watch_cam_free(&c);
}

static void new_stream_resets_counters(void **state)
{
    (void)state;
    watch_cam c;
    cam_up(&c);
    feed_flat(&c, 0, 9, 1, 50, 5); /* warm at T(5) with high counters */
    assert_false(c.sym[EXH].s.active);
    /* a second stream (streams 2, counters from 0) at T(10): no negative
     * delta, no rise, and it warms up again */
    watch_cam_sample s = {.t_ns = T(10), .streams = 2, .stream_start_ns = T(10)};
    assert_int_equal(watch_cam_step(&c, &s), 0);
    for (int t = 11; t <= 14; t++) { /* in its warm-up: events do not count */
        s = (watch_cam_sample){.t_ns = T(t),
                               .streams = 2,
                               .stream_start_ns = T(10),
                               .misses = (uint64_t)t,
                               .lost = (uint64_t)t};
        assert_int_equal(watch_cam_step(&c, &s), 0);
    }
    /* counters going down without a streams change is a new stream too
     * (a missed start): a reset, not a huge unsigned delta */
    s = (watch_cam_sample){.t_ns = T(15), .streams = 2, .stream_start_ns = 0, .misses = 1};
    assert_int_equal(watch_cam_step(&c, &s), 0);
    assert_true(c.sym[EXH].s.value == 0.0);
    assert_int_equal(c.start_ns, T(15));
    /* not warm until T(20) */
    s = (watch_cam_sample){.t_ns = T(19), .streams = 2, .misses = 9};
    assert_int_equal(watch_cam_step(&c, &s), 0);
    s = (watch_cam_sample){.t_ns = T(20), .streams = 2, .misses = 9};
    assert_int_equal(watch_cam_step(&c, &s), 0);
    s = (watch_cam_sample){.t_ns = T(21), .streams = 2, .misses = 10};
    assert_int_equal(watch_cam_step(&c, &s), 1u << EXH);
    watch_cam_free(&c);
}

static void rss_baseline_after_warmup(void **state)
{
    (void)state;
    daq_config_rollback cfg = small_cfg();
    watch_proc p;
    watch_proc_init(&p, &cfg);
    const uint64_t MB = 1u << 20;
    /* no stream yet: huge growth means nothing */
    assert_int_equal(watch_proc_step(&p, T(0), 100 * MB), 0);
    assert_int_equal(watch_proc_step(&p, T(1), 500 * MB), 0);
    assert_int_equal(p.base_rss, 0);
    watch_proc_stream_seen(&p, T(2));
    /* growth during warm-up (to T(7)) is not judged; the baseline is the
     * first sample at or after T(7) */
    assert_int_equal(watch_proc_step(&p, T(6), 900 * MB), 0);
    assert_int_equal(p.base_rss, 0);
    assert_int_equal(watch_proc_step(&p, T(7), 1000 * MB), 0);
    assert_int_equal(p.base_rss, 1000 * MB);
    /* a later stream does not move the baseline */
    watch_proc_stream_seen(&p, T(8));
    assert_int_equal(watch_proc_step(&p, T(8), 1100 * MB), 0);    /* 10 %: not above */
    assert_int_equal(watch_proc_step(&p, T(9), 1150 * MB), ROSE); /* warn only */
    assert_true(p.sym[0].s.active);
    assert_false(p.sym[1].s.active);
    assert_int_equal(watch_proc_step(&p, T(10), 1250 * MB), 1u << 1);
    assert_true(p.sym[1].s.value > 24.9 && p.sym[1].s.value < 25.1);
    assert_int_equal(p.base_rss, 1000 * MB);
    /* back down: both clear clear_s later */
    assert_int_equal(watch_proc_step(&p, T(11), 1000 * MB), 0);
    assert_int_equal(watch_proc_step(&p, T(13), 1000 * MB), 0);
    assert_int_equal(watch_proc_step(&p, T(14), 1000 * MB), CLR(0) | CLR(1));
}

static void auto_due_after_auto_after_s(void **state)
{
    (void)state;
    watch_cam c;
    cam_up(&c);
    feed_flat(&c, 0, 6, 1, 0, 0);
    assert_int_equal(watch_cam_auto_due(&c, T(6)), -1);
    uint64_t misses = 0;
    int due_at = -1;
    for (int t = 7; t <= 20 && due_at < 0; t++) {
        watch_cam_sample s = at(t, 1, ++misses, 0); /* one event a second */
        watch_cam_step(&c, &s);
        if (watch_cam_auto_due(&c, T(t)) >= 0)
            due_at = t;
    }
    assert_int_equal(due_at, 11); /* rose at T(7), + auto_after_s 4 */
    assert_int_equal(watch_cam_auto_due(&c, T(11)), EXH);
    watch_cam_free(&c);
}

/* ---- [rollback] in the config ------------------------------------------------------ */

static void expect_error(const char *text, const char *want)
{
    daq_config *cfg = malloc(sizeof *cfg);
    assert_non_null(cfg);
    char err[256] = "";
    assert_int_equal(daq_config_load_text(text, strlen(text), "hw.toml", cfg, err, sizeof err), -1);
    assert_string_equal(err, want);
    free(cfg);
}

static void config_defaults_and_values(void **state)
{
    (void)state;
    daq_config *cfg = malloc(sizeof *cfg);
    assert_non_null(cfg);
    char err[256] = "";
    assert_int_equal(daq_config_load_text("", 0, "hw.toml", cfg, err, sizeof err), 0);
    const daq_config_rollback *r = &cfg->rollback;
    assert_true(r->enabled);
    assert_int_equal(r->interval_ms, 1000);
    assert_int_equal(r->window_s, 60);
    assert_int_equal(r->warmup_s, 30);
    assert_int_equal(r->clear_s, 10);
    assert_true(r->exhaustion_per_min == 0 && r->avg_alloc_us == 1000);
    assert_int_equal(r->frame_loss, 0);
    assert_true(r->rss_warn_pct == 10 && r->rss_rollback_pct == 20);
    assert_false(r->auto_rollback);
    assert_int_equal(r->auto_after_s, 5);
    const char *t = "[rollback]\nenabled = false\ninterval_ms = 250\nwindow_s = 5\nwarmup_s = 2\n"
                    "clear_s = 2\nexhaustion_per_min = 1.5\navg_alloc_us = 800\nframe_loss = 3\n"
                    "rss_warn_pct = 15\nrss_rollback_pct = 30\nauto = true\nauto_after_s = 1\n";
    assert_int_equal(daq_config_load_text(t, strlen(t), "hw.toml", cfg, err, sizeof err), 0);
    assert_false(r->enabled);
    assert_int_equal(r->interval_ms, 250);
    assert_int_equal(r->window_s, 5);
    assert_int_equal(r->warmup_s, 2);
    assert_int_equal(r->clear_s, 2);
    assert_true(r->exhaustion_per_min == 1.5 && r->avg_alloc_us == 800);
    assert_int_equal(r->frame_loss, 3);
    assert_true(r->rss_warn_pct == 15 && r->rss_rollback_pct == 30);
    assert_true(r->auto_rollback);
    assert_int_equal(r->auto_after_s, 1);
    free(cfg);
}

static void config_bad_values(void **state)
{
    (void)state;
    expect_error("[rollback]\ninterval_ms = 10\n",
                 "hw.toml:2:15: rollback.interval_ms: 10 is out of range [50, 60000]");
    expect_error("[rollback]\nwindow_s = 0\n",
                 "hw.toml:2:12: rollback.window_s: 0 is out of range [1, 3600]");
    expect_error("[rollback]\nwarmup_s = 3601\n",
                 "hw.toml:2:12: rollback.warmup_s: 3601 is out of range [0, 3600]");
    expect_error("[rollback]\navg_alloc_us = -1\n",
                 "hw.toml:2:16: rollback.avg_alloc_us: -1 is out of range [0, 10000000]");
    expect_error("[rollback]\nexhaustion_per_min = \"x\"\n",
                 "hw.toml:2:22: rollback.exhaustion_per_min: expected float, found string");
    expect_error("[rollback]\nauto = 1\n",
                 "hw.toml:2:8: rollback.auto: expected bool, found integer");
    expect_error("[rollback]\nauto_after = 1\n", "hw.toml:2:1: rollback.auto_after: unknown key");
    expect_error("rollback = 1\n", "hw.toml:1:12: rollback: expected table, found integer");
}

static void symptom_names(void **state)
{
    (void)state;
    assert_string_equal(daq_symptom_names[DAQ_SYMPTOM_POOL_EXHAUSTED], "pool_exhausted");
    assert_string_equal(daq_symptom_names[DAQ_SYMPTOM_ALLOC_SLOW], "alloc_slow");
    assert_string_equal(daq_symptom_names[DAQ_SYMPTOM_FRAME_LOSS], "frame_loss");
    assert_string_equal(daq_symptom_names[DAQ_SYMPTOM_RSS_GROWTH_WARN], "rss_growth_warn");
    assert_string_equal(daq_symptom_names[DAQ_SYMPTOM_RSS_GROWTH], "rss_growth");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rises_above_threshold),
        cmocka_unit_test(no_rise_during_warmup),
        cmocka_unit_test(hysteresis_holds_until_clear_s),
        cmocka_unit_test(stopped_stream_window_ages),
        cmocka_unit_test(new_stream_resets_counters),
        cmocka_unit_test(rss_baseline_after_warmup),
        cmocka_unit_test(auto_due_after_auto_after_s),
        cmocka_unit_test(config_defaults_and_values),
        cmocka_unit_test(config_bad_values),
        cmocka_unit_test(symptom_names),
    };
    return daq_test_main(argc, argv, "watch", tests, sizeof tests / sizeof tests[0]);
}
