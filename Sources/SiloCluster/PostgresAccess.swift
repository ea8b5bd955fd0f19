import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Run as root, PostgreSQL runs as the `postgres` user (`PostgresInstance`), which must be able to reach
/// its directory: every directory above it needs search permission for that user. initdb would otherwise
/// fail with a bare "Permission denied"; this says which directory is in the way.
enum PostgresAccess {
    /// Checks the directories above `postgresDirectory`. `ownDirectory` (the cluster's directory, which
    /// `up` may have just created with a private mode) gets search permission for others added: that lets
    /// the server through without listing or exposing anything in it.
    static func checkReachable(_ postgresDirectory: String, owning ownDirectory: String) throws {
        guard geteuid() == 0, let user = getpwnam("postgres") else { return }
        let uid = user.pointee.pw_uid
        let gid = user.pointee.pw_gid
        var path = (postgresDirectory as NSString).deletingLastPathComponent
        var blocked: [String] = []
        while !path.isEmpty {
            var info = stat()
            if stat(path, &info) == 0, !isSearchable(info, uid: uid, gid: gid) {
                if path == ownDirectory, chmod(path, info.st_mode & 0o7777 | S_IXOTH) == 0 {
                    // fixed
                } else {
                    blocked.append("\(path) (mode \(String(info.st_mode & 0o7777, radix: 8)))")
                }
            }
            if path == "/" { break }
            path = (path as NSString).deletingLastPathComponent
        }
        guard blocked.isEmpty else {
            throw ClusterError("""
                PostgreSQL runs as the postgres user, which cannot reach \(postgresDirectory): no search \
                permission on \(blocked.joined(separator: ", ")). Choose a directory elsewhere (e.g. under \
                /var/tmp) or allow it through with `chmod o+x` on those directories
                """)
        }
    }

    private static func isSearchable(_ info: stat, uid: uid_t, gid: gid_t) -> Bool {
        if info.st_uid == uid { return info.st_mode & S_IXUSR != 0 }
        if info.st_gid == gid { return info.st_mode & S_IXGRP != 0 }
        return info.st_mode & S_IXOTH != 0
    }
}
