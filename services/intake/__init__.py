"""intake: accepts petition reports over HTTP and publishes `report.submitted.v1`."""
