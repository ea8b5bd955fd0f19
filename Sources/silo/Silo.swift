@main struct Silo { static func main() {} }
