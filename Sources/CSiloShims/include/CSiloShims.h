// What Swift cannot import or express itself. Every symbol is prefixed silo_ and says why it is here.
#ifndef CSILOSHIMS_H
#define CSILOSHIMS_H

#include <stddef.h>
#include <stdint.h>

/// CRC32C (Castagnoli) continued from `crc` over `length` bytes. Uses the SSE4.2 crc32 instruction when the
/// CPU has it (Swift cannot call x86 intrinsics), a slicing-by-8 table otherwise. Pass 0 to start.
uint32_t silo_crc32c_update(uint32_t crc, const void *bytes, size_t length);

/// The CRC32C of A followed by B, from crc(A), crc(B) and B's length: lets a writer checksum each block once
/// and still know the whole chunk's CRC (zlib's crc32_combine method, for the Castagnoli polynomial).
uint32_t silo_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b);

/// 1 when silo_crc32c_update runs on the hardware instruction.
int silo_crc32c_is_hardware(void);

/// O_DIRECT: hidden from Swift by the include order liburing needs (see CLibURing/shim.h).
int silo_o_direct(void);

/// renameat2(..., RENAME_NOREPLACE): atomic "rename unless the target exists" (glibc exposes it only under
/// _GNU_SOURCE, which Swift's Glibc module does not define). Returns 0 or -1 with errno set.
int silo_rename_noreplace(int old_dirfd, const char *old_path, int new_dirfd, const char *new_path);

/// fallocate(fd, 0, offset, length): reserves the blocks so a full disk fails before data is streamed.
/// Returns 0 or -1 with errno set (EOPNOTSUPP on filesystems without it).
int silo_fallocate(int fd, int64_t offset, int64_t length);

/// Keeps glibc malloc from serving every large message buffer (≥ 128 KiB) with a fresh mmap: each such
/// allocation is page-faulted and zeroed by the kernel, then unmapped on free — measured at about 15% of CPU
/// on a 1 GiB chunk stream. Raising the mmap and trim thresholds lets the heap reuse those pages.
/// mallopt is in <malloc.h>, which Swift's Glibc module does not export. Call once at start-up.
void silo_tune_allocator(void);

/// The CPU the calling thread runs on, or -1 (sched_getcpu is _GNU_SOURCE too).
int silo_current_cpu(void);

#endif
