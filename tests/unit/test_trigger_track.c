/* test_trigger_track.c - the trigger bookkeeping (camera/trigger_track.c):
 * answered, missed, doubled, late, gaps in external modes, the window, and
 * the identities of daq/trigger.h after every step -- with a clock the test
 * drives, so every deadline is exact.  One case hammers it from two threads
 * (label concurrency: the TSan run). */
#include <pthread.h>
#include <string.h>

#include "camera/trigger_track.h"
#include "test_main.h"

#define MS 1000000ull

static daq_trigger_stats snap(daq_trigger_track *t, uint64_t now)
{
    daq_trigger_stats s;
    daq_trigger_track_stats(t, now, &s);
    assert_int_equal(s.sent, s.accepted + s.ignored);
    assert_int_equal(s.seen, s.answered + s.missed + s.pending);
    return s;
}

static void setup(daq_trigger_track *t, daq_trigger_mode mode, uint32_t fpt, uint32_t timeout_ms)
{
    daq_trigger_track_init(t);
    daq_trigger_config c = {mode, fpt, timeout_ms};
    daq_trigger_track_reset(t, &c);
}

static void software_answered_and_missed(void **state)
{
    (void)state;
    static daq_trigger_track t;
    setup(&t, DAQ_TRIGGER_SOFTWARE, 2, 100);
    daq_trigger_track_sent(&t, true, 1, 0);
    daq_trigger_track_sent(&t, false, 0, 1 * MS);
    daq_trigger_track_sent(&t, true, 2, 10 * MS);
    assert_int_equal(daq_trigger_track_frame(&t, 1, 5 * MS), 0);
    assert_int_equal(daq_trigger_track_frame(&t, 1, 6 * MS), 0);
    daq_trigger_stats s = snap(&t, 50 * MS);
    assert_int_equal(s.sent, 3);
    assert_int_equal(s.ignored, 1);
    assert_int_equal(s.answered, 1);
    assert_int_equal(s.pending, 1);
    /* trigger 2 got one of its two frames by its deadline (110 ms): missed */
    daq_trigger_track_frame(&t, 2, 20 * MS);
    s = snap(&t, 111 * MS);
    assert_int_equal(s.missed, 1);
    assert_int_equal(s.pending, 0);
    /* its second frame, after the deadline, is late; nothing else moves */
    daq_trigger_track_frame(&t, 2, 120 * MS);
    s = snap(&t, 121 * MS);
    assert_int_equal(s.frames_late, 1);
    assert_int_equal(s.frames, 4);
    assert_int_equal(s.answered, 1);
    assert_int_equal(s.missed, 1);
    daq_trigger_track_destroy(&t);
}

static void frame_before_its_answer(void **state)
{
    (void)state;
    /* The sim may deliver a frame before camera.c has counted the trigger
     * that caused it: the frame teaches the index, the sent call counts. */
    static daq_trigger_track t;
    setup(&t, DAQ_TRIGGER_SOFTWARE, 1, 100);
    daq_trigger_track_frame(&t, 1, 1 * MS);
    daq_trigger_track_sent(&t, true, 1, 2 * MS);
    daq_trigger_stats s = snap(&t, 3 * MS);
    assert_int_equal(s.seen, 1);
    assert_int_equal(s.answered, 1);
    assert_int_equal(s.accepted, 1);
    daq_trigger_track_destroy(&t);
}

static void doubles_are_extra(void **state)
{
    (void)state;
    static daq_trigger_track t;
    setup(&t, DAQ_TRIGGER_SOFTWARE, 1, 100);
    daq_trigger_track_sent(&t, true, 1, 0);
    assert_int_equal(daq_trigger_track_frame(&t, 1, 1 * MS), 0);
    assert_int_equal(daq_trigger_track_frame(&t, 1, 2 * MS), DAQ_FRAME_FLAG_TRIGGER_EXTRA);
    assert_int_equal(daq_trigger_track_frame(&t, 1, 3 * MS), DAQ_FRAME_FLAG_TRIGGER_EXTRA);
    daq_trigger_stats s = snap(&t, 4 * MS);
    assert_int_equal(s.doubled, 1);
    assert_int_equal(s.frames_extra, 2);
    assert_int_equal(s.answered, 1);
    daq_trigger_track_destroy(&t);
}

static void external_gaps_are_missed(void **state)
{
    (void)state;
    /* The first index seen is the base (pulses before the arm are not
     * missed); a jump misses the pulses between at once. */
    static daq_trigger_track t;
    setup(&t, DAQ_TRIGGER_EXTERNAL_EDGE, 1, 100);
    daq_trigger_track_frame(&t, 57, 0);
    daq_trigger_track_frame(&t, 58, 1 * MS);
    daq_trigger_track_frame(&t, 61, 2 * MS);
    daq_trigger_stats s = snap(&t, 3 * MS);
    assert_int_equal(s.seen, 5);
    assert_int_equal(s.answered, 3);
    assert_int_equal(s.missed, 2);
    assert_int_equal(s.sent, 0);
    daq_trigger_track_destroy(&t);
}

static void first_modes_answer_once(void **state)
{
    (void)state;
    static daq_trigger_track t;
    setup(&t, DAQ_TRIGGER_SOFTWARE_FIRST, 5, 100);
    daq_trigger_track_sent(&t, true, 1, 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(daq_trigger_track_frame(&t, 1, (uint64_t)i * MS), 0);
    daq_trigger_stats s = snap(&t, 500 * MS);
    assert_int_equal(s.answered, 1);
    assert_int_equal(s.frames_extra, 0);
    assert_int_equal(s.frames, 20);
    daq_trigger_track_destroy(&t);
}

static void reset_and_end_miss_pending(void **state)
{
    (void)state;
    static daq_trigger_track t;
    setup(&t, DAQ_TRIGGER_SOFTWARE, 1, 1000);
    daq_trigger_track_sent(&t, true, 1, 0);
    daq_trigger_track_sent(&t, true, 2, 0);
    daq_trigger_track_end(&t);
    daq_trigger_stats s = snap(&t, 1);
    assert_int_equal(s.missed, 2);
    /* a new stream: indices start over, counters go on */
    daq_trigger_config c = {DAQ_TRIGGER_SOFTWARE, 1, 1000};
    daq_trigger_track_reset(&t, &c);
    daq_trigger_track_sent(&t, true, 1, 10);
    daq_trigger_track_frame(&t, 1, 11);
    s = snap(&t, 12);
    assert_int_equal(s.seen, 3);
    assert_int_equal(s.answered, 1);
    assert_int_equal(s.missed, 2);
    daq_trigger_track_destroy(&t);
}

static void window_overflow_misses_oldest(void **state)
{
    (void)state;
    /* More pending indices than the window holds: the oldest are missed to
     * make room, never forgotten. */
    static daq_trigger_track t;
    setup(&t, DAQ_TRIGGER_SOFTWARE, 1, 3600000);
    uint64_t n = TRACK_WINDOW + 10;
    for (uint64_t i = 1; i <= n; i++)
        daq_trigger_track_sent(&t, true, i, i);
    daq_trigger_stats s = snap(&t, n + 1);
    assert_int_equal(s.seen, n);
    assert_int_equal(s.missed, 10);
    assert_int_equal(s.pending, TRACK_WINDOW);
    daq_trigger_track_frame(&t, 3, n + 2); /* pushed out: late */
    daq_trigger_track_frame(&t, n, n + 3);
    s = snap(&t, n + 4);
    assert_int_equal(s.frames_late, 1);
    assert_int_equal(s.answered, 1);
    daq_trigger_track_destroy(&t);
}

static daq_trigger_track race_t;

static void *race_sender(void *arg)
{
    (void)arg;
    for (uint64_t i = 1; i <= 20000; i++)
        daq_trigger_track_sent(&race_t, true, i, i);
    return NULL;
}

static void concurrent_frames_and_triggers(void **state)
{
    (void)state;
    /* The control thread sends while the engine reports frames and a
     * scraper snapshots: the identities hold in every snapshot. */
    setup(&race_t, DAQ_TRIGGER_SOFTWARE, 1, 3600000);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, race_sender, NULL), 0);
    for (uint64_t i = 1; i <= 20000; i++) {
        daq_trigger_track_frame(&race_t, i, i);
        if (i % 500 == 0)
            snap(&race_t, i);
    }
    pthread_join(th, NULL);
    daq_trigger_stats s = snap(&race_t, 30000);
    assert_int_equal(s.accepted, 20000);
    assert_int_equal(s.seen, 20000);
    /* a frame answers its trigger unless the sender ran more than the
     * window ahead and the trigger was missed to make room: then it is late */
    assert_int_equal(s.answered + s.missed, 20000);
    assert_int_equal(s.answered + s.frames_late, 20000);
    assert_int_equal(s.pending, 0);
    daq_trigger_track_destroy(&race_t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(software_answered_and_missed),
    cmocka_unit_test(frame_before_its_answer),
    cmocka_unit_test(doubles_are_extra),
    cmocka_unit_test(external_gaps_are_missed),
    cmocka_unit_test(first_modes_answer_once),
    cmocka_unit_test(reset_and_end_miss_pending),
    cmocka_unit_test(window_overflow_misses_oldest),
    cmocka_unit_test(concurrent_frames_and_triggers),
};

DAQ_TEST_MAIN("trigger_track", tests)
