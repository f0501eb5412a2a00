"""Herald's benchmarks: `make bench` writes one JSON file per section to bench/results/."""
