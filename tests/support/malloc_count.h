/* tests/support/malloc_count.h - counts heap allocations made by the whole
 * process, to prove a code path allocates nothing.
 *
 * Plain builds link malloc_count.c into the executable, which then defines
 * malloc, calloc, realloc and the aligned variants itself: the dynamic linker
 * binds every library's calls (glibc's own, GLib's) to them, exactly like an
 * LD_PRELOAD shim.  They count and forward to glibc's __libc_* entry points.
 * Sanitizer builds cannot replace malloc (the sanitizer runtime does), so
 * there the same counter is fed by the runtime's malloc hook.
 */
#ifndef DAQ_MALLOC_COUNT_H
#define DAQ_MALLOC_COUNT_H

#include <stdbool.h>
#include <stdint.h>

/* Allocation calls (malloc, calloc, realloc, aligned) since start. */
uint64_t daq_malloc_count(void);
/* Which mechanism counts: "interposer" or "sanitizer-hook". */
const char *daq_malloc_count_mechanism(void);

#endif
