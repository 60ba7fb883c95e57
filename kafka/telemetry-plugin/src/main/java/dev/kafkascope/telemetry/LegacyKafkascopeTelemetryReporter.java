package dev.kafkascope.telemetry;

import org.apache.kafka.server.authorizer.AuthorizableRequestContext;
import org.apache.kafka.server.telemetry.ClientTelemetryPayload;

/**
 * The plugin for Kafka 3.7 to 4.2, whose brokers only know the receiver interface
 * ({@code ClientTelemetry}, deprecated for removal since the exporter arrived): {@code
 * metric.reporters=dev.kafkascope.telemetry.LegacyKafkascopeTelemetryReporter}. The receiver is
 * not told the push interval, so its pushes carry no X-Kafkascope-Push-Interval-Ms header.
 */
@SuppressWarnings("removal")
public class LegacyKafkascopeTelemetryReporter extends ForwardingReporter
        implements org.apache.kafka.server.telemetry.ClientTelemetry,
                org.apache.kafka.server.telemetry.ClientTelemetryReceiver {

    @Override
    public org.apache.kafka.server.telemetry.ClientTelemetryReceiver clientReceiver() {
        return this;
    }

    @Override
    public void exportMetrics(AuthorizableRequestContext context, ClientTelemetryPayload payload) {
        forward(context, payload, -1);
    }
}
