package dev.kafkascope.telemetry;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.params.ParameterizedTest;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class HeadersTest {
    // Why each answer is right: printable ASCII other than '%' passes unchanged (ordinary
    // client ids stay readable); '%' and everything else become %XX of their UTF-8 bytes, so
    // a receiver's unquote() restores the exact string.
    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of("orders-consumer-1", "orders-consumer-1"),
                Arguments.of("a b/c:d=e", "a b/c:d=e"),
                Arguments.of("100%", "100%25"),
                Arguments.of("caf\u00e9", "caf%C3%A9"),
                Arguments.of("line\nbreak", "line%0Abreak"),
                Arguments.of("tab\there", "tab%09here"),
                Arguments.of("\ud83d\ude80", "%F0%9F%9A%80"));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void encodesOnlyWhatAHeaderCannotCarry(String raw, String expected) {
        String encoded = Headers.encode(raw);
        assertEquals(expected, encoded);
        // The receiver's decoding gives the original back ('+' never occurs unencoded here).
        assertEquals(raw, URLDecoder.decode(encoded.replace("+", "%2B"), StandardCharsets.UTF_8));
    }
}
