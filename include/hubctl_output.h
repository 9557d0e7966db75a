/* hubctl_output.h: hubctl's printers. As in bgpctl, every command prints through one table of
 * output functions with a text and a JSON implementation, so the two never drift apart.
 *
 * Text output is for people: aligned tables no wider than OUTPUT_MAX_COLS, short (8 hex digit)
 * keys and ids, control characters from record content replaced. JSON output is for scripts:
 * hubd's own response objects, one per line, compact. Errors from hubd always go to stderr as
 * "hubctl: E_CODE: message (field: x)"; in JSON mode the raw error response also goes to stdout.
 *
 * All json_t arguments are borrowed. */
#ifndef HUBCTL_OUTPUT_H
#define HUBCTL_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define OUTPUT_MAX_COLS 120   /* text tables never print wider lines */
#define OUTPUT_SHORT_LEN 8    /* hex digits of a key or id shown in tables */
#define OUTPUT_HEX_BUF 65     /* a whole key or id in hex, and its NUL (raw output) */
#define OUTPUT_MAX_REJECTS 20 /* import --entries: rejected lines listed by number */

/* Totals of an import, summed over all its requests. */
struct import_totals {
    int entries;        /* 1: signed entries (--entries), 0: records */
    uint64_t requests;  /* import requests sent */
    uint64_t accepted;  /* records published, or entries stored */
    uint64_t duplicate; /* entries already held */
    uint64_t rejected;  /* entries refused (any result but OK and E_DUPLICATE) */
    int64_t first_seq;  /* records: seq of the first record published; -1 if none */
    int64_t last_seq;
    json_t *results; /* entries: every per-entry result code, in input order */
    json_t *rejects; /* entries: [{"line":N,"result":"E_..."}] for refused entries */
    /* records: what hubd did with each (CONTROL.md, import): counts, and the refused ones as
     * [{"line":N,"field":"...","code":"E_...","message":"..."}] */
    uint64_t created, updated, unchanged, refused;
    json_t *refusals;
    int dry_run; /* --dry-run: nothing was stored */
};

struct output {
    void (*status)(json_t *resp);
    void (*id)(json_t *resp);
    void (*published)(json_t *resp);
    void (*entry)(json_t *resp); /* get */
    /* A list of record views, streamed: head, one call per record, tail. array is the
     * response's member name ("records" for query, "versions" for history). next is the
     * cursor of the following page or NULL; count_member: emit "count" (query). */
    void (*list_head)(const char *array);
    void (*list_record)(json_t *view);
    void (*list_tail)(const char *array, size_t count, const char *next, int count_member);
    void (*watch_head)(void);
    void (*watch_event)(json_t *event); /* {"event":"record","entry":{...}} or another event */
    void (*retracted)(json_t *resp, const char *key);
    void (*imported)(const struct import_totals *t);
    void (*peers)(json_t *resp);
    void (*heads)(json_t *resp);
    /* peer add/remove succeeded; verb is "added" or "removed"; endpoint may be NULL. */
    void (*peer_changed)(json_t *resp, const char *verb, const char *key, const char *endpoint);
    void (*match)(json_t *resp); /* match: ranked results with their reasons */
    void (*error)(json_t *resp); /* a response with "ok": false */
    /* records (issue 10): inbox or replies (array: "inbox", "replies"), accept/decline,
     * lineage. */
    void (*replies)(json_t *resp, const char *array);
    void (*answered)(json_t *resp);
    void (*lineage)(json_t *resp);
    void (*trust)(json_t *resp);   /* hubctl trust */
    void (*blocked)(json_t *resp); /* hubctl block / unblock */
};

extern const struct output output_text;
/* Text tables as tab-separated lines without a header, nothing shortened (--raw; the default
 * when stdout is not a terminal). */
void output_set_raw(int on);
extern const struct output output_json;

/* "hubctl: E_CODE: message (field: x)" on stderr, for a response with "ok": false. */
void output_error_line(json_t *resp);

#endif
