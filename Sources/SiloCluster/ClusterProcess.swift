import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A node or gateway of a local cluster as `down` and `status` find it again: through its pid file, and
/// only if the process behind that pid is still the one `up` started. A pid is checked against the
/// process's arguments (its subcommand and an option value no other cluster's process carries: a node's
/// data directory, the gateway's database URL, both under this cluster's directory), so a pid the kernel
/// has since given to another program is never signalled.
struct ClusterProcess: Sendable {
    /// `node-3`, `gateway`: how logs, pid files and `status` name it.
    let name: String
    let pidFile: String
    let logFile: String
    /// argv[1] of the process.
    let subcommand: String
    /// An option and the value only this cluster's process has.
    let markerOption: String
    let markerValue: String

    static func node(_ number: Int, in layout: ClusterLayout) -> ClusterProcess {
        ClusterProcess(name: "node-\(number)", pidFile: layout.nodePIDFile(number),
                       logFile: layout.nodeLogFile(number), subcommand: "node", markerOption: "--data-dir",
                       markerValue: layout.nodeDataDirectory(number))
    }

    static func gateway(in layout: ClusterLayout) -> ClusterProcess {
        ClusterProcess(name: "gateway", pidFile: layout.gatewayPIDFile, logFile: layout.gatewayLogFile,
                       subcommand: "gateway", markerOption: "--database-url",
                       markerValue: LocalCluster.databaseURL(in: layout))
    }

    /// The pid the pid file holds, whether or not it still runs.
    var recordedPID: pid_t? { PIDFile.read(pidFile) }

    /// The pid and arguments of the running process, nil when it is not running (or the pid is not ours).
    func running() -> (pid: pid_t, arguments: [String])? {
        guard let pid = recordedPID, !ProcessControl.isGone(pid),
              let arguments = ProcessControl.arguments(of: pid), isOurs(arguments) else { return nil }
        return (pid, arguments)
    }

    func isOurs(_ arguments: [String]) -> Bool {
        arguments.count > 1 && arguments[1] == subcommand
            && ProcessControl.value(of: markerOption, in: arguments) == markerValue
    }

    /// The `--listen` address of the running process.
    func listenAddress() -> String? {
        running().flatMap { ProcessControl.value(of: "--listen", in: $0.arguments) }
    }
}
