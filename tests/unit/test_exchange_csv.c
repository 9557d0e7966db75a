/* test_exchange_csv.c: hubctl's CSV reader and writer (node/hubctl/hubctl_exchange.c, compiled
 * in here: hubctl is not part of hubcore). RFC 4180 quoting both ways, a byte order mark, line
 * breaks in cells, rows numbered by the line they start on, malformed input refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../node/hubctl/hubctl_exchange.c"

static FILE *text_file(const char *s) {
    FILE *f = tmpfile();
    assert_non_null(f);
    fputs(s, f);
    rewind(f);
    return f;
}

static void test_read_rows(void **state) {
    (void)state;
    FILE *f = text_file("\xef\xbb\xbfkind,key,title\r\n"
                        "offer,a,\"Hello, \"\"world\"\"\"\r\n"
                        "\r\n"
                        "offer,,\"two\r\nlines\"\n"
                        "request,c,plain");
    struct csv_reader *r = csv_reader_new(f);
    char **cells;
    size_t n;
    unsigned long line;
    const char *why = NULL;
    assert_int_equal(csv_next(r, &cells, &n, &line, &why), 1);
    assert_int_equal(n, 3);
    assert_int_equal(line, 1);
    assert_string_equal(cells[0], "kind"); /* the byte order mark is not in the first cell */
    assert_int_equal(csv_next(r, &cells, &n, &line, &why), 1);
    assert_int_equal(line, 2);
    assert_string_equal(cells[2], "Hello, \"world\"");
    assert_int_equal(csv_next(r, &cells, &n, &line, &why), 1);
    assert_int_equal(line, 4); /* the blank line 3 is skipped */
    assert_string_equal(cells[1], "");
    assert_string_equal(cells[2], "two\nlines"); /* CRLF in a cell: LF */
    assert_int_equal(csv_next(r, &cells, &n, &line, &why), 1);
    assert_int_equal(line, 6);
    assert_string_equal(cells[2], "plain");
    assert_int_equal(csv_next(r, &cells, &n, &line, &why), 0);
    csv_reader_destroy(&r);
    assert_null(r);
    fclose(f);
}

static void test_malformed(void **state) {
    (void)state;
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"a,\"open\n", "a quoted cell is not closed"},
        {"a,\"x\"y\n", "text after a quoted cell's closing quote"},
        {"\xef\xbb" "x\n", "not UTF-8 text (a broken byte order mark)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        FILE *f = text_file(cases[i].text);
        struct csv_reader *r = csv_reader_new(f);
        char **cells;
        size_t n;
        unsigned long line;
        const char *why = NULL;
        assert_int_equal(csv_next(r, &cells, &n, &line, &why), -1);
        assert_string_equal(why, cases[i].why);
        csv_reader_destroy(&r);
        fclose(f);
    }
}

/* A view written as a row and read back gives the import item of the same record. */
static void test_row_round_trip(void **state) {
    (void)state;
    json_error_t e;
    json_t *view = json_loads(
        "{\"kind\":\"offer\",\"key\":\"k, 1\",\"expires\":4102444800000,\"author\":\"ab\","
        "\"record\":{\"title\":\" lead space\",\"description\":\"a\\n\\\"b\\\"\","
        "\"topics\":[\"ai\",\"gdpr\"],\"capacity\":12,\"train_the_trainer\":true,"
        "\"isced\":[\"0613\",\"06\"],\"eqf_level\":5,\"nuts\":[\"AT13\"],"
        "\"titles\":{\"de\":\"Titel, \\\"zitiert\\\"\",\"fr\":\"L\u2019IA\"},"
        "\"learning_outcomes\":[{\"text\":\"a|b\",\"skill\":\"http://x\"}],"
        "\"sessions\":[{\"start\":\"2027-01-01\",\"location\":\"Wien\\nHalle 2\",\"seats\":3}],"
        "\"cost\":{\"amount\":99.5,\"currency\":\"EUR\"},"
        "\"based_on\":{\"author\":\"cd\",\"kind\":\"offer\",\"key\":\"root\"}}}",
        0, &e);
    assert_non_null(view);
    FILE *f = tmpfile();
    assert_int_equal(exchange_csv_header(f), 0);
    assert_int_equal(exchange_csv_row(f, view), 0);
    rewind(f);
    struct csv_reader *r = csv_reader_new(f);
    char **cells;
    size_t n, ncols;
    unsigned long line;
    const char *why;
    int map[EXCHANGE_MAX_CSV_CELLS];
    char msg[256], field[64];
    assert_int_equal(csv_next(r, &cells, &n, &line, &why), 1);
    assert_int_equal(exchange_csv_columns(cells, n, map, msg), 0);
    ncols = n;
    assert_int_equal(csv_next(r, &cells, &n, &line, &why), 1);
    assert_int_equal(n, ncols);
    json_t *item = exchange_csv_item(cells, n, map, field, msg);
    assert_non_null(item);
    json_t *want = json_loads(
        "{\"kind\":\"offer\",\"key\":\"k, 1\",\"expires\":4102444800000,"
        "\"record\":{\"title\":\" lead space\",\"description\":\"a\\n\\\"b\\\"\","
        "\"topics\":[\"ai\",\"gdpr\"],\"capacity\":12,\"train_the_trainer\":true,"
        "\"isced\":[\"0613\",\"06\"],\"eqf_level\":5,\"nuts\":[\"AT13\"],"
        "\"titles\":{\"de\":\"Titel, \\\"zitiert\\\"\",\"fr\":\"L\u2019IA\"},"
        "\"learning_outcomes\":[{\"text\":\"a|b\",\"skill\":\"http://x\"}],"
        "\"sessions\":[{\"start\":\"2027-01-01\",\"location\":\"Wien\\nHalle 2\",\"seats\":3}],"
        "\"cost\":{\"amount\":99.5,\"currency\":\"EUR\"},"
        "\"based_on\":{\"author\":\"cd\",\"key\":\"root\"}}}",
        0, &e);
    assert_true(json_equal(item, want));
    json_decref(want);
    json_decref(item);
    json_decref(view);
    csv_reader_destroy(&r);
    fclose(f);
}

/* Values a spreadsheet would run as formulas are written after an apostrophe and read back as
 * they were; a value that merely starts with an apostrophe is left alone both ways. */
static void test_formula_cells(void **state) {
    (void)state;
    static const char *const values[] = {
        "=HYPERLINK(\"http://evil.example/\",\"click\")", "+1", "-2", "@SUM(A1)", "\tx", "'=x",
        "''+y", "'plain", "plain", "a=b", "", "=1,2"};
    FILE *f = tmpfile();
    assert_non_null(f);
    size_t nv = sizeof values / sizeof values[0];
    for (size_t i = 0; i < nv; i++)
        csv_cell(f, values[i], strlen(values[i]), i == 0);
    fputs("\r\n", f);
    rewind(f);
    char raw[512] = "";
    assert_non_null(fgets(raw, sizeof raw, f));
    assert_true(strncmp(raw, "\"'=HYPERLINK", 12) == 0); /* quoted: it holds quotes */
    assert_non_null(strstr(raw, ",'+1,'-2,'@SUM(A1),"));
    assert_non_null(strstr(raw, ",''=x,'''+y,'plain,plain,a=b,,\"'=1,2\""));
    rewind(f);
    struct csv_reader *r = csv_reader_new(f);
    char **cells;
    size_t n;
    unsigned long line;
    const char *why = NULL;
    assert_int_equal(csv_next(r, &cells, &n, &line, &why), 1);
    assert_int_equal(n, nv);
    for (size_t i = 0; i < nv; i++)
        assert_string_equal(cells[i], values[i]);
    csv_reader_destroy(&r);
    fclose(f);
}

static void test_columns_and_cells(void **state) {
    (void)state;
    char *hdr_bad[] = {"kind", "key", "colour"};
    char *hdr_twice[] = {"kind", "key", "kind"};
    char *hdr_nokey[] = {"kind", "title"};
    int map[8];
    char msg[256], field[64];
    assert_int_equal(exchange_csv_columns(hdr_bad, 3, map, msg), -1);
    assert_non_null(strstr(msg, "unknown column 'colour'"));
    assert_int_equal(exchange_csv_columns(hdr_twice, 3, map, msg), -1);
    assert_int_equal(exchange_csv_columns(hdr_nokey, 2, map, msg), -1);
    assert_string_equal(msg, "no 'key' column");
    char *hdr[] = {"kind", "key", "capacity", "languages", "train_the_trainer"};
    assert_int_equal(exchange_csv_columns(hdr, 5, map, msg), 0);
    char *row_num[] = {"offer", "x", "-3", "", ""};
    assert_null(exchange_csv_item(row_num, 5, map, field, msg));
    assert_string_equal(field, "capacity");
    char *row_list[] = {"offer", "x", "", "de||en", ""};
    assert_null(exchange_csv_item(row_list, 5, map, field, msg));
    assert_string_equal(field, "languages");
    char *row_bool[] = {"offer", "x", "", "", "yes"};
    assert_null(exchange_csv_item(row_bool, 5, map, field, msg));
    assert_string_equal(field, "train_the_trainer");
    char *row_utf8[] = {"offer", "x", "", "\xff", ""};
    assert_null(exchange_csv_item(row_utf8, 5, map, field, msg));
    assert_string_equal(msg, "not valid UTF-8");
    assert_string_equal(exchange_csv_column_of("records[3].cost.amount"), "cost_amount");
    assert_string_equal(exchange_csv_column_of("records[0].based_on.key"), "based_on_key");
    assert_string_equal(exchange_csv_column_of("records[12].country"), "country");
    assert_string_equal(exchange_csv_column_of("records[1].key"), "key");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_rows),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_row_round_trip),
        cmocka_unit_test(test_columns_and_cells),
        cmocka_unit_test(test_formula_cells),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
