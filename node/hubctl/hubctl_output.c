/* hubctl_output.c: text and JSON printers for hubctl (see hubctl_output.h).
 *
 * Text output never prints record content raw: control characters (C0, DEL, C1) are replaced,
 * since records come from other hubs and must not drive the operator's terminal. Widths count
 * UTF-8 code points (jansson only hands out valid UTF-8). */
#include "hubctl_output.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, one column */
#define TABLE_GAP 2             /* spaces between columns */
#define TABLE_MIN_FLEX 12       /* a truncated column keeps at least this many columns */

/* ---- small helpers ------------------------------------------------------------------------ */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fputs("hubctl: out of memory\n", stderr);
        exit(4);
    }
    return p;
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fputs("hubctl: out of memory\n", stderr);
        exit(4);
    }
    return q;
}

/* Owned, formatted string. */
__attribute__((format(printf, 1, 2))) static char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("hubctl: cannot format output\n", stderr);
        exit(4);
    }
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    int m = vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (m != n) {
        fputs("hubctl: cannot format output\n", stderr);
        exit(4);
    }
    return s;
}

static const char *jstr(json_t *o, const char *k) {
    return json_string_value(json_object_get(o, k));
}

/* Integer member, or def when absent or not an integer. */
static long long jint(json_t *o, const char *k, long long def) {
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

/* Whether s starts with a character that changes how a terminal lays out what follows rather
 * than showing itself: the bidirectional embeddings, overrides and isolates (U+202A..U+202E,
 * U+2066..U+2069), the direction marks (U+200E, U+200F, U+061C) and the line and paragraph
 * separators (U+2028, U+2029). A record title holding U+202E could make a table show text in
 * an order its author chose ("Trojan Source"). */
static int is_format_control(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    if (n >= 2 && s[0] == 0xd8 && s[1] == 0x9c)
        return 1; /* U+061C ARABIC LETTER MARK */
    if (n < 3 || s[0] != 0xe2)
        return 0;
    if (s[1] == 0x80)
        return s[2] == 0x8e || s[2] == 0x8f || (s[2] >= 0xa8 && s[2] <= 0xae);
    return s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9;
}

/* Owned copy of s that is safe to print: C0 controls, DEL, C1 controls and the layout controls
 * of is_format_control become '?', a tab a space; newlines are kept only when keep_nl. NULL
 * gives "". */
static char *clean(const char *s, int keep_nl) {
    if (s == NULL)
        s = "";
    size_t n = strlen(s);
    char *out = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' && keep_nl) {
            out[j++] = '\n';
        } else if (c == '\t') {
            out[j++] = ' ';
        } else if (c < 0x20 || c == 0x7f) {
            out[j++] = '?';
        } else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9f) {
            out[j++] = '?'; /* U+0080..U+009F */
            i++;
        } else if (is_format_control(s + i, n - i)) {
            out[j++] = '?';
            i += (c == 0xd8) ? 1 : 2;
        } else {
            out[j++] = (char)c;
        }
    }
    out[j] = '\0';
    return out;
}

/* Display columns of a UTF-8 string: its code points. */
static size_t dwidth(const char *s) {
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

/* Byte length of the first n code points of s. */
static size_t cp_bytes(const char *s, size_t n) {
    size_t i = 0;
    while (s[i] && n > 0) {
        i++;
        while (((unsigned char)s[i] & 0xc0) == 0x80)
            i++;
        n--;
    }
    return i;
}

/* s in exactly w columns (padded unless last), truncated with an ellipsis when longer. */
static void put_cell(FILE *f, const char *s, size_t w, int right, int last) {
    size_t dw = dwidth(s);
    if (dw > w) {
        if (w == 0)
            return;
        fwrite(s, 1, cp_bytes(s, w - 1), f);
        fputs(ELLIPSIS, f);
        return;
    }
    if (right)
        fprintf(f, "%*s", (int)(w - dw), "");
    fputs(s, f);
    if (!right && !last)
        fprintf(f, "%*s", (int)(w - dw), "");
}

/* Raw output (--raw, or stdout not a terminal): tables without a header, cells separated by
 * tabs, nothing shortened or cut, so that cut, awk and sort see whole keys and titles. */
static int output_raw;

void output_set_raw(int on) {
    output_raw = on;
}

/* First OUTPUT_SHORT_LEN digits of a hex key or id (all of them in raw output); "-" when
 * absent. */
static void short_hex(const char *hex, char out[OUTPUT_HEX_BUF]) {
    if (hex == NULL || *hex == '\0') {
        memcpy(out, "-", 2);
        return;
    }
    size_t n = strnlen(hex, output_raw ? OUTPUT_HEX_BUF - 1 : OUTPUT_SHORT_LEN);
    memcpy(out, hex, n);
    out[n] = '\0';
}

/* Milliseconds since the epoch as "YYYY-MM-DD HH:MM" UTC; "-" for none. */
static void fmt_time(long long ms, char out[32]) {
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M", &tm) == 0)
        memcpy(out, "-", 2);
}

/* Milliseconds since the epoch as ISO 8601 UTC. */
static void fmt_iso(long long ms, char out[32]) {
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        memcpy(out, "-", 2);
}

static long long now_ms(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return 0;
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "12s ago", "5m ago", "3h ago", "2d ago"; "never" for 0. */
static void fmt_ago(long long ms, char out[32]) {
    if (ms <= 0) {
        memcpy(out, "never", 6);
        return;
    }
    long long s = (now_ms() - ms) / 1000;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(out, 32, "%llds ago", s);
    else if (s < 2LL * 3600)
        snprintf(out, 32, "%lldm ago", s / 60);
    else if (s < 2LL * 86400)
        snprintf(out, 32, "%lldh ago", s / 3600);
    else
        snprintf(out, 32, "%lldd ago", s / 86400);
}

/* "2d 3h 4m 5s" */
static void fmt_duration(long long s, char out[64]) {
    if (s < 0)
        s = 0;
    long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
    if (d > 0)
        snprintf(out, 64, "%lldd %lldh %lldm %llds", d, h, m, sec);
    else if (h > 0)
        snprintf(out, 64, "%lldh %lldm %llds", h, m, sec);
    else if (m > 0)
        snprintf(out, 64, "%lldm %llds", m, sec);
    else
        snprintf(out, 64, "%llds", sec);
}

/* Bytes as "19.5 MiB". */
static void fmt_bytes(long long b, char out[32]) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)(b < 0 ? 0 : b);
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, 32, "%lld B", b < 0 ? 0 : b);
    else
        snprintf(out, 32, "%.1f %s", v, unit[u]);
}

/* A scalar JSON value as text (owned); NULL for objects and arrays. */
static char *scalar_text(json_t *v) {
    switch (json_typeof(v)) {
    case JSON_STRING:
        return xasprintf("%s", json_string_value(v));
    case JSON_INTEGER:
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return xasprintf("%g", json_real_value(v));
    case JSON_TRUE:
        return xasprintf("yes");
    case JSON_FALSE:
        return xasprintf("no");
    case JSON_NULL:
        return xasprintf("-");
    default:
        return NULL;
    }
}

/* ---- key: value blocks -------------------------------------------------------------------- */

struct kv {
    char *k, *v; /* owned, cleaned */
};
struct kvlist {
    struct kv *a;
    size_t n, cap;
};

static void kv_put(struct kvlist *l, const char *k, char *v_owned) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->a = xrealloc(l->a, l->cap * sizeof(*l->a));
    }
    l->a[l->n].k = clean(k, 0);
    l->a[l->n].v = clean(v_owned, 1);
    free(v_owned);
    l->n++;
}

__attribute__((format(printf, 3, 4))) static void kv_add(struct kvlist *l, const char *k,
                                                         const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *v = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(v, (size_t)n + 1, fmt, ap);
    va_end(ap);
    kv_put(l, k, v);
}

/* "key: value" lines, values aligned; a multi-line value continues under its first line. */
static void kv_print(struct kvlist *l, FILE *f) {
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t d = dwidth(l->a[i].k);
        if (d > w)
            w = d;
    }
    for (size_t i = 0; i < l->n; i++) {
        fprintf(f, "%s:%*s", l->a[i].k, (int)(w - dwidth(l->a[i].k) + 1), "");
        for (const char *p = l->a[i].v; *p; p++) {
            fputc(*p, f);
            if (*p == '\n')
                fprintf(f, "%*s", (int)(w + 2), "");
        }
        fputc('\n', f);
    }
}

static void kv_free(struct kvlist *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->a[i].k);
        free(l->a[i].v);
    }
    free(l->a);
    l->a = NULL;
    l->n = l->cap = 0;
}

/* Record fields as kv lines: nested objects as "cost.currency", lists of scalars joined with
 * ", ", lists of objects as "x[0].y". */
static void kv_flatten(struct kvlist *l, const char *name, json_t *v) {
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m) {
            char *sub = name ? xasprintf("%s.%s", name, k) : xasprintf("%s", k);
            kv_flatten(l, sub, m);
            free(sub);
        }
        return;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        int scalars = 1;
        json_array_foreach(v, i, e) {
            if (json_is_object(e) || json_is_array(e))
                scalars = 0;
        }
        if (scalars) {
            char *joined = xasprintf("%s", "");
            json_array_foreach(v, i, e) {
                char *t = scalar_text(e);
                char *n = xasprintf("%s%s%s", joined, i ? ", " : "", t);
                free(t);
                free(joined);
                joined = n;
            }
            kv_put(l, name ? name : "-", joined);
            return;
        }
        json_array_foreach(v, i, e) {
            char *sub = xasprintf("%s[%zu]", name ? name : "", i);
            kv_flatten(l, sub, e);
            free(sub);
        }
        return;
    }
    kv_put(l, name ? name : "-", scalar_text(v));
}

/* ---- tables ------------------------------------------------------------------------------- */

struct column {
    const char *head;
    size_t max; /* widest the column may get; 0: no cap */
    int right;  /* right-aligned (numbers) */
};

struct table {
    const struct column *cols;
    size_t ncol;
    size_t flex;  /* column shortened when the line would exceed OUTPUT_MAX_COLS */
    char **cells; /* nrows * ncol, owned, cleaned */
    size_t nrows, cap;
};

static void table_add(struct table *t, const char *const *row) {
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->cells = xrealloc(t->cells, t->cap * t->ncol * sizeof(char *));
    }
    for (size_t c = 0; c < t->ncol; c++)
        t->cells[t->nrows * t->ncol + c] = clean(row[c], 0);
    t->nrows++;
}

/* Column widths: the widest cell, capped, then the flex column shortened to fit the line. */
static void table_widths(const struct table *t, size_t *w) {
    size_t total = 0;
    for (size_t c = 0; c < t->ncol; c++) {
        w[c] = dwidth(t->cols[c].head);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t d = dwidth(t->cells[r * t->ncol + c]);
            if (d > w[c])
                w[c] = d;
        }
        if (t->cols[c].max && w[c] > t->cols[c].max)
            w[c] = t->cols[c].max;
        total += w[c] + (c ? TABLE_GAP : 0);
    }
    if (total > OUTPUT_MAX_COLS) {
        size_t excess = total - OUTPUT_MAX_COLS;
        size_t floor = TABLE_MIN_FLEX;
        if (w[t->flex] > floor)
            w[t->flex] -= excess < w[t->flex] - floor ? excess : w[t->flex] - floor;
    }
}

static void table_row(const struct table *t, const size_t *w, const char *const *row, FILE *f) {
    if (output_raw) {
        for (size_t c = 0; c < t->ncol; c++) {
            if (c)
                fputc('\t', f);
            fputs(row[c], f); /* cleaned: a tab in a cell is a space */
        }
        fputc('\n', f);
        return;
    }
    for (size_t c = 0; c < t->ncol; c++) {
        if (c)
            fprintf(f, "%*s", TABLE_GAP, "");
        put_cell(f, row[c], w[c], t->cols[c].right, c + 1 == t->ncol);
    }
    fputc('\n', f);
}

static void table_header(const struct table *t, const size_t *w, FILE *f) {
    if (output_raw)
        return;
    const char *heads[16];
    for (size_t c = 0; c < t->ncol && c < 16; c++)
        heads[c] = t->cols[c].head;
    table_row(t, w, heads, f);
}

static void table_print(const struct table *t, FILE *f) {
    size_t w[16];
    table_widths(t, w);
    table_header(t, w, f);
    for (size_t r = 0; r < t->nrows; r++)
        table_row(t, w, (const char *const *)&t->cells[r * t->ncol], f);
}

static void table_free(struct table *t) {
    for (size_t i = 0; i < t->nrows * t->ncol; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = t->cap = 0;
}

/* ---- record rows (query, history, watch) -------------------------------------------------- */

enum { RC_ID, RC_AUTHOR, RC_HUB, RC_SEQ, RC_KIND, RC_KEY, RC_TIME, RC_TITLE, RC_N };

static const struct column record_cols[RC_N] = {
    {"ID", OUTPUT_SHORT_LEN, 0},
    {"AUTHOR", OUTPUT_SHORT_LEN, 0},
    {"HUB", 24, 0},
    {"SEQ", 10, 1},
    {"KIND", 11, 0},
    {"KEY", 24, 0},
    {"TIME (UTC)", 16, 0},
    {"TITLE", 0, 0},
};

/* One-line summary of a record view: what a person needs to recognise it. Owned. */
static char *record_summary(json_t *view) {
    json_t *rec = json_object_get(view, "record");
    const char *kind = jstr(view, "kind");
    if (kind == NULL)
        kind = "";
    if (json_is_true(json_object_get(view, "purged")) || !json_is_object(rec))
        return xasprintf("(purged)");
    if (strcmp(kind, "response") == 0) {
        char tgt[OUTPUT_HEX_BUF];
        short_hex(jstr(rec, "target"), tgt);
        char *type = scalar_text(json_object_get(rec, "type"));
        const char *msg = jstr(rec, "message");
        /* The record answered by its title (or key) and its hub, as this hub knows them. */
        const char *what = jstr(view, "target_title");
        if (what == NULL)
            what = jstr(rec, "target_key");
        /* An accept or decline answers a reply: name it by its hub. */
        const char *tk = jstr(rec, "target_kind");
        const char *tn = jstr(view, "target_name");
        char *reply_of = NULL;
        if (tk && strcmp(tk, "response") == 0) {
            char who[OUTPUT_HEX_BUF];
            short_hex(jstr(rec, "target_author"), who);
            reply_of = xasprintf("%s's reply", tn ? tn : who);
        }
        if (reply_of)
            what = reply_of;
        const char *state = jstr(view, "state");
        long long seats = jint(rec, "seats", 0);
        char *seat = seats > 0 ? xasprintf(" (%lld seat%s)", seats, seats == 1 ? "" : "s")
                               : xasprintf("%s", "");
        char *s =
            xasprintf("%s%s on %s%s%s%s%s", type ? type : "response", seat, what ? what : tgt,
                      state ? " [" : "", state ? state : "", state ? "]" : "", msg ? ": " : "");
        char *t = xasprintf("%s%s", s, msg ? msg : "");
        free(s);
        free(reply_of);
        free(seat);
        free(type);
        return t;
    }
    if (strcmp(kind, "retraction") == 0) {
        char *tk = scalar_text(json_object_get(rec, "target_kind"));
        const char *key = jstr(rec, "target_key");
        const char *why = jstr(rec, "reason");
        char *s = xasprintf("withdraws %s %s%s%s", tk ? tk : "record", key ? key : "?",
                            why && *why ? ": " : "", why ? why : "");
        free(tk);
        return s;
    }
    if (strcmp(kind, "endorsement") == 0) {
        char hub[OUTPUT_HEX_BUF];
        short_hex(jstr(rec, "hub"), hub);
        const char *st = jstr(rec, "statement");
        return xasprintf("endorses %s%s%s", hub, st && *st ? ": " : "", st ? st : "");
    }
    const char *t = jstr(rec, "title");
    if (t == NULL)
        t = jstr(rec, "name");
    if (strcmp(kind, "offer") == 0) {
        /* Derived by this hub (records.h): full, seats left, past. */
        json_t *left = json_object_get(view, "seats_left");
        int past = json_is_true(json_object_get(view, "past"));
        if (json_is_true(json_object_get(view, "full")))
            return xasprintf("%s [full%s]", t ? t : "", past ? ", past" : "");
        if (json_is_integer(left))
            return xasprintf("%s [%lld seats left%s]", t ? t : "",
                             (long long)json_integer_value(left), past ? ", past" : "");
        if (past)
            return xasprintf("%s [past]", t ? t : "");
    }
    return xasprintf("%s", t ? t : "");
}

/* "Name (CC)" of a view's author (or of prefix_name/prefix_country), or NULL. Owned. */
static char *hub_label(json_t *view, const char *name_k, const char *country_k) {
    const char *n = jstr(view, name_k);
    const char *c = jstr(view, country_k);
    if (n == NULL || *n == '\0')
        return NULL;
    return c && *c ? xasprintf("%s (%s)", n, c) : xasprintf("%s", n);
}

/* Cells of a record row; *title is owned by the caller. */
struct record_row {
    char id[OUTPUT_HEX_BUF], author[OUTPUT_HEX_BUF], seq[24], time[32];
    char *title, *hub;
    const char *cells[RC_N];
};

static void record_row_make(json_t *view, struct record_row *r) {
    short_hex(jstr(view, "id"), r->id);
    short_hex(jstr(view, "author"), r->author);
    snprintf(r->seq, sizeof(r->seq), "%lld", jint(view, "seq", 0));
    fmt_time(jint(view, "timestamp", 0), r->time);
    r->title = record_summary(view);
    r->hub = hub_label(view, "author_name", "author_country");
    const char *kind = jstr(view, "kind");
    const char *key = jstr(view, "key");
    r->cells[RC_ID] = r->id;
    r->cells[RC_AUTHOR] = r->author;
    r->cells[RC_HUB] = r->hub ? r->hub : "-";
    r->cells[RC_SEQ] = r->seq;
    r->cells[RC_KIND] = kind ? kind : "-";
    r->cells[RC_KEY] = key ? key : "-";
    r->cells[RC_TIME] = r->time;
    r->cells[RC_TITLE] = r->title;
}

/* ---- text output -------------------------------------------------------------------------- */

void output_error_line(json_t *resp) {
    json_t *err = json_object_get(resp, "error");
    const char *code = jstr(err, "code");
    const char *msg = jstr(err, "message");
    const char *field = jstr(err, "field");
    char *c = clean(code ? code : "E_UNKNOWN", 0);
    char *m = clean(msg ? msg : "hubd gave no error message", 0);
    if (field && *field) {
        char *fl = clean(field, 0);
        fprintf(stderr, "hubctl: %s: %s (field: %s)\n", c, m, fl);
        free(fl);
    } else {
        fprintf(stderr, "hubctl: %s: %s\n", c, m);
    }
    free(c);
    free(m);
}

static void text_status(json_t *r) {
    struct kvlist l = {0};
    char buf[64], b2[32];
    json_t *forks = json_object_get(r, "forks");
    size_t nforks = json_array_size(forks);

    json_t *own = json_object_get(r, "own_feed");
    json_t *inuse = json_object_get(own, "key_in_use");
    if (inuse) {
        char p[OUTPUT_HEX_BUF];
        short_hex(jstr(inuse, "peer"), p);
        printf("WARNING: another hub is publishing with this hub's key: entries seq %lld..%lld of\n"
               "our own feed that this hubd did not write came from peer %s. Publishing is\n"
               "stopped: shut the other copy down, then restart this hub (README: backups and\n"
               "the hub's identity).\n\n",
               jint(inuse, "from", 0), jint(inuse, "to", 0), p);
    }
    if (nforks)
        printf("WARNING: %zu forked feed%s: see FORKS below\n\n", nforks, nforks == 1 ? "" : "s");
    kv_add(&l, "hub", "%s", jstr(r, "hub") ? jstr(r, "hub") : "-");
    kv_add(&l, "version", "%s (control protocol %lld)",
           jstr(r, "version") ? jstr(r, "version") : "-", jint(r, "protocol", 0));
    fmt_duration(jint(r, "uptime_s", 0), buf);
    kv_add(&l, "uptime", "%s", buf);
    kv_add(&l, "data dir", "%s", jstr(r, "data_dir") ? jstr(r, "data_dir") : "-");
    kv_add(&l, "control socket", "%s", jstr(r, "control_socket") ? jstr(r, "control_socket") : "-");
    kv_add(&l, "own seq", "%lld", jint(r, "own_seq", 0));
    const char *ost = jstr(own, "state");
    json_t *rec = json_object_get(own, "recovered");
    char rp[OUTPUT_HEX_BUF] = "";
    if (rec)
        short_hex(jstr(rec, "peer"), rp);
    if (!ost)
        kv_add(&l, "own feed", "-");
    else if (strcmp(ost, "recovering") == 0)
        kv_add(&l, "own feed", "waiting for a peer to compare it before publishing (%lld s left)",
               (jint(own, "wait_left_ms", 0) + 999) / 1000);
    else if (strcmp(ost, "key_in_use") == 0)
        kv_add(&l, "own feed", "KEY IN USE by another hub: publishing stopped (see above)");
    else if (rec)
        kv_add(&l, "own feed", "ready; recovered seq %lld..%lld from peer %s at start-up",
               jint(rec, "from", 0), jint(rec, "to", 0), rp);
    else
        kv_add(&l, "own feed", "ready");
    kv_add(&l, "entries", "%lld", jint(r, "entries", 0));
    kv_add(&l, "records", "%lld", jint(r, "records", 0));
    kv_add(&l, "feeds", "%lld", jint(r, "feeds", 0));
    long long used = jint(r, "used_bytes", 0), map = jint(r, "map_size", 0);
    fmt_bytes(used, buf);
    fmt_bytes(map, b2);
    long long mmax = jint(r, "map_max", 0);
    char b3[32];
    fmt_bytes(mmax, b3);
    if (map > 0 && mmax > 0)
        kv_add(&l, "store", "%s used of %s map (%lld%%), map grows up to %s (%lld%% used)", buf,
               b2, used * 100 / map, b3, used * 100 / mmax);
    else if (map > 0)
        kv_add(&l, "store", "%s used of %s map (%lld%%)", buf, b2, used * 100 / map);
    else
        kv_add(&l, "store", "%s used", buf);
    kv_add(&l, "index tail", "%lld records not yet merged into the index",
           jint(r, "index_tail", 0));
    kv_add(&l, "clients", "%lld", jint(r, "clients", 0));
    json_t *peers = json_object_get(r, "peers");
    kv_add(&l, "peers", "%lld connected of %lld configured", jint(peers, "connected", 0),
           jint(peers, "configured", 0));
    json_t *sy = json_object_get(r, "sync");
    if (jstr(sy, "policy"))
        kv_add(&l, "policy", "%s, %lld trusted hub(s) (hubctl trust)", jstr(sy, "policy"),
               jint(sy, "trusted", 0));
    json_t *ar = json_object_get(r, "addressed_replies");
    if (ar) {
        json_t *rf = json_object_get(ar, "refused");
        kv_add(&l, "addressed replies",
               "%lld kept, %lld relayed, %lld held; refused: %lld blocked, %lld over quota, "
               "%lld too large, %lld invalid; %lld hub(s) blocked",
               jint(ar, "kept", 0), jint(ar, "relayed", 0), jint(ar, "held", 0),
               jint(rf, "blocked", 0), jint(rf, "quota", 0), jint(rf, "size", 0),
               jint(rf, "invalid", 0), jint(ar, "blocked", 0));
    }

    /* Rejected input: only the codes that occurred. */
    char *rej = xasprintf("%s", "");
    const char *code;
    json_t *cnt;
    json_object_foreach(json_object_get(r, "rejected"), code, cnt) {
        if (!json_is_integer(cnt) || json_integer_value(cnt) == 0)
            continue;
        char *n = xasprintf("%s%s%s %" JSON_INTEGER_FORMAT, rej, *rej ? ", " : "", code,
                            json_integer_value(cnt));
        free(rej);
        rej = n;
    }
    if (*rej == '\0') {
        free(rej);
        rej = xasprintf("none");
    }
    kv_put(&l, "rejected", rej);
    if (nforks)
        kv_add(&l, "forks", "%zu (feeds frozen, see below)", nforks);
    else
        kv_add(&l, "forks", "none");
    kv_print(&l, stdout);
    kv_free(&l);

    if (nforks == 0)
        return;
    static const struct column cols[] = {
        {"AUTHOR", OUTPUT_SHORT_LEN, 0}, {"SEQ", 10, 1},
        {"HELD", OUTPUT_SHORT_LEN, 0},   {"OTHER", OUTPUT_SHORT_LEN, 0},
        {"DETECTED (UTC)", 16, 0},
    };
    struct table t = {cols, 5, 0, NULL, 0, 0};
    size_t i;
    json_t *fk;
    json_array_foreach(forks, i, fk) {
        char a[OUTPUT_HEX_BUF], h[OUTPUT_HEX_BUF], o[OUTPUT_HEX_BUF];
        char seq[24], det[32];
        short_hex(jstr(fk, "author"), a);
        short_hex(jstr(fk, "held"), h);
        short_hex(jstr(fk, "other"), o);
        snprintf(seq, sizeof(seq), "%lld", jint(fk, "seq", 0));
        fmt_time(jint(fk, "detected", 0), det);
        const char *row[] = {a, seq, h, o, det};
        table_add(&t, row);
    }
    printf(
        "\nFORKS: each author below signed two different entries with the same seq (one key\n"
        "used in two places). Their feeds are frozen; 'hubctl --json status' gives full keys.\n");
    table_print(&t, stdout);
    table_free(&t);
}

static void text_id(json_t *r) {
    char *h = clean(jstr(r, "hub"), 0);
    printf("%s\n", h);
    free(h);
}

static void text_published(json_t *r) {
    struct kvlist l = {0};
    kv_add(&l, "published", "%s %s", jstr(r, "kind") ? jstr(r, "kind") : "-",
           jstr(r, "key") ? jstr(r, "key") : "-");
    kv_add(&l, "id", "%s", jstr(r, "id") ? jstr(r, "id") : "-");
    kv_add(&l, "seq", "%lld", jint(r, "seq", 0));
    if (json_is_true(json_object_get(r, "offer_full")))
        kv_add(&l, "note",
               "the offer is full as this hub sees it: the enrolment waits for the "
               "offering hub's answer");
    else if (json_is_integer(json_object_get(r, "seats_left")))
        kv_add(&l, "seats_left", "%lld", jint(r, "seats_left", 0));
    kv_print(&l, stdout);
    kv_free(&l);
}

static void text_entry(json_t *r) {
    json_t *e = json_object_get(r, "entry");
    struct kvlist l = {0};
    char buf[32];
    const char *s;

    kv_add(&l, "id", "%s", (s = jstr(e, "id")) ? s : "-");
    kv_add(&l, "author", "%s", (s = jstr(e, "author")) ? s : "-");
    char *hub = hub_label(e, "author_name", "author_country");
    if (hub)
        kv_add(&l, "hub", "%s", hub);
    free(hub);
    kv_add(&l, "seq", "%lld", jint(e, "seq", 0));
    kv_add(&l, "prev", "%s", (s = jstr(e, "prev")) && *s ? s : "-");
    if ((s = jstr(e, "time")) != NULL) {
        kv_add(&l, "time", "%s", s);
    } else {
        fmt_iso(jint(e, "timestamp", 0), buf);
        kv_add(&l, "time", "%s", buf);
    }
    kv_add(&l, "kind", "%s", (s = jstr(e, "kind")) ? s : "-");
    kv_add(&l, "key", "%s", (s = jstr(e, "key")) ? s : "-");
    long long exp = jint(e, "expires", 0);
    if (exp > 0) {
        fmt_iso(exp, buf);
        kv_add(&l, "expires", "%s", buf);
    } else {
        kv_add(&l, "expires", "never");
    }
    kv_add(&l, "payload", "%lld bytes, hash %s", jint(e, "payload_size", 0),
           (s = jstr(e, "payload_hash")) ? s : "-");
    json_t *rec = json_object_get(e, "record");
    if (json_is_true(json_object_get(e, "purged")) || !json_is_object(rec)) {
        kv_add(&l, "purged", "yes (retracted or expired: the payload is erased)");
    } else {
        /* The sealed part as hubd opened it for us (target hub), else "(sealed)". */
        json_t *shown = json_deep_copy(rec);
        json_object_del(shown, "sealed");
        kv_flatten(&l, NULL, shown);
        json_decref(shown);
        json_t *sealed = json_object_get(e, "sealed");
        if (json_is_object(sealed)) {
            if ((s = jstr(sealed, "contact")) != NULL)
                kv_add(&l, "contact", "%s (sealed to this hub)", s);
            if ((s = jstr(sealed, "message")) != NULL)
                kv_add(&l, "message", "%s (sealed to this hub)", s);
        } else if (sealed) {
            kv_add(&l, "contact", "(sealed)");
        }
    }
    json_t *left = json_object_get(e, "seats_left");
    if (json_is_integer(left))
        kv_add(&l, "seats_left", "%lld", (long long)json_integer_value(left));
    if (json_is_true(json_object_get(e, "full")))
        kv_add(&l, "full", "yes");
    if (json_is_true(json_object_get(e, "past")))
        kv_add(&l, "past", "yes");
    if ((s = jstr(e, "target_record")) != NULL) {
        char *th = hub_label(e, "target_name", "target_country");
        const char *tt = jstr(e, "target_title");
        kv_add(&l, "answers", "%s%s%s%s%s", tt ? tt : s, th ? " (" : "", th ? th : "",
               th ? ")" : "", tt ? "" : "");
        free(th);
    }
    if ((s = jstr(e, "state")) != NULL) {
        const char *why = jstr(e, "answer_reason");
        kv_add(&l, "state", "%s%s%s%s", s, why ? " (" : "", why ? why : "", why ? ")" : "");
    }
    kv_print(&l, stdout);
    kv_free(&l);
}

/* query and history collect the rows to size the columns; watch streams with fixed widths. */
static struct table list_table = {record_cols, RC_N, RC_TITLE, NULL, 0, 0};

static void text_list_head(const char *array) {
    (void)array;
    table_free(&list_table);
}

static void text_list_record(json_t *view) {
    struct record_row r;
    record_row_make(view, &r);
    table_add(&list_table, r.cells);
    free(r.title);
    free(r.hub);
}

static void text_list_tail(const char *array, size_t count, const char *next, int count_member) {
    (void)count_member;
    if (list_table.nrows == 0)
        fprintf(output_raw ? stderr : stdout, "no %s\n",
                strcmp(array, "versions") == 0 ? "versions" : "records");
    else
        table_print(&list_table, stdout);
    table_free(&list_table);
    if (next) {
        char *n = clean(next, 0);
        fprintf(output_raw ? stderr : stdout,
                "(%zu shown; next page: --cursor %s, or --all for every page)\n", count, n);
        free(n);
    }
}

static size_t watch_w[RC_N];

static void text_watch_head(void) {
    static const size_t fixed[RC_N] = {OUTPUT_SHORT_LEN, OUTPUT_SHORT_LEN, 16, 6, 11, 20, 16, 0};
    size_t used = 0;
    for (size_t c = 0; c < RC_N; c++) {
        watch_w[c] = fixed[c];
        used += fixed[c] + (c ? TABLE_GAP : 0);
    }
    watch_w[RC_TITLE] = OUTPUT_MAX_COLS - used;
    struct table t = {record_cols, RC_N, RC_TITLE, NULL, 0, 0};
    table_header(&t, watch_w, stdout);
    fflush(stdout);
}

static void text_watch_event(json_t *ev) {
    const char *what = jstr(ev, "event");
    if (what == NULL || strcmp(what, "record") != 0)
        return; /* overflow and unknown events are reported by the caller */
    struct record_row r;
    record_row_make(json_object_get(ev, "entry"), &r);
    char *cells[RC_N];
    for (size_t c = 0; c < RC_N; c++)
        cells[c] = clean(r.cells[c], 0);
    struct table t = {record_cols, RC_N, RC_TITLE, NULL, 0, 0};
    table_row(&t, watch_w, (const char *const *)cells, stdout);
    for (size_t c = 0; c < RC_N; c++)
        free(cells[c]);
    free(r.title);
    free(r.hub);
    fflush(stdout);
}

static void text_retracted(json_t *r, const char *key) {
    struct kvlist l = {0};
    kv_add(&l, "retracted", "%s", key);
    kv_add(&l, "id", "%s", jstr(r, "id") ? jstr(r, "id") : "-");
    kv_add(&l, "seq", "%lld", jint(r, "seq", 0));
    kv_print(&l, stdout);
    kv_free(&l);
}

static void text_imported(const struct import_totals *t) {
    const char *req = t->requests == 1 ? "request" : "requests";
    if (!t->entries) {
        printf("%s%" PRIu64 " new, %" PRIu64 " updated, %" PRIu64 " unchanged, %" PRIu64
               " refused\n",
               t->dry_run ? "dry run, nothing stored: " : "", t->created, t->updated,
               t->unchanged, t->refused);
        if (t->dry_run)
            return;
        if (t->accepted && t->first_seq >= 0)
            printf("imported %" PRIu64 " record%s in %" PRIu64 " %s (seq %" PRId64 "..%" PRId64
                   ")\n",
                   t->accepted, t->accepted == 1 ? "" : "s", t->requests, req, t->first_seq,
                   t->last_seq);
        else
            printf("imported %" PRIu64 " record%s in %" PRIu64 " %s\n", t->accepted,
                   t->accepted == 1 ? "" : "s", t->requests, req);
        return;
    }
    printf("imported %" PRIu64 " entries in %" PRIu64 " %s: %" PRIu64 " accepted, %" PRIu64
           " duplicate, %" PRIu64 " rejected\n",
           t->accepted + t->duplicate + t->rejected, t->requests, req, t->accepted, t->duplicate,
           t->rejected);
    size_t i;
    json_t *rj;
    json_array_foreach(t->rejects, i, rj) {
        if (i == OUTPUT_MAX_REJECTS) {
            printf("  ... and %zu more rejected (see --json)\n",
                   json_array_size(t->rejects) - OUTPUT_MAX_REJECTS);
            break;
        }
        char *code = clean(jstr(rj, "result"), 0);
        printf("  line %lld: %s\n", jint(rj, "line", 0), code);
        free(code);
    }
}

static void text_peers(json_t *r) {
    json_t *peers = json_object_get(r, "peers");
    if (json_array_size(peers) == 0) {
        fprintf(output_raw ? stderr : stdout,
                "no peers (add one with: hubctl peer add ENDPOINT KEY)\n");
        return;
    }
    /* One row per hub: hubd lists a session per direction (a hub may dial us and be dialled);
     * people want the hub, with both directions' state. Counters are summed over them. */
    static const struct column cols[] = {
        {"KEY", OUTPUT_SHORT_LEN, 0}, {"ENDPOINT", 0, 0}, {"OUT", 10, 0},    {"IN", 10, 0},
        {"UP FOR", 10, 0},            {"FLAPS", 0, 1},    {"LAST HEARD", 12, 0}, {"SENT", 0, 1},
        {"RECV", 0, 1},               {"REJECTED", 0, 1}, {"BEHIND", 0, 1},  {"HELD BACK", 0, 1},
    };
    struct table t = {cols, 12, 1, NULL, 0, 0};
    size_t n = json_array_size(peers);
    char *done = calloc(n ? n : 1, 1);
    if (done == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const char *k = jstr(json_array_get(peers, i), "key");
        json_t *out = NULL, *in = NULL;
        long long sent = 0, recv = 0, rej = 0, deferred = 0, refused = 0, flaps = 0;
        long long heard = 0, up_since = 0, them = 0, us = 0;
        for (size_t j = i; j < n; j++) {
            json_t *p = json_array_get(peers, j);
            const char *kj = jstr(p, "key");
            if (done[j] || !k || !kj || strcmp(k, kj) != 0)
                continue;
            done[j] = 1;
            const char *dir = jstr(p, "direction");
            if (dir && strcmp(dir, "out") == 0)
                out = p;
            else
                in = p;
            sent += jint(p, "sent", 0);
            recv += jint(p, "received", 0);
            rej += jint(p, "rejected", 0);
            deferred += jint(p, "deferred", 0);
            refused += jint(p, "refused", 0);
            flaps += jint(p, "flaps", 0);
            long long h = jint(p, "last_heard", 0), u = jint(p, "up_since", 0);
            heard = h > heard ? h : heard;
            if (u > 0 && (up_since == 0 || u < up_since))
                up_since = u;
            /* how far behind: the larger claim of the two sessions (they compare the same feeds) */
            them = jint(p, "behind_them", 0) > them ? jint(p, "behind_them", 0) : them;
            us = jint(p, "behind_us", 0) > us ? jint(p, "behind_us", 0) : us;
        }
        char key[OUTPUT_HEX_BUF], heardb[32], upb[64], sentb[24], recvb[24], rejb[24], flapb[24];
        char behind[48], held[48];
        short_hex(k, key);
        fmt_ago(heard, heardb);
        if (up_since > 0)
            fmt_duration((now_ms() - up_since) / 1000, upb);
        else
            memcpy(upb, "-", 2);
        snprintf(sentb, sizeof sentb, "%lld", sent);
        snprintf(recvb, sizeof recvb, "%lld", recv);
        snprintf(rejb, sizeof rejb, "%lld", rej);
        snprintf(flapb, sizeof flapb, "%lld", flaps);
        /* "peer lacks / we lack", as the peers help says */
        snprintf(behind, sizeof behind, "%lld/%lld", them, us);
        /* requests deferred / refused over the answer window (PROTOCOL.md §9.9) */
        snprintf(held, sizeof held, "%lld/%lld", deferred, refused);
        const char *ep = jstr(out ? out : in, "endpoint");
        const char *so = out ? jstr(out, "state") : NULL, *si = in ? jstr(in, "state") : NULL;
        const char *row[] = {key,  ep ? ep : "-", so ? so : "-", si ? si : "-",
                             upb,  flapb,         heardb,        sentb,
                             recvb, rejb,         behind,        held};
        table_add(&t, row);
    }
    free(done);
    table_print(&t, stdout);
    table_free(&t);
}

/* heads: the author's full key (what other hubs and the config name it by), its head. */
static void text_heads(json_t *r) {
    json_t *feeds = json_object_get(r, "feeds");
    if (json_array_size(feeds) == 0) {
        fprintf(output_raw ? stderr : stdout, "no feeds\n");
        return;
    }
    static const struct column cols[] = {
        {"AUTHOR", 64, 0}, {"SEQ", 0, 1}, {"HEAD", OUTPUT_SHORT_LEN, 0}, {"STATE", 0, 0}};
    struct table t = {cols, 4, 1, NULL, 0, 0};
    size_t i;
    json_t *f;
    json_array_foreach(feeds, i, f) {
        char seq[24], id[OUTPUT_HEX_BUF];
        char *author = clean(jstr(f, "author"), 0);
        snprintf(seq, sizeof(seq), "%lld", jint(f, "seq", 0));
        short_hex(jstr(f, "id"), id);
        const char *row[] = {author, seq, id,
                             json_is_true(json_object_get(f, "forked")) ? "forked" : "ok"};
        table_add(&t, row);
        free(author);
    }
    table_print(&t, stdout);
    table_free(&t);
}

static void text_peer_changed(json_t *r, const char *verb, const char *key, const char *endpoint) {
    char *k = clean(key, 0);
    const char *en = jstr(r, "endorsed");
    const char *why = !en || strcmp(en, "no") == 0 ? ""
                      : strcmp(en, "yes") == 0     ? "; endorsed (signed endorsement published)"
                      : strcmp(en, "already") == 0 ? "; endorsed already"
                                                   : "; endorsement pending (own feed not ready)";
    if (endpoint) {
        char *e = clean(endpoint, 0);
        printf("peer %s %s (%s)%s\n", k, verb, e, why);
        free(e);
    } else {
        printf("peer %s %s%s\n", k, verb, why);
    }
    free(k);
}

/* match: one row per result (rank, score, record, hub name and country, start, title) and,
 * under it, the reasons: "+" the fields that agreed, "-" those that did not. --raw: the
 * reasons as two more columns, "; "-separated. */
static char *reasons_text(json_t *arr, const char *sep, const char *mark) {
    char *s = xasprintf("%s", "");
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x) {
        const char *f = jstr(x, "field"), *d = jstr(x, "detail");
        char *n = xasprintf("%s%s%s%s: %s", s, i ? sep : "", mark, f ? f : "?", d ? d : "");
        free(s);
        s = n;
    }
    return s;
}

static void text_match(json_t *r) {
    const char *want = jstr(r, "want");
    int hubs = want && strcmp(want, "hubs") == 0;
    json_t *res = json_object_get(r, "results"), *lo = json_object_get(r, "left_out");
    if (json_array_size(res) == 0)
        fprintf(output_raw ? stderr : stdout, "no %s fit\n", want ? want : "records");
    static const struct column cols[] = {
        {"RANK", 0, 1},  {"SCORE", 0, 1},  {"ID", OUTPUT_SHORT_LEN, 0},
        {"HUB", 24, 0},  {"CC", 2, 0},     {"START", 10, 0},
        {"TITLE", 0, 0}, {"AGREED", 0, 0}, {"DIFFERED", 0, 0},
    };
    struct table t = {cols, output_raw ? 9 : 7, 6, NULL, 0, 0};
    char **agreed = NULL, **differed = NULL;
    size_t i, n = json_array_size(res);
    json_t *x;
    if (n) {
        agreed = xmalloc(n * sizeof *agreed);
        differed = xmalloc(n * sizeof *differed);
    }
    json_array_foreach(res, i, x) {
        json_t *item = x; /* what the reasons and the title come from */
        if (hubs) {
            json_t *offers = json_object_get(x, "offers");
            item =
                json_array_size(offers) ? json_array_get(offers, 0) : json_object_get(x, "profile");
        }
        json_t *view = json_object_get(item, "entry");
        json_t *rec = json_object_get(view, "record");
        char rank[24], score[24], id[OUTPUT_HEX_BUF], hub[OUTPUT_HEX_BUF];
        snprintf(rank, sizeof rank, "%zu", i + 1);
        json_t *sc = json_object_get(x, "score");
        snprintf(score, sizeof score, "%.1f", json_number_value(sc));
        short_hex(jstr(hubs ? x : item, hubs ? "author" : "id"), id);
        const char *name = jstr(x, "author_name"), *cc = jstr(x, "author_country");
        if (!name)
            short_hex(jstr(x, "author"), hub);
        const char *start = jstr(rec, "start_date"), *title = jstr(rec, "title");
        agreed[i] = reasons_text(json_object_get(item, "agreed"), output_raw ? "; " : "\n", "+ ");
        differed[i] =
            reasons_text(json_object_get(item, "differed"), output_raw ? "; " : "\n", "- ");
        const char *row[] = {rank,
                             score,
                             id,
                             name ? name : hub,
                             cc ? cc : "-",
                             start ? start : "-",
                             title ? title : (hubs ? "(profile)" : "-"),
                             agreed[i],
                             differed[i]};
        table_add(&t, row);
    }
    if (output_raw || n == 0) {
        table_print(&t, stdout);
    } else {
        size_t w[16];
        table_widths(&t, w);
        table_header(&t, w, stdout);
        for (size_t r2 = 0; r2 < t.nrows; r2++) {
            table_row(&t, w, (const char *const *)&t.cells[r2 * t.ncol], stdout);
            /* reasons under the row, indented; record text cleaned of control characters */
            for (int k = 0; k < 2; k++) {
                char *all = k ? differed[r2] : agreed[r2];
                char *line = all, *nl;
                while (line && *line) {
                    nl = strchr(line, '\n');
                    if (nl)
                        *nl = '\0';
                    char *c = clean(line, 0);
                    printf("      %s\n", c);
                    free(c);
                    line = nl ? nl + 1 : NULL;
                }
            }
        }
    }
    for (i = 0; i < n; i++) {
        free(agreed[i]);
        free(differed[i]);
    }
    free(agreed);
    free(differed);
    table_free(&t);
    if (!output_raw && lo)
        printf("%zu %s ranked; left out: %lld past, %lld full, %lld in no language asked, %lld "
               "sharing no subject; %lld candidates, %lld scored%s\n",
               n, want ? want : "records", jint(lo, "past", 0), jint(lo, "full", 0),
               jint(lo, "language", 0), jint(lo, "no_subject", 0), jint(r, "candidates", 0),
               jint(r, "examined", 0),
               json_is_true(json_object_get(r, "truncated")) ? " (search bounded)" : "");
}

/* ---- inbox, replies, accept/decline, lineage (records) ------------------------------------ */

enum { PC_ID, PC_HUB, PC_TYPE, PC_SEATS, PC_STATE, PC_RECORD, PC_MESSAGE, PC_N };

static void text_replies(json_t *r, const char *array) {
    const struct column cols[PC_N] = {
        {"ID", OUTPUT_SHORT_LEN, 0},
        {strcmp(array, "inbox") == 0 ? "FROM" : "TO", 24, 0},
        {"TYPE", 10, 0},
        {"SEATS", 5, 1},
        {"STATE", 9, 0},
        {"RECORD", 30, 0},
        {"MESSAGE", 0, 0},
    };
    struct table t = {cols, PC_N, PC_MESSAGE, NULL, 0, 0};
    json_t *list = json_object_get(r, "replies");
    size_t i;
    json_t *v;
    int inbox = strcmp(array, "inbox") == 0;
    json_array_foreach(list, i, v) {
        json_t *rec = json_object_get(v, "record");
        char id[OUTPUT_HEX_BUF], key[OUTPUT_HEX_BUF], seats[24];
        short_hex(jstr(v, "id"), id);
        short_hex(inbox ? jstr(v, "author") : jstr(rec, "target_author"), key);
        char *hub = inbox ? hub_label(v, "author_name", "author_country")
                          : hub_label(v, "target_name", "target_country");
        char *type = scalar_text(json_object_get(rec, "type"));
        long long n = jint(rec, "seats", 0);
        snprintf(seats, sizeof seats, n > 0 ? "%lld" : "-", n);
        const char *what = jstr(v, "target_title");
        if (what == NULL)
            what = jstr(rec, "target_key");
        json_t *sealed = json_object_get(v, "sealed");
        const char *msg = jstr(rec, "message");
        if (json_is_object(sealed) && jstr(sealed, "message"))
            msg = jstr(sealed, "message");
        const char *contact = json_is_object(sealed) ? jstr(sealed, "contact") : NULL;
        char *m = xasprintf("%s%s%s%s", msg ? msg : "", contact ? " [contact: " : "",
                            contact ? contact : "", contact ? "]" : "");
        const char *state = jstr(v, "state");
        const char *cells[PC_N] = {id,    hub ? hub : key,     type ? type : "-",
                                   seats, state ? state : "-", what ? what : "-",
                                   m};
        table_add(&t, cells);
        free(hub);
        free(type);
        free(m);
    }
    if (t.nrows == 0)
        fprintf(output_raw ? stderr : stdout, "no %s\n",
                inbox ? "replies in the inbox" : "replies sent");
    else
        table_print(&t, stdout);
    table_free(&t);
    const char *next = jstr(r, "next");
    if (next) {
        char *nx = clean(next, 0);
        fprintf(output_raw ? stderr : stdout, "(more: --cursor %s)\n", nx);
        free(nx);
    }
}

static void text_answered(json_t *r) {
    struct kvlist l = {0};
    const char *type = jstr(r, "type");
    const char *why = jstr(r, "reason");
    kv_add(&l, type && strcmp(type, "accept") == 0 ? "accepted" : "declined", "%s%s%s%s",
           jstr(r, "offer") ? jstr(r, "offer") : "-", why ? " (" : "", why ? why : "",
           why ? ")" : "");
    kv_add(&l, "id", "%s", jstr(r, "id") ? jstr(r, "id") : "-");
    json_t *left = json_object_get(r, "seats_left");
    if (json_is_integer(left))
        kv_add(&l, "seats_left", "%lld", (long long)json_integer_value(left));
    else
        kv_add(&l, "seats_left", "unlimited");
    kv_print(&l, stdout);
    kv_free(&l);
}

/* The programmes derived from one, as an indented tree: title, hub name and country. */
static void text_lineage(json_t *r) {
    json_t *nodes = json_object_get(r, "nodes");
    size_t i;
    json_t *v;
    json_array_foreach(nodes, i, v) {
        long long d = jint(v, "depth", 0);
        char key[OUTPUT_HEX_BUF];
        short_hex(jstr(v, "author"), key);
        char *hub = hub_label(v, "author_name", "author_country");
        const char *title = jstr(v, "title");
        const char *rk = jstr(v, "key");
        char *t = clean(title ? title : "(not held here)", 0);
        char *h = clean(hub ? hub : key, 0);
        char *k = clean(rk ? rk : "-", 0);
        if (output_raw) {
            const char *au = jstr(v, "author");
            const char *nm = jstr(v, "author_name");
            const char *co = jstr(v, "author_country");
            char *n2 = clean(nm ? nm : "-", 0);
            char *c2 = clean(co ? co : "-", 0);
            printf("%lld\t%s\t%s\t%s\t%s\t%s\n", d, au ? au : "-", k, n2, c2, t);
            free(n2);
            free(c2);
        } else {
            printf("%*s%s%s  (%s, %s)\n", (int)(2 * (d > 0 ? d - 1 : 0)), "", d ? "└─ " : "", t, h,
                   k);
        }
        free(t);
        free(h);
        free(k);
        free(hub);
    }
    if (json_is_true(json_object_get(r, "truncated")))
        fprintf(stderr, "(truncated: more programmes than one answer lists)\n");
}

/* hubctl trust: every trusted hub and why (a root, or endorsed by whom at which hop). */
static void text_trust(json_t *r) {
    json_t *hubs = json_object_get(r, "hubs");
    if (!output_raw)
        printf("policy %s, hops %lld: %lld trusted hub(s) besides this one\n", jstr(r, "policy"),
               jint(r, "hops", 0), jint(r, "trusted", 0));
    static const struct column cols[] = {{"HUB", 64, 0},    {"NAME", 32, 0}, {"VIA", 0, 0},
                                         {"HOP", 0, 1},     {"BY", 64, 0},   {"BY NAME", 32, 0},
                                         {"CONNECTED", 0, 0}};
    struct table t = {cols, 7, 1, NULL, 0, 0};
    size_t i;
    json_t *h;
    json_array_foreach(hubs, i, h) {
        char key[OUTPUT_HEX_BUF], by[OUTPUT_HEX_BUF], hop[24];
        short_hex(jstr(h, "key"), key);
        if (jstr(h, "by"))
            short_hex(jstr(h, "by"), by);
        else
            snprintf(by, sizeof by, "-");
        snprintf(hop, sizeof hop, "%lld", jint(h, "hop", 0));
        char *name = clean(jstr(h, "name") ? jstr(h, "name") : "-", 0);
        char *byname = clean(jstr(h, "by_name") ? jstr(h, "by_name") : "-", 0);
        const char *row[] = {key,    name,  jstr(h, "via"),
                             hop,    by,    byname,
                             json_is_true(json_object_get(h, "connected")) ? "yes" : "no"};
        table_add(&t, row);
        free(name);
        free(byname);
    }
    table_print(&t, stdout);
    table_free(&t);
}

static void text_blocked(json_t *r) {
    char *k = clean(jstr(r, "key"), 0);
    int b = json_is_true(json_object_get(r, "blocked"));
    int changed = json_is_true(json_object_get(r, "changed"));
    printf("hub %s %s%s\n", k, b ? "blocked: its addressed replies are refused" : "unblocked",
           changed ? "" : " (no change)");
    free(k);
}

const struct output output_text = {
    .status = text_status,
    .id = text_id,
    .published = text_published,
    .entry = text_entry,
    .list_head = text_list_head,
    .list_record = text_list_record,
    .list_tail = text_list_tail,
    .watch_head = text_watch_head,
    .watch_event = text_watch_event,
    .retracted = text_retracted,
    .imported = text_imported,
    .peers = text_peers,
    .heads = text_heads,
    .peer_changed = text_peer_changed,
    .match = text_match,
    .trust = text_trust,
    .blocked = text_blocked,
    .error = output_error_line,
    .replies = text_replies,
    .answered = text_answered,
    .lineage = text_lineage,
};

/* ---- JSON output -------------------------------------------------------------------------- */

/* One compact JSON value and a newline. */
static void json_line(json_t *v) {
    json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

static void json_resp(json_t *r) {
    json_line(r);
}

static void json_entry(json_t *r) {
    json_line(r);
}

/* query and history stream their records into one response object. */
static size_t json_list_n;

static void json_list_head(const char *array) {
    json_list_n = 0;
    printf("{\"ok\":true,\"%s\":[", array);
}

static void json_list_record(json_t *view) {
    if (json_list_n++)
        fputc(',', stdout);
    json_dumpf(view, stdout, JSON_COMPACT);
}

static void json_list_tail(const char *array, size_t count, const char *next, int count_member) {
    (void)array;
    fputc(']', stdout);
    if (count_member)
        printf(",\"count\":%zu", count);
    if (next) {
        json_t *n = json_string(next);
        fputs(",\"next\":", stdout);
        json_dumpf(n, stdout, JSON_ENCODE_ANY);
        json_decref(n);
    }
    fputs("}\n", stdout);
}

static void json_watch_head(void) {}

static void json_watch_event(json_t *ev) {
    json_line(ev);
    fflush(stdout);
}

static void json_retracted(json_t *r, const char *key) {
    (void)key;
    json_line(r);
}

/* The totals in the shape of hubd's own import response, summed over the requests. */
static void json_imported(const struct import_totals *t) {
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "accepted", json_integer((json_int_t)t->accepted));
    if (t->entries) {
        json_object_set_new(o, "duplicate", json_integer((json_int_t)t->duplicate));
        json_object_set_new(o, "rejected", json_integer((json_int_t)t->rejected));
        json_object_set_new(o, "results", t->results ? json_incref(t->results) : json_array());
        json_object_set_new(o, "rejects", t->rejects ? json_incref(t->rejects) : json_array());
    } else {
        json_object_set_new(o, "new", json_integer((json_int_t)t->created));
        json_object_set_new(o, "updated", json_integer((json_int_t)t->updated));
        json_object_set_new(o, "unchanged", json_integer((json_int_t)t->unchanged));
        json_object_set_new(o, "refused", json_integer((json_int_t)t->refused));
        json_object_set_new(o, "refusals", t->refusals ? json_incref(t->refusals) : json_array());
        if (t->dry_run)
            json_object_set_new(o, "dry_run", json_true());
        if (t->first_seq >= 0) {
            json_object_set_new(o, "first_seq", json_integer(t->first_seq));
            json_object_set_new(o, "last_seq", json_integer(t->last_seq));
        }
    }
    json_object_set_new(o, "requests", json_integer((json_int_t)t->requests));
    json_line(o);
    json_decref(o);
}

static void json_peer_changed(json_t *r, const char *verb, const char *key, const char *endpoint) {
    (void)verb;
    (void)key;
    (void)endpoint;
    json_line(r);
}

static void json_replies(json_t *r, const char *array) {
    (void)array;
    json_line(r);
}

static void json_error(json_t *r) {
    json_line(r);
    fflush(stdout);
    output_error_line(r);
}

const struct output output_json = {
    .status = json_resp,
    .id = json_resp,
    .published = json_resp,
    .entry = json_entry,
    .list_head = json_list_head,
    .list_record = json_list_record,
    .list_tail = json_list_tail,
    .watch_head = json_watch_head,
    .watch_event = json_watch_event,
    .retracted = json_retracted,
    .imported = json_imported,
    .peers = json_resp,
    .heads = json_resp,
    .peer_changed = json_peer_changed,
    .match = json_resp,
    .trust = json_line,
    .blocked = json_line,
    .error = json_error,
    .replies = json_replies,
    .answered = json_resp,
    .lineage = json_resp,
};
