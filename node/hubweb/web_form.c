/* web_form.c: record forms of hubweb (web_form.h). The field table follows PROTOCOL.md §7.2;
 * the rules a record must follow are hubd's (publish checks them and names the field): this
 * file only turns what a browser can send into the record JSON and back. */
#include "web_form.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P WEB_KIND_PROFILE
#define O WEB_KIND_OFFER
#define R WEB_KIND_REQUEST

static const struct web_field fields[] = {
    {"name", "Name", WF_TEXT, NULL, P, P, "The hub's name"},
    {"title", "Title", WF_TEXT, NULL, O | R, O | R, NULL},
    {"description", "Description", WF_MULTILINE, NULL, P | O | R, 0, NULL},
    {"topics", "Topics", WF_WORDS, "topic", P | O | R, 0,
     "Tags in lower case, separated by commas (train-the-trainer, eid, ...)"},
    {"technologies", "Technologies", WF_MULTISELECT, "technology", P | O | R, 0, NULL},
    {"sectors", "Sectors", WF_MULTISELECT, "sector", P | O | R, 0, NULL},
    {"services", "Services", WF_MULTISELECT, "service", P | O | R, 0, NULL},
    {"audience", "Audience", WF_MULTISELECT, "audience", O | R, 0, NULL},
    {"languages", "Languages", WF_WORDS, NULL, P | O | R, 0,
     "Language tags separated by commas (de, en, pt-BR)"},
    {"mode", "Mode", WF_SELECT, "mode", O | R, 0, NULL},
    {"opportunity_type", "Type of learning opportunity", WF_SELECT, "opportunity_type", O, 0, NULL},
    {"schedule", "Schedule", WF_SELECT, "schedule", O, 0, NULL},
    {"country", "Country", WF_SELECT, "country", P | O | R, 0, NULL},
    {"region", "Region", WF_TEXT, NULL, P, 0, NULL},
    {"location", "Location", WF_TEXT, NULL, O | R, 0, NULL},
    {"start_date", "Start date", WF_DATE, NULL, O | R, 0, NULL},
    {"end_date", "End date", WF_DATE, NULL, O | R, 0, NULL},
    {"needed_by", "Needed by", WF_DATE, NULL, R, 0, NULL},
    {"duration_hours", "Duration (hours)", WF_UINT, NULL, O, 0, NULL},
    {"capacity", "Seats (0: unlimited)", WF_UINT, NULL, O, 0, NULL},
    {"ects_credits", "ECTS credits", WF_UINT, NULL, O, 0, NULL},
    {"cost", "Cost per participant", WF_COST, "currency", O, 0,
     "Amount with at most 2 decimals, and its currency"},
    {"budget", "Budget", WF_COST, "currency", R, 0,
     "Amount with at most 2 decimals, and its currency"},
    {"skills", "Skills (ESCO)", WF_WORDS, NULL, O | R, 0,
     "ESCO skill URIs separated by spaces or commas"},
    {"registration_url", "Registration URL", WF_URL, NULL, O, 0, NULL},
    {"website", "Web site", WF_URL, NULL, P, 0, NULL},
    {"contact", "Contact", WF_TEXT, NULL, P | O | R, 0, NULL},
    {"train_the_trainer", "A train-the-trainer programme", WF_BOOL, NULL, O, 0, NULL},
    {"based_on", "Based on (train-the-trainer lineage)", WF_REF, NULL, O, 0,
     "The programme this one derives from: AUTHOR/KEY (the hub's 64 hex digits, a slash, the "
     "offer's key)"},
    {"material_licence", "Material licence", WF_TEXT, NULL, O, 0,
     "An SPDX licence id (CC-BY-4.0) or a URL"},
    {"material_url", "Material URL", WF_URL, NULL, O, 0, NULL},
    {"service_group", "Service group", WF_SELECT, "service_group", O | R, 0, NULL},
    {"service_type", "Service type", WF_SELECT, "service_type", O | R, 0, NULL},
    {"facility", "Facility", WF_TEXT, NULL, O, 0,
     "Test before invest: the testbed, lab or experimentation facility offered"},
    {"endpoints", "Sync endpoints", WF_WORDS, NULL, P, 0,
     "tcp://HOST:PORT, separated by spaces or commas (for discovery)"},
    {"edih_id", "EDIH catalogue id", WF_TEXT, NULL, P, 0, NULL},
    /* the field's standard fields (PROTOCOL.md §7.2, issue 11); titles and descriptions by
     * language, learning outcomes and sessions have no control here: an edit keeps them */
    {"isced", "Fields of education (ISCED-F 2013)", WF_WORDS, NULL, O, 0,
     "ISCED-F codes separated by commas (0613, 0714); hubctl vocab isced lists them"},
    {"eqf_level", "EQF level", WF_UINT, NULL, O, 0, "1 .. 8"},
    {"digcomp", "DigComp 2.2 competences", WF_MULTISELECT, "digcomp", O, 0, NULL},
    {"prerequisites", "Prerequisites", WF_MULTILINE, NULL, O, 0, NULL},
    {"application_deadline", "Application deadline", WF_DATE, NULL, O, 0, NULL},
    {"nuts", "NUTS regions", WF_WORDS, NULL, P | O, 0,
     "NUTS codes separated by commas (AT13, DE300)"},
    {"hub_type", "Hub type", WF_SELECT, "hub_type", P, 0, NULL},
    {"customer_types", "Customer types", WF_MULTISELECT, "customer_type", P, 0, NULL},
};

#undef P
#undef O
#undef R

const struct web_field *web_fields(size_t *n) {
    *n = HUB_ARRAY_LEN(fields);
    return fields;
}

unsigned web_form_kind(const char *kind) {
    if (!kind)
        return 0;
    if (strcmp(kind, "profile") == 0)
        return WEB_KIND_PROFILE;
    if (strcmp(kind, "offer") == 0)
        return WEB_KIND_OFFER;
    if (strcmp(kind, "request") == 0)
        return WEB_KIND_REQUEST;
    return 0;
}

/* ---- decoding ---------------------------------------------------------------------------- */

void web_formvals_free(struct web_formvals *f) {
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        free(f->v[i].value);
    }
    free(f->v);
    memset(f, 0, sizeof *f);
}

int web_formvals_add(struct web_formvals *f, const char *name, const char *value, size_t len) {
    if (f->n >= WEB_FORM_MAX_FIELDS || strlen(name) > WEB_FORM_MAX_NAME)
        return HUB_E_TOO_LARGE;
    struct web_formval *v = hub_reserve(f->v, &f->cap, f->n + 1, sizeof *v, 16);
    if (!v)
        return HUB_E_NOMEM;
    f->v = v;
    char *n = strdup(name), *val = malloc(len + 1);
    if (!n || !val) {
        free(n);
        free(val);
        return HUB_E_NOMEM;
    }
    memcpy(val, value, len);
    val[len] = '\0';
    f->v[f->n++] = (struct web_formval){n, val, len};
    return HUB_OK;
}

size_t web_pct_decode(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hub_hexval(s[i + 1]) >= 0 &&
                   hub_hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hub_hexval(s[i + 1]) * 16 + hub_hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}

int web_form_decode(const char *body, size_t len, struct web_formvals *out) {
    memset(out, 0, sizeof *out);
    if (len > WEB_FORM_MAX_BODY)
        return HUB_E_TOO_LARGE;
    char *buf = malloc(len + 1);
    if (!buf)
        return HUB_E_NOMEM;
    int rc = HUB_OK;
    size_t i = 0;
    while (i < len && rc == HUB_OK) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *pair = body + i;
        size_t plen = end - i;
        i = end + 1;
        if (plen == 0)
            continue;
        const char *eq = memchr(pair, '=', plen);
        size_t nlen = eq ? (size_t)(eq - pair) : plen;
        if (nlen > WEB_FORM_MAX_NAME * 3) { /* even fully escaped, too long */
            rc = HUB_E_TOO_LARGE;
            break;
        }
        char name[WEB_FORM_MAX_NAME * 3 + 1];
        size_t dn = web_pct_decode(pair, nlen, name);
        if (dn > WEB_FORM_MAX_NAME || memchr(name, '\0', dn)) {
            rc = dn > WEB_FORM_MAX_NAME ? HUB_E_TOO_LARGE : HUB_E_DECODE;
            break;
        }
        size_t vlen = eq ? plen - nlen - 1 : 0;
        size_t dv = web_pct_decode(eq ? eq + 1 : "", vlen, buf);
        rc = web_formvals_add(out, name, buf, dv);
    }
    free(buf);
    return rc;
}

const char *web_formvals_get(const struct web_formvals *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0)
            return f->v[i].value;
    return NULL;
}

size_t web_formvals_all(const struct web_formvals *f, const char *name, const char **vals,
                        size_t max) {
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0) {
            if (k < max)
                vals[k] = f->v[i].value;
            k++;
        }
    return k;
}

/* ---- errors ------------------------------------------------------------------------------ */

void web_form_error(struct web_form_errors *errs, const char *field, const char *fmt, ...) {
    if (errs->n >= WEB_FORM_MAX_ERRORS)
        return;
    size_t k = errs->n++;
    snprintf(errs->e[k].field, sizeof errs->e[k].field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errs->e[k].message, sizeof errs->e[k].message, fmt, ap);
    va_end(ap);
}

const char *web_form_error_for(const struct web_form_errors *errs, const char *field) {
    for (size_t i = 0; i < errs->n; i++)
        if (strcmp(errs->e[i].field, field) == 0)
            return errs->e[i].message;
    return NULL;
}

static const struct web_field *field_of(unsigned kind, const char *name, size_t n) {
    for (size_t i = 0; i < HUB_ARRAY_LEN(fields); i++)
        if ((fields[i].kinds & kind) && strlen(fields[i].name) == n &&
            strncmp(fields[i].name, name, n) == 0)
            return &fields[i];
    return NULL;
}

int web_form_error_field(unsigned kind, const char *hubfield, char *out, size_t cap) {
    if (!hubfield || !cap)
        return 0;
    const char *s = hubfield;
    /* publish names record members plainly; import says records[i].; a wrapper may say record. */
    if (strncmp(s, "records[", 8) == 0) {
        const char *dot = strchr(s, '.');
        if (!dot)
            return 0;
        s = dot + 1;
    } else if (strncmp(s, "record.", 7) == 0) {
        s += 7;
    }
    size_t n = strcspn(s, ".[");
    const struct web_field *f = field_of(kind, s, n);
    if (!f || strlen(f->name) >= cap)
        return 0;
    memcpy(out, f->name, strlen(f->name) + 1);
    return 1;
}

/* ---- form -> record ---------------------------------------------------------------------- */

static int is_sep(char c) {
    return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';';
}

/* A string member from bytes, refusing what is not UTF-8 (jansson checks). */
static int set_string(json_t *rec, const struct web_field *f, const char *s, size_t n,
                      struct web_form_errors *errs) {
    json_t *v = json_stringn(s, n);
    if (!v) {
        web_form_error(errs, f->name, "%s: not valid UTF-8 text", f->label);
        return -1;
    }
    json_object_set_new(rec, f->name, v);
    return 0;
}

/* Leading and trailing spaces of a one-line value go (a paste); inside, nothing is changed. */
static void trim(const char **s, size_t *n) {
    while (*n && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

static int parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out) {
    if (n == 0 || n > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (max - (uint64_t)(s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "12", "12.5", "12.50" -> hundredths; at most 10^12 units (PROTOCOL.md §7.2 Cost). */
static int parse_amount(const char *s, size_t n, uint64_t *minor) {
    const char *dot = memchr(s, '.', n);
    if (!dot)
        dot = memchr(s, ',', n);
    size_t ilen = dot ? (size_t)(dot - s) : n, flen = dot ? n - ilen - 1 : 0;
    uint64_t units = 0, frac = 0;
    if (parse_uint(s, ilen, 1000000000000ULL, &units) != 0 || (dot && (flen < 1 || flen > 2)) ||
        (flen && parse_uint(dot + 1, flen, 99, &frac) != 0))
        return -1;
    if (flen == 1)
        frac *= 10;
    *minor = units * 100 + frac;
    return *minor <= 100000000000000ULL ? 0 : -1;
}

static void field_value(const struct web_formvals *f, const char *name, const char **s, size_t *n) {
    *s = NULL;
    *n = 0;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0) {
            *s = f->v[i].value;
            *n = f->v[i].value_len;
            return;
        }
}

static void one_field(const struct web_field *fd, const struct web_formvals *f, json_t *rec,
                      struct web_form_errors *errs) {
    const char *s;
    size_t n;
    field_value(f, fd->name, &s, &n);
    switch (fd->type) {
    case WF_MULTISELECT: {
        json_t *list = json_array();
        for (size_t i = 0; i < f->n; i++) {
            if (strcmp(f->v[i].name, fd->name) != 0 || f->v[i].value_len == 0)
                continue;
            json_t *v = json_stringn(f->v[i].value, f->v[i].value_len);
            if (!v) {
                web_form_error(errs, fd->name, "%s: not valid UTF-8 text", fd->label);
                break;
            }
            json_array_append_new(list, v);
        }
        if (json_array_size(list))
            json_object_set(rec, fd->name, list);
        json_decref(list);
        return;
    }
    case WF_WORDS: {
        json_t *list = json_array();
        for (size_t i = 0; s && i < n;) {
            while (i < n && is_sep(s[i]))
                i++;
            size_t b = i;
            while (i < n && !is_sep(s[i]))
                i++;
            if (i == b)
                continue;
            json_t *v = json_stringn(s + b, i - b);
            if (!v) {
                web_form_error(errs, fd->name, "%s: not valid UTF-8 text", fd->label);
                break;
            }
            json_array_append_new(list, v);
        }
        if (json_array_size(list))
            json_object_set(rec, fd->name, list);
        json_decref(list);
        return;
    }
    case WF_BOOL:
        if (s && n)
            json_object_set_new(rec, fd->name, json_true());
        return;
    case WF_COST: {
        char cname[WEB_FORM_MAX_NAME + 16];
        snprintf(cname, sizeof cname, "%s_currency", fd->name);
        const char *c;
        size_t cn;
        field_value(f, cname, &c, &cn);
        if (s)
            trim(&s, &n);
        if (!s || !n)
            return; /* no amount: no cost (a currency alone means nothing) */
        uint64_t minor;
        if (parse_amount(s, n, &minor) != 0) {
            web_form_error(errs, fd->name,
                           "%s: an amount such as 120 or 49.90 (at most 2 decimals, at most "
                           "1000000000000)",
                           fd->label);
            return;
        }
        if (!c || !cn) {
            web_form_error(errs, fd->name, "%s: choose the currency of the amount", fd->label);
            return;
        }
        json_t *cur = json_stringn(c, cn);
        if (!cur) {
            web_form_error(errs, fd->name, "%s: not valid UTF-8 text", fd->label);
            return;
        }
        json_t *amount = minor % 100 == 0 ? json_integer((json_int_t)(minor / 100))
                                          : json_real((double)minor / 100.0);
        json_object_set_new(rec, fd->name,
                            json_pack("{s:o, s:o}", "amount", amount, "currency", cur));
        return;
    }
    default:
        break;
    }
    if (!s)
        return;
    if (fd->type != WF_MULTILINE)
        trim(&s, &n);
    if (n == 0)
        return;
    switch (fd->type) {
    case WF_MULTILINE: {
        /* Browsers send a textarea's line ends as CR LF; a record's lines end in LF. */
        char *t = malloc(n + 1);
        if (!t) {
            web_form_error(errs, fd->name, "%s: out of memory", fd->label);
            return;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '\r') {
                t[k++] = '\n';
                if (i + 1 < n && s[i + 1] == '\n')
                    i++;
            } else {
                t[k++] = s[i];
            }
        }
        set_string(rec, fd, t, k, errs);
        free(t);
        return;
    }
    case WF_UINT: {
        uint64_t v;
        if (parse_uint(s, n, 4294967295ULL, &v) != 0) {
            web_form_error(errs, fd->name, "%s: a whole number from 0 to 4294967295", fd->label);
            return;
        }
        json_object_set_new(rec, fd->name, json_integer((json_int_t)v));
        return;
    }
    case WF_REF: {
        const char *slash = memchr(s, '/', n);
        uint8_t k[32];
        char hex[HUB_HEX_LEN + 1];
        if (!slash || slash - s != HUB_HEX_LEN || (size_t)(slash - s) + 1 >= n) {
            web_form_error(errs, fd->name,
                           "%s: AUTHOR/KEY: the hub's 64 hex digits, a slash, "
                           "the offer's key",
                           fd->label);
            return;
        }
        memcpy(hex, s, HUB_HEX_LEN);
        hex[HUB_HEX_LEN] = '\0';
        for (char *p = hex; *p; p++)
            if (*p >= 'A' && *p <= 'F')
                *p = (char)(*p - 'A' + 'a');
        json_t *key = json_stringn(slash + 1, n - HUB_HEX_LEN - 1);
        if (hub_unhex(hex, k, sizeof k) != 0 || !key) {
            json_decref(key);
            web_form_error(errs, fd->name,
                           "%s: AUTHOR/KEY: the hub's 64 hex digits, a slash, "
                           "the offer's key",
                           fd->label);
            return;
        }
        json_object_set_new(rec, fd->name, json_pack("{s:s, s:o}", "author", hex, "key", key));
        return;
    }
    default: /* text, select, date, URL: as typed; publish checks the vocabulary or format */
        set_string(rec, fd, s, n, errs);
        return;
    }
}

int web_form_record(unsigned kind, const struct web_formvals *f, json_t **record,
                    struct web_form_errors *errs) {
    *record = NULL;
    json_t *rec = json_object();
    if (!rec)
        return HUB_E_NOMEM;
    size_t before = errs->n;
    for (size_t i = 0; i < HUB_ARRAY_LEN(fields); i++)
        if (fields[i].kinds & kind)
            one_field(&fields[i], f, rec, errs);
    if (errs->n != before) {
        json_decref(rec);
        return HUB_E_RANGE;
    }
    *record = rec;
    return HUB_OK;
}

/* ---- record -> form ---------------------------------------------------------------------- */

static int add_str(struct web_formvals *out, const char *name, const json_t *v) {
    if (!json_is_string(v))
        return HUB_OK;
    return web_formvals_add(out, name, json_string_value(v), json_string_length(v));
}

/* A list field as one text of words (WF_WORDS), joined by ", ". */
static int add_words(struct web_formvals *out, const char *name, const json_t *list) {
    size_t total = 0, i;
    const json_t *v;
    json_array_foreach(list, i, v) {
        if (json_is_string(v))
            total += json_string_length(v) + 2;
    }
    char *t = malloc(total + 1);
    if (!t)
        return HUB_E_NOMEM;
    size_t k = 0;
    json_array_foreach(list, i, v) {
        if (!json_is_string(v))
            continue;
        if (k) {
            memcpy(t + k, ", ", 2);
            k += 2;
        }
        memcpy(t + k, json_string_value(v), json_string_length(v));
        k += json_string_length(v);
    }
    int rc = web_formvals_add(out, name, t, k);
    free(t);
    return rc;
}

int web_record_form(unsigned kind, const json_t *record, struct web_formvals *out) {
    memset(out, 0, sizeof *out);
    int rc = HUB_OK;
    for (size_t i = 0; i < HUB_ARRAY_LEN(fields) && rc == HUB_OK; i++) {
        const struct web_field *fd = &fields[i];
        if (!(fd->kinds & kind))
            continue;
        const json_t *v = json_object_get(record, fd->name);
        if (!v)
            continue;
        char buf[64];
        switch (fd->type) {
        case WF_MULTISELECT: {
            size_t k;
            const json_t *item;
            json_array_foreach(v, k, item) {
                if (rc == HUB_OK)
                    rc = add_str(out, fd->name, item);
            }
            break;
        }
        case WF_WORDS:
            if (json_is_array(v))
                rc = add_words(out, fd->name, v);
            break;
        case WF_BOOL:
            if (json_is_true(v))
                rc = web_formvals_add(out, fd->name, "1", 1);
            break;
        case WF_UINT:
            if (json_is_integer(v)) {
                int w = snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
                rc = web_formvals_add(out, fd->name, buf, (size_t)w);
            }
            break;
        case WF_COST: {
            const json_t *a = json_object_get(v, "amount");
            int w = -1;
            if (json_is_integer(a))
                w = snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(a));
            else if (json_is_real(a))
                w = snprintf(buf, sizeof buf, "%.2f", json_real_value(a));
            if (w > 0 && (size_t)w < sizeof buf)
                rc = web_formvals_add(out, fd->name, buf, (size_t)w);
            char cname[WEB_FORM_MAX_NAME + 16];
            snprintf(cname, sizeof cname, "%s_currency", fd->name);
            if (rc == HUB_OK)
                rc = add_str(out, cname, json_object_get(v, "currency"));
            break;
        }
        case WF_REF: {
            const char *a = json_string_value(json_object_get(v, "author"));
            const char *k = json_string_value(json_object_get(v, "key"));
            if (a && k) {
                size_t n = strlen(a) + 1 + strlen(k);
                char *t = malloc(n + 1);
                if (!t)
                    return HUB_E_NOMEM;
                snprintf(t, n + 1, "%s/%s", a, k);
                rc = web_formvals_add(out, fd->name, t, n);
                free(t);
            }
            break;
        }
        default:
            rc = add_str(out, fd->name, v);
            break;
        }
    }
    return rc;
}
