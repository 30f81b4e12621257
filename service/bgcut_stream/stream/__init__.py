"""The stream service: consume ImageJobs, run them through the API, publish ImageResults."""
