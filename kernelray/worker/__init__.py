"""The worker process: a CoreWorker that also runs tasks pushed by owners."""
