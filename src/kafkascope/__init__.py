"""kafkascope: Kafka monitoring that joins JMX, the Kafka protocol and Burrow-grade lag rules."""

__version__ = "0.1.0"
