"""End-to-end studies: configuration in, figures and ``summary.json`` out."""
