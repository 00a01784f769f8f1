/* storage/sync_index.h - the matched sets of a group recording, from the
 * members' recorded trigger indices (ADR 0011 decision 6: "a group
 * recording writes matched frames with one index").
 *
 * Input: per member camera, its recorded frames' trigger_index values in
 * file order (row r of /entry/<device>/trigger_index).  0 means "not
 * matched" (an untriggered frame, or one the caller leaves out: the
 * recorder zeroes frames beyond frames_per_trigger, as the live matcher in
 * daq/sync.h skips them).
 *
 * Keys: a frame's key is (trigger_index, rank), rank = how many earlier
 * rows of the same member carry the same index, so with frames_per_trigger
 * > 1 the k-th frame of trigger i on one camera pairs with the k-th on the
 * others.  A set is matched when every member has its key; the output lists
 * the matched keys in ascending order with each member's row.
 *
 * Edges: the recorder subscribes to its cameras one after the other and
 * stops them at one instant, so a pulse exposed at the very start or end
 * may reach one member's file and not another's.  Such frames are not
 * blamed: the common window is [the latest of the members' first keys, the
 * earliest of their last keys], and a frame outside it counts as `edge`,
 * one inside it without partners as `unmatched`.  When a member has no
 * triggered frame at all (or the members' ranges do not overlap) there is
 * no window and every unpaired frame is unmatched.  Per member:
 *   triggered = matched + unmatched + edge.
 *
 * Cost: the usual input (indices non-decreasing per member) is walked in
 * place, O(total frames); otherwise (a member's stream restarted and
 * counted from 1 again) that member's (index, row) pairs are sorted, 16
 * bytes per frame while building.  The output is 8 bytes x (2 + members)
 * per matched set.
 *
 * Pure: no I/O, no locks, no globals; any thread.  Ownership: the input is
 * borrowed for the call; the output's arrays belong to the caller
 * (daq_sync_index_free).
 */
#ifndef DAQ_STORAGE_SYNC_INDEX_H
#define DAQ_STORAGE_SYNC_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define DAQ_SYNC_INDEX_MAX_MEMBERS 16u

typedef struct daq_sync_index_member {
    const uint64_t *trigger_index; /* n values, file order; 0: not matched */
    size_t n;
} daq_sync_index_member;

typedef struct daq_sync_index {
    size_t n_members;
    size_t matched;                                 /* K */
    uint64_t *trigger_index;                        /* K, ascending (by key: ties are ranks) */
    uint64_t *rank;                                 /* K: the frame's rank within its trigger */
    uint64_t *rows[DAQ_SYNC_INDEX_MAX_MEMBERS];     /* K each: member m's row of set k */
    uint64_t triggered[DAQ_SYNC_INDEX_MAX_MEMBERS]; /* frames with an index */
    uint64_t unmatched[DAQ_SYNC_INDEX_MAX_MEMBERS]; /* inside the window, no partner */
    uint64_t edge[DAQ_SYNC_INDEX_MAX_MEMBERS];      /* outside the common window */
} daq_sync_index;

/* Joins n_members (2..DAQ_SYNC_INDEX_MAX_MEMBERS) members into *out
 * (overwritten).  0, or -1 with a message (bad arguments, out of memory;
 * *out then holds nothing to free). */
int daq_sync_index_build(const daq_sync_index_member *members, size_t n_members,
                         daq_sync_index *out, char *err, size_t err_len);

/* Frees the output's arrays and zeroes it.  NULL ok. */
void daq_sync_index_free(daq_sync_index *x);

#endif
