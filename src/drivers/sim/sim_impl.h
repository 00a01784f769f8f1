/* drivers/sim/sim_impl.h - the simulated camera's private state, shared by
 * the files of the sim driver only.
 *
 * The sim is split the way a real SDK is: settings (sim_params.c), a ring
 * of frame buffers with pre-rendered base frames (sim_ring.c), a sensor
 * thread that paces, injects faults, writes frames and fires an
 * end-of-frame callback (sim_sensor.c), and the driver ops the engine
 * calls (sim_driver.c).
 *
 * Triggers (ADR 0011): every trigger the camera acts on -- a software
 * trigger from the trigger op, or a pulse of its trigger line
 * (sim_line.c) -- is queued as (index, time) in `trigq` under mu, and the
 * sensor thread takes them in order; so one wait (on sensor_cv, which stop
 * also signals) serves both sources, and triggers that arrive during an
 * exposure are not lost.
 *
 * Threads: the control thread (under cam->lock) owns `set`, `geom`, `run`
 * and the ring's allocation; the sensor thread and the acquisition thread
 * meet only under `mu` (slot states, the ready FIFO) and through the atomic
 * pending count and counters.  Pixel memory of a slot is written by the
 * sensor only while the slot is marked `writing`, and read by the reader
 * only while it is `locked`; both flags change under mu, which orders the
 * accesses.
 */
#ifndef DAQ_SIM_IMPL_H
#define DAQ_SIM_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "daq/camera_driver.h"
#include "util/clock.h"

/* ---- settings (sim_params.c) ------------------------------------------------- */

enum sim_timing { SIM_TIMING_INSTANT = 0, SIM_TIMING_REALISTIC, SIM_TIMING_CHAOS };
enum sim_buffer_mode { SIM_NO_OVERWRITE = 0, SIM_OVERWRITE };
enum sim_scene { SIM_SCENE_PATTERN = 0, SIM_SCENE_SMOOTH }; /* images of daq/sim.h */

/* Static settings: changed only by the control thread while not streaming. */
typedef struct sim_settings {
    int64_t width, height, bit_depth;
    int scene, timing, buffer_mode;
    int64_t ring_frames; /* a multiple of 4 */
    int64_t frame_count; /* 0 = unlimited */
    int64_t roi_x, roi_y, roi_w, roi_h, binning;
    uint64_t seed;
    double jump_prob, backwards_prob, duplicate_prob, zero_prob;
    int64_t jump_max;
    int64_t stall_after, fail_after;
    double stall_ms;
    /* Triggers and the camera clock (ADR 0011). */
    char line[DAQ_PARAM_STR_MAX]; /* trigger.line; "" = the camera's id */
    double line_hz;
    double trigger_miss_prob, trigger_double_prob, trigger_jitter_us;
    int64_t trigger_miss_every;
    double clock_drift_ppm;
    int64_t clock_offset_ns;
} sim_settings;

/* What the settings produce. */
typedef struct sim_geom {
    daq_roi roi; /* on the sensor, zeros resolved */
    uint32_t bin;
    uint32_t width, height, stride; /* output */
    unsigned bit_depth, bpp;
    int scene; /* enum sim_scene */
    daq_pixel_format pixel_format;
    size_t frame_bytes;
} sim_geom;

#define SIM_TEMPERATURE_C (-20.0f)

void sim_settings_default(sim_settings *s);
/* Resolves ROI and binning; -1 with a message if they do not fit. */
int sim_geom_compute(const sim_settings *s, sim_geom *g, char *err, size_t err_len);

/* ---- the ring (sim_ring.c) ----------------------------------------------------- */

#define SIM_CLASS_DIRTY 0xFFu

typedef struct sim_slot {
    unsigned char *pixels; /* into the ring's mapping */
    uint8_t cls;           /* n % 4 of the base frame it holds, or DIRTY; sensor only */
    /* under sim.mu */
    uint8_t pending; /* ready-FIFO entries announcing it (2 after a duplicate) */
    bool locked;     /* borrowed by the reader (get_oldest .. release_oldest) */
    bool writing;    /* being written by the sensor */
    bool accounted;  /* its frame was delivered or counted as an overrun */
} sim_slot;

typedef struct sim_ring {
    unsigned char *map; /* owned: bases then slots, page-aligned */
    size_t map_bytes;
    size_t slot_stride;
    unsigned char *base[4]; /* pre-rendered frames for n % 4 = 0..3 */
    sim_slot *slots;        /* owned, count of them */
    uint32_t count;
    sim_geom geom; /* what the ring was built for */
} sim_ring;

/* Makes the ring fit g and count slots, reusing it when it already does.
 * A new ring is prefaulted by filling slot k with the base frame of the
 * hardware number it will first receive (k + 1). */
int sim_ring_prepare(sim_ring *r, const sim_geom *g, uint32_t count, char *err, size_t err_len);
void sim_ring_free(sim_ring *r);
/* Writes frame n (or an all-zero frame) into slot i.  Sensor thread, slot
 * marked writing. */
void sim_ring_write(sim_ring *r, uint32_t i, uint64_t n, bool zero);

/* ---- the trigger line (sim_line.c) ------------------------------------------ */

/* Triggers queued per camera: a software burst or a fast line may run
 * ahead of the exposures by this many; beyond it a software trigger is
 * IGNORED ("trigger queue full (1024)") and a pulse is lost for this camera
 * (extra trigger_queue_overflows). */
#define SIM_TRIGQ_CAP 1024u

typedef struct sim_trig {
    uint64_t index; /* trigger_index its frames carry */
    uint64_t t_ns;  /* CLOCK_MONOTONIC when it arrived */
} sim_trig;

typedef struct sim_line sim_line;
struct sim;

/* The line called name, created on first use and never freed (so a
 * pointer to it stays valid); NULL when the process has its 256 lines
 * already, or out of memory. */
sim_line *sim_line_get(const char *name);
/* Control thread, at start: pulses of l are queued into s's trigger queue
 * from now on; hz > 0 also keeps the line's generator running at (the
 * fastest listener's) hz.  -1 with a message if the generator cannot start. */
int sim_line_listen(sim_line *l, struct sim *s, double hz, char *err, size_t err_len);
/* Control thread, at stop (sensor joined): s no longer listens; joins the
 * generator when no listener with hz > 0 remains. */
void sim_line_unlisten(sim_line *l, struct sim *s);

/* ---- the driver state (sim_driver.c) --------------------------------------- */

/* One ready-FIFO entry: what an EOF callback announces. */
typedef struct sim_entry {
    uint32_t slot;
    daq_frame_info info;
} sim_entry;

typedef struct sim {
    daq_camera *cam; /* borrowed back-pointer */

    /* Test only: the camera is "switched off" while this file exists
     * ($DAQ_TEST_SIM_OFF_DIR/<camera id>, read at create; "" = never).
     * Open and start fail, a running readout fails at its next frame. */
    char off_file[512];

    /* Control thread. */
    sim_settings set;
    bool opened;
    bool thread_live; /* a sensor thread was created and not yet joined */
    pthread_t thread;
    sim_geom geom;    /* of the current stream */
    sim_settings run; /* snapshot for the sensor thread, fixed while streaming */
    sim_ring ring;

    /* LIVE settings: any thread. */
    _Atomic double exposure_ms;
    _Atomic double frame_rate_hz;

    pthread_mutex_t mu;
    pthread_cond_t ready_cv;  /* reader: a frame was announced, interrupt, failure */
    pthread_cond_t sensor_cv; /* sensor: a slot came free, stop, a LIVE change */
    /* Under mu. */
    bool running;  /* between start and stop */
    bool stop_req; /* the sensor must exit */
    bool failed;   /* simulated readout failure */
    bool interrupted;
    char error[256];
    sim_entry *fifo; /* owned, fifo_cap entries */
    uint32_t fifo_cap, fifo_head, fifo_len;
    int32_t locked_slot; /* -1 when none */
    uint64_t write_index;

    _Atomic uint32_t pending; /* == fifo_len; read without mu by wait */

    /* Triggers (control thread at start; under mu after). */
    daq_trigger_config trig;       /* of the current stream */
    sim_line *line;                /* listened to while streaming in an external mode */
    sim_trig trigq[SIM_TRIGQ_CAP]; /* under mu: FIFO of triggers not yet taken */
    uint32_t trigq_head, trigq_len;
    uint64_t sw_accepted; /* under mu: software triggers answered TRIGGERED */
    bool seq_started;     /* under mu: a *_first sequence runs (further triggers ignored) */
    /* Under the line's mutex: the line's listener list. */
    struct sim *line_next;
    double line_hz; /* this listener's trigger.line_hz */

    /* Counters of the current stream, relaxed atomics. */
    _Atomic uint64_t frames_generated, callbacks, overruns, readout_errors;
    _Atomic uint64_t jumps, skipped_numbers, backwards, duplicates, zero_frames, stalls;
    _Atomic uint64_t last_number;
    _Atomic uint64_t ring_frames;       /* slots of the current/last stream */
    _Atomic uint64_t sequence_complete; /* 1 once frame_count frames were announced */
    _Atomic uint64_t trigger_miss, trigger_double, trigger_overflows;
} sim;

static inline sim *sim_of(daq_camera *cam)
{
    return daq_camera_priv(cam);
}

/* sim_params.c: the params, get_param and set_param ops -- the table is
 * static storage; id is an index into it; set gets a value the camera
 * layer has validated (daq/camera_driver.h). */
size_t sim_params(daq_camera *cam, const daq_param_desc **table);
int sim_get_param(daq_camera *cam, size_t id, daq_param_value *out, char *err, size_t err_len);
int sim_set_param(daq_camera *cam, size_t id, const daq_param_value *v, char *err, size_t err_len);

/* True while the test's off file exists (one access(2); false when none is
 * configured): the camera is switched off. */
bool sim_switched_off(const sim *s);

/* sim_sensor.c: the sensor thread's body; arg is the sim. */
void *sim_sensor_main(void *arg);

/* Queues a trigger for the sensor; false (and nothing queued) when the
 * queue is full.  Under mu. */
bool sim_trig_push(sim *s, uint64_t index, uint64_t t_ns);

/* ---- a small seeded PRNG (splitmix64) -------------------------------------------- */

static inline uint64_t sim_rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double sim_rand_unit(uint64_t *state)
{
    return (double)(sim_rand_next(state) >> 11) * 0x1p-53;
}

#endif
