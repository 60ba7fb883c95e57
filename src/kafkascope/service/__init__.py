"""The composition root: builds a cluster's parts once, starts and stops them in order."""
