/* storage/codec.h - chunk encoders for the recorder, one per HDF5 filter.
 *
 * The recorder writes every chunk with H5Dwrite_chunk, so the bytes it hands
 * to the file must already be what the filter in the dataset's pipeline
 * would have produced: readers (h5py with Debian's filter plugins) decode
 * them with that filter.  Encoding happens on the recorder's worker threads,
 * never under the HDF5 lock, so each encoder is a pure function of its
 * input: no HDF5 call, no global state, safe from any thread.
 *
 *   gzip   HDF5 deflate (filter 1): a zlib stream (compress2), level 0..9
 *   lz4    filter 32004: big-endian u64 raw size, u32 block size, then per
 *          block u32 compressed size + LZ4 block (a block that does not
 *          shrink is stored raw, its size equal to the block size)
 *   bslz4  filter 32008: bitshuffle of blocks of elements, each block
 *          LZ4-compressed, framed as above (u64 raw size, u32 block bytes)
 *
 * Ownership: encoders write into the caller's dst; nothing is allocated
 * except zlib's own state inside compress2.
 */
#ifndef DAQ_STORAGE_CODEC_H
#define DAQ_STORAGE_CODEC_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/storage.h"

/* Worst-case encoded size of n raw bytes (dst capacity to allocate).  For
 * DAQ_CODEC_NONE, n. */
size_t daq_codec_bound(daq_codec c, size_t n);

/* Encodes n bytes of elements elem_size bytes wide (1, 2, 4 or 8; n a
 * multiple of it) into dst (cap >= daq_codec_bound).  Returns the encoded
 * size, or 0 on failure (never for valid arguments).  level: gzip only. */
size_t daq_codec_encode(daq_codec c, unsigned level, unsigned elem_size, const void *src, size_t n,
                        void *dst, size_t cap);

/* Adds c's filter to a dataset creation property list (nothing for none)
 * with the parameters readers need.  0, or -1 with a message. */
int daq_codec_set_filter(daq_codec c, unsigned level, unsigned elem_size, hid_t dcpl, char *err,
                         size_t err_len);

/* 0 when a reader here can decode c (the filter is built in or its plugin
 * loads), or -1 with a message naming the Debian package that provides it. */
int daq_codec_check_available(daq_codec c, char *err, size_t err_len);

#endif
