/* storage/paths.h - confinement of recordings to the storage root.
 *
 * Every path the daemon writes or deletes is checked here, with symlinks
 * resolved: a client's output_directory or name can never reach outside
 * the root ("../x", an absolute path elsewhere, a symlink pointing out, a
 * name with '/' or NUL).  Files are created exclusively (O_EXCL |
 * O_NOFOLLOW, mode 0640): a recording never overwrites anything.
 *
 * All functions are pure apart from the file system calls they name; they
 * write into caller buffers and allocate nothing that outlives the call.
 */
#ifndef DAQ_STORAGE_PATHS_H
#define DAQ_STORAGE_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Creates dir (and missing parents, 0750) and resolves it into out (realpath).
 * 0, or -1 with "Failed to create output directory: DIR: <OS message>". */
int daq_path_make_root(const char *dir, char *out, size_t out_len, char *err, size_t err_len);

/* true when path (canonical) is root (canonical) or below it. */
bool daq_path_inside(const char *root, const char *path);

/* Resolves a client's output directory against root (relative: below
 * root; absolute: must be inside root), creating missing components (0750)
 * one at a time and checking each resolved component stays inside root.
 * "" means root.  '..' may appear only in the part that exists (realpath
 * resolves it there).  0 with the canonical directory in out, or -1 with
 * one of (DIR as given) -- nothing is created outside root in any case,
 * and nothing at all when the path is refused before creation:
 *   "Invalid output path: DIR: outside the storage root ROOT"
 *   "Invalid output path: DIR: '..' is not allowed in a directory to create"
 *   "Failed to create output directory: DIR: <OS message>" */
int daq_path_resolve_dir(const char *root, const char *dir, char *out, size_t out_len, char *err,
                         size_t err_len);

/* Sanitises a recording name for a file name: [A-Za-z0-9._-] kept, other
 * bytes become '_', a leading '.' becomes '_', at most 64 bytes, "" ->
 * "recording".  name_len is the length as received (protobuf strings may
 * hold NULs).  0, or -1 with
 *   "Invalid name: NAME: '/' is not allowed"
 *   "Invalid name: NAME-UP-TO-THE-NUL: a NUL byte is not allowed"
 *   "Invalid name: NAME: '.' and '..' are not allowed" */
int daq_path_sanitise_name(const char *name, size_t name_len, char *out, size_t out_len, char *err,
                           size_t err_len);

/* Expands a filename pattern: {name} (the name sanitised as above)
 * {timestamp} (Unix seconds) {date} (%Y-%m-%d, UTC) {datetime}
 * (%Y%m%d_%H%M%S, UTC); other text is kept, sanitised like a name; "" is
 * "{name}_{timestamp}.h5"; ".h5" is appended when the result lacks it (the
 * catalogue lists only *.h5); at most 255 bytes.  0, or -1 with a name's
 * message or
 *   "Invalid filename pattern: PATTERN: unknown placeholder {WORD}
 *    (supported: {name}, {timestamp}, {date}, {datetime})"   (one line)
 *   "Invalid filename pattern: PATTERN: '/' is not allowed"
 *   "Invalid filename pattern: PATTERN: the file name would be longer than
 *    255 bytes" */
int daq_path_expand_pattern(const char *pattern, const char *name, uint64_t realtime_ns, char *out,
                            size_t out_len, char *err, size_t err_len);

/* Creates dir/file exclusively (O_CREAT | O_EXCL | O_NOFOLLOW, mode forced
 * to 0640 whatever the umask) and closes it; when it exists, tries file
 * stem + "_1", "_2", ... up to 100 (run.h5 -> run_1.h5).  Writes the full
 * path into out.  0, or -1 with "PATH: <OS message>", or "DIR/FILE: File
 * exists (and with suffixes _1 to _100)". */
int daq_path_create_exclusive(const char *dir, const char *file, char *out, size_t out_len,
                              char *err, size_t err_len);

/* Free and used bytes of the file system holding path (statvfs); 0 on error. */
void daq_path_disk_space(const char *path, uint64_t *avail, uint64_t *used);

#endif
