/* hubctl_exchange.c: record views to JSON Lines, CSV and JSON-LD, and CSV rows back to import
 * items (see hubctl_exchange.h). The CSV columns are one table (exchange_columns): the export
 * writes them in its order, the import reads them by their header names, in any order, so a
 * column added later (issue 11 item 4's fields) is one line here and old files still import. */
#include "hubctl_exchange.h"
#include "jsonld.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define CSV_BOM "\xef\xbb\xbf" /* spreadsheets read a file that starts so as UTF-8 */

enum col_type {
    COL_KIND,       /* the record kind: offer or request */
    COL_KEY,        /* the record key */
    COL_TEXT,       /* a string field */
    COL_LIST,       /* a list of strings, EXCHANGE_LIST_SEP between them */
    COL_UINT,       /* a whole number */
    COL_BOOL,       /* true / false */
    COL_AMOUNT,     /* field.amount (major units, e.g. 120.5) */
    COL_CURRENCY,   /* field.currency */
    COL_REF_AUTHOR, /* field.author (based_on) */
    COL_REF_KEY,    /* field.key */
    COL_EXPIRES,    /* milliseconds since the epoch, empty = never */
    COL_INFO,       /* written by export, ignored by import: who and when */
};

struct column {
    const char *name;  /* the header */
    const char *field; /* the record field (PROTOCOL.md §7.2), or the view member for COL_INFO */
    enum col_type type;
};

/* The order of the export; README "Exchanging the catalogue" documents each. */
static const struct column exchange_columns[] = {
    {"kind", NULL, COL_KIND},
    {"key", NULL, COL_KEY},
    {"title", "title", COL_TEXT},
    {"description", "description", COL_TEXT},
    {"topics", "topics", COL_LIST},
    {"technologies", "technologies", COL_LIST},
    {"sectors", "sectors", COL_LIST},
    {"services", "services", COL_LIST},
    {"service_group", "service_group", COL_TEXT},
    {"service_type", "service_type", COL_TEXT},
    {"facility", "facility", COL_TEXT},
    {"audience", "audience", COL_LIST},
    {"languages", "languages", COL_LIST},
    {"mode", "mode", COL_TEXT},
    {"opportunity_type", "opportunity_type", COL_TEXT},
    {"schedule", "schedule", COL_TEXT},
    {"country", "country", COL_TEXT},
    {"location", "location", COL_TEXT},
    {"start_date", "start_date", COL_TEXT},
    {"end_date", "end_date", COL_TEXT},
    {"needed_by", "needed_by", COL_TEXT},
    {"duration_hours", "duration_hours", COL_UINT},
    {"capacity", "capacity", COL_UINT},
    {"ects_credits", "ects_credits", COL_UINT},
    {"cost_amount", "cost", COL_AMOUNT},
    {"cost_currency", "cost", COL_CURRENCY},
    {"budget_amount", "budget", COL_AMOUNT},
    {"budget_currency", "budget", COL_CURRENCY},
    {"skills", "skills", COL_LIST},
    {"registration_url", "registration_url", COL_TEXT},
    {"contact", "contact", COL_TEXT},
    {"train_the_trainer", "train_the_trainer", COL_BOOL},
    {"based_on_author", "based_on", COL_REF_AUTHOR},
    {"based_on_key", "based_on", COL_REF_KEY},
    {"material_licence", "material_licence", COL_TEXT},
    {"material_url", "material_url", COL_TEXT},
    {"expires", NULL, COL_EXPIRES},
    {"author", "author", COL_INFO},
    {"author_name", "author_name", COL_INFO},
    {"id", "id", COL_INFO},
    {"time", "time", COL_INFO},
};
#define NCOLUMNS (sizeof exchange_columns / sizeof exchange_columns[0])

/* ---- JSON Lines ---------------------------------------------------------------------------- */

int exchange_jsonl(FILE *f, json_t *view) {
    json_t *rec = json_object_get(view, "record");
    if (!json_is_object(rec))
        return 0; /* purged: nothing to take back */
    json_t *o = json_pack("{s:O, s:O, s:O}", "kind", json_object_get(view, "kind"), "key",
                          json_object_get(view, "key"), "record", rec);
    if (!o)
        return -1;
    json_int_t exp = json_integer_value(json_object_get(view, "expires"));
    if (exp > 0)
        json_object_set_new(o, "expires", json_integer(exp));
    int rc = json_dumpf(o, f, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return rc == 0 && fputc('\n', f) != EOF ? 0 : -1;
}

/* ---- CSV out ------------------------------------------------------------------------------- */

/* Whether a spreadsheet would read the cell as a formula: it starts, after any apostrophes,
 * with '=', '+', '-', '@', a tab or a carriage return (CSV injection: a title from another hub
 * such as =HYPERLINK(...) must open as text). Such a cell is written with one more leading
 * apostrophe, which spreadsheets show as "text follows", and csv_next removes it again, so the
 * round trip through export and import keeps every value as it was. */
static int csv_formula_like(const char *s, size_t len) {
    size_t i = 0;
    while (i < len && s[i] == '\'')
        i++;
    return i < len && strchr("=+-@\t\r", s[i]) != NULL;
}

/* One cell, quoted when it holds a comma, quote, line break or edge space (RFC 4180), and
 * guarded when it looks like a formula (csv_formula_like). */
static void csv_cell(FILE *f, const char *s, size_t len, int first) {
    if (!first)
        fputc(',', f);
    int quote = len && (s[0] == ' ' || s[len - 1] == ' ');
    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (quote)
        fputc('"', f);
    if (csv_formula_like(s, len)) /* inside the quotes: the cell's text begins with it */
        fputc('\'', f);
    if (!quote) {
        fwrite(s, 1, len, f);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"')
            fputc('"', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

int exchange_csv_header(FILE *f) {
    fputs(CSV_BOM, f);
    for (size_t i = 0; i < NCOLUMNS; i++)
        csv_cell(f, exchange_columns[i].name, strlen(exchange_columns[i].name), i == 0);
    fputs("\r\n", f);
    return ferror(f) ? -1 : 0;
}

/* A JSON scalar as cell text (numbers as JSON writes them); "" for null or absent. */
static char *cell_text(json_t *v) {
    if (!v || json_is_null(v))
        return strdup("");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_true(v))
        return strdup("true");
    if (json_is_false(v))
        return strdup("false");
    return json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

int exchange_csv_row(FILE *f, json_t *view) {
    json_t *rec = json_object_get(view, "record");
    if (!json_is_object(rec))
        return 0;
    for (size_t c = 0; c < NCOLUMNS; c++) {
        const struct column *col = &exchange_columns[c];
        json_t *v = col->field ? json_object_get(rec, col->field) : NULL;
        char *text = NULL;
        switch (col->type) {
        case COL_KIND:
            text = cell_text(json_object_get(view, "kind"));
            break;
        case COL_KEY:
            text = cell_text(json_object_get(view, "key"));
            break;
        case COL_LIST: {
            size_t cap = 1, i;
            json_t *e;
            json_array_foreach(v, i, e) cap += json_string_length(e) + 1;
            text = calloc(1, cap);
            if (!text)
                return -1;
            size_t at = 0;
            json_array_foreach(v, i, e) {
                if (i)
                    text[at++] = EXCHANGE_LIST_SEP;
                size_t l = json_string_length(e);
                memcpy(text + at, json_string_value(e) ? json_string_value(e) : "", l);
                at += l;
            }
            text[at] = 0;
            break;
        }
        case COL_AMOUNT:
            text = cell_text(json_object_get(v, "amount"));
            break;
        case COL_CURRENCY:
            text = cell_text(json_object_get(v, "currency"));
            break;
        case COL_REF_AUTHOR:
            text = cell_text(json_object_get(v, "author"));
            break;
        case COL_REF_KEY:
            text = cell_text(json_object_get(v, "key"));
            break;
        case COL_EXPIRES: {
            json_t *e = json_object_get(view, "expires");
            text = json_integer_value(e) > 0 ? cell_text(e) : strdup("");
            break;
        }
        case COL_INFO:
            text = cell_text(json_object_get(view, col->field));
            break;
        default:
            text = cell_text(v);
        }
        if (!text)
            return -1;
        csv_cell(f, text, strlen(text), c == 0);
        free(text);
    }
    fputs("\r\n", f);
    return ferror(f) ? -1 : 0;
}

/* ---- JSON-LD (schema.org): the mapping is node/core/jsonld.c, shared with hubweb ----------- */

static int jsonld_first;

static int jsonld_emit(FILE *f, json_t *o) {
    if (o == NULL)
        return 0;
    if (!jsonld_first)
        fputs(",\n", f);
    jsonld_first = 0;
    int rc = json_dumpf(o, f, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return rc == 0 && !ferror(f) ? 0 : -1;
}

int exchange_jsonld_begin(FILE *f, json_t *profile, const char *me) {
    fputs("{\"@context\":\"https://schema.org\",\"@graph\":[\n", f);
    jsonld_first = 1;
    json_t *o = jsonld_org(profile, me);
    if (o == NULL)
        return ferror(f) ? -1 : 0;
    return jsonld_emit(f, o);
}

/* Requests, profiles and other kinds are not catalogue items: skipped. */
int exchange_jsonld_item(FILE *f, json_t *view) {
    return jsonld_emit(f, jsonld_offer(view));
}

int exchange_jsonld_end(FILE *f) {
    fputs("\n]}\n", f);
    return ferror(f) ? -1 : 0;
}

/* ---- CSV in -------------------------------------------------------------------------------- */

struct csv_reader {
    FILE *f;
    unsigned long line; /* lines read */
    char *buf;          /* cells of the current row, each NUL-terminated */
    size_t len, cap;
    size_t offs[EXCHANGE_MAX_CSV_CELLS];
    char *cells[EXCHANGE_MAX_CSV_CELLS];
    int started;
};

struct csv_reader *csv_reader_new(FILE *f) {
    struct csv_reader *r = calloc(1, sizeof *r);
    if (r)
        r->f = f;
    return r;
}

void csv_reader_destroy(struct csv_reader **r) {
    if (!r || !*r)
        return;
    free((*r)->buf);
    free(*r);
    *r = NULL;
}

static int csv_put(struct csv_reader *r, char c) {
    if (r->len + 1 >= EXCHANGE_MAX_CSV_ROW)
        return -1;
    if (r->len + 1 >= r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        char *b = realloc(r->buf, cap);
        if (!b)
            return -1;
        r->buf = b;
        r->cap = cap;
    }
    r->buf[r->len++] = c;
    return 0;
}

int csv_next(struct csv_reader *r, char ***cells, size_t *n, unsigned long *line,
             const char **why) {
    int c;
    if (!r->started) { /* a byte order mark is not part of the first cell */
        r->started = 1;
        c = getc(r->f);
        if (c == 0xef) {
            if (getc(r->f) != 0xbb || getc(r->f) != 0xbf) {
                *why = "not UTF-8 text (a broken byte order mark)";
                *line = 1;
                return -1;
            }
        } else if (c != EOF) {
            ungetc(c, r->f);
        }
    }
    for (;;) { /* blank lines between rows are skipped */
        c = getc(r->f);
        if (c == EOF)
            return 0;
        if (c == '\n') {
            r->line++;
            continue;
        }
        if (c == '\r')
            continue;
        ungetc(c, r->f);
        break;
    }
    *line = r->line + 1;
    r->len = 0;
    size_t nc = 0;
    int quoted = 0, in_quotes = 0, at_start = 1;
    r->offs[nc++] = 0;
    for (;;) {
        c = getc(r->f);
        if (in_quotes) {
            if (c == EOF) {
                *why = "a quoted cell is not closed";
                return -1;
            }
            if (c == '"') {
                int d = getc(r->f);
                if (d == '"') {
                    if (csv_put(r, '"'))
                        goto big;
                    continue;
                }
                ungetc(d, r->f);
                in_quotes = 0;
                continue;
            }
            if (c == '\r') { /* a line break in a cell: CRLF as LF (records hold no CR) */
                int d = getc(r->f);
                if (d == '\n')
                    c = '\n';
                else if (d != EOF)
                    ungetc(d, r->f);
            }
            if (c == '\n')
                r->line++;
            if (csv_put(r, (char)c))
                goto big;
            continue;
        }
        if (c == '"' && at_start) {
            in_quotes = quoted = 1;
            at_start = 0;
            continue;
        }
        if (c == ',' || c == '\n' || c == EOF || c == '\r') {
            if (c == '\r') {
                int d = getc(r->f);
                if (d != '\n' && d != EOF)
                    ungetc(d, r->f);
                c = '\n';
            }
            if (csv_put(r, 0))
                goto big;
            if (c == ',') {
                if (nc == EXCHANGE_MAX_CSV_CELLS) {
                    *why = "more than 256 cells in a row";
                    return -1;
                }
                r->offs[nc++] = r->len;
                at_start = 1;
                quoted = 0;
                continue;
            }
            if (c == '\n')
                r->line++;
            break;
        }
        if (quoted) {
            *why = "text after a quoted cell's closing quote";
            return -1;
        }
        at_start = 0;
        if (csv_put(r, (char)c))
            goto big;
    }
    for (size_t i = 0; i < nc; i++) {
        r->cells[i] = r->buf + r->offs[i];
        /* the apostrophe csv_cell put before a formula-like value */
        if (r->cells[i][0] == '\'' && csv_formula_like(r->cells[i], strlen(r->cells[i])))
            r->cells[i]++;
    }
    *cells = r->cells;
    *n = nc;
    return 1;
big:
    *why = "a row longer than 1 MiB";
    return -1;
}

int exchange_csv_columns(char **cells, size_t n, int *map, char why[256]) {
    for (size_t i = 0; i < n; i++) {
        map[i] = -1;
        for (size_t c = 0; c < NCOLUMNS && map[i] < 0; c++)
            if (strcmp(cells[i], exchange_columns[c].name) == 0)
                map[i] = (int)c;
        if (map[i] < 0) {
            snprintf(why, 256,
                     "unknown column '%.64s' (the columns are those hubctl export "
                     "--format csv writes)",
                     cells[i]);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (map[j] == map[i]) {
                snprintf(why, 256, "column '%.64s' twice", cells[i]);
                return -1;
            }
    }
    for (size_t c = 0; c < 2; c++) { /* kind and key */
        size_t i = 0;
        while (i < n && map[i] != (int)c)
            i++;
        if (i == n) {
            snprintf(why, 256, "no '%s' column", exchange_columns[c].name);
            return -1;
        }
    }
    return 0;
}

/* The object field names (creating it) in rec. */
static json_t *sub_object(json_t *rec, const char *name) {
    json_t *o = json_object_get(rec, name);
    if (!o) {
        o = json_object();
        json_object_set_new(rec, name, o);
    }
    return o;
}

/* Digits only, at most max. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out) {
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (max - (uint64_t)(*s - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

json_t *exchange_csv_item(char **cells, size_t n, const int *map, char field[64], char why[256]) {
    json_t *item = json_object(), *rec = json_object();
    json_object_set_new(item, "record", rec);
    for (size_t i = 0; i < n; i++) {
        const struct column *col = &exchange_columns[map[i]];
        const char *s = cells[i];
        snprintf(field, 64, "%s", col->name);
        if (!*s || col->type == COL_INFO)
            continue;                  /* an empty cell: the field is absent */
        json_t *utf8 = json_string(s); /* NULL for text that is not UTF-8 */
        if (!utf8) {
            snprintf(why, 256, "not valid UTF-8");
            goto bad;
        }
        json_decref(utf8);
        uint64_t u;
        switch (col->type) {
        case COL_KIND:
            if (strcmp(s, "offer") != 0 && strcmp(s, "request") != 0) {
                snprintf(why, 256, "'%.64s' is not offer or request", s);
                goto bad;
            }
            json_object_set_new(item, "kind", json_string(s));
            break;
        case COL_KEY:
            json_object_set_new(item, "key", json_string(s));
            break;
        case COL_TEXT:
            json_object_set_new(rec, col->field, json_string(s));
            break;
        case COL_LIST: {
            json_t *arr = json_array();
            for (const char *p = s;;) {
                const char *e = strchr(p, EXCHANGE_LIST_SEP);
                size_t len = e ? (size_t)(e - p) : strlen(p);
                while (len && *p == ' ')
                    p++, len--;
                while (len && p[len - 1] == ' ')
                    len--;
                if (len == 0) {
                    json_decref(arr);
                    snprintf(why, 256, "an empty value in the list ('%c' separates values)",
                             EXCHANGE_LIST_SEP);
                    goto bad;
                }
                json_array_append_new(arr, json_stringn(p, len));
                if (!e)
                    break;
                p = e + 1;
            }
            json_object_set_new(rec, col->field, arr);
            break;
        }
        case COL_UINT:
            if (parse_uint(s, UINT32_MAX, &u) != 0) {
                snprintf(why, 256, "'%.64s' is not a whole number from 0 to %u", s, UINT32_MAX);
                goto bad;
            }
            json_object_set_new(rec, col->field, json_integer((json_int_t)u));
            break;
        case COL_BOOL:
            if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0) {
                snprintf(why, 256, "'%.64s' is not true or false", s);
                goto bad;
            }
            json_object_set_new(rec, col->field, json_boolean(s[0] == 't'));
            break;
        case COL_AMOUNT: {
            json_error_t je;
            json_t *v = json_loads(s, JSON_DECODE_ANY, &je);
            if (!json_is_number(v)) {
                json_decref(v);
                snprintf(why, 256, "'%.64s' is not an amount (e.g. 120 or 99.5)", s);
                goto bad;
            }
            json_object_set_new(sub_object(rec, col->field), "amount", v);
            break;
        }
        case COL_CURRENCY:
            json_object_set_new(sub_object(rec, col->field), "currency", json_string(s));
            break;
        case COL_REF_AUTHOR:
            json_object_set_new(sub_object(rec, col->field), "author", json_string(s));
            break;
        case COL_REF_KEY:
            json_object_set_new(sub_object(rec, col->field), "key", json_string(s));
            break;
        case COL_EXPIRES:
            if (parse_uint(s, INT64_MAX, &u) == 0)
                json_object_set_new(item, "expires", json_integer((json_int_t)u));
            else
                json_object_set_new(item, "expires", json_string(s));
            break;
        case COL_INFO:
            break;
        }
    }
    if (!json_object_get(item, "kind")) {
        snprintf(field, 64, "kind");
        snprintf(why, 256, "empty: say offer or request");
        goto bad;
    }
    return item;
bad:
    json_decref(item);
    return NULL;
}

const char *exchange_csv_column_of(const char *field) {
    static char out[64];
    const char *dot = field ? strchr(field, '.') : NULL;
    const char *f = dot && strncmp(field, "records[", 8) == 0 ? dot + 1 : field;
    if (!f)
        return "";
    if (strcmp(f, "kind") == 0 || strcmp(f, "key") == 0 || strcmp(f, "expires") == 0)
        return f;
    const char *rest = f + strlen("record.");
    if (strncmp(f, "record.", 7) == 0)
        f = rest;
    size_t flen = strcspn(f, ".[");
    const char *sub = f[flen] == '.' ? f + flen + 1 : NULL;
    for (size_t c = 0; c < NCOLUMNS; c++) {
        const struct column *col = &exchange_columns[c];
        if (!col->field || strlen(col->field) != flen || strncmp(col->field, f, flen) != 0)
            continue;
        if (!sub || (col->type == COL_AMOUNT && strcmp(sub, "amount") == 0) ||
            (col->type == COL_CURRENCY && strcmp(sub, "currency") == 0) ||
            (col->type == COL_REF_AUTHOR && strcmp(sub, "author") == 0) ||
            (col->type == COL_REF_KEY && strcmp(sub, "key") == 0))
            return col->name;
    }
    snprintf(out, sizeof out, "%.63s", f);
    return out;
}
