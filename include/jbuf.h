/* jbuf.h: a growable buffer that JSON text is written into directly. The record views of the
 * control socket (query answers of hundreds of KB) are built with it rather than as jansson
 * trees, which cost several times more to build and dump than to write. */
#ifndef HUB_JBUF_H
#define HUB_JBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct jbuf {
    char *p;
    size_t len, cap;
    int oom; /* an allocation failed: the text is incomplete */
};

void jbuf_init(struct jbuf *b);
void jbuf_free(struct jbuf *b);
void jbuf_raw(struct jbuf *b, const char *s, size_t n);
/* Room for n more bytes, so that writing them does not grow the buffer again (0 on OOM). */
int jbuf_reserve(struct jbuf *b, size_t n);
/* jbuf_raw inline, for jbuf_lit and jbuf_key_lit: with a constant length the copy is a few
 * moves, where a call per "{", "}" or "true" showed in query profiles. */
static inline void jbuf_raw_const(struct jbuf *b, const char *s, size_t n) {
    if ((b->len + n + 1 > b->cap || b->oom) && !jbuf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
#define jbuf_lit(b, s) jbuf_raw_const((b), "" s, sizeof(s) - 1)
/* A JSON string: quoted, with '"', '\\' and control characters escaped (input is UTF-8). */
void jbuf_str(struct jbuf *b, const char *s, size_t n);
#define jbuf_cstr(b, s) jbuf_str((b), (s), strlen(s))
void jbuf_u64(struct jbuf *b, uint64_t v);
/* The decimal digits of v (no NUL) at out; returns how many (1 to 20). */
#define JBUF_U64_MAX 20
size_t jbuf_u64_text(uint64_t v, char out[JBUF_U64_MAX]);
void jbuf_i64(struct jbuf *b, int64_t v);
/* A JSON number for a double, as jansson prints it with 15 significant digits. */
void jbuf_real(struct jbuf *b, double v);
/* A quoted string of lower-case hex digits. */
void jbuf_hex(struct jbuf *b, const uint8_t *bin, size_t n);
/* ',' unless the text ends with '{' or '[' (the start of a container). */
void jbuf_sep(struct jbuf *b);
/* ,"name": (with the separator); the name is escaped like any string (some come from
 * records, e.g. language tags). Inline so that a literal name's length is a constant. */
void jbuf_key_n(struct jbuf *b, const char *name, size_t n);
static inline void jbuf_key(struct jbuf *b, const char *name) {
    jbuf_key_n(b, name, strlen(name));
}
/* The same for a name that needs no escape because this program wrote it: a member name of
 * its own or a .proto field name, never text from a record (that goes through jbuf_key). */
void jbuf_key_plain(struct jbuf *b, const char *name, size_t n);
/* jbuf_key_plain of a string literal (anything else does not compile), inline. */
static inline void jbuf_key_const(struct jbuf *b, const char *name, size_t n) {
    if ((b->len + n + 5 > b->cap || b->oom) && !jbuf_reserve(b, n + 4))
        return;
    char *o = b->p + b->len;
    if (b->len && o[-1] != '{' && o[-1] != '[')
        *o++ = ',';
    *o++ = '"';
    memcpy(o, name, n);
    o += n;
    *o++ = '"';
    *o++ = ':';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = 0;
}
#define jbuf_key_lit(b, name) jbuf_key_const((b), "" name, sizeof(name) - 1)

#endif
