package dev.kafkascope.telemetry;

import java.nio.file.Path;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;

/**
 * The plugin's broker properties (docs/telemetry.md), parsed once at configure time so that a
 * mistake stops the broker's start with a message naming the property, not a silent drop.
 *
 * @param endpoint kafkascope's base URL, or null
 * @param endpointFile a file holding the base URL (re-read when it changes), or null
 * @param token the bearer token, or null
 * @param tokenFile a file holding the token (re-read when it changes), or null
 * @param queueCapacity pushes that may wait to be sent
 * @param timeoutMs connect and request timeout of one POST
 * @param maxInFlight POSTs outstanding at once
 * @param brokerId this broker's node.id (or broker.id), "" when unknown
 */
public record ForwarderConfig(
        String endpoint,
        Path endpointFile,
        String token,
        Path tokenFile,
        int queueCapacity,
        int timeoutMs,
        int maxInFlight,
        String brokerId) {

    public static final String PREFIX = "kafkascope.telemetry.";
    public static final String ENDPOINT = PREFIX + "endpoint";
    public static final String ENDPOINT_FILE = PREFIX + "endpoint.file";
    public static final String TOKEN = PREFIX + "token";
    public static final String TOKEN_FILE = PREFIX + "token.file";
    public static final String QUEUE_CAPACITY = PREFIX + "queue.capacity";
    public static final String TIMEOUT_MS = PREFIX + "timeout.ms";
    public static final String MAX_IN_FLIGHT = PREFIX + "max.in.flight";

    /** Reads the properties from the broker's configs (values may be strings or numbers). */
    public static ForwarderConfig from(Map<String, ?> configs) {
        String broker = string(configs, "node.id");
        if (broker == null) {
            broker = string(configs, "broker.id");
        }
        String endpointFile = string(configs, ENDPOINT_FILE);
        String tokenFile = string(configs, TOKEN_FILE);
        return new ForwarderConfig(
                string(configs, ENDPOINT),
                endpointFile == null ? null : Path.of(endpointFile),
                string(configs, TOKEN),
                tokenFile == null ? null : Path.of(tokenFile),
                positive(configs, QUEUE_CAPACITY, 1000),
                positive(configs, TIMEOUT_MS, 5000),
                positive(configs, MAX_IN_FLIGHT, 4),
                broker == null ? "" : broker);
    }

    private static String string(Map<String, ?> configs, String key) {
        Object v = configs.get(key);
        if (v == null) {
            return null;
        }
        String s = v.toString().trim();
        return s.isEmpty() ? null : s;
    }

    private static int positive(Map<String, ?> configs, String key, int dflt) {
        String s = string(configs, key);
        if (s == null) {
            return dflt;
        }
        try {
            int n = Integer.parseInt(s);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new ConfigException(key, s, "must be a positive integer (default " + dflt + ")");
    }
}
