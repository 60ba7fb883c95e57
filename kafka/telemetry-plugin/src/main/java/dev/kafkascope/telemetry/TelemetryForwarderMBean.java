package dev.kafkascope.telemetry;

/** The forwarder's counters over JMX: how much telemetry reached kafkascope and how much did not. */
public interface TelemetryForwarderMBean {
    /** Pushes waiting in the queue now. */
    int getQueueSize();

    /** The queue's bound (kafkascope.telemetry.queue.capacity). */
    int getQueueCapacity();

    /** Pushes the broker handed to the plugin. */
    long getReceived();

    /** Pushes kafkascope accepted (a 2xx answer). */
    long getSent();

    /** Every push that did not reach kafkascope, whatever the reason. */
    long getDropped();

    /** Pushes dropped because the queue was full (kafkascope slower than the pushes). */
    long getDroppedQueueFull();

    /** POSTs that failed: refused, timed out, or answered other than 2xx. */
    long getSendErrors();

    /** The last send error, or "" when there has been none. */
    String getLastError();

    /** The URL pushes are posted to now, or "" when none is configured. */
    String getEndpoint();
}
