/* hubctl_exchange.h: the catalogue in other formats (hubctl export --format, import of CSV).
 * Conversions of record views (CONTROL.md "Record JSON") as any script would make them: hubd
 * knows nothing of CSV or JSON-LD. Each function writes one record, so that an export streams. */
#ifndef HUBCTL_EXCHANGE_H
#define HUBCTL_EXCHANGE_H

#include <jansson.h>
#include <stdio.h>

#define EXCHANGE_LIST_SEP '|'           /* between the values of a list in one CSV cell */
#define EXCHANGE_MAX_CSV_ROW (1u << 20) /* bytes of one CSV record (a row may span lines) */
#define EXCHANGE_MAX_CSV_CELLS 256     /* cells of one CSV row */

/* --lang: sets the view's record title and description to their version in lang (from its
 * titles and descriptions; a tag of the same primary language will do), else English, else
 * leaves them (the record's own), and the view's "lang" to the title's language when known. */
void exchange_pick_lang(json_t *view, const char *lang);

/* JSON Lines: {"kind","key","record"[,"expires"]}, what hubctl import takes. */
int exchange_jsonl(FILE *f, json_t *view);

/* CSV (RFC 4180, UTF-8 with a byte order mark, CRLF): the header row, then one row per offer
 * or request. */
int exchange_csv_header(FILE *f);
int exchange_csv_row(FILE *f, json_t *view);

/* JSON-LD (schema.org): one document {"@context", "@graph": [...]} written as it goes. begin
 * takes the hub's own profile view (NULL if it has none) and its key (hex). */
int exchange_jsonld_begin(FILE *f, json_t *profile, const char *me);
/* The vocabularies' labels (hubd's vocab answer) for ISCED-F and DigComp terms; borrowed
 * until the export ends. NULL: codes without names. */
void exchange_jsonld_labels(json_t *vocab);
int exchange_jsonld_item(FILE *f, json_t *view);
int exchange_jsonld_end(FILE *f);

/* CSV reading: one record (row) at a time; a quoted cell may hold line breaks. */
struct csv_reader;
struct csv_reader *csv_reader_new(FILE *f);
void csv_reader_destroy(struct csv_reader **r);
/* The next row's cells (owned by the reader, valid until the next call) and the line it
 * starts on. 1: a row; 0: end of input; -1: malformed (why says what, line where). */
int csv_next(struct csv_reader *r, char ***cells, size_t *n, unsigned long *line, const char **why);

/* The header row checked against the export's columns: map[i] is cell i's column. 0, or -1
 * with why (an unknown or repeated column). */
int exchange_csv_columns(char **cells, size_t n, int *map, char why[256]);
/* A data row as an import item {"kind","key","record"}; NULL with the column (field) and
 * reason of the first bad cell. */
json_t *exchange_csv_item(char **cells, size_t n, const int *map, char field[64], char why[256]);
/* The CSV column of an import error's field ("records[3].cost.amount" -> "cost_amount"). */
const char *exchange_csv_column_of(const char *field);

#endif
