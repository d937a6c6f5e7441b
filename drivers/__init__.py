"""Device ports, each with a real implementation and a simulating mock."""
