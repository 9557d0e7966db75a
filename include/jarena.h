/* jarena.h: bump allocation for jansson values that are thrown away all at once.
 *
 * A big import parses thousands of records with jansson; each is some eighty small mallocs and
 * as many frees, about a tenth of the import's CPU. While a thread has an arena active, jansson
 * allocates from it, its frees of those values do nothing, and the whole arena is released in
 * one go. Everything else (other threads, or this one outside jarena_begin/jarena_end) goes
 * through malloc and free as before. */
#ifndef HUB_JARENA_H
#define HUB_JARENA_H

#include <stddef.h>

struct jarena_chunk;

struct jarena {
    struct jarena_chunk *chunks; /* newest first */
};

/* Routes jansson's allocations through jarena; call once, before any jansson call. */
void jarena_install(void);
/* From here until jarena_end, values jansson makes on this thread come from the arena a. They
 * must not be used after jarena_release(a), and need no json_decref. */
void jarena_begin(struct jarena *a);
void jarena_end(void);
/* Frees every value made in the arena. */
void jarena_release(struct jarena *a);
/* Frees a string from json_dumps with whatever allocator jansson has (free() would not do once
 * jarena_install has run). */
void jarena_free_dump(char *s);

#endif
