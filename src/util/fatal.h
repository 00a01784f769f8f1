/* util/fatal.h - fail fast with a clear message.
 *
 * Misuse that would otherwise corrupt memory silently (a frame returned
 * twice, a pointer that is not ours) ends the process at once, naming what
 * was wrong.  Cheap enough that the checks stay on in release builds.
 */
#ifndef DAQ_UTIL_FATAL_H
#define DAQ_UTIL_FATAL_H

#if defined(__GNUC__)
#define DAQ_NORETURN     __attribute__((noreturn))
#define DAQ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define DAQ_LIKELY(x)    __builtin_expect(!!(x), 1)
#define DAQ_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define DAQ_COLD         __attribute__((cold, noinline))
#else
#define DAQ_NORETURN
#define DAQ_PRINTF(a, b)
#define DAQ_LIKELY(x)   (x)
#define DAQ_UNLIKELY(x) (x)
#define DAQ_COLD
#endif

/* Prints "daq: FATAL: <message>" to stderr and aborts. */
DAQ_NORETURN DAQ_COLD DAQ_PRINTF(1, 2) void daq_fatal(const char *fmt, ...);

#endif
