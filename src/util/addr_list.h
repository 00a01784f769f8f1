/* util/addr_list.h - the listen addresses of --bind / [server] bind, shared
 * by the gRPC port and the HTTP endpoint so both follow one rule.
 *
 * A spec is one IP literal or up to DAQ_ADDR_LIST_MAX of them separated by
 * commas; each names exactly what listens, nothing more:
 *   "127.0.0.1", "0.0.0.0"  IPv4 only (0.0.0.0: every IPv4 address)
 *   "::1", "::"             IPv6 only (IPV6_V6ONLY: no IPv4-mapped traffic)
 *   "0.0.0.0,::"            dual stack: both of the above, two listeners
 * Host names are refused: "localhost" resolves to one or two families
 * depending on /etc/hosts, and a name's addresses change under the daemon.
 * IPv6 literals may be bracketed ("[::1]").
 */
#ifndef DAQ_UTIL_ADDR_LIST_H
#define DAQ_UTIL_ADDR_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define DAQ_ADDR_LIST_MAX 4
#define DAQ_ADDR_HOST_MAX 46 /* INET6_ADDRSTRLEN */

typedef struct daq_addr {
    char host[DAQ_ADDR_HOST_MAX]; /* without brackets */
    int family;                   /* AF_INET or AF_INET6 */
    bool wildcard;                /* 0.0.0.0 or :: */
    bool loopback;                /* 127.0.0.0/8 or ::1 */
} daq_addr;

typedef struct daq_addr_list {
    size_t n;
    daq_addr a[DAQ_ADDR_LIST_MAX];
} daq_addr_list;

/* Parses spec; 0, or -1 with "'SPEC': reason". */
int daq_addr_list_parse(const char *spec, daq_addr_list *out, char *err, size_t err_len);

/* true if every address of the list is loopback. */
bool daq_addr_list_loopback(const daq_addr_list *l);

#endif
