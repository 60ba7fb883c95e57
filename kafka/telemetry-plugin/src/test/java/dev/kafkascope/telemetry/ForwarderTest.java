package dev.kafkascope.telemetry;

import static dev.kafkascope.telemetry.Receiver.waitUntil;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.network.ClientInformation;
import org.apache.kafka.common.network.ListenerName;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.requests.RequestContext;
import org.apache.kafka.common.requests.RequestHeader;
import org.apache.kafka.common.security.auth.KafkaPrincipal;
import org.apache.kafka.common.security.auth.SecurityProtocol;
import org.apache.kafka.server.authorizer.AuthorizableRequestContext;
import org.apache.kafka.server.telemetry.ClientTelemetryContext;
import org.apache.kafka.server.telemetry.ClientTelemetryPayload;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ForwarderTest {
    static final Uuid INSTANCE = new Uuid(0x3f0c5e0e5c434a8eL, 0x9d1a4b9c2f1e7a10L);
    static final byte[] OTLP = "\n\u0003otlp-bytes".getBytes(StandardCharsets.ISO_8859_1);

    /** The broker's real request context, as KafkaApis hands it to the plugin. */
    static RequestContext context(String clientId) throws Exception {
        return new RequestContext(
                new RequestHeader(ApiKeys.PUSH_TELEMETRY, (short) 0, clientId, 7),
                "127.0.0.1:9092-127.0.0.1:52144-0",
                InetAddress.getByName("127.0.0.1"),
                Optional.of(52144),
                KafkaPrincipal.ANONYMOUS,
                ListenerName.normalised("PLAINTEXT"),
                SecurityProtocol.PLAINTEXT,
                new ClientInformation("apache-kafka-java", "4.3.1"),
                false);
    }

    static ClientTelemetryPayload payload(boolean terminating, byte[] data) {
        return new ClientTelemetryPayload() {
            @Override
            public Uuid clientInstanceId() {
                return INSTANCE;
            }

            @Override
            public boolean isTerminating() {
                return terminating;
            }

            @Override
            public String contentType() {
                return "OTLP";
            }

            @Override
            public ByteBuffer data() {
                return ByteBuffer.wrap(data);
            }
        };
    }

    static ClientTelemetryContext telemetryContext(int intervalMs, AuthorizableRequestContext rc) {
        return new ClientTelemetryContext() {
            @Override
            public int pushIntervalMs() {
                return intervalMs;
            }

            @Override
            public AuthorizableRequestContext authorizableRequestContext() {
                return rc;
            }
        };
    }

    static Map<String, Object> configs(String endpoint) {
        Map<String, Object> c = new HashMap<>();
        c.put("node.id", "3");
        if (endpoint != null) {
            c.put(ForwarderConfig.ENDPOINT, endpoint);
        }
        c.put(ForwarderConfig.TOKEN, "s3cret");
        return c;
    }

    static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    static Push push(int n) {
        return new Push(UUID.randomUUID(), "c" + n, null, null, "127.0.0.1", 1, "User:ANONYMOUS", false, 1000, new byte[] {(byte) n});
    }

    @Test
    void exporterPostsTheBytesAndEveryContractHeader() throws Exception {
        try (Receiver r = new Receiver()) {
            r.expectedToken = "s3cret";
            KafkascopeTelemetryReporter rep = new KafkascopeTelemetryReporter();
            rep.configure(configs(r.url() + "/"));
            try {
                rep.clientTelemetryExporter()
                        .exportMetrics(telemetryContext(2000, context("orders-1")), payload(true, OTLP));
                waitUntil(() -> rep.forwarder().getSent() == 1, 10_000, "the push to be accepted");
                Receiver.Request req = r.requests.get(0);
                assertEquals("POST", req.method());
                assertEquals("/v1/metrics", req.path());
                assertArrayEquals(OTLP, req.body());
                assertEquals("application/x-protobuf", req.header("Content-type"));
                assertEquals("Bearer s3cret", req.header("Authorization"));
                assertEquals("3f0c5e0e-5c43-4a8e-9d1a-4b9c2f1e7a10", req.header(Headers.INSTANCE_ID));
                assertEquals("orders-1", req.header(Headers.CLIENT_ID));
                assertEquals("apache-kafka-java", req.header(Headers.SOFTWARE_NAME));
                assertEquals("4.3.1", req.header(Headers.SOFTWARE_VERSION));
                assertEquals("127.0.0.1", req.header(Headers.SOURCE_ADDRESS));
                assertEquals("52144", req.header(Headers.SOURCE_PORT));
                assertEquals("User:ANONYMOUS", req.header(Headers.PRINCIPAL));
                assertEquals("true", req.header(Headers.TERMINATING));
                assertEquals("2000", req.header(Headers.PUSH_INTERVAL_MS));
                assertEquals("3", req.header(Headers.BROKER_ID));
                assertEquals(0, rep.forwarder().getDropped());
            } finally {
                rep.close();
            }
        }
    }

    @Test
    void legacyReceiverPostsWithoutAnInterval() throws Exception {
        try (Receiver r = new Receiver()) {
            LegacyKafkascopeTelemetryReporter rep = new LegacyKafkascopeTelemetryReporter();
            rep.configure(configs(r.url()));
            try {
                rep.clientReceiver().exportMetrics(context("legacy-1"), payload(false, OTLP));
                waitUntil(() -> rep.forwarder().getSent() == 1, 10_000, "the push to be accepted");
                Receiver.Request req = r.requests.get(0);
                assertArrayEquals(OTLP, req.body());
                assertEquals("legacy-1", req.header(Headers.CLIENT_ID));
                assertEquals("false", req.header(Headers.TERMINATING));
                assertNull(req.header(Headers.PUSH_INTERVAL_MS));
            } finally {
                rep.close();
            }
        }
    }

    @Test
    void aFullQueueDropsAndCountsInsteadOfWaiting() throws Exception {
        try (Receiver r = new Receiver()) {
            r.hold = new CountDownLatch(1); // kafkascope stuck: no request is answered
            Map<String, Object> c = configs(r.url());
            c.put(ForwarderConfig.QUEUE_CAPACITY, "2");
            c.put(ForwarderConfig.MAX_IN_FLIGHT, 1);
            c.put(ForwarderConfig.TIMEOUT_MS, "60000");
            try (TelemetryForwarder f = new TelemetryForwarder(ForwarderConfig.from(c))) {
                f.offer(push(0));
                waitUntil(() -> r.requests.size() == 1, 10_000, "the first POST to arrive and hang");
                // The one sender waits for kafkascope's answer: 2 pushes fit in the queue,
                // 7 do not, and offer() returned at once for each.
                for (int i = 1; i < 10; i++) {
                    f.offer(push(i));
                }
                assertEquals(2, f.getQueueSize());
                assertEquals(7, f.getDroppedQueueFull());
                assertEquals(7, f.getDropped());
                assertEquals(10, f.getReceived());
                assertEquals(0, f.getSent());
                r.hold.countDown(); // kafkascope answers again: the rest goes through
                waitUntil(() -> f.getSent() == 3, 10_000, "the 3 queued pushes to be sent");
                assertEquals(7, f.getDropped());
            }
        }
    }

    /** Five pushes in a row over the response shapes a server may send. */
    static void fivePushes(Receiver r) throws Exception {
        Map<String, Object> c = configs(r.url());
        c.put(ForwarderConfig.MAX_IN_FLIGHT, 1);
        try (TelemetryForwarder f = new TelemetryForwarder(ForwarderConfig.from(c))) {
            for (int i = 0; i < 5; i++) {
                f.offer(push(i));
                final int n = i + 1;
                waitUntil(() -> f.getSent() == n, 10_000, "push " + n + " to be accepted");
            }
            assertEquals(0, f.getSendErrors(), f.getLastError());
            for (int i = 0; i < 5; i++) {
                assertArrayEquals(new byte[] {(byte) i}, r.requests.get(i).body());
            }
        }
    }

    @Test
    void oneKeptAliveConnectionCarriesEveryPush() throws Exception {
        try (Receiver r = new Receiver()) {
            fivePushes(r);
            assertEquals(1, r.requests.stream().map(Receiver.Request::remotePort).distinct().count());
        }
    }

    @Test
    void responseBodiesAreReadPastChunkedOrNot() throws Exception {
        try (Receiver r = new Receiver()) {
            r.responseBody = "{\"partialSuccess\":{}}".getBytes(StandardCharsets.UTF_8);
            r.chunked = true;
            fivePushes(r);
        }
        try (Receiver r = new Receiver()) {
            r.responseBody = new byte[3000];
            fivePushes(r);
            assertEquals(1, r.requests.stream().map(Receiver.Request::remotePort).distinct().count());
        }
    }

    @Test
    void aServerThatClosesEachConnectionStillGetsEveryPush() throws Exception {
        try (Receiver r = new Receiver()) {
            r.closeConnection = true;
            fivePushes(r);
            assertEquals(5, r.requests.stream().map(Receiver.Request::remotePort).distinct().count());
        }
    }

    @Test
    void aDownEndpointCostsOnlyDroppedPushes() throws Exception {
        Map<String, Object> c = configs("http://127.0.0.1:" + closedPort());
        try (TelemetryForwarder f = new TelemetryForwarder(ForwarderConfig.from(c))) {
            for (int i = 0; i < 5; i++) {
                f.offer(push(i));
            }
            waitUntil(() -> f.getDropped() == 5, 10_000, "all 5 pushes to be dropped");
            assertTrue(f.getSendErrors() >= 1, "a refused connection is a send error");
            assertEquals(0, f.getDroppedQueueFull());
            assertEquals(0, f.getSent());
            assertTrue(f.getLastError().contains("ConnectException"), f.getLastError());
        }
    }

    @Test
    void aRefusedTokenIsASendError() throws Exception {
        try (Receiver r = new Receiver()) {
            r.expectedToken = "another";
            try (TelemetryForwarder f = new TelemetryForwarder(ForwarderConfig.from(configs(r.url())))) {
                f.offer(push(0));
                waitUntil(() -> f.getSendErrors() == 1, 10_000, "the 401 to count");
                assertEquals(1, f.getDropped());
                assertTrue(f.getLastError().contains("HTTP 401"), f.getLastError());
            }
        }
    }

    @Test
    void noEndpointDropsEverything() throws Exception {
        try (TelemetryForwarder f = new TelemetryForwarder(ForwarderConfig.from(configs(null)))) {
            f.offer(push(0));
            waitUntil(() -> f.getDropped() == 1, 10_000, "the push to be dropped");
            assertEquals("", f.getEndpoint());
            assertEquals(0, f.getSendErrors());
        }
    }

    @Test
    void endpointAndTokenFilesAreFollowedWithoutARestart(@TempDir Path dir) throws Exception {
        try (Receiver a = new Receiver();
                Receiver b = new Receiver()) {
            a.expectedToken = "one";
            b.expectedToken = "two";
            Path endpoint = dir.resolve("endpoint");
            Path token = dir.resolve("token");
            write(endpoint, a.url());
            write(token, "one\n");
            Map<String, Object> c = configs(null);
            c.put(ForwarderConfig.ENDPOINT_FILE, endpoint.toString());
            c.put(ForwarderConfig.TOKEN_FILE, token.toString());
            try (TelemetryForwarder f = new TelemetryForwarder(ForwarderConfig.from(c))) {
                f.offer(push(0));
                waitUntil(() -> f.getSent() == 1, 10_000, "the push to reach A");
                assertEquals(1, a.requests.size());
                write(endpoint, b.url() + "\n");
                write(token, "two");
                waitUntil(() -> f.getEndpoint().startsWith(b.url()), 10_000, "the new endpoint to be read");
                waitUntil(
                        () -> {
                            f.offer(push(1));
                            return b.requests.size() > 0 && f.getSent() >= 2;
                        },
                        10_000,
                        "a push to reach B with B's token");
                assertEquals(1, a.requests.size());
            }
        }
    }

    @Test
    void theCountersAreOnJmx() throws Exception {
        Map<String, Object> c = configs(null);
        c.put("node.id", 42);
        try (TelemetryForwarder f = new TelemetryForwarder(ForwarderConfig.from(c))) {
            f.offer(push(0));
            waitUntil(() -> f.getDropped() == 1, 10_000, "the push to be dropped");
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            ObjectName name = new ObjectName("dev.kafkascope.telemetry:type=TelemetryForwarder,broker=42");
            assertEquals(1L, server.getAttribute(name, "Dropped"));
            assertEquals(1L, server.getAttribute(name, "Received"));
            assertEquals(0, server.getAttribute(name, "QueueSize"));
            assertEquals(1000, server.getAttribute(name, "QueueCapacity"));
            assertEquals(0L, server.getAttribute(name, "SendErrors"));
            assertEquals(0L, server.getAttribute(name, "Sent"));
        }
        assertTrue(
                ManagementFactory.getPlatformMBeanServer()
                        .queryNames(new ObjectName("dev.kafkascope.telemetry:*"), null)
                        .isEmpty(),
                "close() unregisters the MBean");
    }

    @Test
    void badNumbersStopTheBrokerWithTheProperty() {
        Map<String, Object> c = configs(null);
        c.put(ForwarderConfig.QUEUE_CAPACITY, "zero");
        ConfigException e = assertThrows(ConfigException.class, () -> ForwarderConfig.from(c));
        assertTrue(e.getMessage().contains("kafkascope.telemetry.queue.capacity"), e.getMessage());
        c.put(ForwarderConfig.QUEUE_CAPACITY, "0");
        assertThrows(ConfigException.class, () -> ForwarderConfig.from(c));
    }

    @Test
    void aBadUrlIsReportedAndDrops() throws Exception {
        try (TelemetryForwarder f = new TelemetryForwarder(ForwarderConfig.from(configs("kafkascope:8321")))) {
            f.offer(push(0));
            waitUntil(() -> f.getDropped() == 1, 10_000, "the push to be dropped");
            assertTrue(f.getLastError().contains("bad kafkascope telemetry endpoint"), f.getLastError());
        }
    }

    static void write(Path p, String text) throws Exception {
        Path tmp = p.resolveSibling(p.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, p, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
