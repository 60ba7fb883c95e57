"""Reading JMX: the connection, the catalog of what to read, the collector, and the
Jolokia and jmx_exporter readers that give the same samples over HTTP."""
