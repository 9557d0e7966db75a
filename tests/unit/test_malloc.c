/* test_malloc.c: after hub_malloc_setup(), a block of HUB_MMAP_THRESHOLD bytes or more is
 * mmapped every time, also after such blocks were freed (glibc would otherwise raise its
 * threshold to the freed block's size and serve the next one from the heap, where it stays
 * resident), and a smaller one comes from the heap. Skipped under AddressSanitizer, whose
 * allocator replaces glibc's. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hub.h"

#if defined(__SANITIZE_ADDRESS__)
#define HUB_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HUB_TEST_ASAN 1
#endif
#endif

/* Bytes mmapped by malloc right now. */
static size_t mmapped(void) {
    return mallinfo2().hblkhd;
}

/* Whether a block of n bytes, held, is one of malloc's mmapped blocks. */
static int block_is_mmapped(size_t n) {
    size_t before = mmapped();
    char *p = malloc(n);
    assert_non_null(p);
    memset(p, 1, n); /* used, so that the allocation is not optimised away */
    size_t during = mmapped();
    free(p);
    return during >= before + n;
}

static void test_large_blocks_stay_mmapped(void **state) {
    (void)state;
#ifdef HUB_TEST_ASAN
    skip();
#endif
    assert_int_equal(hub_malloc_setup(), 0);
    for (int i = 0; i < 4; i++) { /* the second round is where glibc's own rule would differ */
        assert_true(block_is_mmapped(4 * HUB_MMAP_THRESHOLD));
        assert_true(block_is_mmapped(HUB_MMAP_THRESHOLD + 4096));
    }
    assert_false(block_is_mmapped(HUB_MMAP_THRESHOLD / 2));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_blocks_stay_mmapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
