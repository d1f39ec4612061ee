"""HTTP reliability logic: retry policy, header parsing, paginators, redaction."""
