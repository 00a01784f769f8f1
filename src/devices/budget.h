/* devices/budget.h - the memory budget of all cameras ([limits] memory_mb).
 *
 * What a client can make the daemon hold is, per camera, its pool (slots x
 * frame), the driver's ring (ring_frames x frame) and, once for all
 * cameras, the buffers of encoded stream messages: at most one in flight
 * per stream, each at most a frame, so [limits] streams x the largest frame.
 * Before this budget four in-range SetParameter calls and a StartStream
 * took RSS from 44 MB to 6.6 GB (the advertised maximum asked for 519 GiB).
 *
 * Two questions, both answered before anything is allocated:
 *  - a parameter write that makes a camera's frame or ring larger (the
 *    camera's guard): would the camera's new need fit next to what the
 *    others hold?  Nothing is recorded: the driver allocates at start.
 *  - a start (the engine's admission hook): the same check with the real
 *    plan, which is then recorded as what the camera holds (pools and rings
 *    stay allocated across stop/start).
 * Refusals say the numbers: "cam0: start (frames of 8192 x 8192 x 16 bit,
 * 128 MiB) needs 5.1 GiB (pool 9 x 128 MiB, camera ring 32 x 128 MiB, stream
 * buffers +1 GiB) but the memory budget has 500 MiB free of 512 MiB
 * ([limits] memory_mb)".
 *
 * Threading: one mutex (a leaf: the hooks call the camera and engine only
 * outside it).  Ownership: the device table owns the budget; attach borrows
 * the engine and camera, which outlive it.
 */
#ifndef DAQ_DEVICES_BUDGET_H
#define DAQ_DEVICES_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#include "daq/acq.h"
#include "daq/camera.h"

typedef struct daq_budget daq_budget;

/* Physical memory / 2: the default when [limits] memory_mb is 0.  The
 * other half is left to the OS, the page cache of recordings, and clients
 * on the same host. */
uint64_t daq_budget_auto_bytes(void);

/* total_bytes for all of n_devices cameras; streams = [limits] streams.
 * NULL when out of memory. */
daq_budget *daq_budget_create(uint64_t total_bytes, uint32_t streams, size_t n_devices);
void daq_budget_destroy(daq_budget *b); /* NULL ok */

/* Puts device slot i (id borrowed, as long as the budget) under the budget:
 * installs the engine's admission hook and the camera's guard. */
void daq_budget_attach(daq_budget *b, size_t i, const char *id, daq_acq *acq, daq_camera *cam);

/* The budget and what the cameras hold now (including the stream buffers). */
void daq_budget_snapshot(daq_budget *b, uint64_t *total, uint64_t *committed);

#endif
