import CoreMetrics
import Metrics
import Prometheus

/// The gateway's metrics, through swift-metrics into a Prometheus registry that `/metrics` renders:
/// requests and their latency per operation and status, bytes in and out, chunks in flight, nodes up,
/// and the database pool's use.
package struct GatewayMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let bytesReceived: CoreMetrics.Counter
    let bytesSent: CoreMetrics.Counter
    let nodesUp: CoreMetrics.Gauge
    let databaseConnectionsBusy: CoreMetrics.Gauge
    let databaseConnections: CoreMetrics.Gauge
    /// Chunks being written to or read from nodes, over all requests.
    package let chunksInFlight: CoreMetrics.Meter
    /// Node streams a download gave back because its client kept them waiting (`nodeStreamHoldMax`).
    let nodeStreamsReleased: CoreMetrics.Counter
    /// Connections closed for a client that did not keep pace, and read-ahead bytes downloads hold.
    package let slowClientsClosed: CoreMetrics.Counter
    let downloadBufferBytes: CoreMetrics.Gauge
    /// Repair: chunks whose replica sets it changed, bytes it copied, chunks short of good copies in its
    /// last look (at most a batch), whether this gateway holds the repair lease.
    let repairChunks: CoreMetrics.Counter
    let repairBytes: CoreMetrics.Counter
    let repairBacklog: CoreMetrics.Gauge
    let repairLeader: CoreMetrics.Gauge

    package init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        self.factory = factory
        bytesReceived = CoreMetrics.Counter(label: "silo_gateway_received_bytes_total", factory: factory)
        bytesSent = CoreMetrics.Counter(label: "silo_gateway_sent_bytes_total", factory: factory)
        nodesUp = CoreMetrics.Gauge(label: "silo_gateway_nodes_up", factory: factory)
        databaseConnectionsBusy = CoreMetrics.Gauge(label: "silo_gateway_db_connections_busy", factory: factory)
        databaseConnections = CoreMetrics.Gauge(label: "silo_gateway_db_connections", factory: factory)
        chunksInFlight = CoreMetrics.Meter(label: "silo_gateway_chunks_in_flight", factory: factory)
        nodeStreamsReleased = CoreMetrics.Counter(label: "silo_gateway_node_streams_released_total", factory: factory)
        slowClientsClosed = CoreMetrics.Counter(label: "silo_gateway_slow_clients_closed_total", factory: factory)
        downloadBufferBytes = CoreMetrics.Gauge(label: "silo_gateway_download_buffer_bytes", factory: factory)
        repairChunks = CoreMetrics.Counter(label: "silo_repair_chunks_total", factory: factory)
        repairBytes = CoreMetrics.Counter(label: "silo_repair_copied_bytes_total", factory: factory)
        repairBacklog = CoreMetrics.Gauge(label: "silo_repair_backlog_chunks", factory: factory)
        repairLeader = CoreMetrics.Gauge(label: "silo_repair_leader", factory: factory)
    }

    package func record(operation: String, status: Int, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        CoreMetrics.Counter(label: "silo_gateway_requests_total",
                dimensions: [("operation", operation), ("status", String(status))], factory: factory).increment()
        CoreMetrics.Timer(label: "silo_gateway_request_duration_seconds", dimensions: [("operation", operation)],
                      factory: factory).record(duration: elapsed)
    }

    package func received(bytes: Int) { bytesReceived.increment(by: bytes) }
    package func sent(bytes: Int) { bytesSent.increment(by: bytes) }

    package func refreshGauges(nodesUp up: Int, databaseBusy: Int? = nil, databaseTotal: Int? = nil,
                               downloadBuffer: DownloadBudget? = nil) {
        nodesUp.record(up)
        if let downloadBuffer { downloadBufferBytes.record(downloadBuffer.capacity - downloadBuffer.unheld) }
        if let databaseBusy { databaseConnectionsBusy.record(databaseBusy) }
        if let databaseTotal { databaseConnections.record(databaseTotal) }
    }

    package func refreshRepair(_ progress: RepairWorker.Progress) {
        repairBacklog.record(progress.lastBacklog)
        repairLeader.record(progress.holdsLease ? 1 : 0)
    }

    /// The Prometheus text exposition of every metric.
    package func exposition() -> [UInt8] { registry.emitToBuffer() }
}
