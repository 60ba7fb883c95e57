package dev.kafkascope.telemetry;

import java.util.UUID;

/**
 * One client push, copied out of the broker's request so the request thread can return at
 * once; everything the HTTP request needs is turned into strings later, on the sender thread.
 *
 * @param clientInstanceId the KIP-714 client instance id
 * @param clientId the client's client.id, or null when it sent none
 * @param softwareName what the client says it is (ApiVersions), or null
 * @param softwareVersion its version, or null
 * @param sourceAddress the TCP peer's address, or null
 * @param sourcePort the TCP peer's port, or -1 when the broker does not know it
 * @param principal the authenticated principal, "Type:Name"
 * @param terminating whether this is the last push of a client closing cleanly
 * @param pushIntervalMs the subscription's push interval, or -1 when the interface does not say
 * @param body the OTLP metrics bytes, uncompressed
 */
public record Push(
        UUID clientInstanceId,
        String clientId,
        String softwareName,
        String softwareVersion,
        String sourceAddress,
        int sourcePort,
        String principal,
        boolean terminating,
        int pushIntervalMs,
        byte[] body) {}
