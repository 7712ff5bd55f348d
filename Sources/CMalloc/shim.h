// glibc's allocator settings (mallopt), which the Glibc module does not export
// (Launch.keepFreedMemory).
#include <malloc.h>
