/* web_form.h: hubweb's forms for records (node/hubweb/web_form.c): decoding an
 * application/x-www-form-urlencoded body, the table of the fields each kind's form has (from
 * PROTOCOL.md §7.2, with the vocabulary each select takes its options from), the form's values
 * made into the record JSON publish takes, a record made back into form values (edit), and
 * hubd's error `field` ("sectors[0]") mapped to the form control it belongs to. No HTTP and no
 * HTML here (web_staff.c draws the forms), so it is tested alone (tests/unit/test_web_form.c). */
#ifndef HUB_WEB_FORM_H
#define HUB_WEB_FORM_H

#include "hub.h"
#include <jansson.h>
#include <stddef.h>

/* Bounds (PROTOCOL.md §10, "hubweb"). */
#define WEB_FORM_MAX_BODY (64 * 1024) /* bytes of a form body */
#define WEB_FORM_MAX_FIELDS 512       /* name=value pairs of one form (list fields repeat) */
#define WEB_FORM_MAX_NAME 64          /* bytes of a field name */
#define WEB_FORM_MAX_ERRORS 16        /* field errors kept for one form */
#define WEB_FORM_MAX_MESSAGE 320      /* bytes of one error message */

/* Decoded name=value pairs, in order, repeated names kept. Values may hold any byte (NUL
 * included: value_len says how many); the record mapping refuses what a record may not hold. */
struct web_formval {
    char *name;
    char *value;
    size_t value_len;
};
struct web_formvals {
    struct web_formval *v;
    size_t n, cap;
};

/* Decode body into out (which the caller frees with web_formvals_free, also on error): '&'
 * separates pairs, the first '=' name from value, '+' is a space, %XX a byte (a '%' not
 * followed by two hex digits stays as it is). Empty pairs are skipped. E_TOO_LARGE beyond
 * WEB_FORM_MAX_BODY bytes, WEB_FORM_MAX_FIELDS pairs or a name longer than WEB_FORM_MAX_NAME;
 * E_NOMEM. */
int web_form_decode(const char *body, size_t len, struct web_formvals *out) HUB_WUR;
void web_formvals_free(struct web_formvals *f);
/* Percent-decode s[0..n) into out (room for n + 1 bytes; out may be s: decoding in place):
 * '+' is a space, %XX a byte, a '%' without two hex digits stays. The decoded length; out is
 * NUL-terminated (a decoded NUL ends it for readers of C strings). */
size_t web_pct_decode(const char *s, size_t n, char *out);
/* Append one pair (copied). E_TOO_LARGE beyond WEB_FORM_MAX_FIELDS. */
int web_formvals_add(struct web_formvals *f, const char *name, const char *value, size_t len)
    HUB_WUR;
/* The first value of name (NUL-terminated; a value holding NUL reads shorter), NULL if absent. */
const char *web_formvals_get(const struct web_formvals *f, const char *name);
/* Every value of name, in order: up to max into vals; returns how many there are. */
size_t web_formvals_all(const struct web_formvals *f, const char *name, const char **vals,
                        size_t max);

/* Record kinds with a form. */
#define WEB_KIND_PROFILE 1u
#define WEB_KIND_OFFER 2u
#define WEB_KIND_REQUEST 4u
/* "profile", "offer", "request" -> its bit; anything else 0. */
unsigned web_form_kind(const char *kind);

enum web_field_type {
    WF_TEXT,        /* one line */
    WF_MULTILINE,   /* a textarea: CR LF and CR become LF (browsers send CR LF) */
    WF_SELECT,      /* one value of the vocabulary `vocab` */
    WF_MULTISELECT, /* any values of the vocabulary: repeated name (checkboxes) -> list */
    WF_WORDS,       /* an open list typed as words separated by commas or spaces -> list */
    WF_DATE,        /* YYYY-MM-DD (input type=date) */
    WF_URL,
    WF_UINT,        /* 0 .. 4294967295 */
    WF_BOOL,        /* a checkbox: present -> true */
    WF_COST,        /* NAME (amount, at most 2 decimals) + NAME_currency (select: currency) */
    WF_REF,         /* based_on: AUTHOR/KEY -> {"author","key"} */
};

struct web_field {
    const char *name;    /* the record JSON member and the form control's name */
    const char *label;   /* shown in the label */
    enum web_field_type type;
    const char *vocab;   /* the `vocab` list of a select (NULL: none) */
    unsigned kinds;      /* WEB_KIND_* bits of the kinds that have it */
    unsigned required;   /* WEB_KIND_* bits of the kinds that must set it */
    const char *hint;    /* a line of help under the control, or NULL */
};

/* The fields of every kind, in the forms' order; *n their number. */
const struct web_field *web_fields(size_t *n);

struct web_form_errors {
    struct {
        char field[WEB_FORM_MAX_NAME]; /* a web_field name */
        char message[WEB_FORM_MAX_MESSAGE];
    } e[WEB_FORM_MAX_ERRORS];
    size_t n;
};
/* Add an error for field (a web_field name); beyond WEB_FORM_MAX_ERRORS it is dropped. */
void web_form_error(struct web_form_errors *errs, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The message for field, NULL when it has none. */
const char *web_form_error_for(const struct web_form_errors *errs, const char *field);

/* The record JSON of the form values for a kind: every field of the kind the form sets (empty
 * values left out; WF_MULTISELECT and WF_WORDS as lists, WF_UINT as integers, WF_BOOL true,
 * WF_COST {"amount","currency"}, WF_REF {"author","key"}). What the form cannot express is an
 * error of its field (a number that is not one, invalid UTF-8, an amount without a currency);
 * vocabularies, dates and URLs are left to hubd's publish, whose refusal names the field. 0
 * with *record (a new reference) when errs is empty, else E_RANGE (and *record NULL). */
int web_form_record(unsigned kind, const struct web_formvals *f, json_t **record,
                    struct web_form_errors *errs) HUB_WUR;

/* The form values of a record (to edit it): the inverse of web_form_record for the kind's
 * fields; members of other shapes are skipped. E_NOMEM, E_TOO_LARGE. */
int web_record_form(unsigned kind, const json_t *record, struct web_formvals *out) HUB_WUR;

/* The form field a hubd error `field` belongs to: "sectors[0]" -> "sectors", "cost.currency"
 * -> "cost", "record.title" -> "title", "records[0].country" -> "country". 1 and the name in
 * out when it is a field of kind, 0 otherwise. */
int web_form_error_field(unsigned kind, const char *hubfield, char *out, size_t cap);

#endif
