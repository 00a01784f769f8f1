/* Unit tests of a group recording's join (src/storage/sync_index.c): the
 * matched sets of several cameras' recorded trigger indices, by (index,
 * rank), with the unpaired frames split into unmatched (inside the common
 * window) and edge (before the latest first key or after the earliest last
 * key).  Hand-made arrays with known answers, then 3 x 200,000 frames with
 * seeded random misses checked against a bitmap. */
#include <stdbool.h>
#include <stdint.h>

#include "test_main.h"
#include "storage/sync_index.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void build2(const uint64_t *a, size_t na, const uint64_t *b, size_t nb, daq_sync_index *x)
{
    daq_sync_index_member m[2] = {{a, na}, {b, nb}};
    char err[128] = "";
    assert_int_equal(daq_sync_index_build(m, 2, x, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(x->n_members, 2);
}

/* Every set's rows point at frames of its index, on every member. */
static void check_rows(const daq_sync_index *x, const daq_sync_index_member *m)
{
    for (size_t k = 0; k < x->matched; k++) {
        if (k)
            assert_true(
                x->trigger_index[k - 1] < x->trigger_index[k] ||
                (x->trigger_index[k - 1] == x->trigger_index[k] && x->rank[k - 1] < x->rank[k]));
        for (size_t i = 0; i < x->n_members; i++) {
            assert_true(x->rows[i][k] < m[i].n);
            assert_int_equal(m[i].trigger_index[x->rows[i][k]], x->trigger_index[k]);
        }
    }
}

static void one_camera_misses_every_tenth(void **state)
{
    (void)state;
    uint64_t a[100], b[100];
    size_t nb = 0;
    for (uint64_t i = 1; i <= 100; i++) {
        a[i - 1] = i;
        if (i % 10 != 0 || i == 100)
            b[nb++] = i;
    }
    daq_sync_index x;
    build2(a, 100, b, nb, &x);
    assert_int_equal(nb, 91);
    assert_int_equal(x.matched, 91);
    assert_int_equal(x.triggered[0], 100);
    assert_int_equal(x.triggered[1], 91);
    assert_int_equal(x.unmatched[0], 9); /* 10, 20, ..., 90 */
    assert_int_equal(x.unmatched[1], 0);
    assert_int_equal(x.edge[0], 0);
    assert_int_equal(x.edge[1], 0);
    /* set 9 is index 11: row 10 on a, row 9 on b (10 is missing there) */
    assert_int_equal(x.trigger_index[9], 11);
    assert_int_equal(x.rank[9], 0);
    assert_int_equal(x.rows[0][9], 10);
    assert_int_equal(x.rows[1][9], 9);
    assert_int_equal(x.trigger_index[90], 100);
    assert_int_equal(x.rows[0][90], 99);
    assert_int_equal(x.rows[1][90], 90);
    daq_sync_index_member m[2] = {{a, 100}, {b, nb}};
    check_rows(&x, m);
    daq_sync_index_free(&x);
    assert_null(x.trigger_index);
}

/* One camera's file starts two pulses earlier and ends two later: those
 * four frames are edge, not unmatched; a miss inside still counts. */
static void start_and_stop_are_edges(void **state)
{
    (void)state;
    uint64_t a[46], b[50];
    for (uint64_t i = 0; i < 46; i++)
        a[i] = 5 + i; /* 5..50 */
    size_t nb = 0;
    for (uint64_t i = 3; i <= 52; i++)
        if (i != 30)
            b[nb++] = i; /* 3..52 without 30 */
    daq_sync_index x;
    build2(a, 46, b, nb, &x);
    assert_int_equal(x.matched, 45);
    assert_int_equal(x.unmatched[0], 1); /* 30 */
    assert_int_equal(x.edge[0], 0);
    assert_int_equal(x.unmatched[1], 0);
    assert_int_equal(x.edge[1], 4); /* 3, 4, 51, 52 */
    assert_int_equal(x.trigger_index[0], 5);
    assert_int_equal(x.trigger_index[44], 50);
    assert_int_equal(x.triggered[1], x.matched + x.unmatched[1] + x.edge[1]);
    daq_sync_index_free(&x);
}

/* frames_per_trigger 3: the k-th frame of a trigger pairs with the k-th;
 * b lost the third frame of trigger 1 and all of trigger 3. */
static void ranks_within_a_trigger(void **state)
{
    (void)state;
    const uint64_t a[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4};
    const uint64_t b[] = {1, 1, 2, 2, 2, 4, 4, 4};
    daq_sync_index x;
    build2(a, N_OF(a), b, N_OF(b), &x);
    assert_int_equal(x.matched, 8);
    assert_int_equal(x.unmatched[0], 4);
    assert_int_equal(x.unmatched[1], 0);
    const uint64_t idx[] = {1, 1, 2, 2, 2, 4, 4, 4}, rank[] = {0, 1, 0, 1, 2, 0, 1, 2};
    const uint64_t ra[] = {0, 1, 3, 4, 5, 9, 10, 11}, rb[] = {0, 1, 2, 3, 4, 5, 6, 7};
    for (size_t k = 0; k < 8; k++) {
        assert_int_equal(x.trigger_index[k], idx[k]);
        assert_int_equal(x.rank[k], rank[k]);
        assert_int_equal(x.rows[0][k], ra[k]);
        assert_int_equal(x.rows[1][k], rb[k]);
    }
    daq_sync_index_free(&x);
}

/* Untriggered frames (0) are skipped but keep their rows. */
static void untriggered_frames_are_ignored(void **state)
{
    (void)state;
    const uint64_t a[] = {0, 0, 7, 0, 8, 9, 0};
    const uint64_t b[] = {7, 8, 0, 0, 9};
    daq_sync_index x;
    build2(a, N_OF(a), b, N_OF(b), &x);
    assert_int_equal(x.matched, 3);
    assert_int_equal(x.triggered[0], 3);
    assert_int_equal(x.triggered[1], 3);
    assert_int_equal(x.rows[0][0], 2);
    assert_int_equal(x.rows[0][1], 4);
    assert_int_equal(x.rows[0][2], 5);
    assert_int_equal(x.rows[1][2], 4);
    daq_sync_index_free(&x);
}

/* A stream restarted inside the recording counts from 1 again: its frames
 * pair by rank in file order (the sorted path). */
static void restarted_stream_pairs_by_rank(void **state)
{
    (void)state;
    const uint64_t a[] = {1, 2, 3, 1, 2, 3};
    const uint64_t b[] = {2, 3, 1, 2, 3};
    daq_sync_index x;
    build2(a, N_OF(a), b, N_OF(b), &x);
    /* keys a: (1,0)(2,0)(3,0)(1,1)(2,1)(3,1); b: (2,0)(3,0)(1,0)(2,1)(3,1) */
    assert_int_equal(x.matched, 5);
    assert_int_equal(x.trigger_index[0], 1);
    assert_int_equal(x.rank[0], 0);
    assert_int_equal(x.rows[0][0], 0);
    assert_int_equal(x.rows[1][0], 2);
    assert_int_equal(x.trigger_index[1], 2);
    assert_int_equal(x.rank[1], 0);
    assert_int_equal(x.rows[0][1], 1);
    assert_int_equal(x.rows[1][1], 0);
    assert_int_equal(x.trigger_index[2], 2);
    assert_int_equal(x.rank[2], 1);
    assert_int_equal(x.rows[0][2], 4);
    assert_int_equal(x.rows[1][2], 3);
    /* a's (1,1) lies inside [(1,0), (3,1)]: unmatched */
    assert_int_equal(x.unmatched[0], 1);
    assert_int_equal(x.edge[0], 0);
    daq_sync_index_free(&x);
}

/* A member with no triggered frame: no window, everything unmatched. */
static void member_without_triggers(void **state)
{
    (void)state;
    const uint64_t a[] = {1, 2, 3}, b[] = {1, 2, 3}, c[] = {0, 0};
    daq_sync_index_member m[3] = {{a, 3}, {b, 3}, {c, 2}};
    daq_sync_index x;
    char err[128];
    assert_int_equal(daq_sync_index_build(m, 3, &x, err, sizeof err), 0);
    assert_int_equal(x.matched, 0);
    assert_null(x.trigger_index);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(x.unmatched[i], 3);
        assert_int_equal(x.edge[i], 0);
    }
    assert_int_equal(x.triggered[2], 0);
    daq_sync_index_free(&x);
    /* an empty member (n = 0, NULL) is the same */
    m[2] = (daq_sync_index_member){NULL, 0};
    assert_int_equal(daq_sync_index_build(m, 3, &x, err, sizeof err), 0);
    assert_int_equal(x.unmatched[0], 3);
    daq_sync_index_free(&x);
}

static void bad_arguments(void **state)
{
    (void)state;
    const uint64_t a[] = {1};
    daq_sync_index_member m[DAQ_SYNC_INDEX_MAX_MEMBERS + 1];
    for (size_t i = 0; i < N_OF(m); i++)
        m[i] = (daq_sync_index_member){a, 1};
    daq_sync_index x;
    char err[128];
    assert_int_equal(daq_sync_index_build(m, 1, &x, err, sizeof err), -1);
    assert_string_equal(err, "a sync index joins 2..16 members, not 1");
    assert_int_equal(daq_sync_index_build(m, N_OF(m), &x, err, sizeof err), -1);
    assert_string_equal(err, "a sync index joins 2..16 members, not 17");
    m[1] = (daq_sync_index_member){NULL, 4};
    assert_int_equal(daq_sync_index_build(m, 2, &x, err, sizeof err), -1);
    assert_string_equal(err, "member 1: no trigger indices");
    assert_null(x.trigger_index);
    assert_int_equal(x.matched, 0);
    daq_sync_index_free(NULL);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* 3 cameras, 200,000 pulses, each missing ~1 % at random and starting and
 * stopping a few pulses apart, some untriggered frames mixed in: the join
 * equals what a bitmap of each camera's indices says. */
static void random_misses_against_a_bitmap(void **state)
{
    (void)state;
    enum { P = 200000, M = 3 };
    static uint64_t idx[M][P + 64];
    static uint8_t has[M][P + 1];
    size_t n[M];
    uint64_t first[M] = {3, 1, 7}, last[M] = {P, P - 5, P - 2};
    uint64_t s = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < M; i++) {
        n[i] = 0;
        for (uint64_t t = first[i]; t <= last[i]; t++) {
            if (xorshift(&s) % 100 == 0)
                continue; /* missed */
            if (xorshift(&s) % 5000 == 0)
                idx[i][n[i]++] = 0; /* an untriggered frame */
            idx[i][n[i]++] = t;
            has[i][t] = 1;
        }
    }
    daq_sync_index_member m[M];
    for (int i = 0; i < M; i++)
        m[i] = (daq_sync_index_member){idx[i], n[i]};
    daq_sync_index x;
    char err[128];
    assert_int_equal(daq_sync_index_build(m, M, &x, err, sizeof err), 0);
    /* the window, from each camera's first and last recorded index */
    uint64_t lo = 0, hi = UINT64_MAX;
    for (int i = 0; i < M; i++) {
        uint64_t f = 0, l = 0;
        for (uint64_t t = 1; t <= P; t++)
            if (has[i][t]) {
                f = f ? f : t;
                l = t;
            }
        lo = f > lo ? f : lo;
        hi = l < hi ? l : hi;
    }
    uint64_t matched = 0, unmatched[M] = {0}, edge[M] = {0};
    for (uint64_t t = 1; t <= P; t++) {
        bool all = has[0][t] && has[1][t] && has[2][t];
        matched += all;
        for (int i = 0; i < M; i++)
            if (has[i][t] && !all) {
                if (t >= lo && t <= hi)
                    unmatched[i]++;
                else
                    edge[i]++;
            }
    }
    assert_true(matched > P * 95 / 100);
    assert_int_equal(x.matched, matched);
    for (int i = 0; i < M; i++) {
        assert_int_equal(x.unmatched[i], unmatched[i]);
        assert_int_equal(x.edge[i], edge[i]);
        assert_int_equal(x.triggered[i], matched + unmatched[i] + edge[i]);
    }
    check_rows(&x, m);
    daq_sync_index_free(&x);
}

/* one per line: tests/storage/group_recording.cmake registers each line's case */
// clang-format off
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(one_camera_misses_every_tenth),
    cmocka_unit_test(start_and_stop_are_edges),
    cmocka_unit_test(ranks_within_a_trigger),
    cmocka_unit_test(untriggered_frames_are_ignored),
    cmocka_unit_test(restarted_stream_pairs_by_rank),
    cmocka_unit_test(member_without_triggers),
    cmocka_unit_test(bad_arguments),
    cmocka_unit_test(random_misses_against_a_bitmap),
};
// clang-format on

DAQ_TEST_MAIN("sync_index", tests)
