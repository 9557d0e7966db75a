/* jsplit.c: see jsplit.h. A scanner of JSON structure only: strings (with their escapes) and
 * nesting; the values themselves are jansson's to check. */
#include "jsplit.h"

#include <stdlib.h>
#include <string.h>

static size_t skip_ws(const char *b, size_t i, size_t len) {
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    return i;
}

/* Index just past the string starting at b[i] == '"', or 0 if it does not end. */
static size_t skip_string(const char *b, size_t i, size_t len) {
    for (i++; i < len; i++) {
        if (b[i] == '\\')
            i++;
        else if (b[i] == '"')
            return i + 1;
    }
    return 0;
}

/* Index just past the value starting at b[i], or 0 if it is cut off or unbalanced. */
static size_t skip_value(const char *b, size_t i, size_t len) {
    if (i >= len)
        return 0;
    if (b[i] == '"')
        return skip_string(b, i, len);
    if (b[i] == '{' || b[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char ch = b[i];
            if (ch == '"') {
                if (!(i = skip_string(b, i, len)))
                    return 0;
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if (ch == '}' || ch == ']') {
                if (depth-- == 0)
                    return 0;
                if (depth == 0)
                    return i + 1;
            }
            i++;
        }
        return 0;
    }
    size_t s = i; /* a number, true, false, null: up to a delimiter */
    while (i < len && !strchr(",}] \t\r\n", b[i]))
        i++;
    return i > s ? i : 0;
}

static int add_elem(struct jspan **e, size_t *n, size_t *cap, size_t off, size_t l) {
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        struct jspan *x = realloc(*e, c * sizeof *x);
        if (!x)
            return -1;
        *e = x;
        *cap = c;
    }
    (*e)[(*n)++] = (struct jspan){off, l};
    return 0;
}

/* The elements of the array at b[i] == '['; i past it in *end. */
static int split_array(const char *b, size_t i, size_t len, struct jspan **e, size_t *n,
                       size_t *end) {
    size_t cap = 0;
    i = skip_ws(b, i + 1, len);
    if (i < len && b[i] == ']') {
        *end = i + 1;
        return 0;
    }
    for (;;) {
        size_t v = skip_value(b, i, len);
        if (!v || add_elem(e, n, &cap, i, v - i) != 0)
            return -1;
        i = skip_ws(b, v, len);
        if (i < len && b[i] == ',') {
            i = skip_ws(b, i + 1, len);
            continue;
        }
        if (i < len && b[i] == ']') {
            *end = i + 1;
            return 0;
        }
        return -1;
    }
}

int jsplit_records(const char *b, size_t len, char *rest, size_t cap, struct jspan **elems,
                   size_t *n) {
    *elems = NULL;
    *n = 0;
    size_t r = 0, found = 0;
    size_t i = skip_ws(b, 0, len);
    if (i >= len || b[i] != '{' || cap < 3)
        goto fail;
    rest[r++] = '{';
    i = skip_ws(b, i + 1, len);
    if (i < len && b[i] == '}') /* {} has no records */
        goto fail;
    for (;;) {
        if (i >= len || b[i] != '"')
            goto fail;
        size_t k = i, ke = skip_string(b, i, len);
        if (!ke)
            goto fail;
        i = skip_ws(b, ke, len);
        if (i >= len || b[i] != ':')
            goto fail;
        i = skip_ws(b, i + 1, len);
        if (ke - k == 9 && memcmp(b + k, "\"records\"", 9) == 0) {
            size_t end;
            if (found++ || i >= len || b[i] != '[' || split_array(b, i, len, elems, n, &end))
                goto fail;
            i = end;
        } else {
            size_t v = skip_value(b, i, len);
            if (!v)
                goto fail;
            size_t need = (r > 1) + (v - k); /* ',' and the member as written */
            if (r + need + 2 > cap)
                goto fail;
            if (r > 1)
                rest[r++] = ',';
            memcpy(rest + r, b + k, v - k);
            r += v - k;
            i = v;
        }
        i = skip_ws(b, i, len);
        if (i < len && b[i] == ',') {
            i = skip_ws(b, i + 1, len);
            continue;
        }
        if (i < len && b[i] == '}')
            break;
        goto fail;
    }
    if (skip_ws(b, i + 1, len) != len || !found) /* nothing may follow the object */
        goto fail;
    rest[r++] = '}';
    rest[r] = '\0';
    return 0;
fail:
    free(*elems);
    *elems = NULL;
    *n = 0;
    return -1;
}
