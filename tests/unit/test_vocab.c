/* test_vocab.c: the compiled-in vocabularies accept their published values exactly and refuse
 * near misses; the syntax checks for languages, topics, ESCO skills and URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vocab.h"

static size_t count_values(enum vocab_list list) {
    const char *const *v = vocab_values(list);
    size_t n = 0;
    assert_non_null(v);
    while (v[n] != NULL)
        n++;
    return n;
}

static void test_sizes_and_names(void **state) {
    (void)state;
    /* Sizes of the source lists: shared/vocab, iso3166.tab, ISO 4217 List One. */
    assert_int_equal(count_values(VOCAB_TECHNOLOGY), 34);
    assert_int_equal(count_values(VOCAB_SECTOR), 42);
    assert_int_equal(count_values(VOCAB_SERVICE), 19);
    assert_int_equal(count_values(VOCAB_MODE), 6);
    assert_int_equal(count_values(VOCAB_SCHEDULE), 3);
    assert_int_equal(count_values(VOCAB_OPPORTUNITY), 12);
    assert_int_equal(count_values(VOCAB_AUDIENCE), 13);
    assert_int_equal(count_values(VOCAB_COUNTRY), 249);
    assert_true(count_values(VOCAB_CURRENCY) >= 170);
    for (int l = 0; l < VOCAB_COUNT; l++) {
        assert_non_null(vocab_name((enum vocab_list)l));
        /* Every listed value is accepted by vocab_has, and no value is listed twice. */
        const char *const *v = vocab_values((enum vocab_list)l);
        for (size_t i = 0; v[i] != NULL; i++) {
            assert_true(vocab_has((enum vocab_list)l, v[i]));
            for (size_t j = i + 1; v[j] != NULL; j++)
                assert_string_not_equal(v[i], v[j]);
        }
    }
    assert_string_equal(vocab_name(VOCAB_COUNTRY), "country");
    assert_null(vocab_name(VOCAB_COUNT));
    assert_null(vocab_values(VOCAB_COUNT));
    assert_false(vocab_has(VOCAB_COUNT, "AT"));
    assert_false(vocab_has(VOCAB_COUNTRY, NULL));
}

static void test_sectors_with_commas(void **state) {
    (void)state;
    assert_true(vocab_has(VOCAB_SECTOR, "Retail, wholesale or distribution"));
    assert_true(vocab_has(VOCAB_SECTOR, "Energy, fuels and petroleum engineering"));
    assert_true(vocab_has(VOCAB_SECTOR, "Public administration"));
    assert_true(vocab_has(VOCAB_SECTOR, "Smart City"));
    /* Near misses: split at the comma, case, spacing, punctuation. */
    assert_false(vocab_has(VOCAB_SECTOR, "Retail"));
    assert_false(vocab_has(VOCAB_SECTOR, "wholesale or distribution"));
    assert_false(vocab_has(VOCAB_SECTOR, "retail, wholesale or distribution"));
    assert_false(vocab_has(VOCAB_SECTOR, "Retail wholesale or distribution"));
    assert_false(vocab_has(VOCAB_SECTOR, "Retail, wholesale or distribution "));
    assert_false(vocab_has(VOCAB_SECTOR, " Retail, wholesale or distribution"));
    assert_false(vocab_has(VOCAB_SECTOR, "Smart city"));
    assert_false(vocab_has(VOCAB_SECTOR, ""));
    /* A technology is not a sector. */
    assert_false(vocab_has(VOCAB_SECTOR, "Cybersecurity"));
}

static void test_technologies_services(void **state) {
    (void)state;
    assert_true(vocab_has(VOCAB_TECHNOLOGY, "Artificial Intelligence & Decision support"));
    assert_true(vocab_has(VOCAB_TECHNOLOGY, "Micro- and nanoelectronics, optoelectronics"));
    assert_true(vocab_has(VOCAB_TECHNOLOGY, "Quantum Technologies (computing/communication)"));
    assert_true(vocab_has(VOCAB_TECHNOLOGY, "data"));
    assert_false(vocab_has(VOCAB_TECHNOLOGY, "Artificial intelligence & decision support"));
    assert_false(vocab_has(VOCAB_TECHNOLOGY, "Artificial Intelligence and Decision support"));
    assert_false(vocab_has(VOCAB_TECHNOLOGY, "Data"));
    assert_false(vocab_has(VOCAB_TECHNOLOGY, "AI"));

    assert_true(vocab_has(VOCAB_SERVICE, "skills-and-training"));
    assert_true(vocab_has(VOCAB_SERVICE, "test-before-invest"));
    assert_true(vocab_has(VOCAB_SERVICE, "support-to-find-investments"));
    assert_true(vocab_has(VOCAB_SERVICE, "ecosystem-and-networking"));
    assert_true(vocab_has(VOCAB_SERVICE, "SME support"));
    assert_true(vocab_has(VOCAB_SERVICE, "Sme Business Development"));
    /* The groups have one spelling: the code, not the display label. */
    assert_false(vocab_has(VOCAB_SERVICE, "Skills and training"));
    assert_false(vocab_has(VOCAB_SERVICE, "skills and training"));
    assert_false(vocab_has(VOCAB_SERVICE, "SME Business Development"));
}

static void test_learning_and_audience(void **state) {
    (void)state;
    static const char *const modes[] = {"online",    "onsite",        "blended",
                                        "workbased", "project-based", "research-lab-based"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        assert_true(vocab_has(VOCAB_MODE, modes[i]));
    assert_false(vocab_has(VOCAB_MODE, "Blended"));
    assert_false(vocab_has(VOCAB_MODE, "hybrid"));
    assert_true(vocab_has(VOCAB_SCHEDULE, "part-time-light"));
    assert_false(vocab_has(VOCAB_SCHEDULE, "part-time"));
    assert_true(vocab_has(VOCAB_OPPORTUNITY, "Short learning programme"));
    assert_true(vocab_has(VOCAB_OPPORTUNITY, "MOOC"));
    assert_false(vocab_has(VOCAB_OPPORTUNITY, "course"));
    assert_false(vocab_has(VOCAB_OPPORTUNITY, "ECTS")); /* a credit system, not a type */

    static const char *const audiences[] = {
        "sme",        "small-midcap", "startup",   "public-administration", "municipality",
        "smart-city", "healthcare",   "education", "researchers",           "citizens",
        "trainers",   "hub-staff",    "ngo"};
    for (size_t i = 0; i < sizeof audiences / sizeof audiences[0]; i++)
        assert_true(vocab_has(VOCAB_AUDIENCE, audiences[i]));
    assert_false(vocab_has(VOCAB_AUDIENCE, "SME"));
    assert_false(vocab_has(VOCAB_AUDIENCE, "trainer"));
    assert_false(vocab_has(VOCAB_AUDIENCE, "train-the-trainer"));
}

static void test_countries_currencies(void **state) {
    (void)state;
    static const char *const countries[] = {"AT", "DE", "PT", "BE", "GR", "AD", "ZW", "XK"};
    for (size_t i = 0; i < 7; i++)
        assert_true(vocab_has(VOCAB_COUNTRY, countries[i]));
    assert_false(vocab_has(VOCAB_COUNTRY, countries[7])); /* not in ISO 3166-1 */
    assert_false(vocab_has(VOCAB_COUNTRY, "at"));
    assert_false(vocab_has(VOCAB_COUNTRY, "UK"));
    assert_false(vocab_has(VOCAB_COUNTRY, "EL"));
    assert_false(vocab_has(VOCAB_COUNTRY, "EU"));
    assert_false(vocab_has(VOCAB_COUNTRY, "AUT"));
    assert_false(vocab_has(VOCAB_COUNTRY, "A"));

    assert_true(vocab_has(VOCAB_CURRENCY, "EUR"));
    assert_true(vocab_has(VOCAB_CURRENCY, "CHF"));
    assert_true(vocab_has(VOCAB_CURRENCY, "PLN"));
    assert_true(vocab_has(VOCAB_CURRENCY, "JPY"));
    assert_true(vocab_has(VOCAB_CURRENCY, "XCG"));
    assert_false(vocab_has(VOCAB_CURRENCY, "eur"));
    assert_false(vocab_has(VOCAB_CURRENCY, "EURO"));
    assert_false(vocab_has(VOCAB_CURRENCY, "HRK")); /* withdrawn 2023 */
    assert_false(vocab_has(VOCAB_CURRENCY, "BTC"));
}

static void test_language(void **state) {
    (void)state;
    static const char *const good[] = {
        "en",     "de",     "fil",        "pt-BR",    "sr-Latn",     "sr-Latn-RS",     "zh-Hant-TW",
        "es-419", "zh-yue", "de-CH-1996", "en-x-hub", "en-US-x-a-b", "en-u-ca-gregory"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(vocab_is_language(good[i]));
    /* "x-hub" is a valid private-use tag, but a record's language must name a language. */
    static const char *const bad[] = {
        "",       "e",     "EN",     "En",        "english", "en-",
        "en--US", "en_US", "pt-BR-", "-pt",       "en-a",    "en-abcdefghi",
        "123",    "en US", "x-hub",  "en-a-b-cd", "en-x",    "en-\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(vocab_is_language(bad[i]));
    assert_false(vocab_is_language(NULL));
}

static void test_topic(void **state) {
    (void)state;
    char buf[80];
    assert_true(vocab_is_topic("train-the-trainer"));
    assert_true(vocab_is_topic("ai"));
    assert_true(vocab_is_topic("5g"));
    assert_true(vocab_is_topic("a"));
    assert_false(vocab_is_topic(""));
    assert_false(vocab_is_topic("-ai"));
    assert_false(vocab_is_topic("AI"));
    assert_false(vocab_is_topic("ai_public"));
    assert_false(vocab_is_topic("ai public"));
    assert_false(vocab_is_topic("\xc3\xa9t\xc3\xa9"));
    assert_false(vocab_is_topic(NULL));
    memset(buf, 'a', 64);
    buf[64] = '\0';
    assert_true(vocab_is_topic(buf));
    buf[64] = 'a';
    buf[65] = '\0';
    assert_false(vocab_is_topic(buf));
}

static void test_esco(void **state) {
    (void)state;
    assert_true(vocab_is_esco_skill(
        "http://data.europa.eu/esco/skill/8088750d-8388-4170-a76f-48354c469c44"));
    assert_true(vocab_is_esco_skill(
        "http://data.europa.eu/esco/skill/0d7f2cce-245a-4d02-9b8d-2e9946cc4c5d"));
    assert_false(vocab_is_esco_skill(
        "https://data.europa.eu/esco/skill/8088750d-8388-4170-a76f-48354c469c44"));
    assert_false(vocab_is_esco_skill(
        "http://data.europa.eu/esco/skill/8088750D-8388-4170-A76F-48354C469C44"));
    assert_false(vocab_is_esco_skill(
        "http://data.europa.eu/esco/occupation/8088750d-8388-4170-a76f-48354c469c44"));
    assert_false(vocab_is_esco_skill(
        "http://data.europa.eu/esco/skill/8088750d-8388-4170-a76f-48354c469c4"));
    assert_false(vocab_is_esco_skill(
        "http://data.europa.eu/esco/skill/8088750d-8388-4170-a76f-48354c469c444"));
    assert_false(
        vocab_is_esco_skill("http://data.europa.eu/esco/skill/8088750d83884170a76f48354c469c44"));
    assert_false(vocab_is_esco_skill(
        "http://data.europa.eu/esco/skill/8088750g-8388-4170-a76f-48354c469c44"));
    assert_false(vocab_is_esco_skill("http://data.europa.eu/esco/skill/"));
    assert_false(vocab_is_esco_skill("cyber security"));
    assert_false(vocab_is_esco_skill(NULL));
}

static void test_url(void **state) {
    (void)state;
    char buf[600];
    assert_true(vocab_is_url("https://example.eu"));
    assert_true(vocab_is_url("https://edih.example.eu/ttt?lang=de#apply"));
    assert_true(vocab_is_url("http://10.0.0.2:8080/x"));
    assert_false(vocab_is_url("ftp://example.eu"));
    assert_false(vocab_is_url("https://"));
    assert_false(vocab_is_url("https:///path"));
    assert_false(vocab_is_url("https://exa mple.eu"));
    assert_false(vocab_is_url("https://example.eu/\tx"));
    assert_false(vocab_is_url("example.eu"));
    assert_false(vocab_is_url("HTTPS://example.eu"));
    assert_false(vocab_is_url("mailto:someone@example.eu"));
    assert_false(vocab_is_url(NULL));
    /* 512 bytes pass, 513 do not. */
    memcpy(buf, "https://e.eu/", 13);
    memset(buf + 13, 'p', 512 - 13);
    buf[512] = '\0';
    assert_true(vocab_is_url(buf));
    buf[512] = 'p';
    buf[513] = '\0';
    assert_false(vocab_is_url(buf));
}

/* The nearest values of a vocabulary: a typed-in-part label first, then by edit distance. */
static void test_suggest(void **state) {
    (void)state;
    const char *out[VOCAB_SUGGEST_MAX];
    /* "Smart Cities" is 3 edits from "Smart City" and further from everything else */
    size_t n = vocab_suggest(VOCAB_SECTOR, "Smart Cities", out, VOCAB_SUGGEST_MAX);
    assert_int_equal(n, 3);
    assert_string_equal(out[0], "Smart City");
    /* case is no edit: a label in another case is suggested first, at distance 0 */
    n = vocab_suggest(VOCAB_SECTOR, "smart city", out, 1);
    assert_int_equal(n, 1);
    assert_string_equal(out[0], "Smart City");
    /* labels the value begins come first, in the list's order */
    n = vocab_suggest(VOCAB_TECHNOLOGY, "cyber", out, VOCAB_SUGGEST_MAX);
    assert_int_equal(n, 3);
    assert_string_equal(out[0], "Cybersecurity");
    assert_string_equal(out[1], "Cyber-physical systems");
    /* a one-letter typo in a code */
    n = vocab_suggest(VOCAB_MODE, "onlin", out, VOCAB_SUGGEST_MAX);
    assert_true(n >= 1);
    assert_string_equal(out[0], "online");
    n = vocab_suggest(VOCAB_COUNTRY, "DEU", out, VOCAB_SUGGEST_MAX);
    assert_string_equal(out[0], "DE");
    /* never more than asked, or than VOCAB_SUGGEST_MAX; nothing for no list or no room */
    assert_int_equal(vocab_suggest(VOCAB_COUNTRY, "XX", out, 2), 2);
    assert_int_equal(vocab_suggest(VOCAB_COUNTRY, "XX", out, 0), 0);
    assert_int_equal(vocab_suggest(VOCAB_COUNT, "XX", out, 3), 0);
    assert_int_equal(vocab_suggest(VOCAB_COUNTRY, NULL, out, 3), 0);
    /* values longer than VOCAB_SUGGEST_MAX_LEN are compared by their start */
    char longv[400];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    assert_int_equal(vocab_suggest(VOCAB_SECTOR, longv, out, 3), 3);
    /* the sentence for error messages */
    char buf[200];
    assert_int_equal(vocab_suggest_text(VOCAB_SCHEDULE, "full time", buf, sizeof buf), 3);
    assert_string_equal(buf, "did you mean 'full-time', 'part-time-light' or "
                             "'part-time-intensive'?");
    /* cut to whole names when the buffer is short */
    assert_int_equal(vocab_suggest_text(VOCAB_SCHEDULE, "full time", buf, 30), 3);
    assert_string_equal(buf, "did you mean 'full-time'?");
}

static void test_find_any_case(void **state) {
    (void)state;
    assert_string_equal(vocab_find(VOCAB_SECTOR, "SMART city"), "Smart City");
    assert_string_equal(vocab_find(VOCAB_COUNTRY, "at"), "AT");
    assert_null(vocab_find(VOCAB_SECTOR, "Smart Cit"));
    assert_null(vocab_find(VOCAB_SECTOR, "Smart City "));
    assert_null(vocab_find(VOCAB_COUNT, "AT"));
    assert_int_equal(vocab_list_by_name("opportunity_type"), VOCAB_OPPORTUNITY);
    assert_int_equal(vocab_list_by_name("nope"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_and_names),
        cmocka_unit_test(test_sectors_with_commas),
        cmocka_unit_test(test_technologies_services),
        cmocka_unit_test(test_learning_and_audience),
        cmocka_unit_test(test_countries_currencies),
        cmocka_unit_test(test_language),
        cmocka_unit_test(test_topic),
        cmocka_unit_test(test_esco),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_find_any_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
