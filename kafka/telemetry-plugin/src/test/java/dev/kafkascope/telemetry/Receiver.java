package dev.kafkascope.telemetry;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

/** A real HTTP server on a free loopback port standing in for kafkascope's receiver. */
final class Receiver implements AutoCloseable {
    record Request(
            String method, String path, Map<String, List<String>> headers, byte[] body, int remotePort) {
        String header(String name) {
            List<String> v = headers.get(name);
            return v == null ? null : v.get(0);
        }
    }

    final List<Request> requests = new CopyOnWriteArrayList<>();
    final HttpServer server;
    volatile int status = 200;
    volatile String expectedToken;
    /** When set, every request waits on it before answering (a slow kafkascope). */
    volatile CountDownLatch hold;
    /** A response body to send (null: none), chunked or with a length. */
    volatile byte[] responseBody;
    volatile boolean chunked;
    volatile boolean closeConnection;

    Receiver() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(Executors.newCachedThreadPool());
        server.createContext(
                "/",
                ex -> {
                    byte[] body = ex.getRequestBody().readAllBytes();
                    requests.add(
                            new Request(
                                    ex.getRequestMethod(),
                                    ex.getRequestURI().getPath(),
                                    caseless(ex.getRequestHeaders()),
                                    body,
                                    ex.getRemoteAddress().getPort()));
                    CountDownLatch h = hold;
                    if (h != null) {
                        try {
                            h.await();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    int code = status;
                    String tok = expectedToken;
                    if (tok != null && !("Bearer " + tok).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                        code = 401;
                    }
                    byte[] answer = responseBody;
                    if (closeConnection) {
                        ex.getResponseHeaders().set("Connection", "close");
                    }
                    if (answer == null) {
                        ex.sendResponseHeaders(code, -1);
                    } else {
                        // 0: chunked; else a Content-Length body. Either must be read past
                        // for the next request on the connection to stay in step.
                        ex.sendResponseHeaders(code, chunked ? 0 : answer.length);
                        ex.getResponseBody().write(answer);
                    }
                    ex.close();
                });
        server.start();
    }

    /** HTTP header names are case-insensitive; the JDK server re-cases them. */
    static Map<String, List<String>> caseless(Map<String, List<String>> h) {
        Map<String, List<String>> m = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
        m.putAll(h);
        return m;
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @Override
    public void close() {
        CountDownLatch h = hold;
        if (h != null) {
            h.countDown();
        }
        server.stop(0);
    }

    /** Polls cond until it holds; fails naming what was awaited. */
    static void waitUntil(BooleanSupplier cond, long timeoutMs, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (!cond.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out after " + timeoutMs + " ms waiting for " + what);
            }
            Thread.sleep(10);
        }
    }
}
