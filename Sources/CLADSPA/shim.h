#include <ladspa.h>

// dladdr, which glibc declares only under _GNU_SOURCE, for the plugin to find its own file (and a model
// beside it). Declared under another name, bound to the real symbol, so it never clashes with <dlfcn.h>.
typedef struct {
    const char *fileName;  // dli_fname
    void *fileBase;        // dli_fbase
    const char *symbolName;
    void *symbolAddress;
} DenoiseDlInfo;

int denoise_dladdr(const void *address, DenoiseDlInfo *info) __asm__("dladdr");
