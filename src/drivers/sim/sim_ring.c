/* drivers/sim/sim_ring.c - the simulated SDK's frame ring: one page-aligned
 * mapping holding four pre-rendered base frames and the slots.
 *
 * Both images, the pattern and the smooth scene, depend on the frame
 * number only through n % 4 and a 16-byte stamp (daq/sim.h), so each slot
 * remembers which base frame it holds (its class).  Writing frame n into a
 * slot of class n % 4 costs only the stamp; any other slot gets the base
 * frame copied in first.  With a ring whose size is a multiple of four and
 * consecutive numbers every slot keeps its class, so the steady state is
 * 16 bytes per frame: enough for thousands of 8 MiB frames per second on
 * two cores, leaving the time to the reader.  The scene's base frames cost
 * about 30 ms each to render, once per ring.
 *
 * A new ring is prefaulted by filling slot k with the base frame for number
 * k + 1 (what the first lap writes there), so the first frames neither
 * page-fault nor copy.  The ring is kept across stop/start when the
 * geometry and slot count are unchanged; slot classes stay valid because
 * nothing but the sensor writes slot memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daq/sim.h"
#include "drivers/sim/sim_impl.h"
#include "util/err.h"

static size_t round_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

static bool same_geom(const sim_geom *a, const sim_geom *b)
{
    return a->width == b->width && a->height == b->height && a->bit_depth == b->bit_depth &&
           a->stride == b->stride && a->frame_bytes == b->frame_bytes && a->scene == b->scene;
}

void sim_ring_free(sim_ring *r)
{
    if (r->map)
        munmap(r->map, r->map_bytes);
    free(r->slots);
    memset(r, 0, sizeof *r);
}

int sim_ring_prepare(sim_ring *r, const sim_geom *g, uint32_t count, char *err, size_t err_len)
{
    if (r->map && r->count == count && same_geom(&r->geom, g))
        return 0;
    sim_ring_free(r);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t stride = round_up(g->frame_bytes, page);
    size_t bytes = stride * (4 + (size_t)count);
    void *map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    sim_slot *slots = calloc(count, sizeof *slots);
    if (map == MAP_FAILED || !slots) {
        daq_err(err, err_len, "sim: cannot allocate a ring of %u x %zu bytes", count,
                g->frame_bytes);
        if (map != MAP_FAILED)
            munmap(map, bytes);
        free(slots);
        return -1;
    }
    r->map = map;
    r->map_bytes = bytes;
    r->slot_stride = stride;
    r->slots = slots;
    r->count = count;
    r->geom = *g;
    for (unsigned c = 0; c < 4; c++) {
        r->base[c] = r->map + c * stride;
        if (g->scene == SIM_SCENE_SMOOTH)
            daq_sim_render_scene(r->base[c], g->width, g->height, g->bit_depth, c);
        else
            daq_sim_render(r->base[c], g->width, g->height, g->bit_depth, c);
    }
    for (uint32_t k = 0; k < count; k++) {
        sim_slot *s = &r->slots[k];
        s->pixels = r->map + (4 + (size_t)k) * stride;
        s->cls = (uint8_t)((k + 1) % 4);
        memcpy(s->pixels, r->base[s->cls], g->frame_bytes);
    }
    return 0;
}

void sim_ring_write(sim_ring *r, uint32_t i, uint64_t n, bool zero)
{
    sim_slot *s = &r->slots[i];
    const sim_geom *g = &r->geom;
    if (zero) {
        memset(s->pixels, 0, g->frame_bytes);
        s->cls = SIM_CLASS_DIRTY;
        return;
    }
    uint8_t c = (uint8_t)(n % 4);
    if (s->cls != c) {
        memcpy(s->pixels, r->base[c], g->frame_bytes);
        s->cls = c;
    }
    if (g->scene == SIM_SCENE_SMOOTH)
        daq_sim_stamp_scene(s->pixels, g->width, g->height, n);
    else
        daq_sim_stamp(s->pixels, g->width, g->height, n);
}
