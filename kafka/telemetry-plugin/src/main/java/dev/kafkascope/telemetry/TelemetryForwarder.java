package dev.kafkascope.telemetry;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Takes pushes from the broker's request threads and posts them to kafkascope from threads of
 * its own ({@code max.in.flight} of them, each with one kept-alive connection). The request
 * thread's whole cost is {@link #offer}: a non-blocking insert into a bounded queue, or a
 * counter increment when the queue is full. A down or slow kafkascope only drops telemetry
 * (counted), never holds a broker thread.
 */
public final class TelemetryForwarder implements TelemetryForwarderMBean, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TelemetryForwarder.class);
    static final String DOMAIN = "dev.kafkascope.telemetry";
    static final long BACKOFF_MIN_MS = 1000;
    static final long BACKOFF_MAX_MS = 5000;
    static final long RELOAD_EVERY_MS = 1000;

    private final ForwarderConfig config;
    private final ArrayBlockingQueue<Push> queue;
    private final List<Thread> senders = new ArrayList<>();
    private final ObjectName mbeanName;
    private volatile boolean running = true;

    private final AtomicLong received = new AtomicLong();
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong droppedQueueFull = new AtomicLong();
    private final AtomicLong sendErrors = new AtomicLong();
    private volatile String lastError = "";

    // The files are re-read by one sender at a time (synchronized reloadFiles).
    private volatile URI target;
    private volatile String token;
    private long endpointStamp = Long.MIN_VALUE;
    private long tokenStamp = Long.MIN_VALUE;
    private volatile long nextReload;
    private long backoffUntil;
    private long backoffMs;
    private boolean failing;

    public TelemetryForwarder(ForwarderConfig config) {
        this.config = config;
        this.queue = new ArrayBlockingQueue<>(config.queueCapacity());
        this.target = uri(config.endpoint());
        this.token = printable(config.token());
        reloadFiles();
        this.mbeanName = register();
        for (int i = 0; i < config.maxInFlight(); i++) {
            Thread t = new Thread(this::run, "kafkascope-telemetry-sender-" + i);
            t.setDaemon(true);
            senders.add(t);
            t.start();
        }
    }

    /** Called on a broker request thread: never blocks, never throws. */
    public void offer(Push push) {
        received.incrementAndGet();
        if (!queue.offer(push)) {
            droppedQueueFull.incrementAndGet();
            dropped.incrementAndGet();
        }
    }

    /** Whether the queue has room now; lets the caller skip copying a push that would drop. */
    public boolean hasRoom() {
        return queue.remainingCapacity() > 0;
    }

    /** Counts a push the caller did not even copy because the queue was full. */
    public void dropFull() {
        received.incrementAndGet();
        droppedQueueFull.incrementAndGet();
        dropped.incrementAndGet();
    }

    private void run() {
        try (HttpPoster poster = new HttpPoster(config.timeoutMs())) {
            while (running) {
                Push push;
                try {
                    push = queue.poll(200, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    return;
                }
                long now = System.currentTimeMillis();
                if (now >= nextReload) {
                    reloadFiles();
                }
                if (push == null) {
                    continue;
                }
                URI to = target;
                if (to == null || now < backoffUntil()) {
                    dropped.incrementAndGet();
                    continue;
                }
                try {
                    int code = poster.post(to, headers(push), push.body());
                    if (code / 100 == 2) {
                        succeeded(to);
                    } else {
                        failed(to, "HTTP " + code + " from " + to);
                    }
                } catch (IOException | RuntimeException e) {
                    // A RuntimeException is a bug here; it must not kill the sender either.
                    poster.disconnect();
                    failed(to, e.toString());
                }
            }
        }
    }

    private Map<String, String> headers(Push push) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put("Content-Type", "application/x-protobuf");
        String tok = token;
        if (tok != null) {
            h.put("Authorization", "Bearer " + tok);
        }
        h.putAll(Headers.forPush(push, config.brokerId()));
        return h;
    }

    private synchronized long backoffUntil() {
        return backoffUntil;
    }

    private synchronized void failed(URI to, String why) {
        sendErrors.incrementAndGet();
        dropped.incrementAndGet();
        lastError = why;
        backoffMs = backoffMs == 0 ? BACKOFF_MIN_MS : Math.min(BACKOFF_MAX_MS, backoffMs * 2);
        backoffUntil = System.currentTimeMillis() + backoffMs;
        if (!failing) {
            failing = true;
            LOG.warn(
                    "kafkascope telemetry: cannot post to {} ({}); dropping pushes until it answers",
                    to,
                    why);
        }
    }

    private synchronized void succeeded(URI to) {
        sent.incrementAndGet();
        backoffMs = 0;
        backoffUntil = 0;
        if (failing) {
            failing = false;
            LOG.info("kafkascope telemetry: {} answers again", to);
        }
    }

    private synchronized void resetBackoff() {
        backoffMs = 0;
        backoffUntil = 0;
    }

    /** Re-reads the endpoint and token files when their modification time changed. */
    private synchronized void reloadFiles() {
        long now = System.currentTimeMillis();
        if (now < nextReload) {
            return;
        }
        nextReload = now + RELOAD_EVERY_MS;
        Path ef = config.endpointFile();
        if (ef != null) {
            long stamp = stamp(ef);
            if (stamp != endpointStamp) {
                endpointStamp = stamp;
                String url = read(ef);
                URI next = uri(url != null ? url : config.endpoint());
                if (next == null ? target != null : !next.equals(target)) {
                    LOG.info("kafkascope telemetry: posting to {}", next);
                }
                target = next;
                resetBackoff();
            }
        }
        Path tf = config.tokenFile();
        if (tf != null) {
            long stamp = stamp(tf);
            if (stamp != tokenStamp) {
                tokenStamp = stamp;
                String t = read(tf);
                token = printable(t != null ? t : config.token());
                resetBackoff();
            }
        }
    }

    /** A token that can go in a header, else null (and a LastError saying why). */
    private String printable(String t) {
        if (t != null && !t.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            lastError = "the kafkascope telemetry token has characters a header cannot carry";
            LOG.warn("kafkascope telemetry: {}; sending none", lastError);
            return null;
        }
        return t;
    }

    private static long stamp(Path p) {
        try {
            return Files.getLastModifiedTime(p).toMillis() ^ Files.size(p);
        } catch (IOException e) {
            return -1;
        }
    }

    private String read(Path p) {
        try {
            String s = Files.readString(p, StandardCharsets.UTF_8).trim();
            return s.isEmpty() ? null : s;
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            lastError = "cannot read " + p + ": " + e;
            return null;
        }
    }

    /** {@code base + "/v1/metrics"}, or null (every push dropped) when there is no valid URL. */
    private URI uri(String base) {
        if (base == null || base.isBlank()) {
            return null;
        }
        String b = base.trim();
        while (b.endsWith("/")) {
            b = b.substring(0, b.length() - 1);
        }
        try {
            URI u = URI.create(b + "/v1/metrics");
            if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme())) {
                throw new IllegalArgumentException("scheme must be http or https");
            }
            if (u.getHost() == null) {
                throw new IllegalArgumentException("no host");
            }
            return u;
        } catch (IllegalArgumentException e) {
            lastError = "bad kafkascope telemetry endpoint '" + base + "': " + e.getMessage();
            LOG.warn("kafkascope telemetry: {}; dropping pushes", lastError);
            return null;
        }
    }

    private ObjectName register() {
        try {
            String broker = config.brokerId().isEmpty() ? "unknown" : config.brokerId();
            ObjectName name =
                    new ObjectName(
                            DOMAIN
                                    + ":type=TelemetryForwarder,broker="
                                    + (broker.matches("[A-Za-z0-9_.-]+") ? broker : ObjectName.quote(broker)));
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            if (server.isRegistered(name)) {
                server.unregisterMBean(name);
            }
            server.registerMBean(this, name);
            return name;
        } catch (Exception e) {
            LOG.warn("kafkascope telemetry: could not register its MBean: {}", e.toString());
            return null;
        }
    }

    @Override
    public void close() {
        running = false;
        for (Thread t : senders) {
            t.interrupt();
        }
        for (Thread t : senders) {
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (mbeanName != null) {
            try {
                ManagementFactory.getPlatformMBeanServer().unregisterMBean(mbeanName);
            } catch (Exception e) {
                // already gone
            }
        }
    }

    @Override
    public int getQueueSize() {
        return queue.size();
    }

    @Override
    public int getQueueCapacity() {
        return config.queueCapacity();
    }

    @Override
    public long getReceived() {
        return received.get();
    }

    @Override
    public long getSent() {
        return sent.get();
    }

    @Override
    public long getDropped() {
        return dropped.get();
    }

    @Override
    public long getDroppedQueueFull() {
        return droppedQueueFull.get();
    }

    @Override
    public long getSendErrors() {
        return sendErrors.get();
    }

    @Override
    public String getLastError() {
        return lastError;
    }

    @Override
    public String getEndpoint() {
        URI t = target;
        return t == null ? "" : t.toString();
    }
}
