"""Reading cluster state over the Kafka protocol, isolated in a worker process."""
