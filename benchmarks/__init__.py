"""trialmatch benchmarks: scripts that measure and print figures (not tests)."""
