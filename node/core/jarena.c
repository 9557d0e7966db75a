/* jarena.c: see jarena.h. */
#include "jarena.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#define JARENA_CHUNK (1u << 20)
#define JARENA_HDR 16 /* keeps jansson's values 16-byte aligned, like malloc's */

/* Each block jansson gets carries a header that says where it came from, so that a free of an
 * arena value (json_decref of a value made during an import) is a no-op however late it comes. */
enum { FROM_HEAP = 0x4a48, FROM_ARENA = 0x4a41 };

struct jarena_chunk {
    struct jarena_chunk *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

static _Thread_local struct jarena *current;

static void *arena_alloc(struct jarena *a, size_t n) {
    size_t need = (JARENA_HDR + n + 15) & ~(size_t)15;
    struct jarena_chunk *c = a->chunks;
    if (!c || c->size - c->used < need) {
        size_t size = need > JARENA_CHUNK ? need : JARENA_CHUNK;
        c = malloc(sizeof *c + size);
        if (!c)
            return NULL;
        c->next = a->chunks;
        c->used = 0;
        c->size = size;
        a->chunks = c;
    }
    unsigned char *p = c->data + c->used;
    c->used += need;
    *(uint32_t *)p = FROM_ARENA;
    return p + JARENA_HDR;
}

static void *jarena_malloc(size_t n) {
    if (current)
        return arena_alloc(current, n);
    unsigned char *p = malloc(JARENA_HDR + n);
    if (!p)
        return NULL;
    *(uint32_t *)p = FROM_HEAP;
    return p + JARENA_HDR;
}

static void jarena_free(void *ptr) {
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - JARENA_HDR;
    if (*(uint32_t *)p == FROM_HEAP)
        free(p);
}

void jarena_install(void) {
    json_set_alloc_funcs(jarena_malloc, jarena_free);
}

void jarena_begin(struct jarena *a) {
    current = a;
}

void jarena_end(void) {
    current = NULL;
}

void jarena_release(struct jarena *a) {
    struct jarena_chunk *c = a->chunks;
    while (c) {
        struct jarena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->chunks = NULL;
}

void jarena_free_dump(char *s) {
    json_free_t f;
    json_get_alloc_funcs(NULL, &f);
    f(s);
}
