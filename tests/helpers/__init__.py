"""What several tests share: fakes for the parts that cannot run here, data builders, process control."""
