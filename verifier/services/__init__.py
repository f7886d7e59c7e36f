"""Business logic of the verifier service: each function takes the service context, reads or
writes the records in one unit of work, and raises ``verifier.errors`` classes (translated to
HTTP status codes in one place, ``verifier.api.errors``)."""
