/* server/rpc_listen.c - makes gRPC listen on exactly the family asked.
 *
 * gRPC 1.51 treats a wildcard address specially: "0.0.0.0:P" and "[::]:P"
 * both become one dual-stack [::]:P socket (or [::]:P + 0.0.0.0:P where
 * dual stack is off), so `--bind 0.0.0.0` also answered on every IPv6
 * address, and `--bind ::` on every IPv4 one (issue 12).  There is no
 * channel arg for that, but there is the socket mutator
 * (GRPC_ARG_SOCKET_MUTATOR), which gRPC runs on each listening socket
 * after creating it and before bind():
 *   - asked for IPv4: an IPv6 socket is refused (the mutator returns
 *     false); gRPC then falls back to 0.0.0.0, its path for hosts without
 *     IPv6, and listens there alone;
 *   - asked for IPv6: the socket gets IPV6_V6ONLY=1, so the "dual-stack"
 *     socket gRPC believes it made takes IPv6 only.
 * A specific IPv4 address needs no rule: gRPC binds it through an IPv6
 * socket as the v4-mapped ::ffff:a.b.c.d, which only that address's IPv4
 * traffic reaches (so refusing IPv6 sockets there would fail the bind).
 * The family applies to the grpc_server_add_http2_port running on this
 * thread (binding is synchronous there), so one static mutator serves
 * every server.  tests/hardening/tls.cmake checks with `ss` what listens.
 *
 * The mutator's layout is gRPC's internal one (src/core/lib/iomgr/
 * socket_mutator.h, unchanged from 1.20 to 1.51): a vtable pointer and a
 * gpr_refcount, the vtable {mutate_fd, compare, destroy, mutate_fd_2}.
 * mutate_fd_2 stays NULL so gRPC calls mutate_fd for listeners and client
 * sockets only, never for accepted connections.  The mutator is static
 * with a reference gRPC never releases: destroy is never due.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <grpc/support/sync.h>

#include "server/rpc_internal.h"

typedef struct listen_mutator listen_mutator;

typedef struct listen_mutator_vtable {
    bool (*mutate_fd)(int fd, listen_mutator *m);
    int (*compare)(listen_mutator *a, listen_mutator *b);
    void (*destroy)(listen_mutator *m);
    bool (*mutate_fd_2)(const void *info, listen_mutator *m);
} listen_mutator_vtable;

struct listen_mutator {
    const listen_mutator_vtable *vtable;
    gpr_refcount refcount;
};

static _Thread_local int want_family; /* AF_INET, AF_INET6; 0: any */

static bool mutate_fd(int fd, listen_mutator *m)
{
    (void)m;
    int domain = 0;
    socklen_t len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
        return false;
    if (want_family == AF_INET)
        return domain == AF_INET;
    if (want_family == AF_INET6) {
        if (domain != AF_INET6)
            return false;
        int on = 1;
        return setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) == 0;
    }
    return true;
}

static int compare(listen_mutator *a, listen_mutator *b)
{
    return (a > b) - (a < b);
}

static void destroy(listen_mutator *m)
{
    (void)m; /* static */
}

static const listen_mutator_vtable vtable = {mutate_fd, compare, destroy, NULL};
static listen_mutator mutator;
static gpr_once mutator_once = GPR_ONCE_INIT;

static void mutator_init(void)
{
    mutator.vtable = &vtable;
    gpr_ref_init(&mutator.refcount, 1); /* ours, never dropped */
}

static void *arg_copy(void *p)
{
    gpr_ref(&((listen_mutator *)p)->refcount);
    return p;
}

static void arg_destroy(void *p)
{
    gpr_unref(&((listen_mutator *)p)->refcount); /* never reaches 0: ours stays */
}

static int arg_cmp(void *a, void *b)
{
    return compare(a, b);
}

static const grpc_arg_pointer_vtable arg_vtable = {arg_copy, arg_destroy, arg_cmp};

grpc_arg daq_rpc_listen_arg(void)
{
    gpr_once_init(&mutator_once, mutator_init);
    grpc_arg a;
    a.type = GRPC_ARG_POINTER;
    a.key = (char *)GRPC_ARG_SOCKET_MUTATOR;
    a.value.pointer.p = &mutator;
    a.value.pointer.vtable = &arg_vtable;
    return a;
}

void daq_rpc_listen_family(int family)
{
    want_family = family;
}
