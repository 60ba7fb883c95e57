package dev.kafkascope.telemetry;

import org.apache.kafka.server.telemetry.ClientTelemetryContext;
import org.apache.kafka.server.telemetry.ClientTelemetryExporter;
import org.apache.kafka.server.telemetry.ClientTelemetryExporterProvider;
import org.apache.kafka.server.telemetry.ClientTelemetryPayload;

/**
 * The plugin for Kafka >= 4.3: {@code metric.reporters=dev.kafkascope.telemetry.KafkascopeTelemetryReporter}.
 * Implements the exporter interface, which also hands over the push interval the broker gave
 * the client (kafkascope judges a client dead after two missed intervals).
 */
public class KafkascopeTelemetryReporter extends ForwardingReporter
        implements ClientTelemetryExporterProvider, ClientTelemetryExporter {

    @Override
    public ClientTelemetryExporter clientTelemetryExporter() {
        return this;
    }

    @Override
    public void exportMetrics(ClientTelemetryContext context, ClientTelemetryPayload payload) {
        forward(context.authorizableRequestContext(), payload, context.pushIntervalMs());
    }
}
