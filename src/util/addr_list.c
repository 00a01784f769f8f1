/* util/addr_list.c - parsing --bind lists.  See util/addr_list.h.
 *
 * inet_pton does the work: it accepts exactly the literals the sockets will
 * be bound to, so what parses is what listens.  Duplicates are refused here
 * (the second bind would fail with a less helpful "Address already in
 * use").
 */
#include "util/addr_list.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "util/err.h"

static int parse_one(const char *spec, const char *s, size_t len, daq_addr *out, char *err,
                     size_t err_len)
{
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
        s++, len -= 2;
    if (len == 0 || len >= DAQ_ADDR_HOST_MAX)
        return daq_err(err, err_len, "'%s': empty or overlong address", spec);
    memcpy(out->host, s, len);
    out->host[len] = '\0';
    unsigned char a[16];
    if (inet_pton(AF_INET, out->host, a) == 1) {
        out->family = AF_INET;
        out->wildcard = memcmp(a, "\0\0\0\0", 4) == 0;
        out->loopback = a[0] == 127;
        return 0;
    }
    if (inet_pton(AF_INET6, out->host, a) == 1) {
        out->family = AF_INET6;
        out->wildcard = memcmp(a, in6addr_any.s6_addr, 16) == 0;
        out->loopback = memcmp(a, in6addr_loopback.s6_addr, 16) == 0;
        return 0;
    }
    return daq_err(err, err_len,
                   "'%s': '%s' is not an IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::1, ::, "
                   "or 0.0.0.0,:: for both)",
                   spec, out->host);
}

int daq_addr_list_parse(const char *spec, daq_addr_list *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    if (!spec || !*spec)
        return daq_err(err, err_len, "'': no address");
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (out->n == DAQ_ADDR_LIST_MAX)
            return daq_err(err, err_len, "'%s': more than %d addresses", spec, DAQ_ADDR_LIST_MAX);
        daq_addr *a = &out->a[out->n];
        if (parse_one(spec, p, len, a, err, err_len) != 0)
            return -1;
        for (size_t i = 0; i < out->n; i++)
            if (strcmp(out->a[i].host, a->host) == 0)
                return daq_err(err, err_len, "'%s': %s is listed twice", spec, a->host);
        out->n++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

bool daq_addr_list_loopback(const daq_addr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (!l->a[i].loopback)
            return false;
    return l->n > 0;
}
