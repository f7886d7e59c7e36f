"""Prometheus metrics, in a registry of the app's own (several apps may live in one process).

With several worker processes each worker serves its own counters at ``/metrics``; scrape
every worker, or aggregate behind the load balancer.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("zkmargin_http_requests_total", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("zkmargin_http_request_seconds", "HTTP request latency by route",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.proofs = Counter("zkmargin_proofs_total", "Submitted proofs by statement and outcome",
                              ["statement", "outcome"], registry=self.registry)
        self.batch_size = Histogram("zkmargin_verification_batch_size", "Proofs verified together per batch",
                                    ["statement"], registry=self.registry,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.batch_seconds = Histogram("zkmargin_verification_batch_seconds", "Time to verify one batch",
                                       ["statement"], registry=self.registry,
                                       buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))
        self.oracle_reports = Counter("zkmargin_oracle_reports_total", "Oracle reports by outcome",
                                      ["outcome"], registry=self.registry)

    def observe_batch(self, statement: str, size: int, seconds: float) -> None:
        self.batch_size.labels(statement).observe(size)
        self.batch_seconds.labels(statement).observe(seconds)
