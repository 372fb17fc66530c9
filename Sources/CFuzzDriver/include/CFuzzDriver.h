#ifndef CARACAL_CFUZZDRIVER_H
#define CARACAL_CFUZZDRIVER_H
#include <stdint.h>
#include <stddef.h>
// Provided by libFuzzer when linked with -sanitize=fuzzer. SwiftPM links
// executables with --defsym main=<Module>_main, so the fuzz targets call the
// driver from their own <Module>_main instead of relying on libFuzzer's main.
int LLVMFuzzerRunDriver(int *argc, char ***argv,
                        int (*callback)(const uint8_t *data, size_t size));
#endif
