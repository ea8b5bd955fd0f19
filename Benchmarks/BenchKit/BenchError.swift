/// An operating error of the bench itself (a node that will not start, a build that fails, a socket error).
package struct BenchError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
