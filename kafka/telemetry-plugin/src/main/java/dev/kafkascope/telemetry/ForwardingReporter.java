package dev.kafkascope.telemetry;

import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.metrics.KafkaMetric;
import org.apache.kafka.common.metrics.MetricsReporter;
import org.apache.kafka.common.requests.RequestContext;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.server.authorizer.AuthorizableRequestContext;
import org.apache.kafka.server.telemetry.ClientTelemetryPayload;

/**
 * What both reporters share: the broker loads a telemetry plugin as a metric reporter
 * ({@code metric.reporters}); this one ignores the broker's own metrics and only forwards
 * client pushes. Runs on a broker request thread: it copies the push and returns.
 */
abstract class ForwardingReporter implements MetricsReporter {
    private volatile TelemetryForwarder forwarder;

    @Override
    public void configure(Map<String, ?> configs) {
        TelemetryForwarder old = forwarder;
        forwarder = new TelemetryForwarder(ForwarderConfig.from(configs));
        if (old != null) {
            old.close();
        }
    }

    /** The forwarder (for tests and JMX), or null before configure. */
    TelemetryForwarder forwarder() {
        return forwarder;
    }

    /** Queues one push; never blocks and never throws into the broker. */
    final void forward(AuthorizableRequestContext ctx, ClientTelemetryPayload payload, int intervalMs) {
        TelemetryForwarder f = forwarder;
        if (f == null) {
            return;
        }
        if (!f.hasRoom()) {
            f.dropFull();
            return;
        }
        try {
            f.offer(copy(ctx, payload, intervalMs));
        } catch (RuntimeException e) {
            // Never let telemetry fail a client's request.
            f.dropFull();
        }
    }

    static Push copy(AuthorizableRequestContext ctx, ClientTelemetryPayload payload, int intervalMs) {
        ByteBuffer data = payload.data();
        byte[] body = new byte[data == null ? 0 : data.remaining()];
        if (data != null) {
            data.duplicate().get(body);
        }
        Uuid id = payload.clientInstanceId();
        String softwareName = null;
        String softwareVersion = null;
        int port = -1;
        if (ctx instanceof RequestContext rc) {
            if (rc.clientInformation != null) {
                softwareName = rc.clientInformation.softwareName();
                softwareVersion = rc.clientInformation.softwareVersion();
            }
            port = rc.clientPort.orElse(-1);
        }
        InetAddress addr = ctx.clientAddress();
        KafkaPrincipal principal = ctx.principal();
        return new Push(
                new UUID(id.getMostSignificantBits(), id.getLeastSignificantBits()),
                ctx.clientId(),
                softwareName,
                softwareVersion,
                addr == null ? null : addr.getHostAddress(),
                port,
                principal == null ? null : principal.toString(),
                payload.isTerminating(),
                intervalMs,
                body);
    }

    @Override
    public void init(List<KafkaMetric> metrics) {}

    @Override
    public void metricChange(KafkaMetric metric) {}

    @Override
    public void metricRemoval(KafkaMetric metric) {}

    @Override
    public void close() {
        TelemetryForwarder f = forwarder;
        forwarder = null;
        if (f != null) {
            f.close();
        }
    }
}
