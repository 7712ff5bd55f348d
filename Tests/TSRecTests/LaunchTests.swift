import Foundation
import Testing
@preconcurrency import CMalloc
@testable import TSRec

/// After `Launch.keepFreedMemory` (`TSREC_MALLOC=keep`) a large block comes from the heap, not from an mmap of its own
/// (which the kernel would zero-fill again after every free), and stays with the process after
/// `free` for the next block of that size. 40 MiB: above glibc's largest dynamic mmap threshold
/// (32 MiB), so without the setting the block is always mmapped; below a thread arena's heap
/// size (64 MiB), so the test's thread can serve it from its heap (the tools run on the main
/// thread, whose heap has no such limit). Not under a sanitizer, whose allocator replaces glibc's.
@Test(.enabled(if: ProcessInfo.processInfo.environment["TSREC_SANITIZER"] == nil))
func largeBlocksAreServedFromTheHeap() {
    let size = 40 << 20
    let unmapped = mallinfo2().hblkhd                    // bytes in blocks served by their own mmap
    Launch.keepFreedMemory(environment: ["TSREC_MALLOC": "keep"])
    let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    #expect(mallinfo2().hblkhd <= unmapped)
    let heap = mallinfo2().arena                         // the heap now holds the block
    #expect(heap >= size)
    p.deallocate()
    // not trimmed: freed, kept (other tests may allocate meanwhile, so only a drop counts)
    #expect(mallinfo2().arena + size > heap)
}
