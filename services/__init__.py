"""The four Zhengming services and the `zhengming` command line."""
