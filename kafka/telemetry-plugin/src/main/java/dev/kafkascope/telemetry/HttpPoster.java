package dev.kafkascope.telemetry;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Map;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.SSLSocketFactory;

/**
 * One kept-alive HTTP/1.1 connection that POSTs a body and reads the status. Not
 * java.net.http: on a broker, its HttpClient cost about 0.9 ms of CPU per request (measured
 * with bench/telemetry/plugin_cpu.py), some 20 times this, which at 1,000 clients pushing
 * every 10 s alone would exceed the plugin's CPU budget. Used by one sender thread at a time.
 */
final class HttpPoster implements AutoCloseable {
    private static final int MAX_HEADER_BYTES = 64 * 1024;

    private final int timeoutMs;
    private URI target;
    private Socket socket;
    private OutputStream out;
    private InputStream in;

    HttpPoster(int timeoutMs) {
        this.timeoutMs = timeoutMs;
    }

    /** POSTs body to uri; returns the status code. Throws IOException when no answer came. */
    int post(URI uri, Map<String, String> headers, byte[] body) throws IOException {
        boolean reused = socket != null && uri.equals(target);
        try {
            return exchange(uri, headers, body);
        } catch (IOException e) {
            close();
            if (!reused) {
                throw e;
            }
            // The server may have closed an idle kept-alive connection: once more, fresh.
            return exchange(uri, headers, body);
        }
    }

    private int exchange(URI uri, Map<String, String> headers, byte[] body) throws IOException {
        if (socket == null || !uri.equals(target)) {
            close();
            connect(uri);
        }
        StringBuilder req = new StringBuilder(512);
        String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
        if (uri.getRawQuery() != null) {
            path += "?" + uri.getRawQuery();
        }
        req.append("POST ").append(path).append(" HTTP/1.1\r\nHost: ").append(uri.getHost());
        if (uri.getPort() != -1) {
            req.append(':').append(uri.getPort());
        }
        req.append("\r\nContent-Length: ").append(body.length).append("\r\n");
        for (Map.Entry<String, String> h : headers.entrySet()) {
            req.append(h.getKey()).append(": ").append(h.getValue()).append("\r\n");
        }
        req.append("\r\n");
        out.write(req.toString().getBytes(StandardCharsets.ISO_8859_1));
        out.write(body);
        out.flush();
        return readResponse();
    }

    private void connect(URI uri) throws IOException {
        boolean tls = "https".equals(uri.getScheme());
        int port = uri.getPort() != -1 ? uri.getPort() : tls ? 443 : 80;
        Socket s = tls ? SSLSocketFactory.getDefault().createSocket() : new Socket();
        try {
            s.connect(new InetSocketAddress(uri.getHost(), port), timeoutMs);
            s.setSoTimeout(timeoutMs);
            s.setTcpNoDelay(true);
            s.setKeepAlive(true);
            if (s instanceof SSLSocket ssl) {
                SSLParameters p = ssl.getSSLParameters();
                p.setEndpointIdentificationAlgorithm("HTTPS");
                if (!Character.isDigit(uri.getHost().charAt(uri.getHost().length() - 1))) {
                    p.setServerNames(java.util.List.of(new SNIHostName(uri.getHost())));
                }
                ssl.setSSLParameters(p);
                ssl.startHandshake();
            }
        } catch (IOException | RuntimeException e) {
            s.close();
            throw e;
        }
        socket = s;
        target = uri;
        out = new BufferedOutputStream(s.getOutputStream(), 16 * 1024);
        in = new BufferedInputStream(s.getInputStream(), 8 * 1024);
    }

    /** Status line and headers, then the body skipped so the connection can be reused. */
    private int readResponse() throws IOException {
        String status = line();
        String[] parts = status.split(" ", 3);
        if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
            throw new IOException("not an HTTP response: " + status);
        }
        int code;
        try {
            code = Integer.parseInt(parts[1]);
        } catch (NumberFormatException e) {
            throw new IOException("bad HTTP status line: " + status, e);
        }
        boolean keepAlive = parts[0].equals("HTTP/1.1");
        long length = -1;
        boolean chunked = false;
        int total = status.length();
        for (String h = line(); !h.isEmpty(); h = line()) {
            total += h.length();
            if (total > MAX_HEADER_BYTES) {
                throw new IOException("HTTP response headers too large");
            }
            int colon = h.indexOf(':');
            if (colon <= 0) {
                continue;
            }
            String name = h.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            String value = h.substring(colon + 1).trim().toLowerCase(Locale.ROOT);
            switch (name) {
                case "content-length" -> length = Long.parseLong(value);
                case "transfer-encoding" -> chunked = value.contains("chunked");
                case "connection" -> keepAlive = value.contains("keep-alive") || (keepAlive && !value.contains("close"));
                default -> {}
            }
        }
        if (chunked) {
            for (long size = chunkSize(); size > 0; size = chunkSize()) {
                skip(size);
                line();
            }
            while (!line().isEmpty()) {
                // trailers
            }
        } else if (length >= 0) {
            skip(length);
        } else if (code != 204 && code != 304 && code / 100 != 1) {
            in.transferTo(OutputStream.nullOutputStream()); // the body ends with the connection
            keepAlive = false;
        }
        if (!keepAlive) {
            close();
        }
        return code;
    }

    private long chunkSize() throws IOException {
        String l = line();
        int semi = l.indexOf(';');
        return Long.parseLong((semi >= 0 ? l.substring(0, semi) : l).trim(), 16);
    }

    private void skip(long n) throws IOException {
        while (n > 0) {
            long k = in.skip(n);
            if (k <= 0) {
                if (in.read() < 0) {
                    throw new EOFException("HTTP response body cut short");
                }
                k = 1;
            }
            n -= k;
        }
    }

    private String line() throws IOException {
        StringBuilder sb = new StringBuilder(64);
        for (int b = in.read(); ; b = in.read()) {
            if (b < 0) {
                throw new EOFException("connection closed before the HTTP response ended");
            }
            if (b == '\n') {
                int len = sb.length();
                return len > 0 && sb.charAt(len - 1) == '\r' ? sb.substring(0, len - 1) : sb.toString();
            }
            if (sb.length() > MAX_HEADER_BYTES) {
                throw new IOException("HTTP response line too long");
            }
            sb.append((char) b);
        }
    }

    @Override
    public void close() {
        disconnect();
    }

    /** Drops the connection; the next post opens a new one. */
    void disconnect() {
        Socket s = socket;
        socket = null;
        target = null;
        if (s != null) {
            try {
                s.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }
}
