"""Access logs as AWS writes them (ALB, CloudFront, API Gateway) read into a table of requests."""

from sim.logs.readers import (
    FORMATS,
    REQUEST_SCHEMA,
    MalformedLine,
    ReadReport,
    read_access_logs,
)

__all__ = ["FORMATS", "REQUEST_SCHEMA", "MalformedLine", "ReadReport", "read_access_logs"]
