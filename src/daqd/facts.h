/* daqd/facts.h - what a report needs so two reports can be compared honestly.
 *
 * Every validate report (smoke, soak, pilot), every baseline and every
 * diagnostics bundle names the build (versions), the exact config (a
 * SHA-256 of the file's bytes) and the machine it ran on; a pilot compared
 * against a baseline from another machine or config says so.
 */
#ifndef DAQD_FACTS_H
#define DAQD_FACTS_H

#include <stdio.h>

/* Writes JSON object members (no surrounding braces), each line prefixed by
 * indent, the last without a trailing comma:
 *   "versions": {"daqd": "0.1.0", "git": "...", "build_type": "...",
 *                "frame_pool": true|false, "grpc": "...", "hdf5": "..."},
 *   "config_digest": "sha256:<hex of the config file bytes>",
 *   "machine": {"hostname": ..., "kernel": ..., "cpu_model": ..., "cpus": N,
 *               "mem_total_mib": N, "hugepages_total": N}
 * f, indent and config_path are borrowed.  A fact that cannot be read is
 * written as "unknown" (strings) or 0 (numbers), an unreadable config as
 * "config_digest": null.  Returns 0, or -1 if writing to f failed. */
int daqd_facts_json(FILE *f, const char *indent, const char *config_path);

/* "sha256:<64 hex>" of the file's bytes into out (>= 72 bytes); 0, or -1
 * (out = "") if the file cannot be read. */
int daqd_facts_config_digest(const char *config_path, char *out, size_t out_len);

/* s as a JSON string: quoted, with quotes, backslashes and control
 * characters escaped.  For every path and name a report writes. */
void daqd_json_str(FILE *f, const char *s);

#endif
