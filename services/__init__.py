"""The four Zhengming services and the `zhengming` command line."""

import sys

# httpx imports its command-line client (httpx._main) whenever rich, pygments and click are installed,
# as the development tools install them: about 6 MB in every service process, for a command no
# process here runs. Marked absent, httpx keeps its stand-in `main` and loads none of them.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
