/* daqd/hostcheck.c - the HTTP port's guard against DNS rebinding.
 *
 * A web page on another site cannot read or drive daqd's HTTP API
 * directly: the browser's same-origin policy keeps it out.  But its author
 * can make his own name resolve to 127.0.0.1 after the page has loaded
 * ("DNS rebinding"); the page's requests then reach daqd as same-origin
 * requests for *his* host name -- with no token configured (the loopback
 * default) they would be served: frames read, the camera stopped,
 * recordings deleted.  What the attacker cannot change is the Host header:
 * it names his domain.  So /api/ and /debug/ answer only requests whose
 * Host is an IP literal, "localhost", this machine's name, or a name the
 * operator listed in [security] http_hosts; anything else is 403 with a
 * message saying how to allow a legitimate name.  A request without Host
 * (HTTP/1.0 tools) did not come from a browser and passes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "daqd.h"

/* name[0..n) equals one of the comma list's names (case-insensitive). */
static bool in_list(const char *name, size_t n, const char *list)
{
    for (const char *p = list; p && *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && strncasecmp(p, name, n) == 0)
            return true;
        p += k + (p[k] == ',');
    }
    return false;
}

bool daqd_http_host_ok(const char *host, const char *allowed)
{
    if (!host)
        return true;
    if (host[0] == '[') /* an IPv6 literal (a name never starts with '[') */
        return strchr(host, ']') != NULL;
    char name[256];
    size_t n = strcspn(host, ":");
    if (n == 0 || n >= sizeof name)
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    struct in_addr a4;
    if (inet_pton(AF_INET, name, &a4) == 1)
        return true;
    if (strcasecmp(name, "localhost") == 0)
        return true;
    char self[256];
    if (gethostname(self, sizeof self) == 0) {
        self[sizeof self - 1] = '\0';
        if (strcasecmp(name, self) == 0)
            return true;
    }
    return in_list(name, n, allowed);
}
