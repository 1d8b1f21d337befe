"""What the toolkit builds around its models: the synthesizer library that every way in speaks through."""
