/* tests/fake_pvcam/fake_pvcam.h - the test hooks of the fake libpvcam.
 *
 * The fake (fake_pvcam.c, built as libpvcam.so.2 in the build tree) exports
 * the PVCAM functions of drivers/pvcam/pvcam_sdk.h with their exact
 * prototypes, plus these fake_pvcam_* functions, which tests look up with
 * dlsym on the same handle the driver loaded (dlopen of an already loaded
 * path returns it) -- nothing links against the fake.
 *
 * The event log records, in order and under the fake's one lock: a frame
 * written into slot S, get_oldest returning slot S, unlock of slot S,
 * get_latest returning slot S, a copy-done mark a test made, and a frame
 * dropped because its slot was locked.  unlock poisons the slot (the DMA
 * may overwrite it from that moment), so a copy made after the unlock reads
 * poison and fails pattern verification: "unlocked only after the copy" is
 * checked by the data itself, and the log shows the order.
 */
#ifndef FAKE_PVCAM_H
#define FAKE_PVCAM_H

#include <stddef.h>
#include <stdint.h>

typedef enum fake_pvcam_event_kind {
    FAKE_EV_WRITE = 1,   /* the camera wrote frame nr into slot */
    FAKE_EV_GET_OLDEST,  /* pl_exp_get_oldest_frame(_ex) returned slot */
    FAKE_EV_UNLOCK,      /* pl_exp_unlock_oldest_frame released slot (then poisoned it) */
    FAKE_EV_GET_LATEST,  /* pl_exp_get_latest_frame_ex returned slot */
    FAKE_EV_COPY_DONE,   /* fake_pvcam_record_copy_done(nr) */
    FAKE_EV_DROP_LOCKED, /* frame nr not written: its slot was still locked */
    FAKE_EV_OVERWRITE,   /* unread frame nr in slot overwritten (ring full) */
} fake_pvcam_event_kind;

typedef struct fake_pvcam_event {
    int kind; /* fake_pvcam_event_kind */
    uint32_t slot;
    uint64_t nr;
} fake_pvcam_event;

/* Copies up to max events of the current stream (the log is cleared by
 * pl_exp_start_cont); returns how many there are in total. */
typedef size_t fake_pvcam_events_fn(fake_pvcam_event *out, size_t max);
/* A named counter of the last stream (or of the process, for the
 * registration and parameter counters); UINT64_MAX for an unknown name.
 * Names: frames_written, callbacks, duplicate_callbacks, late_callbacks,
 * dropped_locked, overwritten, overrun_reports, unlocks, registrations,
 * double_registrations, param_while_streaming, unlock_before_copy,
 * sw_triggers, sw_triggered, sw_ignored (pl_exp_trigger calls and their
 * answers), pulses, pulses_used (fake_pvcam_pulse calls, and those a
 * streaming camera in an external mode acted on), setups (pl_exp_setup_cont
 * calls accepted, process-wide), and last_exp_mode (the exp_mode of the
 * last accepted pl_exp_setup_cont). */
typedef uint64_t fake_pvcam_counter_fn(const char *name);
/* Marks frame nr as copied by the caller (direct API tests); with
 * FAKE_PVCAM_REQUIRE_COPY_MARK=1 an unlock without a mark for the locked
 * frame counts in unlock_before_copy. */
typedef void fake_pvcam_record_copy_done_fn(uint64_t nr);
/* One pulse on camera index's trigger input (0 = pvcamUSB_0): in
 * EDGE_RISING or LEVEL one exposure, in TRIG_FIRST the start of the
 * sequence.  1 if the camera acted on it, 0 if not (not streaming, not in
 * an external mode, or its sequence already started). */
typedef int fake_pvcam_pulse_fn(int index);

#endif
