/* jsplit.h: finds the elements of the "records" list of an import request without parsing
 * them, so that they can be parsed on several cores (control.c). It only locates: jansson
 * checks every piece afterwards, and whatever jsplit does not expect sends the request down the
 * ordinary path, which gives the same answer, a single parse later. */
#ifndef HUB_JSPLIT_H
#define HUB_JSPLIT_H

#include <stddef.h>

struct jspan {
    size_t off, len;
};

/* In the JSON object text buf[0..len): the top-level members other than "records", written
 * into rest (cap bytes) as the text of an object, and the spans of the elements of the
 * "records" array (*elems, malloc'd, *n of them). 0, or -1 when the text is not an object with
 * exactly one "records" member holding an array (or rest is too small, or out of memory). */
int jsplit_records(const char *buf, size_t len, char *rest, size_t cap, struct jspan **elems,
                   size_t *n);

#endif
