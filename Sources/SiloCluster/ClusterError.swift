/// A failure of `silo cluster up|down|status`, with the message a person needs to act on it (often the
/// tail of a process's log).
package struct ClusterError: Error, Sendable, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        /// `up` found the cluster's processes running.
        case alreadyRunning
        /// Another `silo cluster` command holds the directory's lock.
        case directoryBusy
        /// Anything else: a process that did not start, a port in use, a file that could not be written.
        case failed
    }

    package let kind: Kind
    package let description: String

    package init(_ description: String, kind: Kind = .failed) {
        self.kind = kind
        self.description = description
    }
}
