"""The Zhengming shared kernel: what all four services use. It never imports a service."""
