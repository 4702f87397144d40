"""The core worker: what every driver and worker process runs to own and submit work."""
