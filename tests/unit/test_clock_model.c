/* Unit tests of the camera clock model (src/acq/clock_model.c) against
 * synthetic clocks with a known truth: a camera clock that runs drift_ppm
 * fast, as the sim's (host = host0 + (cam - cam0) / (1 + drift) +
 * latency), the latency exponential (mean 30 us) with 5 ms spikes in 3 %
 * of the pairs.  The values sit near 1e18 ns on purpose: a fit done
 * in absolute doubles would lose ~100 ns there.  Every stream is seeded, so
 * a failure repeats. */
#include <math.h>
#include <stdint.h>

#include "test_main.h"
#include "acq/clock_model.h"

typedef struct synth {
    uint64_t rng;
    uint64_t cam0, host0; /* the first pair's truth */
    uint64_t cam;         /* the next camera time */
    double host_at_cam;   /* host truth (no latency) at `cam`, relative to host0 */
    double drift_ppm;
    uint64_t period_ns;
    double latency_mean_ns;
    double spike_frac; /* share of pairs delayed by a 5 ms spike */
} synth;

static double uniform01(synth *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return ((double)(s->rng >> 11) + 1.0) / 9007199254740993.0; /* (0, 1] */
}

static void synth_init(synth *s, double drift_ppm, uint64_t period_ns, uint64_t seed)
{
    s->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    s->cam0 = s->cam = 1700000000000000000ull;
    s->host0 = 900000000000000000ull + 12345;
    s->host_at_cam = 0;
    s->drift_ppm = drift_ppm;
    s->period_ns = period_ns;
    s->latency_mean_ns = 30000;
    s->spike_frac = 0.03;
}

/* The host time the truth gives camera time c (c within the stream). */
static double truth(const synth *s, uint64_t c)
{
    /* host_at_cam is truth at s->cam; step back (or on) at the current rate */
    double dc = (double)(int64_t)(c - s->cam);
    return (double)s->host0 + s->host_at_cam + dc / (1 + s->drift_ppm * 1e-6);
}

/* The next pair; the drift may change between calls (a continuous clock). */
static void synth_next(synth *s, uint64_t *cam, uint64_t *host)
{
    double lat = -s->latency_mean_ns * log(uniform01(s));
    if (uniform01(s) < s->spike_frac)
        lat += 5e6;
    *cam = s->cam;
    *host = s->host0 + (uint64_t)llround(s->host_at_cam + lat);
    s->cam += s->period_ns;
    s->host_at_cam += (double)s->period_ns / (1 + s->drift_ppm * 1e-6);
}

static void synth_feed(daq_clock_model *m, synth *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t cam, host;
        synth_next(s, &cam, &host);
        daq_clock_model_add(m, cam, host);
    }
}

/* The fit's drift within 1 % of the truth, and map() within residual + 1 us
 * of the truth over the last `span_ns` of the stream, where the frames the
 * engine maps are (the newest sixteenth of the window). */
static void check_fit(const daq_clock_model *m, const synth *s, uint64_t span_ns)
{
    daq_clock_fit fit;
    daq_clock_model_fit(m, &fit);
    assert_true(fit.valid);
    if (getenv("CLOCK_MODEL_VERBOSE"))
        printf("drift %.4f (truth %.1f) residual %.0f ns\n", fit.drift_ppm, s->drift_ppm,
               fit.residual_ns);
    assert_true(fabs(fit.drift_ppm - s->drift_ppm) <= 0.01 * fabs(s->drift_ppm));
    assert_true(fit.residual_ns > 0 && fit.residual_ns < 20000);
    for (uint64_t back = s->period_ns; back <= span_ns; back += span_ns / 16) {
        uint64_t c = s->cam - back, host;
        assert_true(daq_clock_model_map(m, c, &host));
        double err = (double)host - truth(s, c);
        if (fabs(err) > fit.residual_ns + 1000)
            fail_msg("map error %.0f ns at %.3f s back (residual %.0f ns)", err, back * 1e-9,
                     fit.residual_ns);
    }
}

static void drift_50ppm(void **state)
{
    daq_clock_model *m = daq_clock_model_create(0);
    assert_non_null(m);
    synth s;
    synth_init(&s, 50, 10000000, 1); /* 100 fps */
    synth_feed(m, &s, 1000);         /* 10 s */
    check_fit(m, &s, 600000000ull);
    daq_clock_fit fit;
    daq_clock_model_fit(m, &fit);
    assert_int_equal(fit.pairs, 1000);
    /* host at camera 0 from the truth: host0 - cam0 / (1 + drift); the
     * drift's error times 1.7e18 ns of camera time dominates */
    double want = (double)s.host0 - (double)s.cam0 / (1 + 50e-6);
    double slack = (double)s.cam0 * fabs(fit.drift_ppm - 50) * 1e-6 + 1e6;
    assert_true(fabs(fit.offset_ns - want) < slack);
    daq_clock_model_destroy(m);
}

static void drift_200ppm_both_signs(void **state)
{
    for (int sign = -1; sign <= 1; sign += 2) {
        daq_clock_model *m = daq_clock_model_create(0);
        synth s;
        synth_init(&s, 200.0 * sign, 5000000, 2 + (uint64_t)(sign + 1)); /* 200 fps */
        s.host0 += 3000000000ull;                                        /* an offset of 3 s more */
        synth_feed(m, &s, 1600);                                         /* 8 s */
        check_fit(m, &s, 500000000ull);
        daq_clock_model_destroy(m);
    }
}

/* One pair in five delayed by 5 ms: the envelope ignores them all. */
static void spikes_do_not_pull(void **state)
{
    daq_clock_model *m = daq_clock_model_create(0);
    synth s;
    synth_init(&s, 80, 10000000, 4);
    s.spike_frac = 0.2;
    synth_feed(m, &s, 800);
    check_fit(m, &s, 500000000ull);
    daq_clock_fit fit;
    daq_clock_model_fit(m, &fit);
    assert_true(fit.residual_ns < 5000); /* the spikes are not in the residual either */
    daq_clock_model_destroy(m);
}

/* No fit before 8 bins over 200 ms of camera time. */
static void valid_needs_span_and_bins(void **state)
{
    daq_clock_model *m = daq_clock_model_create(0);
    uint64_t host;
    daq_clock_fit fit;
    daq_clock_model_fit(m, &fit);
    assert_false(fit.valid);
    assert_int_equal(fit.pairs, 0);
    assert_false(daq_clock_model_map(m, 1, &host));

    synth s;
    synth_init(&s, 50, 1000000, 5); /* 1 kHz */
    synth_feed(m, &s, 190);         /* 189 ms */
    daq_clock_model_fit(m, &fit);
    assert_false(fit.valid);
    assert_int_equal(fit.pairs, 190);
    assert_false(daq_clock_model_map(m, s.cam, &host));
    synth_feed(m, &s, 30); /* 219 ms: valid within the refit period (entries / 64) */
    daq_clock_model_fit(m, &fit);
    assert_true(fit.valid);
    assert_true(daq_clock_model_map(m, s.cam, &host));

    /* 4 pairs spanning 1 s: the span is there, 8 bins are not */
    daq_clock_model_reset(m);
    for (int i = 0; i < 4; i++)
        daq_clock_model_add(m, 1000000000ull + i * 333333333ull, 5000000000ull + i * 333333333ull);
    daq_clock_model_fit(m, &fit);
    assert_false(fit.valid);
    assert_int_equal(fit.pairs, 4);
    daq_clock_model_destroy(m);
}

/* A camera time going backwards (the camera clock restarted) forgets the
 * old pairs: the new stream's drift alone is fitted. */
static void backwards_resets(void **state)
{
    daq_clock_model *m = daq_clock_model_create(0);
    synth s;
    synth_init(&s, 150, 10000000, 6);
    synth_feed(m, &s, 500);
    check_fit(m, &s, 300000000ull);

    synth t;
    synth_init(&t, -120, 10000000, 7);
    t.cam0 = t.cam = s.cam0 - 1000000000ull; /* before every pair seen so far */
    t.host0 = s.host0 + 6000000000ull;
    synth_feed(m, &t, 1);
    daq_clock_fit fit;
    daq_clock_model_fit(m, &fit);
    assert_false(fit.valid);
    assert_int_equal(fit.pairs, 1);
    uint64_t host;
    assert_false(daq_clock_model_map(m, t.cam, &host));
    synth_feed(m, &t, 599);
    check_fit(m, &t, 370000000ull);
    daq_clock_model_fit(m, &fit);
    assert_int_equal(fit.pairs, 600);

    /* reset() forgets as well */
    daq_clock_model_reset(m);
    daq_clock_model_fit(m, &fit);
    assert_false(fit.valid);
    assert_int_equal(fit.pairs, 0);
    daq_clock_model_destroy(m);
}

/* A 64-entry window sliding over pairs 200 ms apart (12.8 s > the 10 s the
 * model compacts below): once the window has passed a drift change, only
 * the new drift is fitted. */
static void window_wraps(void **state)
{
    daq_clock_model *m = daq_clock_model_create(64);
    synth s;
    synth_init(&s, 50, 200000000, 8);
    s.latency_mean_ns = 2000; /* 4 pairs per bin here: less noise per point */
    s.spike_frac = 0;
    synth_feed(m, &s, 300);
    check_fit(m, &s, 800000000ull);
    s.drift_ppm = -100;
    synth_feed(m, &s, 32); /* half the window: a mix, neither drift */
    daq_clock_fit fit;
    daq_clock_model_fit(m, &fit);
    assert_true(fit.drift_ppm > -99 && fit.drift_ppm < 49);
    synth_feed(m, &s, 200);
    check_fit(m, &s, 800000000ull);
    daq_clock_model_fit(m, &fit);
    assert_int_equal(fit.pairs, 532);
    daq_clock_model_destroy(m);
}

/* 2 kHz into a 256-entry window: decimated rather than slid, the window
 * keeps covering ~10 s (not 128 ms), and the fit is as good as at 100 fps. */
static void fast_camera_decimates(void **state)
{
    daq_clock_model *m = daq_clock_model_create(256);
    synth s;
    synth_init(&s, 80, 500000, 9);
    synth_feed(m, &s, 24000); /* 12 s */
    check_fit(m, &s, 600000000ull);
    /* a pair well after the fit: the line extrapolates */
    uint64_t host;
    assert_true(daq_clock_model_map(m, s.cam + 1000000000ull, &host));
    assert_true(fabs((double)host - truth(&s, s.cam + 1000000000ull)) < 5000);
    daq_clock_model_destroy(m);
}

/* map() of the pair just added (what the engine does with each frame) is
 * never after that pair's arrival, refit or not. */
static void line_under_the_pairs(void **state)
{
    daq_clock_model *m = daq_clock_model_create(0);
    synth s;
    synth_init(&s, 120, 10000000, 10);
    s.latency_mean_ns = 200000; /* a wide spread: new lowest pairs keep coming */
    enum { N = 800 };
    static uint64_t cams[N], hosts[N];
    int mapped = 0;
    for (int i = 0; i < N; i++) {
        synth_next(&s, &cams[i], &hosts[i]);
        daq_clock_model_add(m, cams[i], hosts[i]);
        uint64_t est;
        if (!daq_clock_model_map(m, cams[i], &est))
            continue;
        mapped++;
        if (est > hosts[i])
            fail_msg("pair %d: estimate %llu after arrival %llu", i, (unsigned long long)est,
                     (unsigned long long)hosts[i]);
    }
    assert_true(mapped > N - 40); /* valid after 200 ms of 8 s */
    daq_clock_model_destroy(m);
}

/* A frozen camera clock (every pair the same camera time) never fits and
 * does not grow the work per pair. */
static void frozen_camera_clock(void **state)
{
    daq_clock_model *m = daq_clock_model_create(16);
    for (uint64_t i = 0; i < 100000; i++)
        daq_clock_model_add(m, 42, 1000000000ull + i * 1000000ull);
    daq_clock_fit fit;
    daq_clock_model_fit(m, &fit);
    assert_false(fit.valid);
    assert_int_equal(fit.pairs, 100000);
    daq_clock_model_destroy(NULL);
    daq_clock_model_destroy(m);
}

/* one per line: tests/CMakeLists.txt registers each line's case */
// clang-format off
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(drift_50ppm),
    cmocka_unit_test(drift_200ppm_both_signs),
    cmocka_unit_test(spikes_do_not_pull),
    cmocka_unit_test(valid_needs_span_and_bins),
    cmocka_unit_test(backwards_resets),
    cmocka_unit_test(window_wraps),
    cmocka_unit_test(fast_camera_decimates),
    cmocka_unit_test(line_under_the_pairs),
    cmocka_unit_test(frozen_camera_clock),
};
// clang-format on

DAQ_TEST_MAIN("clock_model", tests)
