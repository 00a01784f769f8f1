/* server/rpc_addr.c - address strings around the gRPC server: the listen
 * address gRPC wants, and the client's host out of gRPC's peer string.
 *
 * Pure string work, kept apart from the server so it is unit-tested without
 * a network.  Peer strings have the form "<scheme>:<address>": gRPC 1.51
 * writes IPv6 addresses bracketed and, depending on the code path,
 * percent-encoded ("ipv6:%5B::1%5D:5000"), so the address is decoded
 * before the port is cut off.  The host is what per-client limits key on
 * (docs/facts/grpc-camera-api.md §6: at most 3 frame streams per client IP).
 */
#include <stdio.h>
#include <string.h>

#include "server/rpc_internal.h"
#include "util/text.h"

static size_t copy_span(const char *src, size_t len, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    if (len > cap - 1)
        len = cap - 1;
    memcpy(out, src, len);
    out[len] = '\0';
    return len;
}

size_t daq_rpc_peer_host(const char *peer, char *out, size_t cap)
{
    if (!peer)
        return copy_span("", 0, out, cap);
    if (strncmp(peer, "unix:", 5) == 0)
        return copy_span(peer + 5, strlen(peer + 5), out, cap);
    bool ip = strncmp(peer, "ipv4:", 5) == 0 || strncmp(peer, "ipv6:", 5) == 0;
    if (!ip)
        return copy_span(peer, strlen(peer), out, cap);

    char addr[DAQ_RPC_HOST_MAX * 2];
    size_t n = daq_percent_decode(peer + 5, addr, sizeof addr);
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        size_t len = end ? (size_t)(end - addr - 1) : n - 1;
        return copy_span(addr + 1, len, out, cap);
    }
    const char *colon = strrchr(addr, ':');
    return copy_span(addr, colon ? (size_t)(colon - addr) : n, out, cap);
}

bool daq_rpc_format_addr(const char *host, uint16_t port, char *out, size_t cap)
{
    bool v6 = strchr(host, ':') != NULL && host[0] != '[';
    int n = snprintf(out, cap, v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
    return n > 0 && (size_t)n < cap;
}
