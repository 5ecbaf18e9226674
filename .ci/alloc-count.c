// Counts heap allocations per thread, for the tests that check a hot path allocates nothing
// (FixedLatencyTests.testFixedLatencyProcessAllocatesNothingOnceRunning). Those tests skip unless this is preloaded:
//
//   clang -shared -fPIC -O2 -o .build/alloc-count.so .ci/alloc-count.c   (as .ci/run does)
//   LD_PRELOAD=$PWD/.build/alloc-count.so swift test --skip-build --filter AllocatesNothing
//
// glibc only: the wrappers forward to glibc's own entry points.
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static __thread long allocations;

long denoise_thread_allocations(void) { return allocations; }

void *malloc(size_t n) { allocations++; return __libc_malloc(n); }
void *calloc(size_t count, size_t n) { allocations++; return __libc_calloc(count, n); }
void *realloc(void *p, size_t n) { allocations++; return __libc_realloc(p, n); }
void *memalign(size_t alignment, size_t n) { allocations++; return __libc_memalign(alignment, n); }
void *aligned_alloc(size_t alignment, size_t n) { allocations++; return __libc_memalign(alignment, n); }
int posix_memalign(void **p, size_t alignment, size_t n) {
    allocations++;
    *p = __libc_memalign(alignment, n);
    return *p ? 0 : ENOMEM;
}
