import CSiloShims

/// Process-wide settings the data path depends on. Call once, first thing, in every Silo process.
package enum ProcessTuning {
    /// Lets malloc reuse large message buffers instead of mapping, faulting and zeroing fresh pages for
    /// every one (see `silo_tune_allocator`).
    package static func tuneAllocator() {
        silo_tune_allocator()
    }
}
