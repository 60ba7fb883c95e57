package dev.kafkascope.telemetry;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** The X-Kafkascope-* headers of one push (docs/telemetry.md). */
public final class Headers {
    public static final String INSTANCE_ID = "X-Kafkascope-Client-Instance-Id";
    public static final String CLIENT_ID = "X-Kafkascope-Client-Id";
    public static final String SOFTWARE_NAME = "X-Kafkascope-Software-Name";
    public static final String SOFTWARE_VERSION = "X-Kafkascope-Software-Version";
    public static final String SOURCE_ADDRESS = "X-Kafkascope-Source-Address";
    public static final String SOURCE_PORT = "X-Kafkascope-Source-Port";
    public static final String PRINCIPAL = "X-Kafkascope-Principal";
    public static final String TERMINATING = "X-Kafkascope-Terminating";
    public static final String PUSH_INTERVAL_MS = "X-Kafkascope-Push-Interval-Ms";
    public static final String BROKER_ID = "X-Kafkascope-Broker-Id";
    static final String UNKNOWN = "unknown";

    private Headers() {}

    /** Header name to value, in the contract's order; unknown port and interval are left out. */
    public static Map<String, String> forPush(Push p, String brokerId) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(INSTANCE_ID, p.clientInstanceId().toString());
        h.put(CLIENT_ID, encode(orUnknown(p.clientId())));
        h.put(SOFTWARE_NAME, encode(orUnknown(p.softwareName())));
        h.put(SOFTWARE_VERSION, encode(orUnknown(p.softwareVersion())));
        h.put(SOURCE_ADDRESS, encode(orUnknown(p.sourceAddress())));
        if (p.sourcePort() >= 0) {
            h.put(SOURCE_PORT, Integer.toString(p.sourcePort()));
        }
        h.put(PRINCIPAL, encode(orUnknown(p.principal())));
        h.put(TERMINATING, Boolean.toString(p.terminating()));
        if (p.pushIntervalMs() >= 0) {
            h.put(PUSH_INTERVAL_MS, Integer.toString(p.pushIntervalMs()));
        }
        h.put(BROKER_ID, encode(brokerId.isEmpty() ? UNKNOWN : brokerId));
        return h;
    }

    private static String orUnknown(String s) {
        return s == null || s.isEmpty() ? UNKNOWN : s;
    }

    /**
     * Printable ASCII other than '%' as is; every other character as percent-encoded UTF-8, so
     * a header can carry any client id and the receiver gets it back with urllib's unquote.
     */
    public static String encode(String s) {
        StringBuilder out = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c >= 0x20 && c < 0x7f && c != '%') {
                if (out != null) {
                    out.append(c);
                }
                continue;
            }
            if (out == null) {
                out = new StringBuilder(s.length() + 16).append(s, 0, i);
            }
            int end = Character.isHighSurrogate(c) && i + 1 < s.length() ? i + 2 : i + 1;
            for (byte b : s.substring(i, end).getBytes(StandardCharsets.UTF_8)) {
                out.append('%').append(Character.toUpperCase(Character.forDigit((b >> 4) & 0xf, 16)))
                        .append(Character.toUpperCase(Character.forDigit(b & 0xf, 16)));
            }
            i = end - 1;
        }
        return out == null ? s : out.toString();
    }
}
