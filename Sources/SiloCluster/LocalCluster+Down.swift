import Foundation
import SiloCore

#if canImport(Glibc)
import Glibc
#endif

extension LocalCluster {
    /// Stops the gateway, then the nodes, then PostgreSQL, each by pid (SIGTERM, up to `grace`, then
    /// SIGKILL; PostgreSQL through `pg_ctl stop -m fast`), removes the pid files and `cluster.env`, and with
    /// `purge` the whole directory. Safe to run when nothing runs, and twice. Returns what it did, a line
    /// each.
    package func down(purge: Bool, grace: Duration = .seconds(10)) async throws -> [String] {
        try await DedicatedThread.run(name: "silo-cluster") { try self.downBlocking(purge: purge, grace: grace) }
    }

    /// `down` on the calling thread, which it blocks: for a thread that may not await, such as the one
    /// that runs an interrupt's clean-up.
    package func downBlocking(purge: Bool, grace: Duration = .seconds(10)) throws -> [String] {
        guard layout.exists else { return ["nothing to stop: \(layout.directory) does not exist"] }
        guard layout.holdsCluster else { return ["nothing to stop: \(layout.directory) holds no cluster"] }
        return try stopAll(purge: purge, grace: grace)
    }

    private func stopAll(purge: Bool, grace: Duration) throws -> [String] {
        let lock = try ClusterLock(layout.lockFile)
        defer { lock.release() }
        var report: [String] = []

        let gateway = ClusterProcess.gateway(in: layout)
        report += stop([gateway], grace: grace)
        let nodes = layout.nodeNumbersWithPIDFiles().map { ClusterProcess.node($0, in: layout) }
        report += stop(nodes, grace: grace)

        if let postgres = try PostgresInstance.existing(in: layout.postgresDirectory), let pid = postgres.pid {
            progress("stopping PostgreSQL (pid \(pid))")
            do {
                try postgres.stop()
            } catch {
                throw ClusterError("PostgreSQL (pid \(pid)) did not stop: \(error)")
            }
            report.append("stopped PostgreSQL (pid \(pid))")
        }
        unlink(layout.environmentFile)
        if report.isEmpty { report.append("nothing was running in \(layout.directory)") }

        if purge {
            try removeDirectory()
            report.append("removed \(layout.directory)")
        }
        return report
    }

    /// Stops the running ones among `processes` together and removes every pid file of theirs.
    private func stop(_ processes: [ClusterProcess], grace: Duration) -> [String] {
        let running = processes.compactMap { process in process.running().map { (process, $0.pid) } }
        if !running.isEmpty {
            progress("stopping \(running.map { "\($0.0.name) (pid \($0.1))" }.joined(separator: ", "))")
        }
        let killed = Set(ProcessControl.terminate(running.map(\.1), grace: grace))
        for process in processes { PIDFile.remove(process.pidFile) }
        return running.map { process, pid in
            "stopped \(process.name) (pid \(pid))" + (killed.contains(pid) ? ": SIGKILL after \(grace) of SIGTERM" : "")
        }
    }

    /// Removes the cluster's directory, but only when it holds nothing `up` did not put there: a mistyped
    /// `--dir ~` must not take a home directory with it.
    private func removeDirectory() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: layout.directory)) ?? []
        let foreign = names.filter { !ClusterLayout.entryNames.contains($0) }.sorted()
        guard foreign.isEmpty else {
            throw ClusterError("""
                stopped, but did not remove \(layout.directory): it holds \(foreign.joined(separator: ", ")), \
                which silo cluster did not create
                """)
        }
        do {
            try FileManager.default.removeItem(atPath: layout.directory)
        } catch {
            throw ClusterError("cannot remove \(layout.directory): \(error.localizedDescription)")
        }
    }
}
