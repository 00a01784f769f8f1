/* util/text.h - the small pieces of text decoding that the TOML scanner,
 * parameter strings and gRPC peer addresses all need: one implementation
 * each, so an escape means the same thing wherever daq reads one. */
#ifndef DAQ_UTIL_TEXT_H
#define DAQ_UTIL_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* The value of a hex digit (0-9, a-f, A-F), or -1. */
int daq_hex_value(int c);

/* Writes code point cp (<= 0x10FFFF; the caller rejects surrogates where
 * its grammar forbids them) as UTF-8 into out; returns the length, 1..4. */
size_t daq_utf8_encode(uint32_t cp, char out[4]);

/* Percent-decodes src ("%5B" -> "[") into dst, cap bytes with the NUL; a
 * '%' not followed by two hex digits stays as it is.  Returns the length. */
size_t daq_percent_decode(const char *src, char *dst, size_t cap);

#endif
