/* tests/support/malloc_count.c - see malloc_count.h. */
#define _GNU_SOURCE
#include "malloc_count.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

static _Atomic uint64_t calls;

uint64_t daq_malloc_count(void)
{
    return atomic_load(&calls);
}

static void bump(void)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
}

#if defined(DAQ_SANITIZED)

void __sanitizer_install_malloc_and_free_hooks(void (*m)(const volatile void *, size_t),
                                               void (*f)(const volatile void *));

static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    bump();
}

static void on_free(const volatile void *p)
{
    (void)p;
}

__attribute__((constructor)) static void install(void)
{
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}

const char *daq_malloc_count_mechanism(void)
{
    return "sanitizer-hook";
}

#else

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

void *malloc(size_t n)
{
    bump();
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    bump();
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    bump();
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}

void *memalign(size_t align, size_t n)
{
    bump();
    return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
    return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t n)
{
    return memalign(4096, n);
}

const char *daq_malloc_count_mechanism(void)
{
    return "interposer";
}

#endif
