"""The dead-letter queue: records that failed for good, kept with the reason, for replay."""
